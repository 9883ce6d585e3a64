"""keras.io guide "Working with RNNs", its LSTM parts.

A Sequential without an Input (Embedding, LSTM, Dense) whose summary is printed before
it is built; an encoder-decoder whose encoder states start the decoder
(`return_state`, `initial_state`); Bidirectional with `input_shape=`; and a model on
MNIST-shaped rows trained with a sparse categorical loss from logits. The guide's
custom-cell and `keras.layers.RNN` sections are left out (other issues build those).
"""

import numpy as np

import lstmkit as keras
from lstmkit import layers

model = keras.Sequential()
model.add(layers.Embedding(input_dim=1000, output_dim=64))
model.add(layers.LSTM(128))
model.add(layers.Dense(10))
model.summary()  # not built yet: Keras prints "?" shapes and "(unbuilt)" counts

rng = np.random.default_rng(8)
tokens = rng.integers(0, 1000, size=(4, 12))
print(model(tokens).shape)
print(model.predict(rng.integers(0, 1000, size=(3, 30)), verbose=0).shape)  # another length
model.summary()

# Encoder-decoder: the encoder's states initialize the decoder.
encoder_vocab = 1000
decoder_vocab = 2000
encoder_input = layers.Input(shape=(None,))
encoder_embedded = layers.Embedding(input_dim=encoder_vocab, output_dim=64)(encoder_input)
output, state_h, state_c = layers.LSTM(64, return_state=True, name="encoder")(
    encoder_embedded)
encoder_state = [state_h, state_c]
decoder_input = layers.Input(shape=(None,))
decoder_embedded = layers.Embedding(input_dim=decoder_vocab, output_dim=64)(decoder_input)
decoder_output = layers.LSTM(64, name="decoder")(decoder_embedded, initial_state=encoder_state)
output = layers.Dense(10)(decoder_output)
seq2seq = keras.Model([encoder_input, decoder_input], output)
seq2seq.summary()

# Bidirectional RNNs.
bidi = keras.Sequential()
bidi.add(layers.Bidirectional(layers.LSTM(64, return_sequences=True), input_shape=(5, 10)))
bidi.add(layers.Bidirectional(layers.LSTM(32)))
bidi.add(layers.Dense(10))
bidi.summary()

# MNIST rows as sequences: 28 steps of 28 features (data replaced by random images).
batch_size = 32
input_dim = 28
units = 32
output_size = 10
x_train = rng.random((48, 28, 28)).astype("float32")
y_train = rng.integers(0, 10, size=48)
x_test = rng.random((16, 28, 28)).astype("float32")
y_test = rng.integers(0, 10, size=16)


def build_model():
    lstm_layer = keras.layers.LSTM(units, input_shape=(None, input_dim))
    return keras.models.Sequential([
        lstm_layer,
        keras.layers.BatchNormalization(),
        keras.layers.Dense(output_size),
    ])


mnist = build_model()
mnist.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              optimizer="sgd", metrics=["accuracy"])
mnist.fit(x_train, y_train, validation_data=(x_test, y_test), batch_size=batch_size, epochs=1,
          verbose=0)
print(mnist.metrics_names)

CHECKS = {
    "model": (model, rng.integers(0, 1000, size=(3, 17))),
    "seq2seq": (seq2seq, [rng.integers(0, 1000, size=(2, 6)), rng.integers(0, 2000, (2, 9))]),
    "bidi": (bidi, rng.random((4, 5, 10)).astype("float32")),
    "mnist": (mnist, x_test[:8]),
}
