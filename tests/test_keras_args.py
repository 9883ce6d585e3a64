"""Keras arguments lstmkit accepts either work (Keras 3 is the oracle) or warn once."""

import warnings

import numpy as np
import pytest

import lstmkit as lk
from _oracle import keras as _keras
from _oracle import keras_weights, quiet
from lstmkit import _config
from lstmkit.training.callbacks import Callback

RNG = np.random.default_rng(0)
X = RNG.normal(size=(24, 5, 2)).astype("float32")
Y = RNG.normal(size=(24, 1)).astype("float32")


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(_config, "_WARNED", set())


def _model():
    model = lk.Sequential([lk.Input((5, 2)), lk.layers.LSTM(3), lk.layers.Dense(1)])
    model.compile("sgd", "mse", metrics=["mae"])
    return model


@pytest.mark.parametrize("name, value", [("run_eagerly", True), ("jit_compile", True),
                                         ("jit_compile", False), ("steps_per_execution", 4),
                                         ("auto_scale_loss", False)])
def test_compile_arguments_without_effect_warn_once(name, value):
    model = lk.Sequential([lk.Input((5, 2)), lk.layers.LSTM(3)])
    with pytest.warns(UserWarning, match=rf"`compile\({name}={value!r}\)` has no effect") as w:
        model.compile("adam", "mse", **{name: value})
    assert len(w) == 1 and w[0].filename == __file__  # points at the caller's line
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.compile("adam", "mse", **{name: value})  # once per process
        model.compile("adam", "mse", run_eagerly=False, jit_compile="auto",
                      steps_per_execution=1, auto_scale_loss=True)  # Keras's defaults: silent


def test_validation_steps_limits_the_validation_batches():
    model = _model()
    history = model.fit(X[:16], Y[:16], batch_size=8, epochs=1, verbose=0,
                        validation_data=(X[16:], Y[16:]), validation_batch_size=3,
                        validation_steps=1, shuffle=False)
    first = model.evaluate(X[16:19], Y[16:19], verbose=0)[0]
    whole = model.evaluate(X[16:], Y[16:], verbose=0)[0]
    assert history.history["val_loss"][0] == pytest.approx(first, rel=1e-6)
    assert history.history["val_loss"][0] != pytest.approx(whole, rel=1e-3)
    with pytest.raises(ValueError, match="validation_steps must be a positive int"):
        model.fit(X, Y, epochs=1, verbose=0, validation_split=0.25, validation_steps=0)


def test_evaluate_and_predict_steps_match_keras():
    keras = _keras()
    theirs = keras.Sequential([keras.Input((5, 2)), keras.layers.LSTM(3), keras.layers.Dense(1)])
    ours = _model()
    ours.set_weights(keras_weights(theirs))
    theirs.compile("sgd", "mse", metrics=["mae"])
    with quiet():
        expected = theirs.evaluate(X, Y, batch_size=8, steps=2, verbose=0)
        predicted = np.asarray(theirs.predict(X, batch_size=8, steps=2, verbose=0))
    np.testing.assert_allclose(ours.evaluate(X, Y, batch_size=8, steps=2, verbose=0),
                               expected, rtol=1e-5)
    np.testing.assert_allclose(ours.predict(X, batch_size=8, steps=2, verbose=0), predicted,
                               rtol=1e-5, atol=1e-6)
    assert predicted.shape == (16, 1)


class Recorder(Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def __getattribute__(self, name):
        if name.startswith("on_"):
            return lambda *args, **kwargs: object.__getattribute__(self, "calls").append(
                (name, *[a for a in args[:1] if isinstance(a, int)]))
        return object.__getattribute__(self, name)


def test_evaluate_and_predict_call_their_callbacks():
    model = _model()
    rec = Recorder()
    model.evaluate(X, Y, batch_size=10, verbose=0, callbacks=[rec])
    assert rec.calls == [("on_test_begin",), ("on_test_batch_begin", 0),
                         ("on_test_batch_end", 0), ("on_test_batch_begin", 1),
                         ("on_test_batch_end", 1), ("on_test_batch_begin", 2),
                         ("on_test_batch_end", 2), ("on_test_end",)]
    rec.calls.clear()
    model.predict(X, batch_size=16, verbose=0, callbacks=[rec])
    assert rec.calls == [("on_predict_begin",), ("on_predict_batch_begin", 0),
                         ("on_predict_batch_end", 0), ("on_predict_batch_begin", 1),
                         ("on_predict_batch_end", 1), ("on_predict_end",)]


def test_summary_arguments_without_effect_warn_once():
    model = _model()
    lines = []
    with pytest.warns(UserWarning, match=r"`summary\(show_trainable=True\)` has no effect"):
        model.summary(print_fn=lines.append, show_trainable=True)
    assert lines and "Total params" in lines[0]


def test_layer_arguments_like_keras():
    keras = _keras()
    with pytest.warns(UserWarning, match="`input_length` is deprecated") as ours:
        lk.layers.Embedding(10, 4, input_length=5)
    with pytest.warns(UserWarning, match="`input_length` is deprecated") as theirs:
        keras.layers.Embedding(10, 4, input_length=5)
    assert str(ours[0].message) == str(theirs[0].message)
    with pytest.warns(UserWarning, match=r"`Dense\(quantization_config='int8'\)` has no"):
        lk.layers.Dense(2, quantization_config="int8")
    with pytest.raises(ValueError, match="LoRA"):
        lk.layers.Embedding(10, 4, lora_rank=2)
    # Keras 3: input_dim=d is input_shape=(d,)
    model = lk.Sequential([lk.layers.Dense(2, input_dim=3)])
    assert model.output_shape == (None, 2)
