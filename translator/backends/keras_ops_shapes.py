"""torch -> Keras op hatches: products and shape changes (matmul/@, einsum, F.linear, unsqueeze/squeeze,
chunk/split/tensor_split/unbind, stack/cat of tuples, transpose/permute, expand/repeat/tile,
repeat_interleave, flip, flatten/unflatten, unpacking a tensor or its shape). See keras_forward_ops.py.
"""
from __future__ import annotations

import math

import libcst as cst

from ..findings import TranslationError
from .keras_code import OTHER, Meta, call, node_of, tensor
from .keras_forward_base import _const
from .keras_forward_ops import BOOL, OpCall, _Anon, _broadcast, _flat, _ints, _norm, paren, shape_dim, torch_op


def matmul_nodes(ft, a, am: Meta, b, bm: Meta, line):
    """a @ b -> keras.ops.matmul(a, b), both in torch axis order."""
    c = _Anon(ft, "@", line)
    a, am = c.same(*_flat(ft, a, am, line))
    b, bm = c.same(*_flat(ft, b, bm, line))
    shape = None
    if am.shape is not None and bm.shape is not None and am.rank and bm.rank:
        sa, sb = am.shape, bm.shape
        if len(sa) == 1 and len(sb) == 1:
            shape = ()
        elif len(sa) == 1:
            shape = sb[:-2] + sb[-1:]
        elif len(sb) == 1:
            shape = sa[:-1]
        else:
            batch = _broadcast([sa[:-2], sb[:-2]])
            shape = None if batch is None else batch + (sa[-2], sb[-1])
    out = tensor(shape=shape) if shape is not None else tensor(None)
    return call(ft.refs.ops("matmul"), [a, b]), out


@torch_op("torch.matmul", ".matmul", "torch.bmm", ".bmm", "torch.mm", ".mm")
def matmul(c: OpCall):
    b = c.bind(["input", "mat2" if c.name.endswith("mm") else "other"])
    x, xm = c.tensor(b["input"])
    other = b.get("mat2", b.get("other"))
    if other is None:
        c.fail("FWT201", "missing the second operand")
    y, ym = c.tensor(other, "other")
    return matmul_nodes(c.ft, x, xm, y, ym, c.line)


@torch_op("torch.einsum")
def einsum(c: OpCall):
    args = [a for a in c.node.args]
    if any(a.keyword is not None for a in args) or len(args) < 2:
        c.fail("FWT201", "torch.einsum(equation, *operands) expected")
    eq = c.const(args[0].value, "equation")
    if not isinstance(eq, str):
        c.fail("FWT202", "the equation must be a string")
    operands = [a.value for a in args[1:]]
    if len(operands) == 1 and isinstance(operands[0], (cst.List, cst.Tuple)):
        operands = [e.value for e in operands[0].elements]
    pairs = [c.same(*c.tensor(o)) for o in operands]
    eq_clean = eq.replace(" ", "")
    ins, arrow, out_sub = eq_clean.partition("->")
    if not arrow:
        letters = [ch for ch in ins if ch.isalpha()]
        out_sub = "".join(sorted(ch for ch in set(letters) if letters.count(ch) == 1))
    meta = tensor(None)
    if "." not in eq_clean:
        sizes = {}
        for sub, (_, m) in zip(ins.split(","), pairs):
            if m.shape is not None and len(m.shape) == len(sub):
                for ch, d in zip(sub, m.shape):
                    if d is not None:
                        sizes[ch] = d
        meta = tensor(shape=tuple(sizes.get(ch) for ch in out_sub))
    return call(c.ops("einsum"), [node_of(eq)] + [n for n, _ in pairs]), meta


@torch_op("torch.nn.functional.linear")
def linear(c: OpCall):
    b = c.bind(["input", "weight", "bias"])
    x, xm = c.same(*c.tensor(b["input"]))
    w, wm = c.tensor(b.get("weight"), "weight")
    out = call(c.ops("matmul"), [x, call(c.ops("transpose"), [w])])
    shape = None
    if xm.shape is not None and wm.shape is not None and len(wm.shape) == 2:
        shape = xm.shape[:-1] + (wm.shape[0],)
    if b.get("bias") is not None and not (isinstance(b["bias"], cst.Name) and b["bias"].value == "None"):
        bias, _ = c.tensor(b["bias"], "bias")
        out = cst.BinaryOperation(out, cst.Add(), paren(bias))
    return paren(out), tensor(shape=shape) if shape is not None else tensor(xm.rank)


# ---- shapes -----------------------------------------------------------------------------------------

@torch_op("torch.unsqueeze", ".unsqueeze")
def unsqueeze(c: OpCall):
    b = c.bind(["input", "dim"])
    x, m = c.tensor(b["input"])
    dim = c.const(b.get("dim"), "dim")
    rank = m.rank
    if m.layout == "cf" and (rank or 0) > 2:
        d = dim % (rank + 1)
        if d >= 2:              # a new spatial axis: still an image, channels last
            shape = m.shape[:d] + (1,) + m.shape[d:]
            return call(c.ops("expand_dims"), [x, node_of(d - 1)]), m.with_(shape=shape, rank=rank + 1, origin=None)
        x, m = c.same(x, m)
    if rank is None:
        return call(c.ops("expand_dims"), [x, node_of(dim)]), m.with_(origin=None)
    d = _norm(dim, rank + 1, "dim", c)
    shape = m.shape[:d] + (1,) + m.shape[d:]
    return call(c.ops("expand_dims"), [x, node_of(d if dim >= 0 else dim)]), m.with_(shape=shape, rank=rank + 1,
                                                                                       origin=None, layout="same")


@torch_op("torch.squeeze", ".squeeze")
def squeeze(c: OpCall):
    b = c.bind(["input", "dim"])
    x, m = c.tensor(b["input"])
    dims = c.const(b.get("dim"), "dim", None)
    if dims is None:
        if m.shape is None or any(d is None for d in m.shape[1:]):
            c.fail("FWT302", "squeeze() without dim: which axes have size 1 is not known statically "
                             "(give dim)")
        dims = [i for i, d in enumerate(m.shape) if d == 1]
    dl = list(dims) if isinstance(dims, (tuple, list)) else [dims]
    if m.rank is None:
        if m.layout == "cf" or not _ints(dl):
            c.fail("FWT302", "the rank of the tensor is not known")
        return call(c.ops("squeeze"), [x], [("axis", node_of(tuple(dl) if len(dl) > 1 else dl[0]))]), tensor(None)
    dl = sorted({_norm(d, m.rank, "dim", c) for d in dl})
    # torch leaves an axis whose size is not 1 alone; Keras would raise: drop those known not to be 1
    dl = [d for d in dl if m.shape is None or m.shape[d] in (None, 1)]
    if not dl:
        return x, m
    if m.layout == "cf" and m.rank > 2 and 0 in dl:
        x, m = c.same(x, m)
    axes = [c.axis(d, m) for d in dl]
    shape = tuple(s for i, s in enumerate(m.shape) if i not in dl)
    if m.layout == "cf" and m.rank > 2:
        layout = "cf" if 1 not in dl and len(shape) > 2 else "same"
    else:
        layout = "same"
    axes_node = node_of(tuple(axes) if len(axes) > 1 else axes[0])
    return call(c.ops("squeeze"), [x], [("axis", axes_node)]), tensor(shape=shape, layout=layout, nonneg=m.nonneg,
                                                                      integer=m.integer, info=m.info)


@torch_op("torch.chunk", ".chunk", "torch.split", ".split")
def chunk_split(c: OpCall):
    is_chunk = c.name.endswith("chunk")
    b = c.bind(["input", "chunks" if is_chunk else "split_size_or_sections", "dim"],
               ignore=("split_size",))
    if not is_chunk and "split_size" in {a.keyword.value for a in c.node.args if a.keyword}:
        b["split_size_or_sections"] = next(a.value for a in c.node.args
                                           if a.keyword and a.keyword.value == "split_size")
    x, m = c.tensor(b["input"])
    what = "chunks" if is_chunk else "split_size_or_sections"
    n = c.const(b.get(what), what)
    dim = c.const(b.get("dim"), "dim", 0)
    if m.rank is None and m.layout == "cf":
        c.fail("FWT302", "the rank of the tensor is not known")
    d = dim % m.rank if m.rank is not None else None
    length = m.shape[d] if m.shape is not None else None
    axis = c.axis(dim, m)
    sizes = None
    if is_chunk:
        if not isinstance(n, int) or n < 1:
            c.fail("FWT202", "chunks must be a positive integer")
        if isinstance(length, int):
            size = -(-length // n)
            sizes = [size] * (length // size) + ([length % size] if length % size else [])
        else:
            sizes = [None] * n        # Keras raises when the axis does not divide (torch would not)
            arg = node_of(n)
    elif isinstance(n, int):
        if not isinstance(length, int):
            c.fail("FWT302", f"split({n}) along an axis of unknown size: the number of parts is not known "
                             "(pass --input-shape)")
        sizes = [n] * (length // n) + ([length % n] if length % n else [])
    elif isinstance(n, (list, tuple)) and _ints(n):
        sizes = list(n)
        if isinstance(length, int) and sum(sizes) != length:
            c.fail("FWT202", f"split sizes {list(n)} do not add up to {length}")
    else:
        c.fail("FWT202", "split sizes must be constant integers")
    if all(isinstance(s, int) for s in sizes):
        if len(set(sizes)) == 1:
            arg = node_of(len(sizes))
        else:
            points, total = [], 0
            for s in sizes[:-1]:
                total += s
                points.append(total)
            arg = node_of(points)
    items = []
    for s in sizes:
        shape = None if m.shape is None or d is None else m.shape[:d] + (s,) + m.shape[d + 1:]
        items.append(m.with_(shape=shape, origin=None) if shape is not None else m.with_(origin=None))
    kwargs = [("axis", node_of(axis))] if axis != 0 else []
    return call(c.ops("split"), [x, arg], kwargs), Meta(kind="tuple", items=tuple(items))


@torch_op("torch.stack")
def stack(c: OpCall):
    b = c.bind(["tensors", "dim"])
    seq = b.get("tensors")
    if not isinstance(seq, (cst.List, cst.Tuple)):
        n, m = c.value(seq)
        if m.kind != "tuple" or not m.items or not all(i.is_tensor and i.layout == "same" for i in m.items):
            c.fail("FWT103", "torch.stack of something other than a literal list/tuple of tensors")
        pairs = [(None, i) for i in m.items]
        nodes = n
    else:
        pairs = [c.same(*c.tensor(e.value)) for e in seq.elements]
        nodes = cst.List([cst.Element(n) for n, _ in pairs])
    dim = c.const(b.get("dim"), "dim", 0)
    metas = [m for _, m in pairs]
    shape = _broadcast([m.shape for m in metas]) if all(m.shape is not None and len(m.shape) == len(metas[0].shape)
                                                         for m in metas) else None
    if shape is not None:
        d = _norm(dim, len(shape) + 1, "dim", c)
        out = tensor(shape=shape[:d] + (len(metas),) + shape[d:], integer=metas[0].integer)
    else:
        if dim < 0 and metas[0].rank is None:
            pass               # numpy and torch agree on negative axes of the result
        out = tensor(None)
    kwargs = [("axis", node_of(dim))] if dim != 0 else []
    return call(c.ops("stack"), [nodes], kwargs), out


@torch_op("torch.transpose", "torch.swapaxes", ".swapaxes", "torch.permute", ".t", "torch.t")
def transpose_fn(c: OpCall):
    if c.name.endswith("t") and c.name.rsplit(".", 1)[-1] == "t":
        b = c.bind(["input"])
        x, m = c.tensor(b["input"])
        if m.rank is not None and m.rank < 2:
            return x, m
        return c.ft.permute("transpose", x, m, [(None, node_of(0), OTHER), (None, node_of(1), OTHER)], c.line)
    if c.name.endswith("permute"):
        b = c.bind(["input", "dims"], varargs="dims")
        x, m = c.tensor(b["input"])
        dims = b.get("dims")
        dims = dims if isinstance(dims, list) else [dims]
        return c.ft.permute("permute", x, m, [(None, d, OTHER) for d in dims], c.line)
    b = c.bind(["input", "dim0", "dim1", "axis0", "axis1"])
    x, m = c.tensor(b["input"])
    first, second = b.get("dim0", b.get("axis0")), b.get("dim1", b.get("axis1"))
    if first is None or second is None:
        c.fail("FWT201", "two dimensions expected")
    return c.ft.permute("transpose", x, m, [(None, first, OTHER), (None, second, OTHER)], c.line)


def swapaxes_unknown_rank(ft, x, meta: Meta, a: int, b: int):
    """transpose(a, b) of a tensor of unknown rank in torch order: keras.ops.swapaxes."""
    return call(ft.refs.ops("swapaxes"), [x, node_of(a), node_of(b)]), meta.with_(origin=None)


@torch_op(".expand")
def expand(c: OpCall):
    b = c.bind(["input", "size"], varargs="size")
    x, m = c.same(*c.tensor(b["input"]))
    sizes = b.get("size")
    sizes = sizes if isinstance(sizes, list) else [sizes]
    if len(sizes) == 1 and isinstance(sizes[0], (cst.Tuple, cst.List)):
        sizes = [e.value for e in sizes[0].elements]
    k = len(sizes)
    if m.rank is None:
        c.fail("FWT302", "the rank of the tensor is not known")
    if k < m.rank:
        c.fail("FWT202", "expand to fewer dimensions")
    nodes, shape = [], []
    for i, s in enumerate(sizes):
        v = _const(s)
        j = i - (k - m.rank)
        if v == -1:
            if j < 0:
                c.fail("FWT202", "-1 for a new leading dimension")
            known = m.shape[j]
            nodes.append(node_of(known) if isinstance(known, int) else shape_dim(c.refs, x, j))
            shape.append(known)
        else:
            n, sm = c.value(s)
            if sm.is_tensor:
                c.fail("FWT103", "a tensor as a size")
            nodes.append(n)
            shape.append(v if isinstance(v, int) else None)
    return call(c.ops("broadcast_to"), [x, cst.Tuple([cst.Element(n) for n in nodes])]), \
        tensor(shape=tuple(shape), nonneg=m.nonneg, integer=m.integer, info=m.info)


@torch_op(".expand_as")
def expand_as(c: OpCall):
    b = c.bind(["input", "other"])
    x, m = c.tensor(b["input"])
    o, om = c.tensor(b.get("other"), "other")
    (x, o), meta = c.ft.unify([(x, m), (o, om)], c.line)
    return call(c.ops("broadcast_to"), [x, call(c.ops("shape"), [o])]), meta.with_(shape=om.shape, origin=None,
                                                                                   nonneg=m.nonneg, info=m.info)


@torch_op(".repeat")
def repeat(c: OpCall):
    b = c.bind(["input", "repeats"], varargs="repeats")
    x, m = c.tensor(b["input"])
    reps = b.get("repeats")
    reps = reps if isinstance(reps, list) else [reps]
    if len(reps) == 1 and isinstance(reps[0], (cst.Tuple, cst.List)):
        reps = [e.value for e in reps[0].elements]
    nodes = [c.value(r)[0] for r in reps]
    values = [_const(r) for r in reps]
    if m.layout == "cf" and (m.rank or 0) > 2:
        if len(reps) == m.rank:     # the same repeats, in Keras axis order
            order = [0] + list(range(2, m.rank)) + [1]
            nodes = [nodes[i] for i in order]
            shape = tuple(d * v if isinstance(d, int) and isinstance(v, int) else None
                          for d, v in zip(m.shape, values))
            return call(c.ops("tile"), [x, cst.Tuple([cst.Element(n) for n in nodes])]), \
                tensor(shape=shape, layout="cf", nonneg=m.nonneg)
        x, m = c.same(x, m)
    if m.rank is not None and len(reps) < m.rank:
        c.fail("FWT202", "fewer repeats than dimensions")
    shape = None
    if m.shape is not None:
        full = (1,) * (len(reps) - len(m.shape)) + tuple(m.shape)
        shape = tuple(d * v if isinstance(d, int) and isinstance(v, int) else None for d, v in zip(full, values))
    return call(c.ops("tile"), [x, cst.Tuple([cst.Element(n) for n in nodes])]), \
        tensor(shape=shape, nonneg=m.nonneg) if shape is not None else tensor(None)


# ---- indexing ----------------------------------------------------------------------------------------

def unpack_shape(ft, target, meta: Meta, line):
    """`B, T, C = x.shape` / `x.size()` -> a tuple of keras.ops.shape(x)[i] in torch order."""
    base, bm = meta.info
    n = len(target.elements)
    if bm.rank is not None and n != bm.rank or bm.rank is None and bm.layout == "cf":
        raise TranslationError("FWT302", "unpacking a shape whose rank is not known (or does not match)", line)
    if bm.layout == "same" or bm.rank <= 2:
        nodes = [call(ft.refs.ops("shape"), [base])]
        items = tuple(Meta(kind="size", info=("batch" if i == 0 else i, bm.shape[i] if bm.shape else None))
                      for i in range(n))
        return nodes[0], Meta(kind="tuple", items=items)
    elements, items = [], []
    for i in range(bm.rank):
        n, m = ft.size_of(base, bm, i, line)
        elements.append(cst.Element(n))
        items.append(m)
    return cst.Tuple(elements), Meta(kind="tuple", items=tuple(items))


def concat_tuple(ft, node: cst.Call, seq):
    """torch.cat(parts, dim) where `parts` is a tuple value (from chunk/split): one layout, known rank."""
    c = OpCall(ft, "torch.cat", node)
    n, m = ft.expr(seq)
    if m.kind != "tuple" or not m.items or not all(i.is_tensor for i in m.items):
        return None
    items = m.items
    first = items[0]
    if any((i.layout, i.rank, i.flat) != (first.layout, first.rank, first.flat) for i in items) or first.flat:
        c.fail("FWT103", "torch.cat of a tuple of tensors in different layouts")
    b = c.bind(["tensors", "dim"])
    dim = c.const(b.get("dim"), "dim", 0)
    axis = c.axis(dim, first)
    shape = None
    if first.shape is not None and all(i.shape is not None for i in items):
        d = dim % len(first.shape)
        sizes = [i.shape[d] for i in items]
        total = sum(sizes) if all(isinstance(s, int) for s in sizes) else None
        shape = first.shape[:d] + (total,) + first.shape[d + 1:]
    out = first.with_(shape=shape, origin=None, nonneg=all(i.nonneg for i in items))
    return call(ft.refs.ops("concatenate"), [n], [("axis", node_of(axis))]), out


def flatten_range(ft, x, m: Meta, start: int, end: int, line):
    """flatten(start_dim, end_dim) other than (1, -1): a reshape in torch axis order."""
    c = _Anon(ft, "flatten", line)
    x, m = c.same(*_flat(ft, x, m, line))
    rank = m.rank
    if rank is None:
        if start < 0 or end != -1:
            c.fail("FWT302", "the rank of the tensor is not known")
        nodes = [shape_dim(ft.refs, x, i) for i in range(start)] + [node_of(-1)]
        return call(ft.refs.ops("reshape"), [x, cst.Tuple([cst.Element(n) for n in nodes])]), tensor(start + 1)
    s, e = start % rank if rank else 0, end % rank if rank else 0
    if s > e:
        c.fail("FWT202", f"flatten({start}, {end}): start after end")
    if s == e:
        return x, m
    shape = m.shape or (None,) * rank
    nodes, out = [], []
    for i in list(range(s)) + [None] + list(range(e + 1, rank)):
        if i is None:
            dims = shape[s:e + 1]
            size = math.prod(dims) if all(isinstance(d, int) for d in dims) else None
            nodes.append(node_of(-1))
            out.append(size)
        else:
            nodes.append(node_of(shape[i]) if isinstance(shape[i], int) else shape_dim(ft.refs, x, i))
            out.append(shape[i])
    return call(ft.refs.ops("reshape"), [x, cst.Tuple([cst.Element(n) for n in nodes])]), \
        tensor(shape=tuple(out), nonneg=m.nonneg, integer=m.integer, info=m.info)


def unpack_tensor(ft, target, node, meta: Meta, line):
    """`q, k, v = t` (iterating a tensor over its first axis) -> keras.ops.unstack(t, n)."""
    c = _Anon(ft, "unpacking", line)
    node, meta = c.same(*_flat(ft, node, meta, line))
    n = len(target.elements)
    if meta.shape is not None and isinstance(meta.shape[0], int) and meta.shape[0] != n:
        c.fail("FWT202", f"unpacking {meta.shape[0]} values into {n} names")
    item = tensor(shape=meta.shape[1:], integer=meta.integer, info=meta.info) if meta.shape is not None \
        else meta.with_(rank=None, origin=None)
    return call(ft.refs.ops("unstack"), [node], [("num", node_of(n))]), Meta(kind="tuple", items=(item,) * n)


@torch_op(".unflatten", "torch.unflatten")
def unflatten(c: OpCall):
    b = c.bind(["input", "dim", "sizes"])
    x, m = c.same(*c.tensor(b["input"]))
    dim = c.const(b.get("dim"), "dim")
    sizes_node = b.get("sizes")
    if not isinstance(sizes_node, (cst.Tuple, cst.List)):
        c.fail("FWT202", "sizes must be a literal tuple")
    items = [c.value(e.value) for e in sizes_node.elements]
    if any(im.is_tensor for _, im in items):
        c.fail("FWT103", "a tensor as a size")
    values = [_const(e.value) for e in sizes_node.elements]
    sizes = tuple(v if isinstance(v, int) and v > 0 else None for v in values)
    new = cst.Tuple([cst.Element(n) for n, _ in items])
    if m.rank is None:               # shape[:d] + sizes + shape[d + 1:], whatever the rank
        shape = call(c.ops("shape"), [x])
        before = cst.Subscript(shape, [cst.SubscriptElement(cst.Slice(None, node_of(dim)))])
        parts = [before, new]
        if dim != -1:
            parts.append(cst.Subscript(call(c.ops("shape"), [x]),
                                       [cst.SubscriptElement(cst.Slice(node_of(dim + 1), None))]))
        target = parts[0]
        for p in parts[1:]:
            target = cst.BinaryOperation(target, cst.Add(), p)
        return call(c.ops("reshape"), [x, target]), tensor(None, integer=m.integer)
    d = _norm(dim, m.rank, "dim", c)
    shape = m.shape
    nodes, out = [], []
    for i in range(m.rank):
        if i == d:
            nodes += [n for n, _ in items]
            out += list(sizes)
            if -1 in values and isinstance(shape[d], int) and all(isinstance(v, int) for v in values):
                known = math.prod(v for v in values if v != -1)
                out[len(out) - len(values) + values.index(-1)] = shape[d] // known
        else:
            nodes.append(node_of(-1) if i == 0 and -1 not in values else
                         node_of(shape[i]) if isinstance(shape[i], int) else shape_dim(c.refs, x, i))
            out.append(shape[i])
    return call(c.ops("reshape"), [x, cst.Tuple([cst.Element(n) for n in nodes])]), \
        tensor(shape=tuple(out), integer=m.integer, nonneg=m.nonneg)


@torch_op("torch.flip", ".flip")
def flip(c: OpCall):
    b = c.bind(["input", "dims"], varargs="dims" if c.receiver is not None else None)
    x, m = c.tensor(b["input"])
    dims = b.get("dims")
    dims = dims if isinstance(dims, list) else [dims]
    values = []
    for d in dims:
        v = c.const(d, "dims")
        values += list(v) if isinstance(v, (tuple, list)) else [v]
    axes = tuple(c.axis(d, m) for d in values)
    return call(c.ops("flip"), [x], [("axis", node_of(axes if len(axes) > 1 else axes[0]))]), m.with_(origin=None)


@torch_op("torch.tile", ".tile")
def tile(c: OpCall):
    b = c.bind(["input", "dims"], varargs="dims" if c.receiver is not None else None)
    x, m = c.tensor(b["input"])
    reps = b.get("dims")
    reps = reps if isinstance(reps, list) else [reps]
    if len(reps) == 1 and isinstance(reps[0], (cst.Tuple, cst.List)):
        reps = [e.value for e in reps[0].elements]
    if m.rank is not None and len(reps) < m.rank:       # torch.tile pads the repeats with leading ones
        reps = [node_of(1)] * (m.rank - len(reps)) + reps
    nodes = [c.value(r)[0] for r in reps]
    values = [_const(r) for r in reps]
    if m.layout == "cf" and (m.rank or 0) > 2 and len(reps) == m.rank:   # the repeats in Keras axis order
        order = [0] + list(range(2, m.rank)) + [1]
        shape = tuple(d * v if isinstance(d, int) and isinstance(v, int) else None for d, v in zip(m.shape, values))
        return call(c.ops("tile"), [x, cst.Tuple([cst.Element(nodes[i]) for i in order])]), \
            tensor(shape=shape, layout="cf", nonneg=m.nonneg)
    x, m = c.same(x, m)     # numpy's tile pads the repeats with leading ones too
    shape = None
    if m.shape is not None:
        full = (1,) * (len(reps) - len(m.shape)) + tuple(m.shape)
        shape = tuple(d * v if isinstance(d, int) and isinstance(v, int) else None for d, v in zip(full, values))
    return call(c.ops("tile"), [x, cst.Tuple([cst.Element(n) for n in nodes])]), \
        tensor(shape=shape, nonneg=m.nonneg) if shape is not None else tensor(None)


@torch_op("torch.repeat_interleave", ".repeat_interleave")
def repeat_interleave(c: OpCall):
    b = c.bind(["input", "repeats", "dim", "output_size"])
    x, m = c.tensor(b["input"])
    reps = c.const(b.get("repeats"), "repeats")
    if not isinstance(reps, int):
        c.fail("FWT202", "repeats must be a constant integer")
    dim = c.const(b.get("dim"), "dim", None)
    if dim is None:
        x, m = c.same(x, m)
        size = math.prod(m.shape) * reps if m.shape is not None and _ints(m.shape) else None
        return call(c.ops("repeat"), [x, node_of(reps)]), tensor(shape=(size,), integer=m.integer)
    shape = None
    if m.shape is not None and m.rank is not None:
        d = dim % m.rank
        shape = tuple(s * reps if i == d and isinstance(s, int) else s for i, s in enumerate(m.shape))
    out = m.with_(shape=shape, origin=None) if shape is not None else m.with_(origin=None)
    return call(c.ops("repeat"), [x, node_of(reps)], [("axis", node_of(c.axis(dim, m)))]), out


@torch_op("torch.unbind", ".unbind")
def unbind(c: OpCall):
    b = c.bind(["input", "dim"])
    x, m = c.tensor(b["input"])
    dim = c.const(b.get("dim"), "dim", 0)
    if m.layout == "cf" and (m.rank or 0) > 2 and dim % m.rank == 0:
        x, m = c.same(x, m)
    if m.rank is None or m.shape is None or not isinstance(m.shape[dim % m.rank], int):
        c.fail("FWT302", "unbind along an axis of unknown size: the number of values is not known "
                         "(pass --input-shape)")
    d = dim % m.rank
    n = m.shape[d]
    shape = m.shape[:d] + m.shape[d + 1:]
    if m.layout == "cf" and m.rank > 2:
        layout = "cf" if d != 1 and len(shape) > 2 else "same"
    else:
        layout = "same"
    item = tensor(shape=shape, layout=layout, integer=m.integer, info=m.info if m.info == BOOL else None)
    return call(c.ops("unstack"), [x], [("num", node_of(n)), ("axis", node_of(c.axis(dim, m)))]), \
        Meta(kind="tuple", items=(item,) * n)


@torch_op("torch.tensor_split", ".tensor_split")
def tensor_split(c: OpCall):
    b = c.bind(["input", "indices_or_sections", "dim"], ignore=("sections", "indices"))
    x, m = c.tensor(b["input"])
    spec = c.const(b.get("indices_or_sections"), "indices_or_sections")
    dim = c.const(b.get("dim"), "dim", 0)
    d = dim % m.rank if m.rank is not None else None
    length = m.shape[d] if m.shape is not None and d is not None else None
    if isinstance(spec, int):
        if not isinstance(length, int):
            c.fail("FWT302", "tensor_split into sections along an axis of unknown size (pass --input-shape)")
        q, r = divmod(length, spec)
        sizes = [q + 1] * r + [q] * (spec - r)
    elif isinstance(spec, (list, tuple)) and _ints(spec):
        if not isinstance(length, int):
            c.fail("FWT302", "tensor_split at indices along an axis of unknown size (pass --input-shape)")
        bounds = [0] + [min(max(i, 0), length) for i in spec] + [length]
        sizes = [max(b2 - b1, 0) for b1, b2 in zip(bounds, bounds[1:])]
    else:
        c.fail("FWT202", "indices_or_sections must be a constant")
    points, total = [], 0
    for s in sizes[:-1]:
        total += s
        points.append(total)
    arg = node_of(len(sizes)) if len(set(sizes)) == 1 else node_of(points)
    items = tuple(m.with_(shape=m.shape[:d] + (s,) + m.shape[d + 1:], origin=None) for s in sizes)
    kwargs = [("axis", node_of(c.axis(dim, m)))] if c.axis(dim, m) != 0 else []
    return call(c.ops("split"), [x, arg], kwargs), Meta(kind="tuple", items=items)
