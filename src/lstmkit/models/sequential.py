"""`Sequential`: a stack of layers, one input, one output (keras/src/models/sequential.py).

Once the input shape is known (an `lk.Input` first, `input_shape=` on the first
layer, `build(shape)`, or the first call), the stack becomes a functional graph
with an `InputLayer`, and runs like `Model`.

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> model = lk.Sequential([lk.Input((10, 8)), lk.layers.LSTM(4), lk.layers.Dense(1)])
    >>> model.predict(np.zeros((2, 10, 8), "float32"), verbose=0).shape
    (2, 1)
"""

from __future__ import annotations

import numpy as np

from ..layers.base import Layer, unique_name
from ..layers.input_layer import InputLayer
from ..layers.node import KerasTensor
from .model import Functional


class Sequential(Functional):
    """`Sequential(layers=None, name=None)`; `.add(layer)` appends.

    Args:
        layers: a list of layers; it may start with `lk.Input(shape)`.
        name: the model's name ("sequential", "sequential_1", ...).
    """

    def __init__(self, layers=None, trainable=True, name=None, **kwargs):
        Layer.__init__(self, name=name or unique_name("sequential"), trainable=trainable,
                       **kwargs)
        from ._api import ModelAPI
        ModelAPI.__init__(self)
        self._stack: list = []
        self._input_layer = None
        self.built = False
        for layer in layers or []:
            self.add(layer, rebuild=False)
        self._maybe_build()

    def add(self, layer, rebuild=True):
        """Append a layer (or an `lk.Input` tensor, which must come first)."""
        if isinstance(layer, KerasTensor):
            layer = layer._keras_history[0]
        if isinstance(layer, InputLayer):
            if self._input_layer is not None or self._stack:
                raise ValueError("Sequential model: an Input can only be the first layer")
            self._input_layer = layer
            return
        if not isinstance(layer, Layer):
            raise ValueError(  # noqa: TRY004 (Keras raises ValueError)
                f"Only instances of `keras.Layer` can be added to a Sequential model. "
                f"Received: {layer!r} (of type {type(layer)})"
            )
        if any(existing.name == layer.name for existing in self._stack):
            raise ValueError(
                f"All layers added to a Sequential model should have unique names. Name "
                f"{layer.name!r} is already the name of a layer in this model."
            )
        if not self._stack and self._input_layer is None and layer._input_shape_arg:
            self._input_layer = InputLayer(batch_shape=layer._input_shape_arg)
        self._stack.append(layer)
        self.built = False
        if rebuild:
            self._maybe_build()

    def pop(self, rebuild=True):
        """Remove and return the last layer."""
        if not self._stack:
            raise TypeError("There are no layers in the model.")
        layer = self._stack.pop()
        self.built = False
        if rebuild:
            self._maybe_build()
        return layer

    def _maybe_build(self):
        if self._input_layer is not None and self._stack:
            self.build(self._input_layer.batch_shape)

    def build(self, input_shape=None):
        """Make the graph for inputs of `input_shape` (batch axis included)."""
        if self._input_layer is None:
            if input_shape is None:
                raise ValueError("You must provide an `input_shape` argument.")
            self._input_layer = InputLayer(batch_shape=tuple(input_shape))
        if not self._stack:
            raise ValueError(f"Sequential model {self.name!r} has no layers")
        # Keras builds a Sequential by making a Functional, which takes the next automatic
        # "functional" name: the models named after this one are numbered as in Keras.
        unique_name("functional")
        x = self._input_layer.output
        for layer in self._stack:
            if not layer.built:
                prefix = f"{self.name}/{layer.name}"
                layer._path_prefix = prefix
            x = layer(x)
            if isinstance(x, list):
                raise ValueError(  # noqa: TRY004 (Keras raises ValueError)
                    f"All layers in a Sequential model should have a single output tensor; "
                    f"layer {layer.name!r} returns {len(x)} (use a functional Model for "
                    f"return_state)"
                )
        self._init_graph(self._input_layer.output, x)

    def _ensure_built(self, x=None):
        """Build on first use; `x` is the first batch (its full shape is recorded, as Keras)."""
        if self.built:
            return
        if self._input_layer is None and x is not None:
            first = x if not isinstance(x, (list, tuple)) else x[0]
            shape = first.shape if isinstance(first, KerasTensor) else np.shape(first)
            dtype = first.dtype if isinstance(first, KerasTensor) else None
            if dtype is not None and not str(dtype).startswith("float"):
                self._input_layer = InputLayer(batch_shape=tuple(shape), dtype=dtype)
            self.build(tuple(shape))
        elif self._input_layer is not None:
            self.build(self._input_layer.batch_shape)
        else:
            raise ValueError(
                f"Sequential model {self.name!r} has not been built: give it an lk.Input, "
                f"call build(input_shape), or call it on data first"
            )

    def _shape_mismatch(self, tensor, arr) -> bool:
        # Keras's Sequential runs its layers one by one, without the functional model's
        # input check: only the rank must match (with or without an Input); each layer
        # checks the axes its weights need (an LSTM its features).
        return arr.ndim != len(tensor.shape)

    # As in Keras, a Sequential's `input` / `output` are those of its own first call as a
    # layer (use `inputs` / `outputs` for the graph's tensors).
    input = Layer.input
    output = Layer.output

    @property
    def layers(self):
        """The layers, without the InputLayer (as Keras lists them)."""
        return list(self._stack)

    @property
    def inputs(self):
        self._ensure_built()
        return self.__dict__["inputs"]

    @inputs.setter
    def inputs(self, value):
        self.__dict__["inputs"] = value

    def forward(self, inputs, training=False, mask=None, keep_cache=True, **kwargs):
        self._ensure_built(inputs)
        return super().forward(inputs, training=training, keep_cache=keep_cache)

    def __call__(self, inputs, training=None, mask=None):
        self._ensure_built(inputs)
        return super().__call__(inputs, training=training)

    def layer_inputs(self, layer_or_name, x):
        self._ensure_built(x)
        return super().layer_inputs(layer_or_name, x)

    def _find_layer(self, layer_or_name):
        if isinstance(layer_or_name, Layer) and layer_or_name is self._input_layer:
            return layer_or_name
        return super()._find_layer(layer_or_name)

    def get_config(self):
        from .config import sequential_config
        return sequential_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from .config import sequential_from_config
        return sequential_from_config(config, cls)
