"""Inline helper functions that build part of a model (`x = conv_block(x, 64)`) into forward.

Layers created in each call become separate modules; the helper's local names are renamed where they
would clash with the caller's; the helper's single trailing `return` gives the result.
"""
from __future__ import annotations

import libcst as cst

from ..cst_walk import find_all, node_code, transform
from ..findings import TranslationError
from ..ir import UNKNOWN
from ..positions import line_of
from ..values import evaluate, to_node

def _assigned(body) -> set[str]:
    names: set[str] = set()
    for stmt in body:
        for node in find_all(stmt, (cst.AssignTarget, cst.AugAssign, cst.For), skip=cst.FunctionDef):
            _collect(node.target, names)
    return names


def _collect(target, names):
    if isinstance(target, cst.Name):
        names.add(target.value)
    elif isinstance(target, (cst.Tuple, cst.List)):
        for el in target.elements:
            _collect(el.value, names)


_NAMES_ONLY = {cst.Attribute: ("attr",), cst.Arg: ("keyword",)}   # attribute and keyword names stay


def rename(node, mapping: dict[str, str], values: dict | None = None):
    """`node.visit(_Rename(mapping, values))`, by a faster walk (translator.cst_walk.transform)."""
    values = values or {}

    def leave_name(original, updated):
        if updated.value in values:
            return values[updated.value]
        new = mapping.get(updated.value)
        return updated.with_changes(value=new) if new else updated
    return transform(node, {cst.Name: leave_name}, keep=_NAMES_ONLY)


class _Rename(cst.CSTTransformer):
    """Rename locals (name -> name) and substitute value parameters (name -> expression)."""

    def __init__(self, mapping: dict[str, str], values: dict | None = None):
        self.mapping = mapping
        self.values = values or {}

    def leave_Name(self, original, updated):
        if updated.value in self.values:
            return self.values[updated.value]
        new = self.mapping.get(updated.value)
        return updated.with_changes(value=new) if new else updated

    def leave_Attribute(self, original, updated):
        return updated.with_changes(attr=original.attr)

    def leave_Arg(self, original, updated):
        return updated.with_changes(keyword=original.keyword)


def bind_call(func: cst.FunctionDef, node: cst.Call) -> dict[str, cst.BaseExpression]:
    params = list(func.params.posonly_params) + list(func.params.params)
    bound: dict[str, cst.BaseExpression] = {}
    positional = [a for a in node.args if a.keyword is None]
    if any(a.star for a in node.args) or func.params.star_arg is not cst.MaybeSentinel.DEFAULT \
            and isinstance(func.params.star_arg, cst.Param) or func.params.star_kwarg is not None:
        raise TranslationError("FWT103", f"helper '{func.name.value}': *args/**kwargs are not inlined",
                               line_of(node))
    if len(positional) > len(params):
        raise TranslationError("FWT103", f"helper '{func.name.value}': too many arguments", line_of(node))
    for p, a in zip(params, positional):
        bound[p.name.value] = a.value
    for a in node.args:
        if a.keyword is not None:
            bound[a.keyword.value] = a.value
    for p in params + list(func.params.kwonly_params):
        if p.name.value not in bound:
            if p.default is None:
                raise TranslationError("FWT103", f"helper '{func.name.value}': argument "
                                       f"'{p.name.value}' missing", line_of(node))
            bound[p.name.value] = p.default
    return bound


def inline_call(ft, func: cst.FunctionDef, node: cst.Call, result_name: str | None):
    """Statements computing the helper's result into a name; returns (statements, result name, meta)."""
    body, inlinable, reassigned = _helper_facts(ft, func)
    if not inlinable:
        raise TranslationError("FWT103", f"helper '{func.name.value}' must end with its only return "
                               "statement to be inlined", line_of(node))
    bound = bind_call(func, node)
    tensor_params, value_params = {}, {}
    pre = []
    for name, arg in bound.items():
        expr, meta = ft.expr(arg)
        if meta is not None:
            tensor_params[name] = (expr, meta)
        else:
            value_params[name] = (evaluate(arg, ft.scope), arg)
    mapping = {name: expr.value for name, (expr, _) in tensor_params.items()
               if isinstance(expr, cst.Name) and name not in reassigned}
    for name in sorted((reassigned | set(tensor_params)) - set(mapping)):
        mapping[name] = ft.fresh_name(name)
    scope = dict(ft.scope)
    substitutes = {}
    for name, (value, arg) in value_params.items():
        if value is UNKNOWN:
            raise TranslationError("FWT103", f"helper '{func.name.value}': argument '{name}' must be a "
                                   "constant or a builder parameter", line_of(node))
        if name in reassigned:
            raise TranslationError("FWT103", f"helper '{func.name.value}' reassigns its argument '{name}'",
                                   line_of(node))
        scope[name] = value
        substitutes[name] = to_node(value)
        mapping.pop(name, None)
    for name, (expr, meta) in tensor_params.items():
        target = mapping[name]
        if isinstance(expr, cst.Name) and expr.value == target:
            pass
        else:
            pre.append(cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(cst.Name(target))], expr)]))
        ft.env[target] = meta
    renamed = [rename(s, mapping, substitutes) for s in body]
    ret = renamed[-1].body[0]
    result = result_name or ft.fresh_name(f"{func.name.value}_out")
    final = cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(cst.Name(result))], ret.value)])
    saved = ft.scope
    ft.scope = scope
    try:
        statements = ft.block(renamed[:-1] + [final])
    finally:
        ft.scope = saved
    comment = cst.EmptyLine(comment=cst.Comment(f"# {node_code(node)}"))
    out = pre + statements
    if out:
        out[0] = out[0].with_changes(leading_lines=[comment] + list(out[0].leading_lines))
    return out, result, ft.env.get(result)


def _helper_facts(ft, func: cst.FunctionDef) -> tuple[list, bool, set[str]]:
    """(body without docstring, whether its only return ends it, names it assigns), once per helper and
    forward pass (kept on the ForwardTranslator: it holds the helpers, so their ids stay theirs)."""
    facts = ft.__dict__.setdefault("_helper_facts", {})
    entry = facts.get(id(func))
    if entry is None:
        body = [s for s in func.body.body if not _is_docstring(s)]
        inlinable = bool(body) and _is_return(body[-1]) and not any(_has_return(s) for s in body[:-1])
        entry = facts[id(func)] = (func, body, inlinable, _assigned(body) if inlinable else set())
    return entry[1], entry[2], entry[3]


def _is_docstring(stmt) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and \
        isinstance(stmt.body[0], cst.Expr) and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))


def _is_return(stmt) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and \
        isinstance(stmt.body[0], cst.Return) and stmt.body[0].value is not None


def _has_return(stmt) -> bool:
    return bool(find_all(stmt, cst.Return, skip=cst.FunctionDef))
