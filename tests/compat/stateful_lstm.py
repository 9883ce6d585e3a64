"""Stateful LSTM: carry the state across batches of one long series.

After Keras's classic stateful-LSTM example (predict a moving average of a noisy series,
a fixed batch shape `(batch_size, tsteps, 1)`, `shuffle=False`, states reset between
epochs; it trains a stateless twin beside the stateful model) and the "Cross-batch
statefulness" part of keras.io's "Working with RNNs" guide (a stateful layer called on
consecutive sub-sequences, then reset). Here the stateless twin is trained and its
weights stream through the stateful model (Keras 3.15's torch backend cannot fit a
stateful LSTM: an in-place state update breaks autograd).
"""

import numpy as np

import lstmkit as keras
from lstmkit import layers

input_len = 240
tsteps = 1
lahead = 1
batch_size = 8
epochs = 2

rng = np.random.default_rng(5)
data_input = rng.uniform(-0.1, 0.1, size=(input_len + 1, 1)).astype("float32")
expected_output = np.convolve(data_input[:, 0], np.ones(2) / 2, mode="valid")[:, None]
x = data_input[:input_len].reshape(input_len, tsteps, 1)
y = expected_output[:input_len].astype("float32")
split = 160
x_train, y_train = x[:split], y[:split]
x_test, y_test = x[split:], y[split:]

def build(stateful):
    return keras.Sequential([
        keras.Input(batch_shape=(batch_size, tsteps, 1)),
        layers.LSTM(20, return_sequences=False, stateful=stateful),
        layers.Dense(1),
    ])


stateless = build(stateful=False)
stateless.compile(loss="mse", optimizer="adam")
stateless.summary()
for _ in range(epochs):
    stateless.fit(x_train, y_train, batch_size=batch_size, epochs=1, verbose=0, shuffle=False)

model = build(stateful=True)
model.set_weights(stateless.get_weights())
model.summary()
predicted = model.predict(x_test, batch_size=batch_size, verbose=0)
print("rmse", float(np.sqrt(np.mean((predicted - y_test) ** 2))))
model.layers[0].reset_states()

# Cross-batch statefulness: three sub-sequences of one long sequence.
paragraph1 = rng.random((20, 10, 50)).astype(np.float32)
paragraph2 = rng.random((20, 10, 50)).astype(np.float32)
paragraph3 = rng.random((20, 10, 50)).astype(np.float32)
lstm_layer = layers.LSTM(16, stateful=True)
output = lstm_layer(paragraph1)
output = lstm_layer(paragraph2)
output = lstm_layer(paragraph3)
print(tuple(output.shape))
lstm_layer.reset_states()

CHECKS = {"model": (model, x_test[:batch_size])}
