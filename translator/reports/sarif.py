"""The run's findings as a SARIF 2.1.0 log (for code-scanning UIs and editors).

One run; `tool.driver.rules` lists every FWT code (id, name, short and full description, help,
default level); each finding is a result with its ruleId/ruleIndex, level (error / warning / note),
message, and a physical location: the file's path relative to the source directory
(`uriBaseId` SRCROOT, declared in `originalUriBaseIds`) and, when the finding has a line, a region
with startLine (and startColumn, 1-based).
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from ..findings import CODES
from .hints import hint

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"error": "error", "warning": "warning", "info": "note"}
INFORMATION_URI = "https://github.com/fwtranslate/fwtranslate"


def _rule_name(title: str) -> str:
    return "".join(w[:1].upper() + w[1:] for w in title.replace(":", " ").replace("-", " ").split()
                   if w.isidentifier() or w.isalnum())


def rules() -> list[dict]:
    out = []
    for code, (severity, title) in sorted(CODES.items()):
        out.append({"id": code, "name": _rule_name(title) or code,
                    "shortDescription": {"text": title},
                    "fullDescription": {"text": f"{title}. {hint(code)}".strip()},
                    "help": {"text": hint(code) or title},
                    "defaultConfiguration": {"level": LEVELS.get(severity, "error")}})
    return out


def _uri(path: str) -> str:
    return quote(Path(path).as_posix(), safe="/")


def sarif_log(run) -> dict:
    from .. import __version__
    rule_list = rules()
    index = {r["id"]: i for i, r in enumerate(rule_list)}
    results = []
    for f in run.files:
        for x in f.findings:
            if x.code == "FWT904":          # "no model definition": about no line, noise in a code-scanning UI
                continue
            location = {"physicalLocation": {"artifactLocation": {"uri": _uri(f.path), "uriBaseId": "SRCROOT"}}}
            if x.line and x.line > 0:
                location["physicalLocation"]["region"] = {"startLine": int(x.line),
                                                          "startColumn": int(x.col or 0) + 1}
            result = {"ruleId": x.code, "level": LEVELS.get(x.severity, "error"),
                      "message": {"text": x.message}, "locations": [location]}
            if x.code in index:
                result["ruleIndex"] = index[x.code]
            results.append(result)
    root = Path(run.source).resolve()
    base = root.as_uri() + ("/" if root.is_dir() else "")
    if not root.is_dir():
        base = root.parent.as_uri() + "/"
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "fwtranslate", "version": __version__, "semanticVersion": __version__,
                                "informationUri": INFORMATION_URI, "rules": rule_list}},
            "originalUriBaseIds": {"SRCROOT": {"uri": base}},
            "invocations": [{"executionSuccessful": True, "exitCode": run.exit_code}],
            "results": results,
        }],
    }
