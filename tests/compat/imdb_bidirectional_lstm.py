"""Text classification: a two-layer bidirectional LSTM on movie reviews (IMDB).

After keras.io's "Bidirectional LSTM on IMDB" example: integer word ids, padded to a
fixed length, an Embedding, two stacked Bidirectional LSTMs, a sigmoid output. The IMDB
download is replaced by random word ids of the same kind (shapes scaled down).
"""

import numpy as np

import lstmkit as keras
from lstmkit import layers

max_features = 200  # vocabulary size (20000 in the example)
maxlen = 24  # words kept per review (200 in the example)

rng = np.random.default_rng(0)
x_train = [rng.integers(1, max_features, size=rng.integers(5, 40)).tolist() for _ in range(96)]
y_train = rng.integers(0, 2, size=96)
x_val = [rng.integers(1, max_features, size=rng.integers(5, 40)).tolist() for _ in range(32)]
y_val = rng.integers(0, 2, size=32)
print(len(x_train), "Training sequences")
print(len(x_val), "Validation sequences")
x_train = keras.utils.pad_sequences(x_train, maxlen=maxlen)
x_val = keras.utils.pad_sequences(x_val, maxlen=maxlen)

# Variable-length integer sequences in, one probability out.
inputs = keras.Input(shape=(None,), dtype="int32")
x = layers.Embedding(max_features, 16)(inputs)
x = layers.Bidirectional(layers.LSTM(8, return_sequences=True))(x)
x = layers.Bidirectional(layers.LSTM(8))(x)
outputs = layers.Dense(1, activation="sigmoid")(x)
model = keras.Model(inputs, outputs)
model.summary()

model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, batch_size=32, epochs=2, validation_data=(x_val, y_val),
                    verbose=0)
print(sorted(history.history))
print(model.metrics_names)

CHECKS = {"model": (model, x_val[:8])}
