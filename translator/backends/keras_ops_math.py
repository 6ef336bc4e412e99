"""torch -> Keras op hatches: elementwise and reductions (clamp, maximum, max/min with indices, argmax,
mean/sum/prod/any/all/logsumexp, std/var with torch's correction, cumsum/cumprod, normalize, triu/tril),
and the integer promotion and broadcasting that TF does not do by itself. See keras_forward_ops.py.
"""
from __future__ import annotations

import math

import libcst as cst

from .keras_code import OTHER, Meta, call, node_of, tensor
from .keras_forward_base import _const, transpose
from .keras_forward_ops import BOOL, OpCall, _is_none, elementwise, paren, torch_op


@torch_op("torch.clamp", ".clamp", "torch.clip", ".clip", "torch.clamp_min", ".clamp_min", "torch.clamp_max",
          ".clamp_max")
def clamp(c: OpCall):
    short = c.name.rsplit(".", 1)[-1]
    names = ["input", "min"] if short == "clamp_min" else ["input", "max"] if short == "clamp_max" else \
        ["input", "min", "max"]
    b = c.bind(names)
    x, m = c.tensor(b["input"])
    lo, hi = b.get("min"), b.get("max")
    if _is_none(lo) and _is_none(hi):
        c.fail("FWT202", "at least one of min and max is needed")
    lo_v = None if _is_none(lo) else _const(lo)
    hi_v = None if _is_none(hi) else _const(hi)
    nonneg = m.nonneg or isinstance(lo_v, (int, float)) and lo_v >= 0
    if isinstance(lo_v, (int, float)) and isinstance(hi_v, (int, float)) and lo_v <= hi_v:
        return call(c.ops("clip"), [x, c.value(lo)[0], c.value(hi)[0]]), m.with_(origin=None, nonneg=nonneg, info=None)
    out, meta = x, m
    for bound, op in ((lo, "maximum"), (hi, "minimum")):       # torch: min(max(x, lo), hi)
        if _is_none(bound):
            continue
        (out, bn), meta = elementwise(c, [(out, meta), c.value(bound)])
        out = call(c.ops(op), [out, bn])
    return out, meta.with_(nonneg=nonneg)


@torch_op("torch.maximum", ".maximum", "torch.minimum", ".minimum")
def maximum(c: OpCall):
    b = c.bind(["input", "other"])
    x, m = c.tensor(b["input"])
    (x, y), meta = elementwise(c, [(x, m), c.tensor(b.get("other"), "other")])
    return call(c.ops(c.name.rsplit(".", 1)[-1]), [x, y]), meta


@torch_op("torch.max", ".max", "torch.min", ".min")
def max_min(c: OpCall):
    which = c.name.rsplit(".", 1)[-1]
    b = c.bind(["input", "dim", "keepdim"], ignore=("other",))
    other = next((a.value for a in c.node.args if a.keyword and a.keyword.value == "other"), None)
    x, m = c.tensor(b["input"])
    if other is None and b.get("dim") is not None:
        om = c.value(b["dim"])
        if om[1].is_tensor:
            other = b.pop("dim")
    if other is not None:           # torch.max(a, b): elementwise
        (x, y), meta = elementwise(c, [(x, m), c.tensor(other, "other")])
        return call(c.ops("maximum" if which == "max" else "minimum"), [x, y]), meta
    if b.get("dim") is None:
        if b.get("keepdim") is not None:
            c.fail("FWT202", "keepdim without dim")
        return call(c.ops(which), [x]), tensor(shape=(), nonneg=m.nonneg)
    dim = c.const(b["dim"], "dim")
    keep = c.const(b.get("keepdim"), "keepdim", False)
    values, vm = c.ft.reduce("amax" if which == "max" else "amin", x, m,
                             [(None, node_of(dim), OTHER)] + ([("keepdim", node_of(True), OTHER)] if keep else []),
                             c.line)
    indices, im = arg_reduce_nodes(c, "argmax" if which == "max" else "argmin", x, m, dim, keep)
    c.note("FWT402", "the indices are int32 in Keras (int64 in torch)")
    return cst.Tuple([cst.Element(values), cst.Element(indices)]), Meta(kind="tuple", items=(vm, im),
                                                                        info="values_indices")


def arg_reduce_nodes(c: OpCall, op: str, x, m: Meta, dim, keep):
    kwargs = []
    if dim is None:
        x, m = c.same(x, m)          # the index into the flattened tensor: torch order
        out = tensor(shape=(), integer=True)
        if keep:
            c.fail("FWT202", "keepdim without dim")
    else:
        kwargs.append(("axis", node_of(c.axis(dim, m))))
        if m.rank is not None:
            d = dim % m.rank
            if keep:
                out = m.with_(shape=tuple(1 if i == d else s for i, s in enumerate(m.shape)), origin=None,
                              integer=True, nonneg=True, info=None)
            else:
                shape = tuple(s for i, s in enumerate(m.shape) if i != d)
                layout = m.layout if d != 1 and len(shape) > 2 else "same"
                out = tensor(shape=shape, layout=layout, integer=True, nonneg=True)
        else:
            out = tensor(None, integer=True)
        if keep:
            kwargs.append(("keepdims", node_of(True)))
    return call(c.ops(op), [x], kwargs), out


@torch_op("torch.argmax", ".argmax", "torch.argmin", ".argmin")
def argmax(c: OpCall):
    b = c.bind(["input", "dim", "keepdim"])
    x, m = c.tensor(b["input"])
    dim = c.const(b.get("dim"), "dim", None)
    keep = c.const(b.get("keepdim"), "keepdim", False)
    return arg_reduce_nodes(c, c.name.rsplit(".", 1)[-1], x, m, dim, keep)


@torch_op("torch.mean", "torch.sum", "torch.amax", "torch.amin")
def reduce_fn(c: OpCall):
    name = c.name.rsplit(".", 1)[-1]
    b = c.bind(["input", "dim", "keepdim"])
    x, m = c.tensor(b["input"])
    rest = [("dim", b["dim"], OTHER)] if b.get("dim") is not None else []
    rest += [("keepdim", b["keepdim"], OTHER)] if b.get("keepdim") is not None else []
    return c.ft.reduce(name, x, m, rest, c.line)


@torch_op("torch.nn.functional.normalize")
def normalize(c: OpCall):
    b = c.bind(["input", "p", "dim", "eps"])
    x, m = c.tensor(b["input"])
    p = c.const(b.get("p"), "p", 2.0)
    dim = c.const(b.get("dim"), "dim", 1)
    eps = c.const(b.get("eps"), "eps", 1e-12)
    if not isinstance(p, (int, float)) or p != int(p) or p < 1:
        c.fail("FWT202", f"p={p!r}: Keras normalizes with an integer order >= 1")
    kwargs = [("axis", node_of(c.axis(dim, m)))]
    if int(p) != 2:
        kwargs.append(("order", node_of(int(p))))
    kwargs.append(("epsilon", node_of(eps)))
    return call(c.ops("normalize"), [x], kwargs), m.with_(origin=None, info=None)


@torch_op("torch.triu", ".triu", "torch.tril", ".tril")
def triangle(c: OpCall):
    b = c.bind(["input", "diagonal"])
    x, m = c.same(*c.tensor(b["input"]))
    k = c.const(b.get("diagonal"), "diagonal", 0)
    kwargs = [("k", node_of(k))] if k else []
    return call(c.ops(c.name.rsplit(".", 1)[-1]), [x], kwargs), m.with_(origin=None)


# ---- dtypes, copies ------------------------------------------------------------------------------------

def broadcast_lower_rank(ft, n, m: Meta, rank: int, line):
    """A tensor in torch order with fewer axes than the rank-`rank` image it is combined with: torch
    aligns trailing axes, so it gets leading axes and the image's transpose to channels-last."""
    if m.shape is not None and all(d == 1 for d in m.shape):
        return n, m
    for _ in range(rank - m.rank):
        n = call(ft.refs.ops("expand_dims"), [n, node_of(0)])
    from .keras_code import to_keras_perm
    ft.notes.add("FWT401", f"layout conversion inserted: a rank-{m.rank} tensor broadcast against a channels-last "
                           f"image gets leading axes and one transpose", line)
    shape = None if m.shape is None else (1,) * (rank - m.rank) + tuple(m.shape)
    return transpose(ft.refs, n, to_keras_perm(rank)), tensor(shape=shape, layout="cf") if shape else \
        tensor(rank, layout="cf")


def promote(ft, left, lm: Meta, right, rm: Meta):
    """torch promotes an integer tensor combined with floats to float; TF refuses: cast it."""
    def floaty(node, m):
        return m.is_tensor and not m.integer and m.info != BOOL or isinstance(node, cst.Float)

    def cast(node, m):
        return call(ft.refs.ops("cast"), [node, node_of("float32")]), m.with_(integer=False)
    if lm.is_tensor and lm.integer and floaty(right, rm):
        left, lm = cast(left, lm)
    if rm.is_tensor and rm.integer and floaty(left, lm):
        right, rm = cast(right, rm)
    return left, lm, right, rm


def _reduced(c: OpCall, op: str, x, m: Meta, dims, keep: bool, extra=(), bool_out=False):
    """keras.ops.<op>(x, axis=..., keepdims=...) with the torch dims remapped; (node, meta, [torch axes])."""
    kwargs, removed = [], None
    if dims is not None:
        dl = list(dims) if isinstance(dims, (tuple, list)) else [dims]
        axes = [c.axis(d, m) for d in dl]
        kwargs.append(("axis", node_of(tuple(axes) if len(axes) > 1 else axes[0])))
        removed = {d % m.rank for d in dl} if m.rank is not None else None
    if keep:
        kwargs.append(("keepdims", node_of(True)))
    kwargs += list(extra)
    info = BOOL if bool_out else None
    if dims is None:
        out = tensor(shape=()) if not keep else m.with_(origin=None)
    elif removed is None or m.shape is None:
        out = tensor(None)
    elif keep:
        out = m.with_(shape=tuple(1 if i in removed else s for i, s in enumerate(m.shape)), origin=None)
    else:
        shape = tuple(s for i, s in enumerate(m.shape) if i not in removed)
        layout = m.layout if 1 not in removed and len(shape) > 2 and m.layout == "cf" else "same"
        if m.layout == "cf" and 0 in removed:
            c.fail("FWT202", "reducing the batch axis of an image")
        out = tensor(shape=shape, layout=layout)
    return call(c.ops(op), [x], kwargs), out.with_(info=info, integer=False, nonneg=False), removed


@torch_op("torch.prod", ".prod", "torch.any", ".any", "torch.all", ".all", "torch.logsumexp", ".logsumexp")
def reduce_more(c: OpCall):
    op = c.name.rsplit(".", 1)[-1]
    b = c.bind(["input", "dim", "keepdim", "dtype"])
    if b.get("dtype") is not None:
        c.fail("FWT201", "dtype= is not translated")
    x, m = c.tensor(b["input"])
    dims = c.const(b.get("dim"), "dim", None)
    keep = c.const(b.get("keepdim"), "keepdim", False)
    if dims is None and m.layout == "cf":
        x, m = c.same(x, m)
    node, out, _ = _reduced(c, op, x, m, dims, keep, bool_out=op in ("any", "all"))
    return node, out


@torch_op("torch.std", ".std", "torch.var", ".var")
def std_var(c: OpCall):
    """torch's default is the sample statistic (correction=1); Keras' the population one."""
    op = c.name.rsplit(".", 1)[-1]
    b = c.bind(["input", "dim", "unbiased", "keepdim", "correction"])
    x, m = c.tensor(b["input"])
    dims = c.const(b.get("dim"), "dim", None)
    unbiased = b.get("unbiased")
    correction = 1
    if isinstance(dims, bool):            # torch.std(x, False): the old unbiased-only form
        dims, unbiased = None, b["dim"]
    if b.get("correction") is not None:
        correction = c.const(b["correction"], "correction")
    elif unbiased is not None:
        correction = 1 if c.const(unbiased, "unbiased") else 0
    keep = c.const(b.get("keepdim"), "keepdim", False)
    if dims is None and m.layout == "cf":
        x, m = c.same(x, m)
    node, out, removed = _reduced(c, op, x, m, dims, keep)
    if correction:
        if dims is None:
            sizes = list(m.shape or [None])
        else:
            sizes = [m.shape[i] for i in sorted(removed)] if m.shape is not None and removed is not None else [None]
        if not all(isinstance(s, int) for s in sizes):
            c.fail("FWT302", "the sample statistic (correction != 0) needs the number of reduced values; it is "
                             "not known statically (pass --input-shape, or correction=0)")
        n = math.prod(sizes)
        factor = paren(cst.BinaryOperation(node_of(n), cst.Divide(), node_of(n - correction)))
        if op == "std":
            factor = paren(cst.BinaryOperation(factor, cst.Power(), cst.Float("0.5")))
        node = paren(cst.BinaryOperation(node, cst.Multiply(), factor))
    return node, out


@torch_op("torch.cumsum", ".cumsum", "torch.cumprod", ".cumprod")
def cumulative(c: OpCall):
    op = c.name.rsplit(".", 1)[-1]
    b = c.bind(["input", "dim", "dtype"])
    if b.get("dtype") is not None:
        c.fail("FWT201", "dtype= is not translated")
    x, m = c.tensor(b["input"])
    dim = c.const(b.get("dim"), "dim")
    return call(c.ops(op), [x], [("axis", node_of(c.axis(dim, m)))]), m.with_(origin=None, nonneg=False, info=None)
