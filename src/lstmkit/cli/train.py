"""`lstmkit train`: an LSTM forecaster for a CSV time series (see lstmkit.forecast)."""

from __future__ import annotations

import os
import sys

import numpy as np

from . import _arrays


def add_parser(sub):
    p = sub.add_parser(
        "train", help="train an LSTM forecaster on a CSV time series",
        description="Windows of past rows predict the next HORIZON values of the target column. "
                    "Rows must be in time order. The split is in time order (the test part is the "
                    "latest); scaling is saved inside the model, so `lstmkit predict` gives "
                    "forecasts in the data's units.")
    p.add_argument("--csv", required=True, help="CSV file with a header row")
    p.add_argument("--target", required=True, help="column to forecast")
    p.add_argument("--features", default=None,
                   help="comma-separated input columns (default: the target alone)")
    p.add_argument("--window", type=int, default=24, help="past rows per sample (default 24)")
    p.add_argument("--horizon", type=int, default=1, help="future values predicted (default 1)")
    p.add_argument("--units", type=int, default=32, help="LSTM units (default 32)")
    p.add_argument("--epochs", type=int, default=100, help="maximum epochs (early stopping)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--difference", action="store_true",
                   help="model changes between rows instead of levels (for trending series); "
                        "the model then predicts changes")
    p.add_argument("--val-split", type=float, default=0.1)
    p.add_argument("--test-split", type=float, default=0.2)
    p.add_argument("--out", default="model.keras", help="where to save the model (.keras)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _arrays.add_budget_argument(p)
    return p


def read_columns(path, names):
    """The named columns of a CSV as a (rows, len(names)) float64 array, with clear errors."""
    from .._csv import numbers, read_table

    table = read_table(path, header=True)
    data = numbers(table, names)  # (rows, len(names)), NaN where a cell is empty
    nan_rows = np.nonzero(np.isnan(data).any(axis=1))[0]
    if len(nan_rows):
        raise ValueError(f"{path} has {len(nan_rows)} rows with empty or NaN values in the "
                         f"chosen columns (first at line {table.lines[nan_rows[0]]}); fill or "
                         "drop them")
    return data


def _no_model(args, why) -> int:
    """Exit code 1 (a check failed) with one line, and nothing saved."""
    print(f"lstmkit train: error: {args.csv}: {why}; no model saved to {args.out}",
          file=sys.stderr)
    return 1


def run(args):
    import lstmkit as lk

    from .. import forecast

    for name in ("window", "horizon", "units", "epochs", "batch_size"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not args.out.endswith(".keras"):
        raise ValueError(f"--out must end with .keras, got {args.out!r}")
    features = [args.target] if args.features is None else [
        c.strip() for c in args.features.split(",") if c.strip()]
    if args.target not in features:
        features = [args.target] + features
    budget = _arrays.Budget.from_args(args)
    budget.take(8 * os.path.getsize(args.csv), f"{args.csv} (parsed)")
    values = read_columns(args.csv, features)
    # The windows are (rows - window - horizon + 1, window, features) float64, made at once.
    windows = max(len(values) - args.window - args.horizon + 1, 0)
    budget.take(windows * args.window * len(features) * 8,
                f"--window {args.window} over {len(values)} rows of {args.csv} "
                f"({windows} windows of {args.window} x {len(features)})")
    with np.errstate(over="ignore", invalid="ignore"):  # checked just below
        data = forecast.prepare(values, target=features.index(args.target),
                                window=args.window, horizon=args.horizon,
                                val_split=args.val_split, test_split=args.test_split,
                                difference=args.difference)
    if not all(np.isfinite(a).all() for a in (data.x_train, data.y_train)):
        return _no_model(args, "the scaled data is not finite (values too large to scale, "
                               "e.g. near +-1e308); rescale the data")
    print(f"{len(values)} rows, features {features}; train {len(data.x_train)}, "
          f"validation {len(data.x_val)}, test {len(data.x_test)} windows")
    lk.utils.set_random_seed(0)
    model = forecast.build_model(data, units=args.units)
    callbacks = []
    validation = None
    if len(data.x_val):
        validation = (data.x_val, data.y_val)
        callbacks.append(lk.callbacks.EarlyStopping(monitor="val_loss", patience=8,
                                                    restore_best_weights=True))
    model.fit(data.x_train, data.y_train, validation_data=validation, epochs=args.epochs,
              batch_size=args.batch_size, callbacks=callbacks, verbose=0 if args.quiet else "auto")
    bad = [w.path for w in model.weights if not np.isfinite(w.value).all()]
    if bad:
        return _no_model(args, f"training diverged: weights {bad[:3]} are not finite "
                               "(rescale the data or lower the learning rate)")
    errors, _ = forecast.evaluate_forecaster(model, data)
    print(f"test mean absolute error of {args.target!r}:")
    for name, value in errors.items():
        print(f"  {name:>15}: " + ("n/a" if value is None else f"{value:.4g}"))
    model.save(args.out)
    print(f"saved {os.path.abspath(args.out)}")
    return 0
