"""PyTorch -> Keras: fixtures (golden + numeric), per-layer numerical tests, unsupported constructs.

Numerical checks: the torch module is built with random weights (biases, norm scales and BatchNorm
running statistics randomised too), translated to Keras (layout "native" = channels_last interface,
"keep" = NCHW interface), the Keras model is built and gets the torch weights through
`port_weights_to_keras` (each rule's weight transform applied in reverse), and

    max |torch - keras| <= 1e-5 * max(1, max |torch|)      (torch in eval(), Keras training=False)

Fixtures: fixtures/torch_to_keras/<case>.torch.py with <case>.entry.json, the reviewed translation
<case>.keras.py (native layout) and <case>.findings.txt. Regenerate the goldens with
`python tests/test_torch_to_keras.py regen` and review the diff.
"""
from __future__ import annotations

import dataclasses
import difflib
import inspect
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest

from translator import translate_file, translate_source
from translator.findings import ERROR

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "torch_to_keras"
SUFFIX = ".torch.py"
CASES = sorted(p.name[: -len(SUFFIX)] for p in FIXTURES.glob("*" + SUFFIX))
LAYOUTS = ("native", "keep")
ATOL = 1e-5

pytestmark = pytest.mark.filterwarnings(
    "ignore:Using padding='same' with even kernel lengths:UserWarning",
    "ignore:Do not pass an `input_shape`:UserWarning",
)


# ---- fixtures -------------------------------------------------------------------------------------

def spec(case: str) -> dict:
    return json.loads((FIXTURES / f"{case}.entry.json").read_text())


def translate_case(case: str, layout: str = "native"):
    path = FIXTURES / f"{case}{SUFFIX}"
    result = translate_file(path, to="keras", layout=layout)
    lines = [dataclasses.replace(f, file=path.name).format() for f in result.findings]
    return result, "".join(line + "\n" for line in lines)


def _diff(expected: str, actual: str, name: str) -> str:
    return "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True),
                                        f"{name} (golden)", f"{name} (translation)"))


def regen() -> None:
    for case in CASES:
        result, findings = translate_case(case)
        (FIXTURES / f"{case}.keras.py").write_text(result.code)
        (FIXTURES / f"{case}.findings.txt").write_text(findings)
        print(f"{case}: {len(result.findings)} finding(s)")


def test_fixtures_are_complete():
    assert set(CASES) >= {"lenet", "vgg_small", "resnet_basic", "lstm_lm", "mobilenet_v2", "dcgan_discriminator"}
    for case in CASES:
        for suffix in (".entry.json", ".keras.py", ".findings.txt"):
            assert (FIXTURES / f"{case}{suffix}").exists(), f"{case}: missing {case}{suffix}"


@pytest.mark.parametrize("case", CASES)
def test_golden(case):
    result, findings = translate_case(case)
    golden = (FIXTURES / f"{case}.keras.py").read_text()
    golden_findings = (FIXTURES / f"{case}.findings.txt").read_text()
    assert result.code == golden, _diff(golden, result.code, f"{case}.keras.py")
    assert findings == golden_findings, _diff(golden_findings, findings, f"{case}.findings.txt")


@pytest.mark.parametrize("case", CASES)
def test_fixture_compiles_without_errors_or_torch(case):
    for layout in LAYOUTS:
        result, _ = translate_case(case, layout)
        compile(result.code, f"{case}.keras.py[{layout}]", "exec")
        errors = [f.format() for f in result.findings if f.severity == ERROR]
        assert not errors and not result.error, f"{layout}: " + "\n".join(errors)
        assert not re.search(r"#\s*fwtranslate FWT", result.code), f"{layout}: markers left in the translation"
        assert not re.search(r"^\s*(import torch|from torch)", result.code, re.M), f"{layout}: torch still imported"


@pytest.mark.parametrize("case", CASES)
def test_translating_the_golden_again_changes_nothing(case):
    golden = (FIXTURES / f"{case}.keras.py").read_text()
    result = translate_source(golden, to="keras")
    assert [f.code for f in result.findings] == ["FWT904"], [f.format() for f in result.findings]
    assert result.code == golden


def _inputs(s: dict):
    import numpy as np
    rng = np.random.default_rng(0)
    out = []
    for i in s["inputs"]:
        if i.get("dtype", "float32").startswith("int"):
            out.append(rng.integers(i.get("low", 0), i.get("high", 10), size=i["shape"]).astype(i["dtype"]))
        else:
            out.append(rng.standard_normal(i["shape"]).astype("float32"))
    return out


@pytest.mark.parametrize("case, layout", [(c, lay) for c in CASES for lay in LAYOUTS],
                         ids=[f"{c}-{lay}" for c in CASES for lay in LAYOUTS])
def test_fixture_numeric(case, layout):
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    from translator.verify.port_torch import compare_torch_source
    s = spec(case)
    src = (FIXTURES / f"{case}{SUFFIX}").read_text()
    comparison = compare_torch_source(src, s["entry"], _inputs(s), s["model"], layout=layout)
    assert comparison.ok(ATOL), f"max abs error {comparison.max_abs} for output scale {comparison.scale}"


# ---- per-layer numerical tests ---------------------------------------------------------------------

HEADER = """\
import torch
import torch.nn as nn
import torch.nn.functional as F


"""


def model_source(init: str, forward: str, params: str = "x") -> str:
    init = textwrap.indent(textwrap.dedent(init).strip() or "pass", " " * 8)
    forward = textwrap.indent(textwrap.dedent(forward).strip(), " " * 8)
    return (HEADER + "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
            f"{init}\n\n    def forward(self, {params}):\n{forward}\n")


IMG = (2, 3, 12, 12)
SEQ = (2, 5, 6)

# (id, init, forward, input shapes, layouts, expected Keras snippets)
LAYER_CASES = [
    # Linear
    ("linear", "self.fc = nn.Linear(8, 4)", "return self.fc(x)", [(3, 8)], ("native",), ["layers.Dense(4)"]),
    ("linear-nobias-3d", "self.fc = nn.Linear(6, 4, bias=False)", "return self.fc(x)", [SEQ], ("native",),
     ["layers.Dense(4, use_bias=False)"]),
    # Conv1d / Conv2d
    ("conv2d-valid", "self.conv = nn.Conv2d(3, 8, 3)", "return self.conv(x)", [IMG], LAYOUTS, ["layers.Conv2D(8, 3)"]),
    ("conv2d-pad1-same", "self.conv = nn.Conv2d(3, 8, 3, padding=1)", "return self.conv(x)", [IMG], LAYOUTS,
     ['padding="same"']),
    ("conv2d-stride2-pad1-explicit", "self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)", "return self.conv(x)",
     [IMG], LAYOUTS, ["self.conv_pad = layers.ZeroPadding2D(1)", "layers.Conv2D(8, 3, strides=2)"]),
    ("conv2d-tuples", "self.conv = nn.Conv2d(3, 8, (3, 5), stride=(2, 1), padding=(1, 2))", "return self.conv(x)",
     [IMG], ("native",), ["ZeroPadding2D((1, 2))", "strides=(2, 1)"]),
    ("conv2d-same-even-kernel", "self.conv = nn.Conv2d(3, 8, 4, padding='same')", "return self.conv(x)", [IMG],
     ("native",), ['padding="same"']),
    ("conv2d-dilation", "self.conv = nn.Conv2d(3, 8, 3, dilation=2, padding=2)", "return self.conv(x)", [IMG],
     ("native",), ["dilation_rate=2", 'padding="same"']),
    ("conv2d-groups", "self.conv = nn.Conv2d(4, 8, 3, groups=2, padding=1, bias=False)", "return self.conv(x)",
     [(2, 4, 9, 9)], LAYOUTS, ["groups=2", "use_bias=False"]),
    ("conv2d-depthwise", "self.conv = nn.Conv2d(4, 8, 3, groups=4, padding=1)", "return self.conv(x)",
     [(2, 4, 9, 9)], ("native",), ["layers.DepthwiseConv2D(3, padding=\"same\", depth_multiplier=2)"]),
    ("conv1d-pad1", "self.conv = nn.Conv1d(4, 6, 3, padding=1)", "return self.conv(x)", [(2, 4, 10)], LAYOUTS,
     ["layers.Conv1D(6, 3, padding=\"same\")"]),
    ("conv1d-stride2-pad2", "self.conv = nn.Conv1d(4, 6, 5, stride=2, padding=2)", "return self.conv(x)",
     [(2, 4, 11)], ("native",), ["layers.ZeroPadding1D(2)"]),
    # pooling
    ("maxpool2d", "self.pool = nn.MaxPool2d(2)", "return self.pool(x)", [IMG], LAYOUTS,
     ["layers.MaxPooling2D(pool_size=2)"]),
    ("maxpool2d-stride1-pad1-same", "self.pool = nn.MaxPool2d(3, stride=1, padding=1)", "return self.pool(x)",
     [IMG], ("native",), ['padding="same"']),
    ("maxpool2d-pad-negative-inputs", "self.pool = nn.MaxPool2d(3, 2, 1)", "return self.pool(x)", [IMG], LAYOUTS,
     ['constant_values=float("-inf")']),
    ("maxpool2d-pad-after-relu", "self.pool = nn.MaxPool2d(3, 2, 1)", "return self.pool(F.relu(x))", [IMG],
     ("native",), ["self.pool_pad = layers.ZeroPadding2D(1)"]),
    ("avgpool2d", "self.pool = nn.AvgPool2d(2, stride=1)", "return self.pool(x)", [IMG], ("native",),
     ["layers.AveragePooling2D(pool_size=2, strides=1)"]),
    ("avgpool2d-pad-counted", "self.pool = nn.AvgPool2d(3, 2, padding=1)", "return self.pool(x)", [IMG], LAYOUTS,
     ["ZeroPadding2D(1)"]),
    ("avgpool2d-pad-excluded-same", "self.pool = nn.AvgPool2d(3, 1, padding=1, count_include_pad=False)",
     "return self.pool(x)", [IMG], ("native",), ['padding="same"']),
    ("maxpool1d", "self.pool = nn.MaxPool1d(2)", "return self.pool(x)", [(2, 4, 10)], ("native",),
     ["layers.MaxPooling1D(pool_size=2)"]),
    ("avgpool1d-pad", "self.pool = nn.AvgPool1d(3, 2, 1)", "return self.pool(x)", [(2, 4, 10)], ("native",),
     ["ZeroPadding1D(1)"]),
    ("functional-pools", "", "return F.avg_pool2d(F.max_pool2d(x, 2), (2, 2))", [IMG], LAYOUTS,
     ["keras.ops.max_pool(x, 2)", "keras.ops.average_pool("]),
    ("adaptive-avg-returned", "self.pool = nn.AdaptiveAvgPool2d(1)", "return self.pool(x)", [IMG], LAYOUTS,
     ["GlobalAveragePooling2D(keepdims=True)"]),
    ("adaptive-avg-flatten", "self.pool = nn.AdaptiveAvgPool2d((1, 1))\nself.fc = nn.Linear(3, 2)",
     "x = self.pool(x)\nx = torch.flatten(x, 1)\nreturn self.fc(x)", [IMG], LAYOUTS,
     ["layers.GlobalAveragePooling2D()"]),
    ("adaptive-max-view", "self.pool = nn.AdaptiveMaxPool2d(1)", "x = self.pool(x)\nreturn x.view(x.size(0), -1)",
     [IMG], ("native",), ["layers.GlobalMaxPooling2D()"]),
    ("functional-adaptive-avg", "", "return F.adaptive_avg_pool2d(x, 1)", [IMG], ("native",),
     ["keras.ops.mean(x, axis=(1, 2), keepdims=True)"]),
    # normalisation
    ("batchnorm2d", "self.bn = nn.BatchNorm2d(3)", "return self.bn(x)", [IMG], LAYOUTS,
     ["layers.BatchNormalization(momentum=0.9, epsilon=1e-05)"]),
    ("batchnorm2d-options", "self.bn = nn.BatchNorm2d(3, eps=1e-3, momentum=0.3, affine=False)", "return self.bn(x)",
     [IMG], ("native",), ["center=False", "scale=False", "momentum=0.7", "epsilon=0.001"]),
    ("batchnorm1d-vectors", "self.fc = nn.Linear(6, 8)\nself.bn = nn.BatchNorm1d(8)", "return self.bn(self.fc(x))",
     [(4, 6)], ("native",), ["layers.BatchNormalization("]),
    ("batchnorm1d-sequences", "self.bn = nn.BatchNorm1d(4)", "return self.bn(x)", [(2, 4, 10)], LAYOUTS,
     ["layers.BatchNormalization("]),
    ("layernorm", "self.ln = nn.LayerNorm(6)", "return self.ln(x)", [SEQ], ("native",),
     ["layers.LayerNormalization(epsilon=1e-05)"]),
    ("layernorm-no-affine", "self.ln = nn.LayerNorm(6, elementwise_affine=False)", "return self.ln(x)", [SEQ],
     ("native",), ["center=False", "scale=False"]),
    ("layernorm-on-image-width", "self.conv = nn.Conv2d(3, 4, 3)\nself.ln = nn.LayerNorm(10)",
     "return self.ln(self.conv(x))", [IMG], LAYOUTS, ["keras.ops.transpose("]),
    # embedding, recurrent
    ("embedding", "self.emb = nn.Embedding(20, 6)", "return self.emb(x)", [("int64", (2, 5), 20)], ("native",),
     ["layers.Embedding(20, 6)"]),
    ("lstm-sequence", "self.lstm = nn.LSTM(6, 8, batch_first=True)", "out, _ = self.lstm(x)\nreturn out", [SEQ],
     ("native",), ["layers.LSTM(8, return_sequences=True)", "out = self.lstm(x)"]),
    ("lstm-last-step", "self.lstm = nn.LSTM(6, 8, batch_first=True, bias=False)", "return self.lstm(x)[0][:, -1]",
     [SEQ], ("native",), ["use_bias=False", "self.lstm(x)[:, -1]"]),
    ("gru-sequence", "self.gru = nn.GRU(6, 8, batch_first=True)", "out, h = self.gru(x)\nreturn out", [SEQ],
     ("native",), ["layers.GRU(8, return_sequences=True)"]),
    ("gru-nobias", "self.gru = nn.GRU(6, 8, batch_first=True, bias=False)", "return self.gru(x)[0]", [SEQ],
     ("native",), ["use_bias=False"]),
    ("conv1d-permute-lstm", "self.conv = nn.Conv1d(4, 6, 3)\nself.lstm = nn.LSTM(6, 5, batch_first=True)",
     "x = self.conv(x).permute(0, 2, 1)\nout, _ = self.lstm(x)\nreturn out", [(2, 4, 9)], LAYOUTS,
     ["x = self.conv(x)\n"]),
    # dropout, activations
    ("dropout", "self.drop = nn.Dropout(0.3)\nself.fc = nn.Linear(6, 3)", "return self.fc(self.drop(x))", [(2, 6)],
     ("native",), ["layers.Dropout(0.3)"]),
    ("activation-modules", """\
        self.a = nn.ReLU(inplace=True)
        self.b = nn.LeakyReLU()
        self.c = nn.LeakyReLU(0.2)
        self.d = nn.Sigmoid()
        self.e = nn.Tanh()
        self.f = nn.GELU()
        self.g = nn.SiLU()""", "y = self.g(self.f(self.e(x)))\nx = self.a(x)\nreturn y + self.d(self.c(self.b(x)))", [IMG],
     ("native",), ["layers.ReLU()", "layers.LeakyReLU(negative_slope=0.01)", 'layers.Activation("sigmoid")',
                   'layers.Activation("tanh")', 'layers.Activation("gelu")', 'layers.Activation("silu")']),
    ("softmax-module-image", "self.conv = nn.Conv2d(3, 4, 1)\nself.sm = nn.Softmax(dim=1)", "return self.sm(self.conv(x))",
     [IMG], LAYOUTS, ["layers.Softmax()"]),
    ("softmax-module-input", "self.sm = nn.Softmax(dim=1)", "return self.sm(x)", [IMG], LAYOUTS,
     ["layers.Softmax(axis=1)"]),
    ("functional-activations", "",
     "x = F.relu(x) + torch.relu(-x) + x.relu() + torch.sigmoid(x) + x.sigmoid() + torch.tanh(x) + x.tanh()\n"
     "x = F.gelu(x) + F.silu(x) + F.leaky_relu(x, 0.1) + F.log_softmax(x, dim=-1)\n"
     "return F.softmax(x, dim=1) + x.softmax(-1) + torch.softmax(x, dim=1)",
     [(3, 7)], ("native",), ["keras.ops.relu(x)", "keras.ops.gelu(x, approximate=False)",
                             "keras.ops.leaky_relu(x, negative_slope=0.1)", "keras.ops.softmax(x, axis=1)"]),
    ("functional-softmax-image", "self.conv = nn.Conv2d(3, 4, 1)", "x = self.conv(x)\nreturn F.softmax(x, dim=1) * torch.sigmoid(x)",
     [IMG], LAYOUTS, ["keras.ops.softmax(x) * keras.ops.sigmoid(x)"]),
    # flatten before Linear (rows permuted at port time), and flattened images used otherwise
    ("flatten-module", "self.conv = nn.Conv2d(3, 4, 3)\nself.flat = nn.Flatten()\nself.fc = nn.Linear(400, 5)",
     "return self.fc(self.flat(self.conv(x)))", [IMG], LAYOUTS, ["layers.Flatten()"]),
    ("torch-flatten", "self.conv = nn.Conv2d(3, 4, 3, stride=2)\nself.fc = nn.Linear(4 * 5 * 5, 5)",
     "x = torch.flatten(self.conv(x), 1)\nreturn self.fc(x)", [IMG], LAYOUTS, ["self.flatten(self.conv(x))"]),
    ("flatten-method-dropout-relu", "self.conv = nn.Conv2d(3, 4, 3)\nself.drop = nn.Dropout()\nself.fc = nn.Linear(400, 5)",
     "x = self.drop(F.relu(self.conv(x).flatten(1)))\nreturn self.fc(x)", [IMG], ("native",), ["layers.Dropout(0.5)"]),
    ("view-size0", "self.conv = nn.Conv2d(3, 4, 3)\nself.fc = nn.Linear(400, 5)",
     "x = self.conv(x)\nx = x.view(x.size(0), -1)\nreturn self.fc(x)", [IMG], LAYOUTS, ["self.flatten(x)"]),
    ("view-minus1-n", "self.conv = nn.Conv2d(3, 4, 3)\nself.fc = nn.Linear(400, 5)",
     "x = self.conv(x)\nx = x.view(-1, 4 * 10 * 10)\nreturn self.fc(x)", [IMG], LAYOUTS,
     ["keras.ops.reshape(x, (-1, 4 * 10 * 10))"]),
    ("reshape-shape0", "self.conv = nn.Conv2d(3, 4, 3)\nself.fc = nn.Linear(400, 5)",
     "x = self.conv(x)\nreturn self.fc(x.reshape(x.shape[0], -1))", [IMG], ("native",), ["self.flatten(x)"]),
    ("flatten-returned", "self.conv = nn.Conv2d(3, 4, 3)", "return torch.flatten(self.conv(x), 1)", [IMG], LAYOUTS,
     ["keras.ops.transpose("]),
    ("functional-pad", "self.conv = nn.Conv2d(3, 4, 3, stride=2)",
     "x = F.pad(x, (0, 1, 2, 0))\nreturn F.pad(self.conv(x), (1, 1), value=0.5)", [IMG], LAYOUTS,
     ["keras.ops.pad(x, [[0, 0], [2, 0], [0, 1], [0, 0]])", "constant_values=0.5"]),
    # concatenation and arithmetic
    ("cat-channels", "self.a = nn.Conv2d(3, 4, 3, padding=1)\nself.b = nn.Conv2d(3, 5, 1)",
     "return torch.cat([self.a(x), self.b(x)], dim=1)", [IMG], LAYOUTS,
     ["keras.ops.concatenate([self.a(x), self.b(x)], axis=-1)"]),
    ("cat-height", "self.a = nn.Conv2d(3, 4, 3, padding=1)", "y = self.a(x)\nreturn torch.cat((y, y * 2.0), 2)",
     [IMG], LAYOUTS, ["axis=1"]),
    ("cat-vectors", "self.fc = nn.Linear(6, 3)", "return torch.cat((x, self.fc(x)), 1)", [(2, 6)], ("native",),
     ["keras.ops.concatenate([x, self.fc(x)], axis=1)"]),
    ("residual-add-mul", "self.a = nn.Conv2d(3, 3, 3, padding=1)\nself.b = nn.Conv2d(3, 3, 1)",
     "y = self.a(x)\ny += x\nz = y * self.b(x) - 0.5 * x\nreturn z", [IMG], LAYOUTS, ["y += x"]),
    ("two-outputs", "self.a = nn.Conv2d(3, 4, 3)\nself.fc = nn.Linear(3, 2)",
     "return self.a(x), self.fc(x.mean(dim=(2, 3)))", [IMG], LAYOUTS, ["return self.a(x), self.fc("]),
    ("mean-spatial", "self.conv = nn.Conv2d(3, 4, 3)\nself.fc = nn.Linear(4, 2)",
     "return self.fc(self.conv(x).mean(dim=(2, 3)))", [IMG], LAYOUTS, ["keras.ops.mean(self.conv(x), axis=(1, 2))"]),
    ("permute-to-channels-last", "self.conv = nn.Conv2d(3, 4, 3)\nself.fc = nn.Linear(4, 2)",
     "return self.fc(self.conv(x).permute(0, 2, 3, 1))", [IMG], ("native",), ["self.fc(self.conv(x))"]),
]


def _np_inputs(shapes, seed=0):
    import numpy as np
    rng = np.random.default_rng(seed)
    out = []
    for s in shapes:
        if isinstance(s[0], str):
            out.append(rng.integers(0, s[2], size=s[1]).astype(s[0]))
        else:
            out.append(rng.standard_normal(s).astype("float32"))
    return out


def _layer_params():
    out = []
    for cid, init, forward, shapes, layouts, snippets in LAYER_CASES:
        for layout in layouts:
            out.append(pytest.param(init, forward, shapes, layout, snippets, id=f"{cid}-{layout}"))
    return out


@pytest.mark.parametrize("init, forward, shapes, layout, snippets", _layer_params())
def test_layer_numeric(init, forward, shapes, layout, snippets):
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    from translator.verify.port_torch import compare_torch_source
    src = model_source(init, forward)
    result = translate_source(src, to="keras", layout=layout)
    errors = [f.format() for f in result.findings if f.severity == ERROR]
    assert not errors, "\n".join(errors) + "\n" + result.code
    if layout == "native":
        for snippet in snippets:
            assert snippet in result.code, f"{snippet!r} not in:\n{result.code}"
    comparison = compare_torch_source(src, "Net()", _np_inputs(shapes), "Net", layout=layout, result=result)
    assert comparison.ok(ATOL), (f"max abs error {comparison.max_abs} for scale {comparison.scale}\n"
                                 f"{result.code}")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_two_inputs(layout):
    pytest.importorskip("torch")
    from translator.verify.port_torch import compare_torch_source
    src = model_source("self.a = nn.Conv2d(3, 4, 3, padding=1)\nself.b = nn.Linear(5, 4)",
                       "return self.a(x) * self.b(y)[:, :, None, None]", params="x, y")
    unknown = translate_source(src, to="keras", layout=layout)
    assert [f.code for f in unknown.findings] == ["FWT302"], [f.format() for f in unknown.findings]
    result = translate_source(src, to="keras", layout=layout, input_shape=[(3, 12, 12), (5,)])
    assert [f.code for f in result.findings] == ["FWT401"], [f.format() for f in result.findings]   # y[:, :, None, None]
    comparison = compare_torch_source(src, "Net()", _np_inputs([IMG, (2, 5)]), "Net", result=result)
    assert comparison.ok(ATOL), comparison.max_abs


def test_module_level_sequential_both_layouts():
    pytest.importorskip("torch")
    from translator.verify.port_torch import compare_torch_source
    src = HEADER + textwrap.dedent("""\
        model = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(3, stride=2, padding=1),   # zero padding is exact after a ReLU
            nn.Conv2d(8, 4, 3),
            nn.Flatten(),
            nn.Linear(4 * 3 * 3, 3),
        )
    """)
    for layout in LAYOUTS:
        result = translate_source(src, to="keras", layout=layout)
        assert not result.findings, [f.format() for f in result.findings]
        assert "model = keras.Sequential([" in result.code
        assert ("layers.Permute((2, 3, 1))" in result.code) == (layout == "keep")
        comparison = compare_torch_source(src, "model", _np_inputs([(2, 3, 10, 10)]), "model", layout=layout,
                                          result=result)
        assert comparison.ok(ATOL), comparison.max_abs


def test_maxpool_padding_in_a_sequential_is_reported():
    src = HEADER + "model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(3, 2, 1))\n"
    result = translate_source(src, to="keras")
    assert [f.code for f in result.findings] == ["FWT402"], [f.format() for f in result.findings]
    assert "-inf" in result.findings[0].message
    assert "layers.ZeroPadding2D(1)" in result.code


def test_inplace_op_whose_input_is_read_again_is_reported():
    src = model_source("self.act = nn.ReLU(inplace=True)", "y = self.act(x)\nreturn x + y")
    result = translate_source(src, to="keras")
    assert [f.code for f in result.findings] == ["FWT402"], [f.format() for f in result.findings]
    assert "in-place" in result.findings[0].message
    src = model_source("self.act = nn.ReLU(inplace=True)", "x = self.act(x)\nreturn x + 1")
    assert not translate_source(src, to="keras").findings


def test_embedding_padding_idx_is_a_note():
    src = model_source("self.emb = nn.Embedding(10, 4, padding_idx=0)", "return self.emb(x)")
    result = translate_source(src, to="keras")
    assert [(f.code, f.severity) for f in result.findings] == [("FWT203", "info")]
    assert "padding_idx" in result.findings[0].message
    assert "layers.Embedding(10, 4)" in result.code


def test_input_shape_makes_ceil_mode_exact_when_it_changes_nothing():
    init, forward = "self.pool = nn.MaxPool2d(2, ceil_mode=True)", "return self.pool(x)"
    src = model_source(init, forward)
    assert translate_source(src, to="keras").findings[0].code == "FWT202"
    result = translate_source(src, to="keras", input_shape=(3, 12, 12))
    assert not result.findings, [f.format() for f in result.findings]


# ---- constructs that are not translated: left as they were, with a finding -------------------------

UNSUPPORTED = [
    ("reflect-padding", "self.conv = nn.Conv2d(3, 4, 3, padding=1, padding_mode='reflect')", "return self.conv(x)",
     "FWT202"),
    ("no-rule", "self.t = nn.Transformer()", "return self.t(x, x)", "FWT101"),
    ("method-call", "self.fc = nn.Linear(4, 2)", "return self.helper(self.fc(x))", "FWT102"),
    ("ceil-mode-unknown-size", "self.pool = nn.MaxPool2d(2, ceil_mode=True)", "return self.pool(x)", "FWT202"),
    ("tensor-method", "self.fc = nn.Linear(4, 4)", "return self.fc(x).unfold(1, 2, 1)", "FWT102"),
    ("unknown-argument", "self.fc = nn.Linear(4, 2, colour=1)", "return self.fc(x)", "FWT201"),
    ("layernorm-2d-shape", "self.ln = nn.LayerNorm([4, 5])", "return self.ln(x)", "FWT202"),
    ("self-training", "self.fc = nn.Linear(4, 2)", "if self.training:\n    x = x * 2\nreturn self.fc(x)", "FWT102"),
    ("submodule-weight", "self.fc = nn.Linear(4, 2)", "return self.fc(x) + self.fc.bias", "FWT102"),
]


@pytest.mark.parametrize("init, forward, code", [pytest.param(i, f, c, id=cid) for cid, i, f, c in UNSUPPORTED])
def test_unsupported_construct_is_left_as_is_with_a_finding(init, forward, code):
    src = model_source(init, forward)
    result = translate_source(src, to="keras")
    assert [f.code for f in result.findings] == [code], [f.format() for f in result.findings]
    assert result.findings[0].severity == ERROR and result.findings[0].line > 0
    marker = f"# fwtranslate {code}: "
    assert marker in result.code
    assert result.code.replace(next(line + "\n" for line in result.code.splitlines() if marker in line), "") == src
    assert result.exit_code == 1


def test_module_argument_that_changes_the_layout_is_reported():
    src = HEADER + textwrap.dedent("""\
        class Block(nn.Module):
            def __init__(self, post=None):
                super().__init__()
                self.conv = nn.Conv2d(3, 3, 3, padding=1)
                self.post = post

            def forward(self, x):
                return self.post(self.conv(x))


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.block = Block(post=nn.Flatten())

            def forward(self, x):
                return self.block(x)
        """)
    result = translate_source(src, to="keras")
    assert "FWT202" in [f.code for f in result.findings], [f.format() for f in result.findings]
    assert "class Net(nn.Module)" in result.code


@pytest.mark.parametrize("layout", LAYOUTS)
def test_input_layout_decided_inside_a_nested_block(layout):
    pytest.importorskip("torch")
    from translator.verify.port_torch import compare_torch_source
    src = HEADER + textwrap.dedent("""\
        class Stem(nn.Module):
            def __init__(self, channels):
                super().__init__()
                self.conv = nn.Conv2d(3, channels, 3, stride=2, padding=1, bias=False)
                self.bn = nn.BatchNorm2d(channels)

            def forward(self, x):
                return F.relu(self.bn(self.conv(x)))


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.stem = Stem(8)
                self.head = nn.Linear(8, 3)

            def forward(self, x):
                x = self.stem(x)
                return self.head(x.mean(dim=(2, 3)))
        """)
    result = translate_source(src, to="keras", layout=layout)
    assert not result.findings, [f.format() for f in result.findings]
    assert "class Stem(layers.Layer)" in result.code
    assert result.model("Net").inputs[0].permute == ((0, 3, 1, 2) if layout == "native" else None)
    assert compare_torch_source(src, "Net()", _np_inputs([IMG]), "Net", result=result).ok(ATOL)


def test_symbolic_batchnorm_momentum_is_an_expression():
    pytest.importorskip("torch")
    from translator.verify.port_torch import compare_torch_source
    src = HEADER + textwrap.dedent("""\
        class Net(nn.Module):
            def __init__(self, bn_momentum=0.2):
                super().__init__()
                self.bn = nn.BatchNorm2d(3, momentum=bn_momentum)

            def forward(self, x):
                return self.bn(x)
        """)
    result = translate_source(src, to="keras")
    assert "layers.BatchNormalization(momentum=1 - bn_momentum, epsilon=1e-05)" in result.code
    assert compare_torch_source(src, "Net()", _np_inputs([IMG]), "Net", result=result).ok(ATOL)


def _engine_torch_cases():
    folder = ROOT / "fixtures" / "keras_to_torch"
    return sorted(p.name[: -len(".torch.py")] for p in folder.glob("*.torch.py")
                  if (folder / (p.name[: -len(".torch.py")] + ".entry.json")).exists())


@pytest.mark.parametrize("case", _engine_torch_cases())
def test_engine_written_torch_translates_back_or_is_reported(case):
    """The torch goldens of the Keras -> torch direction, translated to Keras: each model matches the
    torch one numerically (both layouts), or is left as it was with an error finding -- never silently
    wrong. (A first half of the round trips: keras -> torch -> keras.)"""
    pytest.importorskip("torch")
    np = pytest.importorskip("numpy")
    from translator.verify.port_torch import compare_torch_source
    folder = ROOT / "fixtures" / "keras_to_torch"
    src = (folder / f"{case}.torch.py").read_text()
    s = json.loads((folder / f"{case}.entry.json").read_text())
    result = translate_source(src, to="keras")
    if any(f.severity == ERROR for f in result.findings):
        assert "# fwtranslate FWT" in result.code
        return
    info = translate_source((folder / f"{case}.keras.py").read_text(), to="torch").model(s["model"])
    inputs = []
    for a, spec_ in zip(_inputs(s), info.inputs):     # the torch model's inputs (NCHW where it permuted)
        inputs.append(np.ascontiguousarray(np.transpose(a, spec_.permute)) if spec_.permute else a)
    for layout in LAYOUTS:
        comparison = compare_torch_source(src, s["entry"], inputs, result.models[0].name, layout=layout)
        assert comparison.ok(ATOL), f"{layout}: {comparison.max_abs} for scale {comparison.scale}"


def test_no_model_and_unrelated_code():
    src = "import torch\n\nx = torch.zeros(3)\nprint(x)\n"
    result = translate_source(src, to="keras")
    assert result.code == src
    assert [f.code for f in result.findings] == ["FWT904"]


def test_code_outside_models_is_kept():
    src = model_source("self.fc = nn.Linear(4, 2)", "return self.fc(x)") + textwrap.dedent("""\


        if __name__ == "__main__":
            net = Net()
            print(net(torch.randn(1, 4)).shape)
        """)
    result = translate_source(src, to="keras")
    assert not result.findings
    assert "import torch\n" in result.code            # still used by the script part
    assert "import torch.nn as nn" not in result.code and "import torch.nn.functional" not in result.code
    assert result.code.endswith(src[src.index('\n\nif __name__'):])


@pytest.mark.parametrize("imports", [
    "import torch.nn as nn\nimport torch.nn.functional as F\nimport torch\n",
    "from torch import nn\nfrom torch.nn import functional as F\nimport torch\n",
    "import torch\nfrom torch import nn\nimport torch.nn.functional as F\n",
])
def test_import_styles(imports):
    src = imports + "\n\n" + model_source("self.fc = nn.Linear(4, 2)", "return F.relu(self.fc(torch.flatten(x, 1)))")[len(HEADER):]
    result = translate_source(src, to="keras")
    assert not result.findings, [f.format() for f in result.findings]
    assert "keras.ops.relu(self.fc(self.flatten(x)))" in result.code
    assert "torch" not in result.code


def test_direct_class_imports():
    src = ("from torch.nn import Module, Linear, ReLU, Sequential\n\n\n"
           "class Head(Module):\n    def __init__(self):\n        super().__init__()\n"
           "        self.body = Sequential(Linear(4, 8), ReLU(), Linear(8, 2))\n\n"
           "    def forward(self, x):\n        return self.body(x)\n")
    result = translate_source(src, to="keras")
    assert not result.findings, [f.format() for f in result.findings]
    assert "class Head(keras.Model)" in result.code and "layers.Dense(8)" in result.code


def test_reserved_keras_attribute_is_renamed_and_ported():
    pytest.importorskip("torch")
    from translator.verify.port_torch import compare_torch_source
    src = model_source("self.layers = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))",
                       "return self.layers(x)")
    result = translate_source(src, to="keras")
    assert "self.layers_ = keras.Sequential(" in result.code and "self.layers_(x)" in result.code
    comparison = compare_torch_source(src, "Net()", _np_inputs([(3, 4)]), "Net", result=result)
    assert comparison.ok(ATOL)


def test_translation_imports_neither_torch_nor_tensorflow():
    src = (FIXTURES / "resnet_basic.torch.py").read_text()
    code = ("import sys\nfrom translator import translate_source\n"
            f"r = translate_source({src!r}, to='keras')\n"
            "assert r.models, r.findings\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'tensorflow', 'keras'))\n"
            "assert not bad, bad\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# ---- rules: the torch-only keys agree with the live torch API; transforms invert -------------------

def _rules_with_signatures():
    from translator.rules import load_rules
    rules = load_rules()
    out = []
    for rule in rules.by_id.values():
        classes = []
        if getattr(rule, "torch_signature", None) or getattr(rule, "torch_module", None):
            classes = [c for c in [getattr(rule, "torch", None)] + list(getattr(rule, "torch_classes", []))
                       + [getattr(rule, "torch_module", None)] if c and c.startswith("torch.nn.") and
                       c.rsplit(".", 1)[-1][:1].isupper()]
        out += [pytest.param(rule, c, id=f"{rule.id}-{c.rsplit('.', 1)[-1]}") for c in classes]
    return out


@pytest.mark.parametrize("rule, path", _rules_with_signatures())
def test_torch_signature_matches_torch(rule, path):
    torch = pytest.importorskip("torch")
    from translator.frontends.torch_models import REQUIRED, parse_signature
    cls = getattr(torch.nn, path.rsplit(".", 1)[-1])
    assert issubclass(cls, torch.nn.Module)
    live = []
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            params = list(inspect.signature(vars(klass)["__init__"]).parameters.values())[1:]
            named = [p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
            if named or not params:
                live = [p for p in named if not (klass.__name__ == "RNNBase" and p.name == "mode")]
                break
    expected = parse_signature(rule.torch_signature)
    if cls.__name__ == "RNN":        # nn.RNN(*args, **kwargs) takes nonlinearity itself, 4th positional
        assert ("nonlinearity", "tanh") in expected and [n for n, _ in expected].index("nonlinearity") == 3
        expected = [e for e in expected if e[0] != "nonlinearity"]
    names = [p.name for p in live]
    assert [n for n, _ in expected] == [n for n in names if n in dict(expected)], (names, expected)
    by_name = {p.name: p for p in live}
    for name, default in expected:
        live_default = by_name[name].default
        if callable(live_default) and getattr(live_default, "__name__", None) == default:
            continue              # a function default (activation=F.relu) is written by its name
        if default is REQUIRED:
            assert live_default is inspect.Parameter.empty, f"{path}({name}) has a default in torch"
        else:
            assert live_default == default, f"{path}({name}={live_default!r}) vs rule {default!r}"
    assert names[:len(expected)] == [n for n, _ in expected] or cls.__name__ in ("GRU", "RNN"), \
        f"{path}: torch_signature must list the leading parameters in order: {names}"


@pytest.mark.parametrize("transform, shape, meta", [
    ("transpose", (3, 5), None), ("kernel_to_oihw", (3, 3, 4, 6), None), ("kernel_to_oihw", (5, 4, 6), None),
    ("gru_kernel", (4, 9), None), ("depthwise_to_oihw", (3, 3, 4, 2), {"depth_multiplier": 2}),
])
def test_weight_transform_inverse_round_trip(transform, shape, meta):
    np = pytest.importorskip("numpy")
    from translator.rules.transforms import INVERSES, WEIGHT_TRANSFORMS, discover_transforms
    discover_transforms()
    a = np.random.default_rng(0).standard_normal(shape)
    back = WEIGHT_TRANSFORMS[INVERSES[transform]](WEIGHT_TRANSFORMS[transform](a), meta)
    assert back.shape == a.shape and np.array_equal(back, a)


def test_gathered_inverses():
    np = pytest.importorskip("numpy")
    from translator.rules.transforms import WEIGHT_TRANSFORMS
    from translator.rules.transforms_inverse import gather_inverse
    rng = np.random.default_rng(0)
    bias = rng.standard_normal((2, 9))            # Keras GRU reset_after bias
    parts = [WEIGHT_TRANSFORMS[n](bias) for n in ("gru_bias_input", "gru_bias_recurrent")]
    assert np.array_equal(gather_inverse(["gru_bias_input", "gru_bias_recurrent"])(parts), bias)
    b = rng.standard_normal(8)
    assert np.allclose(gather_inverse(["copy", "zeros_like"])([b, WEIGHT_TRANSFORMS["zeros_like"](b)]), b)


def test_port_weights_any_either_way_round():
    torch = pytest.importorskip("torch")
    np = pytest.importorskip("numpy")
    from translator.verify.compare import exec_source
    from translator.verify.port_torch import port_weights_any
    src = model_source("self.fc = nn.Linear(4, 3)", "return self.fc(x)")
    result = translate_source(src, to="keras")
    net = exec_source(src, "t")["Net"]()
    knet = exec_source(result.code, "k")["Net"]()
    x = np.ones((1, 4), "float32")
    knet(x)
    port_weights_any(net, knet, result.model("Net"))
    assert np.allclose(np.asarray(knet(x)), net(torch.from_numpy(x)).detach().numpy(), atol=1e-6)
    assert np.allclose(np.asarray(knet.fc.kernel), net.fc.weight.detach().numpy().T)


if __name__ == "__main__" and sys.argv[1:] == ["regen"]:
    regen()


def test_missing_op_argument_is_a_finding_not_a_crash():
    src = model_source("", "return torch.maximum(x)")
    result = translate_source(src, to="keras")
    assert [f.code for f in result.findings if f.severity == ERROR] == ["FWT201"], result.findings
    assert "missing other" in result.findings[0].message


def test_an_internal_error_costs_one_model_not_the_file(monkeypatch):
    from translator.backends import keras_layers

    def broken(ctx):
        raise ZeroDivisionError("a bug in a hatch")

    keras_layers.discover_keras_hatches()
    monkeypatch.setitem(keras_layers.KERAS_HATCHES, "conv2d", broken)
    src = (HEADER + "class A(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
           "        self.conv = nn.Conv2d(3, 4, 3)\n\n    def forward(self, x):\n        return self.conv(x)\n\n\n"
           "class B(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
           "        self.fc = nn.Linear(4, 2)\n\n    def forward(self, x):\n        return self.fc(x)\n")
    result = translate_source(src, to="keras")
    assert not result.error
    assert [f.code for f in result.findings if f.severity == ERROR] == ["FWT901"], result.findings
    assert "ZeroDivisionError: a bug in a hatch" in result.findings[0].message
    assert "class B(keras.Model)" in result.code and "layers.Dense(2)" in result.code, result.code
    assert "nn.Conv2d(3, 4, 3)" in result.code        # A kept as it was
