"""Read-only visits over libcst trees with libcst's visitor semantics, without its machinery.

`visit(node, {cst.Name: fn, ...})` calls `fn(n)` for every node of that exact type in the order a
`cst.CSTVisitor` with `visit_Name` would (pre-order, fields in libcst's visiting order), and does not
enter a node's children when its callback returns False -- what `node.visit(V())` does, at a fraction
of the cost: libcst's visitor dispatches on every node and every field (whitespace and tokens
included) by attribute look-up. Whitespace, comments and tokens are not entered (cst_walk's code
fields), so callbacks can be registered only for node types that can hold code.

`same_tree` / `same_code` / `CodeOf` compare trees by their code without generating it when the trees
are equal (the translators key records and check consistency by code).
"""
from __future__ import annotations

import dataclasses

import libcst as cst

from .cst_walk import _IS_NODE, _VISITED, _is_node, node_code, visit_fields


_REVERSED: dict[type, tuple[str, ...]] = {}


def _reversed_fields(kind: type) -> tuple[str, ...]:
    names = _REVERSED[kind] = tuple(reversed(_VISITED.get(kind) or visit_fields(kind)))
    return names


def visit(node: cst.CSTNode, callbacks: dict) -> None:
    """Pre-order visit calling callbacks[type(n)](n); a False result skips that node's children."""
    stack = [node]
    pop, push, extend, get = stack.pop, stack.append, stack.extend, callbacks.get
    fields = _REVERSED
    while stack:
        n = pop()
        kind = type(n)
        fn = get(kind)
        if fn is not None and fn(n) is False:
            continue
        names = fields.get(kind)
        if names is None:
            names = _reversed_fields(kind)
        for name in names:          # the last field pushed first: popped in order
            value = getattr(n, name)
            t = type(value)
            if t is tuple or t is list:
                extend(reversed(value))
            elif _IS_NODE.get(t) or _is_node(value):
                push(value)


class Found(Exception):
    """Raised by a callback to end a visit early (with the node found): `first` catches it."""

    def __init__(self, node):
        self.node = node


def first(node: cst.CSTNode, callbacks: dict):
    """visit(node, callbacks) until a callback raises Found(n): that n, else None."""
    try:
        visit(node, callbacks)
    except Found as found:
        return found.node
    return None


def skip_node(_node) -> bool:
    """A callback that does not enter the node."""
    return False


def nodes_of(node: cst.CSTNode, kind: type, skip: tuple = ()) -> list:
    """Every node of type `kind`, in libcst's visiting order, not entering nodes of the `skip` types
    (`kind` may be one of them: its nodes are reported, not entered)."""
    out = []
    callbacks = {t: skip_node for t in skip}
    if kind in skip:
        callbacks[kind] = lambda n: out.append(n) or False
    else:
        callbacks[kind] = out.append
    visit(node, callbacks)
    return out


# ---- comparing trees ------------------------------------------------------------------------------------
_ALL_FIELDS: dict[type, tuple[str, ...]] = {}


def same_tree(a, b) -> bool:
    """True when a and b are equal trees: the same node types with equal fields, whitespace included
    (so their code is the same). Shared subtrees are not entered. False does not mean the code differs."""
    stack = [(a, b)]
    pop, push, extend = stack.pop, stack.append, stack.extend
    while stack:
        x, y = pop()
        if x is y:
            continue
        kind = type(x)
        if kind is not type(y):
            return False
        if kind is tuple or kind is list:
            if len(x) != len(y):
                return False
            extend(zip(x, y))
        elif _IS_NODE.get(kind) or _is_node(x):
            names = _ALL_FIELDS.get(kind)
            if names is None:
                names = _ALL_FIELDS[kind] = tuple(f.name for f in dataclasses.fields(kind))
            for name in names:
                push((getattr(x, name), getattr(y, name)))
        elif x != y:
            return False
    return True


def same_code(a: cst.CSTNode, b: cst.CSTNode) -> bool:
    """node_code(a) == node_code(b), without generating the code when the trees are equal."""
    return same_tree(a, b) or node_code(a) == node_code(b)


class CodeOf:
    """A node standing for its code in compared keys: equal to another CodeOf when their code is the same
    (same_code: no code generated when the trees are equal), to a string when its code is that string.
    The code is generated only when a comparison needs it."""
    __slots__ = ("node", "_code")

    def __init__(self, node: cst.CSTNode):
        self.node = node
        self._code = None

    @property
    def code(self) -> str:
        if self._code is None:
            self._code = node_code(self.node)
        return self._code

    def __eq__(self, other):
        if isinstance(other, CodeOf):
            return self.node is other.node or same_tree(self.node, other.node) or self.code == other.code
        if isinstance(other, str):
            return self.code == other
        return NotImplemented

    def __hash__(self):
        return hash(self.code)

    def __repr__(self):
        return repr(self.code)
