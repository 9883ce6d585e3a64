"""Array creation and conversion: zeros, ones, full, *_like, arange, eye, convert_to_tensor,
convert_to_numpy, shape, ndim, size, stop_gradient, copy.

Defaults follow keras.ops: floats are float32 (Keras's floatx), `arange` of ints
gives int32.

Example:
    >>> from lstmkit import ops
    >>> ops.zeros((2, 3)).dtype
    dtype('float32')
"""

from __future__ import annotations

import numpy as np

from .. import _config
from ._math import cast
from ._tape import Tensor, record, value_of


def _dtype(dtype, default=None):
    return np.dtype(dtype or default or _config.floatx())


def zeros(shape, dtype=None):
    """An array of zeros (float32 unless `dtype`)."""
    return np.zeros(shape, _dtype(dtype))


def ones(shape, dtype=None):
    """An array of ones (float32 unless `dtype`)."""
    return np.ones(shape, _dtype(dtype))


def full(shape, fill_value, dtype=None):
    """An array filled with `fill_value` (float32 unless `dtype`)."""
    return np.full(shape, value_of(fill_value), _dtype(dtype))


def zeros_like(x, dtype=None):
    """Zeros of `x`'s shape and dtype (or `dtype`)."""
    return np.zeros_like(value_of(x), dtype=dtype)


def ones_like(x, dtype=None):
    """Ones of `x`'s shape and dtype (or `dtype`)."""
    return np.ones_like(value_of(x), dtype=dtype)


def full_like(x, fill_value, dtype=None):
    """`fill_value` in `x`'s shape and dtype (or `dtype`)."""
    return np.full_like(value_of(x), fill_value, dtype=dtype)


def arange(start, stop=None, step=1, dtype=None):
    """Evenly spaced values in [start, stop): int32 for ints, float32 for floats."""
    if dtype is None:
        numbers = [v for v in (start, stop, step) if v is not None]
        dtype = "int32" if all(isinstance(v, (int, np.integer)) for v in numbers) else None
    if stop is None:
        start, stop = 0, start
    return np.arange(start, stop, step).astype(_dtype(dtype))


def eye(N, M=None, k=0, dtype=None):  # noqa: N803 (keras.ops.eye)
    """A 2-D array with ones on the `k`-th diagonal."""
    return np.eye(N, M, k, dtype=_dtype(dtype))


def identity(n, dtype=None):
    """The `n` x `n` identity matrix."""
    return eye(n, dtype=dtype)


def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    """`x` as an array (a Tensor on a tape stays one)."""
    if isinstance(x, Tensor):
        return x if dtype is None or np.dtype(dtype) == x.dtype else cast(x, dtype)
    arr = np.asarray(value_of(x))
    if dtype is None and arr.dtype == np.float64 and not isinstance(x, np.ndarray):
        arr = arr.astype(_config.floatx())  # Python floats become floatx, as in Keras
    return arr if dtype is None else arr.astype(dtype)


def convert_to_numpy(x):
    """The NumPy value of `x` (no gradient)."""
    return np.asarray(value_of(x))


def stop_gradient(variable):
    """The value of `variable`, cut from the tape."""
    return np.asarray(value_of(variable))


def copy(x):
    """A copy of `x` (the gradient passes through)."""
    return record(np.copy, (x,), lambda out, a: lambda g: (g,))


def shape(x):
    """`x`'s shape as a tuple of ints."""
    return tuple(np.shape(value_of(x)))


def ndim(x):
    """`x`'s number of axes."""
    return np.ndim(value_of(x))


def size(x):
    """`x`'s number of elements."""
    return int(np.size(value_of(x)))
