"""Files with GRU, SimpleRNN, RNN(cell) and stacked cells: lstmkit writes `.keras` and `.h5`
that Keras 3 loads and predicts the same from, and reads back its own files exactly."""

from __future__ import annotations

import numpy as np
import pytest

import lstmkit as lk
from _oracle import keras as torch_keras
from _oracle import quiet
from test_io_keras_files import DATA, keras_data, predict
from test_io_roundtrip import assert_close, keras_predict, unbuilt_optimizer_ok

SOURCES = ["keras3_gru_family.keras", "keras3_rnn_cells.keras", "tfkeras2_gru_family.h5",
           "tfkeras2_rnn_cells.h5", "tfkeras2_cudnn_gru.h5", "tfkeras2_cudnn_lstm.h5"]


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("ext", [".keras", ".h5"])
def test_keras3_loads_what_lstmkit_writes(source, ext, tmp_path):
    keras = torch_keras()
    model = lk.models.load_model(DATA / source)
    x, expected = keras_data(source)
    path = tmp_path / f"model{ext}"
    model.save(path)
    again = lk.models.load_model(path)
    for a, b in zip(predict(again, x), predict(model, x)):
        np.testing.assert_array_equal(a, b)
    with quiet(), unbuilt_optimizer_ok():
        reloaded = keras.models.load_model(path)
    assert_close(keras_predict(reloaded, x), expected)


def test_models_built_in_lstmkit_predict_the_same_in_keras(tmp_path):
    keras = torch_keras()
    L = lk.layers
    rng = np.random.default_rng(1)
    enc, dec = lk.Input((6, 3), name="enc"), lk.Input((4, 2), name="dec")
    seq, h = L.GRU(4, return_sequences=True, return_state=True, reset_after=False)(enc)
    y = L.RNN(L.GRUCell(4), return_sequences=True)(dec, initial_state=[h])
    y = L.RNN([L.SimpleRNNCell(3, activation="relu"), L.LSTMCell(2)])(y)
    pooled = L.Bidirectional(L.SimpleRNN(2), merge_mode="ave")(seq)
    model = lk.Model([enc, dec], [y, pooled])
    model.set_weights([rng.normal(scale=0.5, size=w.shape).astype(w.dtype)
                       for w in model.get_weights()])
    x = [rng.normal(size=(3, 6, 3)).astype("float32"), rng.normal(size=(3, 4, 2)).astype("float32")]
    ours = predict(model, x)
    for ext in (".keras", ".h5"):
        path = tmp_path / f"m{ext}"
        model.save(path)
        with quiet():
            theirs = keras_predict(keras.models.load_model(path), x)
        assert_close(theirs, ours)


def test_keras_layer_entries_deserialize_for_every_recurrent_class():
    """`lk.layers.deserialize` rebuilds each layer from `keras.layers.serialize` output."""
    keras = torch_keras()
    K = keras.layers
    for layer in (K.GRU(3, reset_after=False, go_backwards=True), K.GRUCell(2),
                  K.SimpleRNN(3, activation="relu"), K.SimpleRNNCell(2),
                  K.RNN(K.LSTMCell(2), return_state=True),
                  K.RNN([K.GRUCell(2), K.SimpleRNNCell(3)]),
                  K.StackedRNNCells([K.LSTMCell(2), K.GRUCell(2)]),
                  K.Bidirectional(K.RNN(K.GRUCell(2), return_sequences=True))):
        ours = lk.layers.deserialize(K.serialize(layer))
        assert type(ours).__name__ == type(layer).__name__
        assert ours.name == layer.name
