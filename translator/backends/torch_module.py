"""Assemble a torch nn.Module class from a translated forward and the layers it uses."""
from __future__ import annotations

import libcst as cst

from ..ir import InterfaceTensor, LayerMapping, ModelInfo
from .torch_code import to_cf_perm
from .. import snippets
from ..cst_walk import transform
from ..values import to_node
from .torch_forward import CustomRef, ForwardTranslator
from .torch_sequence import LayerSequence, sequential_ctor


def assign(target: cst.BaseExpression, value: cst.BaseExpression) -> cst.SimpleStatementLine:
    return cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(target)], value)])


def layer_inits(ft: ForwardTranslator) -> list[cst.SimpleStatementLine]:
    """`self.x = nn.X(...)` for every layer that builds a module, in creation order."""
    out = []
    members = {id(l) for seq in ft.sequences.values() for l in seq.layers}
    for layer in ft.layers:
        if isinstance(layer, CustomRef):
            out.append(assign(ft.self_ref(layer.attr), custom_ctor(layer, ft.shaped_classes)))
            continue
        if isinstance(layer, LayerSequence):
            out.append(assign(ft.self_ref(layer.attr), sequential_ctor(ft, layer)))
            continue
        if id(layer) in members:
            continue
        emission = ft.emissions.get(id(layer))
        if emission is None or emission[0].ctor is None:
            continue
        out.append(with_comments(assign(ft.self_ref(layer.attr), emission[0].ctor), *layer.comments))
    return out


def custom_ctor(ref: CustomRef, shaped_classes) -> cst.Call:
    """`Block(64)`, plus `input_shape=(None, ...)` when the translated class takes its input shape."""
    ctor = ref.ctor
    if ref.class_name not in shaped_classes or not ref.call_metas:
        return ctor
    shapes = [tuple(m.shape) for m in ref.call_metas]
    value = shapes[0] if len(shapes) == 1 else shapes
    arg = cst.Arg(to_node(value), keyword=cst.Name("input_shape"),
                  equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")))
    args = [a.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))) if i == len(ctor.args) - 1
            else a for i, a in enumerate(ctor.args)]
    return ctor.with_changes(args=args + [arg])


def with_comments(stmt: cst.SimpleStatementLine, above, trailing) -> cst.SimpleStatementLine:
    """A statement carrying full-line comments above it and a same-line comment."""
    stmt = stmt.with_changes(leading_lines=list(stmt.leading_lines)
                             + [cst.EmptyLine(comment=cst.Comment(c)) for c in above])
    if trailing:
        stmt = stmt.with_changes(trailing_whitespace=cst.TrailingWhitespace(
            whitespace=cst.SimpleWhitespace("  "), comment=cst.Comment(trailing)))
    return stmt


def layer_mappings(ft: ForwardTranslator) -> list[LayerMapping]:
    out = []
    for layer in ft.layers:
        if isinstance(layer, CustomRef):
            out.append(LayerMapping(layer.class_name, None, layer.attr, "custom", layer.line,
                                    {"class": layer.class_name}))
            continue
        if hasattr(layer, "mapping_entry"):      # a list built in __init__: paired at porting
            out.append(layer.mapping_entry())
            continue
        if isinstance(layer, LayerSequence):
            continue
        emission = ft.emissions.get(id(layer))
        if emission is None or emission[0].ctor is None:
            continue
        out.append(LayerMapping(layer.keras_class, layer.name, layer.attr, layer.rule.id, layer.line,
                                dict(layer.extra)))
    return out


def interface(names, metas) -> list[InterfaceTensor]:
    out = []
    for name, meta in zip(names, metas):
        if meta is None:
            out.append(InterfaceTensor(name, None, None))
            continue
        perm = to_cf_perm(meta.rank) if meta.layout == "cf" and meta.rank and meta.rank > 2 else None
        out.append(InterfaceTensor(name, meta.shape, perm))
    return out


def class_def(name: str, base: cst.BaseExpression, init_params: cst.Parameters | None, init_body: list,
              forward_params: list[str], forward_body: list, leading_lines=()) -> cst.ClassDef:
    """class Name(<base>) with __init__ and forward."""
    skeleton = snippets.statement(
        f"class {name}(Base):\n"
        f"    def __init__(self):\n        super().__init__()\n\n"
        f"    def forward(self, {', '.join(forward_params)}):\n        pass\n")
    init, forward = skeleton.body.body
    if init_params is not None:
        params = [cst.Param(cst.Name("self"))] + list(init_params.params)
        init = init.with_changes(params=init_params.with_changes(params=params))
    init = init.with_changes(body=init.body.with_changes(body=list(init.body.body) + init_body))
    forward = forward.with_changes(body=forward.body.with_changes(body=strip_leading_blank(forward_body)))
    return skeleton.with_changes(bases=[cst.Arg(base)], body=skeleton.body.with_changes(body=[init, forward]),
                                 leading_lines=list(leading_lines))


def strip_leading_blank(body: list) -> list:
    """No blank line right after `def ...:` (comments stay)."""
    if body and isinstance(body[0], (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
        lines = list(body[0].leading_lines)
        while lines and lines[0].comment is None:
            lines.pop(0)
        body = [body[0].with_changes(leading_lines=lines)] + list(body[1:])
    return body


def model_info(name, torch_class, form, line, ft, input_names, input_metas) -> ModelInfo:
    outs = [f"output_{i}" for i in range(len(ft.outputs))]
    return ModelInfo(name, torch_class, form, line, layer_mappings(ft),
                     interface(input_names, input_metas), interface(outs, ft.outputs))


def save_params(forward_body: list, params: set):
    """Constructor parameters that forward reads: forward reads `self.<name>` instead, and __init__
    saves them. Returns (new forward body, `self.x = x` statements for __init__)."""
    from ..names import used_names
    used = set()
    for stmt in forward_body:
        used |= used_names(stmt) & params
    if not used:
        return forward_body, []

    def leave_name(original, updated):
        if updated.value in used:
            return cst.Attribute(cst.Name("self"), cst.Name(updated.value))
        return updated

    keep = {cst.Attribute: ("attr",), cst.Arg: ("keyword",)}     # attribute and keyword names stay
    body = [transform(stmt, {cst.Name: leave_name}, keep=keep) for stmt in forward_body]
    saved = [assign(cst.Attribute(cst.Name("self"), cst.Name(n)), cst.Name(n)) for n in sorted(used)]
    return body, saved
