"""`Model`: the functional model, `lk.Model(inputs, outputs)` (keras/src/models/functional.py).

A model is built from the symbolic tensors that `lk.Input` and layer calls
return; it runs the recorded nodes on NumPy arrays. Several inputs and outputs,
shared layers, `initial_state=[h, c]` between LSTMs and `return_state` tuples
all come from the same graph. Training (`compile`, `fit`, ...) lives in
`lstmkit.training.trainer`; the methods here delegate to it.

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> x = lk.Input(shape=(10, 8))
    >>> y = lk.layers.Dense(1)(lk.layers.LSTM(4)(x))
    >>> model = lk.Model(x, y)
    >>> model.predict(np.zeros((3, 10, 8), "float32"), verbose=0).shape
    (3, 1)
"""

from __future__ import annotations

import numpy as np

from .. import layers as _layers
from ..layers import _snapshot, _traced
from ..layers.base import Layer, unique_name
from ..layers.input_layer import InputLayer
from ..layers.node import KerasTensor, flatten
from ..ops import _tape
from . import _subclassed
from . import graph as _graph
from ._api import ModelAPI


def _functional_args(args, kwargs) -> bool:
    return (len(args) == 2 or (len(args) == 1 and "outputs" in kwargs)
            or ("inputs" in kwargs and "outputs" in kwargs))


class Model(ModelAPI, _subclassed.SubclassedModel, Layer):
    """Keras's `Model`: `Model(inputs, outputs)` makes a functional model; a subclass
    writes `__init__` / `build` / `call(inputs, training=None, mask=None)` and trains
    through the tape (see `models/_subclassed.py`).
    """

    def __new__(cls, *args, **kwargs):
        if cls is Model and _functional_args(args, kwargs):
            return super().__new__(Functional)
        return super().__new__(cls, *args, **kwargs)

    def __init__(self, *args, **kwargs):
        if _functional_args(args, kwargs):
            if not isinstance(self, Functional):  # a Model subclass built from tensors
                _subclassed.inject_functional(type(self), Model, Functional)
            Functional.__init__(self, *args, **kwargs)
            return
        if not self._traced:
            raise TypeError(
                "lk.Model takes inputs and outputs (tensors from lk.Input), or is subclassed "
                "with a `call` method; use lk.Sequential([...]) for a stack of layers")
        _subclassed.SubclassedModel.__init__(self, **kwargs)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A functional config revives a Functional (as Keras's `Model.from_config`);
        otherwise `cls(**config)`."""
        keys = ("name", "layers", "input_layers", "output_layers")
        if cls is Model and all(k in config for k in keys):
            return Functional.from_config(config)
        return _subclassed.SubclassedModel.from_config.__func__(cls, config, custom_objects)


class Functional(Model):
    """A functional model: `Model(inputs, outputs, name=None)`.

    Args:
        inputs: an `lk.Input` tensor or a list of them.
        outputs: a KerasTensor or a list of them (a list gives a list of outputs).
        name: the model's name ("functional", "functional_1", ...).
    """

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        if inputs is None or outputs is None:
            raise TypeError("A functional model needs inputs and outputs (tensors from lk.Input)")
        Layer.__init__(self, name=name or unique_name("functional"), trainable=trainable,
                       **kwargs)
        self._init_graph(inputs, outputs)
        ModelAPI.__init__(self)

    def _init_graph(self, inputs, outputs):
        if isinstance(inputs, dict) or isinstance(outputs, dict):
            raise TypeError("lstmkit models take inputs and outputs as a tensor or a list")
        for t in flatten(inputs):
            if not isinstance(t, KerasTensor):
                raise TypeError(f"Model inputs must be tensors from lk.Input, got {t!r}")
            if not isinstance(t._keras_history[0], InputLayer):
                raise ValueError(  # noqa: TRY004 (Keras raises ValueError)
                    f"Model inputs must come from lk.Input; {t} was made by layer "
                    f"{t._keras_history[0].name!r}"
                )
        for t in flatten(outputs):
            if not isinstance(t, KerasTensor):
                raise TypeError(
                    f"Model outputs must be tensors returned by layers called on lk.Input, "
                    f"got {type(t).__name__}"
                )
        self._inputs_struct = list(inputs) if isinstance(inputs, tuple) else inputs
        self._outputs_struct = list(outputs) if isinstance(outputs, tuple) else outputs
        flat_in, flat_out = flatten(inputs), flatten(outputs)
        self._run_order, self._all_layers = _graph.map_graph(flat_in, flat_out)
        self.inputs, self.outputs = flat_in, flat_out
        self.built = True

    # -- structure -----------------------------------------------------------------------
    @property
    def layers(self) -> list:
        """The model's layers in Keras's order (InputLayers included, as Keras lists them)."""
        return list(self._all_layers)

    @property
    def input(self):
        """The model's input KerasTensor(s), as given to `Model(inputs, ...)`."""
        return self._inputs_struct

    @property
    def output(self):
        """The model's output KerasTensor(s), as given to `Model(..., outputs)`."""
        return self._outputs_struct

    @property
    def input_names(self):
        return [t._keras_history[0].name for t in self.inputs]

    @property
    def output_names(self):
        return [t._keras_history[0].name for t in self.outputs]

    @property
    def input_shape(self):
        shapes = [t.shape for t in self.inputs]
        return shapes if isinstance(self._inputs_struct, list) else shapes[0]

    @property
    def output_shape(self):
        shapes = [t.shape for t in self.outputs]
        return shapes if isinstance(self._outputs_struct, list) else shapes[0]

    def build(self, input_shape=None):
        self.built = True

    def compute_output_shape(self, input_shape):
        shapes = [t.shape for t in self.outputs]
        return shapes if isinstance(self._outputs_struct, list) else shapes[0]

    # -- running -------------------------------------------------------------------------
    def _standardize_inputs(self, x) -> list:
        """A list of arrays aligned with `self.inputs` (from an array, list or dict)."""
        if isinstance(x, dict):
            missing = [n for n in self.input_names if n not in x]
            if missing:
                raise ValueError(f"Missing inputs {missing}; the model's inputs are "
                                 f"{self.input_names}, got keys {sorted(x)}")
            x = [x[n] for n in self.input_names]
        if not isinstance(x, (list, tuple)):
            x = [x]
        x = list(x)
        if len(x) != len(self.inputs):
            raise ValueError(
                f"Model {self.name!r} expects {len(self.inputs)} input(s) "
                f"({', '.join(self.input_names)}), got {len(x)}"
            )
        arrays = []
        for t, value in zip(self.inputs, x):
            if hasattr(value, "detach"):
                value = value.detach().cpu().numpy()
            arr = np.asarray(value)
            if arr.dtype.kind not in "biuf":
                raise TypeError(f"Input {t._keras_history[0].name!r} must be numeric, got "
                                f"dtype {arr.dtype}")
            if t.dtype.startswith("float") and arr.dtype.kind != "f":
                arr = arr.astype(t.dtype)
            elif t.dtype.startswith("float"):
                arr = arr.astype(t.dtype, copy=False)
            if self._shape_mismatch(t, arr):
                raise ValueError(
                    f"Input {t._keras_history[0].name!r} of model {self.name!r} is "
                    f"incompatible: expected shape {t.shape}, got {arr.shape}"
                )
            arrays.append(arr)
        sizes = {a.shape[0] for a in arrays}
        if len(sizes) > 1:
            raise ValueError(f"All inputs must have the same batch size, got sizes {sorted(sizes)}")
        return arrays

    @staticmethod
    def _shape_mismatch(tensor, arr) -> bool:
        """Whether `arr` does not fit the input `tensor` (the batch axis is free)."""
        return arr.ndim != len(tensor.shape) or any(
            s is not None and s != a for s, a in zip(tensor.shape[1:], arr.shape[1:]))

    def _pack_outputs(self, flat):
        return list(flat) if isinstance(self._outputs_struct, list) else flat[0]

    def forward(self, inputs, training=False, mask=None, keep_cache=True, **kwargs):
        """Run the graph: returns `(outputs, cache)`; `cache` also holds the output masks."""
        arrays = self._standardize_inputs(inputs)
        input_masks = None
        if mask is not None:  # Functional.call sets the given masks on its inputs
            input_masks = list(mask) if isinstance(mask, (list, tuple)) else [mask]
        # Every layer of this call sees one set of weights, whatever other threads publish.
        with _snapshot.reading(lambda: _snapshot.model_variables(self)):
            run = _graph.run_forward(self._run_order, self.inputs, arrays, training=training,
                                     keep_cache=keep_cache, input_masks=input_masks)
        flat = [run.values[id(t)] for t in self.outputs]
        self._last_output_masks = self.output_masks(run)
        return self._pack_outputs(flat), run

    # Keras 3 reports False for models, yet a model inside a model passes its outputs'
    # masks on (they ride on Keras's output tensors; here Functional.compute_mask gives them).
    supports_masking = False
    _outputs_carry_masks = True

    def compute_mask(self, inputs, mask=None):
        masks = getattr(self, "_last_output_masks", None)
        if masks is None:
            return None
        return list(masks) if isinstance(self._outputs_struct, list) else masks[0]

    def output_masks(self, run) -> list:
        """The Keras masks of the outputs of a forward run (None where unmasked)."""
        return [run.masks.get(id(t)) for t in self.outputs]

    def backward(self, cache, d_outputs, input_grads=True):
        """Gradients: `(d_inputs, d_weights)`, d_weights aligned with `trainable_weights`.

        `input_grads=False` (training) lets the first layers skip their input gradients;
        d_inputs is then None where skipped.
        """
        d_flat = d_outputs if isinstance(self._outputs_struct, list) else [d_outputs]
        grads, weight_grads = _graph.run_backward(
            cache, self.outputs, d_flat, inputs=None if input_grads else self.inputs)
        weights = self.trainable_weights
        d_weights = [weight_grads.get(id(v)) for v in weights]
        d_weights = [np.zeros_like(v.value) if g is None else g
                     for v, g in zip(weights, d_weights)]
        d_inputs = [grads.get(id(t)) for t in self.inputs]
        return self._pack_inputs(d_inputs), d_weights

    def _pack_inputs(self, flat):
        return list(flat) if isinstance(self._inputs_struct, list) else flat[0]

    def __call__(self, inputs, training=None, mask=None):
        if _layers.base._node.any_symbolic(inputs):
            # A model used as a layer of another model (keras: nested models).
            return Layer._symbolic_call(self, inputs)
        if _tape.current() is not None:  # inside a traced call: one op on the tape
            return _traced.record_layer(self, inputs, {"training": training})
        outputs, _ = self.forward(inputs, training=bool(training), keep_cache=False)
        return outputs

    def _convert_inputs(self, inputs):
        # The inner InputLayers cast; int inputs (Embedding) must stay ints.
        return inputs

    def call(self, inputs, training=False, mask=None):
        return self(inputs, training=training)

    def layer_inputs(self, layer_or_name, x) -> dict:
        """What the model feeds a layer for input `x` (its first call in the graph).

        Returns:
            dict(inputs=..., mask=..., initial_state=..., training=False), arrays in the
            layer's call structure; `lk.trace(layer, **that)` replays the call.
        """
        layer = self._find_layer(layer_or_name)
        if isinstance(layer, InputLayer):
            arrays = self._standardize_inputs(x)
            value = arrays[[t._keras_history[0] for t in self.inputs].index(layer)]
            return {"inputs": value, "mask": None, "initial_state": None, "training": False}
        arrays = self._standardize_inputs(x)
        order = self._run_order
        target = next(i for i, n in enumerate(order) if n.layer is layer)
        run = _graph.run_forward(order[:target], self.inputs, arrays)
        args, kwargs, mask, _ = _graph._node_inputs(order[target], run.values, run.masks)
        return {"inputs": args, "mask": mask, "initial_state": kwargs.get("initial_state"),
                    "training": False}

    def _find_layer(self, layer_or_name):
        if isinstance(layer_or_name, Layer):
            if layer_or_name not in self._all_layers:
                raise ValueError(f"Layer {layer_or_name.name!r} is not part of model "
                                 f"{self.name!r}")
            return layer_or_name
        return self.get_layer(layer_or_name)

    # -- config --------------------------------------------------------------------------
    def get_config(self) -> dict:
        """Keras 3's Functional config (as in a `.keras` file's config.json)."""
        from .config import functional_config
        return functional_config(self)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from .config import functional_from_config
        return functional_from_config(config, cls)

