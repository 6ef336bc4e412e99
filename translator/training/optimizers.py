"""Keras optimizers and learning-rate schedules -> PyTorch, with every Keras default made explicit.

Update rules compared from the sources (keras/src/optimizers/*.py, tf_keras/src/optimizers/*.py,
torch/optim/*.py):
- Adam/AdamW: Keras divides by sqrt(v) + eps with the bias correction folded into the step size, torch by
  sqrt(v)/sqrt(1-beta2^t) + eps: the generated KerasAdam/KerasAdamW rescale eps each step (exact).
  Keras `weight_decay` is decoupled (var -= lr*wd*var), as torch AdamW's; Keras AdamW's default is
  0.004 (torch 0.01), Keras epsilon 1e-7 (torch 1e-8).
- SGD: Keras m = momentum*m - lr*g; torch buf = momentum*buf + g, p -= lr*buf: the same while lr is
  constant (nesterov too). With a schedule the two differ (torch scales the whole buffer by the new lr):
  refused. Keras SGD's learning rate defaults to 0.01.
- RMSprop: Keras sqrt(v + eps) and lr inside the momentum; torch sqrt(v) + eps, lr outside: the
  generated KerasRMSprop implements Keras' rule (torch.optim.RMSprop would be close, not equal).
- Adagrad: Keras accumulator starts at 0.1 and uses sqrt(acc + eps); torch starts at 0 and adds eps
  outside: the generated KerasAdagrad.
"""
from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from ..findings import TranslationError
from .args import bind, code, constant, text

# Arguments Keras optimizers accept that change nothing in a translation at their default value.
_COMMON = ("name", "clipnorm", "clipvalue", "global_clipnorm", "use_ema", "ema_momentum",
           "ema_overwrite_frequency", "loss_scale_factor", "gradient_accumulation_steps", "jit_compile",
           "lr", "decay", "is_legacy_optimizer")
_NEUTRAL = {"clipnorm": None, "clipvalue": None, "global_clipnorm": None, "use_ema": False,
            "loss_scale_factor": None, "gradient_accumulation_steps": None, "decay": 0.0}


@dataclass(frozen=True)
class Spec:
    params: tuple[str, ...]        # Keras positional order
    defaults: dict                 # Keras defaults (source text)


SPECS = {
    "adam": Spec(("learning_rate", "beta_1", "beta_2", "epsilon", "amsgrad", "weight_decay"),
                 {"learning_rate": "0.001", "beta_1": "0.9", "beta_2": "0.999", "epsilon": "1e-07"}),
    "adamw": Spec(("learning_rate", "weight_decay", "beta_1", "beta_2", "epsilon", "amsgrad"),
                  {"learning_rate": "0.001", "weight_decay": "0.004", "beta_1": "0.9", "beta_2": "0.999",
                   "epsilon": "1e-07"}),
    "sgd": Spec(("learning_rate", "momentum", "nesterov", "weight_decay"),
                {"learning_rate": "0.01", "momentum": "0.0"}),
    "rmsprop": Spec(("learning_rate", "rho", "momentum", "epsilon", "centered", "weight_decay"),
                    {"learning_rate": "0.001", "rho": "0.9", "momentum": "0.0", "epsilon": "1e-07"}),
    "adagrad": Spec(("learning_rate", "initial_accumulator_value", "epsilon", "weight_decay"),
                    {"learning_rate": "0.001", "initial_accumulator_value": "0.1", "epsilon": "1e-07"}),
}
_CLASSES = {"keras.optimizers.Adam": "adam", "keras.optimizers.AdamW": "adamw",
            "keras.optimizers.experimental.AdamW": "adamw", "keras.optimizers.SGD": "sgd",
            "keras.optimizers.RMSprop": "rmsprop", "keras.optimizers.Adagrad": "adagrad",
            "keras.optimizers.legacy.Adam": "adam", "keras.optimizers.legacy.SGD": "sgd"}
_LEGACY = {"keras.optimizers.legacy.Adam": ("learning_rate", "beta_1", "beta_2", "epsilon", "amsgrad"),
           "keras.optimizers.legacy.SGD": ("learning_rate", "momentum", "nesterov")}


@dataclass
class TorchOptimizer:
    kind: str                     # adam | adamw | sgd | rmsprop | adagrad
    helper: str | None            # the generated class (KerasAdam, ...) or None for a torch.optim class
    torch_class: str | None       # torch.optim.SGD
    kwargs: list[tuple[str, str]]  # torch keyword arguments as source text
    schedule: str | None = None   # LambdaLR factor (`lambda step: ...`), None for a constant rate
    schedule_helpers: tuple = ()  # helpers the factor calls

    def ctor(self, cls_name: str, params: str) -> str:
        args = ", ".join([params] + [f"{k}={v}" for k, v in self.kwargs])
        return f"{cls_name}({args})"


def is_optimizer(path: str | None) -> bool:
    return path in _CLASSES


def optimizer_classes() -> list[str]:
    """The Keras optimizer and schedule classes translated."""
    return list(_CLASSES) + list(_SCHEDULES)


def torch_optimizer(node: cst.BaseExpression, table, scope: dict, line: int, resolve=None) -> TorchOptimizer:
    """The PyTorch optimizer for a Keras optimizer given as a string ("adam") or a constructor call.
    `resolve(node)`: a schedule passed through a variable -> its constructor call."""
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
        name = str(node.evaluated_value).lower()
        if name not in SPECS:
            raise TranslationError("FWT202", f"optimizer '{name}' has no PyTorch translation", line)
        return _build(name, {}, line)
    if not isinstance(node, cst.Call):
        raise TranslationError("FWT202", f"optimizer given as `{code(node)}`: only a Keras optimizer "
                               "written in the compile call (or a string) is translated", line)
    path = table.resolve(node.func)
    if path not in _CLASSES:
        raise TranslationError("FWT202", f"optimizer {path or code(node.func)} has no PyTorch translation", line)
    kind = _CLASSES[path]
    params = _LEGACY.get(path, SPECS[kind].params)
    what = path.rsplit(".", 1)[-1]
    args = bind(node, params + _COMMON, what, line)
    if "lr" in args:                       # Keras 2 spelling
        if "learning_rate" in args:
            raise TranslationError("FWT201", f"{what}: both lr and learning_rate given", line)
        args["learning_rate"] = args.pop("lr")
    for name, neutral in _NEUTRAL.items():
        if name in args and constant(args, name, neutral, scope, what, line) != neutral:
            raise TranslationError("FWT201", f"{what}: {name}={code(args[name])} has no translation in the "
                                   "generated PyTorch code", line)
    for name in ("ema_momentum", "ema_overwrite_frequency", "jit_compile", "name", "is_legacy_optimizer"):
        args.pop(name, None)
    for name in _NEUTRAL:
        args.pop(name, None)
    if resolve is not None and "learning_rate" in args:
        args["learning_rate"] = resolve(args["learning_rate"])
    return _build(kind, args, line, table, scope)


def _build(kind: str, args: dict, line: int, table=None, scope=None) -> TorchOptimizer:
    spec = SPECS[kind]
    what = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "rmsprop": "RMSprop", "adagrad": "Adagrad"}[kind]

    def arg(name):
        return text(args, name, spec.defaults.get(name, ""))

    lr, schedule, helpers = arg("learning_rate"), None, ()
    if isinstance(args.get("learning_rate"), cst.Call):
        lr, schedule, helpers = learning_rate_schedule(args["learning_rate"], table, scope or {}, line)
    scope = scope or {}
    weight_decay = args.get("weight_decay")
    if weight_decay is not None and kind not in ("adam", "adamw") and \
            constant(args, "weight_decay", None, scope, what, line) is not None:
        raise TranslationError("FWT201", f"{what}: weight_decay (decoupled in Keras) has no exact torch.optim "
                               "equivalent; not translated", line)
    if kind in ("adam", "adamw"):
        decay = None if kind == "adam" else arg("weight_decay")
        if kind == "adam" and weight_decay is not None and constant(args, "weight_decay", None, scope, what,
                                                                   line) is not None:
            decay = code(weight_decay)
        kwargs = [("lr", lr), ("betas", f"({arg('beta_1')}, {arg('beta_2')})"), ("eps", arg("epsilon"))]
        if decay is not None:
            kwargs.append(("weight_decay", decay))
        if constant(args, "amsgrad", False, scope, what, line):
            kwargs.append(("amsgrad", "True"))
        helper = "KerasAdamW" if decay is not None else "KerasAdam"
        return TorchOptimizer(kind, helper, None, kwargs, schedule, helpers)
    if kind == "sgd":
        momentum = arg("momentum")
        kwargs = [("lr", lr), ("momentum", momentum)]
        moving = constant(args, "momentum", 0.0, scope, what, line) if "momentum" in args else 0.0
        if moving and constant(args, "nesterov", False, scope, what, line):
            kwargs.append(("nesterov", "True"))
        if schedule is not None and moving:
            raise TranslationError("FWT202", "SGD with momentum and a learning-rate schedule: torch applies the "
                                   "current rate to the whole momentum buffer, Keras to each gradient as "
                                   "it enters; not translated", line)
        return TorchOptimizer(kind, None, "torch.optim.SGD", kwargs, schedule, helpers)
    if kind == "rmsprop":
        kwargs = [("lr", lr), ("rho", arg("rho")), ("momentum", arg("momentum")), ("eps", arg("epsilon"))]
        if constant(args, "centered", False, scope, what, line):
            kwargs.append(("centered", "True"))
        return TorchOptimizer(kind, "KerasRMSprop", None, kwargs, schedule, helpers)
    kwargs = [("lr", lr), ("initial_accumulator_value", arg("initial_accumulator_value")),
              ("eps", arg("epsilon"))]
    return TorchOptimizer(kind, "KerasAdagrad", None, kwargs, schedule, helpers)


# ---- learning-rate schedules ---------------------------------------------------------------------------

_SCHEDULES = {
    "keras.optimizers.schedules.ExponentialDecay":
        ("initial_learning_rate", "decay_steps", "decay_rate", "staircase", "name"),
    "keras.optimizers.schedules.PiecewiseConstantDecay": ("boundaries", "values", "name"),
    "keras.optimizers.schedules.CosineDecay":
        ("initial_learning_rate", "decay_steps", "alpha", "name", "warmup_target", "warmup_steps"),
}


def learning_rate_schedule(node: cst.Call, table, scope: dict, line: int):
    """(initial rate, LambdaLR factor `lambda step: ...`, helpers used) for a Keras schedule: Keras calls
    the schedule with the number of updates done so far, LambdaLR stepped after every batch does too."""
    path = table.resolve(node.func) if table is not None else None
    if path not in _SCHEDULES:
        raise TranslationError("FWT202", f"learning-rate schedule {path or code(node.func)} has no PyTorch "
                               "translation", line)
    what = path.rsplit(".", 1)[-1]
    args = bind(node, _SCHEDULES[path], what, line)
    args.pop("name", None)
    for required in _SCHEDULES[path][:2]:
        if required not in args:
            raise TranslationError("FWT201", f"{what}: '{required}' missing", line)
    if what == "ExponentialDecay":
        if "decay_rate" not in args:
            raise TranslationError("FWT201", f"{what}: 'decay_rate' missing", line)
        staircase = constant(args, "staircase", False, scope, what, line)
        decay_steps = text(args, "decay_steps", "")
        steps = f"(step // {decay_steps})" if staircase else f"(step / {decay_steps})"
        return text(args, "initial_learning_rate", ""), f"lambda step: {text(args, 'decay_rate', '')} ** {steps}", ()
    if what == "PiecewiseConstantDecay":
        values = args["values"]
        if not isinstance(values, (cst.List, cst.Tuple)) or not values.elements:
            raise TranslationError("FWT202", f"{what}: values must be written as a list", line)
        first = code(values.elements[0].value)
        factor = f"lambda step: {code(values)}[sum(step > b for b in {code(args['boundaries'])})] / {first}"
        return first, factor, ()
    if constant(args, "warmup_target", None, scope, what, line) is not None or \
            constant(args, "warmup_steps", 0, scope, what, line):
        raise TranslationError("FWT201", f"{what}: warm-up has no translation in the generated code", line)
    alpha = text(args, "alpha", "0.0")
    factor = f"lambda step: cosine_decay(step, {text(args, 'decay_steps', '')}, {alpha})"
    return text(args, "initial_learning_rate", ""), factor, ("cosine_decay",)
