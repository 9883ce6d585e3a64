"""Optimizer parity with Keras 3 (torch backend): short `fit` runs end at the same weights.

Each case trains the same LSTM + Dense model (same initial weights, same data,
shuffle=False) in Keras and in lstmkit for 2 epochs of 3 batches and compares
every weight and the per-epoch losses within 1e-4. Configs and schedules are
compared with Keras's own `get_config` and schedule values.
"""

import warnings

import numpy as np
import pytest

import lstmkit as lk
from _oracle import keras as _keras
from _oracle import keras_weights
from lstmkit.training import optimizers, schedules

CASES = {
    "sgd": ("SGD", {"learning_rate": 0.1}),
    "sgd_momentum": ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    "sgd_nesterov": ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    "adam": ("Adam", {"learning_rate": 0.01}),
    "adam_amsgrad": ("Adam", {"learning_rate": 0.01, "amsgrad": True}),
    "adamw": ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.05}),
    "rmsprop": ("RMSprop", {"learning_rate": 0.01}),
    "rmsprop_momentum_centered": ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5,
                                                  "centered": True}),
    "adagrad": ("Adagrad", {"learning_rate": 0.1}),
    "clipnorm": ("SGD", {"learning_rate": 0.5, "clipnorm": 0.2}),
    "clipvalue": ("Adam", {"learning_rate": 0.01, "clipvalue": 0.01}),
    "global_clipnorm": ("RMSprop", {"learning_rate": 0.01, "global_clipnorm": 0.3}),
}


def _schedule(lib, kind):
    mod = lib.optimizers.schedules
    if kind == "exp":
        return mod.ExponentialDecay(0.05, decay_steps=2, decay_rate=0.5, staircase=False)
    if kind == "cos":
        return mod.CosineDecay(0.05, decay_steps=4, alpha=0.1, warmup_target=0.1,
                               warmup_steps=2)
    return mod.PiecewiseConstantDecay([1, 3], [0.1, 0.05, 0.01])


def _models(keras, regularized=False):
    kw = {"kernel_regularizer": "l2", "recurrent_regularizer": "l1", "bias_regularizer": "l2",
          "activity_regularizer": "l1", "recurrent_constraint": "unit_norm"} \
        if regularized else {}
    dense_kw = {"activity_regularizer": "l2", "kernel_constraint": "max_norm"} \
        if regularized else {}
    theirs = keras.Sequential([keras.Input((6, 3)), keras.layers.LSTM(4, **kw),
                               keras.layers.Dense(2, **dense_kw)])
    ours = lk.Sequential([lk.Input((6, 3)), lk.layers.LSTM(4, **kw),
                          lk.layers.Dense(2, **dense_kw)])
    ours.set_weights(keras_weights(theirs))
    return ours, theirs


def _data():
    rng = np.random.default_rng(0)
    return (rng.normal(size=(24, 6, 3)).astype("float32"),
            rng.normal(size=(24, 2)).astype("float32"))


def _keras_config(obj):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Variable.numpy() under NumPy 2
        return obj.get_config()


def _fit_both(ours, theirs, opt_ours, opt_theirs, loss="mse"):
    x, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras + NumPy 2 deprecation noise
        theirs.compile(optimizer=opt_theirs, loss=loss)
        h_theirs = theirs.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    ours.compile(optimizer=opt_ours, loss=loss)
    h_ours = ours.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), keras_weights(theirs)):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(h_ours.history["loss"], h_theirs.history["loss"], rtol=1e-4)
    assert opt_ours.iterations == 6


@pytest.mark.parametrize("case", sorted(CASES))
def test_optimizer_matches_keras(case):
    keras = _keras()
    cls, kwargs = CASES[case]
    ours, theirs = _models(keras)
    _fit_both(ours, theirs, getattr(lk.optimizers, cls)(**kwargs),
              getattr(keras.optimizers, cls)(**kwargs))


@pytest.mark.parametrize("kind", ["exp", "cos", "piecewise"])
def test_schedules_match_keras(kind):
    keras = _keras()
    ours, theirs = _models(keras)
    _fit_both(ours, theirs, lk.optimizers.Adam(_schedule(lk, kind)),
              keras.optimizers.Adam(_schedule(keras, kind)))
    for step in range(8):
        expected = float(_schedule(keras, kind)(step))
        assert float(_schedule(lk, kind)(step)) == pytest.approx(expected, rel=1e-6)


def test_regularizers_and_constraints_match_keras():
    keras = _keras()
    ours, theirs = _models(keras, regularized=True)
    _fit_both(ours, theirs, lk.optimizers.SGD(0.1, momentum=0.5),
              keras.optimizers.SGD(0.1, momentum=0.5))


@pytest.mark.parametrize("case", ["sgd_nesterov", "adam_amsgrad", "adamw",
                                  "rmsprop_momentum_centered", "adagrad", "clipnorm"])
def test_config_matches_keras(case):
    keras = _keras()
    cls, kwargs = CASES[case]
    ours = getattr(lk.optimizers, cls)(name="opt", **kwargs)
    theirs = getattr(keras.optimizers, cls)(name="opt", **kwargs)
    assert ours.get_config() == _keras_config(theirs)
    again = type(ours).from_config(ours.get_config())
    assert again.get_config() == ours.get_config()


def test_schedule_config_matches_keras():
    keras = _keras()
    for kind in ("exp", "cos", "piecewise"):
        ours, theirs = _schedule(lk, kind), _schedule(keras, kind)
        assert ours.get_config() == theirs.get_config()
    opt = lk.optimizers.Adam(_schedule(lk, "exp"), name="opt")
    expected = _keras_config(keras.optimizers.Adam(_schedule(keras, "exp"), name="opt"))
    assert opt.get_config() == expected
    assert type(optimizers.Adam.from_config(opt.get_config())._learning_rate) is \
        schedules.ExponentialDecay


def test_optimizer_names_and_bad_arguments():
    assert isinstance(optimizers.get("adam"), optimizers.Adam)
    assert isinstance(optimizers.get("RMSprop"), optimizers.RMSprop)
    with pytest.raises(ValueError, match="optimizer identifier"):
        optimizers.get("adamx")
    with pytest.raises(ValueError, match="Only one of"):
        optimizers.SGD(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        optimizers.AdamW(weight_decay=None)
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.ExponentialDecay(0.1, 0, 0.5)
    with pytest.raises(ValueError, match="boundaries"):
        schedules.PiecewiseConstantDecay([1, 2], [0.1])


def test_optimizer_variables_and_apply():
    w = lk.layers.Variable(np.ones((2, 2), "float32"), "kernel", path="dense/kernel")
    opt = optimizers.Adam(0.1)
    opt.apply([np.ones((2, 2), "float32")], [w])
    names = [v.name for v in opt.variables]
    assert names == ["iteration", "learning_rate", "dense_kernel_momentum",
                     "dense_kernel_velocity"]
    assert opt.iterations == 1
    # First Adam step moves each weight by lr (m / sqrt(v) = 1 after bias correction).
    np.testing.assert_allclose(w.value, 0.9, rtol=1e-5)
