"""Numerical test per layer rule: Keras model with random weights -> translate -> port -> compare.

Every case builds a small Keras model from source, gives *every* weight a random value (including
BatchNormalization moving statistics, biases and recurrent kernels, so that wrong transforms cannot
hide behind zero-initialised or identity weights), runs Keras with training=False, translates the
source with both layouts ("native" NCHW and "keep" NHWC), ports the weights with the translation's
mapping, runs the torch module in eval() mode and requires

    max |keras - torch| <= 1e-5 * max(1, max |keras|)          (Comparison.ok())

for every output, and that every Keras weight was ported. The Keras model is built once per case and
compared against both translations (building TF models is the slow part).
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from translator.api import translate_source  # noqa: E402
from translator.verify.compare import Comparison, exec_source, random_input  # noqa: E402
from translator.rules import load_rules  # noqa: E402
from translator.fuzz.harness import randomize_weights  # noqa: E402
from translator.verify.port import _is_variable, _keras_layers, _rule_by_class, _weight_name, port_weights  # noqa: E402

ATOL = 1e-5
LAYOUTS = ("native", "keep")

pytestmark = pytest.mark.filterwarnings(
    "ignore:`build\\(\\)` was called on layer:UserWarning",   # Keras 3 subclassed model.build()
    "ignore:Do not pass an `input_shape`:UserWarning",
    "ignore:Argument `input_length` is deprecated:UserWarning",
    "ignore:Using padding='same' with even kernel lengths:UserWarning",
)


# ---- helpers -------------------------------------------------------------------------------------

def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _keras_weight_names(model) -> set:
    """Names (as port_weights reports them) of the weights of the layers that have a rule, after
    checking that those layers own every variable of the model (an LSTM owns its cell's weights)."""
    by_class = _rule_by_class(load_rules())
    ruled = [layer for layer in _keras_layers(model)
             if type(layer).__name__ in by_class and by_class[type(layer).__name__].weights]
    # layer classes defined in the test source own the variables they create (ported by attribute)
    # (and the model itself: its own add_weight variables, ported by attribute too; not tf_keras' counters)
    weights = {id(w) for w in model.weights}
    custom = {(layer, attr): value for layer in list(_keras_layers(model)) + [model]
              if type(layer).__module__ == "keras_original"
              for attr, value in vars(layer).items() if _is_variable(value) and id(value) in weights}
    owned = {id(w) for layer in ruled for w in layer.weights} | {id(v) for v in custom.values()}
    orphans = [w for w in model.weights if id(w) not in owned]
    assert not orphans, f"Keras weights of layers without a rule: {[getattr(w, 'path', w.name) for w in orphans]}"
    return {f"{layer.name}/{_weight_name(w)}" for layer in ruled for w in layer.weights} | \
        {f"{layer.name}/{attr}" for layer, attr in custom}


def _torch_run(result, entry, model_name, keras_model, inputs):
    info = result.model(model_name) if model_name else (
        result.models[0] if len(result.models) == 1 else None)
    ns = exec_source(result.code, "torch_translation")
    torch_model = eval(entry, ns)
    done = port_weights(keras_model, torch_model, info)
    ported = {k for k, _ in done}
    missing = _keras_weight_names(keras_model) - ported
    assert not missing, f"Keras weights not ported: {sorted(missing)}"
    torch_model.eval()
    torch_inputs = []
    for arr, spec in zip(inputs, info.inputs if info else [None] * len(inputs)):
        t = torch.from_numpy(np.ascontiguousarray(arr))
        if spec is not None and spec.permute:
            t = t.permute(*spec.permute).contiguous()
        torch_inputs.append(t)
    if info is not None and info.packed:     # forward(self, inputs) takes the list, as Keras call() did
        torch_inputs = [torch_inputs]
    with torch.inference_mode():
        outs = _as_list(torch_model(*torch_inputs))
    res = []
    for i, t in enumerate(outs):
        spec = info.outputs[i] if info and i < len(info.outputs) else None
        if spec is not None and spec.permute:
            t = t.permute(*[int(p) for p in np.argsort(spec.permute)])
        res.append(t.detach().numpy())
    return res


def check(code: str, inputs: list, entry: str = "model", layouts=LAYOUTS, input_shape=None,
          model_name: str | None = None, seed: int = 0) -> dict:
    """Build Keras from `code`, randomize weights, compare with each layout's translation."""
    code = textwrap.dedent(code)
    keras_ns = exec_source(code, "keras_original")
    keras_model = eval(entry, keras_ns)
    call_in = inputs if len(inputs) > 1 else inputs[0]
    if not keras_model.built or not keras_model.weights:
        keras_model(call_in, training=False)
    randomize_weights(keras_model, seed)
    keras_out = [np.asarray(o) for o in _as_list(keras_model(call_in, training=False))]
    if model_name is None:
        head = entry.split("(")[0].strip()
        model_name = head if head.isidentifier() else None
    comparisons, problems = {}, []
    for layout in layouts:
        result = translate_source(code, layout=layout, input_shape=input_shape)
        errors = [f for f in result.findings if f.severity == "error"]
        if result.error or errors:
            problems.append(f"[{layout}] translation errors:\n"
                            + "\n".join(f.format() for f in result.findings) + "\n" + result.code)
            continue
        try:
            torch_out = _torch_run(result, entry, model_name, keras_model, inputs)
        except Exception as exc:
            problems.append(f"[{layout}] {type(exc).__name__}: {exc}\n{result.code}")
            continue
        if len(torch_out) != len(keras_out):
            problems.append(f"[{layout}] {len(keras_out)} Keras outputs vs {len(torch_out)} torch outputs")
            continue
        comp = Comparison(result=result)
        for i, (k, t) in enumerate(zip(keras_out, torch_out)):
            if k.shape != t.shape:
                problems.append(f"[{layout}] output {i}: Keras shape {k.shape} vs torch {t.shape}\n"
                                + result.code)
                break
            comp.max_abs.append(float(np.max(np.abs(k - t))) if k.size else 0.0)
            comp.scale.append(float(np.max(np.abs(k))) if k.size else 0.0)
        else:
            comparisons[layout] = comp
            if not comp.ok(ATOL):
                problems.append(f"[{layout}] mismatch max_abs={comp.max_abs} scale={comp.scale}\n"
                                + result.code)
    assert not problems, "\n\n".join(problems)
    return comparisons


def img(h=7, w=7, c=3, n=2, seed=0):
    return random_input((n, h, w, c), seed=seed)


def seq(t=6, c=4, n=2, seed=0):
    return random_input((n, t, c), seed=seed)


def vec(c=5, n=2, seed=0):
    return random_input((n, c), seed=seed)


def functional(shape: tuple, body: str, outputs: str = "out",
               imports: str = "import keras\nfrom keras import layers") -> str:
    """`x` is the input; `body` is one or more lines assigning the `outputs` expression's names."""
    return f"{imports}\n\ninp = keras.Input(shape={shape!r})\nx = inp\n{textwrap.dedent(body).strip()}\n" \
           f"model = keras.Model(inp, {outputs})\n"


def case(id_, *values, xfail: str | None = None):
    marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
    return pytest.param(*values, id=id_, marks=marks)


# ---- Dense, Dropout, Flatten, Reshape, Embedding ---------------------------------------------------

CORE = [
    case("dense", (5,), "out = layers.Dense(3)(x)", vec()),
    case("dense-no-bias", (5,), "out = layers.Dense(3, use_bias=False)(x)", vec()),
    case("dense-3d-input", (6, 4), "out = layers.Dense(3)(x)", seq()),
    case("dense-4d-input-after-conv", (6, 6, 3), "x = layers.Conv2D(4, 3)(x)\nout = layers.Dense(5)(x)", img(6, 6)),
    case("dropout", (5,), "x = layers.Dense(8)(x)\nx = layers.Dropout(0.5)(x)\nout = layers.Dense(3)(x)", vec()),
    case("dropout-after-conv", (6, 6, 3), "x = layers.Conv2D(4, 3)(x)\nout = layers.Dropout(0.3)(x)", img(6, 6)),
    case("flatten-2d-passthrough", (5,), "x = layers.Dense(4)(x)\nout = layers.Flatten()(x)", vec()),
    case("flatten-after-conv2d-then-dense", (6, 5, 3),
         "x = layers.Conv2D(4, 3)(x)\nx = layers.Flatten()(x)\nout = layers.Dense(3)(x)", img(6, 5)),
    case("flatten-after-conv2d-as-output", (6, 5, 3),
         "x = layers.Conv2D(4, 3)(x)\nout = layers.Flatten()(x)", img(6, 5)),
    case("flatten-after-conv1d-then-dense", (7, 3),
         "x = layers.Conv1D(4, 3)(x)\nx = layers.Flatten()(x)\nout = layers.Dense(3)(x)", seq(7, 3)),
    case("flatten-after-pool-dense-dense", (8, 8, 2),
         "x = layers.Conv2D(3, 3, padding='same')(x)\nx = layers.MaxPooling2D()(x)\nx = layers.Flatten()(x)\n"
         "x = layers.Dense(6)(x)\nout = layers.Dense(2)(x)", img(8, 8, 2)),
    case("reshape-2d-to-3d", (5,), "x = layers.Dense(12)(x)\nout = layers.Reshape((3, 4))(x)", vec()),
    case("reshape-minus-one", (5,), "x = layers.Dense(12)(x)\nout = layers.Reshape((-1, 2))(x)", vec()),
    case("reshape-3d-to-2d", (6, 4), "x = layers.Dense(3)(x)\nout = layers.Reshape((18,))(x)", seq()),
    case("reshape-dense-to-image-then-conv", (10,),
         "x = layers.Dense(32)(x)\nx = layers.Reshape((4, 4, 2))(x)\nout = layers.Conv2D(3, 3, padding='same')(x)",
         vec(10)),
    case("reshape-after-conv", (6, 6, 3), "x = layers.Conv2D(4, 3)(x)\nout = layers.Reshape((16, 4))(x)", img(6, 6)),
    case("reshape-conv-roundtrip-then-conv", (5, 5, 3),
         "x = layers.Conv2D(4, 3)(x)\nx = layers.Reshape((9, 4))(x)\nx = layers.Reshape((3, 3, 4))(x)\n"
         "out = layers.Conv2D(2, 2)(x)", img(5, 5)),
    case("reshape-conv-to-other-image", (6, 6, 3),
         "x = layers.Conv2D(4, 3)(x)\nx = layers.Reshape((2, 8, 4))(x)\nout = layers.Conv2D(2, 1)(x)", img(6, 6)),
    case("flatten-sequence-then-dense", (6, 4),
         "x = layers.Dense(3)(x)\nx = layers.Flatten()(x)\nout = layers.Dense(2)(x)", seq()),
    case("flatten-after-conv1d-as-output", (7, 3), "x = layers.Conv1D(4, 3)(x)\nout = layers.Flatten()(x)", seq(7, 3)),
    case("reshape-after-conv-then-dense", (6, 6, 3),
         "x = layers.Conv2D(4, 3)(x)\nx = layers.Reshape((16, 4))(x)\nout = layers.Dense(2)(x)", img(6, 6)),
]


@pytest.mark.parametrize("shape, body, x", CORE)
def test_core(shape, body, x):
    check(functional(shape, body), [x])


EMBEDDING = [
    case("embedding", "out = layers.Embedding(20, 4)(x)"),
    case("embedding-flatten-dense", "x = layers.Embedding(20, 4)(x)\nx = layers.Flatten()(x)\nout = layers.Dense(3)(x)"),
    case("embedding-global-avg-pool", "x = layers.Embedding(20, 4)(x)\nout = layers.GlobalAveragePooling1D()(x)"),
    case("embedding-conv1d", "x = layers.Embedding(20, 4)(x)\nout = layers.Conv1D(3, 3, padding='same')(x)"),
]


@pytest.mark.parametrize("body", EMBEDDING)
def test_embedding(body):
    code = ("import keras\nfrom keras import layers\n\ninp = keras.Input(shape=(6,), dtype='int32')\n"
            f"x = inp\n{body}\nmodel = keras.Model(inp, out)\n")
    check(code, [random_input((2, 6), "int32", 0, 20)])


# ---- activations --------------------------------------------------------------------------------

ACTIVATIONS = ["relu", "sigmoid", "tanh", "softmax", "gelu", "swish", "silu", "elu", "selu", "softplus",
               "softsign", "linear", "relu6", "leaky_relu"]


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_string(name):
    """The string as `activation=` of Dense and Conv2D, and as an Activation layer (on NCHW too)."""
    code = functional((5, 5, 3), f"""
        d = layers.Dense(4, activation={name!r})(layers.Flatten()(x))
        a = layers.Activation({name!r})(layers.Dense(4)(layers.Flatten()(x)))
        c = layers.Conv2D(4, 3, activation={name!r})(x)
        i = layers.Activation({name!r})(layers.Conv2D(4, 3)(x))
    """, outputs="[d, a, c, i]")
    x = img(5, 5) * 3.0
    check(code, [x])


RELU = [
    case("relu-default", "layers.ReLU()"),
    case("relu-max-value-6", "layers.ReLU(max_value=6)"),
    case("relu-max-value-2.5", "layers.ReLU(max_value=2.5)"),
    case("relu-negative-slope", "layers.ReLU(negative_slope=0.1)"),
    case("relu-max-value-6-negative-slope", "layers.ReLU(max_value=6.0, negative_slope=0.2)"),
    case("leaky-relu-default", "layers.LeakyReLU()"),
    case("leaky-relu-slope", "layers.LeakyReLU(negative_slope=0.05)"),
    case("softmax-default", "layers.Softmax()"),
    case("softmax-axis-1", "layers.Softmax(axis=1)"),
    case("softmax-axis-2", "layers.Softmax(axis=2)"),
    case("softmax-axis-minus-3", "layers.Softmax(axis=-3)"),
]


def test_softmax_on_sequences():
    """Softmax over the time axis of a Conv1D output (channels-first in native layout) and of a Dense
    output (channels-last), and the default axis on both."""
    code = functional((6, 3), """
        c = layers.Conv1D(4, 3)(x)
        d = layers.Dense(4)(x)
        s1 = layers.Softmax(axis=1)(c)
        s2 = layers.Softmax(axis=1)(d)
        s3 = layers.Softmax()(c)
        s4 = layers.Activation('softmax')(c)
    """, outputs="[s1, s2, s3, s4]")
    check(code, [seq(6, 3) * 3.0])


@pytest.mark.parametrize("layer", RELU)
def test_activation_layers(layer):
    """On a conv output (NCHW in native layout) and, for axis-free layers, on a dense output."""
    if "axis=" in layer:  # an axis > 1 does not exist on the rank-2 Dense output
        code = functional((4, 4, 3), f"c = layers.Conv2D(3, 1)(x)\nout = {layer}(c)")
    else:
        code = functional((4, 4, 3), f"""
            c = layers.Conv2D(3, 1)(x)
            d = layers.Dense(5)(layers.Flatten()(x))
            out_c = {layer}(c)
            out_d = {layer}(d)
        """, outputs="[out_c, out_d]")
    check(code, [img(4, 4) * 4.0])


# ---- convolutions -------------------------------------------------------------------------------

CONV2D = [
    case("k3-valid", "layers.Conv2D(5, 3)", (7, 7)),
    case("k3-stride2-valid-odd", "layers.Conv2D(5, 3, strides=2)", (7, 7)),
    case("k3-stride2-valid-even", "layers.Conv2D(5, 3, strides=2)", (8, 8)),
    case("k3-same", "layers.Conv2D(5, 3, padding='same')", (7, 7)),
    case("k3-stride2-same-odd", "layers.Conv2D(5, 3, strides=2, padding='same')", (7, 7)),
    case("k3-stride2-same-even", "layers.Conv2D(5, 3, strides=2, padding='same')", (8, 8)),
    case("k2-same-odd", "layers.Conv2D(5, 2, padding='same')", (7, 7)),
    case("k2-same-even", "layers.Conv2D(5, 2, padding='same')", (8, 8)),
    case("k4-stride2-same-even", "layers.Conv2D(5, 4, strides=2, padding='same')", (8, 8)),
    case("k4-stride2-same-odd", "layers.Conv2D(5, 4, strides=2, padding='same')", (7, 7)),
    case("k2-stride2-same-odd", "layers.Conv2D(5, 2, strides=2, padding='same')", (7, 7)),
    case("k5-stride3-same-rect", "layers.Conv2D(5, 5, strides=3, padding='same')", (8, 10)),
    case("k3x2-stride-2x1-same", "layers.Conv2D(5, (3, 2), strides=(2, 1), padding='same')", (7, 8)),
    case("k3x1-valid-rect", "layers.Conv2D(5, (3, 1))", (7, 6)),
    case("dilation2-valid", "layers.Conv2D(5, 3, dilation_rate=2)", (8, 8)),
    case("dilation2-same", "layers.Conv2D(5, 3, dilation_rate=2, padding='same')", (7, 7)),
    case("dilation2-k2-same", "layers.Conv2D(5, 2, dilation_rate=(2, 1), padding='same')", (7, 8)),
    case("groups2", "layers.Conv2D(6, 3, groups=2)", (7, 7)),
    case("groups2-same-stride2", "layers.Conv2D(6, 3, strides=2, groups=2, padding='same')", (8, 8)),
    case("no-bias", "layers.Conv2D(5, 3, use_bias=False)", (7, 7)),
    case("activation-relu", "layers.Conv2D(5, 3, activation='relu')", (7, 7)),
    case("convolution2d-alias", "layers.Convolution2D(5, 3)", (7, 7)),
]


@pytest.mark.parametrize("layer, hw", CONV2D)
def test_conv2d(layer, hw):
    check(functional(hw + (4,), f"out = {layer}(x)"), [img(*hw, 4)])


CONV1D = [
    case("k3-valid", "layers.Conv1D(5, 3)", 7),
    case("k3-stride2-valid", "layers.Conv1D(5, 3, strides=2)", 8),
    case("k3-same", "layers.Conv1D(5, 3, padding='same')", 7),
    case("k3-stride2-same-odd", "layers.Conv1D(5, 3, strides=2, padding='same')", 7),
    case("k3-stride2-same-even", "layers.Conv1D(5, 3, strides=2, padding='same')", 8),
    case("k2-same", "layers.Conv1D(5, 2, padding='same')", 7),
    case("k4-stride2-same-even", "layers.Conv1D(5, 4, strides=2, padding='same')", 8),
    case("dilation2-valid", "layers.Conv1D(5, 3, dilation_rate=2)", 8),
    case("dilation2-same", "layers.Conv1D(5, 2, dilation_rate=2, padding='same')", 7),
    case("groups2", "layers.Conv1D(6, 3, groups=2)", 7),
    case("no-bias", "layers.Conv1D(5, 3, use_bias=False)", 7),
    case("activation-tanh", "layers.Conv1D(5, 3, activation='tanh')", 7),
    case("convolution1d-alias", "layers.Convolution1D(5, 3)", 7),
]


@pytest.mark.parametrize("layer, t", CONV1D)
def test_conv1d(layer, t):
    check(functional((t, 4), f"out = {layer}(x)"), [seq(t, 4)])


# ---- pooling ------------------------------------------------------------------------------------

POOL2D = [
    case(f"{cls}-{name}", f"layers.{cls}({args})", hw)
    for cls in ("MaxPooling2D", "AveragePooling2D")
    for name, args, hw in [
        ("default-strides", "2" if cls.startswith("Average") else "", (8, 8)),
        ("default-strides-odd", "2" if cls.startswith("Average") else "", (7, 7)),
        ("k3-stride2-valid", "3, strides=2", (7, 7)),
        ("k3-stride1-valid", "(3, 2), strides=1", (6, 7)),
        ("k2-same-odd", "2, padding='same'", (7, 7)),
        ("k3-stride2-same-odd", "3, strides=2, padding='same'", (7, 7)),
        ("k3-stride2-same-even", "3, strides=2, padding='same'", (8, 8)),
        ("k3-stride1-same", "3, strides=1, padding='same'", (6, 6)),
        ("k2-stride1-same", "2, strides=1, padding='same'", (6, 6)),
        ("k3-stride3-same-rect", "3, padding='same'", (7, 8)),
        ("mixed-k2x3-stride1x2-same", "(2, 3), strides=(1, 2), padding='same'", (8, 7)),
        ("mixed-k3x2-stride2x1-same", "(3, 2), strides=(2, 1), padding='same'", (8, 7)),
        ("k4-stride3-same", "4, strides=3, padding='same'", (8, 9)),
    ]
] + [
    case("MaxPool2D-alias", "layers.MaxPool2D()", (6, 6)),
    case("AvgPool2D-alias", "layers.AvgPool2D(2)", (6, 6)),
]


@pytest.mark.parametrize("layer, hw", POOL2D)
def test_pool2d(layer, hw):
    check(functional(hw + (3,), f"out = {layer}(x)"), [img(*hw, 3)])


POOL1D = [
    case(f"{cls}-{name}", f"layers.{cls}({args})", t)
    for cls in ("MaxPooling1D", "AveragePooling1D")
    for name, args, t in [
        ("default-strides", "2" if cls.startswith("Average") else "", 8),
        ("default-strides-odd", "2" if cls.startswith("Average") else "", 7),
        ("k3-stride2-valid", "3, strides=2", 8),
        ("k3-stride2-same-odd", "3, strides=2, padding='same'", 7),
        ("k3-stride2-same-even", "3, strides=2, padding='same'", 8),
        ("k2-stride1-same", "2, strides=1, padding='same'", 7),
        ("k3-stride1-same", "3, strides=1, padding='same'", 7),
    ]
] + [
    case("MaxPool1D-alias", "layers.MaxPool1D(2)", 6),
    case("AvgPool1D-alias", "layers.AvgPool1D(2)", 6),
]


@pytest.mark.parametrize("layer, t", POOL1D)
def test_pool1d(layer, t):
    check(functional((t, 3), f"out = {layer}(x)"), [seq(t, 3)])


GLOBAL_POOL = [
    case(f"{cls}{'-keepdims' if keep else ''}", cls, keep)
    for cls in ("GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling1D", "GlobalMaxPooling1D",
                "GlobalAvgPool2D", "GlobalMaxPool1D")
    for keep in (False, True)
    if not (keep and cls in ("GlobalAvgPool2D", "GlobalMaxPool1D"))
]


@pytest.mark.parametrize("cls, keepdims", GLOBAL_POOL)
def test_global_pool(cls, keepdims):
    """After a conv (so the native layout pools a channels-first tensor), then a Dense."""
    two_d = cls.endswith("2D")
    conv = "Conv2D" if two_d else "Conv1D"
    arg = "keepdims=True" if keepdims else ""
    code = functional((6, 5, 3) if two_d else (7, 3), f"""
        c = layers.{conv}(4, 3)(x)
        g = layers.{cls}({arg})(c)
        out = layers.Dense(3)(g)
    """, outputs="[g, out]")
    check(code, [img(6, 5) if two_d else seq(7, 3)])


# ---- normalization ------------------------------------------------------------------------------

BATCH_NORM = [
    case("after-conv2d", (5, 5, 3), "x = layers.Conv2D(4, 3)(x)\nout = layers.BatchNormalization()(x)"),
    case("after-dense", (6,), "x = layers.Dense(4)(x)\nout = layers.BatchNormalization()(x)"),
    case("on-input-2d", (6,), "out = layers.BatchNormalization()(x)"),
    case("sequence-3d", (6, 4), "x = layers.Dense(5)(x)\nout = layers.BatchNormalization()(x)"),
    case("after-conv1d", (7, 3), "x = layers.Conv1D(4, 3)(x)\nout = layers.BatchNormalization()(x)"),
    case("eps-momentum", (5, 5, 3),
         "x = layers.Conv2D(4, 3)(x)\nout = layers.BatchNormalization(momentum=0.9, epsilon=0.1)(x)"),
    case("no-center-no-scale", (5, 5, 3),
         "x = layers.Conv2D(4, 3)(x)\nout = layers.BatchNormalization(center=False, scale=False)(x)"),
    case("conv-bn-relu-flatten-dense", (6, 6, 3),
         "x = layers.Conv2D(4, 3, use_bias=False)(x)\nx = layers.BatchNormalization()(x)\n"
         "x = layers.ReLU()(x)\nx = layers.Flatten()(x)\nout = layers.Dense(3)(x)"),
]


def _input_for(shape):
    return random_input((2,) + tuple(shape), seed=3)


@pytest.mark.parametrize("shape, body", BATCH_NORM)
def test_batch_normalization(shape, body):
    """Random gamma/beta/moving_mean/moving_variance; Keras training=False vs torch eval()."""
    check(functional(shape, body), [_input_for(shape)])


LAYER_NORM = [
    case("vector", (6,), "out = layers.LayerNormalization()(x)"),
    case("sequence", (6, 4), "x = layers.Dense(5)(x)\nout = layers.LayerNormalization()(x)"),
    case("epsilon", (6, 4), "out = layers.LayerNormalization(epsilon=0.1)(x)"),
    case("no-center", (6, 4), "out = layers.LayerNormalization(center=False)(x)"),
    case("after-conv2d", (5, 5, 3), "x = layers.Conv2D(4, 3)(x)\nout = layers.LayerNormalization()(x)"),
    case("after-conv1d", (7, 3), "x = layers.Conv1D(4, 3)(x)\nout = layers.LayerNormalization()(x)"),
]


@pytest.mark.parametrize("shape, body", LAYER_NORM)
def test_layer_normalization(shape, body):
    check(functional(shape, body), [_input_for(shape) * 2.0 + 0.5])


# ---- recurrent ----------------------------------------------------------------------------------

RNN = [
    case(f"{cls}-{name}", cls, args)
    for cls in ("LSTM", "GRU")
    for name, args in [
        ("last", "5"),
        ("sequences", "5, return_sequences=True"),
        ("no-bias", "5, use_bias=False"),
        ("units-keyword", "units=3, return_sequences=True"),
    ]
]


@pytest.mark.parametrize("cls, args", RNN)
def test_rnn(cls, args):
    check(functional((6, 4), f"out = layers.{cls}({args})(x)"), [seq(6, 4)])


RNN_STACKS = [
    case("lstm-lstm-dense", "x = layers.LSTM(6, return_sequences=True)(x)\nx = layers.LSTM(5)(x)\n"
         "out = layers.Dense(2)(x)"),
    case("gru-seq-dense-3d", "x = layers.GRU(6, return_sequences=True)(x)\nout = layers.Dense(2)(x)"),
    case("conv1d-pool-lstm", "x = layers.Conv1D(5, 3, padding='same')(x)\nx = layers.MaxPooling1D()(x)\n"
         "out = layers.LSTM(4)(x)"),
    case("embedding-gru", "x = layers.Embedding(20, 4)(x)\nout = layers.GRU(3)(x)"),
]


@pytest.mark.parametrize("body", RNN_STACKS)
def test_rnn_stacks(body):
    if "Embedding" in body:
        code = functional((6,), body).replace("keras.Input(shape=(6,))", "keras.Input(shape=(6,), dtype='int32')")
        x = random_input((2, 6), "int32", 0, 20)
    else:
        code, x = functional((6, 4), body), seq(6, 4)
    check(code, [x])


# ---- merge layers -------------------------------------------------------------------------------

MERGE = [
    case("add-class-dense", (5,), "a = layers.Dense(4)(x)\nb = layers.Dense(4)(x)\nout = layers.Add()([a, b])"),
    case("add-function-three", (5,),
         "a = layers.Dense(4)(x)\nb = layers.Dense(4)(x)\nc = layers.Dense(4)(x)\nout = layers.add([a, b, c])"),
    case("add-conv", (5, 5, 3), "a = layers.Conv2D(4, 3)(x)\nb = layers.Conv2D(4, 3)(x)\nout = layers.Add()([a, b])"),
    case("add-residual-input", (5, 5, 3), "a = layers.Conv2D(3, 3, padding='same')(x)\nout = layers.add([x, a])"),
    case("multiply-class-dense", (5,),
         "a = layers.Dense(4)(x)\nb = layers.Dense(4)(x)\nout = layers.Multiply()([a, b])"),
    case("multiply-function-three-conv", (5, 5, 3),
         "a = layers.Conv2D(4, 3)(x)\nb = layers.Conv2D(4, 3)(x)\nc = layers.Conv2D(4, 3)(x)\n"
         "out = layers.multiply([a, b, c])"),
    case("multiply-sequence", (6, 4), "a = layers.Dense(3)(x)\nb = layers.Dense(3)(x)\nout = layers.Multiply()([a, b])"),
]


@pytest.mark.parametrize("shape, body", MERGE)
def test_merge(shape, body):
    check(functional(shape, body), [_input_for(shape)])


CONCAT = [
    case("dense-default-axis", (5,), "a = layers.Dense(3)(x)\nb = layers.Dense(4)(x)\nout = layers.Concatenate()([a, b])"),
    case("dense-axis-1", (5,), "a = layers.Dense(3)(x)\nb = layers.Dense(4)(x)\nout = layers.Concatenate(axis=1)([a, b])"),
    case("conv-channels", (5, 5, 3), "a = layers.Conv2D(2, 3)(x)\nb = layers.Conv2D(4, 3)(x)\nout = layers.Concatenate()([a, b])"),
    case("conv-axis-3", (5, 5, 3), "a = layers.Conv2D(2, 3)(x)\nb = layers.Conv2D(4, 3)(x)\nout = layers.Concatenate(axis=3)([a, b])"),
    case("conv-height-axis-1", (5, 5, 3),
         "a = layers.Conv2D(2, 3)(x)\nb = layers.Conv2D(2, 3)(x)\nout = layers.Concatenate(axis=1)([a, b])"),
    case("conv-width-axis-2", (5, 5, 3),
         "a = layers.Conv2D(2, 3)(x)\nb = layers.Conv2D(2, 3)(x)\nc = layers.Conv2D(2, 3)(x)\n"
         "out = layers.Concatenate(axis=2)([a, b, c])"),
    case("conv-axis-minus-3", (5, 5, 3),
         "a = layers.Conv2D(2, 3)(x)\nb = layers.Conv2D(2, 3)(x)\nout = layers.Concatenate(axis=-3)([a, b])"),
    case("function-with-input", (5, 5, 3), "a = layers.Conv2D(2, 3, padding='same')(x)\nout = layers.concatenate([x, a])"),
    case("conv-then-dense", (5, 5, 3),
         "a = layers.Conv2D(2, 3)(x)\nb = layers.Conv2D(2, 3)(x)\nc = layers.Concatenate(axis=1)([a, b])\n"
         "out = layers.Dense(3)(layers.Flatten()(c))"),
    case("sequence-time-axis", (6, 4), "a = layers.Dense(3)(x)\nb = layers.Dense(3)(x)\nout = layers.Concatenate(axis=1)([a, b])"),
    case("conv1d-channels", (7, 3), "a = layers.Conv1D(2, 3)(x)\nb = layers.Conv1D(3, 3)(x)\nout = layers.Concatenate()([a, b])"),
    case("conv1d-time-axis", (7, 3), "a = layers.Conv1D(2, 3)(x)\nb = layers.Conv1D(2, 3)(x)\nout = layers.Concatenate(axis=1)([a, b])"),
]


@pytest.mark.parametrize("shape, body", CONCAT)
def test_concatenate(shape, body):
    check(functional(shape, body), [_input_for(shape)])


# ---- padding and upsampling ---------------------------------------------------------------------

RESHAPING_2D = [
    case("zero-padding-default", "layers.ZeroPadding2D()", (4, 5)),
    case("zero-padding-int", "layers.ZeroPadding2D(2)", (4, 5)),
    case("zero-padding-pair", "layers.ZeroPadding2D((1, 2))", (4, 5)),
    case("zero-padding-asymmetric", "layers.ZeroPadding2D(((1, 0), (2, 3)))", (4, 5)),
    case("up-sampling-nearest-default", "layers.UpSampling2D()", (3, 4)),
    case("up-sampling-nearest-rect", "layers.UpSampling2D((2, 3))", (3, 4)),
    case("up-sampling-nearest-size-3", "layers.UpSampling2D(size=3)", (3, 4)),
    case("up-sampling-bilinear", "layers.UpSampling2D(interpolation='bilinear')", (3, 4)),
    case("up-sampling-bilinear-rect", "layers.UpSampling2D(size=(3, 2), interpolation='bilinear')", (3, 4)),
]


@pytest.mark.parametrize("layer, hw", RESHAPING_2D)
def test_padding_upsampling(layer, hw):
    """Applied to a conv output (channels-first in native layout), then a conv again."""
    code = functional(hw + (3,), f"""
        c = layers.Conv2D(4, 1)(x)
        p = {layer}(c)
        out = layers.Conv2D(2, 3)(p)
    """, outputs="[p, out]")
    check(code, [img(*hw, 3)])


# ---- the three model forms ----------------------------------------------------------------------
# The same networks written as Sequential (list and .add), Functional, subclassed keras.Model (input
# shape from model.build in the source, or from translate_source(input_shape=...)), and a builder.

CNN_LAYERS = [
    "layers.Conv2D(6, 3, strides=2, padding='same', use_bias=False)",
    "layers.BatchNormalization()",
    "layers.ReLU()",
    "layers.Conv2D(8, 3, padding='same', activation='relu')",
    "layers.MaxPooling2D()",
    "layers.Conv2D(4, 2)",
    "layers.Flatten()",
    "layers.Dropout(0.5)",
    "layers.Dense(3, activation='softmax')",
]
RNN_LAYERS = [
    "layers.Embedding(20, 6)",
    "layers.LSTM(8, return_sequences=True)",
    "layers.GRU(5)",
    "layers.Dense(4)",
    "layers.LayerNormalization()",
    "layers.Dense(2, activation='sigmoid')",
]
MLP_LAYERS = [
    "layers.Dense(8, activation='gelu')",
    "layers.Dropout(0.2)",
    "layers.Dense(8)",
    "layers.LeakyReLU(negative_slope=0.1)",
    "layers.Dense(3)",
]
NETS = {
    "cnn": (CNN_LAYERS, (11, 11, 3), "float32"),
    "rnn": (RNN_LAYERS, (7,), "int32"),
    "mlp": (MLP_LAYERS, (6,), "float32"),
}
HEADER = "import keras\nfrom keras import layers\n\n"


def _net_input(net):
    _, shape, dtype = NETS[net]
    if dtype == "int32":
        return random_input((2,) + shape, "int32", 0, 20, seed=5)
    return random_input((2,) + shape, seed=5)


def _sequential_list(net):
    layer_list, shape, dtype = NETS[net]
    items = [f"keras.Input(shape={shape!r}, dtype={dtype!r})"] + layer_list
    return HEADER + "model = keras.Sequential([\n" + "".join(f"    {s},\n" for s in items) + "])\n"


def _sequential_add(net):
    layer_list, shape, dtype = NETS[net]
    lines = [f"model.add(keras.Input(shape={shape!r}, dtype={dtype!r}))"] + [f"model.add({s})" for s in layer_list]
    return HEADER + "model = keras.Sequential()\n" + "\n".join(lines) + "\n"


def _functional(net):
    layer_list, shape, dtype = NETS[net]
    lines = [f"inputs = keras.Input(shape={shape!r}, dtype={dtype!r})", "x = inputs"]
    lines += [f"x = {s}(x)" for s in layer_list] + ["model = keras.Model(inputs, x)"]
    return HEADER + "\n".join(lines) + "\n"


def _subclassed(net, build=True, training=False):
    layer_list, shape, dtype = NETS[net]
    init = "".join(f"        self.l{i} = {s}\n" for i, s in enumerate(layer_list))
    if training:
        body = "".join(f"        x = self.l{i}(x, training=training)\n" if "Dropout" in s or "BatchNorm" in s
                       else f"        x = self.l{i}(x)\n" for i, s in enumerate(layer_list))
        sig = "self, x, training=None"
    else:
        body = "".join(f"        x = self.l{i}(x)\n" for i in range(len(layer_list)))
        sig = "self, x"
    code = (HEADER + "\nclass Net(keras.Model):\n    def __init__(self):\n        super().__init__()\n" + init
            + f"\n    def call({sig}):\n" + body + "        return x\n\n\nmodel = Net()\n")
    if build:
        code += f"model.build((None, {', '.join(map(str, shape))}))\n"
    return code


def _builder(net):
    layer_list, shape, dtype = NETS[net]
    items = [f"keras.Input(shape={shape!r}, dtype={dtype!r})"] + layer_list
    return (HEADER + "def build_model(hidden=8):\n    return keras.Sequential([\n"
            + "".join(f"        {s},\n" for s in items) + "    ])\n")


FORMS = [
    case(f"{net}-{form}", net, form)
    for net in NETS
    for form in ("sequential-list", "sequential-add", "functional", "subclassed-build",
                 "subclassed-input-shape", "subclassed-training-arg", "builder")
]


@pytest.mark.parametrize("net, form", FORMS)
def test_model_forms(net, form):
    shape = NETS[net][1]
    entry, input_shape = "model", None
    if form == "sequential-list":
        code = _sequential_list(net)
    elif form == "sequential-add":
        code = _sequential_add(net)
    elif form == "functional":
        code = _functional(net)
    elif form == "subclassed-build":
        code = _subclassed(net)
    elif form == "subclassed-input-shape":
        code, input_shape = _subclassed(net, build=False), shape
    elif form == "subclassed-training-arg":
        code = _subclassed(net, training=True)
    else:
        code, entry = _builder(net), "build_model(hidden=8)"
    model_name = {"builder": "build_model"}.get(form, "Net" if form.startswith("subclassed") else "model")
    check(code, [_net_input(net)], entry=entry, input_shape=input_shape, model_name=model_name)


def test_subclassed_layers_called_out_of_creation_order():
    """Weight pairing follows layer creation, not call order: same-shaped layers used in reverse."""
    code = HEADER + textwrap.dedent("""
        class Net(keras.Model):
            def __init__(self):
                super().__init__()
                self.first = layers.Dense(4)
                self.second = layers.Dense(4, name="named_dense")
                self.third = layers.Dense(4)
                self.conv_a = layers.Conv1D(4, 1)
                self.conv_b = layers.Conv1D(4, 1)

            def call(self, x):
                x = self.conv_b(x)
                x = self.conv_a(x)
                x = self.third(x)
                x = self.second(x)
                return self.first(x)


        model = Net()
        model.build((None, 5, 4))
    """)
    check(code, [seq(5, 4)], model_name="Net")


def test_functional_two_inputs_two_outputs_shared_layer():
    """Several inputs and outputs, a shared (reused) layer, channels-first and vector outputs."""
    code = HEADER + textwrap.dedent("""
        img = keras.Input(shape=(6, 6, 3))
        vec = keras.Input(shape=(4,))
        shared = layers.Dense(5)
        c = layers.Conv2D(4, 3, padding='same')(img)
        p = layers.GlobalMaxPooling2D()(c)
        a = shared(layers.Dense(4)(p))
        b = shared(vec)
        out = layers.concatenate([a, b])
        model = keras.Model([img, vec], [out, c])
    """)
    check(code, [img(6, 6), vec(4, seed=1)])


# ---- legacy Keras 2 (tf_keras) ------------------------------------------------------------------
# `import tf_keras as keras` resolves like keras; the model runs on tf_keras 2.x, so port_weights must
# accept tf_keras models. Keras 2 spellings: input_shape=/input_dim= on the first layer, alpha= for
# LeakyReLU, AveragePooling2D() with its Keras 2 default pool size, Embedding(input_length=).

LEGACY = [
    case("sequential-mlp-input-dim", """
        import tf_keras as keras
        from tf_keras import layers

        model = keras.Sequential()
        model.add(layers.Dense(8, input_dim=5, activation='relu'))
        model.add(layers.LeakyReLU(alpha=0.2))
        model.add(layers.BatchNormalization())
        model.add(layers.Dropout(0.5))
        model.add(layers.Dense(3, activation='softmax'))
    """, "model", [vec(5)]),
    case("sequential-cnn-input-shape", """
        import tf_keras as keras
        from tf_keras import layers

        model = keras.Sequential([
            layers.Conv2D(6, 3, padding='same', strides=2, input_shape=(9, 9, 3)),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.AveragePooling2D(),
            layers.Conv2D(4, (2, 2), padding='same', activation='relu'),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dense(3),
        ])
    """, "model", [img(9, 9)]),
    case("sequential-text-rnn", """
        import tf_keras as keras
        from tf_keras.layers import Embedding, LSTM, GRU, Dense

        model = keras.Sequential()
        model.add(Embedding(input_dim=20, output_dim=6, input_length=7))
        model.add(LSTM(8, return_sequences=True))
        model.add(GRU(5))
        model.add(Dense(2, activation='sigmoid'))
    """, "model", [random_input((2, 7), "int32", 0, 20)]),
    case("functional-models-module", """
        from tf_keras.layers import Input, Dense, Conv1D, GlobalMaxPooling1D, Concatenate, LayerNormalization
        from tf_keras.models import Model

        inp = Input(shape=(8, 3))
        a = Conv1D(4, 3, padding='same', activation='relu')(inp)
        b = Conv1D(4, 3, strides=2, padding='same')(inp)
        g = Concatenate()([GlobalMaxPooling1D()(a), GlobalMaxPooling1D()(b)])
        out = Dense(2)(LayerNormalization()(g))
        model = Model(inputs=inp, outputs=[out, a])
    """, "model", [seq(8, 3)]),
    case("subclassed", """
        import tf_keras as keras
        from tf_keras import layers

        class Net(keras.Model):
            def __init__(self):
                super().__init__()
                self.conv = layers.Conv2D(4, 3, activation='relu')
                self.pool = layers.GlobalAveragePooling2D()
                self.fc = layers.Dense(3)

            def call(self, x):
                return self.fc(self.pool(self.conv(x)))

        model = Net()
        model.build((None, 6, 6, 3))
    """, "model", [img(6, 6)]),
]


@pytest.mark.parametrize("code, entry, inputs", LEGACY)
def test_legacy_tf_keras(code, entry, inputs):
    pytest.importorskip("tf_keras")
    check(code, inputs, entry=entry, model_name="Net" if "class Net" in code else None)


def test_legacy_keras2_module_paths():
    """`keras.layers.convolutional.Conv2D` style paths (Keras <= 2.5) are not exposed by tf_keras 2.21
    (nor Keras 3), so no framework can run such source here; translation-only tests cover them."""
    tf_keras = pytest.importorskip("tf_keras")
    if not hasattr(tf_keras.layers, "convolutional"):
        pytest.skip("tf_keras.layers.convolutional does not exist in this tf_keras version")
    code = """
        import tf_keras as keras

        model = keras.Sequential([
            keras.layers.convolutional.Conv2D(4, 3, input_shape=(6, 6, 3)),
            keras.layers.core.Flatten(),
            keras.layers.core.Dense(2),
        ])
    """
    check(code, [img(6, 6)])


# ---- regressions: engine bugs these tests found ---------------------------------------------------

# A model with no torch submodules (only Reshape/activation code) still imports nn for its base class.
def test_model_without_torch_modules():
    check(functional((2, 6), "x = layers.Reshape((3, 4))(x)\nout = layers.Activation('tanh')(x)"), [seq(2, 6)])


# Functional outputs given through a variable (`outs = [a, b]; keras.Model(inp, outs)`) are two outputs.
def test_functional_outputs_list_variable():
    code = functional((5, 5, 3), """
        a = layers.Conv2D(4, 3)(x)
        b = layers.Dense(3)(layers.Flatten()(x))
        outs = [a, b]
    """, outputs="outs")
    check(code, [img(5, 5)])


# ---- coverage: every rule has a numerical test here -----------------------------------------------

def test_every_rule_has_a_numerical_test():
    """Each layer rule in rules/*.yaml is exercised by a numerical test (one of its Keras names is called
    in this file or another tests/test_layers*.py file) and each activation string is in ACTIVATIONS:
    a new rule needs a numerical test."""
    import re
    from pathlib import Path

    source = "\n".join(path.read_text() for path in sorted(Path(__file__).parent.glob("test_layers*.py")))
    called = set(re.findall(r"\b([A-Za-z_][A-Za-z0-9_]*)\(", source))
    rules = load_rules()
    by_id: dict = {}
    for path, rule in rules.layers.items():
        by_id.setdefault(rule.id, set()).add(path.rsplit(".", 1)[-1])
    missing = sorted(rule_id for rule_id, names in by_id.items() if not names & called)
    assert not missing, f"layer rules without a numerical test: {missing}"
    tested_acts = set()
    for path in sorted(Path(__file__).parent.glob("test_layers*.py")):
        for block in re.findall(r"^ACTIVATIONS = \[(.*?)\]", path.read_text(), re.S | re.M):
            tested_acts |= set(re.findall(r"[\"']([A-Za-z0-9_]+)[\"']", block))
    missing_acts = sorted(set(rules.activations) - tested_acts)
    assert not missing_acts, f"activation strings without a numerical test: {missing_acts}"
