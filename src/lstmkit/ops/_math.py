"""Elementwise math: arithmetic, unary functions, comparisons, `where`, `cast`, `clip`.

Each op is its forward and, beside it, its vector-Jacobian product: `vjp(g)`
returns the gradient of each argument (summed over broadcast axes). Names,
arguments and broadcasting follow keras.ops; integer inputs to float functions
become float32 (Keras's floatx), as keras.ops does.

Example:
    >>> import numpy as np
    >>> from lstmkit import ops
    >>> ops.divide(np.array([1, 2]), 4).tolist()
    [0.25, 0.5]
"""

from __future__ import annotations

import numpy as np

from ._tape import record, unbroadcast, value_of


def _float(a):
    """Floats stay; ints, bools and Python numbers become float32 (Keras's floatx)."""
    a = np.asarray(a)
    return a if a.dtype.kind in "fc" else a.astype("float32")


def _result_dtype(a, b, out):
    """float64 only when a NumPy argument was float64 (Python numbers are weak)."""
    out = np.asarray(out)
    if out.dtype == np.float64 and not any(
            isinstance(v, (np.ndarray, np.generic)) and v.dtype == np.float64 for v in (a, b)):
        return out.astype("float32")
    return out


def _binary(np_fn):
    return lambda a, b: _result_dtype(a, b, np_fn(a, b))


def _shape(a):
    return np.shape(a)


# -- arithmetic ------------------------------------------------------------------------------
def add(x1, x2):
    """`x1 + x2` with broadcasting."""
    return record(_binary(np.add), (x1, x2), lambda out, a, b: lambda g: (
        unbroadcast(g, _shape(a)), unbroadcast(g, _shape(b))))


def subtract(x1, x2):
    """`x1 - x2` with broadcasting."""
    return record(_binary(np.subtract), (x1, x2), lambda out, a, b: lambda g: (
        unbroadcast(g, _shape(a)), unbroadcast(-g, _shape(b))))


def multiply(x1, x2):
    """`x1 * x2` with broadcasting."""
    return record(_binary(np.multiply), (x1, x2), lambda out, a, b: lambda g: (
        unbroadcast(g * b, _shape(a)), unbroadcast(g * a, _shape(b))))


def divide(x1, x2):
    """`x1 / x2`; integers divide as floats."""
    def fn(a, b):
        return _result_dtype(a, b, np.divide(_float(a) if np.ndim(a) else a, b))
    return record(fn, (x1, x2), lambda out, a, b: lambda g: (
        unbroadcast(g / b, _shape(a)), unbroadcast(-g * out / b, _shape(b))))


true_divide = divide


def power(x1, x2):
    """`x1 ** x2`; the exponent's gradient is taken where x1 > 0 (log x1 exists)."""
    def vjp(out, a, b):
        def grads(g):
            da = g * b * np.power(a, np.subtract(b, 1))
            safe = np.where(np.greater(a, 0), a, 1)
            db = g * out * np.where(np.greater(a, 0), np.log(safe), 0)
            return unbroadcast(da, _shape(a)), unbroadcast(db, _shape(b))
        return grads
    return record(_binary(np.power), (x1, x2), vjp)


def negative(x):
    """`-x`."""
    return record(np.negative, (x,), lambda out, a: lambda g: (-g,))


def absolute(x):
    """`|x|`; the gradient at 0 is 0 (sign)."""
    return record(np.absolute, (x,), lambda out, a: lambda g: (g * np.sign(a),))


abs = absolute  # noqa: A001 (keras.ops.abs)


def square(x):
    """`x ** 2`."""
    return record(np.square, (x,), lambda out, a: lambda g: (2 * a * g,))


def sqrt(x):
    """`x ** 0.5`."""
    return record(lambda a: np.sqrt(_float(a)), (x,),
                  lambda out, a: lambda g: (g / (2 * out),))


def rsqrt(x):
    """`1 / sqrt(x)`."""
    return record(lambda a: 1 / np.sqrt(_float(a)), (x,),
                  lambda out, a: lambda g: (-0.5 * g * out / a,))


def reciprocal(x):
    """`1 / x`."""
    return record(lambda a: np.reciprocal(_float(a)), (x,),
                  lambda out, a: lambda g: (-g * out * out,))


def exp(x):
    """`e ** x`."""
    return record(lambda a: np.exp(_float(a)), (x,), lambda out, a: lambda g: (g * out,))


def expm1(x):
    """`e ** x - 1`."""
    return record(lambda a: np.expm1(_float(a)), (x,),
                  lambda out, a: lambda g: (g * (out + 1),))


def log(x):
    """Natural logarithm."""
    return record(lambda a: np.log(_float(a)), (x,), lambda out, a: lambda g: (g / a,))


def log1p(x):
    """`log(1 + x)`."""
    return record(lambda a: np.log1p(_float(a)), (x,), lambda out, a: lambda g: (g / (1 + a),))


def tanh(x):
    """Hyperbolic tangent."""
    return record(lambda a: np.tanh(_float(a)), (x,),
                  lambda out, a: lambda g: (g * (1 - out * out),))


def sin(x):
    """Sine."""
    return record(lambda a: np.sin(_float(a)), (x,), lambda out, a: lambda g: (g * np.cos(a),))


def cos(x):
    """Cosine."""
    return record(lambda a: np.cos(_float(a)), (x,),
                  lambda out, a: lambda g: (-g * np.sin(a),))


def _tie_split(g, mine, other, pick):
    """Gradient share of the argument `pick` chose; ties split evenly (as torch does)."""
    return np.where(mine == other, g / 2, np.where(pick(mine, other), g, 0))


def maximum(x1, x2):
    """Elementwise maximum; at ties each argument gets half the gradient."""
    return record(_binary(np.maximum), (x1, x2), lambda out, a, b: lambda g: (
        unbroadcast(_tie_split(g, a, b, np.greater), _shape(a)),
        unbroadcast(_tie_split(g, b, a, np.greater), _shape(b))))


def minimum(x1, x2):
    """Elementwise minimum; at ties each argument gets half the gradient."""
    return record(_binary(np.minimum), (x1, x2), lambda out, a, b: lambda g: (
        unbroadcast(_tie_split(g, a, b, np.less), _shape(a)),
        unbroadcast(_tie_split(g, b, a, np.less), _shape(b))))


def clip(x, x_min, x_max):
    """`x` limited to [x_min, x_max]; the gradient passes where x is inside."""
    return record(lambda a: np.clip(a, x_min, x_max), (x,),
                  lambda out, a: lambda g: (g * ((a >= x_min) & (a <= x_max)),))


def where(condition, x1=None, x2=None):
    """`x1` where `condition`, else `x2`; with only `condition`, the indices (no gradient)."""
    cond = np.asarray(value_of(condition)).astype(bool)
    if x1 is None and x2 is None:
        return np.nonzero(cond)
    return record(lambda a, b: _result_dtype(a, b, np.where(cond, a, b)), (x1, x2),
                  lambda out, a, b: lambda g: (unbroadcast(np.where(cond, g, 0), _shape(a)),
                                               unbroadcast(np.where(cond, 0, g), _shape(b))))


def cast(x, dtype):
    """`x` as `dtype`; only a float-to-float cast carries a gradient."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f" or np.asarray(value_of(x)).dtype.kind != "f":
        return np.asarray(value_of(x)).astype(dtype)
    return record(lambda a: a.astype(dtype), (x,),
                  lambda out, a: lambda g: (np.asarray(g).astype(a.dtype),))


# -- without a gradient (piecewise constant or boolean): plain arrays -----------------------
def _constant(np_fn):
    def op(*args):
        return np_fn(*(value_of(a) for a in args))
    op.__name__ = np_fn.__name__
    op.__doc__ = f"`np.{np_fn.__name__}`: piecewise constant or boolean, no gradient."
    return op


sign = _constant(np.sign)
floor = _constant(np.floor)
ceil = _constant(np.ceil)
round = _constant(np.round)  # noqa: A001 (keras.ops.round)
equal = _constant(np.equal)
not_equal = _constant(np.not_equal)
less = _constant(np.less)
less_equal = _constant(np.less_equal)
greater = _constant(np.greater)
greater_equal = _constant(np.greater_equal)
logical_and = _constant(np.logical_and)
logical_or = _constant(np.logical_or)
logical_not = _constant(np.logical_not)
logical_xor = _constant(np.logical_xor)
isnan = _constant(np.isnan)
isfinite = _constant(np.isfinite)
isinf = _constant(np.isinf)
floor_divide = _constant(np.floor_divide)
mod = _constant(np.mod)
