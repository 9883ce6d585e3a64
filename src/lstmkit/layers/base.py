"""`Variable` and `Layer`: the base of every lstmkit layer.

A layer follows Keras's life cycle: the constructor stores and validates
arguments, `build(input_shape)` creates the weights, `call` computes. Calling a
layer on NumPy arrays builds it on first use and returns NumPy arrays.

For training, a layer also has `forward(inputs, training=..., mask=..., **kw)`
returning `(outputs, cache)` and `backward(cache, d_outputs)` returning
`(d_inputs, d_weights)`, with `d_weights` aligned with `trainable_weights`.

Example:
    >>> import lstmkit as lk
    >>> layer = lk.layers.LSTM(4)
    >>> layer.build((None, 10, 8))
    >>> [w.shape for w in layer.get_weights()]
    [(8, 16), (4, 16), (16,)]
"""

from __future__ import annotations

import re

import numpy as np

from .. import _config
from .. import constraints as _constraints
from .. import initializers as _initializers
from .. import regularizers as _regularizers
from ..ops import _tape
from . import _custom, _masks, _probe, _snapshot, _traced
from . import node as _node

_NAME_COUNTS: dict[str, int] = {}


def to_snake_case(name: str) -> str:
    """Keras's `to_snake_case` (keras/src/utils/naming.py): "LSTMCell" -> "lstm_cell",
    "Conv1D" -> "conv1d", "GlobalAveragePooling1D" -> "global_average_pooling1d"."""
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base: str) -> str:
    """"lstm", "lstm_1", "lstm_2", ... as Keras auto-names layers."""
    n = _NAME_COUNTS.get(base, 0)
    _NAME_COUNTS[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


# The kwargs Keras 3.15 writes into `inbound_nodes` for a call with only the inputs
# (measured with keras.saving.serialize_keras_object on each layer type).
_AUTO_NODE_KWARGS = {
    "LSTM": ("training", "mask"),
    "GRU": ("training", "mask"),
    "SimpleRNN": ("training", "mask"),
    "RNN": ("training", "mask"),
    "Bidirectional": ("mask",),
    "TimeDistributed": ("mask",),
    "Dropout": ("training",),
    "Sequential": ("mask",),
    "Model": ("mask",),
    "Functional": ("mask",),
}


def _symbolic_shape(t):
    if not isinstance(t, _node.KerasTensor):
        raise TypeError(
            f"A layer called on symbolic tensors (lk.Input) got a non-symbolic input: {t!r}"
        )
    return t.shape


def _is_shape_list(shape) -> bool:
    """Whether `compute_output_shape` returned several shapes (a list/tuple of tuples)."""
    return isinstance(shape, (list, tuple)) and len(shape) > 0 and all(
        isinstance(s, (list, tuple)) for s in shape)


class Variable(_tape.ArrayOperators):
    """A named weight: a NumPy array with Keras's `path`, trainability, regularizer, constraint.

    Python operators and `lk.ops` work on it as on its array; inside a traced call they
    record its gradient.
    """

    def __init__(self, value, name, path=None, trainable=True, regularizer=None,
                 constraint=None):
        # C order: the kernels need contiguous weights and would copy others on every call
        self._value = np.asarray(value, order="C")
        self.name = name
        self.path = path or name
        self.trainable = trainable
        self.regularizer = regularizer
        self.constraint = constraint

    # Replaced, never changed in place, and read through the calling thread's snapshot:
    # a call sees one consistent set of weights (layers/_snapshot.py).
    value = property(_snapshot.read, _snapshot.write)
    shape = property(lambda self: self._value.shape)
    dtype = property(lambda self: self._value.dtype)

    def numpy(self) -> np.ndarray:
        return self.value

    def assign(self, value) -> None:
        """Replace the value; the shape must stay the same."""
        _snapshot.publish([self], [value])

    def assign_add(self, value) -> None:
        """`assign(self + value)` (Keras's name)."""
        self.assign(self.value + np.asarray(value))

    def assign_sub(self, value) -> None:
        """`assign(self - value)` (Keras's name)."""
        self.assign(self.value - np.asarray(value))

    def __array__(self, dtype=None, copy=None):
        return self.value if dtype is None else self.value.astype(dtype)

    def __repr__(self):
        return f"<Variable path={self.path} shape={self.shape} dtype={self.dtype}>"


def check_array(x, dtype: str, what: str = "inputs") -> np.ndarray:
    """Inputs as a NumPy array of `dtype`, cast like Keras casts (ints, bools, float16)."""
    if hasattr(x, "detach") and hasattr(x, "numpy"):  # a torch tensor
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{what} must be numeric (float, int or bool), got an array of dtype {arr.dtype}"
        )
    return arr.astype(dtype, copy=False)


class Layer:
    """The base class: name, dtype, trainable, weights, config, build-on-first-call.

    Args:
        name: the layer's name; unique by default ("lstm", "lstm_1", ...).
        dtype: "float32" (default, Keras's floatx) or "float64"; a Keras DTypePolicy
            dict is accepted.
        trainable: whether the weights are updated by training.
    """

    #: Whether the class writes its own `call`, so trains through the tape (see _custom).
    _traced = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._traced = _custom.uses_tape(cls, Layer)
        if cls._traced and "build" in vars(cls):  # Keras marks a layer built after build()
            cls.build = _custom.marks_built(vars(cls)["build"])
        if "build" in vars(cls):
            cls.build = _custom.records_build_shape(vars(cls)["build"])

    def __new__(cls, *args, **kwargs):
        obj = super().__new__(cls)
        if cls._traced:  # Keras's automatic get_config for custom classes
            obj._auto_config = _custom.auto_config(cls, args, kwargs)
        return obj

    def __init__(self, name=None, dtype=None, trainable=True, **kwargs):
        input_shape = kwargs.pop("input_shape", None)
        batch_size = kwargs.pop("batch_size", None)
        input_dim = kwargs.pop("input_dim", None)
        if input_dim is not None and input_shape is None:  # Keras 3: input_dim=d is (d,)
            input_shape = (input_dim,)
        if kwargs:
            raise ValueError(
                f"Unrecognized keyword arguments passed to {type(self).__name__}: {kwargs}"
            )
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str, got {name!r}")
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self.dtype = _config.standardize_dtype(dtype)
        self.trainable = bool(trainable)
        self.built = False
        self._weights: list[Variable] = []
        self._inbound_nodes: list = []  # one Node per symbolic call (see layers/node.py)
        # Sequential reads these to make its Input (Keras 3 accepts `input_shape=`).
        self._input_shape_arg = None if input_shape is None else (batch_size, *input_shape)

    # -- weights ---------------------------------------------------------------------
    def add_weight(self, name=None, shape=None, initializer=None, regularizer=None,
                   constraint=None, trainable=True, path=None, dtype=None, autocast=True,
                   aggregation="none", overwrite_with_gradient=False):
        """Create a weight from an initializer (a name, dict, Initializer or array).

        Keras's keyword form works too, and its positional order when the first argument
        is a shape: `add_weight((3, 4), "zeros", "float32")`. `dtype` defaults to the
        layer's; `initializer` to "glorot_uniform" for floats and "zeros" otherwise.
        """
        if name is not None and not isinstance(name, str):  # keras: (shape, initializer, dtype)
            name, shape, initializer, regularizer = None, name, shape, initializer
            if isinstance(regularizer, str) and regularizer not in ("l1", "l2", "l1_l2"):
                dtype, regularizer = regularizer, None
        if dtype is None:
            dtype = self.dtype
        elif np.dtype(getattr(dtype, "name", dtype)).kind in "biu":  # counters, ids, flags
            dtype = np.dtype(getattr(dtype, "name", dtype)).name
        else:
            dtype = _config.standardize_dtype(dtype)
        if name is None:
            name = unique_name("variable")
        if initializer is None:
            initializer = "glorot_uniform" if np.dtype(dtype).kind == "f" else "zeros"
        if isinstance(initializer, np.ndarray):
            value = initializer.astype(dtype)
        else:
            value = _initializers.get(initializer)(tuple(shape), dtype=dtype)
        var = Variable(
            value, name, path=path or f"{self.name}/{name}", trainable=trainable,
            regularizer=_regularizers.get(regularizer), constraint=_constraints.get(constraint),
        )
        self._weights.append(var)
        return var

    @property
    def weights(self) -> list[Variable]:
        """All weights in Keras's order (trainable first, as Keras lists them)."""
        return self.trainable_weights + self.non_trainable_weights

    @property
    def trainable_weights(self) -> list[Variable]:
        if not self.trainable:
            return []
        return [w for w in self._all_weights() if w.trainable]

    @property
    def non_trainable_weights(self) -> list[Variable]:
        if not self.trainable:
            return list(self._all_weights())
        return [w for w in self._all_weights() if not w.trainable]

    def _all_weights(self) -> list[Variable]:
        """Own weights, then those of sublayers (overridden by wrappers)."""
        if self._traced:
            return _custom.all_weights(self)
        return list(self._weights)

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights as NumPy arrays, in Keras's order."""
        return [w.value.copy() for w in self.weights]

    def set_weights(self, weights) -> None:
        """Set the weights from a list of arrays in Keras's order and shapes."""
        own = self.weights
        weights = list(weights)
        if len(weights) != len(own):
            raise ValueError(
                f"Layer {self.name!r} expects {len(own)} weight arrays "
                f"({', '.join(f'{w.name} {w.shape}' for w in own)}), got {len(weights)}"
            )
        for var, value in zip(own, weights):
            value = np.asarray(value)
            if value.shape != var.shape:
                raise ValueError(
                    f"Layer {self.name!r} weight {var.name!r} has shape {var.shape}, "
                    f"got an array of shape {value.shape}"
                )
        _snapshot.publish(own, weights)  # all at once for concurrent calls

    def add_loss(self, loss) -> None:
        """Add a loss (summed) to the model's loss, from inside `call` (Keras's `add_loss`)."""
        _custom.add_loss(self, loss)

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(f"Layer {self.name!r} is not built yet; call build() or call it first")
        return int(sum(w.value.size for w in self.weights))

    # -- life cycle ------------------------------------------------------------------
    @_custom.records_build_shape
    def build(self, input_shape=None):
        self.built = True

    def __call__(self, inputs, *args, **kwargs):
        if _node.any_symbolic(inputs, args, kwargs):
            return self._symbolic_call(inputs, *args, **kwargs)
        if self._traced or _tape.current() is not None:
            return _traced.eager_call(self, inputs, args, kwargs)
        if kwargs.get("training") is None and _custom.context_training() is not None:
            if "training" in _custom.call_params(type(self))[0]:  # inside a custom call
                kwargs["training"] = _custom.context_training()
        previous = kwargs.get("mask")
        if previous is None:  # Keras passes on the mask an earlier layer attached
            previous = _masks.first_mask(inputs)
            if previous is not None and "mask" in _custom.call_params(type(self))[0]:
                kwargs["mask"] = previous
        inputs = self._convert_inputs(inputs)
        if not self.built:
            self.build(self._shape_of(inputs))
            self.built = True
        with _snapshot.reading(self._all_weights):  # one set, whatever other threads publish
            outputs = self.call(inputs, *args, **kwargs)
        if isinstance(outputs, np.ndarray) and _masks.supports_masking(self):
            mask = self.compute_mask(inputs, previous)
            if mask is not None:  # Keras attaches the mask to the output
                outputs = _masks.with_mask(outputs, np.asarray(mask))
        return outputs

    # -- symbolic calls (functional models) ------------------------------------------------
    @staticmethod
    def _is_symbolic_call(*structures) -> bool:
        """Whether a call gets KerasTensors (from `lk.Input`) rather than arrays."""
        return _node.any_symbolic(*structures)

    def _symbolic_call(self, inputs, *args, **kwargs):
        """Call on KerasTensors: build from shapes, record a Node, return output KerasTensors.

        Follows keras/src/layers/layer.py `__call__`: the mask of the only tensor argument
        is passed on automatically, so a call with `initial_state` gets no automatic mask.
        """
        if args:
            raise TypeError(
                f"Layer {self.name!r}: pass arguments other than the inputs by keyword "
                f"(initial_state=..., mask=..., training=...), got {len(args)} positional"
            )
        for key in kwargs:
            if key not in ("initial_state", "mask", "training"):
                raise TypeError(f"Layer {self.name!r} got an unexpected keyword {key!r}")
        shapes = _node.map_structure(_symbolic_shape, inputs)
        if isinstance(shapes, tuple) and shapes and isinstance(shapes[0], tuple):
            shapes = list(shapes)
        if not self.built:
            self.build(shapes)
            self.built = True
        if self._traced and type(self).compute_output_shape is Layer.compute_output_shape:
            outputs = _probe.symbolic_outputs(self, inputs, kwargs)  # Keras traces call
        else:
            out_shape = self.compute_output_shape(shapes)
            out_dtype = getattr(self, "_output_dtype", self.dtype)
            if _is_shape_list(out_shape):
                outputs = [_node.KerasTensor(s, out_dtype) for s in out_shape]
            else:
                outputs = _node.KerasTensor(out_shape, out_dtype)
        _probe.set_symbolic_masks(self, inputs, kwargs, outputs)
        config_kwargs = {k: v for k, v in kwargs.items() if v is not None}
        single_tensor = kwargs.get("initial_state") is None
        for key in _AUTO_NODE_KWARGS.get(type(self).__name__, ()):
            if key == "training" and (single_tensor or type(self).__name__ == "Dropout"):
                config_kwargs.setdefault("training", False)
            elif key == "mask" and single_tensor:
                # The automatic mask is written as null: lstmkit recomputes masks as it runs.
                config_kwargs.setdefault("mask", None)
        config_kwargs = {k: config_kwargs[k] for k in
                         ("training", "initial_state", "mask") if k in config_kwargs}
        call_kwargs = {k: v for k, v in kwargs.items() if v is not None and k != "training"}
        _node.Node(self, inputs, call_kwargs, outputs, config_kwargs)
        return outputs

    # -- symbolic access: the tensors of the first call (keras Layer.input / .output) ----------
    def _first_node_tensors(self, what):
        if not self._inbound_nodes:
            raise AttributeError(
                f"The layer {self.name} has never been called and thus has no defined {what}.")
        node = self._inbound_nodes[0]
        tensors = node.input_tensors if what == "input" else node.output_tensors
        return tensors[0] if len(tensors) == 1 else list(tensors)

    @property
    def input(self):
        """The input KerasTensor(s) of the layer's first call on symbolic tensors."""
        return self._first_node_tensors("input")

    @property
    def output(self):
        """The output KerasTensor(s) of the layer's first call on symbolic tensors."""
        return self._first_node_tensors("output")

    def _convert_inputs(self, inputs):
        if isinstance(inputs, (list, tuple)):
            return type(inputs)(check_array(x, self.dtype) for x in inputs)
        return check_array(inputs, self.dtype)

    @staticmethod
    def _shape_of(inputs):
        if isinstance(inputs, (list, tuple)):
            return [tuple(x.shape) for x in inputs]
        return tuple(inputs.shape)

    def call(self, inputs, *args, **kwargs):
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        raise NotImplementedError(f"{type(self).__name__}.compute_output_shape")

    @_masks.default
    def compute_mask(self, inputs, mask=None):
        return mask

    # -- training protocol -------------------------------------------------------------
    def forward(self, inputs, training=False, mask=None, **kwargs):
        """Compute outputs and keep what `backward` needs: returns `(outputs, cache)`.

        A custom layer (its own `call`) runs `call` under a tape (see `_custom`)."""
        if self._traced:
            return _traced.traced_forward(self, inputs, training=training, mask=mask, **kwargs)
        raise NotImplementedError(f"{type(self).__name__} has no forward/backward yet")

    def backward(self, cache, d_outputs):
        """Gradients: returns `(d_inputs, d_weights)`, d_weights aligned with trainable_weights."""
        if self._traced:
            return _traced.traced_backward(self, cache, d_outputs)
        raise NotImplementedError(f"{type(self).__name__} has no forward/backward yet")

    # -- config ----------------------------------------------------------------------
    def get_config(self) -> dict:
        auto = getattr(self, "_auto_config", None)
        if auto is not None and type(self).get_config is Layer.get_config:
            return _custom.auto_get_config(self, auto)
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": {
                "module": "keras",
                "class_name": "DTypePolicy",
                "config": {"name": self.dtype},
                "registered_name": None,
            },
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"
