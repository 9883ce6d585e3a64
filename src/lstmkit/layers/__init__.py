"""Layers with Keras's names: `LSTM`, `LSTMCell`, `Bidirectional`, and a registry.

The rest of the recurrent family: `GRU`, `GRUCell`, `SimpleRNN`, `SimpleRNNCell`,
`RNN(cell)` and `StackedRNNCells`.

`serialize(layer)` / `deserialize(entry)` convert between layers and Keras's
`{"module", "class_name", "config", "registered_name"}` entries. Only classes
registered here can be deserialized: a file never names code to run.
"""

import importlib

from .. import _registration
from .base import Layer, Variable
from .lstm import LSTM
from .lstm_cell import LSTMCell

# The other layers are imported on first use (`layers.Dense`, `from lstmkit.layers import
# Dense`, `get("Dense")`), so that `import lstmkit` + an LSTM loads only what an LSTM
# needs: name -> the submodule that defines it.
_LAZY = {
    "Activation": "activation", "Bidirectional": "bidirectional",
    "AveragePooling1D": "convolutional", "Conv1D": "convolutional",
    "MaxPooling1D": "convolutional", "Dense": "core", "Embedding": "core",
    "Input": "input_layer", "InputLayer": "input_layer",
    "Add": "merging", "Average": "merging", "Concatenate": "merging", "Maximum": "merging",
    "Minimum": "merging", "Multiply": "merging", "Subtract": "merging",
    "BatchNormalization": "normalization", "LayerNormalization": "normalization",
    "GlobalAveragePooling1D": "pooling", "GlobalMaxPooling1D": "pooling",
    "Normalization": "preprocessing", "Dropout": "regularization", "Masking": "regularization",
    "Flatten": "reshaping", "Permute": "reshaping", "RepeatVector": "reshaping",
    "Reshape": "reshaping", "TimeDistributed": "wrappers",
    "ELU": "activation_layers", "LeakyReLU": "activation_layers",
    "PReLU": "activation_layers", "ReLU": "activation_layers", "Softmax": "activation_layers",
    "add": "merging", "average": "merging", "concatenate": "merging", "maximum": "merging",
    "minimum": "merging", "multiply": "merging", "subtract": "merging",
    "GRU": "gru", "GRUCell": "gru", "RNN": "rnn", "SimpleRNN": "simple_rnn",
    "SimpleRNNCell": "simple_rnn", "StackedRNNCells": "stacked_rnn_cells",
}
# Keras's other names for the same classes (`keras.layers.MaxPool1D is MaxPooling1D`).
_ALIASES = {"AvgPool1D": "AveragePooling1D", "Convolution1D": "Conv1D",
            "GlobalAvgPool1D": "GlobalAveragePooling1D", "GlobalMaxPool1D": "GlobalMaxPooling1D",
            "MaxPool1D": "MaxPooling1D"}
_LAZY.update({alias: _LAZY[name] for alias, name in _ALIASES.items()})
_SUBMODULES = frozenset(_LAZY.values()) | {"base", "lstm", "lstm_cell", "node"}
_SUBMODULES |= {"recurrent_cell"}

_REGISTRY: dict[str, type] = {}
#: Layer classes `get` registers on first use (every lazy name but the function `Input`).
_LAZY_REGISTERED = frozenset(_LAZY) - {"Input"}
_LAZY_REGISTERED = frozenset(n for n in _LAZY_REGISTERED if n[0].isupper() and n not in _ALIASES)


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


def register(cls, *names):
    """Make `cls` deserializable under its class name (and `names`)."""
    for name in (cls.__name__, *names):
        _REGISTRY[name] = cls
    return cls


for _cls in (LSTM, LSTMCell):
    register(_cls)


def get(class_name: str):
    """The registered layer class for a Keras class name; ValueError otherwise."""
    if class_name == "Lambda":
        raise ValueError(
            "Lambda layers are not supported: loading one would run code from the file"
        )
    if class_name not in _REGISTRY and class_name in _LAZY_REGISTERED:
        register(__getattr__(class_name))
    try:
        return _REGISTRY[class_name]
    except KeyError:
        known = sorted(set(_REGISTRY) | _LAZY_REGISTERED)
        raise ValueError(
            f"Unknown layer class {class_name!r}; lstmkit knows {', '.join(known)}"
        ) from None


def serialize(layer) -> dict:
    """Keras 3's entry for a layer (a registered custom class carries its registered name)."""
    cls = type(layer)
    if _registration.is_registered(cls):
        return {"module": cls.__module__, "class_name": cls.__name__,
                "config": layer.get_config(),
                "registered_name": _registration.get_registered_name(cls)}
    return {"module": "keras.layers", "class_name": type(layer).__name__,
            "config": layer.get_config(), "registered_name": None}


def deserialize(entry: dict):
    """A layer from a Keras entry `{"class_name", "config", ...}`.

    A custom class is built only if registered under the entry's `registered_name`
    (`lk.saving.register_keras_serializable`); its `module` is never imported.
    """
    if not isinstance(entry, dict) or "class_name" not in entry:
        raise ValueError(f"A layer entry must be a dict with 'class_name', got {entry!r}")
    custom = _registration.get_registered_object(entry.get("registered_name"))
    cls = custom if custom is not None else get(entry["class_name"])
    return cls.from_config(dict(entry.get("config") or {}))


__all__ = [
    "LSTM",
    "Activation",
    "Add",
    "Average",
    "AveragePooling1D",
    "BatchNormalization",
    "Bidirectional",
    "Concatenate",
    "Conv1D",
    "Dense",
    "Dropout",
    "ELU",
    "LeakyReLU",
    "PReLU",
    "ReLU",
    "Softmax",
    "Embedding",
    "Flatten",
    "GRU",
    "GRUCell",
    "GlobalAveragePooling1D",
    "GlobalMaxPooling1D",
    "Input",
    "InputLayer",
    "LSTMCell",
    "Layer",
    "LayerNormalization",
    "Masking",
    "MaxPooling1D",
    "Maximum",
    "Minimum",
    "Multiply",
    "Normalization",
    "Permute",
    "RNN",
    "RepeatVector",
    "Reshape",
    "SimpleRNN",
    "SimpleRNNCell",
    "StackedRNNCells",
    "Subtract",
    "TimeDistributed",
    "Variable",
    "AvgPool1D",
    "Convolution1D",
    "GlobalAvgPool1D",
    "GlobalMaxPool1D",
    "MaxPool1D",
    "add",
    "average",
    "concatenate",
    "maximum",
    "minimum",
    "multiply",
    "subtract",
    "deserialize",
    "get",
    "register",
    "serialize",
]
