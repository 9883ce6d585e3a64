"""Initializers: Keras 3's formulas, names, configs, the LSTM bias layout, and seeding.

Oracles: the formulas in keras/src/initializers/*.py (limits, variances, orthonormality),
Keras 3 live (torch backend) for configs and, by two-sample Kolmogorov-Smirnov tests, for
the distributions themselves (the random streams differ, the laws must not).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import lstmkit as lk
from _oracle import keras as _keras
from lstmkit import initializers

NAMES = ["glorot_uniform", "glorot_normal", "orthogonal", "zeros", "ones", "constant",
         "random_normal", "random_uniform", "truncated_normal", "he_normal", "he_uniform",
         "lecun_normal", "lecun_uniform", "identity", "variance_scaling"]
RANDOM = ["glorot_uniform", "glorot_normal", "orthogonal", "random_normal", "random_uniform",
          "truncated_normal", "he_normal", "he_uniform", "lecun_normal", "lecun_uniform",
          "variance_scaling"]
SHAPE = (64, 256)  # (fan_in, fan_out): a kernel (D, 4H) with D = 64, H = 64


# -- formulas ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name, scale, fan", [
    ("glorot_uniform", 1.0, (64 + 256) / 2), ("he_uniform", 2.0, 64),
    ("lecun_uniform", 1.0, 64)])
def test_uniform_limits_and_variance(name, scale, fan):
    w = initializers.get(name)(SHAPE, seed=0)
    limit = math.sqrt(3.0 * scale / fan)  # glorot: sqrt(6 / (fan_in + fan_out))
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.99 * limit  # the whole interval is used
    assert w.var() == pytest.approx(scale / fan, rel=0.05)
    assert abs(w.mean()) < 0.05 * limit


def test_glorot_uniform_limit_of_an_lstm_kernel():
    D, H = 8, 4
    layer = lk.layers.LSTM(H, kernel_initializer=initializers.GlorotUniform(seed=3))
    layer.build((None, 5, D))
    kernel = layer.get_weights()[0]
    assert np.abs(kernel).max() <= math.sqrt(6.0 / (D + 4 * H))  # fan_out is 4H, not H


@pytest.mark.parametrize("name, scale, fan", [
    ("glorot_normal", 1.0, (64 + 256) / 2), ("he_normal", 2.0, 64), ("lecun_normal", 1.0, 64)])
def test_truncated_normal_variance_scaling(name, scale, fan):
    w = initializers.get(name)(SHAPE, seed=1)
    stddev = math.sqrt(scale / fan) / 0.87962566103423978  # the untruncated stddev
    assert np.abs(w).max() <= 2.0 * stddev  # truncated at two standard deviations
    assert w.var() == pytest.approx(scale / fan, rel=0.05)  # the truncated variance


def test_random_normal_uniform_truncated_constant():
    w = initializers.RandomNormal(mean=1.0, stddev=0.5, seed=2)(SHAPE)
    assert w.mean() == pytest.approx(1.0, abs=0.02) and w.std() == pytest.approx(0.5, rel=0.03)
    u = initializers.RandomUniform(minval=-2.0, maxval=3.0, seed=2)(SHAPE)
    assert u.min() >= -2.0 and u.max() < 3.0 and u.mean() == pytest.approx(0.5, abs=0.05)
    t = initializers.TruncatedNormal(mean=0.5, stddev=0.1, seed=2)(SHAPE)
    assert np.abs(t - 0.5).max() <= 0.2
    assert initializers.get("truncated_normal")((3,), seed=0).dtype == np.float32
    np.testing.assert_array_equal(initializers.Constant(0.25)((2, 3)), np.full((2, 3), 0.25))
    np.testing.assert_array_equal(initializers.get("ones")((4,)), np.ones(4))
    np.testing.assert_array_equal(initializers.get("zeros")((4,)), np.zeros(4))
    np.testing.assert_array_equal(initializers.Identity(gain=2.0)((2, 3)), 2 * np.eye(2, 3))


@pytest.mark.parametrize("shape", [(5, 20), (20, 5), (7, 7), (3, 4, 8)])
def test_orthogonal_rows_or_columns_are_orthonormal(shape):
    w = initializers.Orthogonal(gain=1.0, seed=4)(shape, dtype="float64")
    flat = w.reshape(-1, shape[-1])  # Keras: rows = prod(shape[:-1]), cols = shape[-1]
    rows, cols = flat.shape
    gram = flat @ flat.T if rows <= cols else flat.T @ flat
    np.testing.assert_allclose(gram, np.eye(min(rows, cols)), atol=1e-12)
    w2 = initializers.Orthogonal(gain=3.0, seed=4)(shape, dtype="float64")
    np.testing.assert_allclose(w2, 3.0 * w, atol=1e-12)


def test_lstm_recurrent_kernel_has_orthonormal_rows():
    H = 6
    layer = lk.layers.LSTM(H, dtype="float64")
    layer.build((None, 3, 2))
    R = layer.get_weights()[1]  # (H, 4H): one matrix, H orthonormal rows
    np.testing.assert_allclose(R @ R.T, np.eye(H), atol=1e-12)
    gate = R[:, :H]  # a gate block alone is not orthogonal
    assert not np.allclose(gate @ gate.T, np.eye(H), atol=1e-3)


def test_bad_shapes_are_errors():
    with pytest.raises(ValueError, match="rank >= 2, got"):
        initializers.Orthogonal()((5,))
    with pytest.raises(ValueError, match=r"2-D shape, got \(2, 2, 2\)"):
        initializers.Identity()((2, 2, 2))
    with pytest.raises(ValueError, match="scale must be positive, got -1"):
        initializers.VarianceScaling(scale=-1)
    with pytest.raises(ValueError, match="mode must be fan_in, fan_out or fan_avg, got 'x'"):
        initializers.VarianceScaling(mode="x")
    with pytest.raises(ValueError, match="Unknown initializer 'glorot'"):
        initializers.get("glorot")
    with pytest.raises(TypeError, match="initializer must be"):
        initializers.get(3)


# -- the LSTM bias layout --------------------------------------------------------------------

@pytest.mark.parametrize("unit_forget_bias", [True, False])
@pytest.mark.parametrize("bias_initializer, value", [("zeros", 0.0), ("ones", 1.0),
                                                     (initializers.Constant(0.3), 0.3)])
def test_bias_layout(unit_forget_bias, bias_initializer, value):
    H = 4
    layer = lk.layers.LSTM(H, unit_forget_bias=unit_forget_bias,
                           bias_initializer=bias_initializer)
    layer.build((None, 3, 2))
    bias = layer.get_weights()[2]
    i, f, c, o = np.split(bias, 4)
    for gate in (i, c, o):
        np.testing.assert_allclose(gate, value, rtol=1e-7)
    # the forget slice is *set* to one (not incremented): ones stay ones, not two
    np.testing.assert_allclose(f, 1.0 if unit_forget_bias else value, rtol=1e-7)


def test_bias_layout_with_a_random_initializer():
    H = 5
    layer = lk.layers.LSTM(H, bias_initializer=initializers.RandomNormal(seed=0))
    layer.build((None, 3, 2))
    i, f, c, o = np.split(layer.get_weights()[2], 4)
    np.testing.assert_array_equal(f, np.ones(H))
    assert np.all(i != 0) and np.all(c != 0) and np.all(o != 0)


@pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
@pytest.mark.parametrize("unit_forget_bias", [True, False])
def test_bias_layout_matches_keras(unit_forget_bias):
    keras = _keras()
    k_layer = keras.layers.LSTM(3, unit_forget_bias=unit_forget_bias,
                                bias_initializer=keras.initializers.Constant(-0.5))
    k_layer.build((None, 4, 2))
    layer = lk.layers.LSTM.from_config(k_layer.get_config())
    layer.build((None, 4, 2))
    np.testing.assert_array_equal(layer.get_weights()[2], k_layer.get_weights()[2])


# -- seeding --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", RANDOM)
def test_seeded_draws_repeat_and_seeds_differ(name):
    cls = type(initializers.get(name))
    a = cls(seed=11)((6, 8))
    b = cls(seed=11)((6, 8))
    c = cls(seed=12)((6, 8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    unseeded = cls()
    assert not np.array_equal(unseeded((6, 8)), unseeded((6, 8)))


def test_set_random_seed_makes_unseeded_layers_repeat():
    x = np.ones((2, 3, 4), "float32")
    lk.utils.set_random_seed(123)
    first = lk.layers.LSTM(5)(x)
    lk.utils.set_random_seed(123)
    again = lk.layers.LSTM(5)(x)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(lk.layers.LSTM(5)(x), first)


def test_seeded_initializers_give_reproducible_layers():
    def make():
        layer = lk.layers.LSTM(4, kernel_initializer=initializers.GlorotUniform(seed=5),
                               recurrent_initializer=initializers.Orthogonal(seed=6),
                               bias_initializer=initializers.RandomUniform(seed=7))
        layer.build((None, 3, 2))
        return layer.get_weights()

    for a, b in zip(make(), make()):
        np.testing.assert_array_equal(a, b)


# -- names and configs against Keras -----------------------------------------------------------

def test_every_name_of_the_issue_is_known():
    for name in NAMES:
        init = initializers.get(name)
        assert isinstance(init, initializers.Initializer)
        assert initializers.get(initializers.serialize(init)).get_config() == init.get_config()


@pytest.mark.parametrize("name", NAMES)
def test_config_matches_keras(name):
    keras = _keras()
    # keras.initializers.get("constant") itself fails (Constant.from_config({}) needs "value")
    k_init = keras.initializers.Constant() if name == "constant" else keras.initializers.get(name)
    k_entry = keras.saving.serialize_keras_object(k_init)
    init = initializers.get(name)
    entry = initializers.serialize(init)
    assert entry["class_name"] == k_entry["class_name"]
    assert entry["config"] == k_entry["config"]
    assert list(entry["config"]) == list(k_entry["config"])
    # and a Keras entry (non-default arguments) round-trips through lstmkit
    assert initializers.serialize(initializers.get(k_entry)) == entry


@pytest.mark.parametrize("k_init", [
    ("VarianceScaling", {"scale": 2.0, "mode": "fan_out", "distribution": "normal", "seed": 3}),
    ("VarianceScaling", {"scale": 0.5, "mode": "fan_avg", "distribution": "untruncated_normal"}),
    ("RandomNormal", {"mean": 1.0, "stddev": 2.0, "seed": 4}),
    ("RandomUniform", {"minval": -1.0, "maxval": 2.0}),
    ("TruncatedNormal", {"mean": 0.1, "stddev": 0.2, "seed": 9}),
    ("Orthogonal", {"gain": 2.0, "seed": 1}),
    ("Constant", {"value": 0.7}),
    ("GlorotUniform", {"seed": 8}),
    ("HeNormal", {"seed": 2}),
])
def test_nondefault_configs_match_keras(k_init):
    keras = _keras()
    class_name, kwargs = k_init
    k_entry = keras.saving.serialize_keras_object(
        getattr(keras.initializers, class_name)(**kwargs))
    init = initializers.get(k_entry)
    assert initializers.serialize(init)["config"] == k_entry["config"]
    assert list(initializers.serialize(init)["config"]) == list(k_entry["config"])


@pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
@pytest.mark.parametrize("name", RANDOM)
def test_distribution_matches_keras(name):
    """Two-sample Kolmogorov-Smirnov: lstmkit's draws and Keras's follow the same law."""
    keras = _keras()
    stats = pytest.importorskip("scipy.stats")
    k_init = type(keras.initializers.get(name))(seed=21)
    k_values = keras.ops.convert_to_numpy(k_init(SHAPE)).ravel()
    values = type(initializers.get(name))(seed=21)(SHAPE).ravel()
    result = stats.ks_2samp(values, k_values)
    assert result.pvalue > 1e-3, f"{name}: KS statistic {result.statistic:.4f}"
    assert values.var() == pytest.approx(k_values.var(), rel=0.05)
