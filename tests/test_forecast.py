"""The forecasting workflow behind `lstmkit train` and the demo: windows, splits, baselines."""

import numpy as np
import pytest

from lstmkit import forecast
from lstmkit.datasets import co2


@pytest.mark.parametrize("difference", [False, True])
def test_windows_and_truth_line_up_with_the_series(difference):
    _, ppm = co2.load_series()
    data = forecast.prepare(ppm[:, None], window=24, horizon=2, difference=difference)
    n_test = len(data.truth_test)
    # the last test window ends two steps before the end of the series
    np.testing.assert_allclose(data.truth_test[-1], ppm[-2:])
    np.testing.assert_allclose(data.level_test[-1], ppm[-3])
    # window levels rebuilt from the inputs equal the series
    levels = forecast._window_levels(data)
    np.testing.assert_allclose(levels[-1], ppm[-26:-2], rtol=1e-5)
    assert len(data.x_train) + len(data.x_val) + n_test == len(ppm) - 24 - 2 + 1 - difference


def test_baselines_against_direct_formulas():
    _, ppm = co2.load_series()
    data = forecast.prepare(ppm[:, None], window=24, horizon=1, difference=True)
    n = len(data.truth_test)
    j = np.arange(len(ppm) - n, len(ppm))  # index of each forecast month
    errors = forecast.baselines(data)
    assert errors["last value"] == pytest.approx(np.abs(ppm[j] - ppm[j - 1]).mean())
    assert errors["seasonal naive"] == pytest.approx(np.abs(ppm[j] - ppm[j - 12]).mean(),
                                                     rel=1e-6)
    direct = ppm[j - 1] + ppm[j - 12] - ppm[j - 13]
    assert errors["seasonal change"] == pytest.approx(np.abs(ppm[j] - direct).mean(), rel=1e-5)


def test_to_levels_accumulates_changes():
    data = forecast.prepare(np.arange(60.0)[:, None] ** 1.5, window=6, horizon=3,
                            difference=True)
    changes = np.diff(np.concatenate([data.level_test[:, None], data.truth_test], axis=1))
    np.testing.assert_allclose(forecast.to_levels(data, changes, data.level_test),
                               data.truth_test)


def test_bad_data_is_refused():
    with pytest.raises(ValueError, match="NaN"):
        forecast.prepare(np.array([[1.0], [np.nan]] * 20), window=3)
    with pytest.raises(ValueError, match="too few"):
        forecast.prepare(np.arange(8.0)[:, None], window=6)
    with pytest.raises(ValueError, match="timesteps, features"):
        forecast.prepare(np.arange(80.0), window=6)


def test_a_forecaster_learns_a_sine():
    import lstmkit as lk

    t = np.arange(400)
    data = forecast.prepare(np.sin(t / 6.0)[:, None], window=16)
    lk.utils.set_random_seed(0)
    model = forecast.build_model(data, units=8)
    model.fit(data.x_train, data.y_train, epochs=30, batch_size=32, verbose=0)
    errors, _ = forecast.evaluate_forecaster(model, data)
    assert errors["lstm"] < 0.1 < errors["last value"]
