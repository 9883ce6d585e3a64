"""Symbolic tensors and nodes: how calling layers on `lk.Input` records a graph.

`KerasTensor` is a placeholder with a shape, a dtype and `_keras_history =
(layer, node_index, tensor_index)`, as in keras/src/backend/common/keras_tensor.py.
Calling a layer on KerasTensors records a `Node` (keras/src/ops/node.py): the
layer, the call's arguments (tensors in place) and the output tensors. A
functional `Model` runs the nodes in order.

Example:
    >>> import lstmkit as lk
    >>> x = lk.Input(shape=(10, 8))
    >>> y = lk.layers.LSTM(4)(x)
    >>> y.shape, y._keras_history[0].name.startswith("lstm")
    ((None, 4), True)
"""

from __future__ import annotations

import numpy as np


class KerasTensor:
    """A symbolic tensor: shape (None for unknown dims), dtype, and where it came from."""

    def __init__(self, shape, dtype="float32", name=None):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = np.dtype(dtype).name if dtype != "bool" else "bool"
        self.name = name
        self._keras_history = None  # (layer, node_index, tensor_index)

    ndim = property(lambda self: len(self.shape))

    def __repr__(self):
        layer = self._keras_history[0].name if self._keras_history else None
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={layer}>"

    def __array__(self, dtype=None, copy=None):
        raise TypeError(
            "A symbolic KerasTensor (from lk.Input) has no value; build a lk.Model from it "
            "and call the model on NumPy arrays"
        )

    def serialize(self) -> dict:
        """Keras's `__keras_tensor__` entry, as written into a functional config."""
        layer, node_index, tensor_index = self._keras_history
        return {"class_name": "__keras_tensor__",
                "config": {"shape": list(self.shape), "dtype": self.dtype,
                           "keras_history": [layer.name, node_index, tensor_index]}}


def flatten(structure) -> list:
    """Leaves of nested lists/tuples/dicts, in order."""
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    if isinstance(structure, dict):
        return [leaf for key in structure for leaf in flatten(structure[key])]
    return [structure]


def map_structure(fn, structure):
    """Apply `fn` to every leaf, keeping lists, tuples and dicts."""
    if isinstance(structure, (list, tuple)):
        return type(structure)(map_structure(fn, item) for item in structure)
    if isinstance(structure, dict):
        return {key: map_structure(fn, value) for key, value in structure.items()}
    return fn(structure)


def any_symbolic(*structures) -> bool:
    """Whether any leaf of the arguments is a KerasTensor."""
    # An eager call passes arrays and Nones: answered without flattening (a hot path).
    return any(s is not None and not isinstance(s, np.ndarray)
               and any(isinstance(leaf, KerasTensor) for leaf in flatten(s))
               for s in structures)


class Node:
    """One call of a layer in a graph.

    Args:
        layer: the called layer.
        call_args: the positional inputs (a tensor or a list of tensors).
        call_kwargs: keyword arguments of the call (`initial_state`, `mask`, `training`);
            tensors stay in place.
        outputs: the output KerasTensor(s), in the layer's output structure.
        config_kwargs: the kwargs Keras writes into `inbound_nodes` for this call.
    """

    def __init__(self, layer, call_args, call_kwargs, outputs, config_kwargs=None):
        self.layer = layer
        self.call_args = call_args
        self.call_kwargs = dict(call_kwargs)
        self.outputs = outputs
        self.config_kwargs = dict(config_kwargs or {})
        self.input_tensors = [t for t in flatten((call_args, call_kwargs))
                              if isinstance(t, KerasTensor)]
        self.output_tensors = flatten(outputs)
        layer._inbound_nodes.append(self)
        self.index = len(layer._inbound_nodes) - 1
        for i, tensor in enumerate(self.output_tensors):
            tensor._keras_history = (layer, self.index, i)

    @property
    def parent_nodes(self) -> list:
        nodes = []
        for t in self.input_tensors:
            layer, node_index, _ = t._keras_history
            node = layer._inbound_nodes[node_index]
            if node not in nodes:
                nodes.append(node)
        return nodes

    def serialize(self) -> dict:
        """Keras 3's `inbound_nodes` entry: `{"args": [...], "kwargs": {...}}`."""
        def ser(value):
            if isinstance(value, KerasTensor):
                return value.serialize()
            return value

        args = self.call_args if isinstance(self.call_args, tuple) else (self.call_args,)
        return {"args": map_structure(ser, list(args)),
                "kwargs": map_structure(ser, self.config_kwargs)}
