"""The command line, run as a user runs it: `python -m translator ...` in a subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CNN = """\
import keras
from keras import layers


def build_model(num_classes=10):
    inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(8, 3, activation="relu")(inputs)
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(num_classes)(x)
    return keras.Model(inputs, outputs)
"""

UNKNOWN_LAYER = """\
import keras
from keras import layers

model = keras.Sequential([
    keras.Input(shape=(16,)),
    layers.Dense(8),
    layers.FancyLayer(3),
])
"""

NO_SHAPE = """\
from tensorflow import keras
from tensorflow.keras import layers

model = keras.Sequential([
    layers.Dense(8, activation="relu"),
    layers.Dense(2),
])
"""


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    return subprocess.run([sys.executable, "-m", "translator", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=env, timeout=120)


@pytest.fixture
def src(tmp_path):
    def write(text: str | bytes, name: str = "model.py") -> Path:
        path = tmp_path / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path
    return write


def test_translates_to_stdout(src):
    path = src(CNN)
    proc = run(str(path), "--to", "torch")
    assert proc.returncode == 0, proc.stderr
    assert "class BuildModel(nn.Module):" in proc.stdout
    assert "nn.Conv2d(1, 8, 3)" in proc.stdout
    compile(proc.stdout, "out.py", "exec")
    assert "converted 4/4 layer and op sites in 1 model(s); 0 need attention" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(str(path))
    assert path.read_text() == textwrap.dedent(CNN)


def test_output_file_written_input_untouched(src, tmp_path):
    path = src(CNN)
    before = path.read_bytes()
    out = tmp_path / "out" / "model_torch.py"
    out.parent.mkdir()
    proc = run(str(path), "--to", "torch", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "class BuildModel(nn.Module):" in out.read_text()
    assert path.read_bytes() == before
    assert [p.name for p in out.parent.iterdir()] == ["model_torch.py"]   # no temp file left


def test_output_equal_to_input_refused_without_in_place(src):
    path = src(CNN)
    before = path.read_bytes()
    proc = run(str(path), "--to", "torch", "-o", str(path))
    assert proc.returncode == 2
    assert "--in-place" in proc.stderr
    assert proc.stdout == ""
    assert path.read_bytes() == before


def test_in_place_rewrites_input(src):
    path = src(CNN)
    path.chmod(0o640)
    proc = run(str(path), "--to", "torch", "--in-place")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "class BuildModel(nn.Module):" in path.read_text()
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in path.parent.iterdir()] == ["model.py"]


def test_syntax_error_exit_2_nothing_on_stdout(src, tmp_path):
    path = src("import keras\n\nx = = 1\n")
    report = tmp_path / "report.json"
    proc = run(str(path), "--to", "torch", "--json", str(report))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert f"{path}:3:" in proc.stderr
    assert "FWT902" in proc.stderr and "syntax error" in proc.stderr
    data = json.loads(report.read_text())
    assert data["exit_code"] == 2 and data["findings"][0]["code"] == "FWT902"


def test_syntax_error_in_place_leaves_file(src):
    path = src("def f(:\n    pass\n")
    proc = run(str(path), "--to", "torch", "--in-place")
    assert proc.returncode == 2
    assert path.read_text() == "def f(:\n    pass\n"


def test_empty_file(src):
    path = src("")
    proc = run(str(path), "--to", "torch")
    assert proc.returncode == 0
    assert proc.stdout == ""
    assert "FWT904 [info]" in proc.stderr and "empty file" in proc.stderr


def test_binary_file(src):
    path = src(b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\xff\xfe")
    proc = run(str(path), "--to", "torch")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "FWT903" in proc.stderr and "binary" in proc.stderr


def test_non_utf8_file(src):
    path = src("# caf\xe9\nx = 1\n".encode("latin-1"))
    proc = run(str(path), "--to", "torch")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert f"{path}:1:" in proc.stderr and "not UTF-8" in proc.stderr


def test_missing_file(tmp_path):
    proc = run(str(tmp_path / "nope.py"), "--to", "torch")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "nope.py" in proc.stderr and "no such file" in proc.stderr


def test_file_without_model_unchanged(src):
    code = "import os\n\n# a helper\ndef f(x):\n    return x + 1  # keep me\n"
    path = src(code)
    proc = run(str(path), "--to", "torch")
    assert proc.returncode == 0
    assert proc.stdout == code
    assert "FWT904" in proc.stderr and "no Keras model definition found" in proc.stderr


def test_unknown_layer_left_as_is_with_comment(src):
    path = src(UNKNOWN_LAYER)
    proc = run(str(path), "--to", "torch")
    assert proc.returncode == 1
    assert "# fwtranslate FWT101" in proc.stdout
    assert "layers.FancyLayer(3)," in proc.stdout and "keras.Sequential([" in proc.stdout
    compile(proc.stdout, "out.py", "exec")
    assert proc.stdout.replace(
        "# fwtranslate FWT101: no rule for layer 'keras.layers.FancyLayer'\n", "") == UNKNOWN_LAYER
    assert f"{path}:7:0: FWT101 [error]" in proc.stderr
    assert "1 need attention" in proc.stderr


def test_json_report(src, tmp_path):
    path = src(UNKNOWN_LAYER)
    report = tmp_path / "report.json"
    proc = run(str(path), "--to", "torch", "--json", str(report))
    assert proc.returncode == 1
    data = json.loads(report.read_text())
    assert data["exit_code"] == 1
    assert data["file"] == str(path)
    assert [f["code"] for f in data["findings"]] == ["FWT101"]
    assert data["findings"][0]["severity"] == "error" and data["findings"][0]["line"] == 7


def test_json_report_of_translated_model(src, tmp_path):
    report = tmp_path / "report.json"
    proc = run(str(src(CNN)), "--to", "torch", "--json", str(report))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(report.read_text())
    assert data["findings"] == [] and data["models"][0]["torch_class"] == "BuildModel"
    assert data["models"][0]["inputs"][0]["permute"] == [0, 3, 1, 2]


def test_input_shape_option(src):
    path = src(NO_SHAPE)
    lazy = run(str(path), "--to", "torch")
    assert lazy.returncode == 1 and "LazyLinear" in lazy.stdout and "FWT301" in lazy.stderr
    proc = run(str(path), "--to", "torch", "--input-shape", "16")
    assert proc.returncode == 0, proc.stderr
    assert "nn.Linear(16, 8)" in proc.stdout and "Lazy" not in proc.stdout


def test_bad_input_shape(src):
    proc = run(str(src(NO_SHAPE)), "--to", "torch", "--input-shape", "16,x")
    assert proc.returncode == 2 and proc.stdout == ""
    assert "--input-shape" in proc.stderr


def test_quiet(src):
    proc = run(str(src(CNN)), "--to", "torch", "--quiet")
    assert proc.returncode == 0 and proc.stderr == ""
    proc = run(str(src(UNKNOWN_LAYER)), "--to", "torch", "-q")
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "FWT101" in proc.stderr


@pytest.mark.parametrize("args", [
    pytest.param(["--to", "jax"], id="bad-target"),
    pytest.param(["--to", "torch", "--layout", "sideways"], id="bad-layout"),
    pytest.param([], id="missing-to"),
    pytest.param(["--to", "torch", "--frobnicate"], id="unknown-option"),
])
def test_bad_options_exit_2(src, args):
    proc = run(str(src(CNN)), *args)
    assert proc.returncode == 2
    assert proc.stdout == ""


def test_layout_keep(src):
    proc = run(str(src(CNN)), "--to", "torch", "--layout", "keep")
    assert proc.returncode == 0, proc.stderr
    assert "permute(0, 3, 1, 2)" in proc.stdout


def test_explicit_translate_word(src):
    proc = run("translate", str(src(CNN)), "--to", "torch")
    assert proc.returncode == 0 and "class BuildModel" in proc.stdout


def test_user_rules_dir(src, tmp_path):
    rules = tmp_path / "myrules"
    rules.mkdir()
    (rules / "fancy.yaml").write_text(textwrap.dedent("""\
        layers:
          - id: fancy
            keras: keras.layers.FancyLayer
            torch: torch.nn.Linear
            layout: cl
            shape: dense
            torch_positional: [in_features, out_features]
            params:
              - {keras: units, torch: out_features}
              - {torch: in_features, infer: channels}
            weights:
              - {keras: kernel, torch: weight, transform: transpose}
        """))
    proc = run(str(src(UNKNOWN_LAYER)), "--to", "torch", "--rules", str(rules))
    assert proc.returncode == 0, proc.stderr
    assert "nn.Linear(8, 3)" in proc.stdout


def test_bad_user_rules_exit_2(src, tmp_path):
    rules = tmp_path / "bad"
    rules.mkdir()
    (rules / "bad.yaml").write_text("layers:\n  - {id: broken, keras: x.Y, torch: torch.nn.Linear}\n")
    proc = run(str(src(CNN)), "--to", "torch", "--rules", str(rules))
    assert proc.returncode == 2 and proc.stdout == ""
    assert "bad.yaml" in proc.stderr and "broken" in proc.stderr


def test_rules_list():
    proc = run("rules")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["ID", "KIND", "KERAS", "TORCH", "SOURCE"]
    dense = next(line for line in lines if line.startswith("dense "))
    assert "keras.layers.Dense" in dense and "torch.nn.Linear" in dense and "rules/core.yaml" in dense
    assert any(line.startswith("act_relu ") for line in lines)


def test_rules_show():
    proc = run("rules", "show", "dense")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "id: dense" in out and "torch: torch.nn.Linear" in out
    assert "params:" in out and "{keras: units, torch: out_features}" in out
    assert "weights:" in out and "transform: transpose" in out
    assert run("rules", "show", "Dense").stdout == out      # by Keras class name too


def test_rules_show_unknown():
    proc = run("rules", "show", "dnese")
    assert proc.returncode == 2
    assert "dense" in proc.stderr      # a suggestion


def test_help_and_version():
    proc = run("--help")
    assert proc.returncode == 0 and "--to" in proc.stdout and "Exit codes" in proc.stdout
    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("fwtranslate ")


def test_translation_path_imports_no_framework(src):
    """Importing the CLI and translating must not import TensorFlow, Keras or torch."""
    path = src(CNN)
    code = textwrap.dedent(f"""
        import sys
        import translator.cli
        try:
            translator.cli.main([{str(path)!r}, "--to", "torch", "-q"])
        except SystemExit as exit:
            assert exit.code == 0, exit.code
        heavy = sorted(m for m in sys.modules
                       if m.split(".")[0] in ("tensorflow", "torch", "keras", "tf_keras", "jax", "numpy"))
        assert not heavy, heavy
        print("ok")
        """)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith("ok\n")


def test_console_script():
    """`fwtranslate` as installed by `pip install -e .` (skipped when the package is not installed)."""
    script = Path(sys.executable).parent / "fwtranslate"
    if not script.exists():
        pytest.skip("fwtranslate console script not installed in this environment")
    proc = subprocess.run([str(script), "examples/mnist_cnn.py", "--to", "torch"], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "class MnistCnn(nn.Module):" in proc.stdout
    assert "converted 8/8 layer and op sites in 1 model(s); 0 need attention" in proc.stderr
