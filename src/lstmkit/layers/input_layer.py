"""`InputLayer` and `Input`: the entry of a model (keras/src/layers/core/input_layer.py).

`lk.Input(shape=(T, D))` returns a symbolic `KerasTensor` of shape (None, T, D);
calling layers on it records the graph that `lk.Model(inputs, outputs)` runs.

Example:
    >>> import lstmkit as lk
    >>> x = lk.Input(shape=(10, 8), name="seq")
    >>> x.shape
    (None, 10, 8)
"""

from __future__ import annotations

import numpy as np

from .base import Layer, to_snake_case, unique_name
from .node import KerasTensor, Node


def _standardize_dtype(dtype) -> str:
    if dtype is None:
        from .. import _config
        return _config.floatx()
    if isinstance(dtype, dict):
        dtype = dtype.get("config", {}).get("name")
    try:
        return np.dtype(getattr(dtype, "name", dtype)).name if dtype != "bool" else "bool"
    except TypeError as err:
        raise TypeError(f"Input dtype must be a dtype name like 'float32', got {dtype!r}") from err


class InputLayer(Layer):
    """The layer behind `Input`: no weights, one output, the symbolic input tensor.

    Args:
        shape: the shape without the batch axis, e.g. (T, D); None entries are unknown.
        batch_size: optional fixed batch size (needed by stateful LSTMs).
        dtype: the input's dtype, e.g. "float32" or "int32" (for Embedding).
        batch_shape: the full shape including the batch axis (instead of shape/batch_size).
        name: the layer's name ("input_layer", "input_layer_1", ...).
    """

    supports_masking = False  # as Keras 3 sets it

    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None,
                 input_tensor=None, optional=False, name=None, ragged=None, **kwargs):
        kwargs.pop("input_shape", None)
        if sparse:
            raise ValueError("lstmkit does not support sparse inputs (sparse=True)")
        if ragged:
            raise ValueError("lstmkit does not support ragged inputs (ragged=True)")
        if shape is not None and batch_shape is not None:
            raise ValueError("You cannot pass both `shape` and `batch_shape` at the same time.")
        if shape is None and batch_shape is None and input_tensor is None:
            raise ValueError("You must pass a `shape` argument.")
        if batch_shape is None:
            if shape is None:
                shape = input_tensor.shape[1:]
            if isinstance(shape, (int, np.integer)):
                shape = (shape,)
            if not isinstance(shape, (list, tuple)):
                raise TypeError(f"shape must be a tuple like (timesteps, features), got {shape!r}")
            batch_shape = (batch_size, *shape)
        batch_shape = tuple(None if d is None else int(d) for d in batch_shape)
        in_dtype = _standardize_dtype(dtype)
        kwargs.pop("trainable", None)
        super().__init__(name=name or unique_name("input_layer"), **kwargs)
        self._batch_shape = batch_shape
        self._input_dtype = in_dtype
        self.optional = bool(optional)
        self.built = True
        tensor = KerasTensor(batch_shape, in_dtype, name=self.name)
        Node(self, (), {}, tensor)  # `self.output` is this tensor (Layer.output)

    batch_shape = property(lambda self: self._batch_shape)

    def forward(self, inputs, training=False, mask=None, **kwargs):
        return inputs, None

    def backward(self, cache, d_outputs):
        return d_outputs, []

    def compute_output_shape(self, input_shape):
        return self._batch_shape

    def get_config(self):
        return {"batch_shape": list(self._batch_shape), "dtype": self._input_dtype,
                "sparse": False, "ragged": False, "name": self.name,
                "optional": self.optional}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("input_shape", None)
        return cls(**config)


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None,
          tensor=None, optional=False):
    """A symbolic input tensor for a functional model, as `keras.Input`.

    Args:
        shape: the shape without the batch axis, e.g. (timesteps, features).
        batch_size: optional static batch size.
        dtype: "float32" (default) or an int type for `Embedding` inputs.
        batch_shape: the full shape with the batch axis, instead of shape/batch_size.
        name: the input's name.

    Returns:
        A `KerasTensor` of shape (batch_size, *shape).
    """
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse,
                       batch_shape=batch_shape, name=name, input_tensor=tensor,
                       optional=optional)
    return layer.output


__all__ = ["Input", "InputLayer", "to_snake_case"]
