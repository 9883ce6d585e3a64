"""Multi-step, multi-output forecasting (TensorFlow's "Time series forecasting" tutorial).

The single-shot LSTM of the tutorial's multi-step part: a Sequential without an Input,
`LSTM(32, return_sequences=False)`, a Dense producing every future step of every feature
at once (kernel initialized with `initializers.zeros()`, the tutorial's lower-case
alias) and a `Reshape` to (steps, features); compiled with `MeanSquaredError`, `Adam`
and a `MeanAbsoluteError` metric, trained with EarlyStopping. The tutorial's
window generator (a tf.data pipeline) is replaced by windows cut with NumPy; the Jena
data by smooth random series.
"""

import numpy as np

import lstmkit as keras

OUT_STEPS = 6
IN_STEPS = 12
num_features = 5
MAX_EPOCHS = 2

rng = np.random.default_rng(10)
t = np.arange(300)
series = np.stack([np.sin(2 * np.pi * t / (24 + 3 * k)) for k in range(num_features)],
                  axis=1).astype("float32")
series += 0.05 * rng.normal(size=series.shape).astype("float32")
windows = np.lib.stride_tricks.sliding_window_view(series, IN_STEPS + OUT_STEPS, axis=0)
windows = np.moveaxis(windows, -1, 1)  # (n, steps, features)
inputs, labels = windows[:, :IN_STEPS], windows[:, IN_STEPS:]
n_train = int(len(inputs) * 0.8)
train = (inputs[:n_train], labels[:n_train])
val = (inputs[n_train:], labels[n_train:])

multi_lstm_model = keras.Sequential([
    keras.layers.LSTM(32, return_sequences=False),
    keras.layers.Dense(OUT_STEPS * num_features, kernel_initializer=keras.initializers.zeros()),
    keras.layers.Reshape([OUT_STEPS, num_features]),
])


def compile_and_fit(model, patience=2):
    early_stopping = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience,
                                                   mode="min")
    model.compile(loss=keras.losses.MeanSquaredError(), optimizer=keras.optimizers.Adam(),
                  metrics=[keras.metrics.MeanAbsoluteError()])
    return model.fit(*train, epochs=MAX_EPOCHS, validation_data=val,
                     callbacks=[early_stopping], verbose=0)


history = compile_and_fit(multi_lstm_model)
performance = multi_lstm_model.evaluate(*val, verbose=0, return_dict=True)
print(sorted(performance))
print(multi_lstm_model.metrics_names)
multi_lstm_model.summary()

CHECKS = {"model": (multi_lstm_model, val[0][:8])}
