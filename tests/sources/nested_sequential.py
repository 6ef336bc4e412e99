"""A transformer-style feed-forward block: a Sequential held by a layer class (Keras' own idiom)."""
import keras
from keras import layers


class FeedForward(keras.Model):
    def __init__(self, dim=8, hidden=16, rate=0.1):
        super().__init__()
        self.ffn = keras.Sequential([layers.Dense(hidden, activation="gelu"), layers.Dropout(rate),
                                     layers.Dense(dim)])
        self.norm = layers.LayerNormalization(epsilon=1e-6)
        self.head = keras.Sequential([layers.Flatten(), layers.Dense(3, activation="softmax")])

    def call(self, x, training=False):
        y = self.norm(x + self.ffn(x, training=training))
        return self.head(y)


model = FeedForward()
model.build((None, 5, 8))
