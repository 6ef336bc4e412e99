"""Tied weights (torch -> Keras): an output projection sharing the input embedding's matrix.

    self.encoder = nn.Embedding(V, D)                  self.encoder = layers.Embedding(V, D)
    self.decoder = nn.Linear(D, V)              ->     self.decoder_bias = self.add_weight(shape=(V,), ...)
    self.decoder.weight = self.encoder.weight          (the tie statement is dropped)
    ... self.decoder(h)                                ... keras.ops.matmul(h, keras.ops.transpose(
                                                               self.encoder.embeddings)) + self.decoder_bias

One matrix in both frameworks: the Keras model trains it through both uses, as torch does. Weight
porting (translator/verify/port_torch_tied.py) ports the embedding once and the Linear's bias into
`<attr>_bias`, after checking that the torch tensors are one Parameter. Only a top-level statement of
`__init__` ties (a tie under an `if` would make the Keras code depend on a run-time condition:
FWT202), and only a Linear to an Embedding.
"""
from __future__ import annotations

import libcst as cst

from ..cst_visit import nodes_of
from ..findings import TranslationError
from ..positions import line_of
from .keras_code import call, node_of, tensor
from .keras_layers import Applied, Step


def _weight_of(node):
    """`self.<attr>.weight` -> attr."""
    if isinstance(node, cst.Attribute) and node.attr.value == "weight" and isinstance(node.value, cst.Attribute) \
            and isinstance(node.value.value, cst.Name) and node.value.value.value == "self":
        return node.value.attr.value
    return None


def _tie(stmt):
    """(tied attr, source attr) of a statement `self.A.weight = self.B.weight`, else None."""
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return None
    small = stmt.body[0]
    if not isinstance(small, cst.Assign) or len(small.targets) != 1:
        return None
    a, b = _weight_of(small.targets[0].target), _weight_of(small.value)
    return (a, b) if a and b else None


def ties(cls_tr) -> dict:
    """attr -> (source attr, the tie statement) for the ties at the top level of __init__; a tie nested
    in a block is reported."""
    out = {}
    top = {id(s) for s in cls_tr.init.body.body}

    for n in nodes_of(cls_tr.init.body, cst.SimpleStatementLine):
        t = _tie(n)
        if t is None:
            continue
        if id(n) not in top:
            raise TranslationError("FWT202", f"self.{t[0]}.weight is tied to self.{t[1]}.weight inside a block: "
                                             "only an unconditional tie translates", line_of(n))
        out[t[0]] = (t[1], n)
    return out


def tied_source(ft, attr: str):
    cache = ft.__dict__.setdefault("_ties", None)
    if cache is None:
        cache = ft._ties = ties(ft.cls)
    t = cache.get(attr)
    return t[0] if t else None


def apply_tied(ft, attr: str, spec, node: cst.Call):
    """`self.decoder(h)` of a Linear whose weight is an Embedding's matrix."""
    line = line_of(node)
    src = tied_source(ft, attr)
    src_spec = ft.cls.modules.get(src)
    if spec.kind != "leaf" or getattr(spec.rule, "id", None) != "dense" or src_spec is None or \
            src_spec.kind != "leaf" or getattr(src_spec.rule, "id", None) != "embedding":
        raise TranslationError("FWT202", f"self.{attr}.weight = self.{src}.weight: only an nn.Linear tied to an "
                                         "nn.Embedding translates", line)
    args = ft.tensors_of(node)
    if len(args) != 1 or args[0][0] is not None or not args[0][2].is_tensor:
        raise TranslationError("FWT103", f"self.{attr} called with other than one tensor", line)
    _, x, m = args[0]
    x, m = ft.conform(x, m, spec, line)
    if m.flat is not None:
        from .keras_forward_base import materialize
        x, m = materialize(ft.refs, x, m, ft.notes, line)
    for name, val in spec.args.given.items():
        if name not in ("in_features", "out_features", "bias", "device", "dtype"):
            raise TranslationError("FWT201", f"nn.Linear({name}=...) with tied weights", line)
    keras_attr = ft.cls.keras_attr(attr)
    src_ref = cst.Attribute(cst.Name("self"), cst.Name(ft.cls.keras_attr(src)))
    matrix = call(ft.refs.ops("transpose"), [cst.Attribute(src_ref, cst.Name("embeddings"))])
    expr = call(ft.refs.ops("matmul"), [x, matrix])
    steps = []
    bias = spec.args.value("bias")
    if bias is not False:
        if bias is not True:
            raise TranslationError("FWT202", f"nn.Linear(bias={bias!r}) with tied weights: a constant expected", line)
        units = spec.args.node("out_features") or node_of(spec.args.value("out_features"))
        ctor = call(cst.Attribute(cst.Name("self"), cst.Name("add_weight")), [], [
            ("shape", cst.Tuple([cst.Element(units, comma=cst.Comma())])),
            ("initializer", node_of("zeros")), ("name", node_of(f"{keras_attr}_bias"))])
        steps.append(Step("layer", ctor, "bias"))
        expr = cst.BinaryOperation(expr, cst.Add(), cst.Attribute(cst.Name("self"), cst.Name(f"{keras_attr}_bias")))
    units = spec.args.value("out_features")
    out = tensor(shape=(m.shape[:-1] + (units if isinstance(units, int) else None,)) if m.shape else None)
    extra = {"tied_to": src, "bias": f"{keras_attr}_bias" if steps else None}
    ft.cls.record_leaf(attr, spec, Applied(steps, out, "Dense", extra))
    return expr, out


def init_statement(cls_tr, stmt) -> list:
    """__init__ statements in Keras: the tie statement of a translated tie is dropped."""
    t = _tie(stmt)
    record = cls_tr.records.get(t[0]) if t is not None else None
    if record is not None and isinstance(record[1], Applied) and record[1].extra.get("tied_to") == t[1]:
        return []
    return [stmt]
