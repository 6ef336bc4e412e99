"""The run report as Markdown: totals first, a table of files, then each file's findings."""
from __future__ import annotations

from .common import converted, finding_rows, headline, run_facts, status


def _cell(text) -> str:
    """A Markdown table cell: pipes escaped, line breaks as <br>, HTML-significant characters escaped."""
    s = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return s.replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def _code(text) -> str:
    s = str(text).replace("`", "'")
    return f"`{s}`"


def render_markdown(run) -> str:
    lines = ["# fwtranslate report", "", f"**{headline(run)}**", ""]
    for key, value in run_facts(run):
        lines.append(f"- {key}: {_cell(value)}")
    lines += ["", "## Files", "", "| file | status | converted | need attention |", "|---|---|---|---|"]
    for f in run.files:
        lines.append(f"| {_code(f.path)} | {_cell(status(f))} | {_cell(converted(f))} | {len(f.needs_attention)} |")
    with_findings = [f for f in run.files if [x for x in f.findings if x.code != "FWT904"]]
    if with_findings:
        lines += ["", "## Findings"]
    for f in with_findings:
        lines += ["", f"### {_code(f.path)}", "", _cell(f.line()), "",
                  "| location | code | severity | message | hint |", "|---|---|---|---|---|"]
        for row in finding_rows(f):
            if row["code"] == "FWT904":
                continue
            lines.append(f"| {_code(row['location'])} | {row['code']} ({_cell(row['title'])}) | {row['severity']} | "
                         f"{_cell(row['message'])} | {_cell(row['hint'])} |")
    return "\n".join(lines) + "\n"
