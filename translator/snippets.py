"""Parsed code snippets, memoised: `cst.parse_expression("nn.Conv2d")` costs as much as parsing a
line of a file, and the emitters ask for the same few hundred snippets over and over.

libcst nodes are immutable, so one parsed node can stand in every tree that uses it. Callers that
key anything by a node's identity must not use these (none of the emitters does).
"""
from __future__ import annotations

import libcst as cst

_EXPRESSIONS: dict[str, cst.BaseExpression] = {}
_STATEMENTS: dict[str, cst.BaseStatement] = {}
_LIMIT = 4096


def expression(text: str) -> cst.BaseExpression:
    node = _EXPRESSIONS.get(text)
    if node is None:
        if len(_EXPRESSIONS) > _LIMIT:
            _EXPRESSIONS.clear()
        node = _EXPRESSIONS[text] = cst.parse_expression(text)
    return node


def statement(text: str) -> cst.BaseStatement:
    node = _STATEMENTS.get(text)
    if node is None:
        if len(_STATEMENTS) > _LIMIT:
            _STATEMENTS.clear()
        node = _STATEMENTS[text] = cst.parse_statement(text)
    return node
