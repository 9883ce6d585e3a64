"""`.keras` files of custom layers and subclassed models: only registered classes, and a file
naming an unregistered class never imports a module."""

import io
import json
import sys
import zipfile

import numpy as np
import pytest

import _oracle
import lstmkit as lk
from lstmkit import ops


@lk.saving.register_keras_serializable(package="Tests")
class Scale(lk.layers.Layer):
    def __init__(self, factor=1.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="w")

    def call(self, inputs):
        return inputs * self.w * self.factor


@lk.saving.register_keras_serializable(package="Tests")
class Stacked(lk.Model):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.blocks = [lk.layers.LSTM(units, return_sequences=True), lk.layers.LSTM(units)]
        self.scale = Scale(2.0)
        self.head = lk.layers.Dense(1)

    def call(self, inputs, training=None):
        x = inputs
        for block in self.blocks:
            x = block(x, training=training)
        return self.head(ops.relu(self.scale(x)))


class Unregistered(lk.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = lk.layers.Dense(2)

    def call(self, inputs):
        return self.dense(inputs)


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(6, 4, 3)).astype("float32"), rng.normal(size=(6, 1)).astype("float32")


def test_registered_subclassed_model_round_trips(tmp_path):
    x, y = _data()
    model = Stacked(3)
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=2, verbose=0)
    assert [v.name for v in model.layers] == [v.name for v in model.blocks] + [
        model.scale.name, model.head.name]
    path = str(tmp_path / "stacked.keras")
    model.save(path)
    with zipfile.ZipFile(path) as zf:
        entry = json.loads(zf.read("config.json"))
    assert entry["registered_name"] == "Tests>Stacked" and entry["class_name"] == "Stacked"
    assert entry["config"]["units"] == 3
    loaded = lk.models.load_model(path)
    assert type(loaded) is Stacked
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.scale.factor == 2.0


def test_registered_custom_layer_in_functional_model(tmp_path):
    inputs = lk.Input((4, 3))
    outputs = lk.layers.Dense(2)(Scale(0.5)(lk.layers.LSTM(5, return_sequences=True)(inputs)))
    model = lk.Model(inputs, outputs)
    assert model.output_shape == (None, 4, 2)
    path = str(tmp_path / "f.keras")
    model.save(path)
    x, _ = _data()
    np.testing.assert_array_equal(lk.models.load_model(path).predict(x, verbose=0),
                                  model.predict(x, verbose=0))


def test_unregistered_subclassed_model_is_not_saved(tmp_path):
    model = Unregistered()
    model.predict(np.zeros((2, 3), "float32"), verbose=0)
    with pytest.raises(ValueError, match="'Unregistered'.*register_keras_serializable"):
        model.save(str(tmp_path / "u.keras"))


def _empty_h5() -> bytes:
    h5py = pytest.importorskip("h5py")
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.require_group("layers")
    return buffer.getvalue()


def _crafted(tmp_path, entry):
    path = tmp_path / "crafted.keras"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        zf.writestr("config.json", json.dumps(entry))
        zf.writestr("model.weights.h5", _empty_h5())
    return str(path)


@pytest.mark.parametrize("as_model", [True, False])
def test_file_naming_an_unregistered_class_is_refused_without_import(tmp_path, as_model):
    module = "lstmkit_test_must_not_be_imported"
    layer = {"module": module, "class_name": "Evil", "config": {"name": "evil"},
             "registered_name": "Evil>Evil"}
    if as_model:
        entry = layer
    else:
        entry = {"module": "keras", "class_name": "Sequential", "registered_name": None,
                 "config": {"name": "s", "layers": [
                     {"module": "keras.layers", "class_name": "InputLayer",
                      "config": {"batch_shape": [None, 3], "name": "in"},
                      "registered_name": None}, layer]}}
    with pytest.raises(ValueError, match="Evil"):
        lk.models.load_model(_crafted(tmp_path, entry))
    assert module not in sys.modules


def test_registry_api():
    assert lk.saving.get_registered_name(Scale) == "Tests>Scale"
    assert lk.saving.get_registered_object("Tests>Scale") is Scale
    assert lk.saving.get_registered_name(Unregistered) == "Unregistered"
    assert lk.saving.get_registered_object("Nope>Nope") is None


def _keras_stacked(keras, package):
    @keras.saving.register_keras_serializable(package=package)
    class Scale(keras.layers.Layer):
        def __init__(self, factor=1.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="w")

        def call(self, inputs):
            return inputs * self.w * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    @keras.saving.register_keras_serializable(package=package)
    class Stacked(keras.Model):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.blocks = [keras.layers.LSTM(units, return_sequences=True),
                           keras.layers.LSTM(units)]
            self.scale = Scale(2.0)
            self.head = keras.layers.Dense(1)

        def call(self, inputs, training=None):
            x = inputs
            for block in self.blocks:
                x = block(x, training=training)
            return self.head(keras.ops.relu(self.scale(x)))

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    return Stacked


def test_subclassed_model_files_interoperate_with_keras(tmp_path):
    """Keras's file of the same registered classes loads in lstmkit, and lstmkit's in Keras
    (weights by Keras's attribute paths: blocks/lstm/cell, head, layers/scale)."""
    keras = _oracle.keras()
    KStacked = _keras_stacked(keras, "Tests")
    x, _ = _data()
    k_model = KStacked(3)
    with _oracle.quiet():
        expected = _oracle.keras_call(k_model, x)
        k_model.save(str(tmp_path / "k.keras"))
    ours = lk.models.load_model(str(tmp_path / "k.keras"))
    assert type(ours) is Stacked
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, atol=1e-6)
    ours.set_weights([w * 1.5 for w in ours.get_weights()])
    ours.save(str(tmp_path / "ours.keras"))
    with _oracle.quiet():
        back = keras.saving.load_model(str(tmp_path / "ours.keras"))
        np.testing.assert_allclose(_oracle.keras_call(back, x), ours.predict(x, verbose=0),
                                   atol=1e-6)


def test_subclassed_model_as_a_layer_of_a_functional_model(tmp_path):
    inputs = lk.Input((4, 3))
    model = lk.Model(inputs, lk.layers.Dense(2)(Stacked(3)(inputs)))
    assert model.output_shape == (None, 2)
    x, _ = _data()
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, np.zeros((6, 2)), verbose=0)
    path = str(tmp_path / "nested.keras")
    model.save(path)
    np.testing.assert_array_equal(lk.models.load_model(path).predict(x, verbose=0),
                                  model.predict(x, verbose=0))


def test_unregistered_custom_layer_in_a_functional_model_is_not_saved(tmp_path):
    class Loose(lk.layers.Layer):
        def call(self, inputs):
            return inputs * 2

    inputs = lk.Input((3,))
    model = lk.Model(inputs, Loose()(inputs))
    with pytest.raises(ValueError, match="'Loose'.*register_keras_serializable"):
        model.save(str(tmp_path / "loose.keras"))
    assert not (tmp_path / "loose.keras").exists()
