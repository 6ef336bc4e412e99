"""Small builders for torch code: references to torch names, layout permutes, axis mapping."""
from __future__ import annotations

import libcst as cst
from libcst.helpers import parse_template_expression
from libcst.helpers._template import mangle_template, mangled_name

from .. import snippets
from ..cst_walk import copy_tree, transform
from ..values import to_node

# torch path prefix -> (local spelling, import statement that provides it)
_SPELLINGS = (
    ("torch.nn.functional.", "F.", "import torch.nn.functional as F"),
    ("torch.nn.", "nn.", "from torch import nn"),
    ("torch.", "torch.", "import torch"),
)


class Imports:
    """The torch imports a translated file needs, in a stable order."""

    ORDER = ("import torch", "from torch import nn", "import torch.nn.functional as F")

    def __init__(self) -> None:
        self.needed: set[str] = set()

    def ref(self, path: str) -> cst.BaseExpression:
        for prefix, local, stmt in _SPELLINGS:
            if path.startswith(prefix):
                self.needed.add(stmt)
                return snippets.expression(local + path[len(prefix):])
        return snippets.expression(path)

    def statements(self) -> list[str]:
        return [s for s in self.ORDER if s in self.needed]


# `=` without spaces (keyword arguments); a token node, shared by every argument that uses it
TIGHT = cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace(""))


def call(func: cst.BaseExpression, args=(), kwargs=()) -> cst.Call:
    """func(*args, **kwargs) with nodes; kwargs is a sequence of (name, node)."""
    out = [cst.Arg(a) for a in args]
    out += [cst.Arg(v, keyword=cst.Name(k), equal=TIGHT) for k, v in kwargs]
    return cst.Call(func=func, args=out)


def method(obj: cst.BaseExpression, name: str, args=(), kwargs=()) -> cst.Call:
    return call(cst.Attribute(value=_atom(obj), attr=cst.Name(name)), args, kwargs)


def _atom(node: cst.BaseExpression) -> cst.BaseExpression:
    """Parenthesise an expression used as the object of an attribute access when needed."""
    if isinstance(node, (cst.Name, cst.Attribute, cst.Call, cst.Subscript)):
        return node
    return node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


_TEMPLATES: dict = {}


def template(text: str, **nodes) -> cst.BaseExpression:
    """`parse_template_expression(text, **nodes)` for expression placeholders: the template is parsed
    once, then copied with the placeholders replaced by copies of the nodes (as libcst does)."""
    key = (text, tuple(sorted(nodes)))
    parsed = _TEMPLATES.get(key)
    if parsed is None:
        if len(_TEMPLATES) > 1024:
            _TEMPLATES.clear()
        parsed = _TEMPLATES[key] = cst.parse_expression(mangle_template(text, set(nodes)))
    by_name = {mangled_name(k): v for k, v in nodes.items()}
    if not all(isinstance(v, cst.BaseExpression) for v in nodes.values()):
        return parse_template_expression(text, **nodes)

    def leave_name(original, updated):
        node = by_name.get(updated.value)
        return updated if node is None else copy_tree(node)
    return transform(parsed, {cst.Name: leave_name})


def to_cf_perm(rank: int) -> tuple:
    return (0, rank - 1) + tuple(range(1, rank - 1))


def to_cl_perm(rank: int) -> tuple:
    return (0,) + tuple(range(2, rank)) + (1,)


def permute(expr: cst.BaseExpression, perm: tuple) -> cst.BaseExpression:
    return method(expr, "permute", [to_node(p) for p in perm])


def torch_axis(keras_axis: int, rank: int, layout: str) -> int:
    """A Keras axis of a rank-`rank` tensor, as an axis of the torch tensor in `layout`."""
    a = keras_axis % rank
    if layout == "cl" or rank <= 2:
        return keras_axis if keras_axis < 0 and a == rank - 1 else a
    if a == 0:
        return 0
    return 1 if a == rank - 1 else a + 1
