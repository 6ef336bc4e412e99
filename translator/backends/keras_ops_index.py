"""torch -> Keras op hatches: indexing and selection (x[...] with the image axis remap, index_select),
comparisons and masks (==, torch.eq, where, masked_fill), in-place methods as assignments, and
`a if self.training else b`. See keras_forward_ops.py.
"""
from __future__ import annotations

import libcst as cst

from ..cst_visit import nodes_of
from ..findings import TranslationError
from ..ir import UNKNOWN
from ..positions import line_of
from .keras_code import OTHER, Meta, call, code, node_of, tensor
from .keras_forward_base import _const
from .keras_forward_ops import BOOL, T2K_OPS, OpCall, _Anon, _flat, elementwise, is_self_training, paren, torch_op


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
            ints = sum(1 for k, _, _ in full if k == "int")
            out = tensor(shape=shape) if shape is not None else tensor(len(full) - ints)
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


def if_training(ft, node: cst.IfExp):
    """`a if self.training else b` -> b (the Keras code computes what torch computes in eval mode)."""
    test = node.test
    negated = isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not)
    if not is_self_training(test.expression if negated else test):
        return None
    ft.notes.add("FWT203", "`... if self.training else ...`: the inference branch is kept", line_of(node))
    return ft.expr(node.body if negated else node.orelse)


_INPLACE = {"add_": cst.Add, "sub_": cst.Subtract, "mul_": cst.Multiply, "div_": cst.Divide}


def inplace_statement(ft, value, line):
    """`x.masked_fill_(m, v)` / `x.clamp_(0, 1)` / `x.add_(y)` as a statement, x a tensor variable ->
    `x = <the out-of-place op>` (Keras tensors are immutable); None for anything else."""
    if not (isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute)
            and isinstance(value.func.value, cst.Name)):
        return None
    method = value.func.attr.value
    if not method.endswith("_") or method.startswith("_") or method.endswith("__"):
        return None
    name = value.func.value
    meta = ft.env.get(name.value)
    if meta is None or not meta.is_tensor:
        return None
    base = method[:-1]
    if method in _INPLACE:
        if len(value.args) != 1 or value.args[0].keyword is not None:
            return None
        expr = cst.BinaryOperation(name, _INPLACE[method](), paren(value.args[0].value))
    elif "." + base in T2K_OPS or base in ("relu", "sigmoid", "tanh", "exp", "log", "sqrt", "abs", "neg", "pow"):
        expr = value.with_changes(func=value.func.with_changes(attr=cst.Name(base)))
    else:
        return None
    if _aliased(ft, name.value):
        raise TranslationError("FWT202", f"an in-place torch op changes '{name.value}', which another name "
                                         "shares: Keras tensors cannot change in place", line)
    node, m = ft.expr(expr)
    ft.env[name.value] = m
    return cst.Assign([cst.AssignTarget(name)], node)


def _aliased(ft, name: str) -> bool:
    """Whether forward assigns `name` to another name or another name to it (`y = x`): then an in-place
    op changes both in torch."""
    func = getattr(ft.cls, "forward", None)
    if func is None:
        return True
    for node in nodes_of(func, cst.Assign):
        if isinstance(node.value, cst.Name):
            targets = [t.target for t in node.targets]
            if node.value.value == name or any(isinstance(t, cst.Name) and t.value == name for t in targets):
                return True
    return False


# ---- more reductions, scans and rearrangements ---------------------------------------------------------

@torch_op("torch.index_select", ".index_select")
def index_select(c: OpCall):
    b = c.bind(["input", "dim", "index"])
    x, m = c.tensor(b["input"])
    dim = c.const(b.get("dim"), "dim")
    idx, im = c.tensor(b.get("index"), "index")
    if im.rank not in (None, 1):
        c.fail("FWT202", "the index must be one-dimensional")
    if m.layout == "cf" and m.rank is not None and dim % m.rank == 0:
        x, m = c.same(x, m)
    shape = None
    if m.shape is not None:
        d = dim % m.rank
        n = im.shape[0] if im.shape is not None else None
        shape = m.shape[:d] + (n,) + m.shape[d + 1:]
    out = m.with_(shape=shape, origin=None) if shape is not None else m.with_(origin=None)
    return call(c.ops("take"), [x, idx], [("axis", node_of(c.axis(dim, m)))]), out


_COMPARE_FNS = {"eq": "equal", "ne": "not_equal", "gt": "greater", "ge": "greater_equal", "lt": "less",
                "le": "less_equal", "logical_and": "logical_and", "logical_or": "logical_or",
                "logical_xor": "logical_xor"}


@torch_op(*[f"torch.{k}" for k in _COMPARE_FNS], *[f".{k}" for k in _COMPARE_FNS])
def compare_fn(c: OpCall):
    b = c.bind(["input", "other"])
    x, m = c.tensor(b["input"])
    (x, y), meta = elementwise(c, [(x, m), c.value(b.get("other"))], out_info=BOOL)
    return call(c.ops(_COMPARE_FNS[c.name.rsplit(".", 1)[-1]]), [x, y]), meta.with_(integer=False)
