"""torch functions, tensor methods and operators inside `forward` -> keras.ops (the torch -> Keras direction).

A torch->Keras *op hatch* is a function registered here for a torch path (`torch.matmul`,
`torch.nn.functional.normalize`) or a tensor method (`.matmul`), written `@torch_op(...)`:

    @torch_op("torch.unsqueeze", ".unsqueeze")
    def unsqueeze(c: OpCall): ...  -> (Keras expression, Meta)

ForwardTranslator consults this registry before the rule files (`rules/ops.yaml`), so an op rule
whose Keras -> torch translation is code (an `emit:`) gets its reverse here, next to the code
that knows the layouts; an op rule that maps argument to argument needs nothing (the generic path
of `ForwardTranslator.op` reads its params).

Layouts (see translator/backends/keras_code.py): an image (`cf` meta) is channels-last in Keras, so
every `dim` is remapped (`keras_axis`); an op that rearranges axes in ways a remap cannot follow
(matmul, einsum, stack, expand) first brings the tensor to the torch axis order with one transpose
(FWT401). Arguments are translated lazily: an argument the translation drops (`device=x.device`)
is never looked at.
"""
from __future__ import annotations

import math
from typing import Callable

import libcst as cst

from ..findings import TranslationError
from ..ir import UNKNOWN
from ..names import dotted
from ..positions import line_of
from .keras_code import OTHER, Meta, call, code, keras_axis, node_of, tensor
from .keras_forward import _const, convert, materialize, transpose

T2K_OPS: dict[str, Callable] = {}
BOOL = "bool"        # Meta.info of a tensor known to hold booleans (masks)

TORCH_DTYPES = {
    "torch.float32": "float32", "torch.float": "float32", "torch.float64": "float64", "torch.double": "float64",
    "torch.float16": "float16", "torch.half": "float16", "torch.bfloat16": "bfloat16",
    "torch.int64": "int64", "torch.long": "int64", "torch.int32": "int32", "torch.int": "int32",
    "torch.int16": "int16", "torch.short": "int16", "torch.int8": "int8", "torch.uint8": "uint8",
    "torch.bool": "bool",
}


def torch_op(*names: str):
    """Register a torch -> Keras op hatch for torch paths (`torch.X`) and tensor methods (`.X`)."""
    def register(fn):
        for name in names:
            T2K_OPS[name] = fn
        return fn
    return register


class OpCall:
    """One call of a torch function or tensor method, with its arguments bound lazily by name."""

    def __init__(self, ft, name: str, node: cst.Call, receiver=None):
        self.ft = ft
        self.name = name
        self.node = node
        self.line = line_of(node)
        self.receiver = receiver          # (node, meta) of the tensor of a tensor method
        for a in node.args:
            if a.star:
                raise TranslationError("FWT103", f"{self.what}: *args/**kwargs not translated", self.line)

    @property
    def what(self) -> str:
        return f".{self.name[1:]}()" if self.name.startswith(".") else self.name

    @property
    def refs(self):
        return self.ft.refs

    def ops(self, name: str):
        return self.ft.refs.ops(name)

    def fail(self, code_: str, message: str):
        raise TranslationError(code_, f"{self.what}: {message}", self.line)

    def bind(self, names: list[str], varargs: str | None = None, ignore=()) -> dict:
        """Raw argument nodes by parameter name. For a tensor method, names[0] is the tensor itself.
        `varargs`: the name collecting every positional argument after the named ones (as a list)."""
        params = names[1:] if self.receiver is not None else list(names)
        out: dict = {}
        positional = [a for a in self.node.args if a.keyword is None]
        for i, a in enumerate(positional):
            if varargs and (params[min(i, len(params) - 1)] == varargs or varargs in out):
                out.setdefault(varargs, []).append(a.value)
            elif i < len(params):
                out[params[i]] = a.value
            else:
                self.fail("FWT201", "too many positional arguments")
        for a in self.node.args:
            if a.keyword is None:
                continue
            key = a.keyword.value
            if key in ignore:
                continue
            if key not in names:
                self.fail("FWT201", f"argument '{key}' not translated")
            out[key] = a.value
        if self.receiver is not None:
            out[names[0]] = self.receiver
        return out

    def tensor(self, value, what="input"):
        """(node, meta) of a tensor argument (a bound receiver is already translated)."""
        if isinstance(value, tuple):
            n, m = value
        else:
            n, m = self.ft.expr(value)
        if not m.is_tensor:
            self.fail("FWT103", f"{what} is not a tensor")
        if m.flat is not None:
            n, m = materialize(self.refs, n, m, self.ft.notes, self.line)
        return n, m

    def value(self, value):
        """(node, meta) of any argument."""
        if isinstance(value, tuple):
            return value
        return self.ft.expr(value)

    def const(self, node, what: str, default=UNKNOWN):
        if node is None:
            if default is UNKNOWN:
                self.fail("FWT201", f"missing {what}")
            return default
        if isinstance(node, cst.IfExp) and _training_test(node) is not None:
            self.ft.notes.add("FWT203", "`... if self.training else ...`: the inference branch is kept", self.line)
            node = _training_test(node)
        v = _const(node)
        if v is UNKNOWN:
            self.fail("FWT202", f"{what} must be a constant, got {code(node)[:40]}")
        return v

    def same(self, n, m):
        """The tensor in torch axis order (one transpose for an image)."""
        if m.is_tensor and m.layout == "cf" and (m.rank or 0) > 2:
            return convert(self.refs, n, m, "same", self.ft.notes, self.line)
        return n, m

    def axis(self, dim: int, m: Meta) -> int:
        try:
            return keras_axis(dim, m)
        except ValueError:
            self.fail("FWT302", "the rank of the tensor is not known")

    def note(self, code_: str, message: str):
        self.ft.notes.add(code_, f"{self.what}: {message}", self.line)


# Modules whose call is more than `layer(x)` (several inputs, keyword arguments, tuple results), by rule
# id: fn(ForwardTranslator, attr, ModSpec, call node) -> (expression, Meta). Registered with
# @module_call in the keras_hatches*.py modules.
MODULE_CALLS: dict[str, Callable] = {}


def module_call(*rule_ids: str):
    def register(fn):
        for rid in rule_ids:
            MODULE_CALLS[rid] = fn
        return fn
    return register


def apply_module_call(ft, attr: str, spec, node: cst.Call):
    """(expression, meta) of `self.attr(...)` by a registered module call, or None."""
    if spec.kind != "leaf":
        return None
    fn = MODULE_CALLS.get(getattr(spec.rule, "id", ""))
    if fn is None:
        return None
    allowed = getattr(ft, "lazy_target", None) is node
    out = fn(ft, attr, spec, node)
    if out[1].kind == "lazy" and not allowed:
        out[1].info.fail()             # a tuple result used where only assignment/indexing can build it
    return out


def dispatch(ft, name: str, node: cst.Call, receiver=None):
    """(expression, meta) from the registered hatch, or None when there is none."""
    fn = T2K_OPS.get(name)
    if fn is None:
        return None
    return fn(OpCall(ft, name, node, receiver))


# ---- small helpers ---------------------------------------------------------------------------------

def subscript(node, index) -> cst.Subscript:
    return cst.Subscript(node, [cst.SubscriptElement(cst.Index(node_of(index)))])


def shape_dim(refs, node, axis: int) -> cst.Subscript:
    return subscript(call(refs.ops("shape"), [node]), axis)


def _norm(dim: int, rank: int | None, what, c: OpCall) -> int:
    if rank is None:
        if dim < 0:
            c.fail("FWT302", f"{what}={dim}: the rank of the tensor is not known")
        return dim
    if not -rank <= dim < rank:
        c.fail("FWT202", f"{what}={dim} out of range for a rank-{rank} tensor")
    return dim % rank


def _ints(values) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in values)


def _broadcast(shapes):
    """numpy broadcasting of shapes (None = unknown size); None when a rank is unknown."""
    if any(s is None for s in shapes):
        return None
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        known = {d for d in dims if d is not None and d != 1}
        if len(known) == 1 and all(d is not None for d in dims):
            out.append(known.pop())
        elif not known and all(d == 1 for d in dims):
            out.append(1)
        else:
            out.append(next(iter(known)) if len(known) == 1 and None not in dims else None)
    return tuple(out)


def elementwise(c: OpCall, pairs, out_info=None):
    """(nodes, meta) of tensors (and numbers) combined elementwise: one layout, broadcasting."""
    nodes, meta = c.ft.unify(pairs, c.line)
    return nodes, meta.with_(origin=None, nonneg=False, info=out_info)


def dtype_name(c: OpCall, node) -> str:
    path = dotted(node)
    from ..frontends.torch_models import resolve
    full = resolve(node, c.ft.ctx.owner.table) if path else None
    name = TORCH_DTYPES.get(full or "") or TORCH_DTYPES.get(path or "")
    if name is None:
        c.fail("FWT202", f"dtype {code(node)[:40]} is not a torch dtype the translation knows")
    return name


# ---- products ---------------------------------------------------------------------------------------

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


class _Anon(OpCall):
    """An OpCall for an operator (no call node)."""

    def __init__(self, ft, name, line):
        self.ft, self.name, self.line, self.receiver = ft, name, line, None
        self.node = None


def _flat(ft, n, m, line):
    if m.is_tensor and m.flat is not None:
        return materialize(ft.refs, n, m, ft.notes, line)
    return n, m


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
        out = cst.BinaryOperation(out, cst.Add(), bias)
    return out, tensor(shape=shape) if shape is not None else tensor(xm.rank)


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
        b["split_size_or_sections"] = next(a.value for a in c.node.args if a.keyword and a.keyword.value == "split_size")
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
    b = c.bind(["input", "dim0", "dim1"], ignore=("axis0", "axis1"))
    x, m = c.tensor(b["input"])
    return c.ft.permute("transpose", x, m, [(None, b.get("dim0"), OTHER), (None, b.get("dim1"), OTHER)], c.line)


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

def index_tensor(ft, node: cst.Subscript, base, bm: Meta):
    """x[...] of a tensor: basic indexing (ints, slices, None, ...); an image keeps channels-last
    where the channel axis survives (the index moves to the channel's Keras position)."""
    line = line_of(node)
    c = _Anon(ft, "indexing", line)
    base, bm = _flat(ft, base, bm, line)
    entries = []
    for el in node.slice:
        s = el.slice
        if isinstance(s, cst.Index):
            v = s.value
            if isinstance(v, cst.Name) and v.value == "None":
                entries.append(("new", s, None))
            elif isinstance(v, cst.Ellipsis):
                entries.append(("ellipsis", s, None))
            else:
                n, m = ft.expr(v)
                if m.is_tensor:
                    raise TranslationError("FWT103", "indexing with a tensor (advanced indexing) is not translated",
                                           line)
                entries.append(("int", s.with_changes(value=n), _const(v)))
        else:
            parts = {}
            for attr in ("lower", "upper", "step"):
                part = getattr(s, attr)
                if part is None:
                    continue
                n, m = ft.expr(part)
                if m.is_tensor:
                    raise TranslationError("FWT103", "a tensor as a slice bound", line)
                parts[attr] = n
            step = _const(s.step) if s.step is not None else 1
            if step is UNKNOWN or not isinstance(step, int) or step < 1:
                raise TranslationError("FWT202", "slice steps must be positive constants", line)
            entries.append(("slice", s.with_changes(**parts), (_const(s.lower) if s.lower is not None else None,
                                                               _const(s.upper) if s.upper is not None else None,
                                                               step)))
    rank = bm.rank
    if sum(1 for k, _, _ in entries if k == "ellipsis") > 1:
        raise TranslationError("FWT202", "more than one `...` in an index", line)
    used = sum(1 for k, _, _ in entries if k in ("int", "slice"))
    if rank is not None and used > rank:
        raise TranslationError("FWT202", f"{used} indices for a rank-{rank} tensor", line)
    cf = bm.layout == "cf" and (rank or 0) > 2
    if cf and (any(k == "new" for k, _, _ in entries) or entries and entries[0][0] == "int" or rank is None):
        base, bm = c.same(base, bm)
        cf = False
    if rank is not None:        # one entry per axis
        full, seen = [], False
        for e in entries:
            if e[0] == "ellipsis":
                full += [("slice", cst.Slice(None, None), (None, None, 1))] * (rank - used)
                seen = True
            else:
                full.append(e)
        if not seen:
            full += [("slice", cst.Slice(None, None), (None, None, 1))] * (rank - used)
    else:
        full = entries
    if not cf:
        shape = _index_shape(full, bm.shape) if rank is not None else None
        new = node.with_changes(value=base, slice=[el.with_changes(slice=e[1]) for el, e in
                                                   zip(_elements(node, len(entries)), entries)])
        if rank is None:
            out = tensor(None)
        else:
            out = tensor(shape=shape) if shape is not None else tensor(len(full) - sum(1 for k, _, _ in full if k == "int"))
        return new, out.with_(nonneg=bm.nonneg, info=bm.info if bm.info == BOOL else None, integer=bm.integer)
    # an image: entries in Keras axis order (N, spatial..., C)
    order = [0] + list(range(2, rank)) + [1]
    keras_entries = [full[i] for i in order]
    while keras_entries and keras_entries[-1][0] == "slice" and _is_full(keras_entries[-1][1]):
        keras_entries.pop()
    shape_t = _index_shape(full, bm.shape)
    channel_kept = full[1][0] != "int"
    if not keras_entries:
        return base, bm
    elements = [cst.SubscriptElement(e[1]) for e in keras_entries]
    new = cst.Subscript(base, elements)
    if channel_kept and len(shape_t) > 2:
        out = tensor(shape=shape_t, layout="cf", nonneg=bm.nonneg)
    else:
        out = tensor(shape=shape_t, nonneg=bm.nonneg)    # (N, C) or no channel axis: torch order in Keras
    return new, out.with_(integer=bm.integer, info=bm.info if bm.info == BOOL else None)


def _elements(node, n):
    return list(node.slice)[:n]


def _is_full(s) -> bool:
    return isinstance(s, cst.Slice) and s.lower is None and s.upper is None and s.step is None


def _index_shape(full, shape):
    if shape is None:
        return None
    out, axis = [], 0
    for kind, _, info in full:
        if kind == "new":
            out.append(1)
            continue
        d = shape[axis] if axis < len(shape) else None
        axis += 1
        if kind == "int":
            continue
        lo, hi, step = info
        if lo is None and hi is None and step == 1:
            out.append(d)
        elif isinstance(d, int) and all(v is None or isinstance(v, int) for v in (lo, hi)) and \
                lo is not UNKNOWN and hi is not UNKNOWN:
            out.append(len(range(d)[slice(lo, hi, step)]))
        else:
            out.append(None)
    return tuple(out)


# ---- elementwise ---------------------------------------------------------------------------------------

def _is_none(node) -> bool:
    return node is None or isinstance(node, cst.Name) and node.value == "None"


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


@torch_op("torch.where")
def where(c: OpCall):
    b = c.bind(["condition", "input", "other"])
    if b.get("input") is None or b.get("other") is None:
        c.fail("FWT202", "torch.where(condition) (indices of true elements) is not translated")
    cond = c.tensor(b["condition"], "condition")
    (cn, xn, yn), meta = elementwise(c, [cond, c.value(b["input"]), c.value(b["other"])])
    return call(c.ops("where"), [cn, xn, yn]), meta


@torch_op(".masked_fill")
def masked_fill(c: OpCall):
    b = c.bind(["input", "mask", "value"])
    x, m = c.tensor(b["input"])
    mask = c.tensor(b.get("mask"), "mask")
    value = c.value(b.get("value"))
    (xn, mn, vn), meta = elementwise(c, [(x, m), mask, value])
    return call(c.ops("where"), [mn, vn, xn]), meta.with_(shape=m.shape if m.shape is not None and
                                                          meta.rank == m.rank else meta.shape)


@torch_op("torch.triu", ".triu", "torch.tril", ".tril")
def triangle(c: OpCall):
    b = c.bind(["input", "diagonal"])
    x, m = c.same(*c.tensor(b["input"]))
    k = c.const(b.get("diagonal"), "diagonal", 0)
    kwargs = [("k", node_of(k))] if k else []
    return call(c.ops(c.name.rsplit(".", 1)[-1]), [x], kwargs), m.with_(origin=None)


# ---- dtypes, copies ------------------------------------------------------------------------------------

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
    return call(c.ops("full"), [shape_node, value], kwargs), _with_dtype(tensor(shape=shape), dtype)


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
    if parts[1] is None and parts[0] is not None and any(a.keyword and a.keyword.value == "end" for a in c.node.args):
        pass
    nodes = [c.value(p)[0] for p in parts if p is not None]
    kwargs, dtype = _creation_kwargs(c, b)
    values = [_const(p) for p in parts if p is not None]
    if dtype is None:
        ints = all(isinstance(v, int) or v is UNKNOWN for v in values)
        dtype = "int64" if ints else "float32"
        kwargs = [("dtype", node_of(dtype))]
    length = None
    if _ints([v for v in values]) and values:
        length = len(range(*values))
    return call(c.ops("arange"), nodes, kwargs), _with_dtype(tensor(shape=(length,)), dtype).with_(nonneg=True)


# ---- functional ------------------------------------------------------------------------------------------

@torch_op("torch.nn.functional.dropout", "torch.nn.functional.dropout1d", "torch.nn.functional.dropout2d",
          "torch.nn.functional.dropout3d", "torch.nn.functional.alpha_dropout",
          "torch.nn.functional.feature_alpha_dropout", "torch.dropout")
def dropout(c: OpCall):
    b = c.bind(["input", "p", "training", "inplace"])
    x, m = c.tensor(b["input"])
    p = _const(b.get("p")) if b.get("p") is not None else 0.5
    training = b.get("training")
    is_self_training = isinstance(training, cst.Attribute) and isinstance(training.value, cst.Name) and \
        training.value.value == "self" and training.attr.value == "training"
    if not (p == 0 or is_self_training or training is not None and _const(training) is False):
        c.fail("FWT202", "F.dropout drops in eval mode too unless training=self.training (or False) is given")
    if p != 0 and is_self_training:
        c.note("FWT203", "identity at inference (Keras code does not drop in training either)")
    return x, m.with_(origin=None)


@torch_op("torch.nn.functional.interpolate", "torch.nn.functional.upsample")
def interpolate(c: OpCall):
    b = c.bind(["input", "size", "scale_factor", "mode", "align_corners", "recompute_scale_factor", "antialias"])
    x, m = c.tensor(b["input"])
    mode = c.const(b.get("mode"), "mode", "nearest")
    align = c.const(b.get("align_corners"), "align_corners", None)
    if c.const(b.get("antialias"), "antialias", False):
        c.fail("FWT202", "antialias=True is not translated")
    if mode not in ("nearest", "bilinear", "linear"):
        c.fail("FWT202", f"mode={mode!r}: only 'nearest' and 'bilinear' (align_corners=False) translate")
    if align:
        c.fail("FWT202", "align_corners=True has no keras.ops.image.resize equivalent")
    rank = m.rank
    if rank is None or m.layout != "cf":
        from .keras_forward import _PoolSpec
        n = 2 if mode == "bilinear" else 1 if mode == "linear" else None
        if rank is None and n is None:
            size = _const(b.get("size")) if b.get("size") is not None else _const(b.get("scale_factor"))
            n = len(size) if isinstance(size, (tuple, list)) else None
        if n is None and rank is None:
            c.fail("FWT302", "the rank of the input is not known")
        spec = _PoolSpec(n or rank - 2)
        spec.torch_path = f"torch.nn.Upsample{n or rank - 2}d"
        x, m = c.ft.conform(x, m, spec, c.line)
        rank = m.rank
    n = rank - 2
    spatial = m.spatial or (None,) * n
    size = c.const(b.get("size"), "size", None)
    scale = c.const(b.get("scale_factor"), "scale_factor", None)
    if (size is None) == (scale is None):
        c.fail("FWT202", "give exactly one of size and scale_factor")
    if size is not None:
        out = tuple(size) if isinstance(size, (tuple, list)) else (size,) * n
        factors = tuple(o // i if isinstance(i, int) and o % i == 0 else None for o, i in zip(out, spatial))
    else:
        sc = tuple(scale) if isinstance(scale, (tuple, list)) else (scale,) * n
        if c.const(b.get("recompute_scale_factor"), "recompute_scale_factor", None) is False:
            c.fail("FWT202", "recompute_scale_factor=False is not translated")
        factors = tuple(int(s) if float(s) == int(s) and s >= 1 else None for s in sc)
        out = tuple(i * f if isinstance(i, int) and f is not None else
                    (math.floor(i * s) if isinstance(i, int) else None) for i, f, s in zip(spatial, factors, sc))
        if any(f is None for f in factors) and any(isinstance(i, int) and i * s != math.floor(i * s)
                                                   for i, s in zip(spatial, sc)):
            c.fail("FWT202", "a scale factor that does not give a whole output size")
    meta = tensor(shape=(None, m.channels) + tuple(out), layout="cf", nonneg=m.nonneg)
    if mode == "nearest":
        if any(f is None for f in factors):
            c.fail("FWT202", "mode='nearest' translates for whole upscaling factors only (torch's nearest "
                             "differs from TF's half-pixel nearest otherwise)")
        expr = x
        for axis, f in enumerate(factors, start=1):
            if f != 1:
                expr = call(c.ops("repeat"), [expr, node_of(f)], [("axis", node_of(axis))])
        return expr, meta
    if n != 2:
        c.fail("FWT202", f"mode={mode!r} on a rank-{rank} tensor is not translated")
    if not all(isinstance(o, int) for o in out):
        c.fail("FWT302", "bilinear resize needs the output size statically (pass --input-shape)")
    return call(c.ops("image.resize"), [x, node_of(tuple(out))], [("interpolation", node_of("bilinear"))]), meta


@torch_op("torch.nn.functional.scaled_dot_product_attention")
def sdpa(c: OpCall):
    b = c.bind(["query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa"])
    q, qm = c.same(*c.tensor(b["query"], "query"))
    k, km = c.same(*c.tensor(b.get("key"), "key"))
    v, vm = c.same(*c.tensor(b.get("value"), "value"))
    p = c.const(b.get("dropout_p"), "dropout_p", 0.0)
    if p:
        c.fail("FWT202", "dropout_p > 0 drops in eval mode too (write `p if self.training else 0.0`)")
    if c.const(b.get("enable_gqa"), "enable_gqa", False):
        c.fail("FWT202", "enable_gqa=True is not translated")
    causal = c.const(b.get("is_causal"), "is_causal", False)
    scale = b.get("scale")
    if _is_none(scale):
        d = qm.shape[-1] if qm.shape is not None else None
        if isinstance(d, int):
            scale_node = cst.BinaryOperation(node_of(d), cst.Power(), cst.UnaryOperation(cst.Minus(), cst.Float("0.5")))
        else:
            scale_node = cst.BinaryOperation(
                call(c.ops("cast"), [shape_dim(c.refs, q, -1), node_of("float32")]), cst.Power(),
                cst.UnaryOperation(cst.Minus(), cst.Float("0.5")))
    else:
        scale_node, _ = c.value(scale)
    scores = cst.BinaryOperation(call(c.ops("matmul"), [q, call(c.ops("swapaxes"), [k, node_of(-2), node_of(-1)])]),
                                 cst.Multiply(), scale_node)
    neg_inf = cst.parse_expression('float("-inf")')
    mask = b.get("attn_mask")
    if causal:
        if not _is_none(mask):
            c.fail("FWT202", "attn_mask together with is_causal=True")
        lq, lk = shape_dim(c.refs, q, -2), shape_dim(c.refs, k, -2)
        tri = call(c.ops("tril"), [call(c.ops("ones"), [cst.Tuple([cst.Element(lq), cst.Element(lk)])],
                                        [("dtype", node_of("bool"))])])
        scores = call(c.ops("where"), [tri, scores, neg_inf])
    elif not _is_none(mask):
        mn, mm = c.tensor(mask, "attn_mask")
        mn, mm = c.same(mn, mm)
        if mm.info == BOOL:        # True: may attend (as Keras' attention masks)
            scores = call(c.ops("where"), [mn, scores, neg_inf])
        else:
            c.fail("FWT202", "attn_mask whose dtype is not known to be bool (a float mask is added to the scores; "
                             "write `mask.bool()` or build it with a comparison)")
    weights = call(c.ops("softmax"), [scores], [("axis", node_of(-1))])
    shape = None
    if qm.shape is not None and vm.shape is not None and len(qm.shape) == len(vm.shape):
        shape = qm.shape[:-1] + vm.shape[-1:]
    return call(c.ops("matmul"), [weights, v]), tensor(shape=shape) if shape is not None else tensor(qm.rank)


# ---- operators and expressions ------------------------------------------------------------------------

_COMPARE = {cst.Equal: "equal", cst.NotEqual: "not_equal", cst.GreaterThan: "greater",
            cst.GreaterThanEqual: "greater_equal", cst.LessThan: "less", cst.LessThanEqual: "less_equal"}


def comparison(ft, node: cst.Comparison):
    """A comparison with a tensor -> keras.ops.equal/greater/...; None when no tensor takes part."""
    line = line_of(node)
    left, lm = ft.expr(node.left)
    pairs, ops = [(left, lm)], []
    for target in node.comparisons:
        pairs.append(ft.expr(target.comparator))
        ops.append(target.operator)
    if not any(m.is_tensor for _, m in pairs):
        targets = [t.with_changes(comparator=n) for t, (n, _) in zip(node.comparisons, pairs[1:])]
        return node.with_changes(left=left, comparisons=targets), OTHER
    if len(ops) != 1 or type(ops[0]) not in _COMPARE:
        raise TranslationError("FWT103", f"comparison not translated: {code(node)[:60]}", line)
    (a, b), meta = ft.unify(pairs, line)
    return call(ft.refs.ops(_COMPARE[type(ops[0])]), [a, b]), meta.with_(origin=None, nonneg=False, info=BOOL,
                                                                         integer=False)


def is_self_training(node) -> bool:
    return isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and node.value.value == "self" \
        and node.attr.value == "training"


def _training_test(node: cst.IfExp):
    """The branch of `a if self.training else b` taken in eval mode, or None for another test."""
    test = node.test
    negated = isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not)
    if not is_self_training(test.expression if negated else test):
        return None
    return node.body if negated else node.orelse


def if_training(ft, node: cst.IfExp):
    """`a if self.training else b` -> b (the Keras code computes what torch computes in eval mode)."""
    test = node.test
    negated = isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not)
    if not is_self_training(test.expression if negated else test):
        return None
    ft.notes.add("FWT203", "`... if self.training else ...`: the inference branch is kept", line_of(node))
    return ft.expr(node.body if negated else node.orelse)


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
