"""Findings: what the translator could not translate, or translated with a caveat.

Code ranges (published in the README):
  FWT1xx  unknown symbol (a layer, op or model form with no rule)
  FWT2xx  unsupported argument or argument value
  FWT3xx  shape not inferable (a fallback was emitted)
  FWT4xx  layout or semantic warning (translated, but read the note)
  FWT9xx  internal error or bad input
"""
from __future__ import annotations

from contextlib import contextmanager

from dataclasses import asdict, dataclass

import libcst as cst

ERROR = "error"
WARNING = "warning"
INFO = "info"

# code -> (severity, short title). Messages carry the specifics.
CODES: dict[str, tuple[str, str]] = {
    "FWT101": (ERROR, "unknown layer"),
    "FWT102": (ERROR, "unknown op"),
    "FWT103": (ERROR, "model form not recognised"),
    "FWT104": (WARNING, "training or framework API left as is"),
    "FWT105": (INFO, "Keras-only call removed"),
    "FWT201": (ERROR, "unsupported argument"),
    "FWT202": (ERROR, "unsupported argument value"),
    "FWT203": (INFO, "argument dropped (no effect on inference)"),
    "FWT301": (WARNING, "input shape unknown: lazy module emitted"),
    "FWT302": (ERROR, "shape not inferable"),
    "FWT401": (WARNING, "layout conversion inserted"),
    "FWT402": (WARNING, "semantics differ"),
    "FWT901": (ERROR, "internal error"),
    "FWT902": (ERROR, "syntax error in input"),
    "FWT903": (ERROR, "unreadable input"),
    "FWT904": (INFO, "no model definition found"),
}


@dataclass
class Finding:
    code: str
    message: str
    line: int = 0
    col: int = 0
    file: str = "<string>"

    @property
    def severity(self) -> str:
        return CODES.get(self.code, (ERROR, ""))[0]

    @property
    def needs_attention(self) -> bool:
        return self.severity in (ERROR, WARNING)

    def format(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.code} [{self.severity}] {self.message}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["severity"] = self.severity
        return d


class TranslationError(Exception):
    """Raised inside the engine when one construct cannot be translated.

    The engine catches it at model granularity: the model is left as it was, with the finding.
    """

    def __init__(self, code: str, message: str, line: int = 0):
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line


def comment_lines(code: str, message: str) -> list[cst.EmptyLine]:
    """`# fwtranslate FWTnnn: message` (continued on `#   ` lines) as comment lines."""
    return [cst.EmptyLine(comment=cst.Comment(f"# fwtranslate {code}: {line}" if i == 0 else f"#   {line}"))
            for i, line in enumerate(message.splitlines() or [""])]


def flag(stmt, code: str, message: str):
    """Keep a statement as it was, with a finding comment above it."""
    return stmt.with_changes(leading_lines=list(stmt.leading_lines) + comment_lines(code, message))


@contextmanager
def internal_errors(line: int):
    """A bug in a rule or hatch costs one model (FWT901), never the file or the run."""
    try:
        yield
    except TranslationError:
        raise
    except RecursionError:
        raise TranslationError("FWT901", "internal error: recursion too deep", line) from None
    except Exception as exc:     # noqa: BLE001 - reported as a finding with its type and message
        raise TranslationError("FWT901", f"internal error: {type(exc).__name__}: {exc}", line) from exc
