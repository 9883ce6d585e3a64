"""`LayerNormalization` (keras/src/layers/normalization/layer_normalization.py).

y = (x - mean) / sqrt(var + epsilon) * gamma + beta over `axis` (default the last);
with `rms_scaling=True`, Keras 3.15's deprecated form y = x / sqrt(var(x) + epsilon) * gamma.

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> y = lk.layers.LayerNormalization()(np.array([[1.0, 3.0]], "float32"))
    >>> np.round(y, 3).tolist()
    [[-1.0, 1.0]]
"""

from __future__ import annotations

import numpy as np

from .. import constraints as _constraints
from .. import initializers as _initializers
from .. import regularizers as _regularizers
from .base import Layer


class LayerNormalization(Layer):
    """Normalize each sample over `axis`; weights gamma (scale) then beta (center).

    Args:
        axis: int or list of ints, the axes to normalize over (default -1).
        epsilon: added to the variance (default 1e-3, Keras's).
        center, scale: use beta / gamma.
        rms_scaling: Keras 3.15's deprecated option: x / sqrt(var(x) + epsilon) * gamma
            (no centering, no beta), computed as Keras computes it.
    """

    supports_masking = True

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, rms_scaling=False,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            self.axis = list(axis)
        elif isinstance(axis, (int, np.integer)):
            self.axis = int(axis)
        else:
            raise TypeError(f"Expected an int or a list/tuple of ints for the argument "
                            f"'axis', but received: {axis!r}")
        self.epsilon = epsilon
        self.center, self.scale, self.rms_scaling = bool(center), bool(scale), bool(rms_scaling)
        self.beta_initializer = _initializers.get(beta_initializer)
        self.gamma_initializer = _initializers.get(gamma_initializer)
        self.beta_regularizer = _regularizers.get(beta_regularizer)
        self.gamma_regularizer = _regularizers.get(gamma_regularizer)
        self.beta_constraint = _constraints.get(beta_constraint)
        self.gamma_constraint = _constraints.get(gamma_constraint)
        self.gamma = self.beta = None

    def build(self, input_shape):
        if self.built and (self.gamma is not None or self.beta is not None):
            return
        ndim = len(input_shape)
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        axes = [a + ndim if a < 0 else a for a in axes]
        if any(not 0 < a < ndim for a in axes):
            raise ValueError(f"Axis {self.axis} is out of bounds for input shape "
                             f"{tuple(input_shape)}")
        self._axes = tuple(sorted(axes))  # positive; `self.axis` stays as given (Keras's config)
        shape = tuple(input_shape[a] for a in sorted(axes))
        if any(d is None for d in shape):
            raise ValueError(f"The normalized axes of {self.name!r} must be known, got "
                             f"{tuple(input_shape)}")
        prefix = getattr(self, "_path_prefix", self.name)
        if self.scale:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer,
                                         self.gamma_regularizer, self.gamma_constraint,
                                         path=f"{prefix}/gamma")
        if self.center and not self.rms_scaling:
            self.beta = self.add_weight("beta", shape, self.beta_initializer,
                                        self.beta_regularizer, self.beta_constraint,
                                        path=f"{prefix}/beta")
        self._ndim = ndim
        self.built = True

    def _broadcast(self, w):
        shape = [1] * self._ndim
        for a, d in zip(self._axes, w.shape):
            shape[a] = d
        return w.value.reshape(shape)

    def compute_output_shape(self, input_shape):
        return input_shape

    def call(self, inputs, training=False, mask=None):
        return self.forward(inputs)[0]

    def forward(self, inputs, training=False, mask=None, **kwargs):
        ax = self._axes
        x = inputs
        if self.rms_scaling:
            # Keras 3.15's (deprecated) rms_scaling: x / sqrt(var(x) + epsilon), uncentered.
            inv = 1.0 / np.sqrt(np.var(x, axis=ax, keepdims=True) + self.epsilon)
            xhat = x * inv
        else:
            mean = np.mean(x, axis=ax, keepdims=True)
            var = np.mean(np.square(x - mean), axis=ax, keepdims=True)
            inv = 1.0 / np.sqrt(var + self.epsilon)
            xhat = (x - mean) * inv
        y = xhat * self._broadcast(self.gamma) if self.gamma is not None else xhat
        if self.beta is not None:
            y = y + self._broadcast(self.beta)
        return y.astype(inputs.dtype, copy=False), (x, xhat, inv)

    def backward(self, cache, d_outputs):
        x, xhat, inv = cache
        ax = self._axes
        rest = tuple(i for i in range(x.ndim) if i not in ax)
        d_weights = []
        if self.gamma is not None:
            d_weights.append(np.sum(d_outputs * xhat, axis=rest).reshape(self.gamma.shape))
        if self.beta is not None:
            d_weights.append(np.sum(d_outputs, axis=rest).reshape(self.beta.shape))
        g = d_outputs * self._broadcast(self.gamma) if self.gamma is not None else d_outputs
        if self.rms_scaling:
            xc = x - np.mean(x, axis=ax, keepdims=True)
            dx = inv * g - inv ** 3 * xc * np.mean(g * x, axis=ax, keepdims=True)
        else:
            dx = inv * (g - np.mean(g, axis=ax, keepdims=True)
                        - xhat * np.mean(g * xhat, axis=ax, keepdims=True))
        return dx.astype(x.dtype, copy=False), (d_weights if self.trainable else [])

    def get_config(self):
        axis = self.axis
        if self.built and not isinstance(axis, list):  # Keras lists the axis once built
            axis = [axis]
        return {
            **super().get_config(), "axis": axis, "epsilon": self.epsilon,
            "center": self.center, "scale": self.scale, "rms_scaling": self.rms_scaling,
            "beta_initializer": _initializers.serialize(self.beta_initializer),
            "gamma_initializer": _initializers.serialize(self.gamma_initializer),
            "beta_regularizer": _regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": _regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": _constraints.serialize(self.beta_constraint),
            "gamma_constraint": _constraints.serialize(self.gamma_constraint),
        }
