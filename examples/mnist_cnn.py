"""A small Keras CNN for MNIST digits (28x28 grayscale images, 10 classes).

Translate it to PyTorch with:

    fwtranslate examples/mnist_cnn.py --to torch
"""
import keras
from keras import layers

IMAGE_SHAPE = (28, 28, 1)


def build_model(num_classes=10):
    """Two conv blocks, then a small dense head."""
    inputs = keras.Input(shape=IMAGE_SHAPE)
    x = layers.Conv2D(32, kernel_size=3, activation="relu")(inputs)
    x = layers.MaxPooling2D(pool_size=2)(x)
    x = layers.Conv2D(64, kernel_size=3, activation="relu")(x)
    x = layers.MaxPooling2D(pool_size=2)(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.5)(x)
    x = layers.Dense(128, activation="relu")(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="mnist_cnn")


if __name__ == "__main__":
    print(build_model())
