"""Keras -> torch gaps found by the torch -> Keras -> torch round trips (tests/test_roundtrip.py).

Each translation is checked numerically: the Keras model with random weights, its torch translation
with the weights ported, the outputs compared (tests/test_layers_numeric.py's harness).
"""
from __future__ import annotations

import pytest

from translator import translate_source

pytest.importorskip("torch")
pytest.importorskip("keras")

from test_layers_numeric import check, img, seq  # noqa: E402


# ---- reading a layer's weight (tied weights) --------------------------------------------------------

TIED = '''
import keras
from keras import layers


class Tied(keras.Model):
    def __init__(self, vocab_size=12):
        super().__init__()
        self.encoder = layers.Embedding(vocab_size, 8)
        self.proj = layers.Dense(8)
        self.decoder_bias = self.add_weight(shape=(vocab_size,), initializer="zeros", name="decoder_bias")

    def call(self, tokens):
        h = keras.ops.tanh(self.proj(self.encoder(tokens)))
        h = h + keras.ops.matmul(h, self.proj.kernel) + self.proj.bias
        decoded = keras.ops.matmul(h, keras.ops.transpose(self.encoder.embeddings)) + self.decoder_bias
        return keras.ops.log_softmax(decoded)
'''


def test_tied_weights_read_from_layers():
    """`self.encoder.embeddings` -> `self.encoder.weight`; a Dense kernel (in, out) -> `weight.T`; the
    model's own add_weight variable (decoder_bias) is ported by attribute name."""
    import numpy as np
    result = translate_source(TIED, to="torch")
    assert not [f for f in result.findings if f.severity == "error"], [f.format() for f in result.findings]
    assert "self.encoder.weight" in result.code and "self.proj.weight.T" in result.code
    tokens = np.random.default_rng(0).integers(0, 12, size=(2, 5)).astype("int64")
    check(TIED, [tokens], entry="Tied()", model_name="Tied")


def test_reading_a_conv_kernel_is_reported():
    """A conv kernel is held OIHW in torch: reading it is FWT103, never a wrongly ordered tensor."""
    src = '''
import keras
from keras import layers


class Net(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = layers.Conv2D(4, 3)

    def call(self, x):
        return self.conv(x) + keras.ops.sum(self.conv.kernel)
'''
    result = translate_source(src, to="torch", input_shape=(8, 8, 3))
    assert "FWT103" in [f.code for f in result.findings if f.severity == "error"], \
        [f.format() for f in result.findings]


# ---- MultiHeadAttention with a symbolic head count; keras.ops.arange --------------------------------

ATTENTION = '''
import keras
from keras import layers


class Encoder(layers.Layer):
    def __init__(self, d_model, nhead):
        super().__init__()
        self.attn = layers.MultiHeadAttention(nhead, d_model // nhead)
        self.norm = layers.LayerNormalization(epsilon=1e-05)

    def call(self, x):
        return self.norm(x + self.attn(x, x))


class Net(keras.Model):
    def __init__(self, vocab_size=20, d_model=12, nhead=3):
        super().__init__()
        self.embed = layers.Embedding(vocab_size, d_model)
        self.pos = layers.Embedding(8, d_model)
        self.encoder = Encoder(d_model, nhead)

    def call(self, tokens):
        positions = keras.ops.arange(keras.ops.shape(tokens)[1])
        steps = keras.ops.arange(1, 7, 2, dtype="float32")
        x = self.encoder(self.embed(tokens) + self.pos(positions))
        return keras.ops.mean(x, axis=1) * keras.ops.sum(steps)
'''


def test_attention_with_symbolic_heads_and_arange():
    """MultiHeadAttention(nhead, d_model // nhead) in a class whose arguments stay parameters: the torch
    projections are sized `nhead * (d_model // nhead)` at run time; keras.ops.arange -> torch.arange with
    Keras' dtype (int32 from integer arguments)."""
    import numpy as np
    result = translate_source(ATTENTION, to="torch", input_shape=(6,))
    assert not [f for f in result.findings if f.severity == "error"], [f.format() for f in result.findings]
    assert "nhead * (d_model // nhead)" in result.code
    assert "torch.arange(tuple(tokens.shape)[1], dtype=torch.int32)" in result.code
    assert "torch.arange(1, 7, 2, dtype=torch.float32)" in result.code
    tokens = np.random.default_rng(0).integers(0, 20, size=(2, 6)).astype("int64")
    check(ATTENTION, [tokens], entry="Net()", input_shape=(6,), model_name="Net")


def test_arange_of_an_unknown_type_needs_a_dtype():
    src = '''
import keras


class Net(keras.Model):
    def call(self, x):
        return x + keras.ops.arange(keras.ops.max(x))
'''
    result = translate_source(src, to="torch", input_shape=(4,))
    assert "FWT202" in [f.code for f in result.findings if f.severity == "error"], \
        [f.format() for f in result.findings]
