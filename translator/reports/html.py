"""The run report as one self-contained HTML page (every value escaped; no scripts, no external files)."""
from __future__ import annotations

from html import escape

from .common import converted, finding_rows, headline, run_facts, status

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:75em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.3em .6em;vertical-align:top;text-align:left}
th{background:#f2f2f2}code{font-size:.95em}.error{color:#a00}.warning{color:#a60}.info{color:#555}
.headline{font-size:1.2em;font-weight:bold}
"""


def _e(text) -> str:
    return escape(str(text), quote=True)


def render_html(run) -> str:
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>fwtranslate report: {_e(run.source)}</title>", f"<style>{STYLE}</style></head><body>",
           "<h1>fwtranslate report</h1>", f'<p class="headline">{_e(headline(run))}</p>', "<ul>"]
    out += [f"<li>{_e(k)}: {_e(v)}</li>" for k, v in run_facts(run)]
    out += ["</ul>", "<h2>Files</h2>", "<table><tr><th>file</th><th>status</th><th>converted</th>"
            "<th>need attention</th></tr>"]
    for f in run.files:
        anchor = f' href="#{_e(_anchor(f.path))}"' if _shown(f) else ""
        name = f"<a{anchor}><code>{_e(f.path)}</code></a>" if anchor else f"<code>{_e(f.path)}</code>"
        out.append(f"<tr><td>{name}</td><td>{_e(status(f))}</td><td>{_e(converted(f))}</td>"
                   f"<td>{len(f.needs_attention)}</td></tr>")
    out.append("</table>")
    shown = [f for f in run.files if _shown(f)]
    if shown:
        out.append("<h2>Findings</h2>")
    for f in shown:
        out += [f'<h3 id="{_e(_anchor(f.path))}"><code>{_e(f.path)}</code></h3>', f"<p>{_e(f.line())}</p>",
                "<table><tr><th>location</th><th>code</th><th>severity</th><th>message</th><th>hint</th></tr>"]
        for row in finding_rows(f):
            if row["code"] == "FWT904":
                continue
            out.append(f'<tr class="{_e(row["severity"])}"><td><code>{_e(row["location"])}</code></td>'
                       f'<td>{_e(row["code"])} ({_e(row["title"])})</td><td>{_e(row["severity"])}</td>'
                       f'<td>{_e(row["message"])}</td><td>{_e(row["hint"])}</td></tr>')
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _shown(f) -> bool:
    return any(x.code != "FWT904" for x in f.findings)


def _anchor(path: str) -> str:
    return "file-" + "".join(c if c.isalnum() else "-" for c in path)
