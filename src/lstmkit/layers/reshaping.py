"""`Flatten` and `RepeatVector` (keras/src/layers/reshaping/flatten.py, repeat_vector.py).

Neither supports masking: as in Keras, a mask that reaches them is dropped.

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> lk.layers.Flatten()(np.ones((2, 3, 4))).shape
    (2, 12)
    >>> lk.layers.RepeatVector(5)(np.ones((2, 4))).shape
    (2, 5, 4)
"""

from __future__ import annotations

import math

import numpy as np

from .base import Layer


class Flatten(Layer):
    """(B, d1, d2, ...) -> (B, d1 * d2 * ...)."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError(f"data_format must be 'channels_last' or 'channels_first', "
                             f"got {data_format!r}")
        self.data_format = data_format or "channels_last"

    def compute_output_shape(self, input_shape):
        rest = tuple(input_shape)[1:]
        size = None if any(d is None for d in rest) else math.prod(rest)
        return (input_shape[0], size)

    def call(self, inputs, training=False, mask=None):
        return self.forward(inputs)[0]

    def forward(self, inputs, training=False, mask=None, **kwargs):
        x = inputs
        if self.data_format == "channels_first" and x.ndim > 2:
            x = np.moveaxis(x, 1, -1)
        return x.reshape(x.shape[0], -1), inputs.shape

    def backward(self, cache, d_outputs):
        shape = cache
        if self.data_format == "channels_first" and len(shape) > 2:
            moved = (shape[0], *shape[2:], shape[1])
            return np.moveaxis(d_outputs.reshape(moved), -1, 1), []
        return d_outputs.reshape(shape), []

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class RepeatVector(Layer):
    """(B, D) -> (B, n, D): the input repeated n times (the bridge of an encoder-decoder)."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
            raise TypeError(f"Expected an integer value for `n`. Received: n={n!r}")
        self.n = int(n)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def call(self, inputs, training=False, mask=None):
        return self.forward(inputs)[0]

    def forward(self, inputs, training=False, mask=None, **kwargs):
        if inputs.ndim != 2:
            raise ValueError(
                f"RepeatVector {self.name!r} expects (batch, features), got shape {inputs.shape}"
            )
        return np.repeat(inputs[:, None, :], self.n, axis=1), None  # (B, n, D)

    def backward(self, cache, d_outputs):
        return d_outputs.sum(axis=1), []

    def get_config(self):
        return {**super().get_config(), "n": self.n}
