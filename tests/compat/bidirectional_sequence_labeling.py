"""Sequence labeling with a bidirectional LSTM: the cumulative-sum threshold problem.

After the "How to develop a Bidirectional LSTM for sequence classification" tutorial:
each step of a random sequence is labeled 1 once the running sum passes a quarter of
the length; a `Bidirectional(LSTM(return_sequences=True), input_shape=...)` with a
`TimeDistributed(Dense(sigmoid))` head labels every step, trained on freshly generated
sequences; the merge modes ("concat", "sum", "mul", "ave") are compared. The data is
generated as the tutorial does.
"""

import numpy as np

import lstmkit as keras
from lstmkit.layers import LSTM, Bidirectional, Dense, TimeDistributed

n_timesteps = 10
rng = np.random.default_rng(12)


def get_sequences(n_sequences, n_timesteps):
    X = rng.random((n_sequences, n_timesteps))
    limit = n_timesteps / 4.0
    y = (np.cumsum(X, axis=1) > limit).astype("float32")
    return X.reshape(n_sequences, n_timesteps, 1).astype("float32"), y.reshape(
        n_sequences, n_timesteps, 1)


def get_bi_lstm_model(n_timesteps, mode):
    model = keras.Sequential()
    model.add(Bidirectional(LSTM(12, return_sequences=True), input_shape=(n_timesteps, 1),
                            merge_mode=mode))
    model.add(TimeDistributed(Dense(1, activation="sigmoid")))
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


models = {}
for mode in ["concat", "sum", "mul", "ave"]:
    model = get_bi_lstm_model(n_timesteps, mode)
    for _ in range(2):
        X, y = get_sequences(16, n_timesteps)
        history = model.fit(X, y, epochs=1, batch_size=16, verbose=0)
    models[mode] = model
    print(mode, round(history.history["loss"][-1], 3))
models["concat"].summary()

X, y = get_sequences(8, n_timesteps)
yhat = (models["concat"].predict(X, verbose=0) > 0.5).astype("int32")
print("expected/predicted agree on", int((yhat == y).sum()), "of", y.size, "steps")

CHECKS = {mode: (m, X) for mode, m in models.items()}
