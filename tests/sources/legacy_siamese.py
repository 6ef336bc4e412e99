import tf_keras as keras
from tf_keras import backend as K
from tf_keras.layers import Input, Dense, Conv1D, GlobalMaxPooling1D, LeakyReLU, concatenate
from tf_keras.models import Model


def build_siamese(hidden=16):
    left = Input(shape=(10, 4))
    right = Input(shape=(10, 4))
    shared = Conv1D(hidden, 3, padding="same")   # shared weights
    pool = GlobalMaxPooling1D()
    a = pool(shared(left))
    b = pool(shared(right))
    merged = concatenate([a, b])
    x = Dense(8, input_dim=2 * hidden)(merged)
    x = LeakyReLU(alpha=0.2)(x)
    out = Dense(1, activation="sigmoid")(x)
    return Model(inputs=[left, right], outputs=out)
