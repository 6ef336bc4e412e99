"""Builder functions of a list of layers, called in a subclassed model's __init__, inlined there.

    def make_stage(filters, n):                       (dropped when nothing else uses it)
        stage = []
        for i in range(n):
            stage.append(layers.Conv2D(filters, 3, padding="same"))
            stage.append(layers.ReLU())
        return keras.Sequential(stage)

    self.s1 = make_stage(16, 2)              ->       s1_stage = []
                                                      for s1_i in range(2):
                                                          s1_stage.append(nn.Conv2d(3, 16, 3, padding=1))
                                                          s1_stage.append(nn.ReLU())
                                                      self.s1 = nn.Sequential(*s1_stage)

torch needs each layer's input size, which only the call site knows (Keras layers take it from their
input), so the builder's statements are written into __init__ at each `self.<attr> = builder(...)`,
where keras_seq_lists.py translates the list built there like one written by hand. The builder's locals
(parameters, assigned names, loop targets) get the attribute as prefix (fresh names, no clash with
__init__); a parameter the builder never reassigns is replaced by the call's argument when that is an
expression without calls (in parentheses where needed), else set once (`s1_filters = width * k`).

Inlined: a module-level function whose body ends with `return keras.Sequential(<name>)`, has no other
return, no nested def/class/lambda/yield/global/nonlocal, no *args/**kwargs, and whose free names are
not assigned in the __init__ that calls it. Anything else stays a call (translated as before).
"""
from __future__ import annotations

import libcst as cst

from ..cst_walk import find_all, node_code
from ..findings import TranslationError
from ..names import dotted
from ..positions import _LINES, line_of

_FORBIDDEN = (cst.FunctionDef, cst.ClassDef, cst.Lambda, cst.Yield, cst.Await, cst.Global, cst.Nonlocal)


def _body(func: cst.FunctionDef) -> list:
    body = list(func.body.body) if isinstance(func.body, cst.IndentedBlock) else []
    if body and isinstance(body[0], cst.SimpleStatementLine) and len(body[0].body) == 1 and \
            isinstance(body[0].body[0], cst.Expr) and isinstance(body[0].body[0].value,
                                                                 (cst.SimpleString, cst.ConcatenatedString)):
        body = body[1:]
    return body


def list_builder(func, table) -> str | None:
    """The list variable of a builder function (see the module doc), or None."""
    if not isinstance(func, cst.FunctionDef) or func.decorators or func.asynchronous:
        return None
    p = func.params
    if isinstance(p.star_arg, cst.Param) or p.star_kwarg is not None or p.posonly_params:
        return None
    body = _body(func)
    if len(body) < 2 or not isinstance(body[-1], cst.SimpleStatementLine) or len(body[-1].body) != 1:
        return None
    ret = body[-1].body[0]
    if not (isinstance(ret, cst.Return) and isinstance(ret.value, cst.Call)
            and table.resolve(ret.value.func) == "keras.Sequential" and len(ret.value.args) == 1
            and ret.value.args[0].keyword is None and not ret.value.args[0].star
            and isinstance(ret.value.args[0].value, cst.Name)):
        return None
    if any(find_all(s, _FORBIDDEN + (cst.Return,)) for s in body[:-1]):
        return None
    return ret.value.args[0].value.value


def _locals(func: cst.FunctionDef) -> set:
    p = func.params
    names = {x.name.value for x in list(p.params) + list(p.kwonly_params)}
    for node in find_all(func.body, (cst.AssignTarget, cst.AugAssign, cst.AnnAssign, cst.For, cst.CompFor,
                                     cst.WithItem, cst.ExceptHandler, cst.NamedExpr)):
        target = getattr(node, "target", None) or getattr(node, "asname", None) or getattr(node, "name", None)
        if target is not None:
            names |= {n.value for n in find_all(target, (cst.Name,))}
    return names


def _reassigned(func: cst.FunctionDef) -> set:
    names = set()
    for node in find_all(func.body, (cst.AssignTarget, cst.AugAssign, cst.AnnAssign, cst.For, cst.CompFor)):
        names |= {n.value for n in find_all(node.target, (cst.Name,))}
    return names


def _names(node) -> set:
    return {n.value for n in find_all(node, (cst.Name,))}


class _Rename(cst.CSTTransformer):
    """Locals renamed, parameters replaced by arguments; generated nodes keep their source lines."""

    def __init__(self, names: dict, values: dict):
        self.names, self.values = names, values

    def on_leave(self, original, updated):
        updated = super().on_leave(original, updated)
        if isinstance(original, (cst.BaseStatement, cst.BaseSmallStatement, cst.Call)) and original is not updated:
            _LINES.get()[id(updated)] = line_of(original)
        return updated

    def leave_Name(self, original, updated):
        if original.value in self.values:
            return self.values[original.value]
        if original.value in self.names:
            return updated.with_changes(value=self.names[original.value])
        return updated

    def leave_Attribute(self, original, updated):       # `layers.Conv2D`: only the value is a name read
        return updated.with_changes(attr=original.attr)

    def leave_Arg(self, original, updated):             # `strides=stride`: the keyword stays
        return updated.with_changes(keyword=original.keyword)


def _pure(node) -> bool:
    return not find_all(node, (cst.Call, cst.Lambda, cst.Yield, cst.Await, cst.NamedExpr, cst.ListComp,
                               cst.SetComp, cst.DictComp, cst.GeneratorExp))


def _parenthesised(node):
    if isinstance(node, (cst.Name, cst.Integer, cst.Float, cst.SimpleString, cst.Attribute)) or node.lpar:
        return node
    return node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def _inline(func: cst.FunctionDef, call: cst.Call, attr: str, target, taken: set, stmt) -> list | None:
    from ..backends.torch_inline import bind_call
    try:
        bound = bind_call(func, call)
    except TranslationError:
        return None
    reassigned = _reassigned(func)
    locals_ = _locals(func)
    names, values, first = {}, {}, []
    for name in sorted(locals_):
        new, i = f"{attr}_{name}", 0
        while new in taken:
            i += 1
            new = f"{attr}_{name}_{i}"
        taken.add(new)
        names[name] = new
    for p in list(func.params.params) + list(func.params.kwonly_params):
        name = p.name.value
        arg = bound[name]
        if name not in reassigned and _pure(arg):
            values[name] = _parenthesised(arg)
            continue
        first.append(cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(cst.Name(names[name]))], arg)]))
    body = _body(func)
    renamer = _Rename(names, values)
    new_body = [s.visit(renamer) for s in body[:-1]]
    ret = body[-1].body[0].value.visit(renamer)
    last = stmt.with_changes(body=[stmt.body[0].with_changes(value=ret)], leading_lines=[])
    lines = _LINES.get()
    for s in first + [last]:
        lines[id(s)] = line_of(stmt)
    out = first + new_body + [last]
    out[0] = out[0].with_changes(leading_lines=list(stmt.leading_lines) + list(out[0].leading_lines))
    lines[id(out[0])] = line_of(out[0]) or line_of(stmt)
    return out


def inline_builders(owner, cls: cst.ClassDef) -> cst.ClassDef:
    """The class with each `self.<attr> = builder(...)` statement of its __init__ replaced by the
    builder's statements (the builder noted as inlined: dropped when nothing else uses it)."""
    helpers = getattr(owner, "helpers", {}) or {}
    init = next((s for s in cls.body.body if isinstance(s, cst.FunctionDef) and s.name.value == "__init__"), None)
    if init is None or not helpers:
        return cls
    statements = list(init.body.body)
    if not any(_builder_call(s, helpers, owner.table) for s in statements):
        return cls
    taken = _names(init) | set(getattr(owner, "taken", ())) | set(helpers)
    assigned_in_init = _reassigned(init) | {p.name.value for p in list(init.params.params)
                                            + list(init.params.kwonly_params)}
    body, changed = [], False
    for stmt in statements:
        found = _builder_call(stmt, helpers, owner.table)
        if found is None:
            body.append(stmt)
            continue
        func, call, attr = found
        free = _names(func.body) - _locals(func)
        new = None if free & assigned_in_init else _inline(func, call, attr, stmt.body[0].targets[0].target,
                                                            taken, stmt)
        if new is None:
            body.append(stmt)
            continue
        owner.inlined.add(func.name.value)
        body += new
        changed = True
    if not changed:
        return cls
    new_init = init.with_changes(body=init.body.with_changes(body=body))
    _LINES.get()[id(new_init)] = line_of(init)
    new_cls = cls.with_changes(body=cls.body.with_changes(
        body=[new_init if s is init else s for s in cls.body.body]))
    _LINES.get()[id(new_cls)] = line_of(cls)
    return new_cls


def _builder_call(stmt, helpers: dict, table):
    """(builder, call, attr) for `self.<attr> = builder(...)`, else None."""
    if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Assign) and len(stmt.body[0].targets) == 1):
        return None
    small = stmt.body[0]
    text = dotted(small.targets[0].target) or ""
    value = small.value
    if not (text.startswith("self.") and text.count(".") == 1 and isinstance(value, cst.Call)
            and isinstance(value.func, cst.Name) and value.func.value in helpers):
        return None
    func = helpers[value.func.value]
    if list_builder(func, table) is None:
        return None
    return func, value, text[5:]


def used_only_in_classes(func: cst.FunctionDef, module: cst.Module, table, keras_classes: dict) -> bool:
    """Is this list builder called only as `self.<attr> = func(...)` in the __init__ of Keras classes of
    the file (so that each call is inlined, and the function itself is not translated on its own)?"""
    if list_builder(func, table) is None:
        return False
    name = func.name.value
    sites = 0
    for stmt in module.body:
        if stmt is func:
            continue
        uses = [n for n in find_all(stmt, (cst.Name,)) if n.value == name]
        if not uses:
            continue
        if not (isinstance(stmt, cst.ClassDef) and stmt.name.value in keras_classes):
            return False
        init = next((s for s in stmt.body.body if isinstance(s, cst.FunctionDef) and s.name.value == "__init__"),
                    None)
        helpers = {name: func}
        calls = [s for s in (init.body.body if init is not None else []) if _builder_call(s, helpers, table)]
        if len(calls) != len(uses):
            return False
        sites += len(calls)
    return sites > 0


__all__ = ["inline_builders", "list_builder", "used_only_in_classes", "node_code"]
