"""compile / fit / evaluate against Keras 3 (torch backend): histories, weights, return forms.

Each parity case builds the same model in Keras and lstmkit with the same
initial weights, trains with shuffle=False, and compares `History.history`
(keys and values) and the final weights within 1e-4.
"""

import warnings

import numpy as np
import pytest

import lstmkit as lk
from _oracle import keras as _keras
from _oracle import keras_weights

RNG = np.random.default_rng(0)


def _quiet():
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.simplefilter("ignore")  # Keras + NumPy 2 deprecation noise
    return ctx


def _compare(ours, theirs, fit_kwargs, compile_kwargs, x, y, rtol=1e-4):
    ours.set_weights(keras_weights(theirs))
    ctx = _quiet()
    try:
        theirs.compile(**{k: (v(_keras()) if callable(v) else v)
                          for k, v in compile_kwargs.items()})
        h_theirs = theirs.fit(x, y, shuffle=False, verbose=0, **fit_kwargs).history
    finally:
        ctx.__exit__(None, None, None)
    ours.compile(**{k: (v(lk) if callable(v) else v) for k, v in compile_kwargs.items()})
    h_ours = ours.fit(x, y, shuffle=False, verbose=0, **fit_kwargs).history
    assert list(h_ours) == list(h_theirs)
    for key in h_theirs:
        np.testing.assert_allclose(h_ours[key], h_theirs[key], rtol=rtol, atol=1e-6,
                                   err_msg=key)
    for a, b in zip(ours.get_weights(), keras_weights(theirs)):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-5)
    return h_ours


def _seq_classifier(lib, layers, masked=False):
    if masked:
        x = lib.Input((6,), dtype="int32")
        h = layers.Embedding(7, 4, mask_zero=True)(x)
    else:
        x = lib.Input((6, 3))
        h = x
    h = layers.LSTM(5, return_sequences=True, dropout=0.0)(h)
    h = layers.LSTM(4)(h)
    out = layers.Dense(3, activation="softmax")(h)
    return lib.Model(x, out)


def test_classifier_history_and_weights_match_keras():
    keras = _keras()
    x = RNG.normal(size=(40, 6, 3)).astype("float32")
    y = RNG.integers(0, 3, 40)
    h = _compare(_seq_classifier(lk, lk.layers), _seq_classifier(keras, keras.layers),
                 {"batch_size": 16, "epochs": 2, "validation_split": 0.25,
                      "class_weight": {0: 1.0, 1: 2.0, 2: 0.5}},
                 {"optimizer": lambda lib: lib.optimizers.Adam(0.01),
                      "loss": "sparse_categorical_crossentropy",
                      "metrics": ["accuracy", "sparse_categorical_accuracy"]}, x, y)
    assert list(h) == ["accuracy", "loss", "sparse_categorical_accuracy", "val_accuracy",
                       "val_loss", "val_sparse_categorical_accuracy"]


def test_masked_sequences_match_keras():
    keras = _keras()
    ids = RNG.integers(1, 7, (32, 6))
    for row, n in zip(ids, RNG.integers(2, 7, 32)):
        row[n:] = 0  # right padding
    y = np.eye(3, dtype="float32")[RNG.integers(0, 3, 32)]
    _compare(_seq_classifier(lk, lk.layers, True), _seq_classifier(keras, keras.layers, True),
             {"batch_size": 8, "epochs": 2, "sample_weight": RNG.uniform(0.5, 1.5, 32)},
             {"optimizer": lambda lib: lib.optimizers.RMSprop(0.01),
                  "loss": "categorical_crossentropy", "metrics": ["acc"],
                  "weighted_metrics": ["categorical_accuracy"]}, ids, y)


def test_masked_sequence_labeling_matches_keras():
    """Per-step outputs under an Embedding mask: the loss and metrics skip padded steps."""
    keras = _keras()

    def build(lib, layers):
        x = lib.Input((6,), dtype="int32")
        h = layers.Embedding(7, 4, mask_zero=True)(x)
        h = layers.LSTM(5, return_sequences=True)(h)
        return lib.Model(x, layers.TimeDistributed(layers.Dense(3, activation="softmax"))(h))

    ids = RNG.integers(1, 7, (24, 6))
    for row, n in zip(ids, RNG.integers(1, 7, 24)):
        row[n:] = 0
    y = RNG.integers(0, 3, (24, 6))
    _compare(build(lk, lk.layers), build(keras, keras.layers),
             {"batch_size": 8, "epochs": 2, "validation_split": 0.25},
             {"optimizer": "adam", "loss": "sparse_categorical_crossentropy",
              "metrics": ["accuracy"]}, ids, y)


def test_pooled_normalized_text_model_matches_keras():
    """Embedding(mask_zero) -> LSTM sequences -> LayerNormalization -> masked average pool."""
    keras = _keras()

    def build(lib, layers):
        x = lib.Input((6,), dtype="int32")
        h = layers.Embedding(9, 4, mask_zero=True)(x)
        h = layers.LSTM(5, return_sequences=True)(h)
        h = layers.LayerNormalization()(h)
        a = layers.GlobalAveragePooling1D()(h)
        m = layers.GlobalMaxPooling1D()(layers.Multiply()([h, h]))
        out = layers.Dense(1, activation="sigmoid")(layers.Concatenate()([a, m]))
        return lib.Model(x, out)

    ids = RNG.integers(1, 9, (24, 6))
    for row, n in zip(ids, RNG.integers(1, 7, 24)):
        row[n:] = 0
    y = RNG.integers(0, 2, (24, 1)).astype("float32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns that GlobalMaxPooling1D drops the mask
        theirs = build(keras, keras.layers)
    _compare(build(lk, lk.layers), theirs, {"batch_size": 8, "epochs": 2},
             {"optimizer": "adam", "loss": "binary_crossentropy", "metrics": ["accuracy"]},
             ids, y)


def test_batch_normalization_in_fit_matches_keras():
    """Moving statistics update in training and serve validation, as in Keras."""
    keras = _keras()

    def build(lib, layers):
        return lib.Sequential([lib.Input((5, 3)), layers.LSTM(4, return_sequences=True),
                               layers.BatchNormalization(momentum=0.8), layers.LSTM(3),
                               layers.Dense(1)])

    x = RNG.normal(size=(24, 5, 3)).astype("float32")
    y = RNG.normal(size=(24, 1)).astype("float32")
    _compare(build(lk, lk.layers), build(keras, keras.layers),
             {"batch_size": 8, "epochs": 2, "validation_split": 0.25},
             {"optimizer": "sgd", "loss": "mse"}, x, y)


def test_cnn_lstm_matches_keras():
    keras = _keras()

    def build(lib, layers):
        return lib.Sequential([lib.Input((12, 2)),
                               layers.Conv1D(4, 3, padding="causal", activation="relu"),
                               layers.MaxPooling1D(2), layers.LSTM(3), layers.Dense(1)])

    x = RNG.normal(size=(16, 12, 2)).astype("float32")
    y = RNG.normal(size=(16, 1)).astype("float32")
    _compare(build(lk, lk.layers), build(keras, keras.layers), {"batch_size": 8, "epochs": 2},
             {"optimizer": "adam", "loss": "mse"}, x, y)


def _encoder_decoder(lib, layers):
    enc_in = lib.Input((5, 3), name="enc_in")
    dec_in = lib.Input((4, 2), name="dec_in")
    _, h, c = layers.LSTM(6, return_state=True, name="encoder")(enc_in)
    seq = layers.LSTM(6, return_sequences=True, name="decoder")(dec_in, initial_state=[h, c])
    out = layers.TimeDistributed(layers.Dense(2), name="proj")(seq)
    aux = layers.Dense(1, activation="sigmoid", name="aux")(
        layers.Concatenate()([h, layers.Add()([h, c])]))
    return lib.Model([enc_in, dec_in], [out, aux])


def test_encoder_decoder_two_outputs_match_keras():
    keras = _keras()
    x = [RNG.normal(size=(24, 5, 3)).astype("float32"),
         RNG.normal(size=(24, 4, 2)).astype("float32")]
    y = [RNG.normal(size=(24, 4, 2)).astype("float32"),
         RNG.integers(0, 2, (24, 1)).astype("float32")]
    h = _compare(_encoder_decoder(lk, lk.layers), _encoder_decoder(keras, keras.layers),
                 {"batch_size": 8, "epochs": 2, "validation_data": (x, y)},
                 {"optimizer": lambda lib: lib.optimizers.SGD(0.1, momentum=0.9),
                      "loss": ["mse", "binary_crossentropy"], "loss_weights": [1.0, 0.5],
                      "metrics": [["mae"], ["accuracy"]]}, x, y)
    assert "proj_loss" in h and "aux_accuracy" in h and "val_proj_mae" in h


def test_dict_losses_and_metrics_match_keras():
    keras = _keras()
    x = [RNG.normal(size=(16, 5, 3)).astype("float32"),
         RNG.normal(size=(16, 4, 2)).astype("float32")]
    y = [RNG.normal(size=(16, 4, 2)).astype("float32"),
         RNG.integers(0, 2, (16, 1)).astype("float32")]
    _compare(_encoder_decoder(lk, lk.layers), _encoder_decoder(keras, keras.layers),
             {"batch_size": 8, "epochs": 1},
             {"optimizer": "adam", "loss": {"proj": "mae", "aux": "binary_crossentropy"},
                  "loss_weights": {"proj": 2.0, "aux": 1.0},
                  "metrics": {"aux": "accuracy", "proj": ["mse"]}}, x, y)


def test_frozen_layers_match_keras():
    keras = _keras()

    def build(lib, layers):
        m = lib.Sequential([lib.Input((5, 3)), layers.LSTM(4, return_sequences=True),
                            layers.LSTM(3), layers.Dense(2)])
        m.layers[0].trainable = False
        m.layers[2].trainable = False
        return m

    x = RNG.normal(size=(16, 5, 3)).astype("float32")
    y = RNG.normal(size=(16, 2)).astype("float32")
    ours, theirs = build(lk, lk.layers), build(keras, keras.layers)
    frozen = keras_weights(theirs)[:3]  # the first LSTM's weights before training
    _compare(ours, theirs, {"batch_size": 8, "epochs": 2},
             {"optimizer": "adam", "loss": "mse"}, x, y)
    for a, b in zip(frozen, ours.layers[0].get_weights()):
        np.testing.assert_array_equal(a, b)


def test_repeated_and_weighted_metric_names_match_keras():
    keras = _keras()
    x = RNG.normal(size=(16, 6, 3)).astype("float32")
    y = RNG.integers(0, 3, 16)
    _compare(_seq_classifier(lk, lk.layers), _seq_classifier(keras, keras.layers),
             {"batch_size": 8, "epochs": 1, "sample_weight": RNG.uniform(0.5, 2.0, 16)},
             {"optimizer": "sgd", "loss": "sparse_categorical_crossentropy",
              "metrics": ["accuracy", "sparse_categorical_accuracy"],
              "weighted_metrics": ["accuracy", "accuracy"]}, x, y)


def test_per_output_sample_weights_match_keras():
    keras = _keras()
    x = [RNG.normal(size=(16, 5, 3)).astype("float32"),
         RNG.normal(size=(16, 4, 2)).astype("float32")]
    y = [RNG.normal(size=(16, 4, 2)).astype("float32"),
         RNG.integers(0, 2, (16, 1)).astype("float32")]
    sw = [RNG.uniform(0.5, 2, (16, 4)).astype("float32"),
          RNG.uniform(0.5, 2, 16).astype("float32")]
    _compare(_encoder_decoder(lk, lk.layers), _encoder_decoder(keras, keras.layers),
             {"batch_size": 8, "epochs": 1, "sample_weight": sw},
             {"optimizer": "adam", "loss": ["mse", "binary_crossentropy"],
              "weighted_metrics": [["mae"], ["accuracy"]]}, x, y)


def test_bidirectional_matches_keras():
    keras = _keras()

    def build(lib, layers):
        x = lib.Input((3, 2))
        h = layers.LSTM(3, return_sequences=True)(x)
        h = layers.Bidirectional(layers.LSTM(2), merge_mode="ave")(h)
        return lib.Model(x, layers.Dense(1)(h))

    x = RNG.normal(size=(16, 3, 2)).astype("float32")
    y = RNG.normal(size=(16, 1)).astype("float32")
    _compare(build(lk, lk.layers), build(keras, keras.layers), {"batch_size": 4, "epochs": 2},
             {"optimizer": "adam", "loss": "huber"}, x, y)


def test_bidirectional_states_into_bidirectional_match_keras():
    keras = _keras()

    def build(lib, layers):
        a, b = lib.Input((4, 3), name="a"), lib.Input((5, 2), name="b")
        _, *states = layers.Bidirectional(layers.LSTM(3, return_state=True), name="enc")(a)
        seq = layers.Bidirectional(layers.LSTM(3, return_sequences=True), merge_mode="sum",
                                   name="dec")(b, initial_state=states)
        return lib.Model([a, b], layers.TimeDistributed(layers.Dense(1))(seq))

    x = [RNG.normal(size=(12, 4, 3)).astype("float32"),
         RNG.normal(size=(12, 5, 2)).astype("float32")]
    y = RNG.normal(size=(12, 5, 1)).astype("float32")
    _compare(build(lk, lk.layers), build(keras, keras.layers), {"batch_size": 4, "epochs": 2},
             {"optimizer": "rmsprop", "loss": "mse"}, x, y)


def test_stateful_lstm_keeps_states_across_batches():
    """(Keras 3.15's torch backend cannot train stateful RNNs, so the oracle is the layer
    itself: each batch starts from the previous batch's final states.)"""
    lk.utils.set_random_seed(0)
    lstm = lk.layers.LSTM(3, stateful=True)
    model = lk.Sequential([lk.Input(batch_shape=(2, 4, 2)), lstm, lk.layers.Dense(1)])
    model.compile("sgd", "mse")
    free = lk.layers.LSTM(3, return_state=True)
    x = RNG.normal(size=(3, 2, 4, 2)).astype("float32")
    states = None
    free.build(x[0].shape)
    for batch in x:
        free.set_weights(lstm.get_weights())
        _, h, c = free(batch, initial_state=states)
        model.train_on_batch(batch, np.zeros((2, 1), "float32"))
        np.testing.assert_allclose(lstm.states[0], h, rtol=1e-5)
        np.testing.assert_allclose(lstm.states[1], c, rtol=1e-5)
        states = [h, c]
    lstm.reset_state()
    assert not np.any(lstm.states[0])


def test_evaluate_and_batch_methods_match_keras():
    keras = _keras()
    x = RNG.normal(size=(20, 6, 3)).astype("float32")
    y = RNG.integers(0, 2, (20, 1)).astype("float32")

    def build(lib, layers):
        return lib.Sequential([lib.Input((6, 3)), layers.LSTM(4),
                               layers.Dense(1, activation="sigmoid")])

    ours, theirs = build(lk, lk.layers), build(keras, keras.layers)
    ours.set_weights(keras_weights(theirs))
    metrics = ["accuracy", "mae", "mse", "binary_accuracy"]
    ours.compile("sgd", "binary_crossentropy", metrics=metrics)
    ctx = _quiet()
    try:
        theirs.compile("sgd", "binary_crossentropy", metrics=metrics)
        expected = [theirs.evaluate(x, y, verbose=0, batch_size=8),
                    theirs.evaluate(x, y, verbose=0, return_dict=True),
                    theirs.train_on_batch(x[:8], y[:8]), theirs.train_on_batch(x[8:], y[8:]),
                    theirs.test_on_batch(x, y, return_dict=True)]
    finally:
        ctx.__exit__(None, None, None)
    got = [ours.evaluate(x, y, verbose=0, batch_size=8),
           ours.evaluate(x, y, verbose=0, return_dict=True),
           ours.train_on_batch(x[:8], y[:8]), ours.train_on_batch(x[8:], y[8:]),
           ours.test_on_batch(x, y, return_dict=True)]
    for e, g in zip(expected, got):
        if isinstance(e, dict):
            assert list(g) == list(e)
            e, g = list(e.values()), list(g.values())
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ours.predict_on_batch(x), ours.predict(x, batch_size=7),
                               rtol=1e-6)


def test_end_to_end_sine_forecast_learns():
    """A small LSTM learns a one-step sine forecast: val MSE < 0.005 in a few seconds."""
    lk.utils.set_random_seed(1)
    t = np.arange(1400, dtype="float32") * 0.1
    series = np.sin(t) + 0.5 * np.sin(0.37 * t)
    x = np.stack([series[i:i + 20] for i in range(1300)])[..., None]
    y = series[20:1320, None]
    model = lk.Sequential([lk.Input((20, 1)), lk.layers.LSTM(16), lk.layers.Dense(1)])
    model.compile(optimizer=lk.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    history = model.fit(x, y, batch_size=32, epochs=6, validation_split=0.2, verbose=0)
    assert history.history["val_loss"][-1] < 0.005
    assert history.history["val_loss"][-1] < history.history["val_loss"][0] / 5


def test_sequence_classification_learns():
    """Is the sum of a sequence positive? accuracy > 0.9 after a few epochs."""
    lk.utils.set_random_seed(2)
    x = np.random.default_rng(2).normal(size=(600, 8, 1)).astype("float32")
    y = (x.sum(axis=(1, 2)) > 0).astype("int64")
    model = lk.Sequential([lk.Input((8, 1)), lk.layers.LSTM(8),
                           lk.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=lk.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=8, verbose=0)
    assert history.history["accuracy"][-1] > 0.9


def test_seed_makes_runs_repeat_exactly():
    def run():
        lk.utils.set_random_seed(7)
        model = lk.Sequential([lk.Input((5, 2)), lk.layers.LSTM(4, dropout=0.3,
                                                                 recurrent_dropout=0.2),
                               lk.layers.Dropout(0.5), lk.layers.Dense(1)])
        model.compile("adam", "mse")
        x = np.random.default_rng(0).normal(size=(30, 5, 2)).astype("float32")
        y = np.random.default_rng(1).normal(size=(30, 1)).astype("float32")
        hist = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
        return model.get_weights(), hist.history["loss"], model.predict(x)

    (w1, l1, p1), (w2, l2, p2) = run(), run()
    assert l1 == l2
    for a, b in zip(w1 + [p1], w2 + [p2]):
        np.testing.assert_array_equal(a, b)


def test_dropout_is_off_in_predict_and_evaluate():
    lk.utils.set_random_seed(0)
    model = lk.Sequential([lk.Input((4, 2)), lk.layers.LSTM(3, dropout=0.5),
                           lk.layers.Dropout(0.5), lk.layers.Dense(1)])
    model.compile("sgd", "mse")
    x = np.ones((6, 4, 2), "float32")
    np.testing.assert_array_equal(model.predict(x), model.predict(x))
    assert model.evaluate(x, np.zeros((6, 1)), verbose=0) == \
        model.evaluate(x, np.zeros((6, 1)), verbose=0)
    out, _ = model.forward(x, training=True)
    assert not np.allclose(out, model.predict(x))


def test_bad_input_gets_clear_errors():
    model = lk.Sequential([lk.Input((4, 2)), lk.layers.LSTM(3), lk.layers.Dense(2)])
    x = np.zeros((10, 4, 2), "float32")
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(x, np.zeros((10, 2)))
    with pytest.raises(ValueError, match="loss identifier"):
        model.compile("adam", "mean_sqared_error")
    with pytest.raises(ValueError, match="optimizer identifier"):
        model.compile("adamm", "mse")
    with pytest.raises(ValueError, match="metric identifier"):
        model.compile("adam", "mse", metrics=["accuracyy"])
    model.compile("adam")  # allowed, as in Keras; training needs a loss
    with pytest.raises(ValueError, match="No loss to compute"):
        model.fit(x, np.zeros((10, 2)), verbose=0)
    model.compile("adam", "mse")
    with pytest.raises(ValueError, match="cardinality"):
        model.fit(x, np.zeros((9, 2)), verbose=0)
    with pytest.raises(ValueError, match="do not match"):
        model.fit(x, np.zeros((10, 3)), verbose=0)
    # A Sequential checks the rank, its LSTM the features (as in Keras).
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 2"):
        model.fit(np.zeros((10, 4, 3)), np.zeros((10, 2)), verbose=0)
    with pytest.raises(ValueError, match="expected shape"):
        model.fit(np.zeros((10, 4)), np.zeros((10, 2)), verbose=0)
    with pytest.raises(ValueError, match="cardinality"):
        model.fit(x, np.zeros((10, 2)), sample_weight=np.ones(4), verbose=0)
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(x, np.zeros((10, 2)), validation_split=1.5, verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        model.fit(x, np.zeros((10, 2)), batch_size=0, verbose=0)
    model.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="integer targets"):
        model.fit(x, np.zeros((10, 3)), verbose=0)


def test_dict_inputs_and_steps_per_epoch():
    a, b = lk.Input((3, 2), name="a"), lk.Input((3, 2), name="b")
    out = lk.layers.Dense(1, name="out")(lk.layers.LSTM(2)(lk.layers.Add()([a, b])))
    model = lk.Model([a, b], out)
    model.compile("sgd", "mse")
    x = {"a": np.ones((10, 3, 2), "float32"), "b": np.zeros((10, 3, 2), "float32")}
    seen = []
    model.fit(x, {"out": np.zeros((10, 1))}, batch_size=2, steps_per_epoch=3, verbose=0,
              callbacks=[lk.callbacks.LambdaCallback(
                  on_train_batch_end=lambda batch, logs: seen.append(batch))])
    assert seen == [0, 1, 2]
    np.testing.assert_allclose(model.predict(x), model.predict([x["a"], x["b"]]))
    with pytest.raises(ValueError, match="Missing inputs"):
        model.fit({"a": x["a"]}, np.zeros((10, 1)), verbose=0)


def test_compile_from_keras_compile_config():
    keras = _keras()
    from lstmkit.training.trainer import compile_from_config
    theirs = keras.Sequential([keras.Input((3, 2)), keras.layers.LSTM(2),
                               keras.layers.Dense(1, activation="sigmoid")])
    theirs.compile(keras.optimizers.Adam(0.005, amsgrad=True), "binary_crossentropy",
                   metrics=["accuracy", "mae"])
    ctx = _quiet()
    try:
        config = keras.saving.serialize_keras_object(theirs)["compile_config"]
    finally:
        ctx.__exit__(None, None, None)
    ours = lk.Sequential([lk.Input((3, 2)), lk.layers.LSTM(2),
                          lk.layers.Dense(1, activation="sigmoid")])
    assert compile_from_config(ours, config)
    assert isinstance(ours.optimizer, lk.optimizers.Adam) and ours.optimizer.amsgrad
    assert float(ours.optimizer.learning_rate) == pytest.approx(0.005)
    history = ours.fit(np.zeros((4, 3, 2)), np.ones((4, 1)), verbose=0)
    assert list(history.history) == ["accuracy", "loss", "mae"]
    assert not compile_from_config(ours, {})
    saved = lk.models.serialize(ours)["compile_config"]
    assert saved["loss"] == "binary_crossentropy" and saved["metrics"] == ["accuracy", "mae"]
    assert saved["optimizer"]["class_name"] == "Adam"


def test_fit_evaluate_predict_on_a_batch_sequence(tmp_path):
    """A PyDataset-like sequence (lk.data.ArraySequence over .npy files) trains like arrays."""
    x = RNG.normal(size=(20, 4, 2)).astype("float32")
    y = RNG.normal(size=(20, 1)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    seq = lk.data.ArraySequence(str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), batch_size=8)

    def model():
        lk.utils.set_random_seed(5)
        m = lk.Sequential([lk.Input((4, 2)), lk.layers.LSTM(3), lk.layers.Dense(1)])
        m.compile("sgd", "mse", metrics=["mae"])
        return m

    from_seq, from_arrays = model(), model()
    h_seq = from_seq.fit(seq, epochs=2, verbose=0, validation_data=seq)
    h_arr = from_arrays.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0,
                            validation_data=(x, y))
    assert h_seq.history == h_arr.history
    assert from_seq.evaluate(seq, verbose=0) == from_arrays.evaluate(x, y, batch_size=8,
                                                                      verbose=0)
    np.testing.assert_array_equal(from_seq.predict(seq), from_arrays.predict(x))
    with pytest.raises(ValueError, match="y=None"):
        from_seq.fit(seq, y, verbose=0)


def test_loss_and_metric_objects_and_functions_match_keras():
    keras = _keras()
    x = RNG.normal(size=(16, 5, 3)).astype("float32")
    y = RNG.normal(size=(16, 1)).astype("float32")

    def build(lib, layers):
        return lib.Sequential([lib.Input((5, 3)), layers.LSTM(3), layers.Dense(1)])

    _compare(build(lk, lk.layers), build(keras, keras.layers), {"batch_size": 8, "epochs": 1},
             {"optimizer": lambda lib: lib.optimizers.Adam(0.01),
              "loss": lambda lib: lib.losses.Huber(delta=0.5),
              "metrics": lambda lib: [lib.metrics.MeanAbsoluteError(),
                                      lib.metrics.mean_squared_error]}, x, y)
    model = build(lk, lk.layers)
    model.compile("sgd", lk.losses.mean_squared_error)
    assert isinstance(model._compile_state.losses[0], lk.losses.MeanSquaredError)
