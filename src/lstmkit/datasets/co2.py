"""Mauna Loa atmospheric CO2 (Keeling & Whorf; NOAA/SIO), monthly, 1958-2001, public domain.

The package ships the weekly record (see `PROVENANCE.md` beside this file);
`load_series()` averages it into calendar months (weeks with no value are
skipped; a month with none is filled by linear interpolation), and
`load_data()` cuts the monthly series into forecasting windows in time order,
as `keras.datasets.*.load_data()` returns `(x_train, y_train), (x_test, y_test)`.

Example:
    >>> from lstmkit.datasets import co2
    >>> dates, ppm = co2.load_series()
    >>> str(dates[0]), round(float(ppm[0]), 1)
    ('1958-03', 316.1)
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from .._csv import from_text, numbers
from ..forecast import make_windows

FILE = "mauna_loa_co2_weekly.csv"


def load_weekly():
    """(dates (N,) str YYYYMMDD, co2 (N,) float64 with NaN where a week has no value)."""
    text = resources.files(__package__).joinpath(FILE).read_text()
    table = from_text(text, header=True, name=FILE)
    dates = np.array([row[table.header.index("date")] for row in table.rows])
    return dates, numbers(table, ["co2"])[:, 0]


def load_series():
    """Monthly means: (months (M,) "YYYY-MM", co2 (M,) float64 ppmv), gaps interpolated."""
    dates, values = load_weekly()
    months = np.array([f"{d[:4]}-{d[4:6]}" for d in dates])
    order = sorted(set(months))
    means = np.array([np.nanmean(values[months == m]) if np.isfinite(
        values[months == m]).any() else np.nan for m in order])
    gaps = np.isnan(means)
    if gaps.any():
        idx = np.arange(len(means))
        means[gaps] = np.interp(idx[gaps], idx[~gaps], means[~gaps])
    return np.array(order), means


def load_data(window=24, horizon=1, test_split=0.2, dtype="float32"):
    """Monthly CO2 as forecasting windows, split in time order (the test part is the latest).

    Returns:
        (x_train (N, window, 1), y_train (N, horizon)), (x_test, y_test), in ppmv.
    """
    if not 0 < test_split < 1:
        raise ValueError(f"test_split must be in (0, 1), got {test_split}")
    _, values = load_series()
    x, y = make_windows(values, window, horizon)
    n_test = int(round(len(x) * test_split))
    split = len(x) - n_test
    cast = (lambda a: a.astype(dtype))
    return (cast(x[:split]), cast(y[:split])), (cast(x[split:]), cast(y[split:]))
