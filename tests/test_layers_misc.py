"""Numerical tests of attention and the remaining layers against Keras 3: MultiHeadAttention
(key_dim != dim / heads, value_dim, output_shape, use_bias, key, attention_mask, use_causal_mask,
return_attention_scores, use_gate, dropout), Attention / AdditiveAttention, PReLU, ELU, the remaining
activation strings, Subtract / Average / Maximum / Minimum / Dot, Permute, RepeatVector, spatial and
noise dropouts, Identity, Rescaling, Normalization, CenterCrop, Resizing, GroupNormalization,
UnitNormalization; and the findings for what is not translated (Masking, ...).

Every numeric case goes through `check` (tests/test_layers_numeric.py): all weights random, both
layouts, max |keras - torch| <= 1e-5 * max(1, max |keras|), every Keras weight ported.
"""
from __future__ import annotations

import textwrap

import numpy as np
import pytest

from test_layers_numeric import HEADER, case, check, functional, img, seq, vec

from translator.api import translate_source
from translator.verify.compare import random_input

keras = pytest.importorskip("keras")


def _findings(code: str, **kwargs):
    result = translate_source(textwrap.dedent(code), **kwargs)
    return result, {f.code for f in result.findings}


def _mask(shape, seed=0, dead_row=True):
    """A random boolean (batch, T, S) attention mask; with dead_row, query 1 of sample 0 may attend
    to no key at all (Keras' two attention paths treat such rows differently)."""
    rng = np.random.default_rng(seed)
    mask = rng.random(shape) > 0.4
    mask[..., 0] |= ~mask.any(-1)     # otherwise every row attends somewhere
    if dead_row:
        mask[0, 1, :] = False
    return mask


def _mha_model(body: str, q=(5, 8), v=(6, 7), k=None, mask=None, mask_dtype="bool") -> str:
    """Functional model: inputs q, v (and k, m); `body` assigns `out` (or the names in OUTPUTS)."""
    lines = [f"q = keras.Input(shape={q!r})", f"v = keras.Input(shape={v!r})"]
    names = ["q", "v"]
    if k is not None:
        lines.append(f"k = keras.Input(shape={k!r})")
        names.append("k")
    if mask is not None:
        lines.append(f"m = keras.Input(shape={mask!r}, dtype={mask_dtype!r})")
        names.append("m")
    body = textwrap.dedent(body).strip()
    outputs = "out"
    if body.startswith("#"):
        first, body = body.split("\n", 1)
        outputs = first[1:].strip()
    return HEADER + "\n".join(lines) + "\n" + body + f"\nmodel = keras.Model([{', '.join(names)}], {outputs})\n"


def _mha_inputs(q=(5, 8), v=(6, 7), k=None, mask=None, mask_dtype="bool", dead_row=True):
    out = [random_input((2,) + q, seed=1), random_input((2,) + v, seed=2)]
    if k is not None:
        out.append(random_input((2,) + k, seed=3))
    if mask is not None:
        m = _mask((2,) + mask, seed=4, dead_row=dead_row)
        out.append(m if mask_dtype == "bool" else m.astype(mask_dtype))
    return out


# ---- MultiHeadAttention -------------------------------------------------------------------------

MHA = [
    # (id, layer, call, shapes)
    case("self-attention-heads-times-key-dim-equals-dim", "layers.MultiHeadAttention(2, 4)", "(q, q)", {}),
    case("key-dim-not-dim-over-heads", "layers.MultiHeadAttention(num_heads=3, key_dim=5)", "(q, v)", {}),
    case("value-dim-output-shape-int", "layers.MultiHeadAttention(2, 4, value_dim=3, output_shape=5)",
         "(q, v)", {}),
    case("output-shape-tuple", "layers.MultiHeadAttention(2, 3, output_shape=(2, 3))", "(q, v)", {}),
    case("no-bias", "layers.MultiHeadAttention(2, 3, use_bias=False)", "(q, v)", {}),
    case("separate-key", "layers.MultiHeadAttention(2, 3)", "(q, v, k)", {"k": (6, 4)}),
    case("key-keyword", "layers.MultiHeadAttention(2, 3, value_dim=2)", "(q, v, key=k)", {"k": (6, 5)}),
    case("value-and-key-keywords", "layers.MultiHeadAttention(2, 3)", "(q, value=v, key=k)", {"k": (6, 2)}),
    case("query-keyword", "layers.MultiHeadAttention(2, 3)", "(query=q, value=v)", {}),
    case("causal-self", "layers.MultiHeadAttention(2, 3)", "(q, q, use_causal_mask=True)", {}),
    case("causal-cross-shorter-query", "layers.MultiHeadAttention(2, 3)", "(q, v, use_causal_mask=True)",
         {"q": (4, 8)}),
    case("attention-mask-bool", "layers.MultiHeadAttention(2, 3)", "(q, v, attention_mask=m)",
         {"mask": (5, 6)}),
    case("attention-mask-float", "layers.MultiHeadAttention(2, 3)", "(q, v, attention_mask=m)",
         {"mask": (5, 6), "mask_dtype": "float32"}),
    case("attention-mask-and-causal", "layers.MultiHeadAttention(2, 3)",
         "(q, v, attention_mask=m, use_causal_mask=True)", {"mask": (5, 6)}),
    case("gate", "layers.MultiHeadAttention(2, 3, value_dim=4, use_gate=True)", "(q, v)", {}),
    case("dropout-inactive-masked", "layers.MultiHeadAttention(2, 3, dropout=0.2)",
         "(q, v, attention_mask=m)", {"mask": (5, 6)}),
    case("attention-axes-default-spelled", "layers.MultiHeadAttention(2, 3, attention_axes=(1,))", "(q, v)", {}),
]


@pytest.mark.parametrize("layer, call_, shapes", MHA)
def test_multi_head_attention(layer, call_, shapes):
    shapes = dict(shapes)
    kw = {"q": shapes.pop("q", (5, 8)), "v": (6, 7), "k": shapes.pop("k", None), "mask": shapes.pop("mask", None),
          "mask_dtype": shapes.pop("mask_dtype", "bool")}
    check(_mha_model(f"out = {layer}{call_}", **kw), _mha_inputs(**kw))


SCORES = [
    case("plain", "(q, v, return_attention_scores=True)", {}),
    case("causal", "(q, v, return_attention_scores=True, use_causal_mask=True)", {}),
    case("masked-dead-row", "(q, v, attention_mask=m, return_attention_scores=True)", {"mask": (5, 6)}),
    case("masked-and-causal", "(q, v, attention_mask=m, use_causal_mask=True, return_attention_scores=True)",
         {"mask": (5, 6)}),
]


@pytest.mark.parametrize("call_, shapes", SCORES)
def test_multi_head_attention_scores(call_, shapes):
    """Two outputs: (B, T, dim) and the (B, heads, T, S) probabilities; rows masked everywhere are
    zeros on this Keras path."""
    kw = {"mask": shapes.get("mask")}
    code = _mha_model(f"""
        # [out, scores]
        out, scores = layers.MultiHeadAttention(3, 2, value_dim=4){call_}
    """, **kw)
    check(code, _mha_inputs(**kw))


def test_multi_head_attention_after_conv1d():
    """Query and value come from Conv1D outputs (channels-first in the native layout): the call
    argument `value` is brought back to (batch, seq, features) too."""
    code = functional((7, 3), """
        a = layers.Conv1D(8, 3, padding='same')(x)
        b = layers.Conv1D(6, 3)(x)
        out = layers.MultiHeadAttention(2, 4)(a, b)
    """)
    check(code, [seq(7, 3)])


def test_transformer_block_subclassed():
    """A subclassed encoder block: self-attention with a causal mask, residuals, LayerNorm, MLP."""
    code = HEADER + textwrap.dedent("""
        class Block(keras.Model):
            def __init__(self):
                super().__init__()
                self.att = layers.MultiHeadAttention(num_heads=4, key_dim=6)
                self.norm1 = layers.LayerNormalization()
                self.ff1 = layers.Dense(16, activation='gelu')
                self.ff2 = layers.Dense(12)
                self.norm2 = layers.LayerNormalization()

            def call(self, x):
                h = self.att(x, x, use_causal_mask=True)
                x = self.norm1(x + h)
                return self.norm2(x + self.ff2(self.ff1(x)))


        model = Block()
        model.build((None, 5, 12))
    """)
    check(code, [seq(5, 12)], model_name="Block")


MHA_FINDINGS = [
    case("attention-over-two-axes", "layers.MultiHeadAttention(2, 3, attention_axes=(1, 2))(x, x)",
         (4, 4, 6), "FWT202"),
    case("rank-4-query", "layers.MultiHeadAttention(2, 3)(x, x)", (4, 4, 6), "FWT202"),
    case("sliding-window", "layers.MultiHeadAttention(2, 3, sliding_window=2)(x, x)", (5, 6), "FWT202"),
    case("keras-mask-argument", "layers.MultiHeadAttention(2, 3)(x, x, query_mask=x)", (5, 6), "FWT201"),
]


@pytest.mark.parametrize("body, shape, code", MHA_FINDINGS)
def test_multi_head_attention_findings(body, shape, code):
    result, codes = _findings(functional(shape, f"out = {body}"))
    assert code in codes, [f.format() for f in result.findings]
    assert "MultiHeadAttention(2, 3" in result.code       # the model is left as it was


# ---- Attention, AdditiveAttention --------------------------------------------------------------

ATTENTION = [
    case("dot", "layers.Attention()", "([q, v])", {}),
    case("dot-scale", "layers.Attention(use_scale=True)", "([q, v])", {}),
    case("dot-key", "layers.Attention()", "([q, v, k])", {"k": (6, 8)}),
    case("concat", "layers.Attention(score_mode='concat')", "([q, v])", {}),
    case("concat-scale", "layers.Attention(use_scale=True, score_mode='concat')", "([q, v, k])", {"k": (6, 8)}),
    case("dot-causal", "layers.Attention()", "([q, v], use_causal_mask=True)", {}),
    case("dot-masks", "layers.Attention()", "([q, v], mask=[qm, vm])", {"masks": True}),
    case("dot-value-mask-causal", "layers.Attention(use_scale=True)", "([q, v], mask=[None, vm], use_causal_mask=True)",
         {"masks": True}),
    case("dot-dropout-inactive", "layers.Attention(dropout=0.3)", "([q, v], mask=[qm, vm])", {"masks": True}),
    case("concat-masks-causal", "layers.Attention(score_mode='concat')", "([q, v], mask=[qm, vm], use_causal_mask=True)",
         {"masks": True}),
    case("additive", "layers.AdditiveAttention()", "([q, v])", {}),
    case("additive-no-scale", "layers.AdditiveAttention(use_scale=False)", "([q, v, k])", {"k": (6, 8)}),
    case("additive-masks-causal", "layers.AdditiveAttention()", "([q, v], mask=[qm, vm], use_causal_mask=True)",
         {"masks": True}),
    case("additive-dropout-inactive", "layers.AdditiveAttention(dropout=0.5)", "([q, v])", {}),
]


def _attention_model(layer, call_, k=None, masks=False, scores=False):
    """Query (5, 8); value (6, 3) when a key (6, 8) is given, else (6, 8): the scores need the key to
    have the query's feature size."""
    v_dim = 3 if k else 8
    lines = ["q = keras.Input(shape=(5, 8))", f"v = keras.Input(shape=(6, {v_dim}))"]
    names = ["q", "v"]
    if k:
        lines.append(f"k = keras.Input(shape={k!r})")
        names.append("k")
    if masks:
        lines += ["qm = keras.Input(shape=(5,), dtype='bool')", "vm = keras.Input(shape=(6,), dtype='bool')"]
        names += ["qm", "vm"]
    if scores:
        lines.append(f"out, scores = {layer}{call_}")
        outputs = "[out, scores]"
    else:
        lines.append(f"out = {layer}{call_}")
        outputs = "out"
    code = HEADER + "\n".join(lines) + f"\nmodel = keras.Model([{', '.join(names)}], {outputs})\n"
    inputs = [random_input((2, 5, 8), seed=1), random_input((2, 6, v_dim), seed=2)]
    if k:
        inputs.append(random_input((2,) + k, seed=3))
    if masks:
        rng = np.random.default_rng(5)
        qm = rng.random((2, 5)) > 0.3
        vm = rng.random((2, 6)) > 0.4
        vm[1, :] = False          # a sample whose values are all masked: Keras subtracts 1e9 everywhere
        inputs += [qm, vm]
    return code, inputs


@pytest.mark.parametrize("layer, call_, opts", ATTENTION)
def test_attention(layer, call_, opts):
    code, inputs = _attention_model(layer, call_, **opts)
    check(code, inputs)


@pytest.mark.parametrize("layer", ["layers.Attention()", "layers.Attention(score_mode='concat', use_scale=True)",
                                   "layers.AdditiveAttention()"])
def test_attention_scores(layer):
    code, inputs = _attention_model(layer, "([q, v, k], mask=[qm, vm], return_attention_scores=True)",
                                    k=(6, 8), masks=True, scores=True)
    check(code, inputs)


# ---- PReLU, ELU, activation strings ---------------------------------------------------------------

PRELU = [
    case("dense-default", (6,), "x = layers.Dense(5)(x)\nout = layers.PReLU()(x)"),
    case("conv2d-per-channel", (5, 5, 3), "x = layers.Conv2D(4, 3)(x)\nout = layers.PReLU(shared_axes=[1, 2])(x)"),
    case("conv2d-elementwise-default", (5, 5, 3), "x = layers.Conv2D(4, 3)(x)\nout = layers.PReLU()(x)"),
    case("conv2d-shared-width", (5, 5, 3), "x = layers.Conv2D(4, 3)(x)\nout = layers.PReLU(shared_axes=2)(x)"),
    case("conv2d-one-parameter", (5, 5, 3), "x = layers.Conv2D(4, 3)(x)\nout = layers.PReLU(shared_axes=[1, 2, 3])(x)"),
    case("conv1d-per-channel", (7, 3), "x = layers.Conv1D(4, 3)(x)\nout = layers.PReLU(shared_axes=1)(x)"),
    case("sequence-per-channel", (6, 4), "x = layers.Dense(5)(x)\nout = layers.PReLU(shared_axes=[1])(x)"),
    case("sequence-elementwise", (6, 4), "x = layers.Dense(5)(x)\nout = layers.PReLU()(x)"),
]


@pytest.mark.parametrize("shape, body", PRELU)
def test_prelu(shape, body):
    check(functional(shape, body), [random_input((2,) + shape, seed=3)])


@pytest.mark.parametrize("layer", ["layers.ELU()", "layers.ELU(alpha=0.4)", "layers.ELU(2.0)"])
def test_elu(layer):
    code = functional((4, 4, 3), f"""
        c = layers.Conv2D(3, 1)(x)
        d = layers.Dense(5)(layers.Flatten()(x))
        out_c = {layer}(c)
        out_d = {layer}(d)
    """, outputs="[out_c, out_d]")
    check(code, [img(4, 4) * 3.0])


ACTIVATIONS = ["hard_sigmoid", "hard_silu", "hard_swish", "exponential", "mish", "log_softmax", "celu", "glu",
               "hard_tanh", "hard_shrink", "soft_shrink", "tanh_shrink", "log_sigmoid"]


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_string(name):
    """As `activation=` of Dense and Conv2D, as an Activation layer, and as keras.activations.X on a
    channels-first tensor (log_softmax and glu work on the channel axis). Inputs span [-6, 6]."""
    code = functional((5, 5, 3), f"""
        d = layers.Dense(4, activation={name!r})(layers.Flatten()(x))
        a = layers.Activation({name!r})(layers.Dense(4)(layers.Flatten()(x)))
        c = layers.Conv2D(4, 3, activation={name!r})(x)
        i = layers.Activation({name!r})(layers.Conv2D(4, 3)(x))
    """, outputs="[d, a, c, i]")
    check(code, [img(5, 5) * 3.0])


def test_hard_sigmoid_is_the_keras3_definition():
    """Keras 3: relu6(x + 3) / 6 (Keras 2 was clip(0.2 x + 0.5, 0, 1)); the translation uses F.hardsigmoid."""
    x = np.linspace(-4, 4, 17).astype("float32")
    k = np.asarray(keras.activations.hard_sigmoid(x))
    np.testing.assert_allclose(k, np.clip(x + 3, 0, 6) / 6, atol=1e-7)
    result = translate_source(functional((4,), "out = layers.Activation('hard_sigmoid')(x)"))
    assert "F.hardsigmoid" in result.code


def test_thresholded_relu_tf_keras():
    """ThresholdedReLU exists only in tf_keras (Keras 3 removed it): x * (x > theta)."""
    pytest.importorskip("tf_keras")
    code = """
        import tf_keras as keras
        from tf_keras import layers

        inp = keras.Input(shape=(6,))
        out = layers.ThresholdedReLU(theta=0.5)(layers.Dense(4)(inp))
        model = keras.Model(inp, out)
    """
    check(code, [vec(6) * 2.0])


# ---- merges ---------------------------------------------------------------------------------------

MERGE = [
    case("subtract-dense", (5,), "a = layers.Dense(4)(x)\nb = layers.Dense(4)(x)\nout = layers.Subtract()([a, b])"),
    case("subtract-function-conv", (5, 5, 3),
         "a = layers.Conv2D(4, 3)(x)\nb = layers.Conv2D(4, 3)(x)\nout = layers.subtract([a, b])"),
    case("subtract-input-minus-conv", (5, 5, 3), "a = layers.Conv2D(3, 3, padding='same')(x)\nout = layers.Subtract()([x, a])"),
    case("average-three", (5,),
         "a = layers.Dense(4)(x)\nb = layers.Dense(4)(x)\nc = layers.Dense(4)(x)\nout = layers.Average()([a, b, c])"),
    case("average-function-conv", (5, 5, 3),
         "a = layers.Conv2D(4, 3)(x)\nb = layers.Conv2D(4, 3)(x)\nout = layers.average([a, b])"),
    case("maximum-conv", (5, 5, 3),
         "a = layers.Conv2D(4, 3)(x)\nb = layers.Conv2D(4, 3)(x)\nc = layers.Conv2D(4, 3)(x)\nout = layers.Maximum()([a, b, c])"),
    case("maximum-function-dense", (5,), "a = layers.Dense(4)(x)\nb = layers.Dense(4)(x)\nout = layers.maximum([a, b])"),
    case("minimum-sequence", (6, 4), "a = layers.Dense(3)(x)\nb = layers.Dense(3)(x)\nout = layers.Minimum()([a, b])"),
    case("minimum-function-conv1d", (7, 3),
         "a = layers.Conv1D(4, 3)(x)\nb = layers.Conv1D(4, 3)(x)\nout = layers.minimum([a, b])"),
]


@pytest.mark.parametrize("shape, body", MERGE)
def test_merge(shape, body):
    check(functional(shape, body), [random_input((2,) + shape, seed=3)])


DOT = [
    case("vectors-axes-1", (5,), "a = layers.Dense(4)(x)\nb = layers.Dense(4)(x)\nout = layers.Dot(axes=1)([a, b])"),
    case("vectors-normalize", (5,),
         "a = layers.Dense(4)(x)\nb = layers.Dense(4)(x)\nout = layers.Dot(axes=-1, normalize=True)([a, b])"),
    case("sequences-axes-2", (6, 4), "a = layers.Dense(3)(x)\nb = layers.Dense(3)(x)\nout = layers.Dot(axes=2)([a, b])"),
    case("sequences-axes-1", (6, 4), "a = layers.Dense(3)(x)\nb = layers.Dense(5)(x)\nout = layers.Dot(axes=1)([a, b])"),
    case("sequences-axes-2-1", (6, 4),
         "a = layers.Dense(6)(x)\nb = layers.Dense(3)(x)\nout = layers.Dot(axes=(2, 1))([a, b])"),
    case("sequences-axes-1-2", (6, 4),
         "a = layers.Dense(3)(x)\nb = layers.Reshape((3, 6))(layers.Dense(18)(layers.Flatten()(x)))\n"
         "out = layers.Dot(axes=(1, 2))([a, b])"),
    case("sequences-normalize-function", (6, 4),
         "a = layers.Dense(3)(x)\nb = layers.Dense(3)(x)\nout = layers.dot([a, b], axes=-1, normalize=True)"),
    case("vector-and-sequence", (6, 4),
         "a = layers.Dense(3)(layers.Flatten()(x))\nb = layers.Dense(3)(x)\nout = layers.Dot(axes=(1, 2))([a, b])"),
    case("conv1d-outputs", (7, 3),
         "a = layers.Conv1D(4, 3)(x)\nb = layers.Conv1D(4, 3)(x)\nout = layers.Dot(axes=1)([a, b])"),
    case("image-and-vector", (4, 4, 3),
         "a = layers.Conv2D(5, 1)(x)\nb = layers.Dense(5)(layers.Flatten()(x))\nout = layers.Dot(axes=(3, 1))([a, b])"),
]


@pytest.mark.parametrize("shape, body", DOT)
def test_dot(shape, body):
    check(functional(shape, body), [random_input((2,) + shape, seed=3)])


# ---- reshaping ------------------------------------------------------------------------------------

RESHAPING = [
    case("permute-sequence", (6, 4), "out = layers.Permute((2, 1))(layers.Dense(3)(x))"),
    case("permute-conv-output", (5, 6, 3), "out = layers.Permute((3, 1, 2))(layers.Conv2D(4, 2)(x))"),
    case("permute-then-conv", (5, 6, 3),
         "x = layers.Conv2D(4, 2)(x)\nx = layers.Permute((2, 1, 3))(x)\nout = layers.Conv2D(2, 3)(x)"),
    case("permute-conv1d-then-dense", (7, 3),
         "x = layers.Conv1D(4, 3)(x)\nx = layers.Permute((2, 1))(x)\nout = layers.Dense(2)(x)"),
    case("repeat-vector", (5,), "x = layers.Dense(4)(x)\nout = layers.RepeatVector(3)(x)"),
    case("repeat-vector-then-lstm", (5,), "x = layers.RepeatVector(4)(x)\nout = layers.LSTM(3, return_sequences=True)(x)"),
]


@pytest.mark.parametrize("shape, body", RESHAPING)
def test_reshaping(shape, body):
    check(functional(shape, body), [random_input((2,) + shape, seed=3)])


# ---- identities at inference ----------------------------------------------------------------------

IDENTITIES = [
    case("spatial-dropout1d", (7, 3), "x = layers.Conv1D(4, 3)(x)\nx = layers.SpatialDropout1D(0.3)(x)\nout = layers.Conv1D(2, 3)(x)"),
    case("spatial-dropout1d-on-dense", (7, 3), "x = layers.Dense(4)(x)\nout = layers.SpatialDropout1D(0.3)(x)"),
    case("spatial-dropout2d", (6, 6, 3), "x = layers.Conv2D(4, 3)(x)\nx = layers.SpatialDropout2D(0.5)(x)\nout = layers.Conv2D(2, 3)(x)"),
    case("spatial-dropout3d", (3, 4, 4, 2), "x = layers.SpatialDropout3D(0.5)(x)\nout = layers.Dense(3)(x)"),
    case("gaussian-noise", (5,), "x = layers.Dense(4)(x)\nx = layers.GaussianNoise(0.5)(x)\nout = layers.Dense(2)(x)"),
    case("gaussian-dropout", (5, 5, 3), "x = layers.Conv2D(4, 3)(x)\nx = layers.GaussianDropout(0.4)(x)\nout = layers.Conv2D(2, 3)(x)"),
    case("alpha-dropout", (5,), "x = layers.Dense(4, activation='selu')(x)\nx = layers.AlphaDropout(0.2)(x)\nout = layers.Dense(2)(x)"),
    case("identity", (5, 5, 3), "x = layers.Conv2D(4, 3)(x)\nx = layers.Identity()(x)\nout = layers.Flatten()(x)"),
]


@pytest.mark.parametrize("shape, body", IDENTITIES)
def test_identities_at_inference(shape, body):
    check(functional(shape, body), [random_input((2,) + shape, seed=3)])


def test_noise_layers_are_noted():
    result, codes = _findings(functional((5,), "x = layers.GaussianNoise(0.1)(x)\nout = layers.GaussianDropout(0.2)(x)"))
    assert "FWT203" in codes and "GaussianNoise" not in result.code.split("class")[-1]


def test_masking_is_refused():
    """Masking attaches a Keras mask that later layers consume; torch has none: a finding, source kept."""
    code = functional((6, 3), "x = layers.Masking(mask_value=0.0)(x)\nout = layers.LSTM(4)(x)")
    result, codes = _findings(code)
    assert "FWT202" in codes
    assert "layers.Masking(mask_value=0.0)" in result.code and "fwtranslate FWT202" in result.code


# ---- preprocessing inside models ------------------------------------------------------------------

PREPROCESSING = [
    case("rescaling-expression", (5, 5, 3), "out = layers.Rescaling(1.0 / 255)(x)"),
    case("rescaling-offset", (5, 5, 3), "x = layers.Rescaling(1.0 / 127.5, offset=-1)(x)\nout = layers.Conv2D(2, 3)(x)"),
    case("rescaling-per-channel-image", (5, 5, 3),
         "x = layers.Conv2D(3, 1)(x)\nout = layers.Rescaling([0.5, 2.0, -1.0], offset=[0.1, 0.2, 0.3])(x)"),
    case("rescaling-per-channel-vector", (4,), "out = layers.Rescaling([0.5, 2.0, -1.0, 3.0], offset=1.5)(x)"),
    case("normalization-scalar", (5,), "out = layers.Normalization(mean=0.5, variance=4.0)(x)"),
    case("normalization-per-channel-image", (5, 5, 3),
         "x = layers.Conv2D(3, 1)(x)\nout = layers.Normalization(mean=[0.1, -0.2, 0.3], variance=[1.0, 0.25, 9.0])(x)"),
    case("normalization-per-channel-input-then-conv", (5, 5, 3),
         "x = layers.Normalization(mean=[0.1, -0.2, 0.3], variance=[1.0, 0.25, 9.0])(x)\nout = layers.Conv2D(2, 3)(x)"),
    case("normalization-invert", (4,), "out = layers.Normalization(mean=[1.0, 2.0, 3.0, 4.0], variance=[1.0, 4.0, 0.5, 2.0], invert=True)(x)"),
    case("normalization-axis-none", (6, 4), "out = layers.Normalization(axis=None, mean=2.0, variance=0.5)(x)"),
    case("normalization-zero-variance", (4,), "out = layers.Normalization(mean=[0.0, 1.0, 0.0, 1.0], variance=[1.0, 0.0, 2.0, 1.0])(x)"),
    case("center-crop-even", (8, 9, 3), "out = layers.CenterCrop(4, 5)(x)"),
    case("center-crop-odd-after-conv", (9, 8, 3), "x = layers.Conv2D(4, 1)(x)\nout = layers.CenterCrop(4, 5)(x)"),
    case("center-crop-same-size", (6, 6, 3), "out = layers.CenterCrop(6, 6)(x)"),
]


@pytest.mark.parametrize("shape, body", PREPROCESSING)
def test_preprocessing(shape, body):
    check(functional(shape, body), [random_input((2,) + shape, seed=3)])


RESIZING = [
    case("bilinear-up", "layers.Resizing(14, 18)", (7, 9)),
    case("bilinear-down-non-integer", "layers.Resizing(5, 4)", (7, 9)),
    case("bilinear-antialias-down", "layers.Resizing(3, 4, antialias=True)", (7, 9)),
    case("nearest-up-non-integer", "layers.Resizing(10, 13, interpolation='nearest')", (7, 9)),
    case("nearest-down", "layers.Resizing(5, 4, interpolation='nearest')", (7, 9)),
    case("bicubic-antialias", "layers.Resizing(10, 13, interpolation='bicubic', antialias=True)", (7, 9)),
    case("area-integer-down", "layers.Resizing(4, 3, interpolation='area')", (8, 9)),
    case("area-integer-up", "layers.Resizing(14, 18, interpolation='area')", (7, 9)),
    case("crop-to-aspect-ratio", "layers.Resizing(4, 4, crop_to_aspect_ratio=True)", (7, 9)),
    case("pad-to-aspect-ratio", "layers.Resizing(6, 4, pad_to_aspect_ratio=True, fill_value=0.5)", (7, 9)),
    case("same-size", "layers.Resizing(7, 9)", (7, 9)),
]


@pytest.mark.parametrize("layer, hw", RESIZING)
def test_resizing(layer, hw):
    """On a conv output (channels-first in the native layout), then a conv again."""
    code = functional(hw + (3,), f"""
        c = layers.Conv2D(4, 1)(x)
        r = {layer}(c)
        out = layers.Conv2D(2, 3)(r)
    """, outputs="[r, out]")
    check(code, [img(*hw, 3)])


PREPROCESSING_FINDINGS = [
    case("bicubic-no-antialias", "layers.Resizing(10, 13, interpolation='bicubic')", (7, 9, 3)),
    case("lanczos", "layers.Resizing(10, 13, interpolation='lanczos3')", (7, 9, 3)),
    case("area-non-integer", "layers.Resizing(5, 4, interpolation='area')", (7, 9, 3)),
    case("center-crop-larger-than-input", "layers.CenterCrop(8, 8)", (6, 6, 3)),
    case("normalization-adapted", "layers.Normalization()", (4,)),
]


@pytest.mark.parametrize("layer, shape", PREPROCESSING_FINDINGS)
def test_preprocessing_findings(layer, shape):
    result, codes = _findings(functional(shape, f"out = {layer}(x)"))
    assert "FWT202" in codes, [f.format() for f in result.findings]


# ---- normalization --------------------------------------------------------------------------------

NORMS = [
    case("group-norm-conv", (5, 5, 3), "x = layers.Conv2D(4, 3)(x)\nout = layers.GroupNormalization(groups=2)(x)"),
    case("group-norm-instance", (5, 5, 3), "x = layers.Conv2D(4, 3)(x)\nout = layers.GroupNormalization(groups=-1)(x)"),
    case("group-norm-one-group-epsilon", (5, 5, 3),
         "x = layers.Conv2D(4, 3)(x)\nout = layers.GroupNormalization(groups=1, epsilon=0.1)(x)"),
    case("group-norm-no-affine", (5, 5, 3),
         "x = layers.Conv2D(6, 3)(x)\nout = layers.GroupNormalization(3, center=False, scale=False)(x)"),
    case("group-norm-sequence", (6, 4), "x = layers.Dense(6)(x)\nout = layers.GroupNormalization(groups=3)(x)"),
    case("group-norm-vector", (5,), "x = layers.Dense(8)(x)\nout = layers.GroupNormalization(groups=4)(x)"),
    case("unit-norm-dense", (5,), "out = layers.UnitNormalization()(layers.Dense(4)(x))"),
    case("unit-norm-conv-channels", (5, 5, 3), "out = layers.UnitNormalization()(layers.Conv2D(4, 3)(x))"),
    case("unit-norm-conv-spatial", (5, 5, 3), "out = layers.UnitNormalization(axis=[1, 2])(layers.Conv2D(4, 3)(x))"),
    case("unit-norm-sequence-time", (6, 4), "out = layers.UnitNormalization(axis=1)(layers.Dense(3)(x))"),
]


@pytest.mark.parametrize("shape, body", NORMS)
def test_normalization_layers(shape, body):
    check(functional(shape, body), [random_input((2,) + shape, seed=3) * 2.0 + 0.5])


def test_group_norm_center_without_scale_is_refused():
    _, codes = _findings(functional((5, 5, 3), "out = layers.GroupNormalization(3, scale=False)(x)"))
    assert "FWT202" in codes


# ---- legacy Keras 2 (tf_keras) --------------------------------------------------------------------

def test_legacy_tf_keras_attention():
    """tf_keras keeps MultiHeadAttention's projections in the same `_query_dense`... attributes and
    Attention's scale as `scale`; PReLU and GroupNormalization... as in Keras 3. (No query row is
    masked everywhere here: tf_keras adds -1e9 to masked scores where Keras 3 replaces them.)"""
    pytest.importorskip("tf_keras")
    code = """
        import tf_keras as keras
        from tf_keras import layers

        q = keras.Input(shape=(5, 8))
        v = keras.Input(shape=(6, 7))
        m = keras.Input(shape=(5, 6), dtype='bool')
        a, s = layers.MultiHeadAttention(3, 4, value_dim=2)(q, v, attention_mask=m, return_attention_scores=True)
        b = layers.MultiHeadAttention(2, 4)(q, q, use_causal_mask=True)
        c = layers.Attention(use_scale=True)([q, layers.Dense(8)(v)])
        d = layers.PReLU(shared_axes=[1])(layers.Dense(4)(q))
        model = keras.Model([q, v, m], [a, s, b, c, d])
    """
    inputs = _mha_inputs(mask=(5, 6), dead_row=False)
    check(code, inputs)
