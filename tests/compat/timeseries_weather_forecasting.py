"""Time-series forecasting: weather a few hours ahead from the past days (keras.io, Jena).

After keras.io's "Timeseries forecasting for weather prediction": normalize the
features with the training split's mean and std, make windows with
`timeseries_dataset_from_array` (one step per hour from 10-minute data via
`sampling_rate`), forecast the temperature `future` steps ahead with an LSTM, train with
EarlyStopping and a weights checkpoint. The Jena climate CSV is replaced by smooth
random series of the same kind (7 features, 10-minute steps), sizes scaled down.
"""

import numpy as np

import lstmkit as keras

split_fraction = 0.715
step = 6  # one sample per hour from 10-minute records
past = 72  # 720 in the example
future = 12  # 72 in the example
learning_rate = 0.001
batch_size = 32
epochs = 2

rng = np.random.default_rng(2)
n = 1000
t = np.arange(n)
features = np.stack([np.sin(2 * np.pi * t / 144 + k) + 0.1 * rng.normal(size=n)
                     for k in range(7)], axis=1).astype("float32")  # (n, 7)


def normalize(data, train_split):
    data_mean = data[:train_split].mean(axis=0)
    data_std = data[:train_split].std(axis=0)
    return (data - data_mean) / data_std


train_split = int(split_fraction * n)
features = normalize(features, train_split)
train_data = features[:train_split]
val_data = features[train_split:]

start = past + future
end = start + train_split
x_train = train_data
y_train = features[start:end, [1]]  # the temperature column, `future` steps ahead
sequence_length = int(past / step)

dataset_train = keras.utils.timeseries_dataset_from_array(
    x_train, y_train, sequence_length=sequence_length, sampling_rate=step,
    batch_size=batch_size)

x_end = len(val_data) - past - future
label_start = train_split + past + future
x_val = val_data[:x_end]
y_val = features[label_start:, [1]]
dataset_val = keras.utils.timeseries_dataset_from_array(
    x_val, y_val, sequence_length=sequence_length, sampling_rate=step, batch_size=batch_size)

for batch in dataset_train.take(1):
    inputs, targets = batch
print("Input shape:", inputs.shape)
print("Target shape:", targets.shape)

inputs = keras.layers.Input(shape=(inputs.shape[1], inputs.shape[2]))
lstm_out = keras.layers.LSTM(16)(inputs)
outputs = keras.layers.Dense(1)(lstm_out)
model = keras.Model(inputs=inputs, outputs=outputs)
model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse")
model.summary()

path_checkpoint = "model_checkpoint.weights.h5"
es_callback = keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=0, patience=5)
modelckpt_callback = keras.callbacks.ModelCheckpoint(
    monitor="val_loss", filepath=path_checkpoint, verbose=0, save_weights_only=True,
    save_best_only=True)
history = model.fit(dataset_train, epochs=epochs, validation_data=dataset_val,
                    callbacks=[es_callback, modelckpt_callback], verbose=0)
print(sorted(history.history))
model.load_weights(path_checkpoint)

for x, y in dataset_val.take(2):
    prediction = model.predict(x, verbose=0)[0]
    print("true", float(y[0][0]), "predicted", float(prediction[0]))

x_check, _ = dataset_val.take(1)[0]
CHECKS = {"model": (model, x_check[:8])}
