"""LSTM autoencoder: reconstruct a sequence, then keep the encoder (sequence embedding).

After the common "LSTM Autoencoders" tutorial: a Sequential of `LSTM(relu)` encoder,
`RepeatVector`, `LSTM(relu, return_sequences=True)` decoder and
`TimeDistributed(Dense(1))`, trained to reproduce its input; then a new `Model` from
`model.inputs` to `model.layers[0].output` gives the encoder's fixed-length vector.
The toy sequence is the tutorial's own (0.1 ... 0.9); a few random ones are added.
"""

import numpy as np

import lstmkit as keras
from lstmkit.layers import LSTM, Dense, RepeatVector, TimeDistributed

sequence = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
n_in = len(sequence)
rng = np.random.default_rng(9)
batch = np.concatenate([sequence[None], rng.random((15, n_in))]).reshape((16, n_in, 1))

model = keras.Sequential()
model.add(keras.Input((n_in, 1)))
model.add(LSTM(16, activation="relu"))
model.add(RepeatVector(n_in))
model.add(LSTM(16, activation="relu", return_sequences=True))
model.add(TimeDistributed(Dense(1)))
model.compile(optimizer="adam", loss="mse")
model.summary()
model.fit(batch, batch, epochs=3, verbose=0)
yhat = model.predict(batch[:1], verbose=0)
print(yhat[0, :, 0].shape)

encoder = keras.Model(inputs=model.inputs, outputs=model.layers[0].output)
encoder.summary()
print(encoder.predict(batch[:1], verbose=0).shape)

CHECKS = {"model": (model, batch[:4].astype("float32")),
          "encoder": (encoder, batch[:4].astype("float32"))}
