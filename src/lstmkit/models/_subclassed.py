"""Subclassed models: `class MyModel(lk.Model)` with `__init__`, `build`, `call`.

As in Keras, the layers a model uses are the ones assigned to its attributes
(also in lists and dicts), in assignment order; its weights are its own
(`add_weight`) then theirs. `call` trains through the tape
(`lstmkit.layers._custom`), so `fit`, `evaluate`, `predict`, `train_on_batch`,
`save_weights` / `load_weights` work as for a functional model. The first call
(or `fit`, `build`) fixes the number of inputs and outputs.

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> class Forecast(lk.Model):
    ...     def __init__(self, units, **kwargs):
    ...         super().__init__(**kwargs)
    ...         self.lstm = lk.layers.LSTM(units)
    ...         self.dense = lk.layers.Dense(1)
    ...     def call(self, inputs, training=None):
    ...         return self.dense(self.lstm(inputs, training=training))
    >>> model = Forecast(4)
    >>> model.compile(optimizer="adam", loss="mse")
    >>> history = model.fit(np.zeros((8, 5, 3)), np.zeros((8, 1)), verbose=0)
    >>> model.predict(np.zeros((2, 5, 3)), verbose=0).shape
    (2, 1)
"""

from __future__ import annotations

import numpy as np

from ..layers import _custom, _traced
from ..layers.base import Layer, to_snake_case, unique_name
from ..layers.node import KerasTensor, flatten
from ._api import ModelAPI


def inject_functional(cls, model_cls, functional_cls):
    """Make a `Model` subclass built from tensors a `Functional` subclass (as Keras's
    `inject_functional_model_class` does)."""
    if model_cls not in cls.__bases__:
        raise TypeError(f"{cls.__name__}: a model built from inputs and outputs must derive "
                        f"from lk.Model directly")
    cls.__bases__ = tuple(functional_cls if b is model_cls else b for b in cls.__bases__)


def _unknown_batch(shape):
    """`shape` (or each of a list of shapes) with None for its batch size."""
    if shape and isinstance(shape[0], (list, tuple)):
        return type(shape)(_unknown_batch(s) for s in shape)
    return (None, *tuple(shape)[1:])


class SubclassedModel:
    """What `lk.Model` does for a subclass with its own `call` (mixed into `Model`)."""

    def __init__(self, name=None, trainable=True, dtype=None, **kwargs):
        Layer.__init__(self, name=name or unique_name(to_snake_case(type(self).__name__)),
                       trainable=trainable, dtype=dtype, **kwargs)
        ModelAPI.__init__(self)
        self.inputs = self.outputs = None
        self._multi_input = self._multi_output = False

    @property
    def layers(self) -> list:
        """The layers assigned to the model's attributes, in assignment order."""
        return _custom.tracked_layers(self)

    @property
    def input_names(self):
        return [f"input_{i + 1}" if len(self.inputs) > 1 else "input"
                for i in range(len(self.inputs))]

    @property
    def output_names(self):
        return [f"output_{i + 1}" if len(self.outputs) > 1 else "output"
                for i in range(len(self.outputs))]

    def build(self, input_shape=None):
        """Create the weights by running `call` on zeros of `input_shape` (batch 1)."""
        self.built = True
        self._after_build(input_shape)

    def _after_build(self, input_shape):
        """After `build` (the default or the subclass's): run `call` once on zeros of
        `input_shape`, so every sublayer has its weights (as Keras builds a model)."""
        if input_shape is None or self.inputs is not None:
            return

        def zeros(shape):
            return np.zeros(tuple(1 if d is None else d for d in shape), self.dtype)

        multi = isinstance(input_shape, list) and input_shape and isinstance(
            input_shape[0], (list, tuple))
        self._ensure_built([zeros(s) for s in input_shape] if multi else zeros(input_shape))
        if (input_shape[0] if multi else input_shape)[0] is None:
            for layer in self.layers:  # built on a batch of 1 for an unknown batch size
                shape = getattr(layer, "_build_input_shape", None)
                if shape is not None:
                    layer._build_input_shape = _unknown_batch(shape)

    def _standardize_inputs(self, x) -> list:
        if isinstance(x, dict):
            raise TypeError("A subclassed model takes its inputs as an array or a list")
        xs = list(x) if isinstance(x, (list, tuple)) else [x]
        out = []
        for a in xs:
            if hasattr(a, "detach") and hasattr(a, "numpy"):
                a = a.detach().cpu().numpy()
            a = np.asarray(a)
            if a.dtype.kind not in "biuf":
                raise TypeError(f"Inputs must be numeric, got dtype {a.dtype}")
            out.append(a.astype(self.dtype) if a.dtype.kind == "f" else a)
        if self.inputs is not None and len(out) != len(self.inputs):
            raise ValueError(f"Model {self.name!r} expects {len(self.inputs)} input(s), got "
                             f"{len(out)}")
        return out

    def _ensure_built(self, x=None):
        """Fix the inputs and outputs (and create the weights) from a first run on `x`."""
        if self.inputs is not None:
            return
        if x is None:
            raise ValueError(f"Model {self.name!r} has not been built: call it on data, "
                             f"or call build(input_shape), first")
        arrays = self._standardize_inputs(x)
        self._multi_input = isinstance(x, (list, tuple))
        # the whole first batch, so that the layers keep its shape as Keras's do (summary)
        out, _ = _traced.traced_forward(self, arrays if self._multi_input else arrays[0],
                                        training=False, keep_cache=False)
        self._multi_output = isinstance(out, (list, tuple))
        self.inputs = [KerasTensor((None, *a.shape[1:]), a.dtype) for a in arrays]
        self.outputs = [KerasTensor((None, *np.shape(o)[1:]), np.asarray(o).dtype)
                        for o in flatten(out)]

    def forward(self, inputs, training=False, mask=None, keep_cache=True, **kwargs):
        """Run `call` (under the tape when `keep_cache`): `(outputs, TracedCache)`."""
        self._ensure_built(inputs)
        arrays = self._standardize_inputs(inputs)
        return _traced.traced_forward(self, arrays if self._multi_input else arrays[0],
                                      training=training, mask=mask, keep_cache=keep_cache)

    def backward(self, cache, d_outputs, input_grads=True):
        """`(d_inputs, d_weights)`, d_weights aligned with `trainable_weights`."""
        return _traced.traced_backward(self, cache, d_outputs)

    def output_masks(self, run) -> list:
        return list(run.masks)

    def _pack_outputs(self, flat):
        return list(flat) if self._multi_output else flat[0]

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """`cls(**config)`, as Keras revives a subclassed model."""
        try:
            return cls(**config)
        except TypeError as err:
            raise TypeError(
                f"Unable to revive model from config. When overriding the `get_config()` "
                f"method, make sure that the returned config contains all items used as "
                f"arguments in the constructor to {cls}, which is the default behavior. You "
                f"can override this default behavior by defining a `from_config(cls, "
                f"config)` class method to specify how to create an instance of "
                f"{cls.__name__} from its config. Received config={config}. Error "
                f"encountered during deserialization: {err}") from None
