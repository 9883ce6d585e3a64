"""Keras 3 model configs: what `get_config` / `from_config` write and read.

The format is the one Keras 3 writes into a `.keras` file's config.json
(keras/src/models/functional.py `get_config`, `functional_from_config`;
keras/src/models/sequential.py): a Functional config lists each layer with its
`name` and `inbound_nodes` (`{"args": [...], "kwargs": {...}}` with
`__keras_tensor__` entries), then `input_layers` and `output_layers`; a
Sequential config lists an `InputLayer` with `batch_shape`, then the layers with
their `build_config`, and `build_input_shape`.

Loading builds only registered lstmkit layers (`lstmkit.layers.deserialize`).
"""

from __future__ import annotations

from .. import _registration
from .. import layers as _layers
from ..layers.input_layer import InputLayer
from ..layers.node import KerasTensor, flatten, map_structure

# Keras ops that a Keras functional graph records when it computes masks
# (Masking / Embedding(mask_zero) in a functional model); lstmkit computes masks
# itself, so these entries are skipped on load.
_MASK_OPS = {"NotEqual", "Any", "Equal", "All", "LogicalAnd", "LogicalOr", "ExpandDims"}


def _shape_list(shape):
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        return [_shape_list(s) for s in shape]
    return list(shape)


def build_config(layer):
    """Keras's `build_config` for a layer's first call, or None for layers without `build`."""
    if isinstance(layer, InputLayer) or type(layer).__name__ in ("Activation", "Dropout",
                                                                 "Masking"):
        return None
    if not layer._inbound_nodes:
        shape = getattr(layer, "_build_input_shape", None)
        return None if shape is None else {"input_shape": _shape_list(shape)}
    node = layer._inbound_nodes[0]
    shapes = map_structure(lambda t: list(t.shape), node.call_args)
    if "initial_state" in node.call_kwargs:
        states = [list(t.shape) for t in node.call_kwargs["initial_state"]]
        return {"shapes_dict": {"sequences_shape": shapes, "initial_state_shape": states}}
    return {"input_shape": shapes}


def layer_entry(layer, with_nodes=None):
    """`serialize(layer)` plus `build_config` (and `name`, `inbound_nodes` for Functional)."""
    from .model import Model
    if isinstance(layer, Model):  # a nested model: its whole entry, as Keras writes it
        entry = serialize(layer)
        if with_nodes is not None:
            entry["name"] = layer.name
            entry["inbound_nodes"] = [n.serialize() for n in layer._inbound_nodes
                                      if n in with_nodes]
        return entry
    entry = _layers.serialize(layer)
    if isinstance(layer, InputLayer):
        entry["module"] = "keras.layers"
    else:
        bc = build_config(layer)
        if bc is not None:
            entry["build_config"] = bc
    if with_nodes is not None:
        entry["name"] = layer.name
        entry["inbound_nodes"] = [n.serialize() for n in layer._inbound_nodes
                                  if n in with_nodes and n.input_tensors]
    return entry


def _history_entry(t):
    layer, node_index, tensor_index = t._keras_history
    return [layer.name, node_index, tensor_index]


def functional_config(model) -> dict:
    nodes = set(model._run_order)
    config = {
        "name": model.name,
        "trainable": model.trainable,
        "layers": [layer_entry(layer, nodes) for layer in model.layers],
    }
    ins = [_history_entry(t) for t in model.inputs]
    outs = [_history_entry(t) for t in model.outputs]
    config["input_layers"] = ins if isinstance(model._inputs_struct, list) else ins[0]
    config["output_layers"] = outs if isinstance(model._outputs_struct, list) else outs[0]
    return config


def sequential_config(model) -> dict:
    config = _layers.Layer.get_config(model)
    entries = []
    if model._input_layer is not None:
        entries.append(layer_entry(model._input_layer))
    entries += [layer_entry(layer) for layer in model.layers]
    config["layers"] = entries
    if model._input_layer is not None:
        config["build_input_shape"] = list(model._input_layer.batch_shape)
    return config


def _deserialize_tensor(value, created):
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        name, node_index, tensor_index = value["config"]["keras_history"]
        if (name, node_index) not in created:
            raise KeyError((name, node_index))
        outs = created[(name, node_index)]
        return outs[tensor_index] if isinstance(outs, list) else outs
    return value


def functional_from_config(config, cls):
    """A functional model from Keras 3's config (dict of the Functional's `config`)."""
    if not isinstance(config, dict) or "layers" not in config:
        raise ValueError(f"A Functional config must be a dict with 'layers', got {config!r}")
    by_name, pending = {}, []
    for entry in config["layers"]:
        if entry.get("class_name") in _MASK_OPS:
            continue
        layer = _layers.deserialize(entry)
        name = entry.get("name", layer.name)
        by_name[name] = layer
        if isinstance(layer, InputLayer):  # made by its config, never called (Keras writes [])
            continue
        for node_index, node in enumerate(entry.get("inbound_nodes") or []):
            pending.append((name, node_index, node))
    created = {}
    for name, layer in by_name.items():
        if isinstance(layer, InputLayer):
            created[(name, 0)] = layer.output
    while pending:
        progress = False
        for item in list(pending):
            name, node_index, node = item
            if not isinstance(node, dict):
                raise ValueError(f"Cannot rebuild the model graph: a call of layer {name!r} in "
                                 f"the config must be a dict with 'args', got {node!r}")
            try:
                args = _restore(_unwrap(node.get("args", [])), created)
                kwargs = {}
                for key, value in (node.get("kwargs") or {}).items():
                    if key == "initial_state":
                        kwargs[key] = _restore(_unwrap(value), created)
            except KeyError:
                continue
            layer = by_name[name]
            if not isinstance(args, list) or not args:
                raise ValueError(f"Cannot rebuild the model graph: a call of layer {name!r} "
                                 f"in the config has no list of input tensors (got {node!r})")
            inputs = args[0] if len(args) == 1 else args
            leaves = flatten(inputs)
            if not leaves or not all(isinstance(t, KerasTensor) for t in leaves):
                raise ValueError(f"Cannot rebuild the model graph: a call of layer {name!r} "
                                 f"in the config takes inputs that are not tensors of the "
                                 f"model (got {node.get('args')!r})")
            created[(name, node_index)] = layer(inputs, **kwargs)
            pending.remove(item)
            progress = True
        if not progress:
            raise ValueError(
                f"Cannot rebuild the model graph: layers {[p[0] for p in pending]} wait for "
                f"inputs that no layer makes"
            )

    def tensors(spec):
        if spec and isinstance(spec[0], (list, tuple)):
            return [tensors(s) for s in spec]
        name, node_index, tensor_index = spec
        outs = created[(name, node_index)]
        return outs[tensor_index] if isinstance(outs, list) else outs

    inputs = tensors(config["input_layers"])
    outputs = tensors(config["output_layers"])
    return cls(inputs, outputs, name=config.get("name"),
               trainable=config.get("trainable", True))


def _restore(value, created):
    """Replace `__keras_tensor__` entries by the tensors made so far (KeyError if not yet)."""
    if isinstance(value, list):
        return [_restore(v, created) for v in value]
    return _deserialize_tensor(value, created)


def _unwrap(value):
    """Keras may wrap lists of tensors as {"class_name": "__tuple__", ...}; unwrap them."""
    if isinstance(value, dict) and value.get("class_name") == "__tuple__":
        return [_unwrap(v) for v in value["config"]["value"]]
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


def sequential_from_config(config, cls):
    if not isinstance(config, dict) or "layers" not in config:
        raise ValueError(f"A Sequential config must be a dict with 'layers', got {config!r}")
    model = cls(name=config.get("name"), trainable=config.get("trainable", True))
    for entry in config["layers"]:
        model.add(_layers.deserialize(entry), rebuild=False)
    if model._input_layer is None and config.get("build_input_shape") is not None:
        model._input_layer = InputLayer(batch_shape=tuple(config["build_input_shape"]))
    model._maybe_build()
    return model


def _subclassed_entry(model) -> dict:
    cls = type(model)
    if not _registration.is_registered(cls):
        raise ValueError(
            f"Model {model.name!r} is an instance of the subclassed model {cls.__name__!r}, "
            f"which is not registered: decorate the class with "
            f"@lk.saving.register_keras_serializable() so that a file can name it")
    shape = None if model.inputs is None else (
        [list(t.shape) for t in model.inputs] if model._multi_input
        else list(model.inputs[0].shape))
    return {"module": cls.__module__, "class_name": cls.__name__, "config": model.get_config(),
            "registered_name": _registration.get_registered_name(cls),
            "build_config": {"input_shape": shape}}


def serialize(model) -> dict:
    """The model's whole entry, as `keras.saving.serialize_keras_object(model)` writes it."""
    from .model import Functional
    from .sequential import Sequential
    if not isinstance(model, Functional):
        entry = _subclassed_entry(model)
        state = getattr(model, "_compile_state", None)
        entry["compile_config"] = {} if state is None else state.get_config()
        return entry
    if isinstance(model, Sequential):
        entry = {"module": "keras", "class_name": "Sequential", "config": model.get_config(),
                 "registered_name": None}
        shape = None if model._input_layer is None else list(model._input_layer.batch_shape)
    else:
        entry = {"module": "keras.src.models.functional", "class_name": "Functional",
                 "config": model.get_config(), "registered_name": "Functional"}
        shape = None
    if shape is not None or not isinstance(model, Sequential):
        entry["build_config"] = {"input_shape": shape}
    state = getattr(model, "_compile_state", None)
    entry["compile_config"] = {} if state is None else state.get_config()
    return entry


def deserialize(entry: dict):
    """A model from `serialize`'s entry (class_name "Sequential", "Functional" or "Model")."""
    from .model import Functional
    from .sequential import Sequential
    if not isinstance(entry, dict) or "class_name" not in entry:
        raise ValueError(f"A model entry must be a dict with 'class_name', got {entry!r}")
    name = entry["class_name"]
    custom = _registration.get_registered_object(entry.get("registered_name"))
    if custom is not None and name not in ("Sequential", "Functional"):
        model = custom.from_config(dict(entry.get("config") or {}))
        shape = (entry.get("build_config") or {}).get("input_shape")
        if shape is not None:  # as Keras's build_from_config: creates the weights
            model.build([tuple(s) for s in shape] if shape and isinstance(shape[0], list)
                        else tuple(shape))
        return model
    if name == "Sequential":
        return Sequential.from_config(entry["config"])
    if name in ("Functional", "Model"):
        return Functional.from_config(entry["config"])
    raise ValueError(f"Unknown model class {name!r}; expected Sequential or Functional")


__all__ = [
    "KerasTensor",
    "build_config",
    "deserialize",
    "functional_config",
    "functional_from_config",
    "sequential_config",
    "sequential_from_config",
    "serialize",
]
