"""Emit hatches and shape functions of the convolution, pooling and reshaping family.

Transposed convolutions (Conv1D/2D/3DTranspose), depthwise and separable convolutions, and the
N-d padding, cropping and upsampling layers. Padding of ordinary convolutions is shared with the
`conv` hatch (`conv_padding` in torch_hatches.py).

Transposed convolutions, Keras (TF) vs torch, along one spatial axis with input length I, kernel k,
stride s, dilation d, effective kernel ke = (k - 1) * d + 1:
- Both frameworks compute the adjoint of a correlation; the "natural" output (torch with
  padding=0, output_padding=0) has length N = (I - 1) * s + ke, and the same kernel layout
  (Keras (*k, filters, in) -> torch (in, filters, *k), no spatial flip).
- Keras' output length O (keras/src/backend/common/backend_utils.py,
  `_get_output_shape_given_tf_padding`): 'valid': N + (max(ke, s) - ke if output_padding is None
  else output_padding); 'same': I * s if output_padding is None else
  (I - 1) * s + ke % 2 + output_padding.
- TF (tf.nn.conv_transpose with padding='SAME') takes the window starting L cells into the
  natural output, L = total // 2 with total = max(N - O, 0) (the forward conv's 'same' pad of O);
  'valid' takes L = 0. Positions past N hold only the bias.
- torch with padding p and output_padding op keeps natural positions [p, N - p + op) (positions past
  N hold only the bias), so p = L and op = O - N + 2L. When op < 0 (an odd total: TF pads the extra
  cell after), torch computes one cell too many on the right, which is cropped; op must be below
  max(s, d) for torch (always true for what Keras accepts; otherwise FWT202).
"""
from __future__ import annotations

import re

import libcst as cst

from ..findings import TranslationError
from ..ir import dim_add, dim_mul, dim_sub, is_int
from ..passes.shapes import ShapeError, as_tuple, conv_out, shape_fn, zero_padding_amounts
from ..values import to_node
from .torch_code import call
from .torch_hatches import _f_pad_arg, conv_padding, cst_index
from .torch_layers import (INFER, Emission, LayerContext, _compact, apply_activation, build_ctor, hatch,
                           lowered_activation)


def _spatial_rank(ctx: LayerContext) -> int:
    if ctx.meta.rank:
        return ctx.meta.rank - 2
    return int(re.search(r"(\d)d", ctx.rule.id).group(1))


def _depthwise_channels(ctx: LayerContext):
    """out_channels of a depthwise conv: input channels * depth_multiplier."""
    return dim_mul(ctx.channels(), ctx.arg("depth_multiplier"))


INFER.setdefault("depthwise_channels", _depthwise_channels)


def _constants(ctx: LayerContext, what: str, values) -> None:
    if not all(is_int(v) for v in values):
        raise TranslationError("FWT202", f"{ctx.layer.keras_class}: {what} must be integer constants to "
                               "translate", ctx.layer.line)


# ---- transposed convolutions ---------------------------------------------------------------------

def transpose_padding(k: int, s: int, d: int, padding: str, output_padding: int | None) -> tuple[int, int, int]:
    """(torch padding, torch output_padding, cells to crop at the end) for one spatial axis.

    See the module docstring; O - N is independent of the input length.
    """
    ke = (k - 1) * d + 1
    if padding == "valid":
        o_minus_n = (max(ke, s) - ke) if output_padding is None else output_padding
        left = 0
    else:
        o_minus_n = (s - ke) if output_padding is None else ke % 2 + output_padding - ke
        left = max(-o_minus_n, 0) // 2
    op = o_minus_n + 2 * left
    crop = 0
    if op < 0:
        crop, op = -op, 0
    return left, op, crop


def transpose_out(size, k, s, d, padding: str, output_padding):
    """Keras output length of a transposed conv along one axis (None when the input is unknown)."""
    if size is None:
        return None
    ke = dim_add(dim_mul(dim_sub(k, 1), d), 1)
    if padding == "same" and output_padding is None:
        return dim_mul(size, s)
    if padding == "same":
        if not is_int(ke):
            return None
        return dim_add(dim_mul(dim_sub(size, 1), s), ke % 2 + output_padding)
    if output_padding is None:
        if not (is_int(ke) and is_int(s)):
            return None
        output_padding = max(ke, s) - ke
    return dim_add(dim_add(dim_mul(dim_sub(size, 1), s), ke), output_padding)


@shape_fn("conv_transpose")
def conv_transpose_shape(args, shapes):
    s = shapes[0]
    rank = len(s) - 2
    k = as_tuple(args["kernel_size"], rank)
    st = as_tuple(args["strides"], rank)
    d = as_tuple(args["dilation_rate"], rank)
    op = args["output_padding"]
    op = (None,) * rank if op is None else as_tuple(op, rank)
    spatial = tuple(transpose_out(s[1 + i], k[i], st[i], d[i], args["padding"], op[i]) for i in range(rank))
    return [(s[0],) + spatial + (args["filters"],)]


def _end_crop(expr, crops):
    """out[:, :, :-1, :] for the cells cropped at the end of each spatial axis (channels-first)."""
    if not any(crops):
        return expr
    return cst_index(expr, "[:, :, " + ", ".join(f":-{c}" if c else ":" for c in crops) + "]")


@hatch("conv_transpose")
def conv_transpose(ctx: LayerContext) -> Emission:
    rank = _spatial_rank(ctx)
    kernel = as_tuple(ctx.arg("kernel_size"), rank)
    strides = as_tuple(ctx.arg("strides"), rank)
    dilation = as_tuple(ctx.arg("dilation_rate"), rank)
    given = ctx.arg("output_padding")
    out_pad = (None,) * rank if given is None else as_tuple(given, rank)
    _constants(ctx, "kernel_size, strides, dilation_rate and output_padding",
               kernel + strides + dilation + tuple(o for o in out_pad if o is not None))
    padding = ctx.arg("padding")
    pads, out_pads, crops = [], [], []
    for k, s, d, o in zip(kernel, strides, dilation, out_pad):
        p, op, crop = transpose_padding(k, s, d, padding, o)
        if op >= max(s, d):
            raise TranslationError("FWT202", f"{ctx.layer.keras_class}: output_padding {op} >= stride {s} "
                                   "has no torch equivalent", ctx.layer.line)
        pads.append(p), out_pads.append(op), crops.append(crop)
    overrides = {}
    if any(pads):
        overrides["padding"] = _compact(tuple(pads))
    if any(out_pads):
        overrides["output_padding"] = _compact(tuple(out_pads))
    act = lowered_activation(ctx)
    ctor = build_ctor(ctx, overrides=overrides)

    def apply(xs, metas):
        return apply_activation(ctx, act, _end_crop(ctx.module_call(xs[0]), crops), ctx.out_meta)
    return Emission(ctor, apply)


# ---- depthwise and separable convolutions ---------------------------------------------------------

@shape_fn("depthwise_conv")
def depthwise_conv_shape(args, shapes):
    s = shapes[0]
    rank = len(s) - 2
    k = as_tuple(args["kernel_size"], rank)
    st = as_tuple(args["strides"], rank)
    d = as_tuple(args["dilation_rate"], rank)
    spatial = tuple(conv_out(s[1 + i], k[i], st[i], d[i], args["padding"]) for i in range(rank))
    channels = dim_mul(s[-1], args["depth_multiplier"]) if s[-1] is not None else None
    return [(s[0],) + spatial + (channels,)]


def _window(ctx: LayerContext):
    rank = _spatial_rank(ctx)
    return (rank, as_tuple(ctx.arg("kernel_size"), rank), as_tuple(ctx.arg("strides"), rank),
            as_tuple(ctx.arg("dilation_rate"), rank))


def _pre_padded(ctx: LayerContext, x, pre_pad):
    if pre_pad is None:
        return x
    return call(ctx.ref("torch.nn.functional.pad"), [x, to_node(pre_pad)])


@hatch("depthwise_conv")
def depthwise_conv(ctx: LayerContext) -> Emission:
    """DepthwiseConv1D/2D: Conv*d(in, in * depth_multiplier, groups=in) (the rule's params infer the
    channel counts; an unknown channel count is FWT302: there is no lazy grouped conv)."""
    ctx.channels()
    rank, kernel, strides, dilation = _window(ctx)
    overrides, pre_pad = conv_padding(ctx, kernel, strides, dilation)
    act = lowered_activation(ctx)
    ctor = build_ctor(ctx, overrides=overrides)

    def apply(xs, metas):
        return apply_activation(ctx, act, ctx.module_call(_pre_padded(ctx, xs[0], pre_pad)), ctx.out_meta)
    return Emission(ctor, apply)


def _value_node(ctx: LayerContext, name: str):
    """A Keras argument as an expression: its constant, or the expression written in the source."""
    value = ctx.arg(name, need_const=False)
    if value is not None and not isinstance(value, (int, float, str, tuple, list)):
        return ctx.layer.args[name].node
    return to_node(value)


def _one_arg_per_line(node: cst.Call) -> cst.Call:
    """nn.Sequential(\n    a,\n    b,\n) as black would write it, indented from the statement."""
    def line_break(extra: str):
        return cst.ParenthesizedWhitespace(first_line=cst.TrailingWhitespace(), indent=True,
                                           last_line=cst.SimpleWhitespace(extra))
    args = [a.with_changes(comma=cst.Comma(whitespace_after=line_break("" if i == len(node.args) - 1 else "    ")))
            for i, a in enumerate(node.args)]
    return node.with_changes(whitespace_before_args=line_break("    "), args=args)


@hatch("separable_conv")
def separable_conv(ctx: LayerContext) -> Emission:
    """SeparableConv1D/2D: nn.Sequential(depthwise Conv*d(groups=in, bias=False), pointwise 1x1 Conv*d).

    The weights go to `0.weight` (depthwise), `1.weight` and `1.bias` (pointwise)."""
    channels = ctx.channels()
    rank, kernel, strides, dilation = _window(ctx)
    overrides, pre_pad = conv_padding(ctx, kernel, strides, dilation)
    overrides["bias"] = False
    conv_cls = f"torch.nn.Conv{rank}d"
    depthwise = build_ctor(ctx, torch_path=conv_cls, overrides=overrides)
    kwargs = [] if ctx.arg("use_bias") else [("bias", to_node(False))]
    pointwise = call(ctx.ref(conv_cls), [to_node(dim_mul(channels, ctx.arg("depth_multiplier"))),
                                         _value_node(ctx, "filters"), to_node(1)], kwargs)
    ctor = _one_arg_per_line(call(ctx.ref("torch.nn.Sequential"), [depthwise, pointwise]))
    act = lowered_activation(ctx)

    def apply(xs, metas):
        return apply_activation(ctx, act, ctx.module_call(_pre_padded(ctx, xs[0], pre_pad)), ctx.out_meta)
    return Emission(ctor, apply)


# ---- padding, cropping, upsampling of any rank ------------------------------------------------------

def padding_pairs(value, rank: int) -> tuple:
    """Keras ZeroPadding*/Cropping* spec -> ((before, after), ...) per spatial axis.

    1D: an int or (before, after). 2D/3D: an int, one int per axis (symmetric), or a pair per axis.
    """
    if rank == 1:
        if isinstance(value, (list, tuple)):
            if len(value) != 2:
                raise ShapeError(f"expected (before, after), got {value!r}")
            return (tuple(value),)
        return ((value, value),)
    pairs = zero_padding_amounts(value, rank)
    if len(pairs) != rank or any(len(p) != 2 for p in pairs):
        raise ShapeError(f"expected {rank} (before, after) pairs, got {value!r}")
    return pairs


def _pairs(ctx: LayerContext, name: str, rank: int, need_int: bool):
    try:
        pairs = padding_pairs(ctx.arg(name), rank)
    except ShapeError as exc:
        raise TranslationError("FWT202", f"{ctx.layer.keras_class}: {exc}", ctx.layer.line) from None
    if need_int:
        _constants(ctx, name, [v for pair in pairs for v in pair])
    return pairs


@shape_fn("padding_nd")
def padding_nd_shape(args, shapes):
    s = shapes[0]
    pairs = padding_pairs(args["padding"], len(s) - 2)
    spatial = tuple(dim_add(dim_add(s[1 + i], a), b) if s[1 + i] is not None else None
                    for i, (a, b) in enumerate(pairs))
    return [(s[0],) + spatial + (s[-1],)]


@hatch("zero_padding_nd")
def zero_padding_nd(ctx: LayerContext) -> Emission:
    """ZeroPadding1D/2D/3D: F.pad on the channels-first tensor (1D takes (left, right), not one per axis)."""
    pads = _pairs(ctx, "padding", _spatial_rank(ctx), need_int=False)

    def apply(xs, metas):
        return call(ctx.ref("torch.nn.functional.pad"), [xs[0], to_node(_f_pad_arg(pads))])
    return Emission(None, apply)


@shape_fn("cropping")
def cropping_shape(args, shapes):
    s = shapes[0]
    pairs = padding_pairs(args["cropping"], len(s) - 2)
    spatial = tuple(dim_sub(dim_sub(s[1 + i], a), b) if s[1 + i] is not None else None
                    for i, (a, b) in enumerate(pairs))
    return [(s[0],) + spatial + (s[-1],)]


def _slice(before: int, after: int) -> str:
    return f"{before or ''}:{-after if after else ''}"


@hatch("cropping")
def cropping(ctx: LayerContext) -> Emission:
    """Cropping1D/2D/3D: a slice of the channels-first tensor, x[:, :, 1:-1, 2:]."""
    crops = _pairs(ctx, "cropping", _spatial_rank(ctx), need_int=True)

    def apply(xs, metas):
        if not any(a or b for a, b in crops):
            return xs[0]
        return cst_index(xs[0], "[:, :, " + ", ".join(_slice(a, b) for a, b in crops) + "]")
    return Emission(None, apply)


@hatch("upsampling_nd")
def upsampling_nd(ctx: LayerContext) -> Emission:
    """UpSampling1D/3D (nearest only in Keras): F.interpolate(mode="nearest") with an integer scale,
    which repeats each cell exactly like Keras' ops.repeat."""
    rank = _spatial_rank(ctx)
    size = as_tuple(ctx.arg("size"), rank)
    _constants(ctx, "size", size)
    scale = _compact(tuple(size))

    def apply(xs, metas):
        return call(ctx.ref("torch.nn.functional.interpolate"), [xs[0]],
                    [("scale_factor", to_node(scale)), ("mode", to_node("nearest"))])
    return Emission(None, apply)

