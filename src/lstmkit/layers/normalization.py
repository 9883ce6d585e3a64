"""`LayerNormalization` and `BatchNormalization` (keras/src/layers/normalization/).

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


class BatchNormalization(Layer):
    """Normalize with batch statistics in training and moving averages otherwise
    (keras/src/layers/normalization/batch_normalization.py).

    Weights: gamma, beta (trainable), moving_mean, moving_variance (updated in training:
    `moving = moving * momentum + batch * (1 - momentum)`). A (B, T) mask leaves padded
    steps out of the batch moments, as Keras's `_moments`.

    Args:
        axis: the feature axis (default -1); momentum (0.99), epsilon (1e-3), center,
            scale, initializers / regularizers / constraints as Keras.
    """

    supports_masking = True

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, synchronized=False, renorm=False, renorm_clipping=None,
                 renorm_momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        if renorm:
            raise ValueError("lstmkit's BatchNormalization does not support renorm=True")
        self.axis = int(axis)
        self.momentum, self.epsilon = momentum, epsilon
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = _initializers.get(beta_initializer)
        self.gamma_initializer = _initializers.get(gamma_initializer)
        self.moving_mean_initializer = _initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = _initializers.get(moving_variance_initializer)
        self.beta_regularizer = _regularizers.get(beta_regularizer)
        self.gamma_regularizer = _regularizers.get(gamma_regularizer)
        self.beta_constraint = _constraints.get(beta_constraint)
        self.gamma_constraint = _constraints.get(gamma_constraint)
        self.synchronized = synchronized
        self.renorm, self.renorm_clipping, self.renorm_momentum = False, None, renorm_momentum
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None

    def build(self, input_shape):
        if self.moving_mean is not None:
            return
        ndim = len(input_shape)
        self._ax = self.axis + ndim if self.axis < 0 else self.axis
        dim = input_shape[self._ax]
        prefix = getattr(self, "_path_prefix", self.name)
        if self.scale:
            self.gamma = self.add_weight("gamma", (dim,), self.gamma_initializer,
                                         self.gamma_regularizer, self.gamma_constraint,
                                         path=f"{prefix}/gamma")
        if self.center:
            self.beta = self.add_weight("beta", (dim,), self.beta_initializer,
                                        self.beta_regularizer, self.beta_constraint,
                                        path=f"{prefix}/beta")
        self.moving_mean = self.add_weight("moving_mean", (dim,), self.moving_mean_initializer,
                                           trainable=False, path=f"{prefix}/moving_mean")
        self.moving_variance = self.add_weight(
            "moving_variance", (dim,), self.moving_variance_initializer, trainable=False,
            path=f"{prefix}/moving_variance")
        self._ndim = ndim
        self.built = True

    def _shape(self, v):
        shape = [1] * self._ndim
        shape[self._ax] = -1
        return np.reshape(v, shape)

    def compute_output_shape(self, input_shape):
        return input_shape

    def call(self, inputs, training=False, mask=None):
        return self.forward(inputs, training=training, mask=mask)[0]

    def forward(self, inputs, training=False, mask=None, **kwargs):
        x = inputs
        axes = tuple(i for i in range(x.ndim) if i != self._ax)
        gamma = self._shape(self.gamma.value) if self.gamma is not None else 1.0
        beta = self._shape(self.beta.value) if self.beta is not None else 0.0
        if training and self.trainable:
            if mask is None:
                m, total = np.ones((1,) * x.ndim, x.dtype), np.prod([x.shape[a] for a in axes])
                total = x.dtype.type(total)
            else:
                m = np.expand_dims(np.asarray(mask, bool), -1).astype(x.dtype)
                m = np.broadcast_to(m, x.shape)
                total = np.sum(m, axis=axes, keepdims=True) + x.dtype.type(1e-7)
            mean = np.sum(x * m, axis=axes, keepdims=True) / total
            var = np.sum(m * np.square(x - mean), axis=axes, keepdims=True) / total
            mom = x.dtype.type(self.momentum)
            self.moving_mean.value = (self.moving_mean.value * mom + mean.reshape(-1)
                                      * (1 - mom)).astype(x.dtype)
            self.moving_variance.value = (self.moving_variance.value * mom + var.reshape(-1)
                                          * (1 - mom)).astype(x.dtype)
            batch = (m, total, mean)
        else:
            mean = self._shape(self.moving_mean.value)
            var = self._shape(self.moving_variance.value)
            batch = None
        r = 1.0 / np.sqrt(var + self.epsilon)
        xhat = (x - mean) * r
        y = (xhat * gamma + beta).astype(x.dtype, copy=False)
        return y, (x, xhat, r, batch, axes)

    def backward(self, cache, d_outputs):
        x, xhat, r, batch, axes = cache
        d_weights = []
        if self.gamma is not None:
            d_weights.append(np.sum(d_outputs * xhat, axis=axes))
        if self.beta is not None:
            d_weights.append(np.sum(d_outputs, axis=axes))
        g = d_outputs * (self._shape(self.gamma.value) if self.gamma is not None else 1.0)
        if batch is None:
            dx = g * r
        else:
            m, total, mean = batch
            xc = x - mean
            d_mean = -np.sum(g * r, axis=axes, keepdims=True)
            d_var = -0.5 * r ** 3 * np.sum(g * xc, axis=axes, keepdims=True)
            mx = np.sum(m * xc, axis=axes, keepdims=True)  # ~0 (exactly 0 without a mask)
            dx = g * r + m * d_mean / total + d_var * (2 * m * xc / total
                                                      - 2 * mx / total * m / total)
        return dx.astype(x.dtype, copy=False), (d_weights if self.trainable else [])

    def get_config(self):
        return {
            **super().get_config(), "axis": self.axis, "momentum": self.momentum,
            "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
            "beta_initializer": _initializers.serialize(self.beta_initializer),
            "gamma_initializer": _initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": _initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": _initializers.serialize(
                self.moving_variance_initializer),
            "beta_regularizer": _regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": _regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": _constraints.serialize(self.beta_constraint),
            "gamma_constraint": _constraints.serialize(self.gamma_constraint),
            "synchronized": self.synchronized, "renorm": self.renorm,
            "renorm_clipping": self.renorm_clipping, "renorm_momentum": self.renorm_momentum,
        }
