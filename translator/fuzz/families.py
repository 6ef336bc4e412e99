"""The layer families the fuzzer generates: one table entry per family.

A `Family` says which Keras classes it needs a rule for (`requires`: a family is generated only when
`translator.rules.load_rules()` has a rule for each of them, so families for layers that have no rule
yet switch themselves on when the rule lands), which input ranks it applies to, and a `build`
function that draws the layer's hyper-parameters for a given input shape and returns the rendered
constructor arguments together with the output shape it predicts (Keras axis order, without the
batch). The runner checks the prediction against Keras: a model that Keras rejects, or whose shapes
differ from the prediction, is a generator bug and is reported as such, never skipped.

    Family("conv2d", ("Conv2D",), ranks=(3,), build=conv("Conv2D", 2)),

Builders draw through `G` (a thin layer over hypothesis' `draw`), whose `param()` only ever draws a
value that the layer's rule accepts (a param the rule does not list keeps its Keras default; a param
with `allowed:` values draws among them), so a family widens by itself when its rule does.

`keep` asks a builder for a layer whose output shape equals its input shape (`"shape"`: residual
branches) or differs only in the last axis (`"rank"`: concatenated branches); a builder that cannot
oblige returns None.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

Shape = tuple

VOCAB = 20          # token inputs hold ids in [0, VOCAB)
MAX_DIM = 16        # no generated axis grows beyond this
MAX_ELEMS = 768     # nor a sample beyond this many values


@dataclass
class Layer:
    """One generated layer: `cls(*args)`, applied as `call` (functional models only)."""
    cls: str
    args: list[str]
    out: Shape
    classes: tuple[str, ...] = ()          # further Keras classes named inside args ({L}LSTM(...))
    call: str = "{layer}({x})"             # {layer}: the layer object, {x}: the input tensor
    functional_only: bool = False          # needs a call form a Sequential model cannot express

    def render(self, prefix: str) -> str:
        args = ", ".join(a.replace("{L}", prefix) for a in self.args)
        return f"{prefix}{self.cls}({args})"


@dataclass(frozen=True)
class Family:
    name: str
    requires: tuple[str, ...]              # Keras class names (keras.layers.X) that need a rule
    ranks: tuple[int, ...]                 # input ranks, without the batch axis
    build: Callable                        # (G, shape, keep) -> Layer | None
    weight: int = 10                       # relative frequency
    dtype: str = "float32"                 # the input dtype it takes
    covers: tuple[str, ...] = ()           # further classes it uses when their rules exist


@dataclass(frozen=True)
class Merge:
    """A layer taking several tensors. `build(G, shapes)` gets the operands' shapes."""
    name: str
    requires: tuple[str, ...]
    kind: str                              # "equal": same shapes; "concat": same but one axis; "pair": two seqs
    build: Callable                        # (G, shapes) -> Layer | None; Layer.call uses {xs} or {x0}, {x1}
    arity: tuple[int, int] = (2, 3)
    weight: int = 10
    function: str | None = None            # the functional form (keras.layers.add), when its rule has it


@dataclass(frozen=True)
class InputKind:
    name: str
    rank: int
    dtype: str
    requires_any: tuple[str, ...] = ()     # generated only when one of these families is active
    weight: int = 10


INPUT_KINDS = [
    InputKind("vector", 1, "float32", weight=6),
    InputKind("sequence", 2, "float32", weight=10),
    InputKind("image", 3, "float32", weight=12),
    InputKind("tokens", 1, "int32", requires_any=("embedding",), weight=5),
    InputKind("volume", 4, "float32", requires_any=("conv3d", "max_pooling3d", "average_pooling3d",
                                                     "global_pooling3d"), weight=3),
]


# Activation strings with a rule that the generator leaves out, and why.
UNGENERATED_ACTIVATIONS = {
    "glu": "halves the last axis, which Keras' own static shape inference ignores (Conv1D(8, "
           "activation='glu') is built as 8 channels wide, then outputs 4): no valid model uses it "
           "inside a stack",
}


# ---- drawing helpers ------------------------------------------------------------------------------

_UNSET = object()


class G:
    """Draw helpers over hypothesis' `draw`, aware of what each rule accepts."""

    def __init__(self, draw, rules):
        from hypothesis import strategies as st
        self._draw, self._st, self.rules = draw, st, rules

    def int(self, lo: int, hi: int) -> int:
        return self._draw(self._st.integers(lo, max(lo, hi)))

    def pick(self, options):
        options = list(options)
        return self._draw(self._st.sampled_from(options))

    def flag(self) -> bool:
        return self._draw(self._st.booleans())

    def rule(self, cls: str):
        return self.rules.layers.get(f"keras.layers.{cls}")

    def supports(self, cls: str, param: str) -> bool:
        rule = self.rule(cls)
        return rule is not None and rule.param(param) is not None

    def values(self, cls: str, param: str, candidates, default=_UNSET) -> list:
        """The candidates that the rule accepts for `param` (only the default when it lacks it)."""
        rule = self.rule(cls)
        spec = rule.param(param) if rule else None
        if spec is None:
            return [] if default is _UNSET else [default]
        if spec.allowed is not None:
            allowed = [a for a in candidates
                       if any(a == b and isinstance(a, bool) == isinstance(b, bool) for b in spec.allowed)]
            return allowed or ([] if default is _UNSET else [default])
        return list(candidates)

    def param(self, cls: str, name: str, candidates, default, args: list | None = None):
        """Draw a value for keyword `name` among what the rule accepts; append `name=value` to
        `args` when it differs from the Keras default (and now and then when it does not)."""
        options = self.values(cls, name, candidates, default)
        value = self.pick(options) if len(options) > 1 else options[0]
        if args is not None and (value != default or type(value) is not type(default)
                                 or (self.supports(cls, name) and self._draw(
                                     self._st.integers(0, 7)) == 0)):
            args.append(f"{name}={value!r}")
        return value

    def activation(self, cls: str, args: list) -> None:
        if self.supports(cls, "activation"):
            self.param(cls, "activation", [None] + self.activations(), None, args)

    def activations(self) -> list[str]:
        return sorted(set(self.rules.activations) - set(UNGENERATED_ACTIVATIONS))


def _ints(value) -> str:
    return repr(tuple(value)) if isinstance(value, (tuple, list)) else repr(value)


def _per_axis(g: G, values: list) -> object:
    """An int when all axes agree (now and then a tuple anyway), else a tuple."""
    if len(set(values)) == 1 and (len(values) == 1 or g.int(0, 3) > 0):
        return values[0]
    return tuple(values)


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _conv_len(size, k, s, d, padding):
    eff = (k - 1) * d + 1
    if padding == "same":
        return -(-size // s)
    if padding == "causal":
        return (size - 1) // s + 1
    return (size - eff) // s + 1


def _window(g: G, cls: str, spatial, keep, allow_dilation=True, max_k=4, paddings=("valid", "same")):
    """Kernel, strides, dilation and padding for a conv-like window over `spatial` (valid for Keras:
    strides > 1 excludes dilation > 1; a valid window fits the input). Returns
    (kernel, strides, dilation, padding, out_spatial)."""
    rank = len(spatial)
    pads = g.values(cls, "padding", list(paddings), "valid")
    if keep:
        if "same" in pads and g.flag():
            padding = "same"
            kernel = [g.int(1, max_k) for _ in range(rank)]
        else:
            padding = "valid"
            kernel = [1] * rank
        strides, dilation = [1] * rank, [1] * rank
        if padding == "same" and allow_dilation and g.values(cls, "dilation_rate", [2]) and g.int(0, 3) == 0:
            dilation = [g.int(1, 2) for _ in range(rank)]
    else:
        padding = g.pick(pads)
        mode = g.pick(["plain", "strided", "dilated"] if allow_dilation and g.values(cls, "dilation_rate", [2])
                      else ["plain", "strided"])
        strides = [g.int(1, 3) if mode == "strided" else 1 for _ in range(rank)]
        dilation = [g.int(1, 2) if mode == "dilated" else 1 for _ in range(rank)]
        kernel = []
        for size, d in zip(spatial, dilation):
            hi = max_k if padding != "valid" else min(max_k, (size - 1) // d + 1)
            kernel.append(g.int(1, max(hi, 1)))
        # a dilated window that does not fit (size 1 inputs) falls back to dilation 1
        dilation = [d if padding != "valid" or (k - 1) * d + 1 <= size else 1
                    for size, k, d in zip(spatial, kernel, dilation)]
    out = tuple(_conv_len(size, k, s, d, padding) for size, k, s, d in zip(spatial, kernel, strides, dilation))
    return kernel, strides, dilation, padding, out


def _window_args(g: G, cls: str, args: list, kernel, strides, dilation, padding,
                 kernel_name="kernel_size", positional_kernel=True):
    k = _per_axis(g, kernel)
    args.append(_ints(k) if positional_kernel else f"{kernel_name}={_ints(k)}")
    s = _per_axis(g, strides)
    if s != 1 or g.int(0, 5) == 0:
        args.append(f"strides={_ints(s)}")
    if padding != "valid" or g.int(0, 5) == 0:
        args.append(f"padding={padding!r}")
    d = _per_axis(g, dilation)
    if d != 1:
        args.append(f"dilation_rate={_ints(d)}")


# ---- core -----------------------------------------------------------------------------------------

def dense(g: G, shape, keep):
    units = shape[-1] if keep == "shape" else g.int(1, 8)
    args = [str(units) if g.int(0, 3) else f"units={units}"]
    g.activation("Dense", args)
    g.param("Dense", "use_bias", [True, False], True, args)
    return Layer("Dense", args, shape[:-1] + (units,))


def dropout(cls: str, rate_name: str = "rate"):
    def build(g: G, shape, keep):
        rate = g.pick([0.1, 0.25, 0.5])
        return Layer(cls, [repr(rate) if g.flag() else f"{rate_name}={rate!r}"], shape)
    return build


def gaussian_noise(g: G, shape, keep):
    return Layer("GaussianNoise", [repr(g.pick([0.1, 0.5, 1.0]))], shape)


def flatten(g: G, shape, keep):
    out = (math.prod(shape),)
    if keep == "shape" and out != shape:
        return None
    if keep == "rank" and len(shape) != 1:
        return None
    return Layer("Flatten", [], out)


def _factorize(g: G, total: int, rank: int) -> list[int]:
    dims = []
    for _ in range(rank - 1):
        d = g.pick(_divisors(total))
        dims.append(d)
        total //= d
    return dims + [total]


def reshape(g: G, shape, keep):
    total = math.prod(shape)
    if keep == "shape":
        target = list(shape)
    elif keep == "rank":
        return None
    else:
        target = _factorize(g, total, g.int(1, 3))
    out = tuple(target)
    if len(target) > 1 and g.int(0, 2) == 0:
        target[g.int(0, len(target) - 1)] = -1
    return Layer("Reshape", [repr(tuple(target))], out)


def embedding(g: G, shape, keep):
    if keep:
        return None
    vocab, dim = g.int(VOCAB, VOCAB + 5), g.int(1, 8)
    args = [str(vocab), str(dim)] if g.flag() else [f"input_dim={vocab}", f"output_dim={dim}"]
    g.param("Embedding", "mask_zero", [False, True], False, args)
    return Layer("Embedding", args, shape + (dim,))


def identity(cls: str):
    def build(g: G, shape, keep):
        return Layer(cls, [], shape)
    return build


def rescaling(g: G, shape, keep):
    args = [repr(g.pick([0.5, 2.0, 1 / 255]))]
    g.param("Rescaling", "offset", [0.0, -1.0, 0.5], 0.0, args)
    return Layer("Rescaling", args, shape)


def repeat_vector(g: G, shape, keep):
    if keep:
        return None
    n = g.int(1, 4)
    return Layer("RepeatVector", [str(n)], (n,) + shape)


def permute(g: G, shape, keep):
    dims = list(range(1, len(shape) + 1))
    order = []
    while dims:
        order.append(dims.pop(g.int(0, len(dims) - 1)))
    out = tuple(shape[i - 1] for i in order)
    if keep == "shape" and out != shape or keep == "rank" and out[:-1] != shape[:-1]:
        return None
    return Layer("Permute", [repr(tuple(order))], out)


def time_distributed_dense(g: G, shape, keep):
    units = shape[-1] if keep == "shape" else g.int(1, 6)
    inner = [str(units)]
    g.activation("Dense", inner)
    return Layer("TimeDistributed", [f"{{L}}Dense({', '.join(inner)})"], shape[:-1] + (units,),
                 classes=("Dense",))


# ---- activations ----------------------------------------------------------------------------------

def activation_layer(g: G, shape, keep):
    return Layer("Activation", [repr(g.pick(g.activations()))], shape)


def relu(g: G, shape, keep):
    args = []
    g.param("ReLU", "max_value", [None, 6.0, 1.0, 2.5], None, args)
    g.param("ReLU", "negative_slope", [0.0, 0.1, 0.3], 0.0, args)
    g.param("ReLU", "threshold", [0.0, 0.5], 0.0, args)
    return Layer("ReLU", args, shape)


def leaky_relu(g: G, shape, keep):
    args = []
    g.param("LeakyReLU", "negative_slope", [0.3, 0.1, 0.01], 0.3, args)
    return Layer("LeakyReLU", args, shape)


def softmax(g: G, shape, keep):
    rank = len(shape)
    axis = g.pick([-1, -1] + list(range(1, rank + 1)) + list(range(-rank, 0)))
    return Layer("Softmax", [] if axis == -1 and g.flag() else [f"axis={axis}"], shape)


def elu(g: G, shape, keep):
    args = []
    g.param("ELU", "alpha", [1.0, 0.5, 2.0], 1.0, args)
    return Layer("ELU", args, shape)


def prelu(g: G, shape, keep):
    args = []
    if len(shape) > 1 and g.supports("PReLU", "shared_axes") and g.flag():
        axes = [a for a in range(1, len(shape)) if g.flag()] or [1]
        args.append(f"shared_axes={axes!r}")
    return Layer("PReLU", args, shape)


# ---- convolutions ---------------------------------------------------------------------------------

def conv(cls: str, rank: int):
    paddings = ("valid", "same", "causal") if rank == 1 else ("valid", "same")

    def build(g: G, shape, keep):
        spatial, channels = shape[:-1], shape[-1]
        groups = g.pick(g.values(cls, "groups", _divisors(channels), 1))
        filters = channels if keep == "shape" else groups * g.int(1, max(1, 8 // groups))
        kernel, strides, dilation, padding, out = _window(g, cls, spatial, keep, paddings=paddings)
        args = [str(filters)]
        _window_args(g, cls, args, kernel, strides, dilation, padding)
        if groups != 1:
            args.append(f"groups={groups}")
        g.activation(cls, args)
        g.param(cls, "use_bias", [True, False], True, args)
        return Layer(cls, args, out + (filters,))
    return build


def conv_transpose(cls: str, rank: int):
    def build(g: G, shape, keep):
        spatial = shape[:-1]
        filters = shape[-1] if keep == "shape" else g.int(1, 6)
        pads = g.values(cls, "padding", ["valid", "same"], "valid")
        if keep:
            if "same" not in pads:
                return None
            padding, strides, dilation = "same", [1] * rank, [1] * rank
            kernel = [g.int(1, 4) for _ in range(rank)]
        else:
            padding = g.pick(pads)
            strided = g.flag()
            strides = [g.int(1, 3) if strided else 1 for _ in range(rank)]
            dilation = [1] * rank if strided or not g.values(cls, "dilation_rate", [2]) else \
                [g.int(1, 2) for _ in range(rank)]
            kernel = [g.int(1, 4) for _ in range(rank)]
        output_padding = None
        if any(s > 1 for s in strides) and g.values(cls, "output_padding", [(1,)]) and g.int(0, 2) == 0:
            # With padding='same' TF accepts an output size n only when ceil(n / stride) gives the
            # input size back, i.e. eff % 2 + output_padding >= 1 (Keras' own shape formula does not
            # check it; TF then fails inside the op: fuzz seed 7 model #951).
            lows = [1 - ((k - 1) * d + 1) % 2 if padding == "same" else 0
                    for k, d in zip(kernel, dilation)]
            if all(lo <= s - 1 for lo, s in zip(lows, strides)):
                output_padding = [g.int(lo, s - 1) for lo, s in zip(lows, strides)]
        out = []
        for size, k, s, d, i in zip(spatial, kernel, strides, dilation, range(rank)):
            eff = (k - 1) * d + 1
            if output_padding is None:
                n = (size - 1) * s + max(eff, s) if padding == "valid" else size * s
            else:
                op = output_padding[i]
                n = (size - 1) * s + eff + op if padding == "valid" else (size - 1) * s + eff % 2 + op
            out.append(n)
        args = [str(filters)]
        _window_args(g, cls, args, kernel, strides, dilation, padding)
        if output_padding is not None:
            args.append(f"output_padding={_ints(_per_axis(g, output_padding))}")
        g.activation(cls, args)
        g.param(cls, "use_bias", [True, False], True, args)
        if any(n < 1 for n in out):
            return None
        return Layer(cls, args, tuple(out) + (filters,))
    return build


def depthwise_conv(cls: str, rank: int):
    def build(g: G, shape, keep):
        spatial, channels = shape[:-1], shape[-1]
        mult = 1 if keep == "shape" else g.int(1, 3)
        kernel, strides, dilation, padding, out = _window(g, cls, spatial, keep)
        args = []
        _window_args(g, cls, args, kernel, strides, dilation, padding)
        if mult != 1 or g.int(0, 4) == 0:
            args.append(f"depth_multiplier={mult}")
        g.activation(cls, args)
        g.param(cls, "use_bias", [True, False], True, args)
        return Layer(cls, args, out + (channels * mult,))
    return build


def separable_conv(cls: str, rank: int):
    def build(g: G, shape, keep):
        spatial, channels = shape[:-1], shape[-1]
        filters = channels if keep == "shape" else g.int(1, 6)
        kernel, strides, dilation, padding, out = _window(g, cls, spatial, keep)
        args = [str(filters)]
        _window_args(g, cls, args, kernel, strides, dilation, padding)
        g.param(cls, "depth_multiplier", [1, 2], 1, args)
        g.activation(cls, args)
        g.param(cls, "use_bias", [True, False], True, args)
        return Layer(cls, args, out + (filters,))
    return build


# ---- pooling --------------------------------------------------------------------------------------

def pool(cls: str, rank: int):
    def build(g: G, shape, keep):
        spatial, channels = shape[:-1], shape[-1]
        pads = g.values(cls, "padding", ["valid", "same"], "valid")
        if keep:
            if "same" not in pads:
                return None
            padding, size, strides = "same", [g.int(1, 3) for _ in range(rank)], [1] * rank
        else:
            padding = g.pick(pads)
            size = [g.int(1, min(3, n) if padding == "valid" else 3) for n in spatial]
            strides = [g.int(1, 3) for _ in range(rank)] if g.flag() else None
        st = strides or size
        out = tuple(_conv_len(n, k, s, 1, padding) for n, k, s in zip(spatial, size, st))
        args = []
        p = _per_axis(g, size)
        # AveragePooling has no default pool size in Keras 3; MaxPooling's is 2
        if cls.startswith("Average") or p != 2 or g.int(0, 3) == 0 or strides is not None or padding != "valid":
            args.append(_ints(p))
        if strides is not None:
            args.append(f"strides={_ints(_per_axis(g, strides))}")
        if padding != "valid":
            args.append(f"padding={padding!r}")
        return Layer(cls, args, out + (channels,))
    return build


def global_pool(cls: str):
    def build(g: G, shape, keep):
        args = []
        keepdims = g.param(cls, "keepdims", [False, True], False, args)
        out = (1,) * (len(shape) - 1) + shape[-1:] if keepdims else shape[-1:]
        if keep == "shape" and out != shape or keep == "rank" and out[:-1] != shape[:-1]:
            return None
        return Layer(cls, args, out)
    return build


# ---- normalization --------------------------------------------------------------------------------

# LayerNormalization/GroupNormalization normalize over few values here (2 channels, say): with
# epsilon 1e-5 a near-constant group amplifies the fp32 rounding of the layers before it (different
# erf/exp implementations in TF and torch, ~1e-7) by up to 1/sqrt(epsilon) = 316, past the 1e-5
# tolerance, although both frameworks compute the same function (seen: fuzz seed 2 model #2, 1.1e-5;
# 2.4e-6 with epsilon 1e-3). The oracle must stay sound, so these epsilons stay >= 1e-3.
# BatchNormalization divides by its moving variance (>= 0.5 here) and keeps 1e-5.
NORM_EPSILONS = [0.001, 0.01, 0.1]


def _center_scale(g: G, cls: str, args: list) -> None:
    """center/scale: mostly both on, now and then both off, rarely mixed (torch's norm modules have
    one `affine` switch, so a mixed pair is a translation error for some rules)."""
    pairs = [(True, True)] * 14 + [(False, False)] * 4 + [(False, True), (True, False)]
    center, scale = g.pick(pairs)
    for name, value in (("center", center), ("scale", scale)):
        if g.values(cls, name, [value], True) == [value] and (not value or g.int(0, 7) == 0):
            args.append(f"{name}={value}")


def batch_norm(g: G, shape, keep):
    args = []
    g.param("BatchNormalization", "momentum", [0.99, 0.9, 0.5], 0.99, args)
    g.param("BatchNormalization", "epsilon", [0.001, 1e-5, 0.01, 0.1], 0.001, args)
    _center_scale(g, "BatchNormalization", args)
    return Layer("BatchNormalization", args, shape)


def layer_norm(g: G, shape, keep):
    args = []
    g.param("LayerNormalization", "epsilon", NORM_EPSILONS, 0.001, args)
    _center_scale(g, "LayerNormalization", args)
    return Layer("LayerNormalization", args, shape)


def group_norm(g: G, shape, keep):
    groups = g.pick(_divisors(shape[-1]))
    args = [f"groups={groups}"]
    g.param("GroupNormalization", "epsilon", NORM_EPSILONS, 0.001, args)
    _center_scale(g, "GroupNormalization", args)
    return Layer("GroupNormalization", args, shape)


def unit_norm(g: G, shape, keep):
    return Layer("UnitNormalization", [], shape)


# ---- reshaping ------------------------------------------------------------------------------------

def zero_padding(cls: str, rank: int):
    def build(g: G, shape, keep):
        if keep:
            return None
        pads = [(g.int(0, 2), g.int(0, 2)) for _ in range(rank)]
        out = tuple(n + a + b for n, (a, b) in zip(shape[:-1], pads)) + shape[-1:]
        if all(a == b for a, b in pads) and g.int(0, 3):
            spec = pads[0][0] if rank == 1 else _per_axis(g, [a for a, _ in pads])
        else:
            spec = tuple(pads) if rank > 1 else pads[0]
        return Layer(cls, [_ints(spec)] if spec != 1 or g.flag() else [], out)
    return build


def cropping(cls: str, rank: int):
    def build(g: G, shape, keep):
        if keep:
            return None
        crops = []
        for n in shape[:-1]:
            a = g.int(0, (n - 1) // 2)
            b = g.int(0, n - 1 - a)
            crops.append((a, b))
        out = tuple(n - a - b for n, (a, b) in zip(shape[:-1], crops)) + shape[-1:]
        spec = tuple(crops) if rank > 1 else crops[0]
        return Layer(cls, [_ints(spec)], out)
    return build


def upsampling(cls: str, rank: int):
    def build(g: G, shape, keep):
        if keep:
            return None
        size = [g.int(1, 3) for _ in range(rank)]
        args = []
        s = size[0] if rank == 1 else _per_axis(g, size)
        if s != 2 or g.flag():
            args.append(_ints(s))
        if rank == 2:
            g.param(cls, "interpolation", ["nearest", "bilinear"], "nearest", args)
        out = tuple(n * k for n, k in zip(shape[:-1], size)) + shape[-1:]
        return Layer(cls, args, out)
    return build


# ---- recurrent ------------------------------------------------------------------------------------

def recurrent(cls: str):
    def build(g: G, shape, keep):
        units = shape[-1] if keep == "shape" else g.int(1, 6)
        sequences = True if keep else g.flag()
        args = [str(units) if g.int(0, 3) else f"units={units}"]
        if sequences or g.int(0, 3) == 0:
            args.append(f"return_sequences={sequences}")
        g.param(cls, "use_bias", [True, False], True, args)
        g.param(cls, "go_backwards", [False, True], False, args)
        if cls == "GRU":
            g.param(cls, "reset_after", [True, False], True, args)
        out = (shape[0], units) if sequences else (units,)
        return Layer(cls, args, out)
    return build


def bidirectional(g: G, shape, keep):
    inner_cls = g.pick([c for c in ("LSTM", "GRU", "SimpleRNN") if g.rule(c)])
    units = g.int(1, 5)
    sequences = True if keep else g.flag()
    inner = [str(units)] + (["return_sequences=True"] if sequences else [])
    if inner_cls == "GRU":
        g.param("GRU", "reset_after", [True, False], True, inner)
    args = [f"{{L}}{inner_cls}({', '.join(inner)})"]
    mode = g.param("Bidirectional", "merge_mode", ["concat", "sum", "mul", "ave"], "concat", args)
    width = 2 * units if mode == "concat" else units
    out = (shape[0], width) if sequences else (width,)
    if keep == "shape" and out != shape:
        return None
    return Layer("Bidirectional", args, out, classes=(inner_cls,))


def rnn_cells(g: G, shape, keep):
    """keras.layers.RNN over a cell, a list of cells or StackedRNNCells."""
    kinds = [c for c in ("LSTMCell", "GRUCell", "SimpleRNNCell") if g.rule(c)]
    if not kinds:
        return None
    cell = g.pick(kinds)
    depth = g.int(1, 2)
    sizes = [g.int(1, 5) for _ in range(depth)]
    if keep == "shape":
        sizes[-1] = shape[-1]
    if g.flag():                   # alike cells (one torch RNN with num_layers) half of the time
        sizes = [sizes[-1]] * depth
    cells = [f"{{L}}{cell}({n})" for n in sizes]
    if depth == 1:
        arg = cells[0]
    elif g.rule("StackedRNNCells") and g.flag():
        arg = f"{{L}}StackedRNNCells([{', '.join(cells)}])"
    else:
        arg = f"[{', '.join(cells)}]"
    sequences = True if keep else g.flag()
    args = [arg] + (["return_sequences=True"] if sequences else [])
    g.param("RNN", "go_backwards", [False, True], False, args)
    classes = (cell, "StackedRNNCells") if "StackedRNNCells" in arg else (cell,)
    return Layer("RNN", args, (shape[0], sizes[-1]) if sequences else (sizes[-1],), classes=classes)


# ---- preprocessing layers that are model layers --------------------------------------------------

def normalization(g: G, shape, keep):
    channels = shape[-1]
    if g.flag():
        mean, var = repr(g.pick([0.0, 0.5, -1.0])), repr(g.pick([1.0, 0.25, 4.0]))
    else:
        mean = repr([g.pick([0.0, 0.5, -1.0, 2.0]) for _ in range(channels)])
        var = repr([g.pick([1.0, 0.25, 4.0, 0.5]) for _ in range(channels)])
    args = [f"mean={mean}", f"variance={var}"]
    g.param("Normalization", "invert", [False, True], False, args)
    return Layer("Normalization", args, shape)


def center_crop(g: G, shape, keep):
    if keep:
        return None
    h, w = g.int(1, shape[0]), g.int(1, shape[1])
    return Layer("CenterCrop", [str(h), str(w)], (h, w, shape[2]))


def resizing(g: G, shape, keep):
    if keep:
        return None
    h, w = g.int(1, 12), g.int(1, 12)
    args = [str(h), str(w)]
    g.param("Resizing", "interpolation", ["bilinear", "nearest", "bicubic", "area"], "bilinear", args)
    return Layer("Resizing", args, (h, w, shape[2]))


def masking(g: G, shape, keep):
    args = []
    g.param("Masking", "mask_value", [0.0, 1.0], 0.0, args)
    return Layer("Masking", args, shape)


# Lambda bodies: (expression of t, keras.ops functions it needs, minimum input rank, output shape).
LAMBDAS = [
    ("t * 2.0", (), 1, lambda s: s),
    ("t + 1.0", (), 1, lambda s: s),
    ("keras.ops.tanh(t)", ("tanh",), 1, lambda s: s),
    ("keras.ops.square(t) - t", ("square",), 1, lambda s: s),
    ("keras.ops.relu(t) * 0.5", ("relu",), 1, lambda s: s),
    ("keras.ops.sigmoid(t) * t", ("sigmoid",), 1, lambda s: s),
    ("keras.ops.abs(t) + 1.0", ("abs",), 1, lambda s: s),
    ("keras.ops.clip(t, -1.0, 1.0)", ("clip",), 1, lambda s: s),
    ("keras.ops.log1p(keras.ops.abs(t))", ("log1p", "abs"), 1, lambda s: s),
    ("keras.ops.softmax(t, axis=-1)", ("softmax",), 1, lambda s: s),
    ("t - keras.ops.mean(t, axis=-1, keepdims=True)", ("mean",), 1, lambda s: s),
    ("keras.ops.sum(t, axis=-1, keepdims=True)", ("sum",), 1, lambda s: s[:-1] + (1,)),
    ("keras.ops.max(t, axis=1)", ("max",), 2, lambda s: s[1:]),
    ("keras.ops.expand_dims(t, -1)", ("expand_dims",), 1, lambda s: s + (1,)),
    ("keras.ops.transpose(t, (0, 2, 1))", ("transpose",), 2, lambda s: (s[1], s[0])),
]


def lambda_layer(g: G, shape, keep):
    options = [(body, fn) for body, ops, rank, fn in LAMBDAS
               if all(f"keras.ops.{op}" in g.rules.ops for op in ops)
               and (rank == len(shape) if "transpose" in body else len(shape) >= rank)
               and len(fn(tuple(shape))) <= 4 and (not keep or fn(tuple(shape)) == tuple(shape))]
    if not options:
        return None
    body, fn = g.pick(options)
    return Layer("Lambda", [f"lambda t: {body}"], fn(tuple(shape)))


# ---- attention ------------------------------------------------------------------------------------

def self_attention(g: G, shape, keep):
    heads, key_dim = g.int(1, 3), g.int(1, 5)
    args = [str(heads), str(key_dim)] if g.flag() else [f"num_heads={heads}", f"key_dim={key_dim}"]
    if g.supports("MultiHeadAttention", "value_dim") and g.int(0, 2) == 0:
        args.append(f"value_dim={g.int(1, 5)}")
    g.param("MultiHeadAttention", "use_bias", [True, False], True, args)
    call = "{layer}({x}, {x})"
    if g.supports("MultiHeadAttention", "use_causal_mask") and g.int(0, 3) == 0:
        call = "{layer}({x}, {x}, use_causal_mask=True)"
    return Layer("MultiHeadAttention", args, shape, call=call, functional_only=True)


def dot_attention(cls: str):
    def build(g: G, shape, keep):
        args = []
        if cls == "Attention":
            g.param(cls, "use_scale", [False, True], False, args)
            g.param(cls, "score_mode", ["dot", "concat"], "dot", args)
        else:
            g.param(cls, "use_scale", [True, False], True, args)
        return Layer(cls, args, shape, call="{layer}([{x}, {x}])", functional_only=True)
    return build


# ---- merges ---------------------------------------------------------------------------------------

def elementwise(cls: str):
    def build(g: G, shapes):
        return Layer(cls, [], shapes[0], call="{layer}({xs})")
    return build


def concatenate(g: G, shapes):
    rank = len(shapes[0])
    differ = [i for i in range(rank) if len({s[i] for s in shapes}) > 1]
    axis0 = differ[0] if differ else g.int(0, rank - 1)     # 0-based, without the batch axis
    axis = g.pick([axis0 + 1, axis0 - rank]) if axis0 != rank - 1 or g.flag() else -1
    out = list(shapes[0])
    out[axis0] = sum(s[axis0] for s in shapes)
    args = [] if axis == -1 and g.flag() else [f"axis={axis}"]
    return Layer("Concatenate", args, tuple(out), call="{layer}({xs})")


def cross_attention(g: G, shapes):
    q, v = shapes
    if len(q) != 2 or len(v) != 2:
        return None
    heads, key_dim = g.int(1, 3), g.int(1, 4)
    return Layer("MultiHeadAttention", [str(heads), str(key_dim)], q, call="{layer}({x0}, {x1})",
                 functional_only=True)


def dot(g: G, shapes):
    a, b = shapes
    if len(a) != len(b) or a[-1] != b[-1] or len(a) > 2:
        return None
    args = [f"axes={len(a)}" if g.flag() else "axes=-1"]
    g.param("Dot", "normalize", [False, True], False, args)
    out = (1,) if len(a) == 1 else (a[0], b[0])
    return Layer("Dot", args, out, call="{layer}({xs})")


# ---- the tables -----------------------------------------------------------------------------------

FAMILIES: list[Family] = [
    Family("dense", ("Dense",), (1, 2, 3, 4), dense, weight=14),
    Family("dropout", ("Dropout",), (1, 2, 3, 4), dropout("Dropout"), weight=4),
    Family("flatten", ("Flatten",), (1, 2, 3, 4), flatten, weight=5),
    Family("reshape", ("Reshape",), (1, 2, 3, 4), reshape, weight=4),
    Family("embedding", ("Embedding",), (1,), embedding, dtype="int32"),
    Family("activation", ("Activation",), (1, 2, 3, 4), activation_layer, weight=5),
    Family("relu", ("ReLU",), (1, 2, 3, 4), relu, weight=4),
    Family("leaky_relu", ("LeakyReLU",), (1, 2, 3, 4), leaky_relu, weight=3),
    Family("softmax", ("Softmax",), (1, 2, 3, 4), softmax, weight=3),
    Family("elu", ("ELU",), (1, 2, 3, 4), elu, weight=2),
    Family("prelu", ("PReLU",), (1, 2, 3, 4), prelu, weight=3),
    Family("conv1d", ("Conv1D",), (2,), conv("Conv1D", 1), weight=12),
    Family("conv2d", ("Conv2D",), (3,), conv("Conv2D", 2), weight=14),
    Family("conv3d", ("Conv3D",), (4,), conv("Conv3D", 3), weight=10),
    Family("conv1d_transpose", ("Conv1DTranspose",), (2,), conv_transpose("Conv1DTranspose", 1), weight=5),
    Family("conv2d_transpose", ("Conv2DTranspose",), (3,), conv_transpose("Conv2DTranspose", 2), weight=6),
    Family("conv3d_transpose", ("Conv3DTranspose",), (4,), conv_transpose("Conv3DTranspose", 3), weight=4),
    Family("depthwise_conv1d", ("DepthwiseConv1D",), (2,), depthwise_conv("DepthwiseConv1D", 1), weight=4),
    Family("depthwise_conv2d", ("DepthwiseConv2D",), (3,), depthwise_conv("DepthwiseConv2D", 2), weight=6),
    Family("separable_conv1d", ("SeparableConv1D",), (2,), separable_conv("SeparableConv1D", 1), weight=4),
    Family("separable_conv2d", ("SeparableConv2D",), (3,), separable_conv("SeparableConv2D", 2), weight=5),
    Family("max_pooling1d", ("MaxPooling1D",), (2,), pool("MaxPooling1D", 1), weight=5),
    Family("max_pooling2d", ("MaxPooling2D",), (3,), pool("MaxPooling2D", 2), weight=6),
    Family("max_pooling3d", ("MaxPooling3D",), (4,), pool("MaxPooling3D", 3), weight=4),
    Family("average_pooling1d", ("AveragePooling1D",), (2,), pool("AveragePooling1D", 1), weight=4),
    Family("average_pooling2d", ("AveragePooling2D",), (3,), pool("AveragePooling2D", 2), weight=5),
    Family("average_pooling3d", ("AveragePooling3D",), (4,), pool("AveragePooling3D", 3), weight=4),
    Family("global_average_pooling1d", ("GlobalAveragePooling1D",), (2,), global_pool("GlobalAveragePooling1D"), 4),
    Family("global_max_pooling1d", ("GlobalMaxPooling1D",), (2,), global_pool("GlobalMaxPooling1D"), 3),
    Family("global_average_pooling2d", ("GlobalAveragePooling2D",), (3,), global_pool("GlobalAveragePooling2D"), 4),
    Family("global_max_pooling2d", ("GlobalMaxPooling2D",), (3,), global_pool("GlobalMaxPooling2D"), 3),
    Family("global_pooling3d", ("GlobalAveragePooling3D",), (4,), global_pool("GlobalAveragePooling3D"), 3),
    Family("global_max_pooling3d", ("GlobalMaxPooling3D",), (4,), global_pool("GlobalMaxPooling3D"), 3),
    Family("batch_normalization", ("BatchNormalization",), (1, 2, 3, 4), batch_norm, weight=7),
    Family("layer_normalization", ("LayerNormalization",), (1, 2, 3, 4), layer_norm, weight=5),
    Family("group_normalization", ("GroupNormalization",), (1, 2, 3, 4), group_norm, weight=3),
    Family("unit_normalization", ("UnitNormalization",), (1, 2, 3, 4), unit_norm, weight=2),
    Family("zero_padding1d", ("ZeroPadding1D",), (2,), zero_padding("ZeroPadding1D", 1), weight=3),
    Family("zero_padding2d", ("ZeroPadding2D",), (3,), zero_padding("ZeroPadding2D", 2), weight=4),
    Family("zero_padding3d", ("ZeroPadding3D",), (4,), zero_padding("ZeroPadding3D", 3), weight=3),
    Family("cropping1d", ("Cropping1D",), (2,), cropping("Cropping1D", 1), weight=3),
    Family("cropping2d", ("Cropping2D",), (3,), cropping("Cropping2D", 2), weight=3),
    Family("cropping3d", ("Cropping3D",), (4,), cropping("Cropping3D", 3), weight=3),
    Family("up_sampling1d", ("UpSampling1D",), (2,), upsampling("UpSampling1D", 1), weight=3),
    Family("up_sampling2d", ("UpSampling2D",), (3,), upsampling("UpSampling2D", 2), weight=4),
    Family("up_sampling3d", ("UpSampling3D",), (4,), upsampling("UpSampling3D", 3), weight=3),
    Family("repeat_vector", ("RepeatVector",), (1,), repeat_vector, weight=3),
    Family("permute", ("Permute",), (2, 3, 4), permute, weight=3),
    Family("lstm", ("LSTM",), (2,), recurrent("LSTM"), weight=7),
    Family("gru", ("GRU",), (2,), recurrent("GRU"), weight=7),
    Family("simple_rnn", ("SimpleRNN",), (2,), recurrent("SimpleRNN"), weight=4),
    Family("bidirectional", ("Bidirectional", "LSTM"), (2,), bidirectional, weight=5),
    Family("rnn_cells", ("RNN", "LSTMCell"), (2,), rnn_cells, weight=3,
           covers=("GRUCell", "SimpleRNNCell", "StackedRNNCells")),
    Family("lambda", ("Lambda",), (1, 2, 3, 4), lambda_layer, weight=3),
    Family("normalization", ("Normalization",), (1, 2, 3, 4), normalization, weight=2),
    Family("center_crop", ("CenterCrop",), (3,), center_crop, weight=2),
    Family("resizing", ("Resizing",), (3,), resizing, weight=2),
    Family("masking", ("Masking",), (2,), masking, weight=1),
    Family("time_distributed", ("TimeDistributed", "Dense"), (2, 3), time_distributed_dense, weight=3),
    Family("multi_head_attention", ("MultiHeadAttention",), (2,), self_attention, weight=5),
    Family("attention", ("Attention",), (2,), dot_attention("Attention"), weight=3),
    Family("additive_attention", ("AdditiveAttention",), (2,), dot_attention("AdditiveAttention"), weight=3),
    Family("spatial_dropout1d", ("SpatialDropout1D",), (2,), dropout("SpatialDropout1D"), weight=2),
    Family("spatial_dropout2d", ("SpatialDropout2D",), (3,), dropout("SpatialDropout2D"), weight=2),
    Family("spatial_dropout3d", ("SpatialDropout3D",), (4,), dropout("SpatialDropout3D"), weight=2),
    Family("gaussian_noise", ("GaussianNoise",), (1, 2, 3, 4), gaussian_noise, weight=2),
    Family("gaussian_dropout", ("GaussianDropout",), (1, 2, 3, 4), dropout("GaussianDropout"), weight=2),
    Family("alpha_dropout", ("AlphaDropout",), (1, 2, 3, 4), dropout("AlphaDropout"), weight=2),
    Family("identity", ("Identity",), (1, 2, 3, 4), identity("Identity"), weight=1),
    Family("rescaling", ("Rescaling",), (1, 2, 3, 4), rescaling, weight=2),
]

MERGES: list[Merge] = [
    Merge("add", ("Add",), "equal", elementwise("Add"), weight=10, function="add"),
    Merge("multiply", ("Multiply",), "equal", elementwise("Multiply"), weight=6, function="multiply"),
    Merge("subtract", ("Subtract",), "equal", elementwise("Subtract"), arity=(2, 2), weight=4,
          function="subtract"),
    Merge("average", ("Average",), "equal", elementwise("Average"), weight=4, function="average"),
    Merge("maximum", ("Maximum",), "equal", elementwise("Maximum"), weight=3, function="maximum"),
    Merge("minimum", ("Minimum",), "equal", elementwise("Minimum"), weight=3, function="minimum"),
    Merge("concatenate", ("Concatenate",), "concat", concatenate, weight=10, function="concatenate"),
    Merge("dot", ("Dot",), "pair", dot, arity=(2, 2), weight=3),
    Merge("cross_attention", ("MultiHeadAttention",), "pair", cross_attention, arity=(2, 2), weight=3),
]


@dataclass
class Active:
    """The families whose rules exist now."""
    families: list[Family] = field(default_factory=list)
    merges: list[Merge] = field(default_factory=list)
    inputs: list[InputKind] = field(default_factory=list)
    functions: set[str] = field(default_factory=set)     # merges whose functional form has a rule


def active(rules) -> Active:
    def has(cls: str) -> bool:
        return f"keras.layers.{cls}" in rules.layers

    fams = [f for f in FAMILIES if all(has(c) for c in f.requires)]
    merges = [m for m in MERGES if all(has(c) for c in m.requires)]
    names = {f.name for f in fams}
    inputs = [k for k in INPUT_KINDS if not k.requires_any or names & set(k.requires_any)]
    functions = {m.name for m in merges if m.function and f"keras.layers.{m.function}" in rules.functions}
    return Active(fams, merges, inputs, functions)


def unfuzzed_rules(rules) -> list[str]:
    """Layer rules that no family generates (a new rule wants a table entry here)."""
    covered = ({c for f in FAMILIES for c in f.requires + f.covers}
               | {c for m in MERGES for c in m.requires})
    out = []
    for rule in rules.all_layer_rules():
        names = {k.rsplit(".", 1)[-1] for k in rule.keras}
        if not names & covered:
            out.append(rule.id)
    return sorted(out)
