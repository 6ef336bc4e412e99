"""torch module -> Keras layer(s), from the rule files (the torch -> Keras direction).

The generic path reads a rule's `params`: every param with both names maps the torch argument to the
Keras one through the INVERSE of its value transform (`one_minus` for BatchNorm momentum,
`as_tuple` for sizes), and is written only when it differs from the Keras default; torch-only params
with `infer` (in_features, in_channels) are dropped, those with `const` (batch_first=True) must have
that value. Any other torch argument must be at its torch default (from the rule's
`torch_signature`), or the module is reported (FWT201/FWT202) and its model left as it was.

Rules whose translation is real code have a *Keras hatch*, registered by rule id with
`@keras_hatch("conv2d", ...)` in any module translator/backends/keras_hatches*.py or here: explicit
padding, pooling 'same' exactness, BatchNorm/LayerNorm options, recurrent layers.

A hatch returns an `Applied`: the steps that apply the module to one input (Keras layers built in
`__init__`, or ops written inline in `call`), the output meta, and facts for weight porting.
Inside a `keras.Sequential` only layer steps are possible (`ctx.sequential`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import libcst as cst

from ..cst_visit import CodeOf
from ..cst_walk import node_code
from ..findings import TranslationError
from ..ir import UNKNOWN, Sym
from ..rules import ActivationRule, LayerRule
from ..rules.transforms import INVERSES, VALUE_TRANSFORMS
from .keras_code import KerasRefs, Meta, Notes, call, keras_axis, node_of, tensor

KERAS_HATCHES: dict[str, Callable] = {}


def discover_keras_hatches() -> None:
    """Import every translator/backends/keras_hatches*.py module: each registers its hatches by rule id.
    Once per process (listing the package directory costs more than translating a small file)."""
    import importlib
    import pkgutil
    from pathlib import Path

    if _DISCOVERED:
        return
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.name.startswith("keras_hatches"):
            importlib.import_module(f"{__package__}.{info.name}")
    _DISCOVERED.append(True)


_DISCOVERED: list = []


def keras_hatch(*rule_ids: str):
    def register(fn):
        for rid in rule_ids:
            KERAS_HATCHES[rid] = fn
        return fn
    return register


@dataclass
class Step:
    kind: str                                   # layer | op
    ctor: cst.Call | None = None                # layer: the Keras layer constructor
    role: str = ""                              # layer: "" (the module itself) or a suffix ("pad")
    op: Callable | None = None                  # op: node -> node
    use: Callable | None = None                 # layer: (self.<layer>, input) -> its use in call (default: a call)


@dataclass
class Applied:
    steps: list[Step]
    out: Meta
    keras_class: str = ""
    extra: dict = field(default_factory=dict)   # weight-porting facts of the main layer

    def key(self) -> tuple:
        return tuple((s.kind, s.role, CodeOf(s.ctor) if s.ctor is not None else "op") for s in self.steps)


@dataclass
class LeafContext:
    rule: Any                     # LayerRule | ActivationRule
    torch_path: str
    args: Any                     # frontends.torch_models.Bound
    meta: Meta                    # the input, already in the layout the rule asks for
    refs: KerasRefs
    notes: Notes
    line: int
    sequential: bool = False      # inside keras.Sequential: layer steps only
    consumed: set = field(default_factory=set)
    squeeze: bool = False         # a global pool whose output is only ever flattened: keepdims=False
    options: dict = field(default_factory=dict)   # facts of the call site (rnn_states: final states used)

    @property
    def short(self) -> str:
        return self.torch_path.rsplit(".", 1)[-1]

    def fail(self, code: str, message: str):
        raise TranslationError(code, f"nn.{self.short}: {message}", self.line)

    def const(self, name: str, what: str | None = None):
        """A torch argument that must be constant here."""
        v = self.args.value(name)
        if v is UNKNOWN or isinstance(v, Sym):
            self.fail("FWT202", f"{what or name} must be a constant here, got {_code(self.args.node(name))}")
        self.consumed.add(name)
        return v

    def value(self, name: str):
        self.consumed.add(name)
        return self.args.value(name)

    def node(self, name: str):
        """The torch argument as a node (a constant's node, or its source expression)."""
        self.consumed.add(name)
        v = self.args.value(name)
        if v is not UNKNOWN and not isinstance(v, Sym):
            return node_of(v)
        n = self.args.node(name)
        return n if n is not None else node_of(v)


def keras_name(rule) -> str:
    return rule.keras[0].rsplit(".", 1)[-1]


def _code(node) -> str:
    return node_code(node) if node is not None else ""


def _pretty(value):
    """(3, 3) -> 3; lists -> tuples."""
    if isinstance(value, list):
        value = tuple(value)
    if isinstance(value, tuple) and value and all(v == value[0] for v in value) and not isinstance(value[0], (tuple, list)):
        return value[0]
    return value


def loosely_equal(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(loosely_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, (list, tuple)):
        return len(a) > 0 and all(loosely_equal(x, b) for x in a)
    if isinstance(b, (list, tuple)):
        return len(b) > 0 and all(loosely_equal(a, y) for y in b)
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


def generic_args(ctx: LeafContext, spatial_rank: int | None = None, overrides: dict | None = None,
                 skip: set = frozenset()) -> tuple[list, list]:
    """(positional nodes, keyword (name, node) pairs) of the Keras layer, from the rule's params."""
    rule: LayerRule = ctx.rule
    overrides = dict(overrides or {})
    values: dict[str, Any] = {}
    for p in rule.params:
        if p.torch and p.keras:
            ctx.consumed.add(p.torch)
            if p.keras in overrides or p.keras in skip:
                continue
            tv = ctx.args.value(p.torch)
            if tv is UNKNOWN or isinstance(tv, Sym):
                node = ctx.args.node(p.torch)
                if p.value == "one_minus" and node is not None:     # momentum=m -> momentum=1 - m
                    values[p.keras] = cst.BinaryOperation(cst.Integer("1"), cst.Subtract(), node)
                    continue
                if p.value not in ("identity", "as_tuple") or node is None:
                    ctx.fail("FWT202", f"{p.torch} must be a constant (it goes through '{p.value}'), "
                                       f"got {_code(node)}")
                values[p.keras] = node
                continue
            inverse = INVERSES.get(p.value)
            if inverse is None:
                ctx.fail("FWT202", f"the value transform '{p.value}' of {p.torch} has no inverse")
            kv = VALUE_TRANSFORMS[inverse](tv, spatial_rank) if p.value != "identity" else tv
            if p.value == "as_tuple":
                kv = _pretty(kv)
            if p.default is not None and loosely_equal(kv, p.default) or p.default is None and kv is None:
                continue
            node = ctx.args.node(p.torch)
            if node is not None and (p.value == "identity" or p.value == "as_tuple" and not isinstance(
                    node, (cst.Tuple, cst.List))) and not isinstance(node, (cst.Integer, cst.Float)):
                values[p.keras] = node         # as written: EMBED_DIM, 16 * 5 * 5, num_classes
                continue
            values[p.keras] = kv
        elif p.torch:
            ctx.consumed.add(p.torch)
            if p.has_const:
                tv = ctx.args.value(p.torch)
                if tv is not UNKNOWN and tv != p.const:
                    ctx.fail("FWT202", f"{p.torch}={tv!r} is not supported (only {p.const!r})")
    values.update({k: v for k, v in overrides.items() if v is not _SKIP})
    check_rest(ctx)
    return order_args(rule, values)


_SKIP = object()


def order_args(rule: LayerRule, values: dict) -> tuple[list, list]:
    """Leading required Keras params positionally (filters, kernel_size; units; rate), the rest by keyword."""
    positional, keywords, leading = [], [], True
    for p in rule.keras_params:
        required = p.default is None and p.torch is not None and not p.has_torch_default
        if leading and required and p.keras in values:
            positional.append(node_of(values.pop(p.keras)))
            continue
        leading = False
        if p.keras in values:
            keywords.append((p.keras, node_of(values.pop(p.keras))))
    keywords += [(k, node_of(v)) for k, v in values.items()]
    return positional, keywords


def check_rest(ctx: LeafContext) -> None:
    """Every torch argument not consumed must be at its torch default (or harmless)."""
    from ..frontends.torch_models import HARMLESS
    for name, val in ctx.args.given.items():
        if name in ctx.consumed or name in HARMLESS:
            continue
        if name == "dtype" and val.const is None:
            continue
        default = ctx.args.defaults.get(name, UNKNOWN)
        if val.const is not UNKNOWN and default is not UNKNOWN and loosely_equal(val.const, default):
            continue
        ctx.fail("FWT201" if default is UNKNOWN else "FWT202",
                 f"{name}={_code(val.node)} is not supported in the Keras translation")


def layer_step(ctx: LeafContext, class_name: str, args=(), kwargs=(), role: str = "") -> Step:
    return Step("layer", call(ctx.refs.layer(class_name), args, kwargs), role)


def apply_leaf(ctx: LeafContext) -> Applied:
    rule = ctx.rule
    hatch = KERAS_HATCHES.get(rule.id)        # activation modules with arguments have hatches too
    if hatch is not None:
        return hatch(ctx)
    if isinstance(rule, ActivationRule):
        return activation_module(ctx)
    args, kwargs = generic_args(ctx)
    out = ctx.meta
    if rule.shape == "dense":
        out = dense_out(ctx)
    elif rule.shape != "same":
        ctx.fail("FWT101", f"rule '{rule.id}' needs a Keras hatch for the torch -> Keras direction")
    return Applied([layer_step(ctx, keras_name(rule), args, kwargs)], out, keras_name(rule))


def dense_out(ctx: LeafContext) -> Meta:
    m = ctx.meta
    units = ctx.args.value("out_features")
    units = units if isinstance(units, int) and not isinstance(units, bool) else None
    if m.shape is None:
        return tensor(None)
    return tensor(shape=m.shape[:-1] + (units,))


# ---- activations as modules: nn.Sigmoid() -> layers.Activation("sigmoid") -------------------------

def activation_module(ctx: LeafContext) -> Applied:
    rule: ActivationRule = ctx.rule
    check_rest(ctx)
    name = ctx.short.lower()
    act = next((k for k in rule.keras if k == name), rule.keras[0])
    out = ctx.meta.with_(nonneg=False, origin=None) if ctx.meta.is_tensor else ctx.meta
    if act in ("sigmoid", "softplus", "exponential"):
        out = out.with_(nonneg=True)
    return Applied([layer_step(ctx, "Activation", [node_of(act)])], out, "Activation")


# ---- hatches -------------------------------------------------------------------------------------

@keras_hatch("dense")
def dense(ctx: LeafContext) -> Applied:
    args, kwargs = generic_args(ctx)
    extra = {}
    if ctx.meta.flat is not None:
        channels, spatial = ctx.meta.flat
        if not isinstance(channels, int):
            ctx.fail("FWT302", "the channel count of the flattened input is not known statically: "
                               "its columns cannot be reordered for channels_last")
        extra["flatten_channels"] = channels
    out = dense_out(ctx)
    return Applied([layer_step(ctx, "Dense", args, kwargs)], out, "Dense", extra)


@keras_hatch("dropout")
def dropout(ctx: LeafContext) -> Applied:
    args, kwargs = generic_args(ctx)
    return Applied([layer_step(ctx, "Dropout", args, kwargs)], ctx.meta.with_(origin=None), "Dropout")


def _ntuple(value, n):
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return (value,) * n


def _is_const(v) -> bool:
    return v is not UNKNOWN and not isinstance(v, Sym)


def _conv_len(size, k, s, d, p_before, p_after):
    if not all(isinstance(v, int) for v in (size, k, s, d, p_before, p_after)):
        return None
    return (size + p_before + p_after - d * (k - 1) - 1) // s + 1


def pad_step(ctx: LeafContext, n: int, padding) -> Step:
    """ZeroPadding{n}D with the torch padding (symmetric per axis)."""
    if _is_const(padding):
        value = _pretty(_ntuple(padding, n)) if n > 1 else (padding[0] if isinstance(padding, (list, tuple)) else padding)
        node = node_of(value)
    else:
        node = ctx.args.node("padding")
    return layer_step(ctx, f"ZeroPadding{n}D", [node], role="pad")


@keras_hatch("conv1d", "conv2d", "conv3d")
def conv(ctx: LeafContext) -> Applied:
    n = {"Conv1d": 1, "Conv2d": 2, "Conv3d": 3}[ctx.short]
    mode = ctx.const("padding_mode")
    if mode != "zeros":
        ctx.fail("FWT202", f"padding_mode={mode!r}: only zero padding translates")
    k = _ntuple(ctx.value("kernel_size"), n)
    s = _ntuple(ctx.value("stride"), n)
    d = _ntuple(ctx.value("dilation"), n)
    padding = ctx.value("padding")
    steps, overrides = [], {}
    pads = None
    if padding == "valid" or _is_const(padding) and not isinstance(padding, str) and all(p == 0 for p in _ntuple(padding, n)):
        pads = (0,) * n
    elif padding == "same":
        overrides["padding"] = "same"
        pads = "same"
    elif _is_const(padding) and all(_is_const(v) for v in k + s + d) and all(v == 1 for v in s) and \
            all(2 * p == dd * (kk - 1) for p, kk, dd in zip(_ntuple(padding, n), k, d)):
        overrides["padding"] = "same"          # stride 1, symmetric: TF 'same' pads the same cells
        pads = _ntuple(padding, n)
    else:
        steps.append(pad_step(ctx, n, padding))
        pads = _ntuple(padding, n) if _is_const(padding) else None
    groups, in_ch, out_ch = ctx.value("groups"), ctx.value("in_channels"), ctx.value("out_channels")
    if n < 3 and _is_const(groups) and groups > 1 and _is_const(in_ch) and groups == in_ch and _is_const(out_ch) \
            and out_ch % in_ch == 0:     # (Keras has no DepthwiseConv3D: Conv3D(groups=C) instead)
        return _depthwise(ctx, n, steps, overrides, out_ch // in_ch, pads)
    if n < 3 and _same_name(ctx, "groups", "in_channels", "out_channels"):    # Conv2d(c, c, k, groups=c)
        return _depthwise(ctx, n, steps, overrides, 1, pads)
    args, kwargs = generic_args(ctx, n, overrides)
    cls = f"Conv{n}D"
    steps.append(layer_step(ctx, cls, args, kwargs))
    return Applied(steps, _conv_out(ctx, n, out_ch, k, s, d, pads), cls)


def _conv_out(ctx, n, out_ch, k, s, d, pads) -> Meta:
    spatial = ctx.meta.spatial or (None,) * n
    out = []
    for i, size in enumerate(spatial):
        if pads == "same":
            out.append(size)
        elif pads is None or not all(_is_const(v) for v in (k[i], s[i], d[i])):
            out.append(None)
        else:
            out.append(_conv_len(size, k[i], s[i], d[i], pads[i], pads[i]))
    channels = out_ch if isinstance(out_ch, int) else None
    return tensor(shape=(None, channels) + tuple(out), layout="cf")


def _same_name(ctx, *names) -> bool:
    """The torch arguments are one variable (or one symbolic value): equal whatever its value."""
    found = set()
    for name in names:
        v = ctx.args.value(name)
        node = ctx.args.node(name)
        if isinstance(v, Sym):
            found.add(str(v))
        elif v is UNKNOWN and isinstance(node, cst.Name):
            found.add(node.value)
        else:
            return False
    return len(found) == 1


def _depthwise(ctx, n, steps, overrides, multiplier, pads) -> Applied:
    """Conv*d(C, C*m, groups=C) -> DepthwiseConv*D(depth_multiplier=m): same weights, one kernel per channel."""
    from ..rules import load_rules
    ctx.consumed |= {"groups", "in_channels", "out_channels"}
    kwargs = []
    k = _pretty(_ntuple(ctx.value("kernel_size"), n))
    s = _pretty(_ntuple(ctx.value("stride"), n))
    d = _pretty(_ntuple(ctx.value("dilation"), n))
    if s != 1:
        kwargs.append(("strides", node_of(s)))
    if "padding" in overrides:
        kwargs.append(("padding", node_of(overrides["padding"])))
    if multiplier != 1:
        kwargs.append(("depth_multiplier", node_of(multiplier)))
    if d != 1:
        kwargs.append(("dilation_rate", node_of(d)))
    bias = ctx.value("bias")
    if bias is not True:
        kwargs.append(("use_bias", ctx.node("bias")))
    check_rest(ctx)
    cls = f"DepthwiseConv{n}D"
    steps = steps + [layer_step(ctx, cls, [node_of(k)], kwargs)]
    out_ch = ctx.value("out_channels")
    meta = _conv_out(ctx, n, out_ch, _ntuple(ctx.value("kernel_size"), n), _ntuple(ctx.value("stride"), n),
                     _ntuple(ctx.value("dilation"), n), pads)
    rule = load_rules().by_id.get(f"depthwise_conv{n}d")
    return Applied(steps, meta, cls, {"rule": rule.id if rule else None, "depth_multiplier": multiplier})


def _tf_same(size, k, s):
    """(pad before, output size) of TF 'same' along one axis."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, out


@keras_hatch("max_pooling1d", "max_pooling2d", "average_pooling1d", "average_pooling2d", "max_pooling3d",
             "average_pooling3d")
def pool(ctx: LeafContext) -> Applied:
    n = int(ctx.short[-2])
    is_max = ctx.short.startswith("Max")
    k = _ntuple(ctx.const("kernel_size"), n)
    stride = ctx.value("stride")
    if stride is None:
        s = k
    elif _is_const(stride):
        s = _ntuple(stride, n)
    else:
        ctx.fail("FWT202", f"stride must be a constant, got {_code(ctx.args.node('stride'))}")
    p = _ntuple(ctx.const("padding"), n)
    ceil = ctx.const("ceil_mode")
    if is_max:
        if _pretty(_ntuple(ctx.const("dilation"), n)) != 1:
            ctx.fail("FWT202", "dilation != 1 has no Keras pooling equivalent")
        if ctx.const("return_indices"):
            ctx.fail("FWT202", "return_indices=True has no Keras equivalent")
        include_pad = True
    else:
        include_pad = ctx.const("count_include_pad")
        if "divisor_override" in ctx.args.defaults and ctx.const("divisor_override") is not None:
            ctx.fail("FWT202", "divisor_override has no Keras equivalent")
    spatial = ctx.meta.spatial or (None,) * n
    kwargs = [("pool_size", node_of(_pretty(k)))]
    if stride is not None and _pretty(s) != _pretty(k):
        kwargs.append(("strides", node_of(_pretty(s))))
    out_sizes = [None if size is None else (size + 2 * pi - ki) // si + 1 for size, ki, si, pi in zip(spatial, k, s, p)]
    if ceil:
        exact = all(size is not None and (size + 2 * pi - ki) % si == 0 for size, ki, si, pi in zip(spatial, k, s, p))
        if not exact and all(size is not None for size in spatial):
            from .keras_hatches_layers import ceil_avg_pool, ceil_max_pool       # explicit end padding
            if is_max:
                return ceil_max_pool(ctx, k, s, p, spatial, kwargs)
            return ceil_avg_pool(ctx, k, s, p, spatial, include_pad)
        if not exact:
            ctx.fail("FWT202", "ceil_mode=True: Keras pooling has no ceil mode (exact only when the input "
                               "size makes it irrelevant, and the input size is not known here; pass --input-shape)")
    steps = []
    if all(pi == 0 for pi in p):
        pass
    elif _same_is_exact(spatial, k, s, p):
        kwargs.append(("padding", node_of("same")))
    elif not is_max and not include_pad:
        from .keras_hatches_layers import ceil_avg_pool       # the mean of the real cells only
        return ceil_avg_pool(ctx, k, s, p, None, include_pad)
    elif not is_max or ctx.meta.nonneg:
        steps.append(pad_step(ctx, n, _pretty(p)))          # zeros: exact (avg counts them, max sees >= 0)
    elif not ctx.sequential:
        pads = [[0, 0]] + [[pi, pi] for pi in p] + [[0, 0]]
        ops_pad = ctx.refs.ops("pad")
        steps.append(Step("op", op=lambda x, pads=pads: call(
            ops_pad, [x, node_of(pads)], [("constant_values", cst.parse_expression('float("-inf")'))])))
    else:
        steps.append(pad_step(ctx, n, _pretty(p)))
        ctx.notes.add("FWT402", f"nn.{ctx.short}(padding={_pretty(p)}) pads with -inf in torch; the Keras "
                                f"translation pads with zeros, which differs where a whole window is negative "
                                f"(exact after a ReLU)", ctx.line)
    check_rest(ctx)
    cls = f"{'Max' if is_max else 'Average'}Pooling{n}D"
    steps.append(layer_step(ctx, cls, [], kwargs))
    channels = ctx.meta.channels if ctx.meta.layout == "cf" else None
    out = tensor(shape=(None, channels) + tuple(out_sizes), layout="cf", nonneg=ctx.meta.nonneg)
    return Applied(steps, out, cls)


def _same_is_exact(spatial, k, s, p) -> bool:
    """TF 'same' pools exactly the windows torch's explicit padding gives (pads never counted)."""
    for size, ki, si, pi in zip(spatial, k, s, p):
        if si == 1 and 2 * pi == ki - 1:
            continue
        if size is None:
            return False
        before, out = _tf_same(size, ki, si)
        if before != pi or out != (size + 2 * pi - ki) // si + 1:
            return False
    return True


@keras_hatch("global_average_pooling1d", "global_average_pooling2d", "global_max_pooling1d", "global_max_pooling2d",
             "global_average_pooling3d", "global_max_pooling3d")
def global_pool(ctx: LeafContext) -> Applied:
    n = int(ctx.short[-2])
    is_max = "Max" in ctx.short
    size = ctx.const("output_size")
    if is_max and ctx.const("return_indices"):
        ctx.fail("FWT202", "return_indices=True has no Keras equivalent")
    sizes = _ntuple(size, n)
    channels = ctx.meta.channels if ctx.meta.layout == "cf" else None
    if all(v == 1 for v in sizes):
        check_rest(ctx)
        cls = f"Global{'Max' if is_max else 'Average'}Pooling{n}D"
        if ctx.squeeze:
            return Applied([layer_step(ctx, cls)], tensor(shape=(None, channels), nonneg=ctx.meta.nonneg), cls)
        out = tensor(shape=(None, channels) + (1,) * n, layout="cf", nonneg=ctx.meta.nonneg, info="squeezable")
        return Applied([layer_step(ctx, cls, [], [("keepdims", node_of(True))])], out, cls)
    spatial = ctx.meta.spatial or (None,) * n
    sizes = tuple(i if o is None else o for i, o in zip(spatial, sizes))     # None: that axis is kept
    if any(v is None for v in sizes) or any(i is None or i % o for i, o in zip(spatial, sizes)):
        from .keras_hatches_layers import adaptive_pool      # Keras' Adaptive*Pooling{n}D: any size
        return adaptive_pool(ctx, n, is_max, size, sizes, channels)
    check_rest(ctx)
    windows = tuple(i // o for i, o in zip(spatial, sizes))
    cls = f"{'Max' if is_max else 'Average'}Pooling{n}D"
    out = tensor(shape=(None, channels) + tuple(sizes), layout="cf", nonneg=ctx.meta.nonneg)
    return Applied([layer_step(ctx, cls, [], [("pool_size", node_of(_pretty(windows)))])], out, cls)


@keras_hatch("batch_normalization")
def batch_norm(ctx: LeafContext) -> Applied:
    expected = {"BatchNorm1d": (2, 3), "BatchNorm2d": (4,), "BatchNorm3d": (5,)}[ctx.short]
    if ctx.meta.rank is not None and ctx.meta.rank not in expected:
        ctx.fail("FWT202", f"applied to a rank-{ctx.meta.rank} tensor")
    if ctx.value("momentum") is None:
        ctx.fail("FWT202", "momentum=None (a cumulative average) has no Keras equivalent")
    if ctx.const("track_running_stats") is not True:
        ctx.fail("FWT202", "track_running_stats=False normalises with batch statistics in eval mode too")
    overrides = {}
    if ctx.meta.rank is None and ctx.meta.layout == "same":
        overrides["axis"] = 1      # BatchNorm1d of (N, C) or (N, C, L): torch's axis 1 either way
    if ctx.const("affine") is False:
        overrides.update(center=False, scale=False)
    args, kwargs = generic_args(ctx, overrides=overrides)
    # Keras' default epsilon (1e-3) differs from torch's: always write it.
    if not any(k == "epsilon" for k, _ in kwargs):
        kwargs.append(("epsilon", node_of(ctx.args.value("eps"))))
    return Applied([layer_step(ctx, "BatchNormalization", args, kwargs)], ctx.meta.with_(origin=None, nonneg=False),
                   "BatchNormalization")


@keras_hatch("layer_normalization")
def layer_norm(ctx: LeafContext) -> Applied:
    shape = ctx.value("normalized_shape")
    if isinstance(shape, (list, tuple)) and len(shape) != 1:
        ctx.fail("FWT202", f"normalized_shape={shape!r}: only the last axis translates (Keras normalises "
                           "one axis set with gamma per channel)")
    overrides = {}
    if ctx.const("elementwise_affine") is False:
        overrides.update(center=False, scale=False)
        ctx.consumed.add("bias")
    args, kwargs = generic_args(ctx, overrides=overrides)
    if not any(k == "epsilon" for k, _ in kwargs):
        kwargs.append(("epsilon", node_of(ctx.args.value("eps"))))
    return Applied([layer_step(ctx, "LayerNormalization", args, kwargs)], ctx.meta.with_(origin=None, nonneg=False),
                   "LayerNormalization")


@keras_hatch("embedding")
def embedding(ctx: LeafContext) -> Applied:
    if ctx.value("max_norm") is not None:
        ctx.fail("FWT202", "max_norm renormalises rows at lookup time: no Keras equivalent")
    for name in ("_weight",):
        if ctx.args.has(name):
            ctx.fail("FWT201", f"{name} is not supported")
    ctx.consumed |= {"norm_type", "scale_grad_by_freq", "sparse", "_freeze"}
    padding_idx = ctx.value("padding_idx")
    if padding_idx is not None:
        ctx.notes.add("FWT203", f"nn.Embedding(padding_idx={_code(ctx.args.node('padding_idx'))}) only stops "
                                "gradients to that row (and zeroes it at init): no Keras argument, inference is "
                                "unchanged (mask_zero would change results)", ctx.line)
    args, kwargs = generic_args(ctx)
    m = ctx.meta
    dim = ctx.args.value("embedding_dim")
    dim = dim if isinstance(dim, int) else None
    out = tensor(shape=(m.shape + (dim,)) if m.shape is not None else None)
    return Applied([layer_step(ctx, "Embedding", args, kwargs)], out, "Embedding",
                   {"padding_idx": padding_idx} if padding_idx is not None else {})


# recurrent layers and cells: translator/backends/keras_hatches_rnn.py


@keras_hatch("relu")
def relu(ctx: LeafContext) -> Applied:
    check_rest(ctx)
    return Applied([layer_step(ctx, "ReLU")], ctx.meta.with_(nonneg=True, origin=None), "ReLU")


@keras_hatch("leaky_relu")
def leaky_relu(ctx: LeafContext) -> Applied:
    slope = ctx.const("negative_slope")
    check_rest(ctx)
    return Applied([layer_step(ctx, "LeakyReLU", [], [("negative_slope", node_of(slope))])],
                   ctx.meta.with_(origin=None, nonneg=False), "LeakyReLU")


@keras_hatch("softmax")
def softmax(ctx: LeafContext) -> Applied:
    dim = ctx.const("dim")
    if dim is None:
        ctx.fail("FWT202", "dim=None (the deprecated implicit axis): give dim")
    check_rest(ctx)
    try:
        axis = keras_axis(dim, ctx.meta)
    except ValueError:
        ctx.fail("FWT302", f"dim={dim}: the input's rank is not known, so its Keras axis is not")
    kwargs = [] if axis == -1 else [("axis", node_of(axis))]
    return Applied([layer_step(ctx, "Softmax", [], kwargs)], ctx.meta.with_(origin=None, nonneg=True), "Softmax")


@keras_hatch("flatten")
def flatten(ctx: LeafContext) -> Applied:
    if ctx.const("start_dim") != 1 or ctx.const("end_dim") != -1:
        ctx.fail("FWT202", "only start_dim=1, end_dim=-1 translates to keras.layers.Flatten")
    check_rest(ctx)
    return Applied([layer_step(ctx, "Flatten")], flat_meta(ctx.meta), "Flatten")


def flat_meta(m: Meta) -> Meta:
    """The output of flattening everything but the batch axis of `m` (Keras order)."""
    from ..ir import dim_prod
    if m.rank is not None and m.rank <= 2 and m.layout == "same":
        return m.with_(origin=None)
    if m.shape is not None and all(isinstance(d, int) for d in m.shape[1:]):
        size = dim_prod(m.shape[1:])
    else:
        size = None
    if m.layout == "cf" and m.rank and m.rank > 2:
        spatial = m.spatial
        s = dim_prod(spatial) if spatial and all(isinstance(d, int) for d in spatial) else None
        flat = None if s == 1 else (m.channels, s)
        return tensor(shape=(None, size), flat=flat, nonneg=m.nonneg)
    return tensor(shape=(None, size), nonneg=m.nonneg)
