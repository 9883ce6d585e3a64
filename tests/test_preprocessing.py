"""`Normalization` against Keras 3 and finite differences."""

import numpy as np
import pytest

import lstmkit as lk


def test_forward_and_inverse_match_keras():
    keras = pytest.importorskip("keras")
    x = np.random.default_rng(0).normal(size=(4, 6, 3)).astype("float32")
    for invert in (False, True):
        ours = lk.layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[4.0, 0.25, 0.0],
                                       invert=invert)
        theirs = keras.layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[4.0, 0.25, 0.0],
                                            invert=invert)
        np.testing.assert_allclose(ours(x), keras.ops.convert_to_numpy(theirs(x)), rtol=1e-6)
        config = theirs.get_config()
        rebuilt = lk.layers.Normalization.from_config(config)
        assert rebuilt.get_config() == ours.get_config() | {"name": config["name"]}


def test_adapt_and_backward():
    x = np.random.default_rng(1).normal(3.0, 2.0, size=(50, 2)).astype("float64")
    norm = lk.layers.Normalization(dtype="float64")
    norm.adapt(x)
    y, cache = norm.forward(x)
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(y.std(0), 1, atol=1e-12)
    d = np.ones_like(x)
    dx, dw = norm.backward(cache, d)
    assert dw == []
    eps = 1e-6
    num = (norm(x + eps) - norm(x - eps)) / (2 * eps)
    np.testing.assert_allclose(dx, num, rtol=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="both mean and variance"):
        lk.layers.Normalization(mean=1.0)
    with pytest.raises(ValueError, match="no mean/variance"):
        lk.layers.Normalization()(np.ones((2, 3)))
    with pytest.raises(ValueError, match="3 means but the input has 2"):
        lk.layers.Normalization(mean=[0, 0, 0], variance=[1, 1, 1])(np.ones((2, 2)))
