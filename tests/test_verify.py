"""`fwtranslate verify` and `fwtranslate weights`, run as a user runs them (a subprocess), plus the
pieces that need no framework: input specifications, error statistics, timing, the report.

Each CLI run starts a worker that imports TensorFlow and torch (seconds), so the CLI cases are few:
the shipped example end to end (ONNX and timing included), deliberately broken hand-edited
translations via --against (each must fail and name the right layer and source line), integer
inputs, the time limit, a failing entry expression, and a weight-file conversion.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from translator.api import translate_source
from translator.verify.compare import error_stats
from translator.verify.inputs import (InputSpecError, check_against_interface, default_specs,
                                      make_arrays, parse_input_spec)
from translator.verify.report import exit_code, render, to_json

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT / "examples" / "mnist_cnn.py"

BN_MODEL = """\
import keras
from keras import layers


def build_model():
    inputs = keras.Input(shape=(12, 12, 3))
    x = layers.Conv2D(8, 3, padding="same")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.Conv2D(4, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(3)(x)
    return keras.Model(inputs, outputs)
"""

TOKEN_MODEL = """\
import keras
from keras import layers


def build_model(vocab=1000):
    tokens = keras.Input(shape=(40,), dtype="int64")
    x = layers.Embedding(vocab, 16)(tokens)
    x = layers.GlobalAveragePooling1D()(x)
    outputs = layers.Dense(4, activation="softmax")(x)
    return keras.Model(tokens, outputs)
"""

SLOW_MODEL = """\
import time

import keras
from keras import layers

time.sleep(120)   # user code that never finishes in time


def build_model():
    return keras.Sequential([keras.Input(shape=(4,)), layers.Dense(2)])
"""


def run(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    return subprocess.run([sys.executable, "-m", "translator", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=timeout)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def broken(source: str, old: str, new: str, **translate) -> str:
    """The translation of `source`, hand-edited: `old` replaced by `new` (which must occur once)."""
    code = translate_source(source, **translate).code
    assert code.count(old) == 1, f"{old!r} not found once in the translation:\n{code}"
    return code.replace(old, new)


# ---- input specifications (no framework) ----------------------------------------------------------------

@pytest.mark.parametrize("text, shape, dtype, low, high", [
    ("1,28,28,1", (1, 28, 28, 1), "float32", None, None),
    ("(2, 16)", (2, 16), "float32", None, None),
    ("8,40:int64:0-1000", (8, 40), "int64", 0, 1000),
    ("8,40:int32", (8, 40), "int32", None, None),
    ("4,3:float64:-1-1", (4, 3), "float64", -1.0, 1.0),
    ("4,3:float:-2.5--0.5", (4, 3), "float32", -2.5, -0.5),
    ("5,2:long:3..7", (5, 2), "int64", 3, 7),
], ids=["image", "parenthesised", "token-ids", "int-no-range", "float-range", "negative-range", "aliases"])
def test_parse_input_spec(text, shape, dtype, low, high):
    spec = parse_input_spec(text)
    assert (spec.shape, spec.dtype, spec.low, spec.high) == (shape, dtype, low, high)


@pytest.mark.parametrize("text, message", [
    ("", "empty shape"),
    ("1,None,3", "is not an integer"),
    ("1,0,3", "positive"),
    ("1,3:int99", "unknown dtype"),
    ("1,3:int64:5", "LOW-HIGH"),
    ("1,3:int64:5-5", "LOW < HIGH"),
    ("1,3:int64:0.5-3", "integer range"),
    ("1:float32:0-1:x", "SHAPE[:DTYPE[:LOW-HIGH]]"),
], ids=["empty", "unknown-dim", "zero-dim", "bad-dtype", "bad-range", "empty-range", "float-range-for-int",
        "too-many-parts"])
def test_parse_input_spec_errors(text, message):
    with pytest.raises(InputSpecError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_input_spec(text)


def test_random_inputs_are_seeded_and_typed():
    specs = [parse_input_spec("8,40:int64:0-1000"), parse_input_spec("3,5"), parse_input_spec("2,2:float32:-1-1"),
             parse_input_spec("4,4:int32")]
    a, b = make_arrays(specs, seed=3), make_arrays(specs, seed=3)
    assert [x.dtype.name for x in a] == ["int64", "float32", "float32", "int32"]
    assert [x.shape for x in a] == [(8, 40), (3, 5), (2, 2), (4, 4)]
    assert all((x == y).all() for x, y in zip(a, b))
    assert a[0].min() >= 0 and a[0].max() < 1000 and len(set(a[0].ravel().tolist())) > 100
    assert -1 <= a[2].min() and a[2].max() < 1
    assert 0 <= a[3].min() and a[3].max() < 10
    assert not (make_arrays(specs, seed=4)[1] == a[1]).all()


def test_input_specs_against_the_translated_interface():
    info = translate_source(MNIST.read_text()).models[0]
    assert [s.shape for s in default_specs(info.inputs)] == [(2, 28, 28, 1)]
    assert check_against_interface([parse_input_spec("1,28,28,1")], info.inputs) is None
    assert "rank 3" in check_against_interface([parse_input_spec("1,28,28")], info.inputs)
    assert "input shape wrong" in check_against_interface([parse_input_spec("1,32,32,1")], info.inputs)
    assert "2 --input" in check_against_interface([parse_input_spec("1,28,28,1")] * 2, info.inputs)
    with pytest.raises(InputSpecError, match="--input"):
        default_specs([{"name": "x", "keras_shape": [None, None, 8]}])


# ---- error statistics, report, timing ------------------------------------------------------------------

def test_error_stats():
    import numpy as np
    ref = np.array([[1.0, -200.0], [3.0, 0.0]], dtype=np.float32)
    same = error_stats(ref, ref.copy())
    assert same["passed"] and same["max_abs"] == 0 and same["scale"] == 200
    # the absolute tolerance scales with the output: 1e-5 * 200 = 2e-3 is allowed on the zero entry
    assert error_stats(ref, ref + np.array([[0, 0], [0, 1.5e-3]], dtype=np.float32))["passed"]
    off = error_stats(ref, ref + np.array([[0, 0], [0, 3e-3]], dtype=np.float32))
    assert not off["passed"] and off["max_abs"] == pytest.approx(3e-3, rel=1e-3)
    assert off["max_rel"] == pytest.approx(3e-3 / 200, rel=1e-3)
    assert not error_stats(ref, ref[::-1].copy())["passed"]                          # rows swapped
    assert not error_stats(ref, ref.reshape(4))["passed"]                              # shapes differ
    nan = ref.copy()
    nan[0, 0] = np.nan
    assert not error_stats(ref, nan)["passed"]
    assert error_stats(nan, nan)["passed"]                                            # NaN on both sides


def test_report_exit_codes_and_json():
    passed = {"label": "torch vs keras", "output": 0, "max_abs": 1e-8, "max_rel": 1e-8, "passed": True}
    failed = dict(passed, passed=False, max_abs=float("nan"))
    assert exit_code({"checks": [passed], "errors": []}) == 0
    assert exit_code({"checks": [passed, failed], "errors": []}) == 1
    assert exit_code({"checks": [passed], "errors": [{"step": "s", "message": "m"}]}) == 2
    assert exit_code({"checks": [], "errors": []}) == 2                 # nothing compared proves nothing
    report = {"checks": [failed], "errors": [], "job": {"file": "m.py"}}
    json.loads(to_json(report))                                         # strict JSON: no NaN literal
    assert "FAIL" in render(report) and "RESULT: NOT equivalent" in render(report)


def test_timing_returns_numbers():
    torch = pytest.importorskip("torch")
    from translator.verify import timing
    calls = []
    result = timing.measure(lambda: calls.append(1), runs=5, warmup=2)
    assert len(calls) == 7
    assert set(result) >= {"median_ms", "min_ms", "max_ms", "runs", "warmup"}
    assert result["runs"] == 5 and 0 <= result["min_ms"] <= result["median_ms"] <= result["max_ms"]
    module = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())
    fn, sync = timing.torch_runner(module, [torch.randn(2, 4)], "cpu")
    assert sync is None and fn().shape == (2, 3)
    assert timing.measure(fn, runs=3, warmup=1)["median_ms"] > 0


def test_progress_display_only_on_a_terminal():
    import io
    from translator.verify.run import Progress
    shown, hidden = io.StringIO(), io.StringIO()
    on, off = Progress(True, shown), Progress(None, hidden)      # StringIO is not a terminal
    for p in (on, off):
        p("import TensorFlow, Keras and torch")
        p.close()
    assert "import TensorFlow, Keras and torch ..." in shown.getvalue() and hidden.getvalue() == ""


# ---- the command line ---------------------------------------------------------------------------------

def _needs_frameworks():
    pytest.importorskip("torch")
    pytest.importorskip("tensorflow")
    pytest.importorskip("onnxruntime")


def test_verify_example_end_to_end(tmp_path):
    _needs_frameworks()
    report_path = tmp_path / "report.json"
    proc = run("verify", str(MNIST), "--to", "torch", "--entry", "build_model(num_classes=10)",
               "--input", "1,28,28,1", "--runs", "2", "--warmup", "1", "--json", str(report_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for row in ("torch vs keras", "onnxruntime keras export vs keras", "onnxruntime torch export vs torch",
                "onnxruntime torch export vs keras export", "keras (tf.function)", "torch (eval, inference_mode)",
                "onnxruntime, keras export", "onnxruntime, torch export", "ratio torch / keras",
                "ratio onnxruntime torch / keras", "ONNX export (keras)", "ONNX export (torch)",
                "RESULT: equivalent"):
        assert row in out, f"{row!r} missing from:\n{out}"
    assert "FAIL" not in out and proc.stderr == ""          # no progress display: stderr is not a terminal
    report = json.loads(report_path.read_text())
    assert report["exit_code"] == 0 and report["result"] == "equivalent" and report["errors"] == []
    assert [c["check"] for c in report["checks"]] == ["native", "onnx_keras", "onnx_torch", "onnx"]
    assert all(c["passed"] and c["max_abs"] < 1e-5 for c in report["checks"])
    assert report["weights"] == {"source": "random", "ported": 8,
                                 "note": "Keras initialisation; biases and normalisation statistics randomised"}
    assert report["model"]["torch_class"] == "MnistCnn" and len(report["model"]["layers"]) == 7
    assert report["job"]["inputs"][0]["shape"] == [1, 28, 28, 1]
    assert report["onnx"]["torch"]["exporter"] == "torch.onnx.export(dynamo=True)"
    assert "Conv" in report["onnx"]["keras"]["ops"] and "Conv" in report["onnx"]["torch"]["ops"]
    cpu = report["timing"]["devices"]["cpu"]
    for variant in ("keras", "torch", "ort_keras", "ort_torch"):
        assert cpu[variant]["runs"] == 2 and cpu[variant]["median_ms"] > 0
    assert report["timing"]["ratios"]["cpu"]["torch/keras"] > 0
    assert report["environment"]["torch"] and report["environment"]["tensorflow"]


BROKEN = {
    # the activation after the second convolution swapped: diverges right after conv2d_1 (line 18)
    "activation": (MNIST.read_text(), "x = F.relu(self.conv2d_1(x))", "x = torch.tanh(self.conv2d_1(x))",
                   "first diverging layer: 'conv2d_1' (Conv2D, line 18", "activation 'relu'"),
    # torch's default BatchNorm eps instead of Keras' 1e-3
    "bn-eps": (BN_MODEL, "eps=0.001", "eps=1e-05",
               "first diverging layer: 'batch_normalization' (BatchNormalization, line 8", "its output differs"),
    # Flatten in Keras (H, W, C) order while the Linear weights were permuted for torch's (C, H, W)
    "flatten-order": (MNIST.read_text(), "x = torch.flatten(x, 1)", "x = torch.flatten(x.permute(0, 2, 3, 1), 1)",
                      "first diverging layer: 'dense' (Dense, line 22", "its output differs"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_verify_against_a_broken_translation(tmp_path, case):
    _needs_frameworks()
    source, old, new, names, why = BROKEN[case]
    original = write(tmp_path, "model.py", source)
    edited = write(tmp_path, "model_torch.py", broken(source, old, new))
    report_path = tmp_path / "report.json"
    proc = run("verify", str(original), "--to", "torch", "--against", str(edited), "--no-onnx", "--no-timing",
               "--json", str(report_path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert names in proc.stdout and why in proc.stdout, proc.stdout
    assert "RESULT: NOT equivalent" in proc.stdout
    divergence = json.loads(report_path.read_text())["divergence"]
    assert divergence["found"] and divergence["translated_lines"]["called"] > divergence["translated_lines"]["defined"]
    called = edited.read_text().splitlines()[divergence["translated_lines"]["called"] - 1]
    assert f"self.{divergence['torch_path']}(" in called


def test_verify_against_an_intact_translation(tmp_path):
    _needs_frameworks()
    original = write(tmp_path, "model.py", BN_MODEL)
    translated = write(tmp_path, "model_torch.py", translate_source(BN_MODEL).code)
    proc = run("verify", str(original), "--to", "torch", "--against", str(translated), "--no-onnx", "--no-timing")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "(against " in proc.stdout and "RESULT: equivalent" in proc.stdout


def test_verify_integer_inputs_through_onnx(tmp_path):
    _needs_frameworks()
    model = write(tmp_path, "tokens.py", TOKEN_MODEL)
    report_path = tmp_path / "report.json"
    proc = run("verify", str(model), "--to", "torch", "--input", "8,40:int64:0-1000", "--no-timing",
               "--json", str(report_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "int64[8,40] in [0, 1000)" in proc.stdout
    report = json.loads(report_path.read_text())
    assert len(report["checks"]) == 4 and all(c["passed"] for c in report["checks"])
    assert report["job"]["inputs"][0]["dtype"] == "int64" and report["timing"] is None


def test_verify_time_limit(tmp_path):
    _needs_frameworks()
    model = write(tmp_path, "slow.py", SLOW_MODEL)
    start = time.monotonic()
    proc = run("verify", str(model), "--to", "torch", "--timeout", "4", "--no-onnx", "--no-timing", timeout=90)
    assert time.monotonic() - start < 60
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "time limit: the step" in proc.stdout and "after 4 s" in proc.stdout


def test_verify_errors_name_their_step(tmp_path):
    proc = run("verify", str(MNIST), "--to", "torch", "--input", "1,32,32,1")
    assert proc.returncode == 2 and "[input specification] input shape wrong" in proc.stdout
    proc = run("verify", str(MNIST), "--to", "torch", "--weights", "model.pt")
    assert proc.returncode == 2 and "not a Keras weight file" in proc.stdout
    proc = run("verify", str(MNIST), "--to", "torch", "--against", str(tmp_path / "missing.py"))
    assert proc.returncode == 2 and "[read the translation]" in proc.stdout
    proc = run("verify", str(MNIST), "--to", "torch", "--device", "tpu")
    assert proc.returncode == 2 and "--device 'tpu' is not supported" in proc.stderr


def test_verify_entry_expression_fails(tmp_path):
    _needs_frameworks()
    proc = run("verify", str(MNIST), "--to", "torch", "--entry", "build_model(nclasses=3)", "--no-onnx",
               "--no-timing")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "[build the original model] the entry expression 'build_model(nclasses=3)' failed" in proc.stdout
    assert "unexpected keyword argument 'nclasses'" in proc.stdout


@pytest.mark.skipif(not __import__("importlib").util.find_spec("torch") or
                    not __import__("torch").cuda.is_available(), reason="no CUDA device")
def test_verify_times_on_cuda(tmp_path):
    report_path = tmp_path / "report.json"
    proc = run("verify", str(MNIST), "--to", "torch", "--device", "cuda", "--no-onnx", "--runs", "3",
               "--json", str(report_path))
    report = json.loads(report_path.read_text())
    assert proc.returncode == 0, proc.stdout
    assert report["timing"]["devices"]["cuda"]["torch"]["median_ms"] > 0


# ---- weights ----------------------------------------------------------------------------------------

SAVE_KERAS_WEIGHTS = """\
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
from translator.verify.compare import randomize_weights
namespace = {}
exec(open(sys.argv[1]).read(), namespace)
model = namespace["build_model"]()
randomize_weights(model, seed=5)
model.save_weights(sys.argv[2])
x = np.random.default_rng(1).standard_normal((3, 28, 28, 1)).astype("float32")
np.save(sys.argv[3], x)
np.save(sys.argv[4], np.asarray(model(x, training=False)))
"""


def test_weights_keras_to_safetensors(tmp_path):
    _needs_frameworks()
    np = pytest.importorskip("numpy")
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    src, x_path, y_path = tmp_path / "trained.weights.h5", tmp_path / "x.npy", tmp_path / "y.npy"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-c", SAVE_KERAS_WEIGHTS, str(MNIST), str(src), str(x_path), str(y_path)],
                   check=True, env=env, timeout=180, capture_output=True)
    out = tmp_path / "mnist.safetensors"
    proc = run("weights", str(src), "--model", str(MNIST), "--to", "torch", "-o", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"wrote {out}: 8 tensors" in proc.stdout and "(pass)" in proc.stdout
    state = safetensors_torch.load_file(str(out))
    namespace: dict = {}
    exec(compile(translate_source(MNIST.read_text()).code, "mnist_torch", "exec"), namespace)
    module = namespace["build_model"]().eval()
    module.load_state_dict(state, strict=True)
    x = torch.from_numpy(np.load(x_path)).permute(0, 3, 1, 2)
    with torch.inference_mode():
        y = module(x).numpy()
    assert np.abs(y - np.load(y_path)).max() <= 1e-5


def test_weights_refuses_what_it_cannot_do(tmp_path):
    pt = tmp_path / "model.pt"
    pt.write_bytes(b"not really")
    proc = run("weights", str(pt), "--model", str(MNIST), "--to", "keras", "-o", str(tmp_path / "x.weights.h5"))
    assert proc.returncode == 2 and "--to keras takes a file with a PyTorch model" in proc.stdout
    proc = run("weights", str(pt), "--model", str(MNIST), "--to", "torch", "-o", str(tmp_path / "x.pt"))
    assert proc.returncode == 2 and "is a torch weight file" in proc.stdout
    proc = run("weights", str(tmp_path / "none.weights.h5"), "--model", str(MNIST), "--to", "torch",
               "-o", str(tmp_path / "x.pt"))
    assert proc.returncode == 2 and "no such file" in proc.stdout
    h5 = tmp_path / "w.weights.h5"
    h5.write_bytes(b"")
    proc = run("weights", str(h5), "--model", str(MNIST), "--to", "torch", "-o", str(tmp_path / "x.npz"))
    assert proc.returncode == 2 and ".safetensors or .pt" in proc.stdout


def test_default_inputs_take_the_dtypes_the_keras_model_declares():
    from types import SimpleNamespace

    from translator.verify.worker import _declared_dtypes
    specs = default_specs([{"name": "tokens", "keras_shape": [None, 40]}, {"name": "x", "keras_shape": [None, 3]}])
    model = SimpleNamespace(inputs=[SimpleNamespace(dtype="int64"), SimpleNamespace(dtype="float32")])
    assert [(s.shape, s.dtype) for s in _declared_dtypes(model, specs)] == [((2, 40), "int64"), ((2, 3), "float32")]
    assert _declared_dtypes(SimpleNamespace(), specs) == specs          # subclassed: nothing declared
