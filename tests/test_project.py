"""Directory mode: `fwtranslate DIR --to torch -o OUT` on the sample legacy project, and bad trees.

The sample project (fixtures/legacy_project/) holds two Keras 2 model files (tf_keras), a training
script (compile/fit/save_weights become PyTorch code; tests/test_training.py trains it against Keras),
utilities without models, an empty
__init__.py, a Python 2 script that no longer parses, and a non-Python file.
"""
from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from translator import project
from translator.api import translate_source

ROOT = Path(__file__).resolve().parents[1]
LEGACY = ROOT / "fixtures" / "legacy_project"

MODEL_FILES = ["models/cnn.py", "models/encoder.py", "train.py"]
COPIED_FILES = ["models/__init__.py", "utils/__init__.py", "utils/preprocessing.py"]
BROKEN = "scripts/export_v1.py"
RUN_SUMMARY = ("converted 20/20 layer and op sites in 3 files; 0 need attention; "
               "3 files without model code copied unchanged; 1 file could not be read (syntax error)")


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    return subprocess.run([sys.executable, "-m", "translator", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


@pytest.fixture(scope="module")
def migrated(tmp_path_factory):
    """One CLI run over the sample project (2 worker processes), as a user runs it."""
    base = tmp_path_factory.mktemp("legacy")
    src = base / "legacy_project"
    shutil.copytree(LEGACY, src)
    out = base / "out"
    proc = cli("legacy_project", "--to", "torch", "-o", "out", "--jobs", "2", "--json", "report.json", cwd=base)
    return src, out, proc, json.loads((base / "report.json").read_text())


def test_exit_code_and_run_summary(migrated):
    _, _, proc, _ = migrated
    assert proc.returncode == 2, proc.stderr          # the broken file is an error
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert lines[-1] == RUN_SUMMARY
    # one line per file, in path order, with the findings that concern it just before it
    per_file = [line for line in lines if ".py: " in line and not line.split(":")[1].isdigit()]
    assert [line.split(":")[0] for line in per_file] == sorted(
        f"legacy_project/{p}" for p in MODEL_FILES + COPIED_FILES + [BROKEN])
    assert "legacy_project/models/cnn.py: converted 10/10 layer and op sites in 1 model(s); 0 need attention" in lines
    assert "legacy_project/utils/preprocessing.py: no model code; copied unchanged" in lines
    assert ("legacy_project/scripts/export_v1.py:6:4: FWT902 [error] syntax error: Missing parentheses in call "
            "to 'print'. Did you mean print(...)?") in lines
    assert "FWT904" not in proc.stderr       # "no model" is said by the file's line


def test_json_report(migrated):
    _, _, _, report = migrated
    assert report["exit_code"] == 2 and report["summary"] == RUN_SUMMARY and report["jobs"] == 2
    assert report["totals"] == {
        "files": 7, "model_files": 3, "translated": 3, "copied": 3, "errors": 1, "sites": 20,
        "failed_sites": 0, "needs_attention": 0,
        "findings_by_code": {"FWT902": 1, "FWT904": 3}}
    files = {f["path"]: f for f in report["files"]}
    assert list(files) == sorted(files)
    assert {p: f["status"] for p, f in files.items()} == {
        **{p: "translated" for p in MODEL_FILES}, **{p: "copied" for p in COPIED_FILES}, BROKEN: "error"}
    assert [(f["sites"], f["exit_code"]) for f in map(files.get, MODEL_FILES)] == [(10, 0), (7, 0), (3, 0)]
    train = files["train.py"]
    assert train["findings"] == []                 # compile/fit/save_weights translated (tests/test_training.py)
    assert [m["torch_class"] for m in train["models"]] == ["Mlp"]
    broken = files[BROKEN]
    assert broken["output"] is None and broken["exit_code"] == 2
    assert [(f["code"], f["line"], f["col"], f["file"]) for f in broken["findings"]] == [
        ("FWT902", 6, 4, "legacy_project/scripts/export_v1.py")]
    assert files["models/cnn.py"]["output"] == "out/models/cnn.py"


def test_output_tree(migrated):
    src, out, _, _ = migrated
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == sorted(MODEL_FILES + COPIED_FILES)       # no broken file, no requirements.txt
    for rel in COPIED_FILES:
        assert (out / rel).read_bytes() == (src / rel).read_bytes()
    for rel in MODEL_FILES:
        code = (out / rel).read_text()
        compile(code, rel, "exec")                              # valid Python
        assert "import tf_keras" not in code and "from tf_keras" not in code and "from torch import nn" in code
        assert (out / rel).read_text() == translate_source((src / rel).read_text(), filename=rel).code
    train = (out / "train.py").read_text()
    assert ("    fit(model, optimizer, loss_fn, x, y, batch_size=32, epochs=epochs, validation_split=0.1, "
            "metrics=metrics, target_dtype=torch.long)\n") in train
    assert "    print(model)\n" in train
    assert (src / BROKEN).read_text().count('print "exporting", path') == 1    # sources untouched


# ---- the translated model files match the Keras originals ---------------------------------------------------

NUMERIC = [
    ("models/cnn.py", "build_cnn()", "Cnn", [(2, 28, 28, 1)], "float32"),
    ("models/cnn.py", "build_cnn(num_classes=5)", "Cnn", [(3, 28, 28, 1)], "float32"),
    ("models/encoder.py", "build_text_encoder()", "TextEncoder", [(2, 40)], "int32"),
    ("models/encoder.py", "build_text_encoder(embed_dim=8, filters=4)", "TextEncoder", [(2, 40)], "int32"),
    ("train.py", "build_mlp()", "Mlp", [(4, 20)], "float32"),
]


@pytest.mark.parametrize("rel,entry,model,shapes,dtype", NUMERIC, ids=[n[1] for n in NUMERIC])
def test_translated_models_match_keras(migrated, monkeypatch, rel, entry, model, shapes, dtype):
    pytest.importorskip("torch")
    pytest.importorskip("tf_keras")
    from translator.verify.compare import compare_source, random_input, randomize_weights

    src, out, _, _ = migrated
    keras_code = (src / rel).read_text()
    result = translate_source(keras_code, filename=rel)
    assert result.code == (out / rel).read_text()       # what was written is what is compared
    monkeypatch.syspath_prepend(str(out))                # train.py imports utils.preprocessing
    try:
        inputs = [random_input(s, dtype, 0, 500, seed=i) for i, s in enumerate(shapes)]
        comparison = compare_source(keras_code, entry, inputs, model, result=result,
                                    prepare=randomize_weights)
    finally:
        for name in [m for m in sys.modules if m == "utils" or m.startswith("utils.")]:
            del sys.modules[name]
    assert comparison.ok(), (comparison.max_abs, comparison.scale)


# ---- parallel == serial, in place, bad files, usage -----------------------------------------------------------

def _outputs(out: Path) -> dict:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def _comparable(report: project.RunReport) -> list:
    return [{k: v for k, v in f.to_dict().items() if k not in ("output", "file", "summary")} for f in report.files]


def test_parallel_run_equals_serial_run(migrated, tmp_path):
    src, out, _, _ = migrated
    serial = project.run(src, tmp_path / "serial", jobs=1)
    parallel = project.run(src, tmp_path / "parallel", jobs=3)
    assert _outputs(tmp_path / "serial") == _outputs(tmp_path / "parallel") == _outputs(out)
    assert _comparable(serial) == _comparable(parallel)
    assert serial.summary() == parallel.summary() == RUN_SUMMARY
    assert serial.exit_code == parallel.exit_code == 2


def test_in_place(tmp_path):
    src = tmp_path / "proj"
    shutil.copytree(LEGACY, src)
    (src / "models" / "cnn.py").chmod(0o640)
    untouched = {rel: os.stat(src / rel).st_mtime_ns for rel in COPIED_FILES + [BROKEN]}
    before = {rel: (src / rel).read_bytes() for rel in COPIED_FILES + [BROKEN]}
    proc = cli(str(src), "--to", "torch", "--in-place", "-q")
    assert proc.returncode == 2, proc.stderr
    assert "could not be read (syntax error)" in proc.stderr.splitlines()[-1]
    assert "left as they are" in proc.stderr.splitlines()[-1]
    for rel in MODEL_FILES:
        assert "from torch import nn" in (src / rel).read_text()
    assert (src / "models" / "cnn.py").stat().st_mode & 0o777 == 0o640
    assert {rel: os.stat(src / rel).st_mtime_ns for rel in untouched} == untouched   # not rewritten
    assert {rel: (src / rel).read_bytes() for rel in before} == before
    assert not [p for p in src.rglob(".*.tmp")]                 # no temporary file left behind
    # quiet: only what needs attention (the broken file) and the run summary
    assert all(("export_v1" in line or line.startswith("converted "))
               for line in proc.stderr.strip().splitlines())


def test_bad_files_are_reported_and_do_not_stop_the_run(tmp_path):
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    shutil.copy(LEGACY / "models" / "cnn.py", src / "pkg" / "cnn.py")
    (src / "pkg" / "latin1.py").write_bytes(b"# caf\xe9\nx = 1\n")
    (src / "binary.py").write_bytes(b"\x00\x01\x02garbage")
    (src / "syntax.py").write_text("import tf_keras\n\n\ndef f(:\n    pass\n")
    (src / ".hidden").mkdir()
    (src / ".hidden" / "ignored.py").write_text("x = (\n")
    (src / "__pycache__").mkdir()
    (src / "__pycache__" / "junk.py").write_text("x = (\n")
    report = project.run(src, tmp_path / "out", jobs=2)
    files = {f.path: f for f in report.files}
    assert sorted(files) == ["binary.py", "pkg/cnn.py", "pkg/latin1.py", "syntax.py"]
    assert files["pkg/cnn.py"].status == "translated" and files["pkg/cnn.py"].sites == 10
    errors = {p: (f.findings[0].code, f.findings[0].line) for p, f in files.items() if f.error}
    assert errors == {"binary.py": ("FWT903", 1), "pkg/latin1.py": ("FWT903", 1), "syntax.py": ("FWT902", 4)}
    assert report.exit_code == 2
    assert report.summary() == ("converted 10/10 layer and op sites in 1 file; 0 need attention; "
                                "3 files could not be read (binary file, not UTF-8, syntax error)")
    assert _outputs(tmp_path / "out").keys() == {"pkg/cnn.py"}


def test_exit_codes_without_errors(tmp_path):
    clean = tmp_path / "clean"
    (clean / "models").mkdir(parents=True)
    shutil.copy(LEGACY / "models" / "cnn.py", clean / "models" / "cnn.py")
    shutil.copy(LEGACY / "utils" / "preprocessing.py", clean / "prep.py")
    assert project.run(clean, tmp_path / "o1", jobs=1).exit_code == 0
    train = (LEGACY / "train.py").read_text().replace("model.fit(x, y,", "model.fit(zip(x, y),")
    (clean / "train.py").write_text(train)         # fit on a generator: an FWT104 warning, needs attention
    report = project.run(clean, tmp_path / "o2", jobs=1)
    assert report.exit_code == 1 and report.totals()["needs_attention"] == 1


def test_output_inside_source_is_skipped_on_rerun(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(LEGACY / "models", src)
    first = project.run(src, src / "translated", jobs=1)
    second = project.run(src, src / "translated", jobs=1)
    assert [f.path for f in first.files] == [f.path for f in second.files] == [
        "__init__.py", "cnn.py", "encoder.py"]


def test_usage_errors(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(LEGACY / "models", src)
    proc = cli(str(src), "--to", "torch")
    assert proc.returncode == 2 and "-o OUT" in proc.stderr and proc.stdout == ""
    proc = cli(str(src), "--to", "torch", "-o", str(src))
    assert proc.returncode == 2 and "--in-place" in proc.stderr
    (tmp_path / "file.txt").write_text("x")
    proc = cli(str(src), "--to", "torch", "-o", str(tmp_path / "file.txt"))
    assert proc.returncode == 2 and "is a file" in proc.stderr
    proc = cli(str(src), "--to", "torch", "-o", str(tmp_path / "o"), "--jobs", "0")
    assert proc.returncode == 2
    assert not (tmp_path / "o").exists()
    assert sorted(p.name for p in src.iterdir()) == ["__init__.py", "cnn.py", "encoder.py"]


# ---- plain Python takes the fast path: the same result as the engine's ---------------------------------------

PLAIN = [LEGACY / "utils" / "preprocessing.py", LEGACY / "models" / "__init__.py"] + [
    Path(importlib.import_module(name).__file__) for name in ("textwrap", "string", "json.decoder", "fractions")]


@pytest.mark.parametrize("path", PLAIN, ids=[p.name for p in PLAIN])
def test_plain_python_fast_path_matches_the_engine(path, monkeypatch):
    import translator.api as api
    text = path.read_text(encoding="utf-8")
    assert not api.mentions_keras(text)
    fast = api.translate_source(text, filename=path.name)
    monkeypatch.setattr(api, "mentions_keras", lambda code: True)
    full = api.translate_source(text, filename=path.name)
    assert fast.code == full.code == text
    assert [f.to_dict() for f in fast.findings] == [f.to_dict() for f in full.findings]
    assert (fast.sites, fast.failed_sites, fast.models, fast.error) == (0, 0, [], False)


def test_fast_path_keeps_syntax_errors_and_is_conservative():
    import translator.api as api
    assert api.translate_source("def f(:\n", filename="x.py").error
    assert api.mentions_keras("import tensorflow as tf\n") and api.mentions_keras("from tf_keras import layers\n")
    assert api.mentions_keras("# keras is mentioned only in a comment\n")


# ---- --diff and --check: nothing written ---------------------------------------------------------------------

def _tree_bytes(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_check_and_diff_against_the_sources(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(LEGACY / "models", src)
    before = _tree_bytes(src)
    check = project.run(src, None, jobs=1, mode="check")
    assert {f.path: f.would_change for f in check.files} == {"__init__.py": False, "cnn.py": True,
                                                               "encoder.py": True}
    assert check.exit_code == 1 and "2 files would change (--check: nothing written)" in check.summary()
    diff = project.run(src, None, jobs=1, mode="diff")
    cnn = next(f for f in diff.files if f.path == "cnn.py")
    assert cnn.diff.startswith("--- a/cnn.py\n+++ b/cnn.py\n@@ ") and "+class " in cnn.diff
    assert "-from tf_keras.models import Sequential" in cnn.diff
    assert _tree_bytes(src) == before and not any(f.output for f in check.files + diff.files)
    # the diff applies: patching the sources gives exactly what a real run writes
    out = tmp_path / "out"
    project.run(src, out, jobs=1)
    patched = tmp_path / "patched"
    shutil.copytree(src, patched)
    for f in diff.files:
        if f.diff:
            subprocess.run(["patch", "-p1", "-s", "-d", str(patched)], input=f.diff, text=True, check=True)
    assert _tree_bytes(patched) == {k: v for k, v in _tree_bytes(out).items()}


def test_check_against_an_output_tree_finds_stale_translations(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(LEGACY / "models", src)
    out = tmp_path / "out"
    assert project.run(src, out, jobs=1).exit_code == 0
    fresh = project.run(src, out, jobs=1, mode="check")
    assert fresh.exit_code == 0 and not any(f.would_change for f in fresh.files)
    assert all(f.line().endswith("; up to date") for f in fresh.files)
    # the model source changes after the translation was written: its translation is stale
    cnn = src / "cnn.py"
    cnn.write_text(cnn.read_text().replace("Dense(64", "Dense(32"))
    (out / "encoder.py").unlink()                       # and a translation is missing
    stale = project.run(src, out, jobs=1, mode="check")
    assert {f.path for f in stale.files if f.would_change} == {"cnn.py", "encoder.py"} and stale.exit_code == 1
    diff = project.run(src, out, jobs=1, mode="diff")
    by_path = {f.path: f.diff for f in diff.files}
    assert "-        self.dense = nn.Linear(4608, 64)" in by_path["cnn.py"]
    assert "+        self.dense = nn.Linear(4608, 32)" in by_path["cnn.py"]
    assert by_path["encoder.py"].startswith("--- /dev/null\n+++ b/encoder.py")
    assert not (out / "encoder.py").exists()


def test_cli_diff_and_check(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(LEGACY / "models", src)
    before = _tree_bytes(src)
    proc = cli(str(src), "--to", "torch", "--diff", "--jobs", "1")
    assert proc.returncode == 1 and proc.stdout.count("--- a/") == 2 and "+++ b/cnn.py" in proc.stdout
    assert proc.stderr.strip().splitlines()[-1].endswith("2 files would change (--diff: nothing written)")
    proc = cli(str(src), "--to", "torch", "--check", "--jobs", "1")
    assert proc.returncode == 1 and proc.stdout == "" and "cnn.py: converted" in proc.stderr
    assert "\r" not in proc.stderr                   # not a terminal: no progress bar
    assert _tree_bytes(src) == before
    proc = cli(str(src), "--to", "torch", "--check", "--in-place")
    assert proc.returncode == 2 and "writes nothing" in proc.stderr
    proc = cli(str(src), "--to", "torch", "--check", "--diff")
    assert proc.returncode == 2 and "choose one" in proc.stderr
    # one file: --check against an up-to-date translation passes
    out = tmp_path / "cnn_torch.py"
    assert cli(str(src / "cnn.py"), "--to", "torch", "-o", str(out)).returncode == 0
    proc = cli(str(src / "cnn.py"), "--to", "torch", "-o", str(out), "--check")
    assert proc.returncode == 0 and "up to date" in proc.stderr, proc.stderr
    proc = cli(str(src / "cnn.py"), "--to", "torch", "--diff")
    assert proc.returncode == 1 and proc.stdout.startswith("--- a/cnn.py")


def _run_on_pty(args, cwd):
    """The CLI with stderr on a pseudo-terminal: (exit code, stdout, terminal output)."""
    import pty
    import select
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "translator", *args], stdout=subprocess.PIPE, stderr=slave,
                            stdin=subprocess.DEVNULL, cwd=cwd, env=env)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    out = proc.stdout.read().decode()
    proc.wait(timeout=60)
    return proc.returncode, out, b"".join(chunks).decode(errors="replace")


def test_progress_bar_on_a_terminal_only(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(LEGACY / "models", src)
    code, _, terminal = _run_on_pty([str(src), "--to", "torch", "-o", str(tmp_path / "out"), "--jobs", "1"],
                                    tmp_path)
    assert code == 0, terminal
    assert "] 0/3 files" in terminal and "] 3/3 files" in terminal and "[" + "#" * 28 + "]" in terminal
    assert "\r\x1b[K" in terminal
    lines = terminal.replace("\r\n", "\n").split("\n")
    assert any(line.endswith("cnn.py: converted 10/10 layer and op sites in 1 model(s); 0 need attention")
               for line in lines)                    # per-file lines scroll above the bar, intact
    code, _, terminal = _run_on_pty([str(src), "--to", "torch", "-o", str(tmp_path / "out2"), "--quiet"],
                                    tmp_path)
    assert code == 0 and "files (" not in terminal and "\x1b[K" not in terminal
