"""Emit one Keras layer as torch code: the module built in __init__ and the expression in forward.

The generic path builds the torch constructor from the rule's params. Layers whose lowering is real
code use an emit hatch: a function registered by name with @hatch and named by the rule's `emit`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import libcst as cst

from ..findings import TranslationError
from ..ir import UNKNOWN, Layer, Sym, TensorMeta, is_int
from ..rules import LayerRule, RuleSet
from ..rules.transforms import VALUE_TRANSFORMS
from ..values import to_node
from .torch_code import Imports, call, torch_axis

HATCHES: dict[str, Callable] = {}

# Keras arguments that do not change inference: dropped, with an info finding when given.
DROPPED_SUFFIXES = ("_initializer", "_regularizer", "_constraint")
DROPPED = {"name", "dtype", "trainable", "seed", "autocast", "input_shape", "batch_input_shape",
           "batch_size", "input_dim", "input_length", "unit_forget_bias", "dynamic", "implementation",
           "use_cudnn", "synchronized", "renorm", "lora_rank", "lora_alpha"}
LAZY = {"torch.nn.Linear": "torch.nn.LazyLinear", "torch.nn.Conv1d": "torch.nn.LazyConv1d",
        "torch.nn.Conv2d": "torch.nn.LazyConv2d", "torch.nn.BatchNorm1d": "torch.nn.LazyBatchNorm1d",
        "torch.nn.BatchNorm2d": "torch.nn.LazyBatchNorm2d"}


def discover_hatches() -> None:
    """Import every translator/backends/torch_hatches*.py module: each registers hatches by name."""
    import importlib
    import pkgutil
    from pathlib import Path

    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.name.startswith("torch_hatches"):
            importlib.import_module(f"{__package__}.{info.name}")


def hatch(name: str):
    def register(fn):
        HATCHES[name] = fn
        return fn
    return register


class ShapeUnknown(Exception):
    pass


@dataclass
class Emission:
    ctor: cst.BaseExpression | None                 # module built in __init__; None if functional
    apply: Callable[[list, list], cst.BaseExpression]   # (input exprs, input metas) -> expression
    out_layout: str | None = None                   # override of the output layout
    notes: list = field(default_factory=list)       # (code, message) findings to report


class LayerContext:
    """What an emit function sees: the layer, its rule, its input metas, and code helpers."""

    def __init__(self, layer: Layer, metas: list[TensorMeta], imports: Imports, rules: RuleSet,
                 self_ref: Callable[[str], cst.BaseExpression]):
        self.layer = layer
        self.rule: LayerRule = layer.rule
        self.metas = metas
        self.imports = imports
        self.rules = rules
        self.self_ref = self_ref
        self.notes: list = []
        self.call_args: dict = {}       # extra call arguments of the current call: name -> (expr, meta, Val)
        self.out_meta = None            # the (first) output of the current call
        self.out_metas: list = []
        self.hoist = None               # hoist(expr, base) -> Name: bind an expression before the statement
        self.translator = None          # the ForwardTranslator applying this layer (resolves layer arguments)

    # ---- arguments -------------------------------------------------------------------------
    def arg(self, name: str, need_const: bool = True):
        """The Keras argument's constant value (the rule's default if not given)."""
        param = self.rule.param(name)
        val = self.layer.args.get(name)
        if val is None and param is not None:
            for alias in param.keras2:
                val = self.layer.args.get(alias) or val
        if val is None:
            return param.default if param is not None else None
        if not val.known and need_const:
            raise TranslationError("FWT202", f"{self.layer.keras_class}: argument '{name}' must be a "
                                   "constant or a builder parameter to translate", self.layer.line)
        return val.const if val.known else UNKNOWN

    def int_arg(self, name: str) -> int:
        """An argument that must be a constant integer. A parameter of the enclosing builder or class
        (`num_heads=heads`) is pinned to its default, with a warning and an assert in __init__."""
        value = self.arg(name)
        if isinstance(value, Sym) and self.translator is not None:
            default = self.translator.defaults.get(str(value))
            if is_int(default):
                self.translator.pin(str(value), default, f"{self.layer.keras_class}({name}=...)", self.layer.line)
                return default
        if not is_int(value):
            raise TranslationError("FWT202", f"{self.layer.keras_class}: '{name}' must be a constant integer, "
                                   f"got {value!r}", self.layer.line)
        return value

    def given(self, name: str) -> bool:
        return name in self.layer.args

    def ref(self, path: str) -> cst.BaseExpression:
        return self.imports.ref(path)

    @property
    def meta(self) -> TensorMeta:
        return self.metas[0]

    def channels(self):
        if self.meta.last_dim is None:
            raise ShapeUnknown(f"{self.layer.keras_class}: the input's last dimension is unknown")
        return self.meta.last_dim

    def module_call(self, x: cst.BaseExpression) -> cst.BaseExpression:
        ref = self.layer.ref if self.layer.ref is not None else self.self_ref(self.layer.attr)
        return call(ref, [x])

    def torch_axis(self, keras_axis: int, meta: TensorMeta | None = None) -> int:
        meta = meta or self.meta
        if meta.rank is None:
            if keras_axis == -1 and meta.layout == "cl":
                return -1
            raise ShapeUnknown(f"{self.layer.keras_class}: rank unknown, cannot map axis {keras_axis}")
        return torch_axis(keras_axis, meta.rank, meta.layout)


INFER = {"channels": LayerContext.channels}


# torch's own argument order for the keywords that modules share (a readable, familiar call)
KEYWORD_ORDER = ["stride", "padding", "output_padding", "dilation", "groups", "num_layers", "eps", "momentum",
                 "affine", "elementwise_affine", "bias", "batch_first", "dropout", "bidirectional",
                 "padding_mode", "return_indices", "ceil_mode", "count_include_pad"]


def _is_literal(node) -> bool:
    if isinstance(node, (cst.Integer, cst.Float, cst.SimpleString)):
        return True
    if isinstance(node, cst.Name):
        return node.value in ("True", "False", "None")
    if isinstance(node, cst.UnaryOperation):
        return _is_literal(node.expression)
    if isinstance(node, (cst.Tuple, cst.List)):
        return all(_is_literal(el.value) for el in node.elements)
    return False


def _source_node(ctx, p):
    """The argument as written, when it is an expression worth keeping (a name, not a literal)."""
    val = ctx.layer.args.get(p.keras)
    if val is None:
        for alias in p.keras2:
            val = ctx.layer.args.get(alias) or val
    if val is None or val.node is None or _is_literal(val.node) or not val.known:
        return None
    visible = getattr(ctx.translator, "init_names", None)
    if visible is not None:
        from ..names import used_names
        if not used_names(val.node) <= visible:      # a forward-only local (e.g. in an inlined helper)
            return None
    return val.node


def _is_default(p, value, rule) -> bool:
    return p.has_torch_default and p.torch not in rule.torch_positional and _compact(value) == p.torch_default


def _compact(value):
    """(3, 3) -> 3: torch accepts an int for a square window, and it reads better."""
    if isinstance(value, tuple) and value and all(v == value[0] for v in value):
        return value[0]
    return value


def check_args(ctx: LayerContext) -> None:
    """Every given Keras argument is known to the rule, dropped harmlessly, or an error."""
    rule, layer = ctx.rule, ctx.layer
    for name in layer.args:
        param = rule.param(name)
        if param is None:
            if name in DROPPED or name.endswith(DROPPED_SUFFIXES):
                if name.endswith("_regularizer") or name.endswith("_constraint"):
                    ctx.notes.append(("FWT203", f"{layer.keras_class}: '{name}' dropped: add it to "
                                      "the loss or optimizer (weight decay) if you train"))
                continue
            raise TranslationError("FWT201", f"{layer.keras_class}: argument '{name}' is not supported",
                                   layer.line)
        if param.allowed is not None:
            value = ctx.arg(name)
            if value not in param.allowed:
                raise TranslationError("FWT202", f"{layer.keras_class}: {name}={value!r} is not "
                                       f"supported (supported: {param.allowed})", layer.line)


def build_ctor(ctx: LayerContext, torch_path: str | None = None, overrides: dict | None = None,
               drop: tuple = ()) -> cst.BaseExpression:
    """The torch constructor call for a layer, from the rule's params.

    Arguments equal to the torch default are left out; `overrides` maps torch names to values.
    When an inferred size is unknown, the Lazy variant of the module is used (FWT301).
    """
    rule = ctx.rule
    torch_path = torch_path or rule.torch
    overrides = dict(overrides or {})
    rank = ctx.meta.rank - 2 if ctx.meta.rank else None
    positional: dict[str, cst.BaseExpression] = {}
    keywords: list[tuple[str, cst.BaseExpression]] = []
    lazy = False
    for p in rule.params:
        if p.torch is None or p.torch in drop:
            continue
        if p.torch in overrides:
            value = overrides.pop(p.torch)
        elif p.keras:
            value = ctx.arg(p.keras, need_const=False)
            if value is UNKNOWN:
                value = ctx.layer.args[p.keras].node
            elif p.value != "identity":
                value = _transform(ctx, p, value, rank)
            source = _source_node(ctx, p)
            if source is not None and not isinstance(value, cst.CSTNode) and \
                    _compact(value) == _compact(ctx.arg(p.keras)) and not _is_default(p, value, rule):
                value = source      # keep the name the user wrote (e.g. NUM_CLASSES)
        elif p.infer:
            try:
                value = INFER[p.infer](ctx)
            except ShapeUnknown as exc:
                if torch_path not in LAZY:
                    raise TranslationError("FWT302", str(exc), ctx.layer.line) from None
                lazy = True
                ctx.notes.append(("FWT301", f"{exc}: emitted {LAZY[torch_path].split('.')[-1]}; "
                                  "pass --input-shape to get a concrete size"))
                continue
        else:
            value = p.const
        if isinstance(value, cst.CSTNode):
            node = value
        else:
            value = _compact(value)
            if p.has_torch_default and p.torch not in rule.torch_positional and value == p.torch_default:
                continue
            node = to_node(value)
        if p.torch in rule.torch_positional:
            positional[p.torch] = node
        else:
            keywords.append((p.torch, node))
    keywords += [(k, v if isinstance(v, cst.CSTNode) else to_node(v)) for k, v in overrides.items()]
    keywords.sort(key=lambda kv: KEYWORD_ORDER.index(kv[0]) if kv[0] in KEYWORD_ORDER else len(KEYWORD_ORDER))
    if lazy:
        torch_path = LAZY[torch_path]
        positional.pop("in_features", None), positional.pop("in_channels", None)
        positional.pop("num_features", None)
    args = [positional[name] for name in rule.torch_positional if name in positional]
    return call(ctx.ref(torch_path), args, keywords)


def _transform(ctx, p, value, rank):
    if isinstance(value, Sym) or (isinstance(value, tuple) and any(isinstance(v, Sym) for v in value)):
        if p.value == "as_tuple":
            return VALUE_TRANSFORMS[p.value](value, rank)
        raise TranslationError("FWT202", f"{ctx.layer.keras_class}: '{p.keras}' must be a constant",
                               ctx.layer.line)
    if value is None:
        return None
    return VALUE_TRANSFORMS[p.value](value, rank)


# ---- activations --------------------------------------------------------------------------------

def activation_name(ctx: LayerContext, value) -> str | None:
    """An activation given as a string, or as a function reference already resolved to a path."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.rsplit(".", 1)[-1]
    raise TranslationError("FWT202", f"{ctx.layer.keras_class}: activation {value!r} is not supported",
                           ctx.layer.line)


def apply_activation(ctx: LayerContext, name: str | None, expr, meta: TensorMeta):
    if name is None:
        return expr
    rule = ctx.rules.activations.get(name)
    if rule is None:
        raise TranslationError("FWT202", f"activation '{name}' has no rule", ctx.layer.line)
    if rule.torch is None:
        return expr
    kwargs = []
    for key, value in rule.args.items():
        if key == "dim":
            value = ctx.torch_axis(value, meta)
        kwargs.append((key, to_node(value)))
    return call(ctx.ref(rule.torch), [expr], kwargs)


def lowered_activation(ctx: LayerContext) -> str | None:
    for p in ctx.rule.params:
        if p.lower == "activation":
            return activation_name(ctx, ctx.arg(p.keras))
    return None


# ---- the generic path -----------------------------------------------------------------------------

@hatch("module")
def module(ctx: LayerContext) -> Emission:
    act = lowered_activation(ctx)

    def apply(xs, metas):
        return apply_activation(ctx, act, ctx.module_call(xs[0]), ctx.out_meta)
    return Emission(build_ctor(ctx), apply)


def emit_layer(ctx: LayerContext) -> Emission:
    check_args(ctx)
    name = ctx.rule.emit or "module"
    if name not in HATCHES:
        raise TranslationError("FWT901", f"rule '{ctx.rule.id}' names unknown emit hatch '{name}'",
                               ctx.layer.line)
    emission = HATCHES[name](ctx)
    emission.notes = ctx.notes
    return emission


def int_or_none(value):
    return value if is_int(value) else None
