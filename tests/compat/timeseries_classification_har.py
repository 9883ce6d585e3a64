"""Time-series classification: human activity from accelerometer windows with an LSTM.

After the common "LSTM for Human Activity Recognition" tutorial (UCI HAR: 9 inertial
signals, windows of 128 steps, 6 activities): `LSTM(100)` with `input_shape=`,
Dropout, a ReLU Dense and a softmax over the classes, one-hot targets from
`to_categorical`, evaluated on a held-out split. The UCI download is replaced by noisy
random signals whose frequency depends on the class; sizes scaled down.
"""

import numpy as np

import lstmkit as keras
from lstmkit.layers import LSTM, Dense, Dropout

n_timesteps, n_features, n_outputs = 24, 9, 6  # 128 steps in the dataset
rng = np.random.default_rng(3)


def make_split(n):
    labels = rng.integers(0, n_outputs, size=n)
    t = np.arange(n_timesteps)[None, :, None]  # (1, T, 1)
    freq = (labels + 1)[:, None, None] / n_timesteps  # (n, 1, 1)
    signal = np.sin(2 * np.pi * freq * t + rng.uniform(0, 1, size=(n, 1, n_features)))
    return (signal + 0.2 * rng.normal(size=(n, n_timesteps, n_features))).astype(
        "float32"), labels


trainX, trainy = make_split(64)
testX, testy = make_split(24)
trainy = keras.utils.to_categorical(trainy)
testy = keras.utils.to_categorical(testy, num_classes=n_outputs)
print(trainX.shape, trainy.shape, testX.shape, testy.shape)

verbose, epochs, batch_size = 0, 2, 32
model = keras.Sequential()
model.add(LSTM(24, input_shape=(n_timesteps, n_features)))
model.add(Dropout(0.5))
model.add(Dense(24, activation="relu"))
model.add(Dense(n_outputs, activation="softmax"))
model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
model.summary()
model.fit(trainX, trainy, epochs=epochs, batch_size=batch_size, verbose=verbose)
_, accuracy = model.evaluate(testX, testy, batch_size=batch_size, verbose=0)
print("accuracy", round(accuracy * 100, 1))

CHECKS = {"model": (model, testX[:8])}
