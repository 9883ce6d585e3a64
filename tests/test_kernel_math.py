"""The kernels' float32 sigmoid/tanh/exp against float64 NumPy (the oracle), special values,
the float64 versions, and that the float32 versions compile to vector code without calls."""

import math

import numpy as np
import pytest
from numba import njit

from lstmkit.kernels import _math

_TINY = np.finfo(np.float32).tiny  # smallest normal float32
# Measured maxima (see _math's docstring) are 1.7e-7 relative and 9e-8 absolute; the bounds
# leave a little room for grid points these tests do not visit, not for a worse method.
REL, ABS = 2e-7, 1.2e-7


def _exact(name, x):
    x64 = x.astype(np.float64)
    with np.errstate(over="ignore"):
        if name == "sigmoid":
            return 1.0 / (1.0 + np.exp(-x64))
        return np.tanh(x64)


def _grid():
    """Dense [-20, 20], the saturation range to +-90, and tiny values of both signs."""
    tiny = np.logspace(-45, -1, 4001)
    return np.concatenate([np.linspace(-20, 20, 800_001), np.linspace(-90, 90, 90_001),
                           tiny, -tiny]).astype(np.float32)


def _random_bits(n, seed):
    """Random float32 bit patterns with |x| <= 90: every binade, down to the subnormals."""
    bits = np.random.default_rng(seed).integers(0, 0x42B40000, size=n, dtype=np.uint32)  # 90.0
    x = bits.view(np.float32)
    return np.concatenate([x, -x])


def _errors(name, x):
    got = _math.apply(name, x).astype(np.float64)
    exact = _exact(name, x)
    ab = np.abs(got - exact)
    normal = np.abs(exact) >= _TINY  # relative error only where float32 has full precision
    rel = ab[normal] / np.abs(exact[normal])
    return rel.max(), ab.max()


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
@pytest.mark.parametrize("points", ["grid", "random_bits"])
def test_float32_accuracy_against_float64(name, points):
    x = _grid() if points == "grid" else _random_bits(300_000, seed=len(name))
    rel, ab = _errors(name, x)
    assert rel < REL and ab < ABS, (name, points, rel, ab)


def test_sigmoid_tail_is_relatively_accurate():
    # sigmoid -> 0 for x -> -inf: there the relative error is what a naive 0.5 + 0.5 tanh(x/2)
    # loses completely; here it stays at float32 precision down to the smallest normal result.
    x = np.linspace(-87, -5, 200_001).astype(np.float32)
    rel, ab = _errors("sigmoid", x)
    assert rel < REL and ab < 1e-9


def test_tanh_is_relatively_accurate_near_zero():
    x = np.logspace(-40, 0, 50_001)
    x = np.concatenate([x, -x]).astype(np.float32)
    rel, _ = _errors("tanh", x)
    assert rel < REL
    tiny = np.array([1e-30, -1e-30, 1e-45, -1e-45, 1e-38], np.float32)  # tanh(x) == x in float32
    np.testing.assert_array_equal(_math.apply("tanh", tiny), tiny)


def test_special_values():
    inf, nan = np.inf, np.nan
    big = np.finfo(np.float32).max
    x = np.array([0.0, -0.0, inf, -inf, 100.0, -100.0, 1e30, -1e30, big, -big], np.float32)
    s = _math.apply("sigmoid", x)
    np.testing.assert_array_equal(s, [0.5, 0.5, 1, 0, 1, 0, 1, 0, 1, 0])
    t = _math.apply("tanh", x)
    np.testing.assert_array_equal(t, [0, 0, 1, -1, 1, -1, 1, -1, 1, -1])
    assert not np.signbit(t[0]) and np.signbit(t[1])  # tanh keeps the sign of zero
    for name in ("sigmoid", "tanh"):
        got = _math.apply(name, np.array([nan, -nan, 1.0, nan], np.float32))
        assert np.isnan(got[[0, 1, 3]]).all() and np.isfinite(got[2])
    # Saturated, never past the bounds.
    grid = _grid()
    s, t = _math.apply("sigmoid", grid), _math.apply("tanh", grid)
    assert s.min() >= 0 and s.max() <= 1 and np.abs(t).max() <= 1


def test_symmetries():
    x = np.linspace(0, 20, 200_001).astype(np.float32)
    np.testing.assert_array_equal(_math.apply("tanh", -x), -_math.apply("tanh", x))
    s_pos, s_neg = _math.apply("sigmoid", x), _math.apply("sigmoid", -x)
    np.testing.assert_allclose(s_pos + s_neg, 1.0, rtol=0, atol=2e-7)


@njit(error_model="numpy")
def _exp_array(x, out):
    for k in range(x.size):
        out[k] = _math.exp32(x[k])


def test_exp32():
    x = np.concatenate([np.linspace(-86.5, 88.7, 400_001), np.linspace(-1, 1, 20_001)])
    x = x.astype(np.float32)
    out = np.empty_like(x)
    _exp_array(x, out)
    exact = np.exp(x.astype(np.float64))
    assert (np.abs(out - exact) / exact).max() < 1.5e-7
    special = np.array([np.inf, 89.0, 88.8, -np.inf, -1e30, np.nan, 0.0], np.float32)
    out = np.empty_like(special)
    _exp_array(special, out)
    assert out[0] == out[1] == out[2] == np.inf  # overflows like exp (log(FLT_MAX) = 88.72)
    assert 0 <= out[3] < 2e-38 and 0 <= out[4] < 2e-38
    assert np.isnan(out[5]) and out[6] == 1.0


@njit(error_model="numpy")
def _sigmoid_tanh_array(a, b, out):
    for k in range(a.size):
        out[k] = _math.sigmoid_tanh(a[k], b[k])


def test_sigmoid_tanh_with_one_division():
    """sigmoid(a) * tanh(b) as one quotient: as accurate as the two functions, and the
    limits (an overflowing exp(-a), infinities, NaN) of the product."""
    rng = np.random.default_rng(7)
    a = np.concatenate([rng.uniform(-20, 20, 400_000), rng.uniform(-95, 95, 100_000)])
    b = np.concatenate([rng.uniform(-12, 12, 400_000), np.logspace(-30, 1, 100_000)])
    a, b = a.astype(np.float32), b.astype(np.float32)
    out = np.empty_like(a)
    _sigmoid_tanh_array(a, b, out)
    with np.errstate(over="ignore"):
        exact = np.tanh(b.astype(np.float64)) / (1.0 + np.exp(-a.astype(np.float64)))
    # Relative accuracy down to 2.4e-31: below, the denominator may overflow to inf and the
    # result be 0 (an absolute error under 2.4e-31; the LSTM's states are sums of these).
    normal = np.abs(exact) >= 2.4e-31
    assert (np.abs(out - exact)[normal] / np.abs(exact[normal])).max() < 4e-7
    assert np.abs(out - exact)[~normal].max() < 2.4e-31  # (the product of the two: < 4e-7)
    inf, nan = np.inf, np.nan
    a = np.array([-inf, -100, inf, 100, 0, 0, 0, nan, 1], np.float32)
    b = np.array([3, 3, 3, -inf, inf, -0.0, 0.0, 1, nan], np.float32)
    out = np.empty_like(a)
    _sigmoid_tanh_array(a, b, out)
    np.testing.assert_array_equal(out[:7], [0, 0, np.tanh(np.float32(3)), -1, 0.5, 0, 0])
    assert np.signbit(out[5]) and not np.signbit(out[6])
    assert np.isnan(out[7:]).all()
    a64, b64 = np.array([0.3, -2.0]), np.array([0.7, 5.0])
    out64 = np.empty(2)
    _sigmoid_tanh_array(a64, b64, out64)  # float64: the two functions, exactly
    assert out64.tolist() == [1 / (1 + math.exp(-p)) * math.tanh(q) for p, q in zip(a64, b64)]


@njit(error_model="numpy")
def _generic(x):
    return _math.sigmoid(x), _math.tanh(x)


def test_generic_names_pick_by_dtype():
    for v in (-3.5, -1e-3, 0.0, 0.7, 12.0):
        s64, t64 = _generic(np.float64(v))
        assert s64 == 1.0 / (1.0 + math.exp(-v)) and t64 == math.tanh(v)  # float64 is exact
        s32, t32 = _generic(np.float32(v))
        assert s32 == _math.apply("sigmoid", np.float32([v]))[0]
        assert t32 == _math.apply("tanh", np.float32([v]))[0]
    returns = {str(sig.return_type) for sig in _generic.nopython_signatures}
    assert returns == {"UniTuple(float64 x 2)", "UniTuple(float32 x 2)"}
    with pytest.raises(NotImplementedError):
        _math.sigmoid(0.0)  # only inside numba code
    with pytest.raises(NotImplementedError):
        _math.tanh(0.0)


def test_apply_rejects_unknown_names():
    with pytest.raises(ValueError, match="'sigmoid' or 'tanh'.*'relu'"):
        _math.apply("relu", np.zeros(3, np.float32))


@pytest.mark.parametrize("func", ["sigmoid32", "tanh32"])
def test_float32_versions_vectorize_without_calls(func):
    # The point of _math: a loop over them becomes vector code with no call inside (a scalar
    # libm call would stop LLVM from vectorizing the LSTM's fused pass).
    f = getattr(_math, func)

    @njit(error_model="numpy")
    def loop(x, out):
        for k in range(x.size):
            out[k] = f(x[k])

    loop.compile("(float32[::1], float32[::1])")
    ir = "\n".join(loop.inspect_llvm().values())
    assert "x float>" in ir  # a vector type such as <16 x float>
    body = ir[ir.index("\ndefine "):].split("\ndefine ")[1]  # the loop, not numba's Python wrapper
    calls = [ln for ln in body.splitlines() if " call " in ln and "@llvm." not in ln]
    assert not calls, calls
    assert "@llvm.exp" not in body and "tanhf" not in body and "expf" not in body
