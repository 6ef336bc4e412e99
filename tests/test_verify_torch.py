"""`fwtranslate verify --to keras` and `fwtranslate weights --to keras`: a PyTorch original proven
against its Keras translation.

A worker process imports TensorFlow and torch (tens of seconds on a loaded machine), so most cases
run the worker's body in this process (`Options(isolate=False)`, the same code path after the
parent's preparation); the command line itself runs end to end three times: a fixture on a
pseudo-terminal (progress display, ONNX, timings, --json), --quiet on a pseudo-terminal, and a
weight-file conversion.

- every torch fixture (fixtures/torch_to_keras/*.torch.py, globbed: new fixtures are picked up)
  verifies: native outputs, both ONNX exports in onnxruntime, timings;
- deliberately broken translations are caught (exit 1) and localised to the right layer and
  source line: a BatchNorm eps edited by hand, a flatten in the wrong (channels-first) order
  against weights ported for channels-last, and GRU gates left in torch order by a broken port
  transform (a --rules plugin) -- the GRU case also in the Keras -> torch direction;
- weight files: a torch state_dict (.pt read with weights_only=True, .safetensors) -> Keras
  .weights.h5, loaded back here into the Keras translation and compared with torch; unsafe
  pickles and wrong files are refused naming the step;
- the progress display, on a pseudo-terminal only.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from translator.api import translate_source

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "torch_to_keras"
CASES = sorted(p.name[: -len(".torch.py")] for p in FIXTURES.glob("*.torch.py")
               if (FIXTURES / (p.name[: -len(".torch.py")] + ".entry.json")).exists())

BN_NET = """\
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, num_classes=5):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(8 * 4 * 4, 16)
        self.fc2 = nn.Linear(16, num_classes)

    def forward(self, x):
        x = self.pool(torch.relu(self.bn(self.conv(x))))
        x = torch.flatten(x, 1)
        return self.fc2(torch.relu(self.fc1(x)))
"""

GRU_NET = """\
import torch.nn as nn


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(6, 8)
        self.gru = nn.GRU(8, 12, batch_first=True)
        self.head = nn.Linear(12, 3)

    def forward(self, x):
        out, _ = self.gru(self.proj(x))
        return self.head(out)
"""

KERAS_GRU = """\
import keras
from keras import layers


def build_model():
    inputs = keras.Input(shape=(5, 6))
    x = layers.Dense(8)(inputs)
    x = layers.GRU(12, return_sequences=True)(x)
    outputs = layers.Dense(3)(x)
    return keras.Model(inputs, outputs)
"""

# A broken port: GRU kernels transposed, gates left in the other framework's order.
BROKEN_GRU_PLUGIN = '''\
from translator.rules.transforms import weight_transform


@weight_transform("gru_kernel", inverse="gru_kernel_inverse")
def gru_kernel(array, meta=None):
    return array.T


@weight_transform("gru_kernel_inverse", inverse="gru_kernel")
def gru_kernel_inverse(array, meta=None):
    return array.T
'''


def run(*args: str, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    return subprocess.run([sys.executable, "-m", "translator", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=timeout, **kwargs)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def input_args(entry: dict) -> list[str]:
    args = []
    for spec in entry["inputs"]:
        text = ",".join(str(d) for d in spec["shape"])
        if spec.get("dtype", "float32") != "float32" or "low" in spec:
            text += f":{spec.get('dtype', 'float32')}"
            if "low" in spec:
                text += f":{spec['low']}-{spec['high']}"
        args += ["--input", text]
    return args


@pytest.fixture(autouse=True)
def _frameworks():
    pytest.importorskip("torch")
    pytest.importorskip("tensorflow")


def verify_inline(file, *, to="keras", **options) -> dict:
    from translator.verify.run import Options, verify
    options.setdefault("runs", 2)
    options.setdefault("warmup", 1)
    options.setdefault("device", "cpu")
    return verify(Options(file=str(file), to=to, isolate=False, **options))


def weights_inline(src, model, output, **options) -> dict:
    from translator.verify.run import Options, convert_weights
    return convert_weights(Options(file=str(model), to="keras", weights=str(src), output=str(output),
                                   onnx=False, timing=False, isolate=False, **options))


def fixture_options(case: str) -> dict:
    entry = json.loads((FIXTURES / f"{case}.entry.json").read_text())
    specs = input_args(entry)[1::2]
    return {"entry": entry["entry"], "inputs": specs}


# ---- every torch fixture verifies --------------------------------------------------------------------

# A depthwise torch conv (groups == in == out channels) is emitted as DepthwiseConv2D: a grouped
# Conv2D would run through an XLA-compiled call on CPU that no ONNX exporter converts.
@pytest.mark.parametrize("case", CASES)
def test_fixture_verifies(case):
    pytest.importorskip("onnxruntime")
    report = verify_inline(FIXTURES / f"{case}.torch.py", **fixture_options(case))
    assert report["exit_code"] == 0, report["errors"] or report["checks"]
    kinds = {c["check"] for c in report["checks"]}
    assert {"native", "onnx_keras", "onnx_torch", "onnx"} <= kinds, kinds
    native = [c for c in report["checks"] if c["check"] == "native"]
    assert native and all(c["max_abs"] <= 1e-5 * max(1.0, c["scale"]) for c in native)
    assert all(c["label"] == "keras vs torch" for c in native)
    assert report["weights"]["source"] == "random" and report["weights"]["ported"] > 0
    cpu = report["timing"]["devices"]["cpu"]
    assert cpu["keras"]["median_ms"] > 0 and cpu["torch"]["median_ms"] > 0
    ratio = report["timing"]["ratios"]["cpu"]["keras/torch"]          # translated / original
    assert ratio == pytest.approx(cpu["keras"]["median_ms"] / cpu["torch"]["median_ms"])
    assert report["job"]["to"] == "keras" and report["divergence"] is None


# ---- broken translations are caught and localised ---------------------------------------------------

def _broken(source: str, old: str, new: str) -> str:
    code = translate_source(source, to="keras").code
    assert code.count(old) == 1, f"{old!r} not found once in the translation:\n{code}"
    return code.replace(old, new)


@pytest.mark.parametrize("case, old, new, torch_path, line", [
    # a hand-edited BatchNorm eps
    ("bn_eps", "epsilon=1e-05", "epsilon=0.01", "bn", 9),
    # flattened in torch's channels-first order, while the weights are ported for Keras' order:
    # the Dense after the flatten gets its kernel rows in the wrong order
    ("flatten_order", "x = self.flatten(x)", "x = self.flatten(keras.ops.transpose(x, (0, 3, 1, 2)))", "fc1", 11),
])
def test_broken_translation_is_localised(tmp_path, case, old, new, torch_path, line):
    from translator.verify.report import render
    original = write(tmp_path, "net.py", BN_NET)
    edited = write(tmp_path, "net_keras.py", _broken(BN_NET, old, new))
    report = verify_inline(original, entry="Net()", inputs=["2,3,8,8"], against=str(edited), onnx=False,
                           timing=False)
    assert report["exit_code"] == 1, report
    divergence = report["divergence"]
    assert divergence["found"] and divergence["kind"] == "output", divergence
    assert divergence["torch_path"] == torch_path and divergence["line"] == line
    text = render(report)
    assert "NOT equivalent" in text and f"torch module '{torch_path}'" in text and f"line {line}" in text
    attr_line = next(i for i, s in enumerate(edited.read_text().splitlines(), 1) if f"self.{torch_path} =" in s)
    assert divergence["translated_lines"]["defined"] == attr_line     # where it is in the edited translation


def test_intact_translation_against_passes(tmp_path):
    original = write(tmp_path, "net.py", BN_NET)
    translated = write(tmp_path, "net_keras.py", translate_source(BN_NET, to="keras").code)
    report = verify_inline(original, entry="Net()", inputs=["2,3,8,8"], against=str(translated), onnx=False,
                           timing=False)
    assert report["exit_code"] == 0, report


@pytest.fixture
def broken_gru_rules(tmp_path):
    """A --rules plugin that registers a broken port transform (GRU kernels transposed, gates left in
    the other framework's order); the real transforms are restored afterwards."""
    from translator.rules.transforms import INVERSES, WEIGHT_TRANSFORMS
    saved = {k: WEIGHT_TRANSFORMS[k] for k in ("gru_kernel", "gru_kernel_inverse")}
    saved_inv = {k: INVERSES.get(k) for k in saved}
    plugin = tmp_path / "broken_rules"
    plugin.mkdir()
    write(plugin, "broken_gru.py", BROKEN_GRU_PLUGIN)
    yield str(plugin)
    WEIGHT_TRANSFORMS.update(saved)
    INVERSES.update(saved_inv)


@pytest.mark.parametrize("direction", ["keras", "torch"])
def test_swapped_gru_gates_are_localised(tmp_path, direction, broken_gru_rules):
    """Caught in both directions and localised to the GRU (the intact port passes: the GRU fixtures)."""
    if direction == "keras":
        original = write(tmp_path, "tagger.py", GRU_NET)
        entry = "Tagger()"
    else:
        original = write(tmp_path, "tagger.py", KERAS_GRU)
        entry = "build_model()"
    report = verify_inline(original, to=direction, entry=entry, inputs=["2,5,6"], onnx=False, timing=False,
                           rules=(broken_gru_rules,))
    assert report["exit_code"] == 1, report
    divergence = report["divergence"]
    assert divergence["found"] and divergence["kind"] == "output", divergence
    assert divergence["keras_class"] == "GRU"
    if direction == "keras":
        assert divergence["torch_path"] == "gru" and divergence["torch_class"] == "GRU" and divergence["line"] == 8


# ---- weight files ---------------------------------------------------------------------------------

def _torch_model(seed=3):
    import torch

    from translator.verify.compare import exec_source
    from translator.verify.port_torch import randomize_torch
    torch.manual_seed(seed)
    model = exec_source(BN_NET, "bn_net")["Net"]()
    randomize_torch(model, seed)
    return model.eval()


def _check_keras_weights(model, path):
    """The .weights.h5 file loads into a fresh Keras translation and reproduces the torch model."""
    import numpy as np
    import torch

    from translator.verify.compare import exec_source
    x = np.random.default_rng(1).standard_normal((3, 3, 8, 8)).astype("float32")
    with torch.inference_mode():
        expected = model(torch.from_numpy(x)).numpy()
    keras_model = exec_source(translate_source(BN_NET, to="keras").code, "net_keras")["Net"]()
    x_keras = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    keras_model(x_keras)
    keras_model.load_weights(str(path))
    got = np.asarray(keras_model(x_keras, training=False))
    assert np.abs(got - expected).max() <= 1e-5 * max(1.0, np.abs(expected).max())


def test_weights_safetensors_to_keras(tmp_path):
    from safetensors.torch import save_file
    source = write(tmp_path, "net.py", BN_NET)
    model = _torch_model()
    src = tmp_path / "trained.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(src))
    out = tmp_path / "net.weights.h5"
    report = weights_inline(src, source, out, entry="Net()", inputs=["2,3,8,8"])
    assert report["exit_code"] == 0, report
    assert {c["check"] for c in report["checks"]} == {"native", "reloaded"}
    assert report["saved"]["path"] == str(out.resolve()) and out.exists()
    _check_keras_weights(model, out)


def test_weights_refuses_unsafe_and_wrong_files(tmp_path):
    import torch
    source = write(tmp_path, "net.py", BN_NET)
    out = tmp_path / "net.weights.h5"
    pickled = tmp_path / "pickled.pt"
    torch.save({"model": Path("not a tensor")}, pickled)          # needs arbitrary unpickling
    report = weights_inline(pickled, source, out, entry="Net()", inputs=["2,3,8,8"])
    assert report["exit_code"] == 2 and not out.exists()
    assert report["errors"][0]["step"] == "load the weights" and "weights_only=True" in report["errors"][0]["message"]
    partial = tmp_path / "partial.pt"
    state = _torch_model().state_dict()
    state.pop("fc2.bias")
    torch.save(state, partial)
    report = weights_inline(partial, source, out, entry="Net()", inputs=["2,3,8,8"])
    assert report["exit_code"] == 2 and "missing ['fc2.bias']" in report["errors"][0]["message"]
    assert not out.exists()
    report = weights_inline(partial, source, tmp_path / "x.h5", entry="Net()", inputs=["2,3,8,8"])
    assert report["exit_code"] == 2 and ".weights.h5" in report["errors"][0]["message"]
    report = verify_inline(source, entry="Net()", inputs=["2,3,8,8"], weights=str(tmp_path / "w.keras"))
    assert report["exit_code"] == 2 and "not a torch weight file" in report["errors"][0]["message"]
    report = verify_inline(source, entry="Net()", inputs=["2,8,8,3"], onnx=False, timing=False)
    assert report["exit_code"] == 2 and report["errors"][0]["step"] == "run the original model"


def test_verify_with_trained_torch_weights(tmp_path):
    import torch
    source = write(tmp_path, "net.py", BN_NET)
    weights = tmp_path / "trained.pt"
    torch.save(_torch_model(seed=5).state_dict(), weights)
    report = verify_inline(source, entry="Net()", inputs=["2,3,8,8"], weights=str(weights), onnx=False,
                           timing=False)
    assert report["exit_code"] == 0, report
    assert report["weights"]["source"] == str(weights) and report["weights"]["ported"] == 10


# ---- the command line, end to end ------------------------------------------------------------------

def test_cli_weights_pt_to_keras(tmp_path):
    import torch
    source = write(tmp_path, "net.py", BN_NET)
    model = _torch_model()
    src = tmp_path / "trained.pt"
    torch.save(model.state_dict(), src)
    out = tmp_path / "net.weights.h5"
    proc = run("weights", str(src), "--model", str(source), "--to", "keras", "--entry", "Net()",
               "--input", "2,3,8,8", "-o", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("wrote ") and out.exists()
    assert "\r" not in proc.stderr                      # stderr is not a terminal: no progress display
    _check_keras_weights(model, out)


def run_on_pty(*args: str, timeout: float = 300) -> tuple[int, str, str]:
    """The CLI with stderr on a pseudo-terminal (stdout a pipe): (exit code, stdout, terminal bytes)."""
    import pty
    import select
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "translator", *args], stdout=subprocess.PIPE,
                            stderr=slave, stdin=subprocess.DEVNULL, cwd=ROOT, env=env)
    os.close(slave)
    chunks = []
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:          # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    out = proc.stdout.read().decode()
    proc.wait(timeout=30)
    return proc.returncode, out, b"".join(chunks).decode(errors="replace")


def test_cli_fixture_on_a_terminal_shows_progress(tmp_path):
    pytest.importorskip("onnxruntime")
    case = "lenet" if "lenet" in CASES else CASES[0]
    options = fixture_options(case)
    inputs = [a for spec in options["inputs"] for a in ("--input", spec)]
    report_path = tmp_path / "report.json"
    code, out, terminal = run_on_pty("verify", str(FIXTURES / f"{case}.torch.py"), "--to", "keras",
                                     "--entry", options["entry"], *inputs, "--runs", "2", "--warmup", "1",
                                     "--device", "cpu", "--json", str(report_path))
    assert code == 0, out + terminal
    assert "RESULT: equivalent" in out and "keras vs torch" in out and "ratio keras / torch" in out
    # the long steps, each shown on one rewritten status line while it runs
    for step in ("import TensorFlow, Keras and torch", "export the translation (Keras) to ONNX",
                 "export the original (torch) to ONNX", "time keras on cpu", "time torch on cpu"):
        assert f"{step} ..." in terminal, terminal
    assert "\r\x1b[K" in terminal and terminal.rstrip(" ").endswith("\r\x1b[K")      # cleared at the end
    report = json.loads(report_path.read_text())
    assert report["exit_code"] == 0 and report["job"]["to"] == "keras"


def test_cli_quiet_on_a_terminal_shows_no_progress(tmp_path):
    original = write(tmp_path, "net.py", BN_NET)
    code, out, terminal = run_on_pty("verify", str(original), "--to", "keras", "--entry", "Net()",
                                     "--input", "2,3,8,8", "--no-onnx", "--no-timing", "--quiet")
    assert code == 0, out + terminal
    assert out.strip() == "RESULT: equivalent" and "..." not in terminal and "\r" not in terminal
