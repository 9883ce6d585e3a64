"""`Activation`: an activation function as a layer (keras/src/layers/activations/activation.py).

Also `activation_vjp`, the backward of any lstmkit activation, which `Dense` uses.

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> lk.layers.Activation("relu")(np.array([[-1.0, 2.0]])).tolist()
    [[0.0, 2.0]]
"""

from __future__ import annotations

import numpy as np

from .. import activations as _activations
from .base import Layer


def activation_vjp(activation, x, y, d_y):
    """d_x for y = activation(x) given d_y; softmax/log_softmax are not elementwise."""
    if activation.name == "linear":
        return d_y
    if activation.name == "softmax":
        return _activations.softmax_vjp(y, d_y)
    if activation.name == "log_softmax":
        return d_y - np.exp(y) * np.sum(d_y, axis=-1, keepdims=True)
    return (d_y * activation.grad(x, y)).astype(y.dtype, copy=False)


class Activation(Layer):
    """Applies an activation to its input; the mask passes through.

    Args:
        activation: a Keras activation name ("relu", "tanh", "softmax", ...) or None.

    Shapes: any -> same.
    """

    supports_masking = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = _activations.get(activation)

    def compute_output_shape(self, input_shape):
        return input_shape

    def call(self, inputs, training=False, mask=None):
        return self.activation(inputs)

    def forward(self, inputs, training=False, mask=None, **kwargs):
        y = self.activation(inputs)
        return y, (inputs, y)

    def backward(self, cache, d_outputs):
        x, y = cache
        return activation_vjp(self.activation, x, y, d_outputs), []

    def get_config(self):
        return {**_base_config(self), "activation": _activations.serialize(self.activation)}


def _base_config(layer):
    """name, trainable, dtype: the keys every Keras layer config starts with."""
    return Layer.get_config(layer)
