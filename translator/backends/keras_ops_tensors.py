"""torch -> Keras op hatches: new tensors (zeros/ones/full/arange and the *_like forms; dtype kept,
device dropped with a note) and dtype changes (.float(), .to(dtype), .type_as, .detach, .clone).
See keras_forward_ops.py.
"""
from __future__ import annotations

import libcst as cst

from ..ir import UNKNOWN
from ..names import dotted
from .keras_code import Meta, call, code, node_of, tensor
from .keras_forward_base import _const
from .keras_forward_ops import BOOL, TORCH_DTYPES, OpCall, _ints, _is_none, dtype_name, torch_op


_CASTS = {"float": "float32", "double": "float64", "half": "float16", "long": "int64", "int": "int32",
          "bool": "bool", "bfloat16": "bfloat16", "short": "int16"}


@torch_op(*[f".{k}" for k in _CASTS])
def cast_method(c: OpCall):
    c.bind(["input"])
    x, m = c.tensor(c.receiver)
    dtype = _CASTS[c.name[1:]]
    return call(c.ops("cast"), [x, node_of(dtype)]), _with_dtype(m, dtype)


def _with_dtype(m: Meta, dtype: str) -> Meta:
    return m.with_(origin=None, integer=dtype.startswith(("int", "uint")), info=BOOL if dtype == "bool" else None,
                   nonneg=m.nonneg and dtype != "bool")


@torch_op(".to", ".type")
def to(c: OpCall):
    x, m = c.tensor(c.receiver)
    dtype = None
    for a in c.node.args:
        key = a.keyword.value if a.keyword else None
        if key in ("device", "non_blocking", "copy", "memory_format"):
            continue
        if key not in (None, "dtype"):
            c.fail("FWT201", f"argument '{key}' not translated")
        path = dotted(a.value)
        from ..frontends.torch_models import resolve
        full = resolve(a.value, c.ft.ctx.owner.table) if path else None
        if (full or path or "") in TORCH_DTYPES or key == "dtype":
            dtype = dtype_name(c, a.value)
        elif isinstance(a.value, cst.SimpleString) or path and path.endswith(".device"):
            continue                  # a device: Keras places tensors itself
        else:
            n, om = c.value(a.value)
            if om.is_tensor:
                c.fail("FWT202", ".to(tensor) is not translated (give the dtype)")
            c.fail("FWT202", f"{code(a.value)[:40]}: not a dtype or device the translation knows")
    if dtype is None:
        return x, m
    return call(c.ops("cast"), [x, node_of(dtype)]), _with_dtype(m, dtype)


@torch_op(".type_as")
def type_as(c: OpCall):
    b = c.bind(["input", "other"])
    x, m = c.tensor(b["input"])
    o, om = c.tensor(b.get("other"), "other")
    return call(c.ops("cast"), [x, cst.Attribute(o, cst.Name("dtype"))]), m.with_(origin=None, info=om.info,
                                                                                    integer=om.integer)


@torch_op(".detach", "torch.detach")
def detach(c: OpCall):
    b = c.bind(["input"])
    x, m = c.tensor(b["input"])
    return call(c.ops("stop_gradient"), [x]), m


@torch_op(".clone", "torch.clone")
def clone(c: OpCall):
    b = c.bind(["input"], ignore=("memory_format",))
    return c.tensor(b["input"])


# ---- new tensors -----------------------------------------------------------------------------------------

_DROPPED = ("device", "requires_grad", "layout", "pin_memory", "memory_format")


def _creation_kwargs(c: OpCall, b: dict):
    dropped = [k for k in _DROPPED if b.get(k) is not None]
    if dropped:
        c.note("FWT203", f"{', '.join(dropped)} dropped (Keras places and tracks tensors itself)")
    if b.get("dtype") is not None and not _is_none(b["dtype"]):
        return [("dtype", node_of(dtype_name(c, b["dtype"])))], dtype_name(c, b["dtype"])
    return [], None


def _size_args(c: OpCall, sizes):
    sizes = sizes if isinstance(sizes, list) else [sizes]
    if len(sizes) == 1 and isinstance(sizes[0], (cst.Tuple, cst.List)):
        sizes = [e.value for e in sizes[0].elements]
    nodes, shape = [], []
    for s in sizes:
        n, m = c.value(s)
        if m.is_tensor:
            c.fail("FWT103", "a tensor as a size")
        if m.kind == "shape":
            c.fail("FWT202", "a whole shape as a size (write its items)")
        nodes.append(n)
        v = _const(s)
        shape.append(v if isinstance(v, int) else m.info[1] if m.kind == "size" and isinstance(m.info, tuple)
                     and isinstance(m.info[1], int) else None)
    return cst.Tuple([cst.Element(n) for n in nodes]), tuple(shape)


@torch_op("torch.zeros", "torch.ones", "torch.empty")
def filled(c: OpCall):
    b = c.bind(["size", "dtype", *_DROPPED, "out"], varargs="size")
    if b.get("out") is not None:
        c.fail("FWT201", "out= is not translated")
    shape_node, shape = _size_args(c, b.get("size", []))
    kwargs, dtype = _creation_kwargs(c, b)
    op = "ones" if c.name.endswith("ones") else "zeros"      # torch.empty: any values; zeros are some
    return call(c.ops(op), [shape_node], kwargs), _with_dtype(tensor(shape=shape), dtype or "float32").with_(
        nonneg=True)


@torch_op("torch.full")
def full(c: OpCall):
    b = c.bind(["size", "fill_value", "dtype", *_DROPPED, "out"])
    shape_node, shape = _size_args(c, b.get("size"))
    value, vm = c.value(b.get("fill_value"))
    if vm.is_tensor:
        c.fail("FWT202", "a tensor fill value")
    kwargs, dtype = _creation_kwargs(c, b)
    fill = _const(b.get("fill_value"))
    if dtype is None and isinstance(fill, bool):
        dtype = "bool"
    elif dtype is None and isinstance(fill, int):
        dtype = "int64"
        kwargs = [("dtype", node_of("int64"))]
    elif dtype is None:
        dtype = "float32"
    meta = _with_dtype(tensor(shape=shape), dtype)
    from .keras_ops_masks import NEG_INF_MASK, is_neg_inf
    if dtype.startswith("float") and is_neg_inf(b.get("fill_value")):      # an additive mask's -inf (triu keeps it)
        meta = meta.with_(info=NEG_INF_MASK)
    return call(c.ops("full"), [shape_node, value], kwargs), meta


@torch_op("torch.zeros_like", "torch.ones_like", "torch.empty_like", "torch.full_like")
def like(c: OpCall):
    is_full = c.name.endswith("full_like")
    b = c.bind(["input", "fill_value", "dtype", *_DROPPED] if is_full else ["input", "dtype", *_DROPPED])
    x, m = c.tensor(b["input"])
    kwargs, dtype = _creation_kwargs(c, b)
    op = "full_like" if is_full else "ones_like" if c.name.endswith("ones_like") else "zeros_like"
    args = [x] + ([c.value(b.get("fill_value"))[0]] if is_full else [])
    out = m.with_(origin=None, nonneg=not is_full)
    return call(c.ops(op), args, kwargs), _with_dtype(out, dtype) if dtype else out


@torch_op("torch.arange")
def arange(c: OpCall):
    b = c.bind(["start", "end", "step", "dtype", *_DROPPED, "out"])
    if b.get("out") is not None:
        c.fail("FWT201", "out= is not translated")
    parts = [b.get("start"), b.get("end"), b.get("step")]
    nodes = [c.value(p)[0] for p in parts if p is not None]
    kwargs, dtype = _creation_kwargs(c, b)
    values = [_const(p) for p in parts if p is not None]
    if dtype is None:
        ints = all(isinstance(v, int) or v is UNKNOWN for v in values)
        dtype = "int64" if ints else "float32"
        kwargs = [("dtype", node_of(dtype))]
    length = None
    if _ints(values) and values:
        length = len(range(*values))
    return call(c.ops("arange"), nodes, kwargs), _with_dtype(tensor(shape=(length,)), dtype).with_(nonneg=True)


# ---- functional ------------------------------------------------------------------------------------------
