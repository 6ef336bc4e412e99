"""PyTorch optimizers and losses -> Keras (the torch -> Keras direction), torch defaults made explicit.

- Adam/AdamW: torch adds eps to the bias-corrected sqrt(v): the generated TorchAdam/TorchAdamW
  (keras_helpers.py) do too (exact); torch eps 1e-8, AdamW weight_decay 0.01 are written out.
  torch Adam's weight_decay is an L2 term added to the gradient (not decoupled): refused.
- SGD: torch buf = momentum*buf + g, p -= lr*buf equals Keras' m = momentum*m - lr*g for a constant
  rate (nesterov too); dampening and weight_decay (L2) have no Keras equivalent: refused.
- RMSprop/Adagrad: eps outside the square root in torch, inside in Keras: refused.
- Losses: nn.CrossEntropyLoss takes logits and class indices: SparseCategoricalCrossentropy(from_logits=
  True); nn.BCEWithLogitsLoss: BinaryCrossentropy(from_logits=True); nn.BCELoss: BinaryCrossentropy()
  (Keras clips probabilities to [1e-7, 1 - 1e-7], torch clamps the log at -100: equal for probabilities
  inside that range); nn.MSELoss, nn.L1Loss, nn.HuberLoss(delta), nn.SmoothL1Loss(beta=1.0).
"""
from __future__ import annotations

import libcst as cst

from ..findings import TranslationError
from .args import bind, code, constant, text

_OPTIMIZERS = {
    "torch.optim.Adam": ("adam", ("params", "lr", "betas", "eps", "weight_decay", "amsgrad")),
    "torch.optim.AdamW": ("adamw", ("params", "lr", "betas", "eps", "weight_decay", "amsgrad")),
    "torch.optim.SGD": ("sgd", ("params", "lr", "momentum", "dampening", "weight_decay", "nesterov")),
}
_NEUTRAL_KW = {"foreach": None, "maximize": False, "capturable": False, "differentiable": False, "fused": None,
               "decoupled_weight_decay": False}


def optimizer_params(node: cst.Call, path: str) -> cst.BaseExpression | None:
    """The `params` argument of a torch optimizer constructor."""
    if path not in _OPTIMIZERS:
        return None
    args = bind(node, _OPTIMIZERS[path][1] + tuple(_NEUTRAL_KW), path, 0)
    return args.get("params")


def keras_optimizer(node: cst.Call, path: str, scope: dict, line: int) -> tuple[str | None, str, list]:
    """(generated helper or None, Keras class path, [(keyword, source text)])."""
    if path not in _OPTIMIZERS:
        raise TranslationError("FWT202", f"optimizer {path} has no exact Keras translation (translated: "
                               "torch.optim.Adam, AdamW, SGD)", line)
    kind, params = _OPTIMIZERS[path]
    what = path.rsplit(".", 1)[-1]
    args = bind(node, params + tuple(_NEUTRAL_KW), what, line)
    for name, neutral in _NEUTRAL_KW.items():
        if name in args and constant(args, name, neutral, scope, what, line) != neutral:
            raise TranslationError("FWT201", f"{what}: {name}={code(args[name])} has no Keras translation", line)
    lr = text(args, "lr", "0.001")
    if isinstance(args.get("lr"), cst.Call):
        raise TranslationError("FWT202", f"{what}: a tensor learning rate has no translation", line)
    if kind == "sgd":
        for name in ("dampening", "weight_decay"):
            if constant(args, name, 0, scope, what, line):
                raise TranslationError("FWT201", f"SGD: {name} has no Keras equivalent", line)
        kwargs = [("learning_rate", lr), ("momentum", text(args, "momentum", "0.0"))]
        if constant(args, "nesterov", False, scope, what, line):
            kwargs.append(("nesterov", "True"))
        return None, "keras.optimizers.SGD", kwargs
    betas = args.get("betas")
    if betas is None:
        beta_1, beta_2 = "0.9", "0.999"
    elif isinstance(betas, (cst.Tuple, cst.List)) and len(betas.elements) == 2:
        beta_1, beta_2 = (code(e.value) for e in betas.elements)
    else:
        raise TranslationError("FWT202", f"{what}: betas must be written as a pair", line)
    kwargs = [("learning_rate", lr), ("beta_1", beta_1), ("beta_2", beta_2), ("epsilon", text(args, "eps", "1e-08"))]
    if kind == "adam":
        if constant(args, "weight_decay", 0, scope, what, line):
            raise TranslationError("FWT201", "Adam: weight_decay (an L2 term in torch.optim.Adam) has no Keras "
                                   "equivalent (Keras' weight_decay is decoupled, like AdamW)", line)
    else:
        kwargs.append(("weight_decay", text(args, "weight_decay", "0.01")))
    if constant(args, "amsgrad", False, scope, what, line):
        kwargs.append(("amsgrad", "True"))
    return ("TorchAdam" if kind == "adam" else "TorchAdamW"), "", kwargs


_LOSSES = {
    "torch.nn.CrossEntropyLoss": ("keras.losses.SparseCategoricalCrossentropy", "from_logits=True",
                                  ("weight", "size_average", "ignore_index", "reduce", "reduction", "label_smoothing")),
    "torch.nn.BCEWithLogitsLoss": ("keras.losses.BinaryCrossentropy", "from_logits=True",
                                   ("weight", "size_average", "reduce", "reduction", "pos_weight")),
    "torch.nn.BCELoss": ("keras.losses.BinaryCrossentropy", "", ("weight", "size_average", "reduce", "reduction")),
    "torch.nn.MSELoss": ("keras.losses.MeanSquaredError", "", ("size_average", "reduce", "reduction")),
    "torch.nn.L1Loss": ("keras.losses.MeanAbsoluteError", "", ("size_average", "reduce", "reduction")),
    "torch.nn.HuberLoss": ("keras.losses.Huber", "", ("reduction", "delta")),
    "torch.nn.SmoothL1Loss": ("keras.losses.Huber", "", ("size_average", "reduce", "reduction", "beta")),
}
_LOSS_NEUTRAL = {"weight": None, "size_average": None, "reduce": None, "reduction": "mean", "ignore_index": -100,
                 "label_smoothing": 0.0, "pos_weight": None}


def is_loss(path: str | None) -> bool:
    return path in _LOSSES


def keras_loss(node: cst.Call, path: str, scope: dict, line: int) -> str:
    """The Keras loss constructor (source text, `keras.` spelled out) for a torch loss module."""
    keras_cls, fixed, params = _LOSSES[path]
    what = path.rsplit(".", 1)[-1]
    args = bind(node, params, what, line)
    for name, neutral in _LOSS_NEUTRAL.items():
        if name in args and constant(args, name, neutral, scope, what, line) != neutral:
            raise TranslationError("FWT201", f"{what}: {name}={code(args[name])} has no Keras translation", line)
    if what == "SmoothL1Loss" and constant(args, "beta", 1.0, scope, what, line) != 1.0:
        raise TranslationError("FWT201", "SmoothL1Loss with beta != 1 is Huber / beta: not translated", line)
    if what == "HuberLoss":
        fixed = f"delta={text(args, 'delta', '1.0')}"
    return f"{keras_cls}({fixed})"
