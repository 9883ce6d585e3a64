"""`Concatenate` and `Add` (keras/src/layers/merging/concatenate.py, add.py, base_merge.py).

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
