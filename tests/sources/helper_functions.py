import keras
from keras import layers


def conv_bn_relu(x, filters, strides=1):
    """Conv + BN + ReLU."""
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x)


def residual_block(x, filters):
    shortcut = layers.Conv2D(filters, 1, strides=2)(x)
    y = conv_bn_relu(x, filters, strides=2)
    y = layers.Conv2D(filters, 3, padding="same")(y)
    return layers.Add()([shortcut, y])


def build_resnet(num_classes=10, width=8):
    inputs = keras.Input(shape=(32, 32, 3))
    x = conv_bn_relu(inputs, width)
    x = residual_block(x, width * 2)
    x = residual_block(x, width * 4)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(num_classes)(x))
