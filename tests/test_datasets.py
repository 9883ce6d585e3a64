"""The shipped Mauna Loa CO2 data: loads offline, sane values, windows in time order."""


import numpy as np
import pytest

import lstmkit as lk
from lstmkit.datasets import co2


def test_weekly_record_is_the_shipped_file():
    dates, values = co2.load_weekly()
    assert len(dates) == 2284
    assert dates[0] == "19580329" and dates[-1].startswith("2001")
    assert np.isnan(values).sum() == 59
    assert 310 < np.nanmin(values) < np.nanmax(values) < 380


def test_monthly_series_rises_and_has_no_gaps():
    months, ppm = co2.load_series()
    assert len(months) == 526 and months[0] == "1958-03" and months[-1] == "2001-12"
    assert np.isfinite(ppm).all()
    assert ppm[-12:].mean() - ppm[:12].mean() > 50  # the Keeling curve rises


def test_load_data_windows_follow_the_series():
    (x_train, y_train), (x_test, y_test) = lk.datasets.co2.load_data(window=12, horizon=2)
    _, ppm = co2.load_series()
    assert x_train.dtype == np.float32 and x_train.shape[1:] == (12, 1)
    assert y_train.shape[1:] == (2,)
    assert len(x_train) + len(x_test) == len(ppm) - 12 - 2 + 1
    np.testing.assert_allclose(x_train[0, :, 0], ppm[:12], rtol=1e-6)
    np.testing.assert_allclose(y_train[0], ppm[12:14], rtol=1e-6)
    np.testing.assert_allclose(y_test[-1], ppm[-2:], rtol=1e-6)  # test split is the latest


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="too short"):
        co2.make_windows(np.arange(5.0), window=5)
    with pytest.raises(ValueError, match="test_split"):
        co2.load_data(test_split=1.5)

