"""Merge layers: `Concatenate`, `Add`, `Subtract`, `Multiply`, `Average`, `Maximum`,
`Minimum` (keras/src/layers/merging/).

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> a, b = np.ones((2, 3)), np.ones((2, 5))
    >>> lk.layers.Concatenate()([a, b]).shape
    (2, 8)
    >>> lk.layers.Add()([a, a]).tolist()[0]
    [2.0, 2.0, 2.0]
"""

from __future__ import annotations

import numpy as np

from .base import Layer


def _check_list(layer, inputs):
    if not isinstance(inputs, (list, tuple)) or len(inputs) < 1:
        raise ValueError(
            f"A merge layer ({layer.name!r}) should be called on a list of inputs. "
            f"Received: inputs={inputs!r}"
        )


class Add(Layer):
    """Element-wise sum of a list of same-shape inputs. Mask: OR of the masks (all given)."""

    supports_masking = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def compute_mask(self, inputs, mask=None):
        if mask is None or any(m is None for m in mask):
            return None
        return np.logical_or.reduce([np.asarray(m, bool) for m in mask])

    def call(self, inputs, training=False, mask=None):
        return self.forward(inputs)[0]

    def forward(self, inputs, training=False, mask=None, **kwargs):
        _check_list(self, inputs)
        out = inputs[0]
        for x in inputs[1:]:
            out = out + x
        return out, [x.shape for x in inputs]

    def backward(self, cache, d_outputs):
        return [_unbroadcast(d_outputs, s) for s in cache], []


class _Elementwise(Add):
    """Pairwise left-to-right merges, as Keras's `_merge_function` folds the inputs."""

    def _pair(self, a, b):
        raise NotImplementedError

    def _pair_grads(self, a, b, out):
        raise NotImplementedError

    def forward(self, inputs, training=False, mask=None, **kwargs):
        _check_list(self, inputs)
        partial = [inputs[0]]
        for x in inputs[1:]:
            partial.append(self._pair(partial[-1], x))
        return partial[-1], (list(inputs), partial)

    def backward(self, cache, d_outputs):
        inputs, partial = cache
        grads = [None] * len(inputs)
        d = d_outputs
        for i in range(len(inputs) - 1, 0, -1):
            d_left, d_right = self._pair_grads(partial[i - 1], inputs[i], partial[i])
            grads[i] = _unbroadcast(d * d_right, inputs[i].shape)
            d = _unbroadcast(d * d_left, partial[i - 1].shape)
        grads[0] = d
        return grads, []


class Subtract(_Elementwise):
    """`inputs[0] - inputs[1]` (exactly two inputs)."""

    def forward(self, inputs, training=False, mask=None, **kwargs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError("A `Subtract` layer should be called on exactly 2 inputs. "
                             f"Received: inputs={inputs!r}")
        return super().forward(inputs)

    def _pair(self, a, b):
        return a - b

    def _pair_grads(self, a, b, out):
        return 1.0, -1.0


class Multiply(_Elementwise):
    """Element-wise product."""

    def _pair(self, a, b):
        return a * b

    def _pair_grads(self, a, b, out):
        return b, a


class Maximum(_Elementwise):
    """Element-wise maximum; equal entries share the gradient (torch.maximum)."""

    def _pair(self, a, b):
        return np.maximum(a, b)

    def _pair_grads(self, a, b, out):
        left = (a > b) + 0.5 * (a == b)
        return left.astype(out.dtype), (1 - left).astype(out.dtype)


class Minimum(Maximum):
    """Element-wise minimum; equal entries share the gradient (torch.minimum)."""

    def _pair(self, a, b):
        return np.minimum(a, b)

    def _pair_grads(self, a, b, out):
        return super()._pair_grads(b, a, out)  # d_a = [b > a], d_b = [a > b] (+ ties)


class Average(Add):
    """Element-wise mean of the inputs."""

    def forward(self, inputs, training=False, mask=None, **kwargs):
        out, shapes = super().forward(inputs)
        return out / len(inputs), shapes

    def backward(self, cache, d_outputs):
        return super().backward(cache, d_outputs / len(cache))


class Concatenate(Layer):
    """Concatenation along `axis` (default -1). Mask: OR over the masks, None counted as all True.

    Args:
        axis: the axis to join on.
    """

    supports_masking = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def compute_output_shape(self, input_shape):
        shapes = [list(s) for s in input_shape]
        out = list(shapes[0])
        sizes = [s[self.axis] for s in shapes]
        out[self.axis] = None if any(d is None for d in sizes) else sum(sizes)
        return tuple(out)

    def compute_mask(self, inputs, mask=None):
        if mask is None or all(m is None for m in mask):
            return None
        # Keras expands each mask to its input's rank, concatenates on `axis` and reduces
        # with any(axis=-1); for (B, T) masks on (B, T, D) inputs that is an OR.
        expanded = []
        for x, m in zip(inputs, mask):
            x = np.asarray(x)
            m = np.ones(x.shape, bool) if m is None else np.asarray(m, bool)
            if m.ndim < x.ndim:
                m = np.broadcast_to(m[..., None], x.shape)
            expanded.append(m)
        return np.any(np.concatenate(expanded, axis=self.axis), axis=-1)

    def call(self, inputs, training=False, mask=None):
        return self.forward(inputs)[0]

    def forward(self, inputs, training=False, mask=None, **kwargs):
        _check_list(self, inputs)
        sizes = [x.shape[self.axis] for x in inputs]
        return np.concatenate(inputs, axis=self.axis), sizes

    def backward(self, cache, d_outputs):
        splits = np.cumsum(cache)[:-1]
        return list(np.split(d_outputs, splits, axis=self.axis)), []

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def _unbroadcast(grad, shape):
    """Sum `grad` down to `shape` (inverse of NumPy broadcasting)."""
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for i, s in enumerate(shape):
        if s == 1 and grad.shape[i] != 1:
            grad = grad.sum(axis=i, keepdims=True)
    return grad


# Keras's functional interfaces (keras/src/layers/merging/*.py): make the layer, call it.
def add(inputs, **kwargs):
    """`Add(**kwargs)(inputs)`."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """`Subtract(**kwargs)(inputs)`."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """`Multiply(**kwargs)(inputs)`."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """`Average(**kwargs)(inputs)`."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """`Maximum(**kwargs)(inputs)`."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """`Minimum(**kwargs)(inputs)`."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """`Concatenate(axis=axis, **kwargs)(inputs)`."""
    return Concatenate(axis=axis, **kwargs)(inputs)
