"""Module-level helpers that return a layer: `self.conv1 = conv3x3(16, 32, stride)` and
`keras.Sequential([conv_block(3, 16), layers.MaxPooling2D(2), ...])` in a subclassed model.

A helper whose body (after its docstring) is one `return <call>`, possibly after assignments of plain
expressions to new local names (`padding = (kernel_size - 1) // 2`, substituted in parentheses), is
expanded at the call site: its parameters are replaced by the call's arguments (or their defaults) in
the returned expression, so the layer (or the keras.Sequential) is translated as if written there, with
the sizes of that call. The helper itself is then dropped from the translated file when nothing else
refers to it. Anything else (other statements, *args) is not expanded: the call stays an unknown
construct, as before.
"""
from __future__ import annotations

import libcst as cst

from ..cst_walk import find_all
from ..positions import _LINES, line_of
from ..backends.torch_inline import bind_call


def _returned_call(func: cst.FunctionDef) -> cst.Call | None:
    found = _helper_body(func)
    return found[1] if found is not None and not found[0] else None


_PURE_CALLS = {"int", "round", "max", "min", "abs", "float", "len"}


def _helper_body(func: cst.FunctionDef):
    """([(local, expression)], returned call) for a helper whose body is `return <call>`, after local
    assignments of plain expressions (`padding = (kernel_size - 1) // 2`), each to a new name; or None."""
    body = [s for s in func.body.body
            if not (isinstance(s, cst.SimpleStatementLine) and len(s.body) == 1 and isinstance(s.body[0], cst.Expr)
                    and isinstance(s.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))]
    if not body or any(not isinstance(s, cst.SimpleStatementLine) or len(s.body) != 1 for s in body):
        return None
    ret = body[-1].body[0]
    if not isinstance(ret, cst.Return) or not isinstance(ret.value, cst.Call):
        return None
    p = func.params
    taken = {x.name.value for x in list(p.params) + list(p.kwonly_params) + list(p.posonly_params)}
    locals_ = []
    for stmt in body[:-1]:
        small = stmt.body[0]
        if not (isinstance(small, cst.Assign) and len(small.targets) == 1
                and isinstance(small.targets[0].target, cst.Name)):
            return None
        name = small.targets[0].target.value
        calls = find_all(small.value, (cst.Call,))
        if name in taken or find_all(small.value, (cst.Lambda, cst.Yield, cst.Await, cst.NamedExpr)) \
                or any(not (isinstance(c.func, cst.Name) and c.func.value in _PURE_CALLS) for c in calls):
            return None
        taken.add(name)
        locals_.append((name, small.value))
    return locals_, ret.value


class _Substitute(cst.CSTTransformer):
    def __init__(self, bound: dict, line: int):
        self.bound, self.line = bound, line

    def leave_Name(self, original, updated):
        return self.bound.get(original.value, updated)

    def leave_Attribute(self, original, updated):      # `layers.Conv2D`: only the value is a name read
        return updated.with_changes(attr=original.attr)

    def leave_Arg(self, original, updated):            # `strides=stride`: the keyword stays
        return updated.with_changes(keyword=original.keyword)

    def leave_Call(self, original, updated):
        _LINES.get()[id(updated)] = self.line       # findings point at the call site
        return updated


def expand_helper(node, helpers: dict, used: set | None = None, depth: int = 0):
    """The expression a call of a one-`return` helper stands for (recursively), or None."""
    if not (isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value in helpers) \
            or depth > 8:
        return None
    func = helpers[node.func.value]
    found = _helper_body(func)
    if found is None:
        return None
    assignments, returned = found
    try:
        bound = bind_call(func, node)
    except Exception:       # noqa: BLE001 - not expandable: left to the normal path
        return None
    line = line_of(node)
    for name, value in assignments:      # locals computed from the parameters: substituted, in parentheses
        value = value.visit(_Substitute(dict(bound), line))
        if not isinstance(value, (cst.Name, cst.Integer, cst.Float, cst.SimpleString)) and not value.lpar:
            value = value.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        bound[name] = value
    expr = returned.visit(_Substitute(bound, line))
    _LINES.get()[id(expr)] = line
    if used is not None:
        used.add(func.name.value)
    return expand_helper(expr, helpers, used, depth + 1) or expr


def _items(node: cst.Call):
    for arg in node.args:
        if arg.keyword is None or arg.keyword.value == "layers":
            return arg.value if isinstance(arg.value, (cst.List, cst.Tuple)) else None
    return None


def sequence_items(ft, elements) -> list:
    """The layer expressions of a keras.Sequential([...]) list: calls of one-`return` helpers expanded,
    and a keras.Sequential such a helper returns spliced in (nn.Sequential children in the same order)."""
    helpers = getattr(ft, "layer_helpers", None) or ft.functions
    out = []
    for el in elements:
        value = (expand_helper(el.value, helpers, ft.inlined) if helpers else None) or el.value
        inner = _items(value) if isinstance(value, cst.Call) and \
            ft.table.resolve(value.func) == "keras.Sequential" else None
        if inner is not None and inner.elements:
            out += sequence_items(ft, inner.elements)
        else:
            out.append(value)
    return out
