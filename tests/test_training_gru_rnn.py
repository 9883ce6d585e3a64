"""fit with GRU, SimpleRNN, RNN(cell) and stacked cells against Keras 3 (torch backend):
the same initial weights, shuffle=False, histories and final weights within 1e-4."""

import numpy as np

import lstmkit as lk
from _oracle import keras as _keras
from test_training_fit import _compare

RNG = np.random.default_rng(17)


def test_gru_simple_rnn_model_fit_matches_keras():
    keras = _keras()

    def build(lib, layers):
        x = lib.Input((6, 3))
        h = layers.GRU(5, return_sequences=True)(x)
        h = layers.GRU(4, reset_after=False, return_sequences=True, go_backwards=True)(h)
        h = layers.SimpleRNN(3)(h)
        return lib.Model(x, layers.Dense(2, activation="softmax")(h))

    x = RNG.normal(size=(16, 6, 3)).astype("float32")
    y = np.eye(2, dtype="float32")[RNG.integers(0, 2, 16)]
    _compare(build(lk, lk.layers), build(keras, keras.layers), {"batch_size": 4, "epochs": 2},
             {"optimizer": "adam", "loss": "categorical_crossentropy", "metrics": ["accuracy"]},
             x, y)


def test_masked_rnn_cells_and_bidirectional_gru_fit_matches_keras():
    keras = _keras()

    def build(lib, layers):
        x = lib.Input((6,), dtype="int32")
        h = layers.Embedding(7, 4, mask_zero=True)(x)
        h = layers.Bidirectional(layers.GRU(3, return_sequences=True))(h)
        h = layers.RNN([layers.LSTMCell(3), layers.GRUCell(2), layers.SimpleRNNCell(2)])(h)
        return lib.Model(x, layers.Dense(1)(h))

    x = RNG.integers(1, 7, size=(12, 6)).astype("int32")
    x[:4, 3:] = 0  # padded
    y = RNG.normal(size=(12, 1)).astype("float32")
    _compare(build(lk, lk.layers), build(keras, keras.layers), {"batch_size": 4, "epochs": 2},
             {"optimizer": "rmsprop", "loss": "mse"}, x, y)


def test_gru_state_into_gru_fit_matches_keras():
    keras = _keras()

    def build(lib, layers):
        a, b = lib.Input((4, 3), name="a"), lib.Input((5, 2), name="b")
        _, state = layers.GRU(3, return_state=True, name="enc")(a)
        seq = layers.RNN(layers.GRUCell(3), return_sequences=True, name="dec")(
            b, initial_state=[state])
        return lib.Model([a, b], layers.TimeDistributed(layers.Dense(1))(seq))

    x = [RNG.normal(size=(12, 4, 3)).astype("float32"),
         RNG.normal(size=(12, 5, 2)).astype("float32")]
    y = RNG.normal(size=(12, 5, 1)).astype("float32")
    _compare(build(lk, lk.layers), build(keras, keras.layers), {"batch_size": 4, "epochs": 2},
             {"optimizer": "sgd", "loss": "mse"}, x, y)
