"""Shapes and indexing: reshape, transpose, expand_dims, squeeze, stack, unstack,
concatenate, split, take, slice, indexing (`x[...]`), tile, repeat, broadcast_to,
flip, swapaxes, moveaxis, pad.

The VJP of each rearrangement is the inverse rearrangement; the VJP of a
selection scatters the gradient back with `np.add.at` (repeated indices add up).

Example:
    >>> import numpy as np
    >>> from lstmkit import ops
    >>> ops.stack([np.zeros((2, 3)), np.ones((2, 3))], axis=1).shape
    (2, 2, 3)
"""

from __future__ import annotations

import builtins

import numpy as np

from ._tape import record, record_multi, unbroadcast, value_of


def reshape(x, newshape):
    """`x` with shape `newshape` (one entry may be -1)."""
    newshape = tuple(newshape) if isinstance(newshape, (list, tuple)) else newshape
    return record(lambda a: np.reshape(a, newshape), (x,),
                  lambda out, a: lambda g: (np.reshape(g, a.shape),))


def transpose(x, axes=None):
    """Axes permuted by `axes` (reversed when None)."""
    def vjp(out, a):
        inverse = None if axes is None else np.argsort(axes)
        return lambda g: (np.transpose(g, inverse),)
    return record(lambda a: np.transpose(a, axes), (x,), vjp)


def swapaxes(x, axis1, axis2):
    """Axes `axis1` and `axis2` exchanged."""
    return record(lambda a: np.swapaxes(a, axis1, axis2), (x,),
                  lambda out, a: lambda g: (np.swapaxes(g, axis1, axis2),))


def moveaxis(x, source, destination):
    """Axes moved from `source` to `destination`."""
    return record(lambda a: np.moveaxis(a, source, destination), (x,),
                  lambda out, a: lambda g: (np.moveaxis(g, destination, source),))


def expand_dims(x, axis):
    """A new axis of size 1 at `axis` (an int or a tuple)."""
    axis = tuple(axis) if isinstance(axis, list) else axis
    return record(lambda a: np.expand_dims(a, axis), (x,),
                  lambda out, a: lambda g: (np.reshape(g, a.shape),))


def squeeze(x, axis=None):
    """Axes of size 1 removed (`axis`, or all of them)."""
    axis = tuple(axis) if isinstance(axis, list) else axis
    return record(lambda a: np.squeeze(a, axis), (x,),
                  lambda out, a: lambda g: (np.reshape(g, a.shape),))


def flatten(x):
    """`x` as one dimension (keras.ops.ravel)."""
    return reshape(x, (-1,))


ravel = flatten


def broadcast_to(x, shape):
    """`x` broadcast to `shape`."""
    return record(lambda a: np.broadcast_to(a, tuple(shape)).copy(), (x,),
                  lambda out, a: lambda g: (unbroadcast(g, a.shape),))


def flip(x, axis=None):
    """`x` reversed along `axis` (all axes when None)."""
    return record(lambda a: np.flip(a, axis), (x,), lambda out, a: lambda g: (np.flip(g, axis),))


# -- joining and splitting -----------------------------------------------------------------
def stack(x, axis=0):
    """The arrays of the list `x` stacked along a new axis `axis`."""
    def vjp(out, *parts):
        return lambda g: tuple(np.moveaxis(g, axis, 0))
    return record(lambda *parts: np.stack(parts, axis=axis), tuple(x), vjp)


def concatenate(xs, axis=0):
    """The arrays of the list `xs` joined along `axis`."""
    def vjp(out, *parts):
        cuts = np.cumsum([p.shape[axis] for p in parts])[:-1]
        return lambda g: tuple(np.split(g, cuts, axis=axis))
    return record(lambda *parts: np.concatenate(parts, axis=axis), tuple(xs), vjp)


def _filled(gs, outs):
    return [np.zeros_like(o) if g is None else g for g, o in zip(gs, outs)]


def split(x, indices_or_sections, axis=0):
    """`x` cut along `axis` into equal sections or at the given indices: a list."""
    def vjp(outs, a):
        return lambda gs: (np.concatenate(_filled(gs, outs), axis=axis),)
    return record_multi(lambda a: np.split(a, indices_or_sections, axis=axis), (x,), vjp)


def unstack(x, num=None, axis=0):
    """The slices of `x` along `axis`: a list of `x.shape[axis]` arrays."""
    def fn(a):
        if num is not None and num != a.shape[axis]:
            raise ValueError(f"unstack: num={num} but axis {axis} has size {a.shape[axis]}")
        return list(np.moveaxis(a, axis, 0))

    def vjp(outs, a):
        return lambda gs: (np.stack(_filled(gs, outs), axis=axis),)
    return record_multi(fn, (x,), vjp)


def tile(x, repeats):
    """`x` repeated `repeats[i]` times along each axis (np.tile)."""
    reps = (repeats,) if isinstance(repeats, (int, np.integer)) else tuple(repeats)

    def vjp(out, a):
        ndim = builtins.max(a.ndim, len(reps))
        shape = (1,) * (ndim - a.ndim) + a.shape
        r = (1,) * (ndim - len(reps)) + reps
        interleaved = [n for pair in zip(r, shape) for n in pair]
        return lambda g: (np.reshape(g, interleaved).sum(axis=tuple(range(0, 2 * ndim, 2)))
                          .reshape(a.shape),)
    return record(lambda a: np.tile(a, reps), (x,), vjp)


def repeat(x, repeats, axis=None):
    """Each element repeated `repeats` (an int) times along `axis` (flattened when None)."""
    if not isinstance(repeats, (int, np.integer)):
        raise TypeError(f"lk.ops.repeat takes an int `repeats`, got {type(repeats).__name__}")

    def vjp(out, a):
        def grads(g):
            if axis is None:
                return (np.reshape(g, (-1, repeats)).sum(axis=1).reshape(a.shape),)
            ax = axis % a.ndim
            shape = a.shape[:ax] + (a.shape[ax], repeats) + a.shape[ax + 1:]
            return (np.reshape(g, shape).sum(axis=ax + 1),)
        return grads
    return record(lambda a: np.repeat(a, repeats, axis=axis), (x,), vjp)


def pad(x, pad_width, mode="constant", constant_values=None):
    """`x` padded by `pad_width` ((before, after) per axis) with a constant."""
    if mode != "constant":
        raise ValueError(f"lk.ops.pad supports mode='constant', got {mode!r}")
    value = 0 if constant_values is None else constant_values

    def vjp(out, a):
        widths = np.broadcast_to(np.asarray(pad_width), (a.ndim, 2))
        index = tuple(builtins.slice(int(lo), int(lo) + n) for (lo, _), n in zip(widths, a.shape))
        return lambda g: (g[index],)
    return record(lambda a: np.pad(a, pad_width, constant_values=value), (x,), vjp)


# -- selecting -----------------------------------------------------------------------------
def _index_value(key):
    if isinstance(key, tuple):
        return tuple(value_of(k) for k in key)
    return value_of(key)


def getitem(x, key):
    """`x[key]` with NumPy's basic and advanced indexing."""
    key = _index_value(key)

    def vjp(out, a):
        def grads(g):
            d = np.zeros_like(a)
            np.add.at(d, key, g)
            return (d,)
        return grads
    return record(lambda a: a[key], (x,), vjp)


def slice(inputs, start_indices, shape):  # noqa: A001 (keras.ops.slice)
    """The block of `inputs` starting at `start_indices` with shape `shape`."""
    key = tuple(builtins.slice(int(s), int(s) + int(n)) for s, n in zip(start_indices, shape))
    return getitem(inputs, key)


def take(x, indices, axis=None):
    """Elements of `x` at `indices` along `axis` (of the flattened `x` when None)."""
    idx = np.asarray(value_of(indices)).astype(np.int64)

    def fn(a):
        return np.take(a, idx, axis=axis)

    def vjp(out, a):
        def grads(g):
            d = np.zeros_like(a)
            if axis is None:
                np.add.at(d.reshape(-1), idx.reshape(-1), np.reshape(g, -1))
                return (d,)
            ax = axis % a.ndim
            # g: (pre..., idx..., post...) -> (idx..., pre..., post...), d viewed (n, pre, post)
            k = idx.ndim
            g_t = np.moveaxis(g, tuple(range(ax, ax + k)), tuple(range(k)))
            np.add.at(np.moveaxis(d, ax, 0), idx, g_t)
            return (d,)
        return grads
    return record(fn, (x,), vjp)


def take_along_axis(x, indices, axis=None):
    """`np.take_along_axis`: gathers `x` along `axis` with an index array of x's rank."""
    idx = np.asarray(value_of(indices)).astype(np.int64)

    def vjp(out, a):
        def grads(g):
            if axis is None:
                d = np.zeros(a.size, a.dtype)
                np.add.at(d, idx, g)
                return (d.reshape(a.shape),)
            ax = axis % a.ndim
            full = list(np.indices(np.shape(g), sparse=True))
            full[ax] = np.broadcast_to(idx, np.shape(g))
            d = np.zeros_like(a)
            np.add.at(d, tuple(full), g)
            return (d,)
        return grads
    return record(lambda a: np.take_along_axis(a, idx, axis=axis), (x,), vjp)
