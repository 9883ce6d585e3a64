"""Activation layers with arguments: `ReLU`, `LeakyReLU`, `PReLU`, `ELU`, `Softmax`.

Formulas and configs follow keras/src/layers/activations/ (relu.py, leaky_relu.py,
prelu.py, elu.py, softmax.py) and keras/src/activations/activations.py `relu`. Each layer
has `forward`/`backward` for training; masks pass through (Keras sets
`supports_masking = True` on all five), and `Softmax` also uses the mask it gets.

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> lk.layers.ReLU(max_value=5.0, negative_slope=0.5)(np.array([-2.0, 3.0, 9.0])).tolist()
    [-1.0, 3.0, 5.0]
    >>> lk.layers.LeakyReLU(negative_slope=0.5)(np.array([-2.0, 3.0])).tolist()
    [-1.0, 3.0]
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import constraints as _constraints
from .. import initializers as _initializers
from .. import regularizers as _regularizers
from .base import Layer


class _Elementwise(Layer):
    """A weightless elementwise activation: subclasses give `_fn(x)` and `_grad(x)`."""

    supports_masking = True

    def compute_output_shape(self, input_shape):
        return input_shape

    def call(self, inputs, training=False, mask=None):
        return self._fn(inputs)

    def forward(self, inputs, training=False, mask=None, **kwargs):
        return self._fn(inputs), inputs

    def backward(self, cache, d_outputs):
        return (d_outputs * self._grad(cache)).astype(d_outputs.dtype, copy=False), []


class ReLU(_Elementwise):
    """`max_value`-clipped ReLU with a `negative_slope` below `threshold`.

    Args:
        max_value: float >= 0 or None (unbounded).
        negative_slope: float >= 0, the slope for x < threshold.
        threshold: float >= 0, below which values are damped or zeroed.

    Shapes: any -> same.
    """

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0.0:
            raise ValueError("max_value of a ReLU layer cannot be a negative value. "
                             f"Received: max_value={max_value}")
        if negative_slope is None or negative_slope < 0.0:
            raise ValueError("negative_slope of a ReLU layer cannot be None or a negative "
                             f"value. Received: negative_slope={negative_slope}")
        if threshold is None or threshold < 0.0:
            raise ValueError("threshold of a ReLU layer cannot be None or a negative value. "
                             f"Received: threshold={threshold}")
        self.max_value = max_value
        self.negative_slope = negative_slope
        self.threshold = threshold

    def _fn(self, x):
        dt = x.dtype
        # keras.activations.relu: the part above the threshold, clipped, minus the slope times
        # the part below it.
        y = np.where(x > self.threshold, x, 0).astype(dt) if self.threshold else np.maximum(x, 0)
        if self.max_value is not None:
            y = np.clip(y, 0, self.max_value).astype(dt)
        if self.negative_slope:
            y = y - dt.type(self.negative_slope) * np.maximum(dt.type(self.threshold) - x, 0)
        return y

    def _grad(self, x):
        above = x > self.threshold
        if self.max_value is not None:
            above &= x <= self.max_value
        return above + self.negative_slope * (x < self.threshold)

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value,
                "negative_slope": self.negative_slope, "threshold": self.threshold}


class LeakyReLU(_Elementwise):
    """`x` for x >= 0, `negative_slope * x` below.

    Args:
        negative_slope: float >= 0 (default 0.3); `alpha=` is Keras 3's deprecated name
            for it (a UserWarning, as Keras gives).

    Shapes: any -> same.
    """

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
            warnings.warn("Argument `alpha` is deprecated. Use `negative_slope` instead.",
                          stacklevel=2)
        super().__init__(**kwargs)
        if negative_slope is None or negative_slope < 0:
            raise ValueError(
                "The negative_slope value of a Leaky ReLU layer cannot be None or negative "
                f"value. Expected a float. Received: negative_slope={negative_slope}")
        self.negative_slope = negative_slope

    def _fn(self, x):
        return np.where(x >= 0, x, x * x.dtype.type(self.negative_slope))

    def _grad(self, x):
        return np.where(x >= 0, 1.0, self.negative_slope)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(_Elementwise):
    """`x` for x >= 0, `alpha * (exp(x) - 1)` below.

    Args:
        alpha: float, the saturation value for negative inputs (default 1.0).

    Shapes: any -> same.
    """

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = alpha

    def _fn(self, x):
        return np.where(x >= 0, x, x.dtype.type(self.alpha) * np.expm1(np.minimum(x, 0)))

    def _grad(self, x):
        return np.where(x >= 0, 1.0, self.alpha * np.exp(np.minimum(x, 0)))

    def get_config(self):
        # Keras writes ELU's config in this order (its constructor arguments, captured).
        base = super().get_config()
        return {"name": base["name"], "alpha": self.alpha, "trainable": base["trainable"],
                "dtype": base["dtype"]}


class PReLU(Layer):
    """`x` for x >= 0, `alpha * x` below, with a learned `alpha`.

    Args:
        alpha_initializer, alpha_regularizer, alpha_constraint: for the weight `alpha`.
        shared_axes: axes (1-based, as in the input shape) along which `alpha` is shared.

    Shapes: (B, ...) -> same. Weight: alpha of shape input_shape[1:], 1 on shared axes.
    """

    supports_masking = True

    def __init__(self, alpha_initializer="Zeros", alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = _initializers.get(alpha_initializer)
        self.alpha_regularizer = _regularizers.get(alpha_regularizer)
        self.alpha_constraint = _constraints.get(alpha_constraint)
        if shared_axes is None:
            self.shared_axes = None
        elif not isinstance(shared_axes, (list, tuple)):
            self.shared_axes = [shared_axes]
        else:
            self.shared_axes = list(shared_axes)
        self.alpha = None

    def build(self, input_shape):
        if self.alpha is not None:
            return
        param_shape = list(input_shape[1:])
        for i in self.shared_axes or []:
            param_shape[i - 1] = 1
        if any(d is None for d in param_shape):
            raise ValueError(f"PReLU {self.name!r} needs known dimensions on the axes it does "
                             f"not share, got input shape {tuple(input_shape)}")
        prefix = getattr(self, "_path_prefix", self.name)
        self.alpha = self.add_weight("alpha", tuple(param_shape), self.alpha_initializer,
                                     self.alpha_regularizer, self.alpha_constraint,
                                     path=f"{prefix}/alpha")
        self.built = True

    def compute_output_shape(self, input_shape):
        return input_shape

    def call(self, inputs, training=False, mask=None):
        return self.forward(inputs)[0]

    def forward(self, inputs, training=False, mask=None, **kwargs):
        neg = np.minimum(inputs, 0)  # -relu(-x)
        return np.maximum(inputs, 0) + self.alpha.value * neg, (inputs, neg)

    def backward(self, cache, d_outputs):
        x, neg = cache
        d_x = d_outputs * np.where(x > 0, 1, np.where(x < 0, self.alpha.value, 0))
        # alpha broadcasts over the batch axis and the shared axes: sum the gradient there.
        d_alpha = d_outputs * neg  # (B, ...)
        axes = (0, *(i for i, d in enumerate(self.alpha.shape, 1) if d == 1 and x.shape[i] != 1))
        d_alpha = d_alpha.sum(axis=axes, keepdims=True)[0]
        return d_x.astype(d_outputs.dtype, copy=False), ([d_alpha] if self.trainable else [])

    def get_config(self):
        return {**super().get_config(),
                "alpha_initializer": _initializers.serialize(self.alpha_initializer),
                "alpha_regularizer": _regularizers.serialize(self.alpha_regularizer),
                "alpha_constraint": _constraints.serialize(self.alpha_constraint),
                "shared_axes": self.shared_axes}


def _large_negative(dtype):
    # keras softmax.py `_large_negative_number`: -3e4 fits float16, -1e9 the others.
    return -3e4 if np.dtype(dtype) == np.float16 else -1e9


class Softmax(Layer):
    """Softmax over `axis` (an int or a list of axes); masked entries give 0.

    Args:
        axis: int or list of ints, the axes normalized over (default -1).

    Call arguments: `mask`, broadcastable to the inputs, True (or 1) to keep.

    Shapes: any -> same.
    """

    supports_masking = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def compute_output_shape(self, input_shape):
        return input_shape

    def _axes(self):
        return tuple(self.axis) if isinstance(self.axis, (list, tuple)) else self.axis

    def _check_mask(self, inputs, mask):
        mask = np.asarray(mask)
        if mask.ndim > inputs.ndim:
            raise ValueError(
                "The `mask` must be broadcastable to `inputs` and must not have more "
                f"dimensions. Received: inputs.shape={inputs.shape}, mask.shape={mask.shape}")
        for m_dim, i_dim in zip(mask.shape[::-1], inputs.shape[::-1]):
            if m_dim not in (1, i_dim):
                raise ValueError(
                    "The `mask` must be broadcastable to `inputs`. Each mask dimension must "
                    "be 1 or match the corresponding input dimension. Received: "
                    f"inputs.shape={inputs.shape}, mask.shape={mask.shape}")
        return mask if mask.dtype == bool else mask > 0.5

    def call(self, inputs, training=False, mask=None):
        return self.forward(inputs, mask=mask)[0]

    def forward(self, inputs, training=False, mask=None, **kwargs):
        if mask is not None:
            mask = self._check_mask(inputs, mask)
            inputs = np.where(mask, inputs, inputs.dtype.type(_large_negative(inputs.dtype)))
        axes = self._axes()
        shifted = inputs - np.max(inputs, axis=axes, keepdims=True)
        e = np.exp(shifted)
        y = e / np.sum(e, axis=axes, keepdims=True)
        if mask is not None:
            y = np.where(mask, y, 0).astype(inputs.dtype)
        return y, (y, mask)

    def backward(self, cache, d_outputs):
        y, mask = cache
        if mask is not None:
            d_outputs = np.where(mask, d_outputs, 0)
        d_x = y * (d_outputs - np.sum(d_outputs * y, axis=self._axes(), keepdims=True))
        return d_x.astype(y.dtype, copy=False), []

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


__all__ = ["ELU", "LeakyReLU", "PReLU", "ReLU", "Softmax"]
