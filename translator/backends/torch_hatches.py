"""Emit hatches: layers whose torch lowering is code, not just a constructor.

Each function is registered by name with @hatch and referenced from a rule's `emit`.
"""
from __future__ import annotations

from ..findings import TranslationError
from ..ir import is_int
from ..passes.shapes import as_tuple, same_pads
from ..values import to_node
from .torch_code import call, method
from .torch_layers import (Emission, LayerContext, _compact, activation_name, apply_activation,
                           build_ctor, hatch, lowered_activation)


def _spatial(ctx: LayerContext):
    return ctx.meta.shape[1:-1] if ctx.meta.shape else None


def _f_pad_arg(pads) -> tuple:
    """((before, after) per Keras spatial axis) -> F.pad's flat tuple, last axis first."""
    flat = []
    for before, after in reversed(pads):
        flat += [before, after]
    return tuple(flat)


def _same_padding(ctx: LayerContext, kernel, strides, dilation):
    """Pads per spatial axis for TF 'same', or raise when the input size is needed but unknown."""
    spatial = _spatial(ctx)
    rank = len(kernel)
    pads = []
    for i in range(rank):
        size = spatial[i] if spatial else None
        p = same_pads(size, kernel[i], strides[i], dilation[i])
        if p is None:
            raise TranslationError("FWT302", f"{ctx.layer.keras_class}: padding='same' with stride "
                                   f"{strides[i]} needs a known input size", ctx.layer.line)
        pads.append(p)
    return pads


def conv_padding(ctx: LayerContext, kernel, strides, dilation) -> tuple[dict, tuple | None]:
    """The torch form of a Keras convolution's `padding` (TF semantics), for any conv-like hatch.

    Returns (constructor overrides, F.pad argument or None): 'valid' needs nothing; 'same' with
    stride 1 is a symmetric `padding=` for odd kernels and torch's `padding="same"` otherwise; 'same'
    with a stride is a symmetric `padding=` when TF pads both sides alike, else an explicit `F.pad`
    before the conv (computed from the static input size: FWT302 when it is unknown).
    """
    overrides, pre_pad = {}, None
    if ctx.arg("padding") == "same":
        if all(s == 1 for s in strides):
            if all(is_int(k) and k % 2 == 1 and is_int(d) for k, d in zip(kernel, dilation)):
                pads = _compact(tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation)))
                if pads != 0:
                    overrides["padding"] = pads     # odd kernels: 'same' is a symmetric pad
            else:
                overrides["padding"] = "same"
        else:
            if not all(is_int(k) for k in kernel):
                raise TranslationError("FWT202", "padding='same' with stride > 1 needs a constant "
                                       "kernel size", ctx.layer.line)
            if not all(is_int(v) for v in tuple(strides) + tuple(dilation)):   # e.g. strides=stride of a class
                raise TranslationError("FWT202", f"{ctx.layer.keras_class}: padding='same' with a stride that "
                                       f"is not a constant ({', '.join(map(str, strides))}): the padding "
                                       "depends on it", ctx.layer.line)
            pads = _same_padding(ctx, kernel, strides, dilation)
            if all(a == b for a, b in pads):
                overrides["padding"] = _compact(tuple(a for a, _ in pads))
                if overrides["padding"] == 0:
                    del overrides["padding"]
            else:
                pre_pad = _f_pad_arg(pads)
    return overrides, pre_pad


@hatch("conv")
def conv(ctx: LayerContext) -> Emission:
    rank = (ctx.meta.rank or int(ctx.rule.id[-2]) + 2) - 2
    kernel = as_tuple(ctx.arg("kernel_size"), rank)
    strides = as_tuple(ctx.arg("strides"), rank)
    dilation = as_tuple(ctx.arg("dilation_rate"), rank)
    overrides, pre_pad = conv_padding(ctx, kernel, strides, dilation)
    act = lowered_activation(ctx)
    ctor = build_ctor(ctx, overrides=overrides)

    def apply(xs, metas):
        x = xs[0]
        if pre_pad is not None:
            x = call(ctx.ref("torch.nn.functional.pad"), [x, to_node(pre_pad)])
        return apply_activation(ctx, act, ctx.module_call(x), ctx.out_meta)
    return Emission(ctor, apply)


@hatch("pool")
def pool(ctx: LayerContext) -> Emission:
    rank = (ctx.meta.rank or int(ctx.rule.id[-2]) + 2) - 2
    kernel = as_tuple(ctx.arg("pool_size"), rank)
    strides_arg = ctx.arg("strides")
    strides = as_tuple(strides_arg, rank) if strides_arg is not None else kernel
    is_avg = "average" in ctx.rule.id
    overrides, pre_pad, crop = {}, None, None
    if strides_arg is not None and tuple(strides) != tuple(kernel):
        overrides["stride"] = _compact(tuple(strides))
    if ctx.arg("padding") == "same":
        if not all(is_int(v) for v in tuple(kernel) + tuple(strides)):   # e.g. Block(pool) of a class
            raise TranslationError("FWT202", f"{ctx.layer.keras_class}: padding='same' with a pool size or "
                                   "stride that is not a constant: the padding depends on it", ctx.layer.line)
        pads = _same_padding(ctx, kernel, strides, (1,) * rank)
        spatial = _spatial(ctx) or ()
        if is_avg and rank == 3 and any(is_int(n) and n < k for n, k in zip(spatial, kernel)):
            # torch's avg_pool3d refuses a window larger than the input even with padding (1d/2d accept it)
            raise TranslationError("FWT202", f"{ctx.layer.keras_class}: padding='same' with a pool window "
                                   "larger than the input is not expressible with torch's avg_pool3d",
                                   ctx.layer.line)
        if all(a == b for a, b in pads):
            if any(a for a, _ in pads):
                overrides["padding"] = _compact(tuple(a for a, _ in pads))
                if is_avg:
                    overrides["count_include_pad"] = False
        elif is_avg:
            padding, crop = _avg_same_asymmetric(pads, strides)
            overrides["padding"] = _compact(padding)
            overrides["count_include_pad"] = False
            if any(a != b and s > 1 for (a, b), s in zip(pads, strides)):
                overrides["ceil_mode"] = True
            if not any(crop):
                crop = None
        else:
            pre_pad = _f_pad_arg(pads)
    ctor = build_ctor(ctx, overrides=overrides, drop=("stride",))

    def apply(xs, metas):
        x = xs[0]
        if pre_pad is not None:
            x = call(ctx.ref("torch.nn.functional.pad"), [x, to_node(pre_pad)],
                     [("value", to_node(float("-inf")))])
        out = ctx.module_call(x)
        if crop is not None:
            out = cst_index(out, "[:, :, " + ", ".join("1:" if c else ":" for c in crop) + "]")
        return out
    return Emission(ctor, apply)


def _avg_same_asymmetric(pads, strides):
    """TF 'same' average pooling with (p, p + 1) pads, as torch padding (+ ceil_mode / a crop).

    TF pads p before and p + 1 after and averages over the real cells only. With
    count_include_pad=False torch also divides by the real cells, so only the window positions matter:
    - stride > 1: padding=p with ceil_mode=True adds exactly the last (clipped) window;
    - stride 1 (even window): padding=p + 1 gives one extra window at the start; it is cropped.
    Returns (torch padding per axis, crop-first-output per axis).
    """
    padding, crop = [], []
    for (before, after), s in zip(pads, strides):
        if before == after or s > 1:
            padding.append(before)
            crop.append(False)
        else:
            padding.append(after)
            crop.append(True)
    return tuple(padding), tuple(crop)


@hatch("global_pool")
def global_pool(ctx: LayerContext) -> Emission:
    reducer = "mean" if "average" in ctx.rule.id else "amax"
    rank = ctx.meta.rank or int(ctx.rule.id[-2]) + 2
    dims = tuple(range(2, rank))
    keepdim = bool(ctx.arg("keepdims"))

    def apply(xs, metas):
        kwargs = [("dim", to_node(dims[0] if len(dims) == 1 else dims))]
        if keepdim:
            kwargs.append(("keepdim", to_node(True)))
        return method(xs[0], reducer, [], kwargs)
    return Emission(None, apply)


@hatch("flatten")
def flatten(ctx: LayerContext) -> Emission:
    def apply(xs, metas):
        return call(ctx.ref("torch.flatten"), [xs[0], to_node(1)])
    return Emission(None, apply)


@hatch("reshape")
def reshape(ctx: LayerContext) -> Emission:
    target = ctx.arg("target_shape")
    if not isinstance(target, (tuple, list)):
        raise TranslationError("FWT202", "Reshape: target_shape must be a tuple", ctx.layer.line)
    target = tuple(target)

    def apply(xs, metas):
        x = xs[0]
        if metas[0].rank != 2:
            x = method(x, "flatten", [to_node(1)])
        return method(x, "unflatten", [to_node(1), to_node(target)])
    return Emission(None, apply)


@hatch("batch_norm")
def batch_norm(ctx: LayerContext) -> Emission:
    rank = ctx.meta.rank
    if rank is None:
        raise TranslationError("FWT302", "BatchNormalization: input rank unknown", ctx.layer.line)
    cls = {2: "torch.nn.BatchNorm1d", 3: "torch.nn.BatchNorm1d", 4: "torch.nn.BatchNorm2d",
           5: "torch.nn.BatchNorm3d"}.get(rank)
    if cls is None:
        raise TranslationError("FWT202", f"BatchNormalization on rank {rank} input", ctx.layer.line)
    center, scale = ctx.arg("center"), ctx.arg("scale")
    overrides = {}
    if center != scale:
        raise TranslationError("FWT202", "BatchNormalization: center and scale must both be True or "
                               "both False for torch", ctx.layer.line)
    if not center:
        overrides["affine"] = False
    ctor = build_ctor(ctx, torch_path=cls, overrides=overrides)
    return Emission(ctor, lambda xs, metas: ctx.module_call(xs[0]))


def cst_index(expr, text: str):
    import libcst as cst
    slice_ = cst.parse_expression("_" + text).slice
    return cst.Subscript(value=expr, slice=slice_)


@hatch("merge")
def merge(ctx: LayerContext) -> Emission:
    import libcst as cst
    op = cst.Add() if ctx.rule.id == "add" else cst.Multiply()

    def apply(xs, metas):
        expr = xs[0]
        for x in xs[1:]:
            expr = cst.BinaryOperation(left=expr, operator=op, right=x)
        return expr
    return Emission(None, apply)


@hatch("concatenate")
def concatenate(ctx: LayerContext) -> Emission:
    import libcst as cst
    axis = ctx.arg("axis")

    def apply(xs, metas):
        dim = ctx.torch_axis(axis, metas[0])
        items = cst.List([cst.Element(x) for x in xs])
        return call(ctx.ref("torch.cat"), [items], [("dim", to_node(dim))])
    return Emission(None, apply)




@hatch("upsampling")
def upsampling(ctx: LayerContext) -> Emission:
    rank = (ctx.meta.rank or 4) - 2
    size = _compact(tuple(as_tuple(ctx.arg("size"), rank)))
    mode = ctx.arg("interpolation")

    def apply(xs, metas):
        kwargs = [("scale_factor", to_node(size)), ("mode", to_node(mode))]
        if mode != "nearest":
            kwargs.append(("align_corners", to_node(False)))
        return call(ctx.ref("torch.nn.functional.interpolate"), [xs[0]], kwargs)
    return Emission(None, apply)


@hatch("activation_layer")
def activation_layer(ctx: LayerContext) -> Emission:
    name = activation_name(ctx, ctx.arg("activation"))
    return Emission(None, lambda xs, metas: apply_activation(ctx, name, xs[0], metas[0]))


@hatch("relu_layer")
def relu_layer(ctx: LayerContext) -> Emission:
    max_value, slope = ctx.arg("max_value"), ctx.arg("negative_slope")

    def apply(xs, metas):
        x = xs[0]
        if not slope and max_value == 6:
            return call(ctx.ref("torch.nn.functional.relu6"), [x])
        if slope:
            out = call(ctx.ref("torch.nn.functional.leaky_relu"), [x], [("negative_slope", to_node(slope))])
        else:
            out = call(ctx.ref("torch.nn.functional.relu"), [x])
        if max_value is not None:
            out = call(ctx.ref("torch.clamp"), [out], [("max", to_node(max_value))])
        return out
    return Emission(None, apply)


@hatch("leaky_relu_layer")
def leaky_relu_layer(ctx: LayerContext) -> Emission:
    slope = ctx.arg("negative_slope")
    return Emission(None, lambda xs, metas: call(ctx.ref("torch.nn.functional.leaky_relu"), [xs[0]],
                                                 [("negative_slope", to_node(slope))]))


@hatch("softmax_layer")
def softmax_layer(ctx: LayerContext) -> Emission:
    axis = ctx.arg("axis")
    return Emission(None, lambda xs, metas: call(ctx.ref("torch.nn.functional.softmax"), [xs[0]],
                                                 [("dim", to_node(ctx.torch_axis(axis, metas[0])))]))
