"""Emit tensor ops (keras.ops.*, tf.*, K.*) found in a forward pass as torch calls."""
from __future__ import annotations

from dataclasses import replace

import libcst as cst

from ..findings import TranslationError
from ..ir import UNKNOWN, TensorMeta
from ..passes.shapes import SHAPE_FUNCTIONS, ShapeError
from ..positions import line_of
from ..rules import OpRule
from ..values import make_val, to_node
from .torch_code import call, torch_axis


def _bind(rule: OpRule, node: cst.Call) -> dict:
    bound = {}
    positional = [a for a in node.args if a.keyword is None]
    for param, arg in zip(rule.params, positional):
        if arg.star:
            raise TranslationError("FWT201", f"{rule.keras[0]}: *args not supported", line_of(node))
        bound[param.keras] = arg.value
    if len(positional) > len(rule.params):
        raise TranslationError("FWT201", f"{rule.keras[0]}: too many arguments", line_of(node))
    for arg in node.args:
        if arg.keyword is None:
            continue
        name = arg.keyword.value
        param = next((p for p in rule.params if p.keras == name or name in p.keras2), None)
        if param is None:
            if name == "name":
                continue
            raise TranslationError("FWT201", f"{rule.keras[0]}: argument '{name}' not supported", line_of(node))
        bound[param.keras] = arg.value
    return bound


def emit_op(ft, rule: OpRule, node: cst.Call):
    bound = _bind(rule, node)
    tensors = []          # (param, [(expr, meta)], is_list)
    for p in rule.params:
        if p.value in ("tensor", "tensors") and p.keras in bound:
            value = bound[p.keras]
            if p.value == "tensors":
                if not isinstance(value, (cst.List, cst.Tuple)):
                    raise TranslationError("FWT201", f"{rule.keras[0]}: expected a list of tensors",
                                           line_of(node))
                items = [ft.expr(el.value) for el in value.elements]
            else:
                items = [ft.expr(value)]
            tensors.append((p, items))
    flat = [item for _, items in tensors for item in items]
    metas = [m for _, m in flat]
    first = next((m for m in metas if m is not None), None)
    if rule.layout == "cl" or (first is not None and any(m is not None and m.rank != first.rank for m in metas)):
        want = "cl"
    else:
        want = first.layout if first is not None else "cl"
    converted = {}
    for p, items in tensors:
        converted[p.keras] = [ft.convert(e, m, want) if m is not None else (e, m) for e, m in items]
    first_meta = next((m for p, items in converted.items() for _, m in items if m is not None), None)
    consts = {p.keras: make_val(bound[p.keras], ft.scope).const if p.keras in bound else p.default
              for p in rule.params if p.value not in ("tensor", "tensors")}
    ft.sites += 1
    if rule.emit == "int_shape":
        (expr, _), = converted["x"]
        return call(cst.Name("tuple"), [cst.Attribute(expr, cst.Name("shape"))]), None
    args, kwargs = [], []
    for p in rule.params:
        if p.value in ("tensor", "tensors"):
            if p.keras not in converted:
                continue
            exprs = [e for e, _ in converted[p.keras]]
            args.append(cst.List([cst.Element(e) for e in exprs]) if p.value == "tensors" else exprs[0])
            continue
        if p.keras not in bound:
            continue
        value = consts[p.keras]
        if p.value == "axis":
            if value is UNKNOWN or first_meta is None or first_meta.rank is None and value != -1:
                if first_meta is not None and first_meta.layout != "cl":
                    raise TranslationError("FWT302", f"{rule.keras[0]}: axis on a tensor of unknown rank",
                                           line_of(node))
            else:
                value = _map_axis(value, first_meta)
        if p.has_torch_default and value == p.torch_default:
            continue
        kwargs.append((p.torch, to_node(value) if value is not UNKNOWN else bound[p.keras]))
    expr = call(ft.imports.ref(rule.torch), args, kwargs)
    return expr, _out_meta(rule, consts, [m for _, items in converted.items() for _, m in items], want)


def _map_axis(value, meta: TensorMeta):
    if value is None or meta is None or meta.rank is None:
        return value
    if isinstance(value, (tuple, list)):
        return tuple(torch_axis(a, meta.rank, meta.layout) for a in value)
    return torch_axis(value, meta.rank, meta.layout)


def _out_meta(rule: OpRule, consts: dict, metas, layout: str) -> TensorMeta | None:
    known = [m for m in metas if m is not None]
    if not known:
        return None
    first = known[0]
    shape = None
    if all(m.shape is not None for m in known):
        try:
            shape = SHAPE_FUNCTIONS[rule.shape](consts, [m.shape for m in known])[0]
        except (ShapeError, KeyError, TypeError, IndexError):
            shape = None
    if shape is None or len(shape) <= 2:
        out_layout = "cl" if shape is not None else (layout if rule.shape in ("same", "broadcast", "concat") else "cl")
    elif rule.shape == "reduce" and layout == "cf" and not consts.get("keepdims"):
        axis = consts.get("axis")
        axes = {a % first.rank for a in (axis if isinstance(axis, (tuple, list)) else (axis,))}
        out_layout = "cl" if (first.rank - 1) in axes else "cf"
    else:
        out_layout = layout
    if shape is None and out_layout == "cf":
        return replace(first, shape=None)
    return TensorMeta(shape, out_layout, first.dtype)
