"""Univariate forecasting with stacked LSTMs and activation layers (stock-price tutorials).

The popular "predict the next closing price from the last 60" recipe: min-max scaled
prices, windows of 60 steps, `LSTM(return_sequences=True)`, Dropout, a second LSTM,
and a Dense head with separate activation layers (`LeakyReLU(negative_slope=...)`,
`PReLU`, `ELU`, `ReLU(max_value=...)`), Adam and MSE; an explicit `build()` before
the summary; lower-case initializer and regularizer aliases. Prices are a random walk.
"""

import numpy as np

import lstmkit as keras
from lstmkit import layers

rng = np.random.default_rng(13)
prices = 100 + np.cumsum(rng.normal(size=160)).astype("float32")
lo, hi = prices.min(), prices.max()
scaled = (prices - lo) / (hi - lo)
window = 20  # 60 in the tutorials
x = np.lib.stride_tricks.sliding_window_view(scaled[:-1], window)[..., None]  # (n, 20, 1)
y = scaled[window:]
split = int(0.8 * len(x))
x_train, y_train, x_test, y_test = x[:split], y[:split], x[split:], y[split:]

model = keras.Sequential([
    layers.LSTM(16, return_sequences=True,
                kernel_initializer=keras.initializers.glorot_uniform(seed=1)),
    layers.Dropout(0.2),
    layers.LSTM(16, return_sequences=False, recurrent_regularizer=keras.regularizers.l2(1e-4)),
    layers.Dropout(0.2),
    layers.Dense(16, kernel_initializer=keras.initializers.he_normal(seed=2)),
    layers.LeakyReLU(negative_slope=0.1),
    layers.Dense(8),
    layers.PReLU(),
    layers.Dense(8),
    layers.ELU(alpha=0.5),
    layers.Dense(1),
    layers.ReLU(max_value=1.5),
])
model.build((None, window, 1))
model.summary()
model.compile(optimizer="adam", loss="mean_squared_error")
model.fit(x_train, y_train, batch_size=16, epochs=2, verbose=0)
predictions = model.predict(x_test, verbose=0) * (hi - lo) + lo
rmse = float(np.sqrt(np.mean((predictions[:, 0] - (y_test * (hi - lo) + lo)) ** 2)))
print("rmse", round(rmse, 2))

CHECKS = {"model": (model, x_test[:8])}
