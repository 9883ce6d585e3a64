"""`Dense` and `Embedding` (keras/src/layers/core/dense.py, embedding.py).

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> lk.layers.Dense(3)(np.ones((2, 5), "float32")).shape
    (2, 3)
    >>> lk.layers.Embedding(10, 4, mask_zero=True)(np.array([[1, 0]])).shape
    (1, 2, 4)
"""

from __future__ import annotations

import numpy as np

from .. import _config
from .. import activations as _activations
from .. import constraints as _constraints
from .. import initializers as _initializers
from .. import regularizers as _regularizers
from .activation import activation_vjp
from .base import Layer


def store_kernel_bias_args(layer, activation, use_bias, kernel_initializer, bias_initializer,
                           kernel_regularizer, bias_regularizer, activity_regularizer,
                           kernel_constraint, bias_constraint):
    """Resolve and store the kernel/bias arguments Dense and Conv1D share (Keras's names);
    the weights themselves come in `build`."""
    layer.activation = _activations.get(activation)
    layer.use_bias = bool(use_bias)
    layer.kernel_initializer = _initializers.get(kernel_initializer)
    layer.bias_initializer = _initializers.get(bias_initializer)
    layer.kernel_regularizer = _regularizers.get(kernel_regularizer)
    layer.bias_regularizer = _regularizers.get(bias_regularizer)
    layer.activity_regularizer = _regularizers.get(activity_regularizer)
    layer.kernel_constraint = _constraints.get(kernel_constraint)
    layer.bias_constraint = _constraints.get(bias_constraint)
    layer.kernel = layer.bias = None


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(
            f"Received an invalid value for argument `{name}`, expected a positive integer, "
            f"got {value!r}."
        )
    return int(value)



def _no_quantization(layer, quantization_config):
    if quantization_config is not None:
        _config.warn_no_effect(type(layer).__name__, "quantization_config", quantization_config,
                               "lstmkit computes in float32 or float64, never quantized",
                               stacklevel=3)

class Dense(Layer):
    """`activation(inputs @ kernel + bias)` on the last axis.

    Args:
        units: positive int, the output size U.
        activation: a Keras activation name or None (linear).
        use_bias, kernel_initializer, bias_initializer: as in Keras; so are
            kernel_regularizer, bias_regularizer, activity_regularizer, kernel_constraint
            and bias_constraint.

    Shapes: (..., D) -> (..., U). Weights: kernel (D, U), bias (U,). The mask passes on.
    """

    supports_masking = True

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, lora_rank=None, lora_alpha=None,
                 quantization_config=None, **kwargs):
        super().__init__(**kwargs)
        if lora_rank:
            raise ValueError("lstmkit's Dense does not support LoRA (lora_rank)")
        _no_quantization(self, quantization_config)
        self.units = _positive_int(units, "units")
        store_kernel_bias_args(self, activation, use_bias, kernel_initializer, bias_initializer,
                               kernel_regularizer, bias_regularizer, activity_regularizer,
                               kernel_constraint, bias_constraint)

    def build(self, input_shape):
        if self.built and self.kernel is not None:
            return  # weights exist: building again must not add a second set
        input_dim = tuple(input_shape)[-1]
        if input_dim is None:
            raise ValueError(f"The last dimension of the inputs to {self.name!r} must be known")
        prefix = getattr(self, "_path_prefix", self.name)
        self.kernel = self.add_weight("kernel", (input_dim, self.units), self.kernel_initializer,
                                      self.kernel_regularizer, self.kernel_constraint,
                                      path=f"{prefix}/kernel")
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), self.bias_initializer,
                                        self.bias_regularizer, self.bias_constraint,
                                        path=f"{prefix}/bias")
        self.input_dim = int(input_dim)
        self.built = True

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:-1], self.units)

    def call(self, inputs, training=False, mask=None):
        return self.forward(inputs)[0]

    def forward(self, inputs, training=False, mask=None, **kwargs):
        if inputs.shape[-1] != self.input_dim:
            raise ValueError(
                f"Input 0 of layer {self.name!r} is incompatible with the layer: expected "
                f"axis -1 of input shape to have value {self.input_dim}, but received input "
                f"with shape {inputs.shape}"
            )
        z = inputs @ self.kernel.value  # (..., U)
        if self.use_bias:
            z = z + self.bias.value
        y = self.activation(z)
        return y, (inputs, z, y)

    def backward(self, cache, d_outputs):
        x, z, y = cache
        dz = activation_vjp(self.activation, z, y, d_outputs)  # (..., U)
        dz2 = dz.reshape(-1, self.units)
        d_kernel = x.reshape(-1, self.input_dim).T @ dz2  # (D, U)
        d_x = dz @ self.kernel.value.T  # (..., D)
        d_weights = [d_kernel] + ([dz2.sum(axis=0)] if self.use_bias else [])
        return d_x, (d_weights if self.trainable else [])

    def get_config(self):
        config = super().get_config()
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = _regularizers.serialize(self.activity_regularizer)
        config.update({
            "units": self.units,
            "activation": _activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": _initializers.serialize(self.kernel_initializer),
            "bias_initializer": _initializers.serialize(self.bias_initializer),
            "kernel_regularizer": _regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": _regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": _constraints.serialize(self.kernel_constraint),
            "bias_constraint": _constraints.serialize(self.bias_constraint),
            "quantization_config": None,
        })
        return config


class Embedding(Layer):
    """Integer ids -> dense vectors: `embeddings[ids]`.

    Args:
        input_dim: vocabulary size V (ids in [0, V)).
        output_dim: vector size E.
        embeddings_initializer: default "uniform" (RandomUniform(-0.05, 0.05)).
        mask_zero: id 0 is padding; the layer's mask is `ids != 0`.

    Shapes: (B, T) ints -> (B, T, E). Weight: embeddings (V, E).
    """

    _output_dtype = None  # set in __init__: outputs are float even though inputs are ints

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False,
                 weights=None, lora_rank=None, lora_alpha=None, activity_regularizer=None,
                 quantization_config=None, **kwargs):
        if kwargs.pop("input_length", None) is not None:  # Keras 3 warns the same
            _config.warn_once("Embedding(input_length)",
                              "Argument `input_length` is deprecated. Just remove it.")
        super().__init__(**kwargs)
        if lora_rank:
            raise ValueError("lstmkit's Embedding does not support LoRA (lora_rank)")
        _no_quantization(self, quantization_config)
        self.input_dim = _positive_int(input_dim, "input_dim")
        self.output_dim = _positive_int(output_dim, "output_dim")
        if embeddings_initializer == "uniform":
            embeddings_initializer = "random_uniform"
        self.embeddings_initializer = _initializers.get(embeddings_initializer)
        self.embeddings_regularizer = _regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = _constraints.get(embeddings_constraint)
        self.activity_regularizer = _regularizers.get(activity_regularizer)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        self._output_dtype = self.dtype
        self._initial_weights = weights
        self.embeddings = None

    def build(self, input_shape=None):
        if self.embeddings is not None:
            return
        prefix = getattr(self, "_path_prefix", self.name)
        self.embeddings = self.add_weight(
            "embeddings", (self.input_dim, self.output_dim), self.embeddings_initializer,
            self.embeddings_regularizer, self.embeddings_constraint, path=f"{prefix}/embeddings")
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None
        self.built = True

    def _convert_inputs(self, inputs):
        ids = np.asarray(inputs)
        if ids.dtype.kind == "f":
            if not np.all(ids == np.round(ids)):
                raise TypeError(f"Embedding {self.name!r} expects integer ids, got floats")
        elif ids.dtype.kind not in "biu":
            raise TypeError(f"Embedding {self.name!r} expects integer ids, got dtype {ids.dtype}")
        return ids.astype(np.int64)

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape), self.output_dim)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return np.asarray(inputs) != 0

    def call(self, inputs, training=False, mask=None):
        return self.forward(inputs)[0]

    def forward(self, inputs, training=False, mask=None, **kwargs):
        ids = self._convert_inputs(inputs)
        if ids.size and (ids.min() < 0 or ids.max() >= self.input_dim):
            raise ValueError(
                f"Embedding {self.name!r} got ids outside [0, {self.input_dim}): "
                f"min {ids.min()}, max {ids.max()}"
            )
        return self.embeddings.value[ids], ids  # (B, T, E)

    def backward(self, cache, d_outputs):
        ids = cache
        d_emb = np.zeros_like(self.embeddings.value)
        np.add.at(d_emb, ids.reshape(-1), d_outputs.reshape(-1, self.output_dim))
        return None, ([d_emb] if self.trainable else [])

    def get_config(self):
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": _initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": _regularizers.serialize(self.embeddings_regularizer),
            "activity_regularizer": _regularizers.serialize(self.activity_regularizer),
            "embeddings_constraint": _constraints.serialize(self.embeddings_constraint),
            "mask_zero": self.mask_zero,
            "quantization_config": None,
        }
