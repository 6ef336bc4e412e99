"""Reports of directory runs (translator/reports/): JSON, Markdown, HTML (escaped) and SARIF 2.1.0
(structure checked against the specification's required fields), from the API and the CLI."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from translator import project
from translator.findings import CODES
from translator.reports import ReportError, format_of, render
from translator.reports.sarif import sarif_log

ROOT = Path(__file__).resolve().parents[1]
LEGACY = ROOT / "fixtures" / "legacy_project"

# a model file with a layer that has no rule (FWT101, needs attention)
UNKNOWN = '''\
import keras
from keras import layers


def build_model():
    inputs = keras.Input(shape=(8,))
    x = layers.Dense(4)(inputs)
    x = layers.MysteryLayer(units=3)(x)
    return keras.Model(inputs, x)
'''


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    return subprocess.run([sys.executable, "-m", "translator", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


@pytest.fixture(scope="module")
def run_report(tmp_path_factory):
    base = tmp_path_factory.mktemp("reports")
    src = base / "src"
    shutil.copytree(LEGACY, src)
    (src / "models" / "odd <name>&.py").write_text(UNKNOWN)
    (src / "markup.py").write_text("x = '<script>alert(1)</script>'\nif x:\n  print(x\n")   # a syntax error
    return project.run(src, base / "out", jobs=1)


def test_totals_and_headline(run_report):
    from translator.reports.common import headline
    t = run_report.totals()
    assert t["model_files"] == 4 and t["errors"] == 2 and t["needs_attention"] == 1
    assert headline(run_report) == "converted 4 files, 1 site need attention; 2 files could not be translated"


def test_markdown_report(run_report):
    md = render(run_report, "md")
    assert md.startswith("# fwtranslate report\n\n**converted 4 files, 1 site need attention; 2 files could not "
                         "be translated**")
    assert "| `models/cnn.py` | translated | build_cnn (sequential, 8 mapped layers); 10/10 sites | 0 |" in md
    assert "| `utils/preprocessing.py` | copied | no model code (copied unchanged) | 0 |" in md
    unknown = next(f for f in run_report.files if f.path.startswith("models/odd"))
    finding = next(x for x in unknown.findings if x.code == "FWT101")
    row = next(line for line in md.splitlines() if "FWT101 (unknown layer)" in line)
    assert f"`{unknown.file}:{finding.line}" in row and "MysteryLayer" in row and "add a rule" in row
    assert "| `models/odd <name>&.py` | translated |" in md        # a code span: shown literally
    # a table row never breaks: every row of the findings tables has its 5 cells
    for line in md.splitlines():
        if line.startswith("| `") and ":" in line.split("|")[1]:
            assert len(re.split(r"(?<!\\)\|", line)) == 7, line


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text, self.stack = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag not in ("meta", "br"):
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-5:])
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def test_html_report_is_escaped_and_well_formed(run_report):
    html = render(run_report, "html")
    parser = _Collector()
    parser.feed(html)
    parser.close()
    assert parser.stack == []
    assert "script" not in parser.tags and "b" not in parser.tags      # user text never becomes markup
    text = "".join(parser.text)
    assert "converted 4 files, 1 site need attention" in text
    assert "odd <name>&.py" in text                       # shown as the literal name, after unescaping
    assert "odd &lt;name&gt;&amp;.py" in html
    assert "MysteryLayer" in text and "add a rule" in text and "FWT902 (syntax error in input)" in text


def test_json_report(run_report):
    data = json.loads(render(run_report, "json"))
    assert data["totals"]["needs_attention"] == 1 and data["exit_code"] == 2
    odd = next(f for f in data["files"] if f["path"].startswith("models/odd"))
    assert odd["findings"][0]["code"] == "FWT101" and odd["findings"][0]["line"] > 0


# ---- SARIF 2.1.0 ---------------------------------------------------------------------------------------

def _check_sarif(log: dict) -> None:
    """The required properties of the SARIF 2.1.0 schema for what fwtranslate writes."""
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    assert isinstance(log["runs"], list) and len(log["runs"]) == 1
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "fwtranslate" and isinstance(driver["version"], str)
    ids = [r["id"] for r in driver["rules"]]
    assert ids == sorted(CODES) and len(set(ids)) == len(ids)
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"] and rule["help"]["text"]
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", rule["name"]), rule["name"]
    assert run["originalUriBaseIds"]["SRCROOT"]["uri"].startswith("file:///")
    assert run["originalUriBaseIds"]["SRCROOT"]["uri"].endswith("/")
    for result in run["results"]:
        assert result["message"]["text"]
        assert result["level"] in ("error", "warning", "note", "none")
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        for loc in result["locations"]:
            artifact = loc["physicalLocation"]["artifactLocation"]
            assert not artifact["uri"].startswith(("/", "file:")) and " " not in artifact["uri"]
            assert artifact["uriBaseId"] == "SRCROOT"
            region = loc["physicalLocation"].get("region")
            if region is not None:
                assert isinstance(region["startLine"], int) and region["startLine"] >= 1
                assert region["startColumn"] >= 1


def test_sarif_log(run_report):
    log = sarif_log(run_report)
    _check_sarif(log)
    results = log["runs"][0]["results"]
    by_rule = {r["ruleId"]: r for r in results}
    unknown = by_rule["FWT101"]
    assert unknown["level"] == "error" and "MysteryLayer" in unknown["message"]["text"]
    location = unknown["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "models/odd%20%3Cname%3E%26.py"
    assert location["region"]["startLine"] == 8
    syntax = [r for r in results if r["ruleId"] == "FWT902"]
    assert {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in syntax} == {
        "scripts/export_v1.py", "markup.py"}
    assert {r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in syntax} == {6, 3}
    assert len(results) == sum(1 for f in run_report.files for x in f.findings if x.code != "FWT904")


def test_report_formats_by_suffix():
    assert [format_of(p) for p in ("r.json", "r.md", "R.HTML", "r.sarif", "r.sarif.json")] == [
        "json", "md", "html", "sarif", "sarif"]
    with pytest.raises(ReportError):
        format_of("report.txt")


def test_cli_reports_and_sarif_on_stdout(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(LEGACY / "models", src)
    (src / "unknown.py").write_text(UNKNOWN)
    proc = cli(str(src), "--to", "torch", "-o", str(tmp_path / "out"), "--jobs", "1", "--format", "sarif",
               "--report", str(tmp_path / "r.md"), "--report", str(tmp_path / "r.html"),
               "--report", str(tmp_path / "r.sarif"), "--report", str(tmp_path / "r.json"))
    assert proc.returncode == 1, proc.stderr
    log = json.loads(proc.stdout)
    _check_sarif(log)
    assert json.loads((tmp_path / "r.sarif").read_text()) == log
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["FWT101"]
    assert "**converted 3 files, 1 site need attention**" in (tmp_path / "r.md").read_text()
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    assert json.loads((tmp_path / "r.json").read_text())["totals"]["needs_attention"] == 1
    proc = cli(str(src), "--to", "torch", "-o", str(tmp_path / "out"), "--report", str(tmp_path / "r.txt"))
    assert proc.returncode == 2 and "unknown report format" in proc.stderr
    # one file: reports too; SARIF on stdout needs -o (stdout carries the translation otherwise)
    proc = cli(str(src / "unknown.py"), "--to", "torch", "--format", "sarif")
    assert proc.returncode == 2 and "give -o OUT" in proc.stderr
    proc = cli(str(src / "unknown.py"), "--to", "torch", "-o", str(tmp_path / "u.py"), "--format", "sarif",
               "--report", str(tmp_path / "u.md"))
    assert proc.returncode == 1
    _check_sarif(json.loads(proc.stdout))
    assert "unknown.py" in (tmp_path / "u.md").read_text()
