import keras
from keras import layers

seq = keras.Sequential([
    layers.Dense(64, activation="relu", input_shape=(20,)),
    layers.Dense(1),
])

model = keras.Sequential()
model.add(layers.Embedding(100, 16, input_length=12))
model.add(layers.LSTM(8, return_sequences=True))
model.add(layers.GRU(6))
model.add(layers.Dense(3, activation="softmax"))

inp = keras.Input(shape=(16, 16, 3))
a = layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
b = layers.Conv2D(8, 1)(inp)
x = layers.add([a, b])
x = layers.Conv2D(4, 3, strides=2, padding="same")(x)
u = layers.UpSampling2D()(x)
c = layers.Concatenate()([u, a])
c = layers.ZeroPadding2D(((1, 0), (2, 1)))(c)
c = layers.AveragePooling2D(3, strides=2, padding="same")(c)
g = layers.GlobalAveragePooling2D()(c)
out = layers.Dense(2)(g)
unet = keras.Model(inp, [out, c])
