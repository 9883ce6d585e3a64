"""`Conv1D`, `MaxPooling1D`, `AveragePooling1D` (keras/src/layers/convolutional/conv1d.py,
pooling/): the front of a CNN-LSTM, channels_last, "valid" / "same" (and "causal" for Conv1D)
padding as TensorFlow pads (the extra pad goes at the end).

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> lk.layers.Conv1D(4, 3)(np.ones((2, 10, 3), "float32")).shape
    (2, 8, 4)
    >>> lk.layers.MaxPooling1D(2)(np.ones((2, 8, 4), "float32")).shape
    (2, 4, 4)
"""

from __future__ import annotations

import numpy as np

from .. import activations as _activations
from .. import constraints as _constraints
from .. import initializers as _initializers
from .. import regularizers as _regularizers
from .activation import activation_vjp
from .base import Layer
from .core import store_kernel_bias_args


def _tuple1(value, name):
    value = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    if len(value) != 1 or not isinstance(value[0], (int, np.integer)) or value[0] <= 0:
        raise ValueError(f"`{name}` must be a positive int (or a 1-tuple), got {value!r}")
    return (int(value[0]),)


def _padding(T, k, stride, dilation, padding):
    """(pad_left, pad_right, T_out) for a window of k taps (dilated) over T steps."""
    span = dilation * (k - 1) + 1
    if padding == "valid":
        out = (T - span) // stride + 1
        if out <= 0:
            raise ValueError(f"Computed output size would be zero or negative: {T} steps, "
                             f"window {span}, stride {stride}")
        return 0, 0, out
    if padding == "causal":
        return span - 1, 0, (T - 1) // stride + 1
    out = (T - 1) // stride + 1  # "same"
    total = max((out - 1) * stride + span - T, 0)
    return total // 2, total - total // 2, out


def _windows(x, k, stride, dilation, out):
    """(B, T_out, k, C) views: x[b, t*stride + j*dilation, c]."""
    idx = np.arange(out)[:, None] * stride + np.arange(k)[None, :] * dilation  # (T_out, k)
    return x[:, idx, :], idx


class Conv1D(Layer):
    """1-D convolution over time: (B, T, C) -> (B, T_out, filters); kernel (k, C, filters).

    Args:
        filters, kernel_size, strides, padding, dilation_rate: as Keras (padding "valid",
            "same" or "causal"); so are activation, use_bias, the initializers,
            regularizers and constraints.
    """

    supports_masking = False

    def __init__(self, filters, kernel_size, strides=1, padding="valid",
                 data_format=None, dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError("lstmkit's Conv1D supports data_format='channels_last' only")
        if groups != 1:
            raise ValueError("lstmkit's Conv1D supports groups=1 only")
        if padding not in ("valid", "same", "causal"):
            raise ValueError(f"`padding` must be 'valid', 'same' or 'causal', got {padding!r}")
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or \
                filters <= 0:
            raise ValueError(f"Invalid value for argument `filters`. Expected a strictly "
                             f"positive value. Received filters={filters}.")
        self.filters = int(filters)
        self.kernel_size = _tuple1(kernel_size, "kernel_size")
        self.strides = _tuple1(strides, "strides")
        self.dilation_rate = _tuple1(dilation_rate, "dilation_rate")
        self.padding, self.data_format, self.groups = padding, "channels_last", 1
        store_kernel_bias_args(self, activation, use_bias, kernel_initializer, bias_initializer,
                               kernel_regularizer, bias_regularizer, activity_regularizer,
                               kernel_constraint, bias_constraint)

    def build(self, input_shape):
        if self.kernel is not None:
            return
        channels = input_shape[-1]
        prefix = getattr(self, "_path_prefix", self.name)
        self.kernel = self.add_weight(
            "kernel", (*self.kernel_size, channels, self.filters), self.kernel_initializer,
            self.kernel_regularizer, self.kernel_constraint, path=f"{prefix}/kernel")
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer,
                                        self.bias_regularizer, self.bias_constraint,
                                        path=f"{prefix}/bias")
        self.built = True

    def compute_output_shape(self, input_shape):
        T = input_shape[1]
        out = None if T is None else _padding(T, self.kernel_size[0], self.strides[0],
                                              self.dilation_rate[0], self.padding)[2]
        return (input_shape[0], out, self.filters)

    def call(self, inputs, training=False, mask=None):
        return self.forward(inputs)[0]

    def forward(self, inputs, training=False, mask=None, **kwargs):
        B, T, C = inputs.shape
        k, s, d = self.kernel_size[0], self.strides[0], self.dilation_rate[0]
        left, right, out = _padding(T, k, s, d, self.padding)
        xp = np.pad(inputs, ((0, 0), (left, right), (0, 0)))
        win, idx = _windows(xp, k, s, d, out)  # (B, T_out, k, C)
        z = win.reshape(B, out, k * C) @ self.kernel.value.reshape(k * C, self.filters)
        if self.use_bias:
            z = z + self.bias.value
        y = self.activation(z)
        return y, (inputs.shape, xp.shape, win, idx, left, z, y)

    def backward(self, cache, d_outputs):
        shape, padded, win, idx, left, z, y = cache
        B, out, k, C = win.shape
        dz = activation_vjp(self.activation, z, y, d_outputs)  # (B, T_out, F)
        dz2 = dz.reshape(B * out, self.filters)
        d_kernel = (win.reshape(B * out, k * C).T @ dz2).reshape(self.kernel.shape)
        d_win = (dz2 @ self.kernel.value.reshape(k * C, self.filters).T).reshape(B, out, k, C)
        d_xp = np.zeros(padded, d_win.dtype)
        for j in range(k):  # scatter each tap back onto its time steps
            np.add.at(d_xp, (slice(None), idx[:, j]), d_win[:, :, j])
        d_x = d_xp[:, left:left + shape[1]]
        d_weights = [d_kernel] + ([dz2.sum(axis=0)] if self.use_bias else [])
        return d_x, (d_weights if self.trainable else [])

    def get_config(self):
        return {
            **super().get_config(), "filters": self.filters,
            "kernel_size": self.kernel_size, "strides": self.strides, "padding": self.padding,
            "data_format": self.data_format, "dilation_rate": self.dilation_rate,
            "groups": self.groups, "activation": _activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": _initializers.serialize(self.kernel_initializer),
            "bias_initializer": _initializers.serialize(self.bias_initializer),
            "kernel_regularizer": _regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": _regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": _regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": _constraints.serialize(self.kernel_constraint),
            "bias_constraint": _constraints.serialize(self.bias_constraint),
        }


class _Pooling1D(Layer):

    supports_masking = False  # as Keras 3 sets it
    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None,
                 name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"lstmkit's {type(self).__name__} supports channels_last only")
        if padding not in ("valid", "same"):
            raise ValueError(f"`padding` must be 'valid' or 'same', got {padding!r}")
        self.pool_size = _tuple1(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else _tuple1(strides, "strides")
        self.padding, self.data_format = padding, "channels_last"

    def compute_output_shape(self, input_shape):
        T = input_shape[1]
        out = None if T is None else _padding(T, self.pool_size[0], self.strides[0], 1,
                                              self.padding)[2]
        return (input_shape[0], out, input_shape[2])

    def call(self, inputs, training=False, mask=None):
        return self.forward(inputs)[0]

    def _windows(self, x, fill):
        T = x.shape[1]
        left, right, out = _padding(T, self.pool_size[0], self.strides[0], 1, self.padding)
        xp = np.pad(x, ((0, 0), (left, right), (0, 0)), constant_values=fill)
        valid = np.pad(np.ones(T, bool), (left, right))
        win, idx = _windows(xp, self.pool_size[0], self.strides[0], 1, out)
        return win, idx, valid[idx], left, xp.shape  # (B, out, k, C), (out, k), (out, k)

    def _scatter(self, d_win, idx, left, padded, T):
        d_xp = np.zeros(padded, d_win.dtype)
        for j in range(idx.shape[1]):
            np.add.at(d_xp, (slice(None), idx[:, j]), d_win[:, :, j])
        return d_xp[:, left:left + T]

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "padding": self.padding,
                "strides": self.strides, "data_format": self.data_format}


class MaxPooling1D(_Pooling1D):
    """Max over windows of `pool_size` steps; ties share the gradient (torch's amax)."""

    def forward(self, inputs, training=False, mask=None, **kwargs):
        win, idx, _, left, padded = self._windows(inputs, -np.inf)
        y = win.max(axis=2)  # (B, out, C)
        hit = (win == y[:, :, None]).astype(inputs.dtype)
        share = hit / hit.sum(axis=2, keepdims=True)
        return y, (share, idx, left, padded, inputs.shape[1])

    def backward(self, cache, d_outputs):
        share, idx, left, padded, T = cache
        return self._scatter(d_outputs[:, :, None] * share, idx, left, padded, T), []


class AveragePooling1D(_Pooling1D):
    """Mean over windows of `pool_size` steps ("same" averages the real steps only)."""

    def forward(self, inputs, training=False, mask=None, **kwargs):
        win, idx, valid, left, padded = self._windows(inputs, 0)
        count = valid.sum(axis=1).astype(inputs.dtype)[None, :, None]  # (1, out, 1)
        y = win.sum(axis=2) / count
        return y.astype(inputs.dtype, copy=False), (valid, count, idx, left, padded,
                                                    inputs.shape[1])

    def backward(self, cache, d_outputs):
        valid, count, idx, left, padded, T = cache
        d_win = (d_outputs / count)[:, :, None, :] * valid[None, :, :, None]
        return self._scatter(d_win.astype(d_outputs.dtype), idx, left, padded, T), []

# Keras's other names for the same classes.
AvgPool1D, Convolution1D, MaxPool1D = AveragePooling1D, Conv1D, MaxPooling1D
