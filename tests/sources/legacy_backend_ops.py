# Legacy Keras 2 code: old module paths and keras.backend ops inside a subclassed layer.
import tf_keras as keras
from tf_keras import backend as K
from tf_keras.layers import Dense, Conv2D, MaxPooling2D


class Head(keras.Model):
    def __init__(self, classes=4):
        super(Head, self).__init__()
        self.conv = Conv2D(6, (3, 3), activation="relu", padding="same")
        self.pool = MaxPooling2D(pool_size=(2, 2))
        self.fc = Dense(classes)

    def call(self, x):
        x = self.pool(self.conv(x))
        s = K.concatenate([K.mean(x, axis=[1, 2]), K.max(x, axis=[1, 2])], axis=-1)
        s = K.clip(s, -1.0, 1.0)
        return self.fc(K.square(s) + s)


model = Head()
model.build((None, 12, 12, 3))
