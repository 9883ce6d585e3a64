"""`Normalization` with a given mean and variance (keras/src/layers/preprocessing/normalization.py).

`(x - mean) / max(sqrt(variance), epsilon)`, or with `invert=True` the inverse
`mean + x * max(sqrt(variance), epsilon)`. lstmkit uses it to keep a
forecaster's scaling inside the saved model, so a loaded model predicts in the
data's own units in lstmkit and in Keras alike.

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> norm = lk.layers.Normalization(mean=10.0, variance=4.0)
    >>> norm(np.array([[12.0]])).tolist()
    [[1.0]]
"""

from __future__ import annotations

import numpy as np

from .base import Layer

EPSILON = 1e-7  # keras.config.epsilon()


class Normalization(Layer):
    """Feature-wise standardization along `axis` (-1) with a fixed mean and variance.

    Args:
        axis: the feature axis kept (-1 by default), or None for one scalar mean/variance.
        mean, variance: scalars or per-feature lists; or set them with `adapt(data)`.
        invert: apply the inverse (de-standardize), e.g. on a forecaster's output.
    """

    supports_masking = True  # as Keras 3 sets it

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if (mean is None) != (variance is None):
            raise ValueError(
                "Normalization needs both mean and variance, or neither (then call adapt()); "
                f"got mean={mean!r}, variance={variance!r}"
            )
        # Keras keeps `axis` as a tuple: () for one scalar mean, (-1,) per feature.
        self.axis = () if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)
        if len(self.axis) > 1:
            raise ValueError(f"lstmkit's Normalization keeps at most one axis, got {axis!r}")
        self.invert = bool(invert)
        self.input_mean = mean
        self.input_variance = variance

    def adapt(self, data):
        """Set mean and variance from data (B, ..., F): per feature along `axis`."""
        data = np.asarray(data, dtype="float64")
        if not self.axis:
            self.input_mean, self.input_variance = float(data.mean()), float(data.var())
            return
        axis = self.axis[0] % data.ndim
        reduce = tuple(d for d in range(data.ndim) if d != axis)
        self.input_mean = data.mean(axis=reduce).tolist()
        self.input_variance = data.var(axis=reduce).tolist()

    def _stats(self, ndim):
        if self.input_mean is None:
            raise ValueError(
                f"Normalization layer {self.name!r} has no mean/variance: pass them or call adapt()"
            )
        mean = np.asarray(self.input_mean, self.dtype)
        scale = np.maximum(np.sqrt(np.asarray(self.input_variance, self.dtype)), EPSILON)
        if self.axis and mean.ndim == 1:
            shape = [1] * ndim
            shape[self.axis[0]] = mean.shape[0]
            mean, scale = mean.reshape(shape), scale.reshape(shape)
        return mean, scale.astype(self.dtype)

    def build(self, input_shape):
        if self.axis and self.input_mean is not None:
            size = np.size(self.input_mean)
            features = input_shape[self.axis[0]]
            if size != 1 and features is not None and size != features:
                raise ValueError(
                    f"Normalization {self.name!r} has {size} means but the input has "
                    f"{features} features on axis {self.axis[0]}"
                )
        self.built = True

    def call(self, inputs):
        return self.forward(inputs)[0]

    def forward(self, inputs, training=False, mask=None, **kwargs):
        mean, scale = self._stats(np.ndim(inputs))
        out = mean + inputs * scale if self.invert else (inputs - mean) / scale
        return out.astype(self.dtype, copy=False), scale

    def backward(self, cache, d_outputs):
        scale = cache
        return (d_outputs * scale if self.invert else d_outputs / scale), []

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "invert": self.invert,
            "mean": np.array(self.input_mean).tolist(),
            "variance": np.array(self.input_variance).tolist(),
        }
