"""Keras hatches (torch -> Keras) of image, normalisation, padding and reshaping modules.

Each hatch turns one torch module into Keras layers (built in `__init__`) or `keras.ops` code
written inline in `call` (inside a `keras.Sequential`, where only layers can go, the same code in a
`layers.Lambda`). A module whose semantics Keras cannot express exactly is refused with a finding
(FWT202: an argument value; FWT302: a size the translation needs and cannot infer).

    ConvTranspose{1,2,3}d   Conv{n}DTranspose: padding="same" where TF pads the same cells, else
                            "valid" + output_padding, then Cropping{n}D(padding)
                            (groups > 1: one per group, keras_hatches_conv_groups.py)
    GroupNorm               GroupNormalization(groups, epsilon)
    InstanceNorm{1,2,3}d    GroupNormalization(groups=-1) (statistics of each sample and channel);
                            track_running_stats=True: BatchNormalization (eval mode uses the running
                            statistics; FWT402: training-mode statistics differ)
    ZeroPad / ConstantPad   ZeroPadding{n}D, or keras.ops.pad(constant_values=value)
    Upsample                UpSampling{n}D (integer factors, nearest / bilinear), Resizing (2-D sizes
                            that are not multiples: bilinear, nearest-exact), linear 1-D as a 2-D
                            bilinear resize of width 1; align_corners=True, bicubic, trilinear: FWT202
    PixelShuffle/Unshuffle  keras.ops.depth_to_space / space_to_depth with the channels reordered:
                            torch orders them (c, i, j), TF (i, j, c)
    Unflatten               Reshape
    pooling (keras_layers)  MaxPool ceil_mode (end padding with -inf), AvgPool ceil_mode or
                            count_include_pad=False (sum / count of the counted cells), adaptive pooling
                            to sizes that do not divide the input (Keras' Adaptive*Pooling{n}D)

Activation modules: translator/backends/keras_hatches_activations.py.
"""
from __future__ import annotations

import libcst as cst

from ..ir import UNKNOWN, Sym
from .keras_code import Meta, call, node_of, tensor
from .keras_layers import (Applied, LeafContext, Step, _code, _is_const, _ntuple, _pretty,
                           check_rest, keras_hatch, layer_step)


# ---- helpers -------------------------------------------------------------------------------------

def _expr_step(ctx: LeafContext, build, role: str = "", single_use: bool = True) -> Step:
    """`build(node) -> node` written inline in call, or as a Lambda layer inside a Sequential (and where
    `build` uses its input more than once, so that the input expression is not computed twice)."""
    if not ctx.sequential and single_use:
        return Step("op", op=build)
    param = cst.Name("x")
    body = build(param)
    lam = cst.Lambda(cst.Parameters([cst.Param(param)]), body)
    return layer_step(ctx, "Lambda", [lam], role=role)


def _symbolic(v) -> bool:
    if isinstance(v, (list, tuple)):
        return any(_symbolic(x) for x in v)
    return v is UNKNOWN or isinstance(v, Sym)


def _const_or_fail(ctx: LeafContext, name: str):
    """A torch argument that must be a constant (nested tuples included), or FWT202."""
    v = ctx.value(name)
    if _symbolic(v):
        ctx.fail("FWT202", f"{name} must be a constant here, got {_code(ctx.args.node(name))}")
    return v


def _out(ctx: LeafContext, **kw) -> Meta:
    """The input meta with the facts an elementwise non-identity op drops."""
    m = ctx.meta
    return m.with_(origin=None, **{"nonneg": False, **kw}) if m.is_tensor else m


def _rank(ctx: LeafContext, what: str) -> int:
    r = ctx.meta.rank
    if r is None:
        ctx.fail("FWT302", f"the rank of the input is not known, and {what} depends on it (pass --input-shape)")
    return r


def _image_rank(ctx: LeafContext, n: int):
    """The input must be a batched channels-first tensor with n spatial axes."""
    r = ctx.meta.rank
    if r is None:
        ctx.fail("FWT302", "the rank of the input is not known (pass --input-shape)")
    if r != n + 2:
        ctx.fail("FWT202", f"applied to a rank-{r} tensor (a batched rank-{n + 2} input is translated)")


# ---- transposed convolutions ---------------------------------------------------------------------

@keras_hatch("conv1d_transpose", "conv2d_transpose", "conv3d_transpose")
def conv_transpose(ctx: LeafContext) -> Applied:
    n = int(ctx.short[-2])
    _image_rank(ctx, n)
    if ctx.const("padding_mode") != "zeros":
        ctx.fail("FWT202", "only zero padding translates")
    if ctx.value("groups") != 1:          # one Keras layer per group (keras_hatches_conv_groups.py)
        from .keras_hatches_conv_groups import grouped_conv_transpose
        return grouped_conv_transpose(ctx, conv_transpose)
    k = _ntuple(_const_or_fail(ctx, "kernel_size"), n)
    s = _ntuple(_const_or_fail(ctx, "stride"), n)
    p = _ntuple(_const_or_fail(ctx, "padding"), n)
    op = _ntuple(_const_or_fail(ctx, "output_padding"), n)
    d = _ntuple(_const_or_fail(ctx, "dilation"), n)
    if isinstance(ctx.value("padding"), str):
        ctx.fail("FWT202", "string padding is not accepted by torch's transposed convolutions")
    k_eff = tuple(di * (ki - 1) + 1 for ki, di in zip(k, d))
    if any(o >= si for o, si in zip(op, s)):
        ctx.fail("FWT202", f"output_padding={_pretty(op)} >= stride: Keras requires output_padding < strides")
    if any(di != 1 for di in d) and any(si != 1 for si in s):
        ctx.fail("FWT202", "dilation and stride > 1 together: Keras' transposed convolutions refuse them")
    kwargs = []
    if any(si != 1 for si in s):
        kwargs.append(("strides", node_of(_pretty(s))))
    same = all(ke - si == 2 * pi and o == 0 for ke, si, pi, o in zip(k_eff, s, p, op))
    crop = None
    if same and any(pi for pi in p):
        kwargs.append(("padding", node_of("same")))
    else:
        if not all(ke >= si and o == 0 for ke, si, o in zip(k_eff, s, op)):
            kwargs.append(("output_padding", node_of(_pretty(op))))
        if any(pi for pi in p):
            crop = p
    if any(di != 1 for di in d):
        kwargs.append(("dilation_rate", node_of(_pretty(d))))
    if ctx.value("bias") is not True:
        kwargs.append(("use_bias", ctx.node("bias")))
    ctx.consumed |= {"in_channels", "out_channels", "kernel_size", "stride", "padding", "output_padding",
                     "dilation", "bias"}
    check_rest(ctx)
    cls = f"Conv{n}DTranspose"
    filters = ctx.node("out_channels")
    kernel = node_of(_pretty(k))
    steps = [layer_step(ctx, cls, [filters, kernel], kwargs)]
    if crop is not None:
        value = _pretty(crop) if n > 1 else crop[0]
        if n > 1 and isinstance(value, tuple):
            value = tuple((c, c) for c in crop)
        steps.append(layer_step(ctx, f"Cropping{n}D", [node_of(value)], role="crop"))
    spatial = ctx.meta.spatial or (None,) * n
    sizes = tuple(None if size is None else (size - 1) * si - 2 * pi + ke + o
                  for size, si, pi, ke, o in zip(spatial, s, p, k_eff, op))
    out_ch = ctx.value("out_channels")
    out = tensor(shape=(None, out_ch if isinstance(out_ch, int) else None) + sizes, layout="cf")
    return Applied(steps, out, cls)


# ---- pooling -------------------------------------------------------------------------------------

def ceil_max_pool(ctx: LeafContext, k, s, p, spatial, kwargs) -> Applied:
    """nn.MaxPool*d(ceil_mode=True) with a known input size: torch adds a last window that may overhang the
    padded input (when it starts inside the input or the left padding); padding the end with -inf up to
    that window and pooling 'valid' gives the same maxima (zeros where the input is known >= 0)."""
    n = len(k)
    check_rest(ctx)
    pads, out_sizes = [], []
    for size, ki, si, pi in zip(spatial, k, s, p):
        out = -(-(size + 2 * pi - ki) // si) + 1
        if (out - 1) * si >= size + pi:
            out -= 1
        pads.append((pi, pi + max((out - 1) * si + ki - (size + 2 * pi), 0)))
        out_sizes.append(out)
    steps = []
    if ctx.meta.nonneg:
        steps.append(_zero_padding(ctx, n, pads))
        steps[-1].role = "pad"
    else:
        widths = node_of([[0, 0]] + [list(pair) for pair in pads] + [[0, 0]])
        ops_pad = ctx.refs.ops("pad")
        steps.append(_expr_step(ctx, lambda x: call(ops_pad, [x, widths], [
            ("constant_values", cst.parse_expression('float("-inf")'))]), role="pad"))
    cls = f"MaxPooling{n}D"
    steps.append(layer_step(ctx, cls, [], kwargs))
    channels = ctx.meta.channels if ctx.meta.layout == "cf" else None
    return Applied(steps, tensor(shape=(None, channels) + tuple(out_sizes), layout="cf", nonneg=ctx.meta.nonneg),
                   cls)


def adaptive_pool(ctx: LeafContext, n: int, is_max: bool, size, sizes, channels) -> Applied:
    """nn.Adaptive{Avg,Max}Pool{n}d to a size that is not a known divisor of the input: Keras 3's
    Adaptive{Average,Max}Pooling{n}D use torch's windows (start floor(i * in / out), end ceil((i + 1) * in
    / out)), for any input size."""
    if any(v is None for v in sizes):
        ctx.fail("FWT202", f"output_size={size!r}: None keeps an input size that is not known here "
                           "(pass --input-shape)")
    check_rest(ctx)
    cls = f"Adaptive{'Max' if is_max else 'Average'}Pooling{n}D"
    out = tensor(shape=(None, channels) + tuple(sizes), layout="cf", nonneg=ctx.meta.nonneg)
    return Applied([layer_step(ctx, cls, [node_of(_pretty(sizes) if n > 1 else sizes[0])])], out, cls)


def ceil_avg_pool(ctx: LeafContext, k, s, p, spatial, include_pad: bool) -> Applied:
    """nn.AvgPool*d whose divisor Keras' AveragePooling cannot reproduce: ceil_mode=True (torch counts the
    padding but not the cells of the last window past it) or count_include_pad=False with padding that
    TF 'same' does not place (spatial=None: no ceil window). The sum over the zero-padded window divided
    by the number of counted cells, both as average pools (their common 1/k factor cancels):

        keras.ops.average_pool(pad(x)) / keras.ops.average_pool(pad(ones))
    """
    n = len(k)
    check_rest(ctx)
    pads, out_sizes = [], []
    for i, (ki, si, pi) in enumerate(zip(k, s, p)):
        size = spatial[i] if spatial else None
        extra = 0
        if spatial is not None:
            out = -(-(size + 2 * pi - ki) // si) + 1
            if (out - 1) * si >= size + pi:
                out -= 1
            extra = max((out - 1) * si + ki - (size + 2 * pi), 0)
        else:
            out = None if (ctx.meta.spatial or (None,) * n)[i] is None else \
                (ctx.meta.spatial[i] + 2 * pi - ki) // si + 1
        pads.append((pi, pi + extra))
        out_sizes.append(out)
    ops = ctx.refs.ops
    size_node, stride_node = node_of(_pretty(k)), node_of(_pretty(s))
    widths = node_of([[0, 0]] + [list(pair) for pair in pads] + [[0, 0]])

    def pool(node):
        return call(ops("average_pool"), [node, size_node, stride_node])

    def build(x):
        ones = call(ops("ones_like"), [x])
        if include_pad:      # the padding counts, the cells past it do not
            inner = node_of([[0, 0]] + [[pi, pi] for pi in p] + [[0, 0]])
            ones = call(ops("pad"), [ones, inner], [("constant_values", node_of(1.0))])
            mask_widths = node_of([[0, 0]] + [[0, b - a] for a, b in pads] + [[0, 0]])
        else:
            mask_widths = widths
        return cst.BinaryOperation(pool(call(ops("pad"), [x, widths])), cst.Divide(),
                                   pool(call(ops("pad"), [ones, mask_widths])))
    channels = ctx.meta.channels if ctx.meta.layout == "cf" else None
    out = tensor(shape=(None, channels) + tuple(out_sizes), layout="cf", nonneg=ctx.meta.nonneg)
    return Applied([_expr_step(ctx, build, single_use=False)], out, "Lambda")


# ---- normalisation -------------------------------------------------------------------------------

def _eps_kwargs(ctx: LeafContext) -> list:
    eps = ctx.value("eps")
    node = ctx.args.node("eps")
    return [("epsilon", node if node is not None and not _is_const(eps) else node_of(eps))]


@keras_hatch("group_normalization")
def group_norm(ctx: LeafContext) -> Applied:
    rank = _rank(ctx, "the channel axis (torch axis 1)")
    if rank < 2:
        ctx.fail("FWT202", f"applied to a rank-{rank} tensor")
    kwargs = [("groups", ctx.node("num_groups"))]
    kwargs += _eps_kwargs(ctx)
    if ctx.const("affine") is False:
        kwargs += [("center", node_of(False)), ("scale", node_of(False))]
    ctx.consumed |= {"num_channels", "eps"}
    check_rest(ctx)
    return Applied([layer_step(ctx, "GroupNormalization", [], kwargs)], _out(ctx), "GroupNormalization")


@keras_hatch("instance_normalization")
def instance_norm(ctx: LeafContext) -> Applied:
    n = int(ctx.short[-2])
    _image_rank(ctx, n)
    affine = ctx.const("affine")
    running = ctx.const("track_running_stats")
    ctx.consumed |= {"num_features", "eps", "momentum"}
    no_affine = [("center", node_of(False)), ("scale", node_of(False))] if affine is False else []
    if not running:
        kwargs = [("groups", node_of(-1))] + _eps_kwargs(ctx) + no_affine
        check_rest(ctx)
        return Applied([layer_step(ctx, "GroupNormalization", [], kwargs)], _out(ctx), "GroupNormalization")
    momentum = _const_or_fail(ctx, "momentum")
    if momentum is None:
        ctx.fail("FWT202", "momentum=None (a cumulative average) has no Keras equivalent")
    ctx.notes.add("FWT402", f"nn.{ctx.short}(track_running_stats=True) normalises with its running statistics in "
                            "eval mode, as BatchNormalization does; in training mode torch uses the statistics of "
                            "each sample, Keras those of the batch", ctx.line)
    kwargs = [("momentum", node_of(round(1.0 - float(momentum), 12)))] + _eps_kwargs(ctx) + no_affine
    check_rest(ctx)
    return Applied([layer_step(ctx, "BatchNormalization", [], kwargs)], _out(ctx), "BatchNormalization")


# ---- padding -------------------------------------------------------------------------------------

def _torch_pads(ctx: LeafContext, n: int) -> list[tuple[int, int]]:
    """torch padding (int, or (left, right, top, bottom, front, back)) -> [(before, after)] per spatial
    axis in axis order (depth, height, width)."""
    padding = _const_or_fail(ctx, "padding")
    if isinstance(padding, int):
        pads = [(padding, padding)] * n
    elif isinstance(padding, (list, tuple)) and len(padding) == 2 * n and all(isinstance(v, int) for v in padding):
        pads = [(padding[2 * i], padding[2 * i + 1]) for i in range(n)][::-1]
    else:
        ctx.fail("FWT202", f"padding={padding!r}: expected an int or {2 * n} ints")
    if any(v < 0 for pair in pads for v in pair):
        ctx.fail("FWT202", "negative padding (cropping) is not translated")
    return pads


def _padded_meta(ctx: LeafContext, pads, value) -> Meta:
    m = ctx.meta
    spatial = m.spatial or (None,) * len(pads)
    sizes = tuple(None if s is None else s + a + b for s, (a, b) in zip(spatial, pads))
    return tensor(shape=(None, m.channels) + sizes, layout="cf", nonneg=m.nonneg and value >= 0)


def _zero_padding(ctx: LeafContext, n: int, pads) -> Step:
    if n == 1:
        value = pads[0] if pads[0][0] != pads[0][1] else pads[0][0]
    elif all(p == pads[0] for p in pads) and pads[0][0] == pads[0][1]:
        value = pads[0][0]
    elif all(a == b for a, b in pads):
        value = tuple(a for a, _ in pads)
    else:
        value = tuple(pads)
    return layer_step(ctx, f"ZeroPadding{n}D", [node_of(value)])


@keras_hatch("zero_padding1d", "zero_padding2d", "zero_padding3d", "constant_padding")
def padding(ctx: LeafContext) -> Applied:
    n = int(ctx.short[-2])
    _image_rank(ctx, n)
    pads = _torch_pads(ctx, n)
    value = _const_or_fail(ctx, "value") if "value" in ctx.args.defaults or ctx.args.has("value") else 0
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        ctx.fail("FWT202", f"value={value!r}: a number is expected")
    check_rest(ctx)
    out = _padded_meta(ctx, pads, value)
    if value == 0:
        return Applied([_zero_padding(ctx, n, pads)], out, f"ZeroPadding{n}D")
    widths = node_of([[0, 0]] + [list(p) for p in pads] + [[0, 0]])
    ops_pad = ctx.refs.ops("pad")
    step = _expr_step(ctx, lambda x: call(ops_pad, [x, widths], [("constant_values", node_of(value))]))
    return Applied([step], out, "Lambda" if ctx.sequential else "")


# ---- upsampling ----------------------------------------------------------------------------------

@keras_hatch("up_sampling2d", "upsampling_legacy2d")
def upsample(ctx: LeafContext) -> Applied:
    r = _rank(ctx, f"nn.{ctx.short}'s number of spatial axes")
    n = r - 2
    if n not in (1, 2, 3) or ctx.meta.layout != "cf" or ctx.short != "Upsample" and n != 2:
        ctx.fail("FWT202", f"applied to a rank-{r} tensor")
    size, factor = ctx.const("size"), ctx.const("scale_factor")
    if ctx.short == "Upsample":
        mode, align = ctx.const("mode"), ctx.const("align_corners")
        recompute = ctx.const("recompute_scale_factor")
    else:         # UpsamplingNearest2d / UpsamplingBilinear2d (align_corners=True)
        mode, align, recompute = ("nearest", None, None) if "Nearest" in ctx.short else ("bilinear", True, None)
    check_rest(ctx)
    linear = {1: "linear", 2: "bilinear", 3: "trilinear"}[n]
    if mode not in ("nearest", "nearest-exact", linear):
        ctx.fail("FWT202", f"mode={mode!r} has no exact Keras equivalent (nearest, nearest-exact and bilinear "
                           "translate)")
    if align and mode != "nearest":
        ctx.fail("FWT202", "align_corners=True: Keras resizes with half-pixel centers (align_corners=False)")
    if mode == linear and n == 3:
        ctx.fail("FWT202", f"mode={mode!r}: Keras UpSampling3D only repeats, and its resize is 2-D")
    spatial = ctx.meta.spatial or (None,) * n
    repeats, sizes = None, None
    if size is not None:
        sizes = _ntuple(size, n)
        if all(isinstance(i, int) and o % i == 0 for i, o in zip(spatial, sizes)):
            repeats = tuple(o // i for i, o in zip(spatial, sizes))
    else:
        factors = _ntuple(factor, n)
        if all(float(f).is_integer() for f in factors):
            repeats = tuple(int(f) for f in factors)
            sizes = tuple(None if i is None else i * f for i, f in zip(spatial, repeats))
        elif all(isinstance(i, int) and float(i * f).is_integer() for i, f in zip(spatial, factors)):
            sizes = tuple(int(i * f) for i, f in zip(spatial, factors))
        elif recompute and all(isinstance(i, int) for i in spatial):
            sizes = tuple(int(i * f) for i, f in zip(spatial, factors))
        else:
            ctx.fail("FWT202", f"scale_factor={factor!r}: exact in Keras only when the output size is a whole "
                               "multiple of a known input size (pass --input-shape)")
    channels = ctx.meta.channels
    out = tensor(shape=(None, channels) + tuple(sizes or (None,) * n), layout="cf")
    if mode == "linear":
        return _linear_1d(ctx, repeats, sizes, out)
    if repeats is not None:
        kwargs = [("size", node_of(_pretty(repeats) if n > 1 else repeats[0]))]
        if mode == linear and any(f != 1 for f in repeats):
            kwargs.append(("interpolation", node_of("bilinear")))
        return Applied([layer_step(ctx, f"UpSampling{n}D", [], kwargs)], out, f"UpSampling{n}D")
    if n != 2 or sizes is None or any(v is None for v in sizes):
        ctx.fail("FWT202", f"size={size!r}: not a whole multiple of the input size, which Keras resizes exactly "
                           "only in 2-D with a known size")
    if mode == "nearest":
        ctx.fail("FWT202", "mode='nearest' with a size that is not a multiple: torch picks floor(i * in / out), "
                           "TF half-pixel centers (torch's 'nearest-exact')")
    interpolation = "bilinear" if mode == linear else "nearest"
    return Applied([layer_step(ctx, "Resizing", [node_of(sizes[0]), node_of(sizes[1])],
                               [("interpolation", node_of(interpolation))])], out, "Resizing")


def _linear_1d(ctx: LeafContext, repeats, sizes, out: Meta) -> Applied:
    """nn.Upsample(mode='linear') of (N, C, L): a bilinear resize of (N, L, 1, C) to (L_out, 1), whose
    width weights all fall on the one column (half-pixel centers, as torch's align_corners=False)."""
    ops = ctx.refs.ops
    resize = ctx.refs.keras("ops.image.resize")
    known = sizes is not None and isinstance(sizes[0], int)
    length = str(sizes[0]) if known else f"x.shape[1] * {repeats[0]}"     # the Keras tensor's static length

    def build(x):
        image = call(ops("expand_dims"), [x, node_of(2)])
        resized = call(resize, [image, cst.parse_expression(f"({length}, 1)")],
                       [("interpolation", node_of("bilinear"))])
        return call(ops("squeeze"), [resized, node_of(2)])
    step = _expr_step(ctx, build, single_use=known)
    return Applied([step], out, "Lambda" if step.kind == "layer" else "")


# ---- pixel shuffle -------------------------------------------------------------------------------

def _channel_order(refs, x, count_c: str, r2: int, to_torch: bool):
    """keras.ops.take(x, [...], axis=-1): TF's (i, j, c) channel order <-> torch's (c, i, j).
    `count_c` is the code of C: a number, or `x.shape[-1] // 4` read from the Keras tensor."""
    if to_torch:      # position c * r2 + m takes TF channel m * C + c
        elt, loops = f"m * {count_c} + c", [("c", count_c), ("m", r2)]
    else:             # position m * C + c takes torch channel c * r2 + m
        elt, loops = f"c * {r2} + m", [("m", r2), ("c", count_c)]
    comp = cst.parse_expression(f"[{elt} for {loops[0][0]} in range({loops[0][1]}) "
                                f"for {loops[1][0]} in range({loops[1][1]})]")
    return call(refs.ops("take"), [x, comp], [("axis", node_of(-1))])


@keras_hatch("pixel_shuffle", "pixel_unshuffle")
def pixel_shuffle(ctx: LeafContext) -> Applied:
    """A known channel count is written as a number; otherwise (a count built from constructor arguments)
    the Keras tensor's own static channel size is read, in a Lambda layer (x.shape[-1])."""
    _image_rank(ctx, 2)
    shuffle = ctx.short == "PixelShuffle"
    r = _const_or_fail(ctx, "upscale_factor" if shuffle else "downscale_factor")
    if not isinstance(r, int) or r < 1:
        ctx.fail("FWT202", f"factor {r!r}: a positive int is expected")
    check_rest(ctx)
    channels = ctx.meta.channels
    known = isinstance(channels, int)
    spatial = ctx.meta.spatial or (None, None)
    refs = ctx.refs
    if shuffle:
        if known and channels % (r * r):
            ctx.fail("FWT202", f"{channels} channels are not a multiple of {r}^2")
        c_out = channels // (r * r) if known else None
        sizes = tuple(None if v is None else v * r for v in spatial)
        count = str(c_out) if known else f"x.shape[-1] // {r * r}"

        def build(x):
            return call(refs.ops("depth_to_space"), [_channel_order(refs, x, count, r * r, False), node_of(r)])
    else:
        c_out = channels * r * r if known else None
        sizes = tuple(None if v is None else v // r for v in spatial)
        count = str(channels) if known else "x.shape[-1]"

        def build(x):
            return _channel_order(refs, call(refs.ops("space_to_depth"), [x, node_of(r)]), count, r * r, True)
    out = tensor(shape=(None, c_out) + sizes, layout="cf", nonneg=ctx.meta.nonneg)
    step = _expr_step(ctx, build, single_use=known)
    return Applied([step], out, "Lambda" if step.kind == "layer" else "")


# ---- reshaping -----------------------------------------------------------------------------------

@keras_hatch("reshape")
def unflatten(ctx: LeafContext) -> Applied:
    """nn.Unflatten(dim, sizes) -> Reshape(the sizes of every non-batch axis): the other axes' sizes must be
    known (one unknown becomes -1); sizes built from constructor arguments (ngf * 8) stay expressions."""
    if ctx.short != "Unflatten":
        ctx.fail("FWT101", f"nn.{ctx.short} has no Keras translation")
    dim = _const_or_fail(ctx, "dim")
    value, node = ctx.value("unflattened_size"), ctx.args.node("unflattened_size")
    check_rest(ctx)
    if isinstance(value, (list, tuple)) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        sizes = list(value)
    elif isinstance(node, (cst.Tuple, cst.List)) and all(type(el) is cst.Element for el in node.elements):
        sizes = [el.value for el in node.elements]
    else:
        ctx.fail("FWT202", f"unflattened_size={_code(node) if node is not None else value!r}: a tuple is expected")
    m = ctx.meta
    rank = _rank(ctx, "the unflattened axis")
    axis = dim % rank
    if axis == 0:
        ctx.fail("FWT202", "unflattening the batch axis has no Keras Reshape equivalent")
    shape = list(m.shape)
    whole = shape[axis]
    if -1 in sizes and isinstance(whole, int) and all(isinstance(v, int) for v in sizes):
        known = 1
        for v in sizes:
            known *= v if v != -1 else 1
        sizes[sizes.index(-1)] = whole // known
    target = shape[1:axis] + sizes + shape[axis + 1:]
    unknown = [i for i, v in enumerate(target) if v is None or v == -1]
    if len(unknown) > 1:
        ctx.fail("FWT302", "more than one axis size of the result is unknown: Keras Reshape needs them")
    out_shape = (None,) + tuple(v if isinstance(v, int) and v != -1 else None for v in target)
    items = [-1 if v is None else v for v in target]
    elements = [cst.Element(node_of(v), comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
                for v in items]
    elements[-1] = elements[-1].with_changes(comma=cst.Comma() if len(elements) == 1 else cst.MaybeSentinel.DEFAULT)
    return Applied([layer_step(ctx, "Reshape", [cst.Tuple(elements)])], tensor(shape=out_shape), "Reshape")
