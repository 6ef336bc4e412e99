"""A one-line progress bar on stderr for directory runs, drawn only on a terminal.

    bar = ProgressBar(total=40)            # enabled when the stream is a TTY (and not quiet)
    bar.clear(); print(line, file=sys.stderr); bar.advance()
    bar.close()

The bar is rewritten in place (`\\r` + erase line); lines printed between `clear()` and `advance()`
scroll above it. Disabled (not a terminal, --quiet), every method does nothing.
"""
from __future__ import annotations

import sys
import time


class ProgressBar:
    def __init__(self, total: int, stream=None, enabled: bool | None = None, width: int = 28,
                 label: str = "files"):
        self.stream = stream or sys.stderr
        if enabled is None:
            enabled = bool(getattr(self.stream, "isatty", None) and self.stream.isatty())
        self.enabled = enabled and total > 0
        self.total, self.done, self.width, self.label = total, 0, width, label
        self.started = time.monotonic()
        self.shown = False

    def render(self) -> str:
        filled = int(self.width * self.done / self.total) if self.total else self.width
        elapsed = time.monotonic() - self.started
        return (f"[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} {self.label} "
                f"({elapsed:.1f}s)")

    def draw(self) -> None:
        if self.enabled:
            self.stream.write("\r\033[K" + self.render())
            self.stream.flush()
            self.shown = True

    def clear(self) -> None:
        if self.enabled and self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.shown = False

    def advance(self, n: int = 1) -> None:
        self.done = min(self.total, self.done + n)
        self.draw()

    def close(self) -> None:
        self.clear()
