"""What the human reports (Markdown, HTML) say about a run and each file, as plain strings."""
from __future__ import annotations

from .hints import hint, title


def headline(run) -> str:
    """'converted 3 files, 4 sites need attention'."""
    t = run.totals()
    text = (f"converted {t['model_files']} file{'' if t['model_files'] == 1 else 's'}, "
            f"{t['needs_attention']} site{'' if t['needs_attention'] == 1 else 's'} need attention")
    if t["errors"]:
        text += f"; {t['errors']} file{'' if t['errors'] == 1 else 's'} could not be translated"
    return text


def run_facts(run) -> list[tuple[str, str]]:
    t = run.totals()
    target = "in place" if run.in_place else (run.output or "(nothing written)")
    facts = [("source", str(run.source)), ("target framework", run.options.to), ("output", target),
             ("files", f"{t['files']} Python files: {t['translated']} with model code, {t['copied']} without, "
                       f"{t['errors']} could not be translated"),
             ("sites", f"{t['sites']}/{t['sites'] + t['failed_sites']} layer and op sites converted"),
             ("summary", run.summary())]
    if getattr(run, "mode", "write") != "write":
        facts.insert(3, ("mode", f"--{run.mode}: nothing written"))
    return facts


def converted(f) -> str:
    """What was converted in one file."""
    if f.status == "error":
        return "not translated"
    if f.status == "copied":
        return "no model code" + (" (copied unchanged)" if f.output else "")
    parts = []
    for m in f.models:
        layers = len(m.get("layers") or [])
        parts.append(f"{m.get('name')} ({m.get('form')}, {layers} mapped layer{'' if layers == 1 else 's'})")
    sites = f"{f.sites}/{f.sites + f.failed_sites} sites"
    return (", ".join(parts) + "; " if parts else "") + sites


def status(f) -> str:
    s = f.status
    if getattr(f, "would_change", None) is not None:
        s += ", would change" if f.would_change else ", up to date"
    return s


def finding_rows(f) -> list[dict]:
    """Every finding of a file: location, code, severity, title, message, hint."""
    rows = []
    for x in f.findings:
        rows.append({"location": f"{f.file}:{x.line}" + (f":{x.col}" if x.col else ""), "line": x.line,
                     "code": x.code, "severity": x.severity, "title": title(x.code), "message": x.message,
                     "hint": hint(x.code)})
    return rows
