"""Values and conversions shared by the parts of the torch -> Keras forward translator
(keras_forward.py, keras_forward_calls.py and the op hatches): layout conversions of a tensor
(`convert`), a flattened image brought to torch's column order (`materialize`), constants of
arguments, and merging the facts of a name bound in two branches.
"""
from __future__ import annotations

import libcst as cst

from ..cst_visit import visit
from ..findings import TranslationError
from ..ir import UNKNOWN, Sym
from ..names import dotted
from .keras_code import KerasRefs, Meta, Notes, call, node_of, to_keras_perm, to_torch_perm
from .keras_layers import Step

# Op rules with an `emit:` (code in the Keras -> torch direction) whose params map back generically.
REVERSIBLE_OP_EMITS = {"softmax", "gelu"}


def transpose(refs: KerasRefs, node, perm) -> cst.Call:
    return call(refs.ops("transpose"), [node, node_of(tuple(perm))])


def convert(refs: KerasRefs, node, meta: Meta, layout: str, notes: Notes, line: int, sequential=False):
    """(node or Step, meta) of `meta` brought to `layout` (one transpose / Permute layer)."""
    rank = meta.rank
    if layout == meta.layout or rank is None or rank <= 2:
        return node, meta.with_(layout=layout) if rank is not None and rank <= 2 else meta
    perm = to_keras_perm(rank) if layout == "cf" else to_torch_perm(rank)
    notes.add("FWT401", f"layout conversion inserted: a {'channels-first' if layout == 'same' else 'channels-last'} "
                        f"view of a rank-{rank} tensor is needed here (one transpose)", line)
    new = meta.with_(layout=layout, origin=None)
    if sequential:
        return Step("layer", call(refs.layer("Permute"), [node_of(tuple(p for p in perm[1:]))])), new
    return transpose(refs, node, perm), new


def materialize(refs: KerasRefs, node, meta: Meta, notes: Notes, line: int, sequential=False):
    """A flattened image in Keras (S, C) column order -> torch's (C, S) order."""
    channels, spatial = meta.flat
    if not isinstance(spatial, int) and isinstance(channels, int) and meta.shape and isinstance(meta.shape[-1], int):
        spatial = meta.shape[-1] // channels
    if not isinstance(channels, int) or sequential and not isinstance(spatial, int):
        raise TranslationError("FWT302", "a flattened image is used other than by nn.Linear, and its "
                                         "channel count is not known statically", line)
    notes.add("FWT401", "a flattened image is used other than by nn.Linear: its columns are reordered to "
                        "torch's (C, H, W) order", line)
    new = meta.with_(flat=None, origin=None)
    if sequential:
        return [Step("layer", call(refs.layer("Reshape"), [node_of((spatial, channels))])),
                Step("layer", call(refs.layer("Permute"), [node_of((2, 1))])),
                Step("layer", call(refs.layer("Reshape"), [node_of((channels * spatial,))]))], new
    if isinstance(spatial, int):
        inner = call(refs.ops("reshape"), [node, node_of((-1, spatial, channels))])
        return call(refs.ops("reshape"), [transpose(refs, inner, (0, 2, 1)), node_of((-1, channels * spatial))]), new
    batch = cst.Subscript(call(refs.ops("shape"), [node]), [cst.SubscriptElement(cst.Index(node_of(0)))])
    inner = call(refs.ops("reshape"), [node, cst.Tuple([cst.Element(batch), cst.Element(node_of(-1)),
                                                        cst.Element(node_of(channels))])])
    return call(refs.ops("reshape"), [transpose(refs, inner, (0, 2, 1)),
                                      cst.Tuple([cst.Element(batch), cst.Element(node_of(-1))])]), new


def _ops():
    """translator/backends/keras_forward_ops.py (imported late: it builds on this module)."""
    from . import keras_forward_ops
    return keras_forward_ops


class _PoolSpec:
    """A stand-in spec for functional pooling: needs a channels-first (image) input of rank n+2."""
    kind = "leaf"

    def __init__(self, n):
        self.torch_path = f"torch.nn.MaxPool{n}d"
        self.rule = _ImageRule()
        self.short = f"max_pool{n}d"


class _ImageRule:
    layout = "cf"
    shape = "pool"
    id = "functional_pool"


def merge_metas(a: Meta, b: Meta, name: str, line: int) -> Meta:
    if a == b:
        return a
    if a.kind != b.kind or a.is_tensor and (a.layout != b.layout or a.rank != b.rank or a.flat != b.flat):
        raise TranslationError("FWT103", f"'{name}' holds different kinds of values after an `if`", line)
    if not a.is_tensor:
        return a
    shape = None if a.shape is None or b.shape is None else tuple(x if x == y else None for x, y in zip(a.shape, b.shape))
    return a.with_(shape=shape, origin=a.origin if a.origin == b.origin else None, nonneg=a.nonneg and b.nonneg)


def _const(node):
    if node is None:
        return UNKNOWN
    from ..values import evaluate
    v = evaluate(node, {})
    return UNKNOWN if isinstance(v, Sym) else v


def _const_index(node: cst.Subscript):
    if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index):
        return None
    v = _const(node.slice[0].slice.value)
    return v if isinstance(v, int) else None


def _const_arg(rest, name, position, default, line):
    for i, (k, n, _) in enumerate(rest):
        if k == name or (k is None and i == position):
            v = _const(n)
            if v is UNKNOWN:
                raise TranslationError("FWT202", f"{name} must be a constant", line)
            return v
    return default


def _names_and_attrs(node):
    out = []
    visit(node, {cst.Attribute: out.append, cst.Name: out.append})
    return out


class _Table:
    """Resolves `torch.X` written by the translator itself (tensor methods as functions)."""

    def resolve(self, node):
        return dotted(node)


_TORCH_TABLE = _Table()
