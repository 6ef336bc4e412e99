"""Source line numbers of CST nodes for the translation in progress (for findings)."""
from __future__ import annotations

from contextvars import ContextVar

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

_LINES: ContextVar[dict] = ContextVar("fwt_lines", default={})


def index_positions(module: cst.Module) -> cst.Module:
    """Parse positions once; returns the module whose nodes the line table refers to."""
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    _LINES.set({id(node): pos.start.line for node, pos in positions.items()})
    return wrapper.module


def line_of(node) -> int:
    return _LINES.get().get(id(node), 0)
