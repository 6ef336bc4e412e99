import keras
from keras import layers


def build_two_tower(dim=6):
    """Two inputs share one Sequential encoder (shared weights), then a dense head."""
    encoder = keras.Sequential([layers.Dense(dim, activation="relu"), layers.Dense(dim)])
    left = keras.Input(shape=(5,))
    right = keras.Input(shape=(5,))
    merged = layers.concatenate([encoder(left), encoder(right)])
    return keras.Model([left, right], layers.Dense(1)(merged))
