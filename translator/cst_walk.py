"""Fast read-only walks over libcst trees.

libcst's visitor machinery rebuilds every node it passes; for read-only queries (which names does this
code use?) a plain walk over the nodes' fields is several times faster. The walks here only enter the
fields that can hold code: whitespace, comments, parentheses, commas and operator tokens are skipped
(they hold no names, calls or statements).
"""
from __future__ import annotations

import dataclasses
import typing

import libcst as cst
from libcst._nodes import op as _op, whitespace as _ws
from libcst._nodes.internal import CodegenState

_SYNTAX_ONLY = (cst.LeftParen, cst.RightParen, cst.LeftSquareBracket, cst.RightSquareBracket,
                cst.LeftCurlyBrace, cst.RightCurlyBrace)
_FIELDS: dict[type, tuple[str, ...]] = {}


def _classes(tp) -> list:
    """The classes a field annotation names (Sequence/Optional/Union unwrapped); None for unknown."""
    if isinstance(tp, type):
        return [tp]
    args = typing.get_args(tp)
    if typing.get_origin(tp) is typing.Literal:
        return []
    if not args:
        return [None]              # a forward reference or another typing form: assume code
    return [c for a in args for c in _classes(a)]


def _holds_code(tp) -> bool:
    for c in _classes(tp):
        if c is None:
            return True
        if isinstance(c, type) and issubclass(c, cst.CSTNode):
            if c.__module__ in (_op.__name__, _ws.__name__) or issubclass(c, _SYNTAX_ONLY):
                continue
            return True
    return False


def code_fields(node_type: type) -> tuple[str, ...]:
    """The fields of a node type that can hold code (see the module docstring)."""
    names = _FIELDS.get(node_type)
    if names is None:
        names = _FIELDS[node_type] = tuple(f.name for f in dataclasses.fields(node_type) if _holds_code(f.type))
    return names


_IS_NODE: dict[type, bool] = {}


def _is_node(value) -> bool:
    """isinstance(value, cst.CSTNode), without the ABC machinery's cost."""
    kind = type(value)
    known = _IS_NODE.get(kind)
    if known is None:
        known = _IS_NODE[kind] = issubclass(kind, cst.CSTNode)
    return known


def child_nodes(node: cst.CSTNode) -> list:
    """The node's children that can hold code (sequences flattened), in field order."""
    names = _FIELDS.get(type(node)) or code_fields(type(node))
    out = []
    for name in names:
        value = getattr(node, name)
        kind = type(value)
        if kind is tuple or kind is list:
            out.extend(value)
        elif _IS_NODE.get(kind) or _is_node(value):
            out.append(value)
    return out


def all_names(node: cst.CSTNode) -> set[str]:
    """Every Name in the tree, attribute and keyword names included."""
    found: set[str] = set()
    stack = [node]
    pop, extend = stack.pop, stack.extend
    while stack:
        n = pop()
        if type(n) is cst.Name:
            found.add(n.value)
        else:
            extend(child_nodes(n))
    return found


def used_names(node: cst.CSTNode) -> set[str]:
    """Names the code reads or binds: not attribute names (`x.dim`) nor keywords (`dim=1`)."""
    found: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        kind = type(n)          # (these node classes have no subclasses: `is` is isinstance, cheaper)
        if kind is cst.Name:
            found.add(n.value)
        elif kind is cst.Attribute or kind is cst.Arg:
            stack.append(n.value)
        elif kind is cst.Param:
            found.add(n.name.value)
            if n.default is not None:
                stack.append(n.default)
        else:
            stack.extend(child_nodes(n))
    return found


def find_all(node: cst.CSTNode, types, skip=()) -> list:
    """The nodes of the given types in the tree (the node itself included), not entering nodes of the
    `skip` types (these are not reported either). Order: any."""
    out = []
    stack = [node]
    while stack:
        n = stack.pop()
        kind = type(n)
        if skip and _is_a(kind, skip):
            continue
        if _is_a(kind, types):
            out.append(n)
        stack.extend(child_nodes(n))
    return out


_IS_A: dict = {}


def _is_a(kind: type, types) -> bool:
    """issubclass(kind, types), memoised (isinstance on libcst's abstract classes is slow)."""
    key = (kind, types)
    known = _IS_A.get(key)
    if known is None:
        known = _IS_A[key] = issubclass(kind, types)
    return known


# libcst visits these fields in another order than they are declared (decorators before the body)
_VISIT_ORDER = {
    cst.FunctionDef: ("decorators", "asynchronous", "name", "type_parameters", "params", "returns", "body"),
    cst.ClassDef: ("decorators", "name", "type_parameters", "bases", "keywords", "body"),
    cst.IfExp: ("body", "test", "orelse"),
    cst.Arg: ("keyword", "value"),
}


def preorder(node: cst.CSTNode):
    """The tree's nodes that can hold code, in the order libcst's visitors see them."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        order = _VISIT_ORDER.get(type(n))
        if order is None:
            children = child_nodes(n)
        else:
            children = []
            for name in order:
                value = getattr(n, name)
                if isinstance(value, cst.CSTNode):
                    children.append(value)
                elif isinstance(value, (list, tuple)):
                    children.extend(value)
        stack.extend(reversed(children))


# ---- copying transforms ------------------------------------------------------------------------------
_VISITED: dict[type, tuple[str, ...]] = {}


def visit_fields(node_type: type) -> tuple[str, ...]:
    """The code fields of a node type in the order libcst's visitors visit them (read from the
    node's `_visit_and_replace_children`)."""
    names = _VISITED.get(node_type)
    if names is None:
        import inspect
        import re
        code = code_fields(node_type)
        try:
            source = inspect.getsource(node_type._visit_and_replace_children)
            order = re.findall(r'visit_\w+\(\s*self,\s*"(\w+)"', source)
        except (OSError, TypeError):
            order = []
        names = tuple(dict.fromkeys(n for n in order if n in code))
        names += tuple(n for n in code if n not in names)
        _VISITED[node_type] = names
    return names


def transform(node: cst.CSTNode, leave: dict, visit: dict | None = None, keep: dict | None = None):
    """What `node.visit(transformer)` returns for a CSTTransformer whose leave_<Type> methods are
    `leave[Type](original, updated)` and whose visit_<Type> methods are `visit[Type](node)` (a false
    result skips the children). `keep[Type]` names fields that stay the original nodes, unvisited (as
    a `leave_Attribute` returning `updated.with_changes(attr=original.attr)` does, for callbacks without
    side effects). Every node that can hold code is copied, as libcst does (so the copies have no
    source line); whitespace and tokens are shared. Callbacks run in libcst's order."""
    return _transform(node, leave, visit, keep or {})[0]


def copy_tree(node: cst.CSTNode) -> cst.CSTNode:
    """A copy of the tree whose nodes that can hold code are new objects (as node.deep_clone())."""
    return _transform(node, {}, None, {})[0]


_ALL_FIELDS: dict[type, tuple[str, ...]] = {}
_new = object.__new__
_set = object.__setattr__


def _copy(node, kind, changes: dict):
    """A copy of a node with some fields replaced by copies of theirs (no validation: it is the
    validated node's shape)."""
    names = _ALL_FIELDS.get(kind)
    if names is None:
        names = _ALL_FIELDS[kind] = tuple(f.name for f in dataclasses.fields(kind))
    new = _new(kind)
    for name in names:
        _set(new, name, changes[name] if name in changes else getattr(node, name))
    return new


def _transform(node, leave, visit, keep):
    """(result, dirty): dirty when a callback below returned another node than the one it was given,
    so that the parents are rebuilt with libcst's validation."""
    kind = type(node)
    if visit is not None:
        before = visit.get(kind)
        if before is not None and before(node) is False:     # children skipped: the node itself
            after = leave.get(kind)
            if after is None:
                return node, False
            result = after(node, node)
            return result, result is not node
    changes = {}
    dirty = False
    kept = keep.get(kind, ())
    for name in _VISITED.get(kind) or visit_fields(kind):
        if name in kept:
            continue
        value = getattr(node, name)
        if _IS_NODE.get(type(value)) or _is_node(value):
            changes[name], d = _transform(value, leave, visit, keep)
            dirty |= d
        elif isinstance(value, (list, tuple)):
            items = []
            for v in value:
                new, d = _transform(v, leave, visit, keep)
                items.append(new)
                dirty |= d
            changes[name] = tuple(items)
    updated = node.with_changes(**changes) if dirty else _copy(node, kind, changes)
    after = leave.get(kind)
    if after is None:
        return updated, dirty
    result = after(node, updated)
    return result, dirty or result is not updated


# ---- code generation -----------------------------------------------------------------------------------
class _Syntactic:
    """A do-nothing context manager: the per-node position hook of libcst's code generation, skipped."""
    __slots__ = ()

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


NO_POSITION = _Syntactic()


class _FastCodegen(CodegenState):
    """libcst's code generation state without its per-node position hook (a generator-based context
    manager, a quarter of the cost of generating code)."""
    __slots__ = ()
    starts = None           # no positions are recorded (codegen_fast)

    def record_syntactic_position(self, node, *, start_node=None, end_node=None):
        return NO_POSITION


def module_code(module: cst.Module) -> str:
    """`module.code`, faster."""
    state = _FastCodegen(default_indent=module.default_indent, default_newline=module.default_newline)
    codegen_fast.emit(module, state)
    return "".join(state.tokens)


def node_code(node: cst.CSTNode) -> str:
    """`cst.Module([]).code_for_node(node)`, faster."""
    state = _FastCodegen(default_indent=" " * 4, default_newline="\n")
    codegen_fast.emit(node, state)
    return "".join(state.tokens)


from . import codegen_fast  # noqa: E402  (it generates code on _FastCodegen states)
