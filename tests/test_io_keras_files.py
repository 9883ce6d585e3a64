"""lstmkit loads real model files made by Keras 3 and tf.keras 2 and predicts what Keras did.

The files and Keras's predictions come from `scripts/make_keras_files.py` (Keras 3.15.1 on
TensorFlow, and tf_keras 2.21 / TensorFlow 2.21); MANIFEST.json says which wrote each.
"""

from __future__ import annotations

import json
import os
import pathlib

import numpy as np
import pytest

import lstmkit as lk
from _oracle import keras as torch_keras
from _oracle import quiet
from lstmkit.saving import _compat, _saving

DATA = pathlib.Path(__file__).parent / "data" / "keras_files"
MANIFEST = json.loads((DATA / "MANIFEST.json").read_text())
UNSUPPORTED = {"lambda", "classifier_npz"}
MODEL_FILES = sorted(f for f, m in MANIFEST.items()
                     if m["format"] in ("keras", "h5") and m["model"] not in UNSUPPORTED)
CORE_MODELS = ("classifier", "stacked_embedding", "bidirectional_timedistributed",
               "encoder_decoder", "masking_backwards_dropout", "bidirectional_state_concat")


def keras_data(name):
    """(inputs for the model, list of Keras's outputs) for a model file."""
    data = np.load(DATA / MANIFEST[name]["data"])
    ys = [data[k] for k in sorted(k for k in data.files if k.startswith("y"))]
    if "x" in data.files:
        return data["x"], ys
    return {k[2:]: data[k] for k in data.files if k.startswith("x_")}, ys


def predict(model, x):
    if isinstance(x, dict):
        x = [x[name] for name in model.input_names]
    y = model.predict(x, verbose=0)
    return list(y) if isinstance(y, (list, tuple)) else [y]


def test_manifest_covers_the_issue_matrix():
    for model in CORE_MODELS:
        for flavour, fmt in (("keras3", "keras"), ("keras3", "h5"), ("tfkeras2", "keras"),
                             ("tfkeras2", "h5")):
            name = f"{flavour}_{model}.{fmt}"
            assert name in MANIFEST and (DATA / name).is_file(), name
    assert {m["library"] for m in MANIFEST.values()} == {"keras", "tf_keras"}


@pytest.mark.parametrize("name", MODEL_FILES)
def test_predictions_match_keras(name):
    model = lk.models.load_model(DATA / name)
    x, expected = keras_data(name)
    got = predict(model, x)
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", MODEL_FILES)
def test_file_kind_and_writer(name):
    loaded = _saving.read_model_file(DATA / name)
    try:
        assert loaded.kind == ("keras" if name.endswith(".keras") else "h5")
        assert loaded.keras_version == MANIFEST[name]["version"]
        assert loaded.keras2 == (MANIFEST[name]["library"] == "tf_keras")
    finally:
        loaded.close()


def test_tf_keras2_hard_sigmoid_uses_keras2_formula():
    """tf.keras 2's hard_sigmoid is clip(0.2x + 0.5): the same file read with Keras 3's
    formula gives clearly different numbers, so the match above is not an accident."""
    name = "tfkeras2_hard_sigmoid.h5"
    x, (expected,) = keras_data(name)
    model = lk.models.load_model(DATA / name)
    lstm = model.layers[0]
    assert lstm.cell.recurrent_activation is lk.activations.hard_sigmoid_keras2
    np.testing.assert_allclose(predict(model, x)[0], expected, atol=1e-5, rtol=0)
    keras3 = lk.layers.LSTM.from_config({**lstm.get_config(), "name": "k3"})
    keras3.build((None, 6, 3))
    keras3.set_weights(lstm.get_weights())
    assert keras3.cell.recurrent_activation is lk.activations.get("hard_sigmoid")
    dense = model.layers[1]
    y3 = keras3(x) @ dense.kernel.value + dense.bias.value
    assert np.abs(y3 - expected).max() > 1e-3


def test_keras3_hard_sigmoid_uses_keras3_formula():
    model = lk.models.load_model(DATA / "keras3_hard_sigmoid.keras")
    assert model.layers[0].cell.recurrent_activation is lk.activations.get("hard_sigmoid")


@pytest.mark.parametrize("name", ["tfkeras2_cudnn_gru.h5", "tfkeras2_cudnn_lstm.h5"])
def test_keras2_cudnn_layers_load_as_gru_and_lstm(name):
    """CuDNNGRU / CuDNNLSTM become GRU(reset_after=True) / LSTM, their weights converted
    from cuDNN's layout (the predictions above check the numbers)."""
    model = lk.models.load_model(DATA / name)
    layer = model.layers[0]
    assert type(layer).__name__ == ("GRU" if "gru" in name else "LSTM")
    if "gru" in name:
        assert layer.reset_after and layer.bias.shape == (2, 12)


def test_cudnn_gru_weights_do_not_fit_reset_before():
    from lstmkit.saving import _legacy_h5

    legacy = _legacy_h5.LegacyH5(DATA / "tfkeras2_cudnn_gru.h5")
    model = lk.Sequential([lk.Input((5, 3)), lk.layers.GRU(4, reset_after=False,
                                                           return_sequences=True),
                           lk.layers.Dense(2)])
    with pytest.raises(ValueError, match="reset_after=True"):
        _legacy_h5.load_by_order(legacy, model, "f.h5")


@pytest.mark.parametrize("name", ["keras3_lambda.keras", "tfkeras2_lambda.h5"])
def test_lambda_is_refused_and_never_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"'my_lambda'.*Lambda.*never runs code"):
        lk.models.load_model(DATA / name)
    assert not (tmp_path / "LSTMKIT_LAMBDA_RAN").exists()
    assert os.listdir(tmp_path) == []


def test_lambda_file_really_carries_code(tmp_path, monkeypatch):
    """Control: real Keras with safe_mode=False runs the Lambda, which leaves the marker.
    This shows the refusal above is what keeps the code from running."""
    keras = torch_keras()
    monkeypatch.chdir(tmp_path)
    with quiet():
        with pytest.raises(ValueError):
            keras.models.load_model(DATA / "keras3_lambda.keras")  # Keras's safe mode
        assert not (tmp_path / "LSTMKIT_LAMBDA_RAN").exists()
        model = keras.models.load_model(DATA / "keras3_lambda.keras", safe_mode=False)
        model.predict(np.zeros((1, 5, 3), "float32"), verbose=0)
    assert (tmp_path / "LSTMKIT_LAMBDA_RAN").exists()


def test_keras_npz_weights_are_refused_without_unpickling():
    with pytest.raises(ValueError, match="never unpickles"):
        lk.models.load_model(DATA / "keras3_classifier_npz.keras")


@pytest.mark.parametrize("weights", ["keras3_classifier.weights.h5",
                                     "keras3_encoder_decoder.weights.h5"])
def test_load_weights_from_keras3_weights_file(weights):
    stem = weights.replace(".weights.h5", "")
    model = lk.models.load_model(DATA / f"{stem}.keras")
    x, expected = keras_data(f"{stem}.keras")
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    model.load_weights(DATA / weights)
    for a, b in zip(predict(model, x), expected):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


def test_load_weights_from_legacy_h5_and_keras():
    model = lk.models.load_model(DATA / "tfkeras2_bidirectional_state_concat.keras")
    x, expected = keras_data("tfkeras2_bidirectional_state_concat.keras")
    for source in ("keras3_bidirectional_state_concat.h5", "tfkeras2_bidirectional_state_concat.h5",
                   "keras3_bidirectional_state_concat.keras"):
        model.set_weights([np.zeros_like(w) for w in model.get_weights()])
        model.load_weights(DATA / source)
        for a, b in zip(predict(model, x), expected):
            np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


def test_load_weights_into_wrong_model_says_what_differs():
    model = lk.models.load_model(DATA / "keras3_classifier.keras")
    with pytest.raises(ValueError, match="expected 3 variables|shape"):
        model.load_weights(DATA / "keras3_encoder_decoder.weights.h5")
    with pytest.raises(ValueError, match="layers with weights|expects"):
        model.load_weights(DATA / "tfkeras2_encoder_decoder.h5")


def test_keras2_config_normalized_like_keras3():
    """The tf.keras 2 config of a model, normalized, builds the same graph as Keras 3's."""
    import h5py

    with h5py.File(DATA / "tfkeras2_encoder_decoder.h5", "r") as f:
        k2 = json.loads(f.attrs["model_config"])
    out = _compat.normalize_config(k2, keras2=True)
    assert out["class_name"] == "Functional"
    decoder = next(e for e in out["config"]["layers"] if e["name"] == "decoder")
    (node,) = decoder["inbound_nodes"]
    assert [t["config"]["keras_history"] for t in node["args"]] == [["decoder_inputs", 0, 0]]
    assert [t["config"]["keras_history"] for t in node["kwargs"]["initial_state"]] == [
        ["encoder", 0, 1], ["encoder", 0, 2]]
    assert "time_major" not in decoder["config"]
    inputs = out["config"]["layers"][0]["config"]
    assert inputs["batch_shape"] == [None, 5, 3] and "batch_input_shape" not in inputs
    assert out["config"]["output_layers"] == ["head", 0, 0]


def test_keras2_time_major_true_is_refused():
    entry = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "LSTM", "config": {"name": "lstm", "units": 2, "time_major": True,
                                          "batch_input_shape": [None, 3, 2]}}]}}
    with pytest.raises(ValueError, match="time_major"):
        _compat.normalize_config(entry, keras2=True)


def test_model_from_json_reads_tf_keras2_json():
    import h5py

    with h5py.File(DATA / "tfkeras2_stacked_embedding.h5", "r") as f:
        text = f.attrs["model_config"]
    model = lk.saving.model_from_json(text)
    assert [type(layer).__name__ for layer in model.layers] == [
        "Embedding", "LSTM", "LSTM", "Dense"]
    assert model.output_shape == (None, 1)


@pytest.mark.parametrize("name", ["keras3_classifier.keras", "keras3_classifier.h5",
                                  "tfkeras2_classifier.keras", "tfkeras2_classifier.h5"])
def test_compiled_files_load_compiled(name):
    """Keras compiled these with Adam(0.002) and sparse categorical cross-entropy."""
    model = lk.models.load_model(DATA / name)
    assert type(model.optimizer).__name__ == "Adam"
    assert model.optimizer.get_config()["learning_rate"] == pytest.approx(0.002)
    x, (probs,) = keras_data(name)
    y = np.argmax(probs, axis=-1)
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=3, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    loss = lambda r: r[0] if isinstance(r, (list, tuple)) else r
    assert loss(after) < loss(before)
    assert getattr(lk.models.load_model(DATA / name, compile=False), "_compile_state",
                   None) is None


def test_keras_2_13_layer_checkpoint_dependencies_layout(tmp_path):
    """Keras 2.13 `.keras` files keep layers under `_layer_checkpoint_dependencies/`
    (Keras 3's `H5IOStore.get` falls back to it); made here from tf.keras 2.21's file."""
    import io
    import zipfile

    import h5py

    src = DATA / "tfkeras2_bidirectional_state_concat.keras"
    with zipfile.ZipFile(src) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    buf = io.BytesIO(members["model.weights.h5"])
    with h5py.File(buf, "r+") as f:
        f.move("layers", "_layer_checkpoint_dependencies")
    members["model.weights.h5"] = buf.getvalue()
    path = tmp_path / "k213.keras"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    x, expected = keras_data(src.name)
    for a, b in zip(predict(lk.models.load_model(path), x), expected):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


def test_tf_keras2_bidirectional_keeps_keras2_hard_sigmoid():
    model = lk.models.load_model(DATA / "tfkeras2_bidirectional_hard_sigmoid.h5")
    bi = model.layers[0]
    for half in (bi.forward_layer, bi.backward_layer):
        assert half.cell.recurrent_activation is lk.activations.hard_sigmoid_keras2
    x, (expected,) = keras_data("tfkeras2_bidirectional_hard_sigmoid.h5")
    np.testing.assert_allclose(predict(model, x)[0], expected, atol=1e-5, rtol=0)
