"""PyTorch -> Keras: nn.TransformerEncoder / TransformerDecoder(Layer), grouped transposed convolutions,
LSTM projections and float (additive) attention masks (translator/backends/keras_hatches_transformer.py,
keras_hatches_conv_groups.py, keras_hatches_lstm_proj.py, keras_hatches_mha_additive.py,
keras_ops_masks.py; ports: translator/verify/port_torch_transformer.py, port_torch_listed.py,
port_torch_groups.py, port_torch_lstm_proj.py).

Each case builds the torch module, gives EVERY weight a random value of its own (the copies of a
TransformerEncoder start equal in torch, and the groups of a convolution must not be told apart by
luck), translates, ports and compares (torch eval(), Keras training=False):

    max |torch - keras| <= 1e-5 * max(1, max |torch|)

What Keras cannot express exactly stays as it was, with a finding (UNSUPPORTED below).
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest

from test_torch_to_keras import ATOL, _np_inputs, model_source
from translator import translate_source
from translator.findings import ERROR
from translator.verify.port_torch import randomize_torch

pytestmark = pytest.mark.filterwarnings("ignore:enable_nested_tensor is True:UserWarning",
                                        "ignore:The PyTorch API of nested tensors:UserWarning",
                                        "ignore:LSTM with projections is not supported with oneDNN:UserWarning",
                                        "ignore:Support for mismatched:UserWarning",
                                        "ignore:keyword argument `m.._value` is deprecated:FutureWarning")

SEQ = (2, 5, 8)


def _randomize_all(module, seed: int = 0) -> None:
    """randomize_torch, then a different perturbation of every matrix / kernel (copies made equal by
    torch's deepcopy become distinct)."""
    import torch
    randomize_torch(module, seed)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for _, p in module.named_parameters():
            if p.dim() >= 2:
                p.add_(torch.randn(p.shape, generator=g) * 0.2)


@pytest.fixture
def distinct_weights(monkeypatch):
    from translator.verify import port_torch
    monkeypatch.setattr(port_torch, "randomize_torch", _randomize_all)


def _check(src, shapes, layout="native", snippets=(), input_shape=None, warnings=()):
    from translator.verify.port_torch import compare_torch_source
    result = translate_source(src, to="keras", layout=layout, input_shape=input_shape)
    errors = [f.format() for f in result.findings if f.severity == ERROR]
    assert not errors, "\n".join(errors) + "\n" + result.code
    assert sorted(f.code for f in result.findings) == sorted(warnings), [f.format() for f in result.findings]
    assert "torch" not in result.code.split("class Net", 1)[1], result.code
    if layout == "native":
        for snippet in snippets:
            assert snippet in result.code, f"{snippet!r} not in:\n{result.code}"
    comparison = compare_torch_source(src, "Net()", _np_inputs(shapes), "Net", layout=layout, result=result)
    assert comparison.ok(ATOL), f"max abs error {comparison.max_abs} for scale {comparison.scale}\n{result.code}"
    return result, comparison


# ---- nn.TransformerEncoder ------------------------------------------------------------------------

ENCODER_CASES = [
    ("post-norm-local-layer-final-norm",
     "layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)\n"
     "self.enc = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(8, eps=1e-6))",
     "y = self.enc(x)\nreturn y", "x", [SEQ],
     ["self.enc = [layers.MultiHeadAttention(2, 4, dropout=0.1) for _ in range(2)]",
      "self.enc_norm = layers.LayerNormalization(epsilon=1e-06)",
      "y = self.enc_norm1[1](y + self.enc_dropout(self.enc[1](y, y)))", "y = self.enc_norm(y)"], ()),
    ("pre-norm-seq-first-gelu-masks-inline",
     "self.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 4, 12, 0.0, 'gelu', norm_first=True), "
     "num_layers=3, enable_nested_tensor=False)",
     "T, B, E = x.shape\npad = (x[:, :, 0] > 0).transpose(0, 1) & (torch.arange(T) > 0)\n"
     "causal = torch.triu(torch.ones(T, T), 1).bool()\nx = self.enc(x, mask=causal, src_key_padding_mask=pad)\n"
     "return x", "x", [(5, 2, 8)],
     ["attention_mask = keras.ops.logical_and(", "self.enc[2](", "x = keras.ops.transpose(x, (1, 0, 2))"], ()),
    ("padding-mask-nested-off-no-bias",
     "layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation=F.gelu, batch_first=True, bias=False)\n"
     "self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)\nself.head = nn.Linear(8, 3)",
     "pad = torch.arange(5)[None, :] >= 5 - 2 * torch.arange(2)[:, None]\nh = self.enc(x, src_key_padding_mask=pad)\n"
     "return self.head(h)", "x", [SEQ], ["use_bias=False", "center=False"], ()),
    ("keyword-arguments-same-names",
     "encoder_layer = nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16, dropout=0.0)\n"
     "self.encoder_layer = nn.Linear(8, 8)\n"
     "self.transformer_encoder = nn.TransformerEncoder(encoder_layer=encoder_layer, num_layers=2)",
     "h = self.encoder_layer(x)\nh = self.transformer_encoder(h)\nreturn h", "x", [(5, 2, 8)],
     ["self.transformer_encoder_linear2 = [layers.Dense(8) for _ in range(2)]"], ()),
    ("one-layer-in-a-block",
     "self.proj = nn.Linear(6, 8)\nself.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 8, "
     "batch_first=True), 1)",
     "h = self.proj(x)\nh = self.enc(h)\nreturn h.mean(1)", "x", [(2, 4, 6)],
     ["self.enc_linear1 = [layers.Dense(8) for _ in range(1)]"], ()),
]


@pytest.mark.parametrize("init, forward, params, shapes, snippets, warnings",
                         [pytest.param(*c[1:], id=c[0]) for c in ENCODER_CASES])
def test_transformer_encoder_numeric(distinct_weights, init, forward, params, shapes, snippets, warnings):
    pytest.importorskip("torch")
    result, comparison = _check(model_source(init, forward, params=params), shapes, snippets=snippets,
                                warnings=warnings)
    assert "TransformerEncoderLayer(" not in result.code.split("class Net", 1)[1]
    assert any(".layers.1." in t or ".layers.0." in t for t, _ in comparison.ported), comparison.ported


def test_transformer_encoder_padding_mask_fast_path_is_noted(distinct_weights):
    """enable_nested_tensor=True (default): torch's inference fast path zeroes the padded positions, the
    Keras code computes them: a FWT402 note; the positions that are not padding agree."""
    pytest.importorskip("torch")
    import numpy as np
    import torch
    from translator.verify.compare import exec_source
    from translator.verify.port_torch import port_weights_to_keras
    src = model_source("layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)\n"
                       "self.enc = nn.TransformerEncoder(layer, 2)",
                       "pad = torch.arange(5)[None, :] >= 5 - 2 * torch.arange(2)[:, None]\n"
                       "y = self.enc(x, src_key_padding_mask=pad)\nreturn y")
    result = translate_source(src, to="keras")
    assert [(f.code, f.severity) for f in result.findings] == [("FWT402", "warning")], result.findings
    assert "padded positions" in result.findings[0].message
    torch_model = exec_source(src, "t")["Net"]()
    _randomize_all(torch_model)
    torch_model.eval()
    x = _np_inputs([SEQ])[0]
    with torch.no_grad():
        t_out = torch_model(torch.from_numpy(x)).numpy()
    keras_model = exec_source(result.code, "k")["Net"]()
    keras_model(x, training=False)
    port_weights_to_keras(torch_model, keras_model, result.model("Net"))
    k_out = np.asarray(keras_model(x, training=False))
    assert np.abs(t_out[1, 3:]).max() == 0.0                    # the fast path was taken
    assert np.abs(k_out[0] - t_out[0]).max() <= ATOL * max(1.0, np.abs(t_out).max())
    assert np.abs(k_out[1, :3] - t_out[1, :3]).max() <= ATOL * max(1.0, np.abs(t_out).max())


DECODER_CASES = [
    ("decoder-layer-post-norm-masks", "self.dec = nn.TransformerDecoderLayer(8, 2, 16, batch_first=True)",
     "T = x.size(1)\ncausal = nn.Transformer.generate_square_subsequent_mask(T)\n"
     "pad = torch.arange(6)[None, :] >= 6 - 3 * torch.arange(2)[:, None]\n"
     "y = self.dec(x, mem, tgt_mask=causal, memory_key_padding_mask=pad)\nreturn y", "x, mem", [SEQ, (2, 6, 8)],
     ["self.dec_cross = layers.MultiHeadAttention(2, 4, dropout=0.1)", "self.dec_norm3 = ",
      "y = self.dec_norm2(y + self.dec_dropout(self.dec_cross(y, mem, attention_mask=keras.ops.logical_not(pad)"]),
    ("decoder-layer-pre-norm-seq-first-gelu-memory-expression",
     "self.dec = nn.TransformerDecoderLayer(8, 4, 12, 0.0, 'gelu', norm_first=True)",
     "x = self.dec(x, mem * 2 + x.mean(0, keepdim=True))\nreturn x", "x, mem", [(5, 2, 8), (3, 2, 8)],
     ["memory = keras.ops.transpose(", "normed = self.dec_norm1(x)", "x = x + self.dec(normed, normed)"]),
    ("decoder-stack-final-norm-local",
     "layer = nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, batch_first=True)\n"
     "self.dec = nn.TransformerDecoder(layer, 2, norm=nn.LayerNorm(8))",
     "y = self.dec(x, mem, memory_mask=torch.ones(5, 6).triu(1).bool())\nreturn y", "x, mem", [SEQ, (2, 6, 8)],
     ["self.dec_cross = [layers.MultiHeadAttention(2, 4) for _ in range(2)]", "cross_mask = ", "self.dec_cross[1](",
      "y = self.dec_norm(y)"]),
    ("encoder-decoder", "self.emb = nn.Linear(6, 8)\nself.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer("
     "8, 2, 16, batch_first=True), 2, enable_nested_tensor=False)\nself.dec = nn.TransformerDecoder("
     "nn.TransformerDecoderLayer(8, 2, 16, batch_first=True, norm_first=True), 2, norm=nn.LayerNorm(8))\n"
     "self.out = nn.Linear(8, 3)",
     "memory = self.enc(self.emb(src))\nh = self.emb(tgt)\n"
     "h = self.dec(h, memory, tgt_mask=nn.Transformer.generate_square_subsequent_mask(h.size(1)))\n"
     "return self.out(h)", "src, tgt", [(2, 6, 6), (2, 4, 6)], []),
]


@pytest.mark.parametrize("init, forward, params, shapes, snippets",
                         [pytest.param(*c[1:], id=c[0]) for c in DECODER_CASES])
def test_transformer_decoder_numeric(distinct_weights, init, forward, params, shapes, snippets):
    pytest.importorskip("torch")
    result, comparison = _check(model_source(init, forward, params=params), shapes, snippets=snippets)
    assert any(".multihead_attn" in t for t, _ in comparison.ported), comparison.ported


# ---- nn.ConvTranspose{n}d(groups > 1) ---------------------------------------------------------------

IMG = (2, 4, 6, 6)
CONVT_CASES = [
    ("convtranspose2d-groups", "self.m = nn.ConvTranspose2d(4, 6, 3, groups=2)", "return self.m(x)", [IMG],
     ("native", "keep"), ["self.m = [layers.Conv2DTranspose(3, 3) for _ in range(2)]",
                          "keras.ops.concatenate([conv(part) for conv, part in zip(self.m, keras.ops.split(x, 2, "
                          "axis=-1))], axis=-1)"], None),
    ("convtranspose2d-groups-stride-crop", "self.m = nn.ConvTranspose2d(4, 8, 3, stride=2, padding=1, "
     "output_padding=1, groups=4, bias=False)\nself.conv = nn.Conv2d(8, 3, 1)", "return self.conv(self.m(x))", [IMG],
     ("native", "keep"), ["use_bias=False", "self.m_crop = layers.Cropping2D(1)"], None),
    ("convtranspose2d-depthwise-same", "self.m = nn.ConvTranspose2d(4, 4, 4, stride=2, padding=1, groups=4)",
     "return torch.relu(self.m(x))", [IMG], ("native",), ['strides=2, padding="same") for _ in range(4)]'], None),
    ("convtranspose1d-groups", "self.m = nn.ConvTranspose1d(6, 4, 3, stride=2, groups=2)", "return self.m(x)",
     [(2, 6, 7)], ("native", "keep"), ["layers.Conv1DTranspose(2, 3, strides=2) for _ in range(2)"], None),
    ("convtranspose3d-groups", "self.m = nn.ConvTranspose3d(4, 2, 2, stride=2, groups=2)", "return self.m(x)",
     [(1, 4, 3, 3, 3)], ("native",), ["layers.Conv3DTranspose(1, 2, strides=2) for _ in range(2)"], None),
]


@pytest.mark.parametrize("init, forward, shapes, layout, snippets, input_shape",
                         [pytest.param(c[1], c[2], c[3], layout, c[5], c[6], id=f"{c[0]}-{layout}")
                          for c in CONVT_CASES for layout in c[4]])
def test_grouped_conv_transpose_numeric(distinct_weights, init, forward, shapes, layout, snippets, input_shape):
    pytest.importorskip("torch")
    result, comparison = _check(model_source(init, forward), shapes, layout, snippets, input_shape)
    assert any("[group 1]" in t for t, _ in comparison.ported), comparison.ported


# ---- nn.LSTM(proj_size > 0) -------------------------------------------------------------------------

B, T = 2, 5
LSTM_CASES = [
    ("lstm-proj-batch-first", "self.lstm = nn.LSTM(6, 8, batch_first=True, proj_size=3)",
     "out, (h, c) = self.lstm(x)\nreturn out, h, c", "x", [(B, T, 6)],
     ["class LSTMProjCell(keras.layers.Layer):",
      "self.lstm = layers.RNN(LSTMProjCell(8, 3), return_sequences=True, return_state=True)"]),
    ("lstm-proj-2layer-bidir-time-major-no-bias",
     "self.lstm = nn.LSTM(6, 8, num_layers=2, bidirectional=True, bias=False, proj_size=4)\nself.fc = nn.Linear(8, 2)",
     "out, (h, c) = self.lstm(x)\nreturn self.fc(out), h[-1], c", "x", [(T, B, 6)],
     ["layers.Bidirectional(layers.RNN(LSTMProjCell(8, 4, use_bias=False), return_sequences=True, "
      "return_state=True))", "self.lstm_l1 = "]),
    ("lstm-proj-initial-states", "self.lstm = nn.LSTM(6, 8, 2, batch_first=True, proj_size=2)",
     "out, (h, c) = self.lstm(x, (h0, c0))\nreturn out, h, c[0]", "x, h0, c0", [(B, T, 6), (2, B, 2), (2, B, 8)],
     ["initial_state=[h0[1], c0[1]]"]),
    ("lstm-proj-output-only-two-models", "self.a = nn.LSTM(6, 8, batch_first=True, proj_size=5)\n"
     "self.b = nn.LSTM(5, 4, batch_first=True, proj_size=3)", "return self.b(self.a(x)[0])[0][:, -1]", "x",
     [(B, T, 6)], []),
]


@pytest.mark.parametrize("init, forward, params, shapes, snippets",
                         [pytest.param(*c[1:], id=c[0]) for c in LSTM_CASES])
def test_lstm_projection_numeric(distinct_weights, init, forward, params, shapes, snippets):
    pytest.importorskip("torch")
    result, comparison = _check(model_source(init, forward, params=params), shapes, snippets=snippets)
    assert result.code.count("class LSTMProjCell") == 1, result.code
    assert any(k.endswith("/projection") for _, k in comparison.ported), comparison.ported


# ---- float (additive) attention masks ----------------------------------------------------------------

MASK_CASES = [
    ("sdpa-float-mask-input", "", "return F.scaled_dot_product_attention(q, q, q, attn_mask=m)", "q, m",
     [(2, 2, 5, 4), (5, 5)], ['keras.ops.where(m, 0.0, float("-inf")) if keras.backend.standardize_dtype(m.dtype) '
                              '== "bool" else m']),
    ("sdpa-bool-mask-input", "", "return F.scaled_dot_product_attention(q, q, q, attn_mask=m)", "q, m",
     [(2, 2, 5, 4), ("bool", (5, 5), 2)], []),
    ("sdpa-float-mask-built", "", "m = q[0, 0] @ q[0, 0].transpose(0, 1)\n"
     "return F.scaled_dot_product_attention(q, q, q, attn_mask=m, scale=0.3)", "q", [(2, 2, 5, 4)],
     ["* 0.3 + (keras.ops.where("]),
    ("sdpa-square-subsequent-mask", "", "m = nn.Transformer.generate_square_subsequent_mask(q.shape[2])\n"
     "return F.scaled_dot_product_attention(q, q, q, attn_mask=m)", "q", [(2, 2, 5, 4)],
     ['keras.ops.triu(keras.ops.full((keras.ops.shape(q)[2], keras.ops.shape(q)[2]), float("-inf")), 1)',
      '** -0.5 + m, axis=-1)']),
    ("mha-square-subsequent-mask", "self.attn = nn.MultiheadAttention(8, 2, batch_first=True)",
     "T = x.size(1)\nmask = nn.Transformer.generate_square_subsequent_mask(T)\n"
     "out, w = self.attn(x, x, x, attn_mask=mask)\nreturn out, w", "x", [SEQ],
     ["attention_mask=keras.ops.logical_not(mask < 0)"]),
    ("encoder-stack-square-subsequent-mask-and-padding",
     "layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)\nself.enc = nn.TransformerEncoder(layer, 2)",
     "pad = torch.arange(5)[None, :] >= 5 - 2 * torch.arange(2)[:, None]\n"
     "causal = nn.Transformer.generate_square_subsequent_mask(5)\n"
     "y = self.enc(x, mask=causal, src_key_padding_mask=pad)\nreturn y", "x", [SEQ],
     ['causal = keras.ops.triu(keras.ops.full((5, 5), float("-inf")), 1)']),
    ("mha-triu-full-neg-inf-seq-first", "self.attn = nn.MultiheadAttention(8, 2)",
     "mask = torch.triu(torch.full((5, 5), float('-inf')), diagonal=1)\nreturn self.attn(x, x, x, attn_mask=mask)[0]",
     "x", [(5, 2, 8)], ["keras.ops.logical_not(mask < 0)"]),
    ("encoder-layer-full-neg-inf-method-triu", "self.enc = nn.TransformerEncoderLayer(8, 2, 16)",
     "m = torch.full((5, 5), -float('inf')).triu(1)\ny = self.enc(x, src_mask=m)\nreturn y", "x", [(5, 2, 8)], []),
    ("mha-float-mask-input-weights", "self.attn = nn.MultiheadAttention(8, 2, batch_first=True)",
     "out, w = self.attn(x, x, x, attn_mask=m)\nreturn out, w", "x, m", [SEQ, (5, 5)],
     ['"query": layers.EinsumDense("abc,cde->abde", output_shape=(None, 2, 4), bias_axes="de")',
      'w = keras.ops.softmax(keras.ops.einsum("aecd,abcd->acbe", self.attn["key"](x), self.attn["query"](x) * 4 '
      '** -0.5) + (keras.ops.where(m, float("-inf"), 0.0) if keras.backend.standardize_dtype(m.dtype) == "bool" '
      'else m), axis=-1)', "w = keras.ops.mean(w, axis=1)"]),
    ("mha-float-mask-seq-first-kdim-padding-no-bias-dropout",
     "self.attn = nn.MultiheadAttention(8, 4, dropout=0.2, bias=False, kdim=6, vdim=5)",
     "pad = torch.arange(6)[None, :] >= 6 - 2 * torch.arange(2)[:, None]\n"
     "bias = torch.arange(4)[:, None] * 0.3 - torch.arange(6)[None, :] * 0.2\n"
     "out, w = self.attn(q, k, v, key_padding_mask=pad, attn_mask=bias, average_attn_weights=False)\n"
     "return out, w", "q, k, v", [(4, 2, 8), (6, 2, 6), (6, 2, 5)],
     ["self.attn_dropout = layers.Dropout(0.2)", "keras.ops.where(pad, float(\"-inf\"), 0.0)[:, None, None, :]",
      "out = keras.ops.transpose(self.attn[\"output\"](keras.ops.einsum("]),
    ("mha-mask-dtype-unknown-bool-input", "self.attn = nn.MultiheadAttention(8, 2, batch_first=True)",
     "return self.attn(q, kv, kv, attn_mask=m)[0]", "q, kv, m", [SEQ, (2, 6, 8), ("bool", (5, 6), 2)],
     ["if keras.backend.standardize_dtype(m.dtype) == \"bool\" else m"]),
    ("mha-float-mask-index", "self.attn = nn.MultiheadAttention(8, 2, batch_first=True)",
     "m = x[0, :, :5] * 0.5\nreturn self.attn(x, x, x, attn_mask=m)[0] + self.attn(x, x, x, attn_mask=m)[1].sum()",
     "x", [SEQ], []),
    ("encoder-layer-square-subsequent-mask", "self.enc = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)",
     "y = self.enc(x, src_mask=nn.Transformer.generate_square_subsequent_mask(5))\nreturn y", "x", [SEQ], []),
]


@pytest.mark.parametrize("init, forward, params, shapes, snippets",
                         [pytest.param(*c[1:], id=c[0]) for c in MASK_CASES])
def test_float_attention_masks_numeric(distinct_weights, init, forward, params, shapes, snippets):
    pytest.importorskip("torch")
    _check(model_source(init, forward, params=params), shapes, snippets=snippets)


# ---- not translated: left as they were, with a finding --------------------------------------------

UNSUPPORTED = [
    ("mha-float-mask-per-head", "self.attn = nn.MultiheadAttention(8, 2, batch_first=True)",
     "return self.attn(x, x, x, attn_mask=torch.zeros(4, 5, 5))[0]", "x", "FWT202", "3-D attn_mask"),
    ("encoder-stack-float-mask", "self.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, batch_first=True),"
     " 2)", "y = self.enc(x, mask=torch.zeros(5, 5))\nreturn y", "x", "FWT202", "float (additive) mask"),
    ("encoder-stack-no-layers", "self.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2), 0)",
     "y = self.enc(x)\nreturn y", "x", "FWT202", "num_layers=0"),
    ("encoder-stack-in-expression", "self.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2), 2)",
     "return self.enc(x)", "x", "FWT202", "assign its result"),
    ("encoder-stack-layer-reused", "layer = nn.TransformerEncoderLayer(8, 2)\n"
     "self.a = nn.TransformerEncoder(layer, 2)\nself.b = nn.TransformerEncoder(layer, 1)",
     "y = self.a(x)\nz = self.b(y)\nreturn z", "x", "FWT202", "used only here"),
    ("encoder-stack-not-an-encoder-layer", "self.enc = nn.TransformerEncoder(nn.Linear(8, 8), 2)",
     "y = self.enc(x)\nreturn y", "x", "FWT202", "must be an nn.TransformerEncoderLayer"),
    ("encoder-stack-never-called", "self.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2), 2)\n"
     "self.fc = nn.Linear(8, 8)", "return self.fc(x)", "x", "FWT202", "never called"),
    ("encoder-stack-in-sequential", "self.seq = nn.Sequential(nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2), "
     "2))", "return self.seq(x)", "x", "FWT202", "called in forward"),
    ("convtranspose-groups-in-sequential", "self.seq = nn.Sequential(nn.ConvTranspose2d(4, 4, 3, groups=2), nn.ReLU())",
     "return self.seq(x)", "x", "FWT202", "inside nn.Sequential"),
    ("decoder-layer-in-expression", "self.dec = nn.TransformerDecoderLayer(8, 2, batch_first=True)",
     "return self.dec(x, x)", "x", "FWT202", "assign its result"),
    ("decoder-causal-hint", "self.dec = nn.TransformerDecoderLayer(8, 2, batch_first=True)",
     "y = self.dec(x, x, tgt_is_causal=True)\nreturn y", "x", "FWT202", "tgt_is_causal"),
    ("whole-transformer", "self.t = nn.Transformer(8, 2, 1, 1, 16)", "return self.t(x, x)", "x", "FWT101",
     "nn.Transformer"),
]


@pytest.mark.parametrize("init, forward, params, code, words", [pytest.param(*c[1:], id=c[0]) for c in UNSUPPORTED])
def test_not_translatable_is_reported(init, forward, params, code, words):
    src = model_source(init, forward, params=params)
    if " n)" in init:          # a constructor parameter
        src = src.replace("def __init__(self):", "def __init__(self, n=2):")
    result = translate_source(src, to="keras")
    assert [f.code for f in result.findings] == [code], [f.format() for f in result.findings]
    assert result.findings[0].severity == ERROR and words in result.findings[0].message, result.findings[0].message
    assert f"# fwtranslate {code}: " in result.code and "class Net(nn.Module)" in result.code


# ---- all of it in blocks built from constructor parameters (symbolic sizes and depths) -----------------

BLOCKS = """\
import torch
import torch.nn as nn


class Encoder(nn.Module):
    def __init__(self, d, h, n):
        super().__init__()
        layer = nn.TransformerEncoderLayer(d, h, 2 * d, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, n, norm=nn.LayerNorm(d))
        self.up = nn.ConvTranspose1d(d, d, 2, stride=2, groups=h)

    def forward(self, x):
        y = self.enc(x)
        return self.up(y.transpose(1, 2)).transpose(1, 2)


class Decoder(nn.Module):
    def __init__(self, d, h, n):
        super().__init__()
        self.dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(d, h, 2 * d, batch_first=True, norm_first=True),
                                         num_layers=n)

    def forward(self, x, memory):
        mask = nn.Transformer.generate_square_subsequent_mask(x.size(1))
        x = self.dec(x, memory, tgt_mask=mask)
        return x


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder(8, 2, 3)
        self.decoder = Decoder(8, 4, 2)
        self.lstm = nn.LSTM(8, 6, proj_size=4, batch_first=True)

    def forward(self, x):
        memory = self.encoder(x)
        y = self.decoder(x, memory)
        out, _ = self.lstm(y)
        return out
"""


def test_blocks_with_constructor_parameters(distinct_weights):
    pytest.importorskip("torch")
    from translator.verify.port_torch import compare_torch_source
    result = translate_source(BLOCKS, to="keras")
    assert [f.code for f in result.findings] == ["FWT401"], [f.format() for f in result.findings]   # .transpose
    for snippet in ["self.enc = [layers.MultiHeadAttention(h, d // h, dropout=0.1) for _ in range(n)]",
                    "for i in range(len(self.enc)):", "for i in range(len(self.dec)):",
                    "self.up = [layers.Conv1DTranspose(d // h, 2, strides=2) for _ in range(h)]",
                    "keras.ops.split(", "len(self.up), axis=-1)"]:
        assert snippet in result.code, f"{snippet!r} not in:\n{result.code}"
    comparison = compare_torch_source(BLOCKS, "Net()", _np_inputs([SEQ]), "Net", result=result)
    assert comparison.ok(ATOL), f"max abs error {comparison.max_abs} for scale {comparison.scale}\n{result.code}"
    ported = [t for t, _ in comparison.ported]
    assert any("encoder.enc.layers.2." in t for t in ported) and any("decoder.dec.layers.1." in t for t in ported)
    assert any("encoder.up[group 1]" in t for t in ported), ported


def test_translation_imports_no_framework():
    import subprocess
    import sys
    src = BLOCKS + "\n\nclass Att(nn.Module):\n    def __init__(self):\n        super().__init__()\n" \
        "        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)\n\n    def forward(self, x, m):\n" \
        "        return self.attn(x, x, x, attn_mask=m)[0]\n"
    code = ("import sys\nfrom translator import translate_source\n"
            f"r = translate_source({src!r}, to='keras')\n"
            "assert 'class Att(keras.Model)' in r.code and 'LSTMProjCell' in r.code, r.code\n"
            "assert not [f for f in r.findings if f.severity == 'error'], r.findings\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'tensorflow', 'keras'))\n"
            "assert not bad, bad\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
