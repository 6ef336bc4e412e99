"""Definitions the Keras translation of a file may need besides its own classes (torch -> Keras).

A hatch that writes `SomeHelper(...)` in the translated code registers the helper's source here by
name (`SUPPORT[name] = source`); once the file is translated, `insert_support` puts the definition of
every registered name the module uses (and does not define) before the first top-level statement that
uses it. Only what is used is written: a class that failed to translate leaves no helper behind.
"""
from __future__ import annotations

import libcst as cst

SUPPORT: dict[str, str] = {}     # name -> source of its top-level definition


def support(refs, name: str, source: str) -> cst.Name:
    """Register `source` as the definition of `name` for the file `refs` writes; the name to write."""
    SUPPORT[name] = source
    refs.keras("ops")                     # the definitions spell keras.X: `import keras`
    if not hasattr(refs, "support"):
        refs.support = set()
    refs.support.add(name)
    return cst.Name(name)


def _names(node, wanted: set[str]) -> set[str]:
    found: set[str] = set()

    class V(cst.CSTVisitor):
        def visit_Name(self, n):
            if n.value in wanted:
                found.add(n.value)
    node.visit(V())
    return found


def insert_support(body: list, refs) -> list:
    """`body` (top-level statements) with the definitions of the registered names it uses."""
    requested = getattr(refs, "support", None)
    if not requested:
        return body
    requested = requested - {s.name.value for s in body if isinstance(s, (cst.ClassDef, cst.FunctionDef))}
    out = []
    for stmt in body:
        for name in sorted(_names(stmt, requested)) if requested else ():
            out.append(cst.parse_statement(SUPPORT[name]).with_changes(
                leading_lines=[cst.EmptyLine(), cst.EmptyLine()]))
            requested = requested - {name}
        out.append(stmt)
    return out
