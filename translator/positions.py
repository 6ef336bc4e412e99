"""Source line numbers of CST nodes for the translation in progress (for findings).

The line of a node is the start line that libcst's PositionProvider gives it (syntactic positions:
a statement's line is that of its first token, not of the comments above it). The table is built on
the first look-up, by one code generation pass that tracks lines only: libcst's MetadataWrapper also
runs a full visitor pass and tracks columns, which cost twice the time of parsing the file.
"""
from __future__ import annotations

import re
from contextvars import ContextVar

import libcst as cst
from libcst._nodes.internal import CodegenState

from . import codegen_fast
from .cst_walk import NO_POSITION

_NEWLINE = re.compile(r"\r\n?|\n")


class LineTable(dict):
    """id(node) -> start line; filled from the module on the first look-up of a missing node.
    Entries set by hand (a call site's line for generated code) are kept."""

    def __init__(self, module: cst.Module | None = None):
        super().__init__()
        self.module = module

    def line(self, key: int) -> int:
        value = self.get(key)
        if value is None and self.module is not None:
            module, self.module = self.module, None
            for k, v in module_lines(module).items():
                self.setdefault(k, v)
            value = self.get(key)
        return value or 0


_LINES: ContextVar[dict] = ContextVar("fwt_lines", default=LineTable())


def index_positions(module: cst.Module) -> cst.Module:
    """Make `module` the tree that line_of answers for (its lines are computed when first asked)."""
    _LINES.set(LineTable(module))
    return module


def line_of(node) -> int:
    table = _LINES.get()
    if isinstance(table, LineTable):
        return table.line(id(node))
    return table.get(id(node), 0)




class _LineState(CodegenState):
    """Code generation that only counts lines and records each node's start line, as
    libcst.metadata.PositionProvider does: the syntactic start where the node records one, else the
    line where its code (leading whitespace included) begins."""

    __slots__ = ("line", "table", "starts")

    def __init__(self, module: cst.Module):
        super().__init__(default_indent=module.default_indent, default_newline=module.default_newline)
        self.line = 1
        self.table: dict[int, int] = {}
        self.starts = self.table              # codegen_fast records the positions of the nodes it writes

    def add_indent_tokens(self) -> None:       # indentation holds no newline
        pass

    def add_token(self, value: str) -> None:
        self.tokens.append(value)
        if "\n" in value or "\r" in value:
            self.line += len(_NEWLINE.findall(value))

    def before_codegen(self, node) -> None:     # a syntactic start recorded later replaces it
        self.table.setdefault(id(node), self.line)

    def record_syntactic_position(self, node, *, start_node=None, end_node=None):
        if start_node is not None:            # known once start_node's code is generated
            return _FromNode(self.table, node, start_node)
        self.table[id(node)] = self.line
        return NO_POSITION


class _FromNode:
    __slots__ = ("table", "node", "start_node")

    def __init__(self, table, node, start_node):
        self.table, self.node, self.start_node = table, node, start_node

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        self.table[id(self.node)] = self.table[id(self.start_node)]
        return False


def module_lines(module: cst.Module) -> dict[int, int]:
    """id(node) -> start line, for every node of the module."""
    state = _LineState(module)
    codegen_fast.emit(module, state)
    return state.table
