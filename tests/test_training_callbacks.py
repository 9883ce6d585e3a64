"""Callbacks: the same decisions as Keras 3 on the same training runs, and their side effects."""

import csv
import math
import re
import warnings

import numpy as np
import pytest

import lstmkit as lk
from _oracle import keras as _keras
from _oracle import keras_weights
from lstmkit.training import callbacks as cb

RNG = np.random.default_rng(0)
X = RNG.normal(size=(24, 5, 2)).astype("float32")
Y = RNG.normal(size=(24, 1)).astype("float32")


def _pair(keras):
    theirs = keras.Sequential([keras.Input((5, 2)), keras.layers.LSTM(3),
                               keras.layers.Dense(1)])
    ours = lk.Sequential([lk.Input((5, 2)), lk.layers.LSTM(3), lk.layers.Dense(1)])
    ours.set_weights(keras_weights(theirs))
    return ours, theirs


def _fit_both(make_callbacks, epochs=6, **kwargs):
    keras = _keras()
    ours, theirs = _pair(keras)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs.compile(keras.optimizers.SGD(0.05), "mse")
        h_theirs = theirs.fit(X, Y, batch_size=8, epochs=epochs, shuffle=False, verbose=0,
                              callbacks=make_callbacks(keras.callbacks), **kwargs)
    ours.compile(lk.optimizers.SGD(0.05), "mse")
    h_ours = ours.fit(X, Y, batch_size=8, epochs=epochs, shuffle=False, verbose=0,
                      callbacks=make_callbacks(lk.callbacks), **kwargs)
    assert list(h_ours.history) == list(h_theirs.history)
    assert h_ours.epoch == h_theirs.epoch
    for key in h_theirs.history:
        np.testing.assert_allclose(h_ours.history[key], h_theirs.history[key], rtol=1e-4)
    for a, b in zip(ours.get_weights(), keras_weights(theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    return h_ours


def test_early_stopping_matches_keras():
    h = _fit_both(lambda c: [c.EarlyStopping(monitor="loss", min_delta=0.05, patience=1,
                                             restore_best_weights=True)], epochs=10)
    assert len(h.epoch) < 10


def test_early_stopping_on_validation_matches_keras():
    _fit_both(lambda c: [c.EarlyStopping(patience=0, baseline=0.0)], epochs=5,
              validation_split=0.25)


def test_reduce_lr_on_plateau_matches_keras():
    h = _fit_both(lambda c: [c.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1,
                                                 min_delta=0.05, cooldown=1, min_lr=0.01)])
    assert "learning_rate" in h.history
    assert h.history["learning_rate"][-1] < 0.05


def test_terminate_on_nan_stops_cleanly(capsys):
    model = lk.Sequential([lk.Input((5, 2)), lk.layers.LSTM(3), lk.layers.Dense(1)])
    model.compile(lk.optimizers.SGD(1e30), "mse")
    y = np.full((24, 1), 1e30, "float32")
    with np.errstate(all="ignore"):
        history = model.fit(X, y, batch_size=4, epochs=3, verbose=0,
                            callbacks=[cb.TerminateOnNaN()])
    assert "Invalid loss, terminating training" in capsys.readouterr().out
    assert len(history.epoch) == 1
    assert not math.isfinite(history.history["loss"][0])
    with pytest.raises(RuntimeError, match="NaN or Inf"), np.errstate(all="ignore"):
        model.fit(X, y, batch_size=4, epochs=1, verbose=0,
                  callbacks=[cb.TerminateOnNaN(raise_error=True)])


def test_csv_logger_lambda_callback_and_history(tmp_path):
    path = tmp_path / "log.csv"
    seen = []
    model = lk.Sequential([lk.Input((5, 2)), lk.layers.LSTM(3), lk.layers.Dense(1)])
    model.compile("adam", "mse", metrics=["mae"])
    history = model.fit(X, Y, batch_size=8, epochs=3, verbose=0, validation_split=0.25,
                        callbacks=[cb.CSVLogger(path),
                                   cb.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(e),
                                                     on_train_batch_end=lambda b, logs: None)])
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"] == [str(e) for e in seen]
    assert list(rows[0]) == ["epoch", "loss", "mae", "val_loss", "val_mae"]
    np.testing.assert_allclose([float(r["val_loss"]) for r in rows],
                               history.history["val_loss"], rtol=1e-6)
    assert model.history is history


def test_model_checkpoint_saves_best(tmp_path):
    pytest.importorskip("h5py")
    model = lk.Sequential([lk.Input((5, 2)), lk.layers.LSTM(3), lk.layers.Dense(1)])
    model.compile(lk.optimizers.SGD(0.05), "mse")
    weights_path = tmp_path / "best.weights.h5"
    model.fit(X, Y, batch_size=8, epochs=3, verbose=0, validation_split=0.25,
              callbacks=[cb.ModelCheckpoint(str(weights_path), save_best_only=True,
                                            save_weights_only=True)])
    assert weights_path.exists()
    model_path = tmp_path / "model-{epoch:02d}.keras"
    model.fit(X, Y, batch_size=8, epochs=2, verbose=0,
              callbacks=[cb.ModelCheckpoint(str(model_path), monitor="loss")])
    assert (tmp_path / "model-01.keras").exists() and (tmp_path / "model-02.keras").exists()
    loaded = lk.models.load_model(tmp_path / "model-02.keras")
    np.testing.assert_allclose(loaded.predict(X), model.predict(X), rtol=1e-6)
    with pytest.raises(ValueError, match="weights.h5"):
        cb.ModelCheckpoint(str(tmp_path / "w.h5"), save_weights_only=True)


def test_progress_bar_output(capsys):
    # capsys is no terminal: one plain line per epoch, Keras's verbose=2 line.
    model = lk.Sequential([lk.Input((5, 2)), lk.layers.LSTM(3), lk.layers.Dense(1)])
    model.compile("adam", "mse", metrics=["mae"])
    model.fit(X, Y, batch_size=8, epochs=2, verbose=2, validation_data=(X, Y))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2, lines
    for epoch, line in enumerate(lines, 1):
        assert re.fullmatch(rf"Epoch {epoch}/2 - 3/3 - \d+s - \d+(ms|us|s)/step - loss: \S+ "
                            r"- mae: \S+ - val_loss: \S+ - val_mae: \S+", line), line
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    model.evaluate(X, Y, verbose=0)
    model.predict(X, verbose=0)
    assert capsys.readouterr().out == ""
    model.predict(X)  # "auto", as Keras 3 prints; off a terminal one plain line
    assert re.fullmatch(r"1/1 - \d+s - \d+(ms|us|s)/step\n", capsys.readouterr().out)
    model.evaluate(X, Y, batch_size=8, verbose=1)
    model.predict(X, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("3/3 - ") and " - loss: " in lines[0] and " - mae: " in lines[0]
    assert lines[1].startswith("1/1 - ")


def test_monitor_needs_a_known_direction():
    model = lk.Sequential([lk.Input((5, 2)), lk.layers.LSTM(3), lk.layers.Dense(1)])
    model.compile("adam", "mse", metrics=["mae"])
    with pytest.raises(ValueError, match="mode='max'"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[cb.EarlyStopping(monitor="custom")])
