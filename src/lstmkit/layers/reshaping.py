"""`Flatten`, `RepeatVector`, `Reshape`, `Permute` (keras/src/layers/reshaping/).

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

    supports_masking = False  # as Keras 3 sets it

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

    supports_masking = False  # as Keras 3 sets it

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


class Reshape(Layer):
    """(B, ...) -> (B, *target_shape); one entry of target_shape may be -1."""

    supports_masking = False  # as Keras 3 sets it

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)
        if sum(d == -1 for d in self.target_shape) > 1:
            raise ValueError(f"There can only be one -1 in target_shape, got {target_shape}")

    def compute_output_shape(self, input_shape):
        if -1 not in self.target_shape:
            return (input_shape[0], *self.target_shape)
        rest = tuple(input_shape)[1:]
        if any(d is None for d in rest):
            return (input_shape[0], *(None if d == -1 else d for d in self.target_shape))
        known = math.prod(d for d in self.target_shape if d != -1)
        return (input_shape[0], *(math.prod(rest) // known if d == -1 else d
                                  for d in self.target_shape))

    def call(self, inputs, training=False, mask=None):
        return self.forward(inputs)[0]

    def forward(self, inputs, training=False, mask=None, **kwargs):
        return inputs.reshape(inputs.shape[0], *self.target_shape), inputs.shape

    def backward(self, cache, d_outputs):
        return d_outputs.reshape(cache), []

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}


class Permute(Layer):
    """Permute the non-batch axes: `dims` is 1-based, e.g. (2, 1) swaps time and features."""

    supports_masking = False  # as Keras 3 sets it

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(int(d) for d in dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(
                f"Invalid permutation argument `dims` for Permute Layer. The set of indices "
                f"in `dims` must be consecutive and start from 1. Received dims={dims}"
            )

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *(input_shape[d] for d in self.dims))

    def call(self, inputs, training=False, mask=None):
        return self.forward(inputs)[0]

    def forward(self, inputs, training=False, mask=None, **kwargs):
        return np.transpose(inputs, (0, *self.dims)), None

    def backward(self, cache, d_outputs):
        return np.transpose(d_outputs, np.argsort((0, *self.dims))), []

    def get_config(self):
        return {**super().get_config(), "dims": self.dims}
