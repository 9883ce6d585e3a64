"""Text classification with an RNN (TensorFlow's "Text classification with an RNN").

A Sequential without an Input: `Embedding(mask_zero=True)`, `Bidirectional(LSTM(64))`,
Dense layers and a logit output, trained with `BinaryCrossentropy(from_logits=True)`;
then the stacked variant with two Bidirectional LSTMs. The masking makes a prediction
on a padded review equal the prediction on the unpadded one, which the tutorial shows.
The `TextVectorization` encoder and the IMDB download are replaced by word ids.
"""

import numpy as np

import lstmkit as keras

VOCAB_SIZE = 300
rng = np.random.default_rng(11)
train_x = keras.utils.pad_sequences(
    [rng.integers(1, VOCAB_SIZE, size=rng.integers(4, 12)) for _ in range(48)], padding="post")
train_y = rng.integers(0, 2, size=48)
test_x = keras.utils.pad_sequences(
    [rng.integers(1, VOCAB_SIZE, size=rng.integers(4, 12)) for _ in range(16)], padding="post")
test_y = rng.integers(0, 2, size=16)

model = keras.Sequential([
    keras.layers.Embedding(input_dim=VOCAB_SIZE, output_dim=16, mask_zero=True),
    keras.layers.Bidirectional(keras.layers.LSTM(16)),
    keras.layers.Dense(16, activation="relu"),
    keras.layers.Dense(1),
])
print([layer.supports_masking for layer in model.layers])
model.compile(loss=keras.losses.BinaryCrossentropy(from_logits=True),
              optimizer=keras.optimizers.Adam(1e-3), metrics=["accuracy"])
history = model.fit(train_x, train_y, epochs=1, validation_data=(test_x, test_y), verbose=0)
test_loss, test_acc = model.evaluate(test_x, test_y, verbose=0)
model.summary()

sample = rng.integers(1, VOCAB_SIZE, size=(1, 11))
predictions = model.predict(sample, verbose=0)
padded = np.concatenate([sample, np.zeros((1, 9), "int64")], axis=1)
predictions_padded = model.predict(padded, verbose=0)
print("padding changes the prediction by", float(np.abs(predictions - predictions_padded)[0, 0]))

stacked = keras.Sequential([
    keras.layers.Embedding(VOCAB_SIZE, 16, mask_zero=True),
    keras.layers.Bidirectional(keras.layers.LSTM(16, return_sequences=True)),
    keras.layers.Bidirectional(keras.layers.LSTM(8)),
    keras.layers.Dense(16, activation="relu"),
    keras.layers.Dropout(0.5),
    keras.layers.Dense(1),
])
stacked.compile(loss=keras.losses.BinaryCrossentropy(from_logits=True),
                optimizer=keras.optimizers.Adam(1e-3), metrics=["accuracy"])
stacked.fit(train_x, train_y, epochs=1, validation_data=(test_x, test_y), verbose=0)
stacked.summary()

CHECKS = {"model": (model, test_x[:8]), "padded": (model, padded),
          "stacked": (stacked, test_x[:8])}
