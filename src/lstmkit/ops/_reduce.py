"""Reductions: `sum`, `mean`, `max`, `min`, `prod`, `var`, `std`, `logsumexp`, `cumsum`,
`cumprod`, and `any`, `all`, `argmax`, `argmin` (no gradient).

Each VJP broadcasts the output gradient back over the reduced axes. `max` / `min`
share the gradient evenly between tied maxima, as torch's `amax` (Keras's torch
backend) does.

Example:
    >>> import numpy as np
    >>> from lstmkit import ops
    >>> ops.mean(np.array([[1, 2], [3, 4]]), axis=0).tolist()
    [2.0, 3.0]
"""

from __future__ import annotations

import builtins

import numpy as np

from ._math import _float, sqrt, square
from ._tape import record, value_of


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axis = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    return tuple(int(a) % ndim for a in axis)


def _expand(g, a_shape, axis, keepdims):
    """The output gradient with the reduced axes back (size 1), ready to broadcast."""
    g = np.asarray(g)
    if not keepdims:
        g = np.expand_dims(g, _axes(axis, len(a_shape))) if len(a_shape) else g
    return g


def sum(x, axis=None, keepdims=False):  # noqa: A001 (keras.ops.sum)
    """Sum over `axis` (all axes when None)."""
    return record(lambda a: np.sum(a, axis=axis, keepdims=keepdims), (x,),
                  lambda out, a: lambda g: (
                      np.broadcast_to(_expand(g, a.shape, axis, keepdims), a.shape),))


def mean(x, axis=None, keepdims=False):
    """Mean over `axis`; integer inputs give float32."""
    def vjp(out, a):
        n = a.size // builtins.max(np.size(out), 1) if a.size else 1
        return lambda g: (np.broadcast_to(_expand(g, a.shape, axis, keepdims) / n, a.shape),)
    return record(lambda a: np.mean(_float(a), axis=axis, keepdims=keepdims), (x,), vjp)


def _extremum(np_fn):
    def op(x, axis=None, keepdims=False, initial=None):
        def fn(a):
            if initial is None:
                return np_fn(a, axis=axis, keepdims=keepdims)
            return np_fn(a, axis=axis, keepdims=keepdims, initial=initial)

        def vjp(out, a):
            def grads(g):
                picked = a == _expand(out, a.shape, axis, keepdims)
                count = np.sum(picked, axis=_axes(axis, a.ndim), keepdims=True)
                return (np.where(picked, _expand(g, a.shape, axis, keepdims) / count, 0),)
            return grads
        return record(fn, (x,), vjp)
    return op


max = _extremum(np.max)  # noqa: A001 (keras.ops.max)
max.__doc__ = "Maximum over `axis`; tied maxima share the gradient."
min = _extremum(np.min)  # noqa: A001 (keras.ops.min)
min.__doc__ = "Minimum over `axis`; tied minima share the gradient."
amax = max  # keras.ops.amax
amin = min  # keras.ops.amin


def prod(x, axis=None, keepdims=False):
    """Product over `axis` (gradient `out / x`, so inputs must be nonzero)."""
    return record(lambda a: np.prod(a, axis=axis, keepdims=keepdims), (x,),
                  lambda out, a: lambda g: (
                      _expand(g, a.shape, axis, keepdims)
                      * _expand(out, a.shape, axis, keepdims) / a,))


def var(x, axis=None, keepdims=False):
    """Population variance over `axis` (ddof 0, as keras.ops.var)."""
    def vjp(out, a):
        n = a.size // builtins.max(np.size(out), 1) if a.size else 1
        centred = a - np.mean(a, axis=_axes(axis, a.ndim), keepdims=True)
        return lambda g: (_expand(g, a.shape, axis, keepdims) * 2 * centred / n,)
    return record(lambda a: np.var(_float(a), axis=axis, keepdims=keepdims), (x,), vjp)


def std(x, axis=None, keepdims=False):
    """Population standard deviation over `axis`."""
    return sqrt(var(x, axis=axis, keepdims=keepdims))


def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 (keras.ops.norm)
    """The Euclidean norm over `axis` (the Frobenius norm of a flattened matrix).

    Other orders (1, inf, nuclear, a matrix's spectral 2-norm) are not supported.
    """
    vector = isinstance(axis, (int, np.integer)) or np.ndim(value_of(x)) == 1
    if not (ord in (None, "fro", "euclidean") or (ord == 2 and vector)):
        raise ValueError(f"lk.ops.norm supports the Euclidean norm, got ord={ord!r}")
    return sqrt(sum(square(x), axis=axis, keepdims=keepdims))


def logsumexp(x, axis=None, keepdims=False):
    """`log(sum(exp(x)))` over `axis`, computed stably."""
    def fn(a):
        a = _float(a)
        top = np.max(a, axis=axis, keepdims=True)
        top = np.where(np.isfinite(top), top, 0)
        out = np.log(np.sum(np.exp(a - top), axis=axis, keepdims=True)) + top
        return out if keepdims else np.squeeze(out, axis=_axes(axis, a.ndim))

    return record(fn, (x,), lambda out, a: lambda g: (
        _expand(g, a.shape, axis, keepdims)
        * np.exp(a - _expand(out, a.shape, axis, keepdims)),))


def cumsum(x, axis=None, dtype=None):
    """Cumulative sum along `axis` (of the flattened array when None)."""
    def vjp(out, a):
        def grads(g):
            if axis is None:
                return (np.flip(np.cumsum(np.flip(np.ravel(g)))).reshape(a.shape),)
            return (np.flip(np.cumsum(np.flip(g, axis), axis=axis), axis),)
        return grads
    return record(lambda a: np.cumsum(a, axis=axis, dtype=dtype), (x,), vjp)


def cumprod(x, axis=None, dtype=None):
    """Cumulative product along `axis` (gradient through `out / x`: nonzero inputs)."""
    def vjp(out, a):
        def grads(g):
            flat = axis is None
            gg, oo, aa = (np.ravel(g), np.ravel(out), np.ravel(a)) if flat else (g, out, a)
            ax = 0 if flat else axis
            d = np.flip(np.cumsum(np.flip(gg * oo, ax), axis=ax), ax) / aa
            return (d.reshape(a.shape),)
        return grads
    return record(lambda a: np.cumprod(a, axis=axis, dtype=dtype), (x,), vjp)


def any(x, axis=None, keepdims=False):  # noqa: A001 (keras.ops.any)
    """Whether any element along `axis` is true (no gradient)."""
    return np.any(value_of(x), axis=axis, keepdims=keepdims)


def all(x, axis=None, keepdims=False):  # noqa: A001 (keras.ops.all)
    """Whether every element along `axis` is true (no gradient)."""
    return np.all(value_of(x), axis=axis, keepdims=keepdims)


def argmax(x, axis=None, keepdims=False):
    """Index of the maximum along `axis` (no gradient)."""
    return np.argmax(value_of(x), axis=axis, keepdims=keepdims).astype("int32")


def argmin(x, axis=None, keepdims=False):
    """Index of the minimum along `axis` (no gradient)."""
    return np.argmin(value_of(x), axis=axis, keepdims=keepdims).astype("int32")
