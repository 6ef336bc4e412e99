"""Keras -> torch: more layer lists -- comprehensions (a Sequential's list, a list attribute of the file's
classes), extend / += on list attributes, items called by a constant index, builder functions that
return `keras.Sequential(layers)` of a list they build, and the torch form of zero paddings and strided
'same' convolutions inside an nn.Sequential.

Each translation is checked numerically (tests/test_layers_numeric.py's harness: the Keras model with
random weights, its torch translation with the weights ported, outputs compared in both layouts); what
cannot be translated exactly must be a finding, with the model left as it was.
"""
from __future__ import annotations

import pytest

from translator import translate_source

pytest.importorskip("torch")
pytest.importorskip("keras")

from test_layers_numeric import check, img, seq  # noqa: E402


def _translate(src: str, input_shape):
    result = translate_source(src, to="torch", input_shape=input_shape)
    return result, [f for f in result.findings if f.severity == "error"]


def _ok(src: str, input_shape):
    result, errors = _translate(src, input_shape)
    assert not errors, [f.format() for f in result.findings] + [result.code]
    return result.code


# ---- comprehensions ----------------------------------------------------------------------------------

SEQ_COMPREHENSIONS = '''
import keras
from keras import layers


class Net(keras.Model):
    def __init__(self, width=8, depth=2):
        super().__init__()
        body = [layers.Dense(u, activation="relu") for u in (width, width)]
        body += [layers.Dense(width) for _ in range(depth)]
        self.body = keras.Sequential(body)
        convs = [layers.Conv2D(width, 1)]
        convs.extend([layers.Conv2D(width, 3, padding="same") for _ in range(2)])
        self.convs = keras.Sequential(convs)
        self.head = layers.Dense(2)

    def call(self, x):
        x = self.convs(x)
        return self.head(self.body(keras.ops.mean(x, axis=(1, 2))))
'''


def test_sequential_of_comprehensions():
    """A list that starts as a comprehension, extend([... for ...]) and += [... for ...]: the comprehensions
    are kept, each item gets the torch module of its (same on every run) sizes; a comprehension over a
    parameter (`range(depth)`) must keep the shape."""
    code = _ok(SEQ_COMPREHENSIONS, (6, 6, 3))
    # the item's sizes are the same on both runs (u is width on each): written as that value
    assert "body = [nn.Sequential(nn.Linear(width, width), nn.ReLU()) for u in (width, width)]" in code
    assert "convs.extend([nn.Conv2d(width, width, 3, padding=1) for _ in range(2)])" in code
    assert "body += [nn.Linear(width, width) for _ in range(depth)]" in code
    assert "self.body = nn.Sequential(*body)" in code and "self.convs = nn.Sequential(*convs)" in code
    for entry in ("Net()", "Net(depth=0)"):
        check(SEQ_COMPREHENSIONS, [img(6, 6, 3)], entry=entry, input_shape=(6, 6, 3), model_name="Net")


def test_comprehension_whose_sizes_differ_is_a_finding():
    """`[Dense(u) for u in [6, 5]]`: the second Dense's in_features is 6, the first's the input's: no
    variable holds both inside a comprehension (none can be added there): FWT103, never a guess."""
    src = '''
import keras
from keras import layers


class Net(keras.Model):
    def __init__(self):
        super().__init__()
        body = [layers.Dense(u) for u in [6, 5]]
        self.body = keras.Sequential(body)

    def call(self, x):
        return self.body(x)
'''
    result, errors = _translate(src, (4, 10))
    assert [f.code for f in errors] == ["FWT103"], [f.format() for f in result.findings]
    assert "no variable of the code holds" in errors[0].message
    assert "keras.Sequential(body)" in result.code


BLOCK = '''
import keras
from keras import layers


class Block(layers.Layer):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = layers.Conv2D(out_channels, 3, padding="same", use_bias=False)
        self.norm = layers.BatchNormalization(epsilon=1e-5)

    def call(self, x):
        return keras.ops.relu(self.norm(self.conv(x)))
'''

CLASS_COMPREHENSION = BLOCK + '''

class Net(keras.Model):
    def __init__(self, width=4, n=3):
        super().__init__()
        self.stem = layers.Conv2D(width, 1)
        self.blocks = [Block(width, width) for i in range(n)]
        self.head = layers.Dense(2)

    def call(self, x):
        x = self.stem(x)
        for block in self.blocks:
            x = block(x) + x
        return self.head(keras.ops.mean(x, axis=(1, 2)))
'''


def test_list_attribute_of_a_comprehension_of_classes():
    """`self.blocks = [Block(...) for i in range(n)]` -> nn.ModuleList([...]) (a plain Python list would hold
    modules torch does not register); the loop count is fixed to n's default and asserted (FWT402)."""
    result = translate_source(CLASS_COMPREHENSION, to="torch", input_shape=(6, 6, 3))
    errors = [f for f in result.findings if f.severity == "error"]
    assert not errors, [f.format() for f in result.findings]
    assert "self.blocks = nn.ModuleList([Block(width, width) for i in range(n)])" in result.code
    assert "assert n == 3" in result.code and [f.code for f in result.findings] == ["FWT402"]
    check(CLASS_COMPREHENSION, [img(6, 6, 3)], entry="Net()", input_shape=(6, 6, 3), model_name="Net")


# ---- extend / += on list attributes, items called by index ----------------------------------------------

EXTEND_ATTR = '''
import keras
from keras import layers


class Net(keras.Model):
    def __init__(self):
        super().__init__()
        self.blocks = []
        self.blocks.append(layers.Dense(6))
        self.blocks.extend([layers.Dense(6), layers.Dense(6)])
        for _ in range(2):
            self.blocks += [layers.Dense(6)]
        self.head = layers.Dense(2)

    def call(self, x):
        for b in self.blocks:
            x = keras.ops.relu(b(x))
        return self.head(x)
'''


def test_extend_and_iadd_on_a_list_attribute():
    code = _ok(EXTEND_ATTR, (4, 6))
    assert "self.blocks = nn.ModuleList()" in code
    assert "self.blocks.extend([nn.Linear(6, 6), nn.Linear(6, 6)])" in code
    assert "self.blocks += [nn.Linear(6, 6)]" in code
    check(EXTEND_ATTR, [seq(4, 6)], entry="Net()", input_shape=(4, 6), model_name="Net")


INDEXED = BLOCK + '''

class Net(keras.Model):
    def __init__(self, width=4):
        super().__init__()
        self.blocks = [Block(3, width), Block(width, 2 * width)]
        self.blocks.extend([Block(2 * width, 2 * width)])
        self.blocks += [Block(2 * width, 6)]
        self.pool = layers.MaxPooling2D(2)

    def call(self, x):
        x = self.blocks[0](x)
        x = self.pool(self.blocks[1](x))
        x = self.blocks[2](x) + x
        return self.blocks[-1](x)
'''


def test_literal_list_of_classes_called_by_index():
    """A literal list of the file's classes, extended, its items called as self.blocks[0] ... [-1]: an
    nn.ModuleList called through the same subscripts."""
    code = _ok(INDEXED, (8, 8, 3))
    assert "self.blocks = nn.ModuleList([Block(3, width), Block(width, 2 * width)])" in code
    assert "self.blocks.extend([Block(2 * width, 2 * width)])" in code
    assert "x = self.blocks[2](x) + x" in code and "return self.blocks[-1](x)" in code
    check(INDEXED, [img(8, 8, 3)], entry="Net()", input_shape=(8, 8, 3), model_name="Net")


def test_index_on_items_of_unknown_sizes_is_a_finding():
    """Items whose torch constructors would differ by their input size, no parameter giving it: FWT302."""
    src = BLOCK.replace("in_channels, out_channels", "out_channels") + '''

class Net(keras.Model):
    def __init__(self):
        super().__init__()
        self.blocks = []
        for u in [6, 5]:
            self.blocks.append(Block(u))

    def call(self, x):
        return self.blocks[-1](self.blocks[0](x))
'''
    result, errors = _translate(src, (8, 8, 3))
    assert "FWT302" in [f.code for f in errors], [f.format() for f in result.findings]
    assert "class Net(keras.Model)" in result.code


# ---- nn.Sequential items: zero paddings, strided 'same' convolutions -------------------------------------

PADS = '''
import keras
from keras import layers


class Net(keras.Model):
    def __init__(self):
        super().__init__()
        self.body = keras.Sequential([
            layers.ZeroPadding2D(0),
            layers.ZeroPadding2D(1),
            layers.ZeroPadding2D((1, 2)),
            layers.Conv2D(4, 3, strides=2, padding="same"),
        ])
        body = [layers.Conv2D(5, 3, strides=2, padding="same", activation="relu")]
        self.more = keras.Sequential(body)

    def call(self, x):
        return self.more(self.body(x))
'''


def test_zero_paddings_and_strided_same_conv_in_a_sequential():
    """ZeroPadding2D(0) -> nn.ZeroPad2d(0) (one int where every side has the same pad); a stride-2 'same'
    conv, whose TF padding is asymmetric, -> nn.ZeroPad2d((0, 1, 0, 1)) before the nn.Conv2d, also in a
    list-built Sequential."""
    code = _ok(PADS, (8, 8, 3))
    assert "nn.Sequential(nn.ZeroPad2d(0), nn.ZeroPad2d(1), nn.ZeroPad2d((2, 2, 1, 1)), " \
           "nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(3, 4, 3, stride=2))" in code
    assert "body = [nn.Sequential(nn.ZeroPad2d((1, 1, 0, 1)), nn.Conv2d(4, 5, 3, stride=2), nn.ReLU())]" in code
    check(PADS, [img(8, 8, 3)], entry="Net()", input_shape=(8, 8, 3), model_name="Net")


# ---- builder functions ------------------------------------------------------------------------------------

BUILDER = '''
import keras
from keras import layers


def make_stage(filters, blocks=2, pool=True):
    """A VGG stage: `blocks` convolutions, then a pooling."""
    stage = []
    for _ in range(blocks):
        stage.append(layers.Conv2D(filters, 3, padding="same", activation="relu"))
    if pool:
        stage.append(layers.MaxPooling2D())
    return keras.Sequential(stage)


class Net(keras.Model):
    def __init__(self, width=4):
        super().__init__()
        self.stage1 = make_stage(width)
        self.stage2 = make_stage(width * 2, blocks=1, pool=False)
        self.head = layers.Dense(3)

    def call(self, x):
        x = self.stage2(self.stage1(x))
        return self.head(keras.ops.mean(x, axis=(1, 2)))
'''


def test_builder_function_of_a_list_is_inlined_at_each_call():
    """`self.stage1 = make_stage(...)`, the builder appending layers in a loop and under an `if`: its
    statements are written into __init__ at each call (locals prefixed with the attribute, parameters
    replaced by the arguments), where each conv gets its input channels; the builder is dropped."""
    code = _ok(BUILDER, (8, 8, 3))
    assert "def make_stage" not in code and "keras" not in code
    assert "stage1_stage = []" in code and "self.stage1 = nn.Sequential(*stage1_stage)" in code
    assert "for stage1__ in range(2):" in code and "if True:" in code
    assert "stage2_stage.append(nn.Sequential(nn.Conv2d(width, (width * 2), 3, padding=1), nn.ReLU()))" in code
    check(BUILDER, [img(8, 8, 3)], entry="Net()", input_shape=(8, 8, 3), model_name="Net")


def test_builder_used_outside_a_class_is_translated_on_its_own():
    """A builder also called at module level: inlined in the class, and the function itself goes the usual
    way (a Sequential of a list it cannot follow there: FWT103 on the function, never dropped)."""
    src = BUILDER + "\n\nextra = make_stage(3)\n"
    result, errors = _translate(src, (8, 8, 3))
    assert "def make_stage" in result.code and "class Net(nn.Module)" in result.code
    assert [f.code for f in errors] == ["FWT103"] and errors[0].line == 13, [f.format() for f in result.findings]
