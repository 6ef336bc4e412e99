"""torch functions, tensor methods and operators inside `forward` -> keras.ops (the torch -> Keras direction).

A torch->Keras *op hatch* is a function registered here for a torch path (`torch.matmul`,
`torch.nn.functional.normalize`) or a tensor method (`.matmul`), written `@torch_op(...)`:

    @torch_op("torch.unsqueeze", ".unsqueeze")
    def unsqueeze(c: OpCall): ...  -> (Keras expression, Meta)

ForwardTranslator consults this registry before the rule files (`rules/ops.yaml`), so an op rule
whose Keras -> torch translation is code (an `emit:`) gets its reverse here, next to the code
that knows the layouts; an op rule that maps argument to argument needs nothing (the generic path
of `ForwardTranslator.op` reads its params).

This module holds the registries and the argument binding (`OpCall`); the hatches live by concern in
translator/backends/keras_ops_*.py (shapes, index, math, tensors, nn), each imported when this module
is (no list to edit). `@module_call(rule_id)` registers the call of a module with several inputs or a
tuple result (nn.MultiheadAttention, nn.TransformerEncoderLayer: keras_hatches_attention.py).

Layouts (see translator/backends/keras_code.py): an image (`cf` meta) is channels-last in Keras, so
every `dim` is remapped (`keras_axis`); an op that rearranges axes in ways a remap cannot follow
(matmul, einsum, stack, expand) first brings the tensor to the torch axis order with one transpose
(FWT401). Arguments are translated lazily: an argument the translation drops (`device=x.device`)
is never looked at.
"""
from __future__ import annotations

from typing import Callable

import libcst as cst

from ..findings import TranslationError
from ..ir import UNKNOWN
from ..names import dotted
from ..positions import line_of
from .keras_code import Meta, call, code, keras_axis, node_of
from .keras_forward_base import _const, convert, materialize

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
        if value is None:
            self.fail("FWT201", f"missing {what}")
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
        if value is None:
            self.fail("FWT201", "missing argument")
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


def paren(node):
    """`node` parenthesized where it is an operation (libcst writes nodes as given: `a * (b + c)` needs
    the parentheses in the tree)."""
    if isinstance(node, (cst.BinaryOperation, cst.UnaryOperation, cst.BooleanOperation, cst.Comparison,
                         cst.IfExp, cst.Lambda, cst.NamedExpr)) and not node.lpar:
        return node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return node


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

class _Anon(OpCall):
    """An OpCall for an operator (no call node)."""

    def __init__(self, ft, name, line):
        self.ft, self.name, self.line, self.receiver = ft, name, line, None
        self.node = None


def _flat(ft, n, m, line):
    if m.is_tensor and m.flat is not None:
        return materialize(ft.refs, n, m, ft.notes, line)
    return n, m


def _is_none(node) -> bool:
    return node is None or isinstance(node, cst.Name) and node.value == "None"


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


# ---- the hatches, by concern (each module registers its own) -----------------------------------------

def _discover() -> None:
    """Import every translator/backends/keras_ops_*.py module: each registers its hatches."""
    import importlib
    import pkgutil
    from pathlib import Path

    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.name.startswith("keras_ops_"):
            importlib.import_module(f"{__package__}.{info.name}")


_discover()
# What ForwardTranslator calls directly (operators, indexing, statements):
from .keras_ops_index import comparison, if_training, index_tensor, inplace_statement  # noqa: E402,F401
from .keras_ops_math import broadcast_lower_rank, promote  # noqa: E402,F401
from .keras_ops_shapes import (concat_tuple, flatten_range, matmul_nodes, swapaxes_unknown_rank,  # noqa: E402,F401
                               unpack_shape, unpack_tensor)
