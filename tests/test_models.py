"""Sequential and functional models: graph, weights, configs in Keras 3's format.

Oracle: Keras 3 on the torch backend (configs from `keras.saving.serialize_keras_object`,
outputs of the same architecture with the same weights).
"""

import json

import numpy as np
import pytest

import lstmkit as lk
from _oracle import keras as _keras
from _oracle import keras_call, keras_weights
from lstmkit.layers import LSTM, Dense, TimeDistributed


def _json(obj):
    return json.loads(json.dumps(obj))


def _seq_pair(keras):
    ours = lk.Sequential([lk.Input((6, 3), name="x_in"), LSTM(4, name="rnn"),
                          Dense(2, activation="softmax", name="head")], name="seq")
    theirs = keras.Sequential([keras.Input((6, 3), name="x_in"),
                               keras.layers.LSTM(4, name="rnn"),
                               keras.layers.Dense(2, activation="softmax", name="head")],
                              name="seq")
    return ours, theirs


def _encdec_pair(keras):
    def build(lib, L, Input, Model):
        ei = Input((5, 3), name="enc_in")
        di = Input((None, 2), name="dec_in")
        _, h, c = L.LSTM(4, return_state=True, name="encoder")(ei)
        y = L.LSTM(4, return_sequences=True, name="decoder")(di, initial_state=[h, c])
        y = L.TimeDistributed(L.Dense(3, name="proj"), name="td")(y)
        z = L.Dense(1, name="aux")(h)
        return Model([ei, di], [y, z], name="encdec")
    ours = build(lk, lk.layers, lk.Input, lk.Model)
    theirs = build(keras, keras.layers, keras.Input, keras.Model)
    return ours, theirs


def test_sequential_config_matches_keras():
    keras = _keras()
    ours, theirs = _seq_pair(keras)
    assert _json(lk.models.serialize(ours)) == _json(keras.saving.serialize_keras_object(theirs))
    assert _json(ours.get_config()) == _json(theirs.get_config())


def test_functional_config_matches_keras():
    keras = _keras()
    ours, theirs = _encdec_pair(keras)
    assert _json(ours.get_config()) == _json(theirs.get_config())
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]


def test_same_outputs_as_keras_with_same_weights():
    keras = _keras()
    rng = np.random.default_rng(0)
    for ours, theirs, x in [
        (*_seq_pair(keras), rng.normal(size=(4, 6, 3)).astype("float32")),
        (*_encdec_pair(keras), [rng.normal(size=(4, 5, 3)).astype("float32"),
                                rng.normal(size=(4, 7, 2)).astype("float32")]),
    ]:
        ours.set_weights(keras_weights(theirs))
        expected = keras_call(theirs, x)
        got = ours.predict(x)
        for e, g in zip(expected if isinstance(expected, list) else [expected],
                        got if isinstance(got, list) else [got]):
            np.testing.assert_allclose(g, e, atol=1e-5)
        assert [w.shape for w in ours.get_weights()] == [w.shape for w in keras_weights(theirs)]


def test_config_round_trip_and_weights():
    keras = _keras()
    ours, _ = _encdec_pair(keras)
    clone = lk.Model.from_config(ours.get_config())
    clone.set_weights(ours.get_weights())
    x = [np.ones((2, 5, 3), "float32"), np.ones((2, 4, 2), "float32")]
    for a, b in zip(clone.predict(x), ours.predict(x)):
        np.testing.assert_array_equal(a, b)
    assert _json(clone.get_config()) == _json(ours.get_config())
    seq = lk.Sequential([lk.Input((6, 3)), LSTM(4), Dense(2)])
    again = lk.Sequential.from_config(seq.get_config())
    assert _json(again.get_config()) == _json(seq.get_config())
    assert again.count_params() == seq.count_params() == 4 * (3 * 4 + 4 * 4 + 4) + 10


def test_get_layer_layers_and_layer_inputs():
    x_in = lk.Input((5, 3), name="inp")
    enc = LSTM(4, return_state=True, name="enc")
    _, h, c = enc(x_in)
    dec = LSTM(4, return_sequences=True, name="dec")(x_in, initial_state=[h, c])
    model = lk.Model(x_in, TimeDistributed(Dense(2))(dec))
    assert model.get_layer("enc") is enc
    assert model.get_layer(index=0).name == "inp"
    with pytest.raises(ValueError, match="No such layer"):
        model.get_layer("nope")
    x = np.random.default_rng(1).normal(size=(3, 5, 3)).astype("float32")
    fed = model.layer_inputs("dec", x)
    _, h_val, c_val = enc(x)
    np.testing.assert_array_equal(fed["inputs"], x)
    np.testing.assert_allclose(fed["initial_state"][0], h_val)
    np.testing.assert_allclose(fed["initial_state"][1], c_val)
    assert fed["training"] is False


def test_shared_layer_and_several_inputs():
    a, b = lk.Input((4, 2), name="a"), lk.Input((4, 2), name="b")
    shared = LSTM(3, name="shared")
    merged = lk.layers.Concatenate()([shared(a), shared(b)])
    model = lk.Model([a, b], merged)
    xa = np.random.default_rng(2).normal(size=(2, 4, 2)).astype("float32")
    xb = np.random.default_rng(3).normal(size=(2, 4, 2)).astype("float32")
    out = model.predict([xa, xb])
    np.testing.assert_allclose(out, np.concatenate([shared(xa), shared(xb)], -1), rtol=1e-6)
    assert len(model.weights) == 3


def test_bad_inputs_get_clear_errors():
    model = lk.Sequential([lk.Input((5, 3)), LSTM(2)])
    # A Sequential checks the rank, its layers the axes they need (as in Keras).
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 3"):
        model.predict(np.zeros((2, 5, 4), "float32"))
    with pytest.raises(ValueError, match="expected shape"):
        model.predict(np.zeros((2, 5), "float32"))
    with pytest.raises(ValueError, match="expects 1 input"):
        model.predict([np.zeros((2, 5, 3)), np.zeros((2, 5, 3))])
    with pytest.raises(ValueError, match="weight list of length"):
        model.set_weights([np.zeros((3, 8))])
    with pytest.raises(TypeError):
        lk.Model()


def _torch_grads(theirs, x, g):
    """Keras model output and input/weight gradients of sum(y * g) via torch autograd."""
    from _oracle import torch as _torch
    torch = _torch()
    xs = [torch.tensor(v, requires_grad=v.dtype.kind == "f") for v in
          (x if isinstance(x, list) else [x])]
    y = theirs(xs if isinstance(x, list) else xs[0], training=False)
    ys = y if isinstance(y, (list, tuple)) else [y]
    sum((t * torch.tensor(gi)).sum() for t, gi in zip(ys, g)).backward()
    return ([t.detach().numpy() for t in ys], [t.grad.numpy() for t in xs if t.requires_grad],
            [v.value.grad.numpy() for v in theirs.trainable_weights])


def _graph(lib, layers):
    ids = lib.Input((6,), dtype="int32", name="ids")
    seq = lib.Input((5, 3), name="seq")
    e = layers.Embedding(9, 4, mask_zero=True, name="emb")(ids)
    h = layers.Bidirectional(layers.LSTM(3, return_sequences=True), name="bi")(e)
    _, h1, c1 = layers.LSTM(4, return_state=True, name="enc")(seq)
    dec = layers.LSTM(4, return_sequences=True, name="dec")(
        layers.RepeatVector(3, name="rep")(h1), initial_state=[h1, c1])
    flat = layers.Flatten(name="flat")(layers.TimeDistributed(layers.Dense(2), name="td")(dec))
    pooled = layers.LSTM(2, name="pool")(h)
    merged = layers.Concatenate(name="cat")([pooled, flat, layers.Add(name="add")([h1, c1])])
    out = layers.Dense(2, activation="softmax", name="out")(
        layers.Activation("tanh", name="act")(merged))
    return lib.Model([ids, seq], [out, dec])


def test_model_gradients_match_keras_autograd():
    keras = _keras()
    rng = np.random.default_rng(5)
    ours, theirs = _graph(lk, lk.layers), _graph(keras, keras.layers)
    ours.set_weights(keras_weights(theirs))
    ids = rng.integers(1, 9, (4, 6))
    ids[0, 3:] = 0
    ids[2, 1:] = 0
    x = [ids, rng.normal(size=(4, 5, 3)).astype("float32")]
    outs, run = ours.forward(x, training=True)
    g = [rng.normal(size=o.shape).astype("float32") for o in outs]
    d_inputs, d_weights = ours.backward(run, g)
    k_outs, k_dx, k_dw = _torch_grads(theirs, x, g)
    for a, b in zip(outs, k_outs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(d_inputs[1], k_dx[0], rtol=1e-4, atol=1e-6)
    assert [w.shape for w in ours.trainable_weights] == \
        [tuple(w.shape) for w in theirs.trainable_weights]
    for a, b, var in zip(d_weights, k_dw, ours.trainable_weights):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6, err_msg=var.path)


def test_sequential_builds_from_data_and_input_shape():
    lazy = lk.Sequential([LSTM(3), Dense(1)])
    assert not lazy.built
    lazy.compile("sgd", "mse")
    lazy.fit(np.zeros((4, 5, 2), "float32"), np.zeros((4, 1)), verbose=0)
    # Keras 3.15 records the first batch's shape (batch axis included), as tested against
    # Keras in test_keras_gaps.py
    assert lazy.built and lazy.input_shape == (4, 5, 2)
    stacked = lk.Sequential(name="stack")
    stacked.add(LSTM(3, input_shape=(5, 2)))
    stacked.add(Dense(1))
    assert stacked.output_shape == (None, 1)
    assert stacked.get_config()["build_input_shape"] == [None, 5, 2]
    lstm_name = stacked.layers[0].name
    assert stacked.weights[0].path == f"stack/{lstm_name}/lstm_cell/kernel"
    with pytest.raises(ValueError, match="single output"):
        lk.Sequential([lk.Input((5, 2)), LSTM(3, return_state=True)])
    with pytest.raises(ValueError, match="unique names"):
        lk.Sequential([Dense(1, name="d"), Dense(1, name="d")])


def test_summary_lists_layers_params_and_backend(capsys):
    keras = _keras()
    ours, theirs = _encdec_pair(keras)
    ours.predict([np.zeros((1, 5, 3), "float32"), np.zeros((1, 2, 2), "float32")], verbose=0)
    ours.summary()
    text = capsys.readouterr().out
    assert 'Model: "encdec"' in text and "Connected to" in text
    assert f"Total params: {theirs.count_params():,}" in text
    for layer in theirs.layers:
        assert layer.name in text
    assert "LSTM backend (last run): encoder=" in text
    lines = []
    ours.summary(print_fn=lines.append)
    assert lines == [text.rstrip("\n")]


def test_nested_models_match_keras_and_round_trip():
    keras = _keras()

    def build(lib, layers):
        inner_seq = lib.Sequential([lib.Input((5, 3), name="seq_in"),
                                    layers.LSTM(4, return_sequences=True, name="seq_lstm"),
                                    layers.Dense(3, name="seq_dense")], name="inner_seq")
        ii = lib.Input((5, 3), name="ii")
        inner_fn = lib.Model(ii, layers.LSTM(2, name="inner_lstm")(ii), name="inner_fn")
        x = lib.Input((5, 3), name="x")
        y = layers.Dense(1, name="head")(inner_fn(inner_seq(x)))
        return lib.Model(x, y, name="outer")

    ours, theirs = build(lk, lk.layers), build(keras, keras.layers)
    ours.set_weights(keras_weights(theirs))
    assert _json(ours.get_config()) == _json(theirs.get_config())
    x = np.random.default_rng(4).normal(size=(3, 5, 3)).astype("float32")
    np.testing.assert_allclose(ours.predict(x), keras_call(theirs, x), rtol=1e-5, atol=1e-6)
    clone = lk.Model.from_config(_json(theirs.get_config()))
    clone.set_weights(ours.get_weights())
    np.testing.assert_allclose(clone.predict(x), ours.predict(x), rtol=1e-6)
    ours.compile("sgd", "mse")
    ours.fit(x, np.zeros((3, 1)), verbose=0)  # gradients flow through nested models


def test_compile_config_json_and_reset_metrics():
    import json as _j
    model = lk.Sequential([lk.Input((3, 2)), LSTM(2), Dense(1)])
    assert model.get_compile_config() is None
    model.compile("adam", "mse", metrics=["mae"])
    model.fit(np.zeros((4, 3, 2)), np.zeros((4, 1)), verbose=0)
    config = model.get_compile_config()
    other = lk.Sequential.from_config(model.get_config())
    other.compile_from_config(config)
    assert other.get_compile_config() == config
    entry = _j.loads(model.to_json())
    assert entry["class_name"] == "Sequential" and entry["compile_config"] == _json(config)
    model.reset_metrics()
    assert model.evaluate(np.zeros((4, 3, 2)), np.zeros((4, 1)), verbose=0)[0] >= 0


def test_masks_pass_through_nested_models_as_keras():
    keras = _keras()

    def build(lib, layers):
        inner = lib.Sequential([lib.Input((6,), dtype="int32", name="ids_in"),
                                layers.Embedding(8, 3, mask_zero=True, name="emb"),
                                layers.LSTM(4, return_sequences=True, name="l1")], name="inner")
        ids = lib.Input((6,), dtype="int32", name="ids")
        return lib.Model(ids, layers.LSTM(2, name="l2")(inner(ids)), name="outer")

    ours, theirs = build(lk, lk.layers), build(keras, keras.layers)
    ours.set_weights(keras_weights(theirs))
    ids = np.array([[1, 2, 3, 0, 0, 0], [4, 5, 6, 7, 1, 0]])
    from _oracle import torch as _torch
    torch = _torch()
    with torch.no_grad():
        expected = theirs(torch.tensor(ids)).numpy()
    np.testing.assert_allclose(ours.predict(ids), expected, rtol=1e-5, atol=1e-6)


def test_auto_names_follow_keras():
    from lstmkit.layers.base import to_snake_case
    keras = _keras()
    from keras.src.utils.naming import to_snake_case as keras_snake
    for name in ("LSTMCell", "Conv1D", "GlobalAveragePooling1D", "MaxPooling1D", "LSTM",
                 "TimeDistributed", "RMSprop", "AdamW", "BatchNormalization", "InputLayer"):
        assert to_snake_case(name) == keras_snake(name)
    assert keras is not None


def test_keras_loads_lstmkit_files_with_the_new_layers(tmp_path):
    """Configs and weights of every core layer are what Keras 3 expects from a .keras file."""
    import warnings
    keras = _keras()
    from _oracle import torch as _torch
    torch = _torch()
    ids = lk.Input((12,), dtype="int32", name="ids")
    h = lk.layers.Embedding(20, 4, mask_zero=True)(ids)
    h = lk.layers.Conv1D(4, 3, padding="causal", activation="relu")(h)
    h = lk.layers.MaxPooling1D(2)(h)
    h = lk.layers.LSTM(5, return_sequences=True)(h)
    h = lk.layers.BatchNormalization()(h)
    h = lk.layers.LayerNormalization()(h)
    h = lk.layers.TimeDistributed(lk.layers.Dense(3, activation="tanh"))(h)
    pooled = lk.layers.Concatenate()([lk.layers.GlobalAveragePooling1D()(h),
                                      lk.layers.Flatten()(lk.layers.AveragePooling1D(3)(h))])
    out = lk.layers.Dense(2, activation="softmax")(lk.layers.Dropout(0.2)(pooled))
    model = lk.Model(ids, out)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).integers(0, 20, (6, 12))
    model.fit(x, np.arange(6) % 2, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # Keras warns that Conv1D drops the Embedding mask
        theirs = keras.models.load_model(path)
        expected = theirs(torch.tensor(x)).numpy()
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("wrap", [False, True])
def test_training_backward_skips_the_first_layers_input_gradient(wrap):
    # A model's inputs need no gradient in training: the LSTM fed by them skips dx
    # (a sixth of a step's FLOPs), and the weight gradients are the same.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 7, 3)).astype("float32")
    lstm = lk.layers.LSTM(5, return_sequences=True, backend="kernel")
    first = lk.layers.Bidirectional(lstm) if wrap else lstm
    model = lk.Sequential([lk.Input((7, 3)), first, lk.layers.LSTM(2, backend="kernel")])
    out, run = model.forward(x, training=True)
    d = rng.normal(size=out.shape).astype("float32")
    d_in, d_w = model.backward(run, d)
    assert d_in.shape == x.shape
    skipped_in, skipped_w = model.backward(run, d, input_grads=False)
    assert skipped_in is None
    for a, b in zip(d_w, skipped_w):
        np.testing.assert_array_equal(a, b)
