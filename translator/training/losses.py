"""Keras losses and metrics -> PyTorch.

`from_logits` decides the translation, whatever the model's last layer is: from_logits=True means the
model outputs logits (nn.CrossEntropyLoss / nn.BCEWithLogitsLoss take logits), from_logits=False (the
Keras default) means probabilities, which get the generated helpers that compute Keras' formula on
probabilities (renormalised, clipped to [1e-7, 1 - 1e-7], then the log). A softmax output fed to
nn.CrossEntropyLoss (a softmax applied twice) is the classic silent bug this avoids.
Keras' default reduction ("sum_over_batch_size") is torch's "mean" for every loss here.
"""
from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from ..findings import TranslationError
from .args import bind, code, constant

_NAMES = {
    "sparse_categorical_crossentropy": "sparse", "categorical_crossentropy": "categorical",
    "binary_crossentropy": "binary", "mse": "mse", "mean_squared_error": "mse", "mae": "mae",
    "mean_absolute_error": "mae", "huber": "huber", "huber_loss": "huber",
}
_CLASSES = {
    "keras.losses.SparseCategoricalCrossentropy": ("sparse", ("from_logits", "ignore_class", "reduction", "name")),
    "keras.losses.CategoricalCrossentropy": ("categorical", ("from_logits", "label_smoothing", "axis", "reduction",
                                                             "name")),
    "keras.losses.BinaryCrossentropy": ("binary", ("from_logits", "label_smoothing", "axis", "reduction", "name")),
    "keras.losses.MeanSquaredError": ("mse", ("reduction", "name")),
    "keras.losses.MeanAbsoluteError": ("mae", ("reduction", "name")),
    "keras.losses.Huber": ("huber", ("delta", "reduction", "name")),
}
_FUNCTIONS = {f"keras.losses.{name}": kind for name, kind in _NAMES.items()} | {
    f"keras.metrics.{name}": kind for name, kind in _NAMES.items()}
_NEUTRAL = {"reduction": "sum_over_batch_size", "ignore_class": None, "label_smoothing": 0.0, "axis": -1,
            "name": None}


@dataclass
class TorchLoss:
    expr: str                 # e.g. nn.CrossEntropyLoss() or the name of a generated helper
    helper: str | None        # generated helper function used as the loss
    class_index: bool         # targets are class indices (int64)
    class_axis: bool          # the loss reads the last axis as classes (needs rank-2 outputs here)


def loss_classes() -> list[str]:
    return list(_CLASSES)


def torch_loss(node: cst.BaseExpression, table, scope: dict, line: int, nn: str) -> TorchLoss:
    """`nn`: how the file spells torch.nn."""
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
        name = str(node.evaluated_value)
        if name not in _NAMES:
            raise TranslationError("FWT202", f"loss '{name}' has no PyTorch translation", line)
        return _build(_NAMES[name], {}, scope, line, nn)
    path = table.resolve(node.func if isinstance(node, cst.Call) else node)
    if not isinstance(node, cst.Call) and path in _FUNCTIONS:        # loss=keras.losses.mse
        return _build(_FUNCTIONS[path], {}, scope, line, nn)
    if not isinstance(node, cst.Call) or path not in _CLASSES:
        raise TranslationError("FWT202", f"loss `{code(node)}` has no PyTorch translation (translated: the "
                               f"names {', '.join(sorted(set(_NAMES)))} and keras.losses classes)", line)
    kind, params = _CLASSES[path]
    what = path.rsplit(".", 1)[-1]
    args = bind(node, params, what, line)
    for name, neutral in _NEUTRAL.items():
        if name in args and name != "label_smoothing" and constant(args, name, neutral, scope, what, line) != neutral:
            raise TranslationError("FWT201", f"{what}: {name}={code(args[name])} has no translation", line)
    return _build(kind, args, scope, line, nn, what)


def _build(kind: str, args: dict, scope: dict, line: int, nn: str, what: str = "") -> TorchLoss:
    logits = constant(args, "from_logits", False, scope, what, line)
    smoothing = args.get("label_smoothing")
    smooth = constant(args, "label_smoothing", 0.0, scope, what, line) if smoothing is not None else 0.0
    if smooth and not (kind == "categorical" and logits):
        raise TranslationError("FWT201", f"{what}: label_smoothing is translated for from_logits=True "
                               "categorical crossentropy only", line)
    if kind == "sparse":
        if logits:
            return TorchLoss(f"{nn}.CrossEntropyLoss()", None, True, True)
        return TorchLoss("sparse_categorical_crossentropy", "sparse_categorical_crossentropy", True, True)
    if kind == "categorical":
        if logits:
            arg = f"label_smoothing={code(smoothing)}" if smooth else ""
            return TorchLoss(f"{nn}.CrossEntropyLoss({arg})", None, False, True)
        return TorchLoss("categorical_crossentropy", "categorical_crossentropy", False, True)
    if kind == "binary":
        if logits:
            return TorchLoss(f"{nn}.BCEWithLogitsLoss()", None, False, False)
        return TorchLoss("binary_crossentropy", "binary_crossentropy", False, False)
    if kind == "mse":
        return TorchLoss(f"{nn}.MSELoss()", None, False, False)
    if kind == "mae":
        return TorchLoss(f"{nn}.L1Loss()", None, False, False)
    delta = code(args["delta"]) if "delta" in args else "1.0"
    return TorchLoss(f"{nn}.HuberLoss(delta={delta})", None, False, False)


_METRICS = {"accuracy": "accuracy", "acc": "accuracy", "mae": "mean_absolute_error",
            "mean_absolute_error": "mean_absolute_error", "mse": "mean_squared_error",
            "mean_squared_error": "mean_squared_error"}


def torch_metrics(node: cst.BaseExpression, line: int) -> list[tuple[str, str]]:
    """[(logged name, helper)] for `metrics=["accuracy", ...]` (names only)."""
    if not isinstance(node, (cst.List, cst.Tuple)):
        raise TranslationError("FWT202", "metrics must be written as a list of names to be translated", line)
    out = []
    for element in node.elements:
        value = element.value
        if not isinstance(value, cst.SimpleString) or value.evaluated_value not in _METRICS:
            raise TranslationError("FWT202", f"metric `{code(value)}` has no PyTorch translation (translated: "
                                   f"{', '.join(sorted(_METRICS))})", line)
        out.append((value.evaluated_value, _METRICS[value.evaluated_value]))
    return out
