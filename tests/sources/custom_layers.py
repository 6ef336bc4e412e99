"""Custom layers: weights created in build(), a residual block class used by a model, and a
Sequential-style model class that uses both."""
import tensorflow as tf
import keras
from keras import layers


class Scale(layers.Layer):
    """Per-channel scale and shift, created in build() from the input's channel count."""

    def build(self, input_shape):
        channels = input_shape[-1]
        self.gamma = self.add_weight(shape=(channels,), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(channels,), initializer="zeros", name="beta")
        super().build(input_shape)

    def call(self, x):
        return x * self.gamma + self.beta


class ResidualBlock(layers.Layer):
    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.conv1 = layers.Conv2D(filters, 3, padding="same", activation="relu")
        self.conv2 = layers.Conv2D(filters, 3, padding="same")
        self.proj = layers.Conv2D(filters, 1)
        self.scale = Scale()

    def call(self, x):
        y = self.conv2(self.conv1(x))
        return tf.nn.relu(self.scale(y) + self.proj(x))


class Net(keras.Model):
    def __init__(self, num_classes=5):
        super().__init__()
        self.stem = layers.Conv2D(8, 3, strides=2, padding="same")
        self.block1 = ResidualBlock(8)
        self.block2 = ResidualBlock(16)
        self.pool = layers.GlobalAveragePooling2D()
        self.head = layers.Dense(num_classes)

    def call(self, inputs):
        x = self.block2(self.block1(self.stem(inputs)))
        return self.head(self.pool(x))


model = Net()
model.build((None, 16, 16, 3))


def build_functional(units=6):
    inputs = keras.Input(shape=(10, 4))
    x = layers.Dense(units)(inputs)
    x = Scale()(x)
    scale = Scale()
    return keras.Model(inputs, scale(x))
