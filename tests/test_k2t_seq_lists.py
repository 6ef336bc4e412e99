"""Keras -> torch: `keras.Sequential(layers)` of a Python list built in __init__ with append/extend
(frontends/keras_seq_lists.py; weights paired by verify/port_lists.py).

Each translation is checked numerically: the Keras model with random weights, its torch translation
with the weights ported, the outputs compared (tests/test_layers_numeric.py's harness, both layouts).
"""
from __future__ import annotations

import pytest

from translator import translate_source

pytest.importorskip("torch")
pytest.importorskip("keras")

from test_layers_numeric import check, img  # noqa: E402


def _translate(src: str, input_shape=(8, 8, 3)):
    result = translate_source(src, to="torch", input_shape=input_shape)
    errors = [f for f in result.findings if f.severity == "error"]
    return result, errors


def _ok(src: str, input_shape=(8, 8, 3)):
    result, errors = _translate(src, input_shape)
    assert not errors, [f.format() for f in result.findings] + [result.code]
    return result


# ---- append in loops ------------------------------------------------------------------------------------

LOOPS = '''
import keras
from keras import layers


class Net(keras.Model):
    def __init__(self, width=6, depth=2):
        super().__init__()
        body = [layers.Conv2D(width, 3, padding="same")]
        for i in range(3):                       # unrolled: the same sizes on every run
            body.append(layers.Conv2D(width, 3, padding="same", activation="relu"))
            body.append(layers.BatchNormalization())
        for _ in range(depth):                   # not a constant: its body keeps the shape
            body.append(layers.Conv2D(width, 1))
        self.body = keras.Sequential(body, name="body")
        self.head = layers.Dense(4)

    def call(self, x):
        x = self.body(x)
        return self.head(keras.ops.mean(x, axis=(1, 2)))
'''


def test_append_in_loops():
    """Appends in a constant loop and in a loop over a parameter: the loops are kept, each append gets
    the torch module with its input size (a conv with activation= is an nn.Sequential item)."""
    code = _ok(LOOPS).code
    assert "body = [nn.Conv2d(3, width, 3, padding=1)]" in code
    assert "body.append(nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU()))" in code
    assert "for _ in range(depth):" in code and "self.body = nn.Sequential(*body)" in code
    check(LOOPS, [img(8, 8, 3)], entry="Net()", input_shape=(8, 8, 3), model_name="Net")
    check(LOOPS, [img(8, 8, 3)], entry="Net(depth=0)", input_shape=(8, 8, 3), model_name="Net")


CUSTOM_LOOP = '''
import keras
from keras import layers


class Block(layers.Layer):
    def __init__(self, inp, oup, stride):
        super().__init__()
        self.conv = layers.Conv2D(oup, 1, strides=stride)
        self.norm = layers.BatchNormalization()

    def call(self, x):
        return keras.ops.relu(self.norm(self.conv(x)))


class Net(keras.Model):
    def __init__(self, width=4):
        super().__init__()
        settings = [(6, 2), (8, 1), (8, 2)]
        channels = width
        blocks = [layers.Conv2D(width, 3, padding="same")]
        for c, s in settings:
            blocks.append(Block(channels, c, s))
            channels = c
        self.blocks = keras.Sequential(blocks)
        self.head = layers.Dense(3)

    def call(self, x):
        return self.head(keras.ops.mean(self.blocks(x), axis=(1, 2)))
'''


def test_custom_blocks_appended_in_a_loop():
    """Instances of a class of the file, appended in a loop over a constant table, their input channels
    changing from one iteration to the next (MobileNetV2's features)."""
    code = _ok(CUSTOM_LOOP).code
    assert "blocks.append(Block(channels, c, s))" in code
    check(CUSTOM_LOOP, [img(8, 8, 3)], entry="Net()", input_shape=(8, 8, 3), model_name="Net")


VGG = '''
import keras
from keras import layers


class Net(keras.Model):
    def __init__(self, width=4, expand=True):
        super().__init__()
        body = []
        for filters in [width, 2 * width, 6]:
            body.append(layers.Conv2D(filters, 3, padding="same", activation="relu"))
            body.append(layers.BatchNormalization())
            if expand:
                body.append(layers.Conv2D(filters * 2, 1))
            body.append(layers.MaxPooling2D())
        self.body = keras.Sequential(body)
        self.head = layers.Dense(3)

    def call(self, x):
        return self.head(keras.ops.mean(self.body(x), axis=(1, 2)))
'''


def test_a_size_that_changes_in_a_loop_is_tracked():
    """VGG-style: the conv's input channels differ between iterations and no variable of the code holds
    them: a variable is added that does (set before the loop, updated after each append that changes the
    size, with the argument as the user wrote it)."""
    code = _ok(VGG, (16, 16, 3)).code
    assert "        channels = 3\n        for filters in [width, 2 * width, 6]:" in code
    assert "body.append(nn.Sequential(nn.Conv2d(channels, filters, 3, padding=1), nn.ReLU()))\n" \
           "            channels = filters\n" in code
    assert "body.append(nn.Conv2d(filters, filters * 2, 1))\n                channels = filters * 2\n" in code
    for entry in ("Net()", "Net(expand=False)"):
        check(VGG, [img(16, 16, 3)], entry=entry, input_shape=(16, 16, 3), model_name="Net")


def test_sizes_that_no_expression_holds_are_a_finding():
    """A size after an item that is no argument and no variable (a depthwise conv doubling the
    channels): FWT103, the model left as it was -- never a guessed size."""
    src = '''
import keras
from keras import layers


class Net(keras.Model):
    def __init__(self):
        super().__init__()
        body = [layers.Conv2D(4, 1)]
        for k in [3, 5]:
            body.append(layers.DepthwiseConv2D(k, depth_multiplier=2))
        self.body = keras.Sequential(body)

    def call(self, x):
        return self.body(x)
'''
    result, errors = _translate(src, (16, 16, 3))
    assert [f.code for f in errors] == ["FWT103"], [f.format() for f in result.findings]
    assert "no variable of the code holds" in errors[0].message
    assert "keras.Sequential(body)" in result.code      # left as it was


def test_a_loop_over_a_parameter_that_changes_the_shape_is_a_finding():
    src = '''
import keras
from keras import layers


class Net(keras.Model):
    def __init__(self, depth=2):
        super().__init__()
        body = [layers.Conv2D(4, 3)]
        for i in range(depth):
            body.append(layers.Conv2D(8, 1))
        self.body = keras.Sequential(body)

    def call(self, x):
        return self.body(x)
'''
    result, errors = _translate(src)
    assert [f.code for f in errors] == ["FWT103"], [f.format() for f in result.findings]
    assert "changes the shape" in errors[0].message


MLP = '''
import keras
from keras import layers


class MLP(keras.Model):
    def __init__(self, dropout=0.1, norm=True):
        super().__init__()
        blocks = []
        for units in [16, 12]:
            blocks.append(layers.Dense(units, activation="gelu"))
            if norm:
                blocks.append(layers.LayerNormalization(epsilon=1e-5))
            blocks.append(layers.Dropout(dropout))
        blocks.append(layers.Dense(4))
        self.mlp = keras.Sequential(blocks)

    def call(self, x):
        return self.mlp(x)
'''


def test_dense_blocks_on_sequences():
    """Features last (no layout change): Dense in_features tracked through the loop, an `if` inside it."""
    from test_layers_numeric import seq
    code = _ok(MLP, (7, 10)).code
    assert "blocks.append(nn.Sequential(nn.Linear(channels, units), nn.GELU()))" in code
    assert "blocks.append(nn.Linear(12, 4))" in code
    for entry in ("MLP()", "MLP(norm=False)"):
        check(MLP, [seq(7, 10)], entry=entry, input_shape=(7, 10), model_name="MLP")


# ---- append under `if` on a constructor parameter ---------------------------------------------------------

BRANCHES = '''
import keras
from keras import layers


class Net(keras.Model):
    def __init__(self, width=4, expand=True):
        super().__init__()
        hidden = int(round(width * 1.5))
        body = []
        if expand:
            body.append(layers.Conv2D(hidden, 1, use_bias=False))
            body.append(layers.BatchNormalization(momentum=0.9, epsilon=1e-05))
        else:
            body.append(layers.Activation("relu"))
        body.append(layers.Conv2D(width, 3, padding="same"))
        self.body = keras.Sequential(body)
        self.head = layers.Dense(2)

    def call(self, x):
        return self.head(keras.ops.mean(self.body(x), axis=(1, 2)))
'''


def test_append_under_if_on_a_parameter():
    """Both branches are translated; the size after the `if` is an exact conditional expression; both
    branch values are built and compared."""
    code = _ok(BRANCHES).code
    assert "body.append(nn.Conv2d(3, hidden, 1, bias=False))" in code
    assert "body.append(nn.ReLU())" in code
    assert "nn.Conv2d(hidden if expand else 3, width, 3, padding=1)" in code
    for entry in ("Net(expand=True)", "Net(expand=False)"):
        check(BRANCHES, [img(6, 6, 3)], entry=entry, input_shape=(6, 6, 3), model_name="Net")


CONSTANT_IF = '''
import keras
from keras import layers


class Net(keras.Model):
    def __init__(self):
        super().__init__()
        body = []
        for i in range(2):
            if i == 0:
                body.append(layers.Conv2D(5, 3, strides=2))
            else:
                body.append(layers.Conv2D(5, 3, padding="same"))
        self.body = keras.Sequential(body)

    def call(self, x):
        return self.body(x)
'''


def test_if_on_a_loop_variable_follows_the_branch_taken():
    code = _ok(CONSTANT_IF, (9, 9, 3)).code
    assert "body.append(nn.Conv2d(3, 5, 3, stride=2))" in code
    assert "body.append(nn.Conv2d(5, 5, 3, padding=1))" in code
    check(CONSTANT_IF, [img(9, 9, 3)], entry="Net()", input_shape=(9, 9, 3), model_name="Net")


# ---- extend, literal starts, helpers --------------------------------------------------------------------

EXTEND = '''
import keras
from keras import layers


def conv_bn(filters, kernel_size=3, stride=1):
    """A helper with a local: expanded where it is called."""
    padding = (kernel_size - 1) // 2
    return keras.Sequential([
        layers.ZeroPadding2D(padding),
        layers.Conv2D(filters, kernel_size, strides=stride, use_bias=False),
        layers.BatchNormalization(),
        layers.ReLU(),
    ])


class Net(keras.Model):
    def __init__(self, width=6, num_classes=3):
        super().__init__()
        features = [conv_bn(width, stride=2)]
        features.extend([
            layers.DepthwiseConv2D(3, padding="same"),
            layers.BatchNormalization(),
        ])
        features += [layers.Conv2D(2 * width, 1), layers.ReLU()]
        features.append(conv_bn(width, kernel_size=1))
        self.features = keras.Sequential(features)
        self.head = layers.Dense(num_classes)

    def call(self, x):
        return self.head(keras.ops.mean(self.features(x), axis=(1, 2)))
'''


def test_extend_and_a_literal_start_with_helper_calls():
    """`[helper(...)]` to start, extend([...]) and += [...] of literals, a helper returning a Sequential
    (with a local computed from its parameters) as an item: a nested nn.Sequential."""
    result = _ok(EXTEND)
    code = result.code
    assert "features = [nn.Sequential(nn.ZeroPad2d(1), nn.Conv2d(3, width, 3, stride=2, " \
           "bias=False)" in code
    assert "features.extend([" in code and "features += [nn.Conv2d(width, 2 * width, 1), nn.ReLU()]" in code
    assert "def conv_bn" not in code          # expanded everywhere: dropped
    check(EXTEND, [img(8, 8, 3)], entry="Net()", input_shape=(8, 8, 3), model_name="Net")


# ---- lists that are not followed ------------------------------------------------------------------------

@pytest.mark.parametrize("statement, what", [
    ("body.insert(0, layers.ReLU())", "not followed"),
    ("body.pop()", "not followed"),
    ("register(body)", "not followed"),
    ("body = body[:1]", "not followed"),
    ("body.extend(more)", "other than a literal list"),
])
def test_a_list_changed_otherwise_is_a_finding(statement, what):
    """insert/pop, passing the list to a function, reassigning it, extending it with a list not written
    there: FWT103 and the model left as it was, never a model with other layers."""
    src = f'''
import keras
from keras import layers


def register(items):
    items.reverse()


class Net(keras.Model):
    def __init__(self):
        super().__init__()
        more = [layers.ReLU()]
        body = [layers.Conv2D(4, 3), layers.Conv2D(6, 3)]
        {statement}
        self.body = keras.Sequential(body)

    def call(self, x):
        return self.body(x)
'''
    result, errors = _translate(src)
    assert [f.code for f in errors] == ["FWT103"], [f.format() for f in result.findings]
    assert what in errors[0].message, errors[0].message
    assert "class Net(keras.Model)" in result.code


def test_a_list_used_after_the_sequential_is_a_finding():
    src = '''
import keras
from keras import layers


class Net(keras.Model):
    def __init__(self):
        super().__init__()
        body = [layers.Conv2D(4, 3)]
        self.body = keras.Sequential(body)
        self.n = len(body)

    def call(self, x):
        return self.body(x)
'''
    result, errors = _translate(src)
    assert [f.code for f in errors] == ["FWT103"], [f.format() for f in result.findings]
    assert "used again after" in errors[0].message


def test_porting_refuses_lists_that_do_not_line_up():
    """The torch list of one instance and the Keras list of another (other branch taken): PortError, not
    weights copied into the wrong layers."""
    from test_layers_numeric import exec_source
    from translator.verify.port import PortError, port_weights
    result = _ok(BRANCHES, (6, 6, 3))
    keras_model = exec_source(BRANCHES, "keras_original")["Net"](expand=False)
    keras_model(img(6, 6, 3))
    torch_model = exec_source(result.code, "torch_translation")["Net"](expand=True)
    with pytest.raises(PortError, match="holds 2 layers, the torch one 3"):
        port_weights(keras_model, torch_model, result.model("Net"))


FLAT_THEN_CLASS = '''
import keras
from keras import layers


class Block1(keras.layers.Layer):
    def __init__(self):
        super().__init__()
        self.flat = layers.Flatten()

    def call(self, inputs):
        return self.flat(inputs + 1.0)


class Net(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(12)
        self.reshape = layers.Reshape((4, 3))
        items = []
        items.append(layers.Flatten())
        items.append(Block1())
        self.seq = keras.Sequential(items)

    def call(self, x):
        return self.seq(self.reshape(self.dense(x)))
'''


def test_a_layer_class_after_a_channels_first_flatten_in_a_list_is_a_finding():
    """Fuzz find (subclass form, seed 7): the class got the flattened tensor in torch's order, and an
    nn.Sequential leaves no place for the reordering: reported, not translated wrong."""
    from translator import translate_source
    result = translate_source(FLAT_THEN_CLASS, to="torch", input_shape=(12,))
    errors = [f for f in result.findings if f.severity == "error"]
    assert any(f.code == "FWT103" and "after a channels-first flatten" in f.message for f in errors), \
        [f.format() for f in result.findings]
    assert "class Net(keras.Model)" in result.code
