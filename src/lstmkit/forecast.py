"""Windowed time-series forecasting with an LSTM: the workflow of `lstmkit train` and the demo.

The steps: windows of `window` past rows predict the next `horizon` values of
the target; the split is in time order (train, validation, test: the test part
is the latest); scaling is computed on the training part only and kept inside
the model as `Normalization` layers, so a saved model predicts in the data's own
units (in lstmkit and in Keras alike). With `difference=True` the model sees
and predicts month-to-month changes instead of levels, and forecasts are the
last level plus the predicted changes (this handles a trending series whose
test part lies above anything seen in training).

Example:
    >>> import numpy as np
    >>> from lstmkit import forecast
    >>> data = forecast.prepare(np.sin(np.arange(200) / 5.0)[:, None], target=0, window=12)
    >>> data.x_train.shape[1:], data.y_train.shape[1:]
    ((12, 1), (1,))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


@dataclass
class Prepared:
    """Windows split in time order; `level_*` are the target's last level per window."""

    x_train: np.ndarray  # (N, window, F)
    y_train: np.ndarray  # (N, horizon)
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    level_test: np.ndarray  # (N_test,) target level at the end of each test window
    truth_test: np.ndarray  # (N_test, horizon) target levels to forecast
    window: int
    horizon: int
    target: int
    difference: bool


def make_windows(series, window, horizon=1):
    """Sliding windows: x (N, window, F), y (N, horizon * F) predicting `horizon` steps ahead.

    Args:
        series: (T,) or (T, F) values in time order.
        window: steps of history per sample.
        horizon: steps predicted after each window (the next `horizon` values).
    """
    series = np.asarray(series, dtype="float64")
    if series.ndim == 1:
        series = series[:, None]
    if window < 1 or horizon < 1:
        raise ValueError(f"window and horizon must be >= 1, got {window} and {horizon}")
    n = len(series) - window - horizon + 1
    if n < 1:
        raise ValueError(
            f"a series of {len(series)} steps is too short for window={window} "
            f"and horizon={horizon}: need at least {window + horizon}"
        )
    spans = sliding_window_view(series, window + horizon, axis=0)  # (N, F, window + horizon)
    spans = spans.transpose(0, 2, 1)  # (N, window + horizon, F), a view
    x = spans[:, :window].copy()  # (N, window, F)
    y = spans[:, window:].reshape(n, -1)  # (N, horizon * F), step-major as Keras's targets
    return x, y


def prepare(values, target=0, window=24, horizon=1, val_split=0.1, test_split=0.2,
            difference=False) -> Prepared:
    """Cut (T, F) values into windows and split them in time order.

    Raises:
        ValueError: NaNs, too few rows for the window, or bad split fractions.
    """
    values = np.asarray(values, dtype="float64")
    if values.ndim != 2:
        raise ValueError(f"values must be (timesteps, features), got shape {values.shape}")
    if not np.isfinite(values).all():
        rows = np.unique(np.nonzero(~np.isfinite(values))[0])
        raise ValueError(
            f"the data has {len(rows)} rows with NaN or infinite values (first at row "
            f"{rows[0]}); fill or drop them first"
        )
    if window < 1 or horizon < 1:
        raise ValueError(f"window and horizon must be >= 1, got {window} and {horizon}")
    if not (0 <= val_split < 1 and 0 < test_split < 1 and val_split + test_split < 1):
        raise ValueError(f"bad splits: val_split={val_split}, test_split={test_split}")
    levels = values[:, target]
    series = np.diff(values, axis=0) if difference else values
    need = window + horizon + (1 if difference else 0)
    n = len(series) - window - horizon + 1
    if n < 5:
        raise ValueError(
            f"{len(values)} rows are too few for window={window} and horizon={horizon}: "
            f"need at least {need + 4} rows"
        )
    x, y = make_windows(series, window, horizon)
    y = y.reshape(n, horizon, -1)[:, :, target]  # (N, horizon): the target's future values
    offset = 1 if difference else 0  # row of `values` where window i starts
    last_level = levels[offset + window - 1:offset + window - 1 + n]  # (N,)
    truth = sliding_window_view(levels[offset + window:], horizon)[:n].copy()  # (N, horizon)
    n_test = max(1, int(round(n * test_split)))
    n_val = int(round(n * val_split))
    a, b = n - n_test - n_val, n - n_test
    if a < 2:
        raise ValueError(f"too few windows ({n}) to split into train/validation/test")
    f32 = (lambda arr: arr.astype("float32"))
    return Prepared(f32(x[:a]), f32(y[:a]), f32(x[a:b]), f32(y[a:b]), f32(x[b:]), f32(y[b:]),
                    last_level[b:], truth[b:], window, horizon, target, difference)


def build_model(data: Prepared, units=32, seed=0):
    """Normalization -> LSTM(units) -> Dense(horizon) -> Normalization(invert), compiled.

    Adam (learning rate 3e-3) on the mean squared error, with the mean absolute error tracked.

    Scaling statistics come from the training windows only.
    """
    import lstmkit as lk

    F = data.x_train.shape[-1]
    flat = data.x_train.reshape(-1, F)
    model = lk.Sequential([
        lk.Input(shape=(data.window, F), name="window"),
        lk.layers.Normalization(mean=flat.mean(0).tolist(), variance=flat.var(0).tolist(),
                                name="scale_inputs"),
        lk.layers.LSTM(units, name="lstm", seed=seed),
        lk.layers.Dense(data.horizon, name="forecast"),
        lk.layers.Normalization(mean=float(data.y_train.mean()),
                                variance=float(data.y_train.var()), invert=True, axis=None,
                                name="unscale_forecast"),
    ], name="forecaster")
    model.compile(optimizer=lk.optimizers.Adam(learning_rate=3e-3), loss="mse",
                  metrics=["mae"])
    return model


def to_levels(data: Prepared, predictions, last_level):
    """Model outputs (N, horizon) as levels of the target."""
    if not data.difference:
        return predictions
    return last_level[:, None] + np.cumsum(predictions, axis=1)


def baselines(data: Prepared, season=12):
    """Mean absolute errors on the test part of naive forecasts, in the target's units.

    last value: every future step equals the last observed level.
    seasonal naive: step k equals the level `season` steps before it (the same month last year).
    seasonal change: the last level plus last year's change over the same months
    (seasonal naive with the trend), a strong baseline for a trending seasonal series.
    The seasonal ones need a window of at least `season + 1` steps; else they are None.
    """
    truth, last = data.truth_test, data.level_test
    errors = {"last value": float(np.abs(truth - last[:, None]).mean()),
              "seasonal naive": None, "seasonal change": None}
    k = np.arange(data.horizon)
    idx = data.window - season + k  # where step k's level of last year sits in the window
    if data.window > season and (idx < data.window).all():
        lv = _window_levels(data)  # (N, window)
        same_month = lv[:, idx]  # (N, horizon)
        errors["seasonal naive"] = float(np.abs(truth - same_month).mean())
        year_ago = lv[:, data.window - 1 - season]  # level one season before the last one
        trend = last[:, None] + (same_month - year_ago[:, None])
        errors["seasonal change"] = float(np.abs(truth - trend).mean())
    return errors


def _window_levels(data: Prepared):
    """Target levels of each test window (N, window), rebuilt from inputs when differenced."""
    x = data.x_test[:, :, data.target].astype("float64")
    if not data.difference:
        return x
    # cumulative changes back from the window's last level
    back = np.cumsum(x[:, ::-1], axis=1)[:, ::-1]  # sum of changes from step j to the end
    shifted = np.concatenate([back[:, 1:], np.zeros((len(x), 1))], axis=1)
    return data.level_test[:, None] - shifted


def evaluate_forecaster(model, data: Prepared):
    """Test MAE (target units) of the model next to the naive baselines."""
    pred = to_levels(data, model.predict(data.x_test, verbose=0).astype("float64"),
                     data.level_test)
    result = {"lstm": float(np.abs(pred - data.truth_test).mean())}
    result.update(baselines(data))
    return result, pred
