"""Reports of a directory (or single-file) run: JSON, Markdown, HTML and SARIF 2.1.0.

    from translator.reports import render, write_report
    text = render(run_report, "md")              # json | md | html | sarif
    write_report(run_report, "report.html")      # the format from the suffix

All take a `translator.project.RunReport`. Per file: what was converted (models, sites), every
finding with file:line, its code's title and a hint; the totals ("converted N files, M sites need
attention"). Nothing here imports a framework.
"""
from __future__ import annotations

from pathlib import Path

FORMATS = ("json", "md", "html", "sarif")
SUFFIXES = {".json": "json", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html",
            ".sarif": "sarif"}


class ReportError(ValueError):
    pass


def format_of(path: str | Path) -> str:
    name = str(path).lower()
    if name.endswith(".sarif.json"):
        return "sarif"
    fmt = SUFFIXES.get(Path(name).suffix)
    if fmt is None:
        raise ReportError(f"--report {path}: unknown report format; name it .json, .md, .html or .sarif")
    return fmt


def render(run_report, fmt: str) -> str:
    if fmt == "json":
        return run_report.to_json() + "\n"
    if fmt == "md":
        from .markdown import render_markdown
        return render_markdown(run_report)
    if fmt == "html":
        from .html import render_html
        return render_html(run_report)
    if fmt == "sarif":
        import json

        from .sarif import sarif_log
        return json.dumps(sarif_log(run_report), indent=2) + "\n"
    raise ReportError(f"unknown report format {fmt!r}; choose one of: {', '.join(FORMATS)}")


def write_report(run_report, path: str | Path) -> None:
    from ..atomic import write_atomic
    write_atomic(Path(path), render(run_report, format_of(path)))
