import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers
import keras.backend as K


class Block(keras.layers.Layer):
    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.conv = layers.Conv2D(filters, 3, padding="same")
        self.bn = layers.BatchNormalization()

    def call(self, x, training=None):
        return tf.nn.relu(self.bn(self.conv(x), training=training))


class Net(keras.Model):
    """A subclassed CNN."""

    def __init__(self, num_classes=10):
        super(Net, self).__init__()
        self.conv1 = layers.Conv2D(16, 3, activation="relu")
        self.pool = layers.MaxPooling2D()
        self.conv2 = layers.Conv2D(16, 3, padding="same")
        self.drop = layers.Dropout(0.3)
        self.head = layers.Dense(num_classes)

    def call(self, inputs, training=False):
        x = self.conv1(inputs)
        x = self.pool(x)
        y = self.conv2(x)
        x = tf.concat([x, y], axis=-1)  # channel concat
        if training:
            x = self.drop(x, training=training)
        x = tf.reduce_mean(x, axis=[1, 2])
        return self.head(x)


model = Net(num_classes=5)
model.build((None, 28, 28, 1))
