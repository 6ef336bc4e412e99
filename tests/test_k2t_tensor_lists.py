"""Keras -> torch: Python lists of tensors in `call`, layer lists built with append() in __init__, and
layer classes whose input channels are a constructor parameter (the U-Net of the round trips).

Each translation is checked numerically (tests/test_layers_numeric.py's harness: the Keras model with
random weights, its torch translation with the weights ported, outputs compared in both layouts); what
cannot be translated exactly must be a finding, with the model left as it was.
"""
from __future__ import annotations

import pytest

from translator import translate_source

pytest.importorskip("torch")
pytest.importorskip("keras")

from test_layers_numeric import check, img  # noqa: E402

BLOCK = '''
import keras
from keras import layers


class Block(layers.Layer):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.net = keras.Sequential([
            layers.Conv2D(out_channels, 3, padding="same", use_bias=False),
            layers.BatchNormalization(epsilon=1e-05),
            layers.ReLU(),
        ])

    def call(self, x):
        return self.net(x)
'''

UNET = BLOCK + '''

class UNet(keras.Model):
    def __init__(self, in_channels=3, width=4, depth=2):
        super().__init__()
        self.downs = []
        self.ups = []
        self.convs = []
        self.inc = Block(in_channels, width)
        channels = width
        for i in range(depth):
            self.downs.append(Block(channels, width * 2 ** (i + 1)))
            channels = width * 2 ** (i + 1)
        self.pool = layers.MaxPooling2D(pool_size=2)
        for i in reversed(range(depth)):
            self.ups.append(layers.Conv2DTranspose(width * 2 ** i, 2, strides=2))
            self.convs.append(Block(width * 2 ** (i + 1), width * 2 ** i))
            channels = width * 2 ** i
        self.head = layers.Conv2D(2, 1)

    def call(self, x):
        x = self.inc(x)
        skips = []
        for down in self.downs:
            skips.append(x)
            x = down(self.pool(x))
        for up, conv, skip in zip(self.ups, self.convs, reversed(skips)):
            x = up(x)
            x = keras.ops.concatenate([skip, x], axis=-1)
            x = conv(x)
        return self.head(x)
'''


def _errors(result):
    return [f for f in result.findings if f.severity == "error"]


def test_unet_skip_list_read_back_reversed_through_zip():
    """Layer lists appended in loops -> nn.ModuleList filled by the same loops; the skips list and the
    zip over (ups, convs, reversed(skips)) stay loops; concatenate on channels -> torch.cat(dim=1)."""
    result = translate_source(UNET, to="torch", input_shape=(8, 8, 3))
    assert not _errors(result), [f.format() for f in result.findings]
    code = result.code
    assert "self.downs = nn.ModuleList()" in code and "self.ups.append(nn.ConvTranspose2d(channels, " in code
    assert "nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)" in code
    assert "input_shape" not in code
    assert "for up, conv, skip in zip(self.ups, self.convs, reversed(skips)):" in code
    assert "torch.cat([skip, x], dim=1)" in code
    assert "assert depth == 2" in code        # the loop count the translation was made for
    check(UNET, [img(8, 8, 3)], entry="UNet()", input_shape=(8, 8, 3), model_name="UNet")


DENSE = '''
import keras
from keras import layers


class Dense(keras.Model):
    def __init__(self, in_channels=3, growth=4, layers_per_block=3):
        super().__init__()
        self.blocks = []
        channels = in_channels
        for _ in range(layers_per_block):
            self.blocks.append(layers.Conv2D(growth, 3, padding="same"))
            channels += growth
        self.out = layers.Conv2D(5, 1)

    def call(self, x):
        features = [x]
        for conv in self.blocks:
            y = keras.ops.relu(conv(keras.ops.concatenate(features, axis=-1)))
            features.append(y)
        return self.out(keras.ops.concatenate(features, axis=-1))
'''


def test_densenet_feature_list_concatenated():
    """A list of features grown in the loop and concatenated whole: torch.cat(features, dim=1); each
    conv's input channels are the __init__ local that holds them (`channels`)."""
    result = translate_source(DENSE, to="torch", input_shape=(6, 6, 3))
    assert not _errors(result), [f.format() for f in result.findings]
    assert "self.blocks.append(nn.Conv2d(channels, growth, 3, padding=1))" in result.code, result.code
    assert "torch.cat(features, dim=1)" in result.code and "self.out = nn.Conv2d(channels, 5, 1)" in result.code
    check(DENSE, [img(6, 6, 3)], entry="Dense()", input_shape=(6, 6, 3), model_name="Dense")


TWO_SITES = BLOCK + '''

class Net(keras.Model):
    def __init__(self, width=4):
        super().__init__()
        self.a = Block(3, width)
        self.b = Block(width, width * 2)
        self.pool = layers.MaxPooling2D(2)

    def call(self, x):
        return self.b(self.pool(self.a(x)))
'''


def test_in_channels_parameter_used_at_two_call_sites():
    """Block(3, 4) on 3 channels and Block(4, 8) on 4: the parameter gives the conv's input channels."""
    result = translate_source(TWO_SITES, to="torch", input_shape=(8, 8, 3))
    assert not _errors(result), [f.format() for f in result.findings]
    assert "nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)" in result.code
    assert "input_shape" not in result.code
    check(TWO_SITES, [img(8, 8, 3)], entry="Net()", input_shape=(8, 8, 3), model_name="Net")


def test_parameter_that_is_not_the_channels_is_not_used():
    """Block(5, 4) called on 3 channels (Keras never reads in_channels): the parameter is not the input's
    channels, so the class takes its input shape from the call site instead (exact)."""
    src = TWO_SITES.replace("Block(3, width)", "Block(5, width)")
    result = translate_source(src, to="torch", input_shape=(8, 8, 3))
    assert not _errors(result), [f.format() for f in result.findings]
    assert "nn.Conv2d(in_channels" not in result.code and "input_shape=(None, 8, 8, 3)" in result.code
    check(src, [img(8, 8, 3)], entry="Net()", input_shape=(8, 8, 3), model_name="Net")


def test_unprovable_channels_in_a_loop_is_a_finding():
    """The appended blocks get `channels + 1` (not their input's channels): no constructor serves every
    iteration, so the model stays Keras with FWT302, never a torch model with wrong sizes."""
    src = UNET.replace("self.downs.append(Block(channels, ", "self.downs.append(Block(channels + 1, ")
    result = translate_source(src, to="torch", input_shape=(8, 8, 3))
    codes = {f.code for f in _errors(result)}
    assert "FWT302" in codes, [f.format() for f in result.findings]
    assert "class UNet(keras.Model)" in result.code and "nn.Module" not in result.code


@pytest.mark.parametrize("use", [
    "return self.head(x) + 0 * len(skips)",
    "skips.pop()\n        return self.head(x)",
])
def test_list_of_tensors_used_otherwise_is_a_finding(use):
    """A list of channels-first tensors used in a form the translator does not model: FWT302."""
    src = UNET.replace("        return self.head(x)\n", f"        {use}\n")
    result = translate_source(src, to="torch", input_shape=(8, 8, 3))
    assert "FWT302" in {f.code for f in _errors(result)}, [f.format() for f in result.findings]


ITEMS = '''
import keras
from keras import layers


class Net(keras.Model):
    def __init__(self):
        super().__init__()
        self.convs = [layers.Conv2D(4, 3, padding="same"), layers.Conv2D(4, 3, padding="same")]
        self.head = layers.Conv2D(2, 1)

    def call(self, x):
        feats = []
        for conv in self.convs:
            x = conv(x)
            feats.append(x)
        y = self.head(feats[-1] - feats[0])
        for f in feats:
            y = y + self.head(f)
        return y
'''


def test_items_and_plain_loop_over_a_list_of_tensors():
    """`feats[-1]`, `feats[0]` and `for f in feats` read the tensors with their layouts."""
    result = translate_source(ITEMS, to="torch", input_shape=(6, 6, 4))
    assert not _errors(result), [f.format() for f in result.findings]
    assert "for f in feats:" in result.code and ".permute" not in result.code
    check(ITEMS, [img(6, 6, 4)], entry="Net()", input_shape=(6, 6, 4), model_name="Net")


def test_list_appended_in_a_loop_that_is_not_unrolled_is_a_finding():
    """Appended once per iteration of `range(2)` (a loop translated once): its contents are not known."""
    src = ITEMS.replace("        for conv in self.convs:\n            x = conv(x)\n",
                        "        for _ in range(2):\n            x = self.convs[0](x)\n")
    result = translate_source(src, to="torch", input_shape=(6, 6, 4))
    assert "FWT302" in {f.code for f in _errors(result)}, [f.format() for f in result.findings]
