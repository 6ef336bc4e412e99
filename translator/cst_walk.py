"""Fast read-only walks over libcst trees.

libcst's visitor machinery rebuilds every node it passes; for read-only queries (which names does this
code use?) a plain walk over the nodes' fields is several times faster.
"""
from __future__ import annotations

import dataclasses

import libcst as cst

_FIELDS: dict[type, tuple[str, ...]] = {}


def child_nodes(node: cst.CSTNode) -> list:
    """The node's children (the CSTNode values of its fields, sequences flattened), in any order."""
    names = _FIELDS.get(type(node))
    if names is None:
        names = _FIELDS[type(node)] = tuple(f.name for f in dataclasses.fields(node))
    out = []
    for name in names:
        value = getattr(node, name)
        if isinstance(value, cst.CSTNode):
            out.append(value)
        elif isinstance(value, (list, tuple)):
            out.extend(v for v in value if isinstance(v, cst.CSTNode))
    return out


def all_names(node: cst.CSTNode) -> set[str]:
    """Every Name in the tree, attribute and keyword names included."""
    found: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, cst.Name):
            found.add(n.value)
        else:
            stack.extend(child_nodes(n))
    return found


def used_names(node: cst.CSTNode) -> set[str]:
    """Names the code reads or binds: not attribute names (`x.dim`) nor keywords (`dim=1`)."""
    found: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, cst.Name):
            found.add(n.value)
        elif isinstance(n, cst.Attribute):
            stack.append(n.value)
        elif isinstance(n, cst.Arg):
            stack.append(n.value)
        elif isinstance(n, cst.Param):
            found.add(n.name.value)
            if n.default is not None:
                stack.append(n.default)
        else:
            stack.extend(child_nodes(n))
    return found
