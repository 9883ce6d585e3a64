"""lstmkit writes `.keras`, `.h5` and `.weights.h5` files that real Keras 3 loads and
predicts the same from; lstmkit reads back its own files exactly."""

from __future__ import annotations

import contextlib
import json
import os
import warnings
import zipfile

import numpy as np
import pytest

import lstmkit as lk
from _oracle import keras as torch_keras
from _oracle import quiet
from test_io_keras_files import CORE_MODELS, DATA, keras_data, predict


@contextlib.contextmanager
def unbuilt_optimizer_ok():
    """A compiled but never trained model saves 2 optimizer variables (iterations, learning
    rate), as Keras itself does; Keras warns when it loads such a file, for its own too."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        yield


def keras_predict(model, x):
    if isinstance(x, dict):
        x = [x[t.name] for t in model.inputs]
    with quiet():
        y = model.predict(x, verbose=0)
    return [np.asarray(v) for v in (y if isinstance(y, list) else [y])]


def assert_close(got, expected, atol=1e-5):
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        assert np.shape(a) == np.shape(b)
        np.testing.assert_allclose(a, b, atol=atol, rtol=0)


SOURCES = [f"keras3_{m}.keras" for m in CORE_MODELS] + [
    "tfkeras2_encoder_decoder.h5", "tfkeras2_stacked_embedding.h5", "keras3_repeat_vector.keras",
    "tfkeras2_normalization.h5"]


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("ext", [".keras", ".h5"])
def test_lstmkit_reads_back_its_own_files(source, ext, tmp_path):
    model = lk.models.load_model(DATA / source)
    x, _ = keras_data(source)
    path = tmp_path / f"model{ext}"
    model.save(path)
    assert os.listdir(tmp_path) == [path.name]  # nothing else written
    again = lk.models.load_model(path)
    assert [type(layer).__name__ for layer in again.layers] == [
        type(layer).__name__ for layer in model.layers]
    for a, b in zip(predict(again, x), predict(model, x)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("source", SOURCES)
def test_keras3_loads_lstmkit_keras_file(source, tmp_path):
    keras = torch_keras()
    model = lk.models.load_model(DATA / source)
    x, expected = keras_data(source)
    path = tmp_path / "model.keras"
    lk.models.save_model(model, path)
    with quiet(), unbuilt_optimizer_ok():
        reloaded = keras.models.load_model(path)
    assert_close(keras_predict(reloaded, x), expected)


@pytest.mark.parametrize("source", ["keras3_encoder_decoder.keras",
                                    "keras3_bidirectional_state_concat.keras",
                                    "tfkeras2_masking_backwards_dropout.h5"])
def test_keras3_loads_lstmkit_h5_and_weights_files(source, tmp_path):
    keras = torch_keras()
    model = lk.models.load_model(DATA / source)
    x, expected = keras_data(source)
    model.save(tmp_path / "model.h5")
    with quiet():
        reloaded = keras.models.load_model(tmp_path / "model.h5")
    assert_close(keras_predict(reloaded, x), expected)
    # Weights only: Keras's own model from the same config, then our .weights.h5.
    model.save_weights(tmp_path / "model.weights.h5")
    with quiet():
        fresh = keras.models.model_from_json(model.to_json())
        fresh.load_weights(tmp_path / "model.weights.h5")
    assert_close(keras_predict(fresh, x), expected)


def test_models_built_in_lstmkit_predict_the_same_in_keras(tmp_path):
    keras = torch_keras()
    L = lk.layers
    rng = np.random.default_rng(0)
    enc = lk.Input((6, 3), name="enc")
    dec = lk.Input((4, 2), name="dec")
    seq, h, c = L.LSTM(5, return_sequences=True, return_state=True, go_backwards=True)(enc)
    y = L.LSTM(5, return_sequences=True)(dec, initial_state=[h, c])
    y = L.TimeDistributed(L.Dense(3, activation="tanh"))(y)
    pooled = L.Bidirectional(L.LSTM(2), merge_mode="sum")(seq)
    functional = lk.Model([enc, dec], [y, L.Activation("relu")(pooled)])
    sequential = lk.Sequential([
        lk.Input((7,), dtype="int32"), L.Embedding(9, 4, mask_zero=True),
        L.LSTM(3, return_sequences=True, unit_forget_bias=False), L.Dropout(0.2),
        L.LSTM(2, recurrent_activation="hard_sigmoid"), L.RepeatVector(2), L.Flatten(),
        L.Dense(1)])
    cases = [
        (functional, [rng.normal(size=(3, 6, 3)).astype("float32"),
                      rng.normal(size=(3, 4, 2)).astype("float32")]),
        (sequential, rng.integers(0, 9, size=(4, 7)).astype("int32")),
    ]
    for i, (model, x) in enumerate(cases):
        model.set_weights([rng.normal(scale=0.5, size=w.shape).astype(w.dtype)
                           for w in model.get_weights()])
        ours = predict(model, x)
        path = tmp_path / f"m{i}.keras"
        model.save(path)
        with quiet():
            theirs = keras_predict(keras.models.load_model(path), x)
        assert_close(theirs, ours)


def test_written_keras_file_layout(tmp_path):
    model = lk.models.load_model(DATA / "keras3_bidirectional_timedistributed.keras")
    path = tmp_path / "m.keras"
    model.save(path)
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["metadata.json", "config.json", "model.weights.h5"]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())
        meta = json.loads(zf.read("metadata.json"))
        config = json.loads(zf.read("config.json"))
    assert meta["keras_version"] == "3.15.1" and meta["saved_by"].startswith("lstmkit")
    assert config["class_name"] == "Sequential" and config["module"] == "keras"
    from lstmkit.saving._weights import H5Store

    with zipfile.ZipFile(path) as zf:
        store = H5Store(zf.read("model.weights.h5"), "m")
    try:
        for inner, n in (("layers/bidirectional/forward_layer/cell", 3),
                         ("layers/bidirectional/backward_layer/cell", 3),
                         ("layers/time_distributed/layer", 2)):
            assert len(store.get(inner)) == n
    finally:
        store.close()


def test_to_json_round_trip():
    model = lk.models.load_model(DATA / "keras3_encoder_decoder.keras")
    text = model.to_json()
    again = lk.models.model_from_json(text)
    assert json.loads(again.to_json())["config"]["layers"] == json.loads(text)["config"]["layers"]


def test_save_errors(tmp_path):
    model = lk.models.load_model(DATA / "keras3_classifier.keras")
    path = tmp_path / "m.keras"
    model.save(path)
    with pytest.raises(FileExistsError):
        model.save(path, overwrite=False)
    with pytest.raises(ValueError, match="extension"):
        model.save(tmp_path / "m.pkl")
    with pytest.raises(ValueError, match=r"\.weights\.h5"):
        model.save_weights(tmp_path / "m.h5")
    assert sorted(os.listdir(tmp_path)) == ["m.keras"]


def test_keras2_hard_sigmoid_model_cannot_be_saved_as_keras3(tmp_path):
    model = lk.models.load_model(DATA / "tfkeras2_hard_sigmoid.h5")
    with pytest.raises(ValueError, match="Keras 2's hard_sigmoid"):
        model.save(tmp_path / "m.keras")
    assert os.listdir(tmp_path) == []


def test_trained_model_saves_optimizer_state_keras_loads(tmp_path):
    """After fit, the optimizer's variables (iterations, learning rate, Adam's slots) are
    written in Keras's order: Keras loads them without a mismatch and continues from them."""
    keras = torch_keras()
    model = lk.models.load_model(DATA / "keras3_classifier.keras")
    x, (probs,) = keras_data("keras3_classifier.keras")
    y = np.argmax(probs, axis=-1)
    model.fit(x, y, epochs=2, verbose=0)
    model.save(tmp_path / "trained.keras")
    with quiet():
        reloaded = keras.models.load_model(tmp_path / "trained.keras")  # no mismatch warning
        theirs = [keras.ops.convert_to_numpy(v) for v in reloaded.optimizer.variables]
    ours = [np.asarray(v.value) for v in model.optimizer.variables]  # Keras's order
    assert len(theirs) == len(ours) == 2 + 2 * len(model.trainable_weights)
    assert int(theirs[0]) == model.optimizer.iterations == 2
    for a, b in zip(theirs, ours):
        np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64),
                                   rtol=1e-6, atol=1e-7)
    assert_close(keras_predict(reloaded, x), predict(model, x))


def test_training_resumes_from_a_keras_file_with_its_optimizer_state(tmp_path):
    """Keras trains and saves; lstmkit loads (Adam's moments and iterations included) and
    trains on: the weights follow Keras's own continued training."""
    keras = torch_keras()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 6, 3)).astype("float32")
    y = rng.normal(size=(16, 2)).astype("float32")
    keras.utils.set_random_seed(0)
    with quiet():
        theirs = keras.Sequential([keras.Input((6, 3)), keras.layers.LSTM(4),
                                   keras.layers.Dense(2)])
        theirs.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
        theirs.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
        theirs.save(tmp_path / "trained.keras")
    ours = lk.models.load_model(tmp_path / "trained.keras")
    assert ours.optimizer.iterations == 6
    fresh = lk.models.load_model(tmp_path / "trained.keras", compile=False)
    fresh.compile(optimizer=lk.optimizers.Adam(learning_rate=0.01), loss="mse")
    with quiet():
        theirs.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
        expected = [keras.ops.convert_to_numpy(w) for w in theirs.weights]
    for model in (ours, fresh):
        model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    assert_close(ours.get_weights(), expected, atol=1e-5)
    assert max(np.abs(a - b).max() for a, b in zip(fresh.get_weights(), expected)) > 1e-3
