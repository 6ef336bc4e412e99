"""Keras -> torch gaps found by the torch -> Keras -> torch round trips (tests/test_roundtrip.py).

Each translation is checked numerically: the Keras model with random weights, its torch translation
with the weights ported, the outputs compared (tests/test_layers_numeric.py's harness).
"""
from __future__ import annotations

import pytest

from translator import translate_source

pytest.importorskip("torch")
pytest.importorskip("keras")

from test_layers_numeric import check, img  # noqa: E402


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


# ---- a Keras layer passed to a layer class of the file ---------------------------------------------

RESNET = '''
import keras
from keras import layers


class Block(layers.Layer):
    def __init__(self, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = keras.Sequential([layers.ZeroPadding2D(1), layers.Conv2D(planes, 3, strides=stride, use_bias=False)])
        self.bn1 = layers.BatchNormalization(epsilon=1e-05)
        self.conv2 = layers.Conv2D(planes, 3, padding="same", use_bias=False)
        self.downsample = downsample

    def call(self, x):
        identity = x
        out = self.conv2(keras.ops.relu(self.bn1(self.conv1(x))))
        if self.downsample is not None:
            identity = self.downsample(x)
        return keras.ops.relu(out + identity)


class Net(keras.Model):
    def __init__(self):
        super().__init__()
        self.stem = layers.Conv2D(4, 3, padding="same")
        self.layer1 = Block(4)
        self.layer2 = Block(6, stride=2, downsample=keras.Sequential([
            layers.Conv2D(6, 1, strides=2, use_bias=False),
            layers.BatchNormalization(epsilon=1e-05),
        ]))
        self.layer3 = Block(8, downsample=layers.Conv2D(8, 1))
        self.head = layers.Dense(3)

    def call(self, x):
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.head(keras.ops.mean(x, axis=(1, 2)))
'''


def test_layer_passed_to_a_layer_class():
    """BasicBlock(..., downsample=keras.Sequential([...])) / downsample=layers.Conv2D(...): the argument
    becomes an nn.Sequential / nn.Conv2d built at the call site, sized with the block's input; the block
    keeps `self.downsample = downsample` and calls it (weights ported into layer2.downsample.*)."""
    result = translate_source(RESNET, to="torch", input_shape=(8, 8, 3))
    assert not [f for f in result.findings if f.severity == "error"], [f.format() for f in result.findings]
    assert ("downsample=nn.Sequential(nn.Conv2d(4, 6, 1, stride=2, bias=False), nn.BatchNorm2d(6, momentum=0.01))"
            in result.code)
    assert "Block(8, downsample=nn.Conv2d(6, 8, 1), input_shape=" in result.code
    assert "identity = self.downsample(x)" in result.code
    check(RESNET, [img(8, 8, 3)], entry="Net()", input_shape=(8, 8, 3), model_name="Net")


@pytest.mark.parametrize("change", [
    # the block calls its argument on another tensor than its input as it came in
    ("identity = self.downsample(x)", "identity = self.downsample(out)"),
    ("identity = x\n", "x = x * 2.0\n        identity = x\n"),
    # an instance passes something else than a Keras layer written there
    ("self.layer1 = Block(4)", "self.layer1 = Block(4, downsample=keras.ops.relu)"),
    ("self.layer1 = Block(4)", "self.layer1 = Block(4, downsample=self.stem)"),
    ("self.layer1 = Block(4)", "self.layer1 = Block(4, downsample=identity)"),
])
def test_layer_argument_limits_are_reported(change):
    src = RESNET.replace(*change).replace("class Net(", "def identity(t):\n    return t\n\n\nclass Net(")
    assert src != RESNET
    result = translate_source(src, to="torch", input_shape=(8, 8, 3))
    assert "FWT103" in [f.code for f in result.findings if f.severity == "error"], \
        [f.format() for f in result.findings] + [result.code]


def test_same_padding_with_a_symbolic_stride_is_reported():
    """Conv2D(padding="same", strides=stride) in a class whose stride is a parameter: TF's padding depends
    on the stride, so FWT202 (it was an internal error, FWT901)."""
    src = RESNET.replace('keras.Sequential([layers.ZeroPadding2D(1), layers.Conv2D(planes, 3, strides=stride, '
                         'use_bias=False)])', 'layers.Conv2D(planes, 3, strides=stride, padding="same", use_bias=False)')
    assert src != RESNET
    result = translate_source(src, to="torch", input_shape=(8, 8, 3))
    codes = [f.code for f in result.findings if f.severity == "error"]
    assert "FWT202" in codes and "FWT901" not in codes, [f.format() for f in result.findings]


def test_layer_argument_in_functional_code_is_reported():
    """`Block(6, downsample=keras.Sequential([...]))(x)` in a functional model: the argument is not
    translated there (FWT103), never called with a channels-first tensor it was not sized for."""
    src = RESNET.split("class Net(")[0] + '''
inputs = keras.Input((8, 8, 3))
x = layers.Conv2D(4, 3, padding="same")(inputs)
x = Block(6, stride=2, downsample=keras.Sequential([layers.Conv2D(6, 1, strides=2)]))(x)
model = keras.Model(inputs, x)
'''
    result = translate_source(src, to="torch")
    assert "FWT103" in [f.code for f in result.findings if f.severity == "error"], \
        [f.format() for f in result.findings] + [result.code]


# ---- a tensor read by a translated op and by code the translator does not model -----------------------

OPAQUE_AFTER_READ = '''
import keras
from keras import layers


def helper(t):                  # plain Python: runs on either framework's tensors, channels-last
    return t[:, 0, 0, :] * 0.5


class Net(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = layers.Conv2D(4, 3)
        self.head = layers.Dense(4)

    def call(self, x):
        x = self.conv(x)
        return self.head(keras.ops.mean(x, axis=(1, 2))) + helper(x)
'''


def test_a_tensor_given_to_unmodelled_code_after_an_op_read_it():
    """The conversion for the unmodelled call must not be hoisted before the statement: the mean,
    translated first, reads x channels-first (was silently wrong: mean over H and C)."""
    result = translate_source(OPAQUE_AFTER_READ, to="torch", input_shape=(8, 8, 3))
    assert "x = x.permute" not in result.code
    check(OPAQUE_AFTER_READ, [img(8, 8, 3)], entry="Net()", input_shape=(8, 8, 3), model_name="Net")
