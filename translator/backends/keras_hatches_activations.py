"""Keras hatches (torch -> Keras) of activation modules whose translation is not a plain
`layers.Activation("name")` (those go through the generic path of keras_layers.activation_module).

    nn.ELU(alpha)               layers.ELU(alpha=...)
    nn.PReLU(num_parameters)    layers.PReLU(shared_axes=...): one alpha for every axis, or one per channel
                                (torch axis 1: the last Keras axis of an image); alpha_initializer=init
    nn.Softmin(dim)             keras.ops.softmax(-x, axis) (Rescaling(-1) + Softmax in a Sequential)
    nn.Softmax2d()              layers.Softmax over torch axis -3
    nn.Threshold(t, v)          keras.ops.threshold(x, t, v)
    nn.RReLU(lower, upper)      layers.LeakyReLU((lower + upper) / 2): its eval-mode slope (FWT402)
    nn.Identity()               layers.Identity()
    nn.CELU(alpha), nn.GELU(approximate='tanh'), nn.Hardtanh(min, max), nn.Hardshrink/Softshrink(lambd),
    nn.GLU(dim), nn.LogSoftmax(dim)
                                the Keras activation at the defaults, else the keras.ops function with
                                its argument (a Lambda layer inside a Sequential)
    nn.Softplus(beta, threshold) Activation("softplus") at the defaults (log1p(exp(-20)) is below float32
                                resolution above the threshold), else where(beta*x > t, x, softplus(beta*x)/beta)

Keras 3 definitions match torch's: hard_sigmoid = relu6(x + 3) / 6 (Keras 2's 0.2x + 0.5 does not),
hard_silu = hardswish, glu = first half * sigmoid(second half), shrinks and celu as in torch.
"""
from __future__ import annotations

import libcst as cst

from .keras_code import Meta, call, keras_axis, node_of
from .keras_hatches_layers import _const_or_fail, _expr_step, _out, _rank
from .keras_layers import KERAS_HATCHES, Applied, LeafContext, Step, check_rest, keras_hatch, layer_step


def _activation(ctx: LeafContext, name: str, out: Meta | None = None) -> Applied:
    return Applied([layer_step(ctx, "Activation", [node_of(name)])], out or _out(ctx), "Activation")


def _op(ctx: LeafContext, fn: str, args=(), kwargs=(), out: Meta | None = None) -> Applied:
    ref = ctx.refs.ops(fn)
    step = _expr_step(ctx, lambda x: call(ref, [x] + [node_of(a) for a in args],
                                          [(k, node_of(v)) for k, v in kwargs]))
    return Applied([step], out or _out(ctx), "Lambda" if ctx.sequential else "")


@keras_hatch("act_linear")
def identity(ctx: LeafContext) -> Applied:
    check_rest(ctx)
    return Applied([layer_step(ctx, "Identity")], ctx.meta, "Identity")


@keras_hatch("elu")
def elu(ctx: LeafContext) -> Applied:
    alpha = _const_or_fail(ctx, "alpha")
    check_rest(ctx)
    kwargs = [] if alpha == 1.0 else [("alpha", node_of(alpha))]
    return Applied([layer_step(ctx, "ELU", [], kwargs)], _out(ctx), "ELU")


@keras_hatch("act_celu")
def celu(ctx: LeafContext) -> Applied:
    alpha = _const_or_fail(ctx, "alpha")
    check_rest(ctx)
    return _activation(ctx, "celu") if alpha == 1.0 else _op(ctx, "celu", kwargs=[("alpha", alpha)])


@keras_hatch("act_gelu")
def gelu(ctx: LeafContext) -> Applied:
    approximate = _const_or_fail(ctx, "approximate")
    check_rest(ctx)
    if approximate == "none":
        return _activation(ctx, "gelu")
    if approximate == "tanh":
        return _op(ctx, "gelu", kwargs=[("approximate", True)])
    ctx.fail("FWT202", f"approximate={approximate!r}")


@keras_hatch("act_softplus")
def softplus(ctx: LeafContext) -> Applied:
    beta = _const_or_fail(ctx, "beta")
    threshold = _const_or_fail(ctx, "threshold")
    check_rest(ctx)
    out = _out(ctx, nonneg=True)
    if beta == 1 and threshold >= 20:
        # log1p(exp(-threshold)) < 2.1e-9: below float32 resolution of values above the threshold
        return _activation(ctx, "softplus", out)
    ops = ctx.refs.ops

    def build(x):
        bx = x if beta == 1 else cst.BinaryOperation(x, cst.Multiply(), node_of(beta))
        soft = call(ops("softplus"), [bx])
        if beta != 1:
            soft = cst.BinaryOperation(soft, cst.Divide(), node_of(beta))
        cond = cst.Comparison(bx, [cst.ComparisonTarget(cst.GreaterThan(), node_of(threshold))])
        return call(ops("where"), [cond, x, soft])
    return Applied([_expr_step(ctx, build, single_use=False)], out, "Lambda")


@keras_hatch("act_hard_tanh")
def hard_tanh(ctx: LeafContext) -> Applied:
    lo, hi = _const_or_fail(ctx, "min_val"), _const_or_fail(ctx, "max_val")
    if ctx.value("min_value") is not None:
        lo = _const_or_fail(ctx, "min_value")
    if ctx.value("max_value") is not None:
        hi = _const_or_fail(ctx, "max_value")
    check_rest(ctx)
    if (lo, hi) == (-1.0, 1.0):
        return _activation(ctx, "hard_tanh")
    return _op(ctx, "clip", [lo, hi], out=_out(ctx, nonneg=lo >= 0))


@keras_hatch("act_hard_shrink", "act_soft_shrink")
def shrink(ctx: LeafContext) -> Applied:
    lambd = _const_or_fail(ctx, "lambd")
    check_rest(ctx)
    name = "hard_shrink" if ctx.short == "Hardshrink" else "soft_shrink"
    return _activation(ctx, name) if lambd == 0.5 else _op(ctx, name, kwargs=[("threshold", lambd)])


@keras_hatch("threshold")
def threshold(ctx: LeafContext) -> Applied:
    t, v = _const_or_fail(ctx, "threshold"), _const_or_fail(ctx, "value")
    check_rest(ctx)
    return _op(ctx, "threshold", [t, v])


def _axis(ctx: LeafContext, dim) -> int:
    if dim is None:
        ctx.fail("FWT202", "dim=None (the deprecated implicit axis): give dim")
    try:
        return keras_axis(dim, ctx.meta)
    except ValueError:
        ctx.fail("FWT302", f"dim={dim}: the input's rank is not known, so its Keras axis is not")


@keras_hatch("act_log_softmax")
def log_softmax(ctx: LeafContext) -> Applied:
    axis = _axis(ctx, _const_or_fail(ctx, "dim"))
    check_rest(ctx)
    return _activation(ctx, "log_softmax") if axis == -1 else _op(ctx, "log_softmax", kwargs=[("axis", axis)])


@keras_hatch("act_glu")
def glu(ctx: LeafContext) -> Applied:
    dim = _const_or_fail(ctx, "dim")
    axis = _axis(ctx, dim)
    check_rest(ctx)
    m = ctx.meta
    out = _out(ctx)
    if m.shape is not None:
        shape = list(m.shape)
        i = dim % len(shape)
        shape[i] = shape[i] // 2 if isinstance(shape[i], int) else None
        out = out.with_(shape=tuple(shape))
    return _activation(ctx, "glu", out) if axis == -1 else _op(ctx, "glu", kwargs=[("axis", axis)], out=out)


_softmax_layer = KERAS_HATCHES["softmax"]


@keras_hatch("softmax")
def softmax_or_softmin(ctx: LeafContext) -> Applied:
    """nn.Softmax (keras_layers.softmax); nn.Softmin(dim) = softmax(-x)."""
    if ctx.short != "Softmin":
        return _softmax_layer(ctx)
    axis = _axis(ctx, _const_or_fail(ctx, "dim"))
    check_rest(ctx)
    out = _out(ctx, nonneg=True)
    kwargs = [] if axis == -1 else [("axis", node_of(axis))]
    if ctx.sequential:
        return Applied([layer_step(ctx, "Rescaling", [node_of(-1.0)], role="neg"),
                        layer_step(ctx, "Softmax", [], kwargs)], out, "Softmax")
    ref = ctx.refs.ops("softmax")
    step = Step("op", op=lambda x: call(ref, [cst.UnaryOperation(cst.Minus(), x)], kwargs))
    return Applied([step], out, "")


@keras_hatch("rrelu")
def rrelu(ctx: LeafContext) -> Applied:
    lower, upper = _const_or_fail(ctx, "lower"), _const_or_fail(ctx, "upper")
    check_rest(ctx)
    ctx.notes.add("FWT402", "nn.RReLU is a leaky ReLU with slope (lower + upper) / 2 in eval mode, as translated; "
                            "in training mode torch draws a random slope per element", ctx.line)
    slope = (lower + upper) / 2
    return Applied([layer_step(ctx, "LeakyReLU", [], [("negative_slope", node_of(slope))])], _out(ctx), "LeakyReLU")


@keras_hatch("act_softmax")
def softmax2d(ctx: LeafContext) -> Applied:
    """nn.Softmax2d: softmax over torch axis -3 of a (N, C, H, W) or (C, H, W) tensor."""
    check_rest(ctx)
    rank = _rank(ctx, "nn.Softmax2d's axis (-3)")
    if rank not in (3, 4):
        ctx.fail("FWT202", f"applied to a rank-{rank} tensor (3 or 4 expected)")
    axis = keras_axis(-3, ctx.meta)
    kwargs = [] if axis == -1 else [("axis", node_of(axis))]
    return Applied([layer_step(ctx, "Softmax", [], kwargs)], _out(ctx, nonneg=True), "Softmax")


@keras_hatch("prelu")
def prelu(ctx: LeafContext) -> Applied:
    """nn.PReLU(num_parameters): one alpha, or one per channel (torch axis 1); Keras' alpha has the input's
    shape with the shared axes set to 1."""
    count = _const_or_fail(ctx, "num_parameters")
    init = _const_or_fail(ctx, "init")
    check_rest(ctx)
    rank = _rank(ctx, "which axes PReLU's alpha shares")
    m = ctx.meta
    if count == 1:
        shared = list(range(1, rank))
    elif rank == 2:
        shared = []
    elif m.layout == "cf":
        shared = list(range(1, rank - 1))        # channels last: the spatial axes share
    else:
        shared = list(range(2, rank))
    c = m.shape[1] if m.shape else None          # torch axis 1 (metas hold torch-order shapes)
    if count != 1 and isinstance(c, int) and c != count:
        ctx.fail("FWT202", f"num_parameters={count} for {c} channels")
    init_node = call(ctx.refs.keras("initializers.Constant"), [node_of(init)])
    kwargs = [("alpha_initializer", init_node)]
    if shared:
        kwargs.append(("shared_axes", node_of(shared)))
    return Applied([layer_step(ctx, "PReLU", [], kwargs)], _out(ctx), "PReLU")
