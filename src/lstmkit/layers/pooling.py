"""`GlobalAveragePooling1D` and `GlobalMaxPooling1D` over time
(keras/src/layers/pooling/global_average_pooling1d.py, global_max_pooling1d.py).

The average respects a mask: padded steps are left out of the mean.

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> x = np.arange(12, dtype="float32").reshape(2, 3, 2)
    >>> lk.layers.GlobalAveragePooling1D()(x).tolist()
    [[2.0, 3.0], [8.0, 9.0]]
"""

from __future__ import annotations

import numpy as np

from .base import Layer


class _GlobalPooling1D(Layer):
    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError(f"data_format must be 'channels_last' or 'channels_first', "
                             f"got {data_format!r}")
        self.data_format = data_format or "channels_last"
        self.keepdims = bool(keepdims)

    @property
    def _axis(self):
        return 1 if self.data_format == "channels_last" else 2

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        if self.keepdims:
            shape[self._axis] = 1
        else:
            del shape[self._axis]
        return tuple(shape)

    def compute_mask(self, inputs, mask=None):
        return None

    def call(self, inputs, training=False, mask=None):
        return self.forward(inputs, mask=mask)[0]

    def _check(self, inputs):
        if inputs.ndim != 3:
            raise ValueError(f"{type(self).__name__} {self.name!r} expects (batch, steps, "
                             f"features), got shape {inputs.shape}")

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format,
                "keepdims": self.keepdims}


class GlobalAveragePooling1D(_GlobalPooling1D):
    """Mean over time: (B, T, D) -> (B, D); with a mask, the mean of the unmasked steps."""

    supports_masking = True

    def forward(self, inputs, training=False, mask=None, **kwargs):
        self._check(inputs)
        ax = self._axis
        if mask is None:
            weights = np.full(inputs.shape[ax], 1.0 / inputs.shape[ax], inputs.dtype)
            weights = weights.reshape((1, -1, 1) if ax == 1 else (1, 1, -1))
            weights = np.broadcast_to(weights, inputs.shape)
        else:
            m = np.expand_dims(np.asarray(mask, bool), 2 if ax == 1 else 1)  # (B, T, 1)
            w = m.astype(inputs.dtype)
            weights = np.broadcast_to(w / w.sum(axis=ax, keepdims=True), inputs.shape)
        out = np.sum(inputs * weights, axis=ax, keepdims=self.keepdims)
        return out.astype(inputs.dtype, copy=False), weights

    def backward(self, cache, d_outputs):
        weights = cache
        d = d_outputs if self.keepdims else np.expand_dims(d_outputs, self._axis)
        return d * weights, []


class GlobalMaxPooling1D(_GlobalPooling1D):
    """Max over time: (B, T, D) -> (B, D). Ties share the gradient equally (torch's amax)."""

    supports_masking = False  # as Keras 3 sets it

    def forward(self, inputs, training=False, mask=None, **kwargs):
        self._check(inputs)
        out = np.max(inputs, axis=self._axis, keepdims=True)
        hit = (inputs == out).astype(inputs.dtype)
        share = hit / hit.sum(axis=self._axis, keepdims=True)
        return (out if self.keepdims else np.squeeze(out, self._axis)), share

    def backward(self, cache, d_outputs):
        d = d_outputs if self.keepdims else np.expand_dims(d_outputs, self._axis)
        return d * cache, []

# Keras's other names for the same classes.
GlobalAvgPool1D, GlobalMaxPool1D = GlobalAveragePooling1D, GlobalMaxPooling1D
