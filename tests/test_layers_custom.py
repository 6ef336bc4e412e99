"""Lambda layers and custom layer classes: translated, weights ported, outputs compared (both layouts)."""
import pytest

from test_layers_numeric import check, functional, img, seq

LAMBDAS = {
    "lambda-expression-on-image": (functional((5, 5, 3), """
        x = layers.Conv2D(4, 3, padding="same")(x)
        out = layers.Lambda(lambda t: t * 2.0 - 1.0)(x)
    """, imports="import keras\nfrom keras import layers"), img(5, 5)),
    "lambda-tf-ops-channel-concat": (functional((5, 5, 3), """
        x = layers.Conv2D(4, 1)(x)
        out = layers.Lambda(lambda t: tf.concat([t, tf.nn.sigmoid(t)], axis=-1))(x)
    """, imports="import keras\nimport tensorflow as tf\nfrom keras import layers"), img(5, 5)),
    "lambda-list-input": (functional((6, 4), """
        a = layers.Dense(3)(x)
        b = layers.Dense(3)(x)
        out = layers.Lambda(lambda ab: ab[0] * ab[1])([a, b])
    """), seq(6, 4)),
    "lambda-module-function-with-arguments": ("""
import keras
from keras import layers


def shift(t, offset=0.0):
    return t + offset


inp = keras.Input(shape=(6,))
x = layers.Dense(4)(inp)
out = layers.Lambda(shift, arguments={"offset": 0.25})(x)
model = keras.Model(inp, out)
""", None),
}


@pytest.mark.parametrize("case", sorted(LAMBDAS))
def test_lambda(case):
    code, inputs = LAMBDAS[case]
    from test_layers_numeric import vec
    check(code, [inputs if inputs is not None else vec(6)])


CUSTOM_LAYER = """
import keras
from keras import layers


class Gate(layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform")
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros")

    def call(self, x):
        return keras.ops.sigmoid(keras.ops.matmul(x, self.kernel) + self.bias)


inp = keras.Input(shape=(7, 5))
out = Gate(3)(layers.Dense(6)(inp))
model = keras.Model(inp, out)
"""


def test_custom_layer_with_build_weights():
    check(CUSTOM_LAYER, [seq(7, 5)])
