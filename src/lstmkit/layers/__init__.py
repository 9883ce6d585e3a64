"""Layers with Keras's names: `LSTM`, `LSTMCell`, `Bidirectional`, and a registry.

`serialize(layer)` / `deserialize(entry)` convert between layers and Keras's
`{"module", "class_name", "config", "registered_name"}` entries. Only classes
registered here can be deserialized: a file never names code to run.
"""

from .activation import Activation
from .base import Layer, Variable
from .bidirectional import Bidirectional
from .convolutional import AveragePooling1D, Conv1D, MaxPooling1D
from .core import Dense, Embedding
from .input_layer import Input, InputLayer
from .lstm import LSTM
from .lstm_cell import LSTMCell
from .merging import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract
from .normalization import BatchNormalization, LayerNormalization
from .pooling import GlobalAveragePooling1D, GlobalMaxPooling1D
from .preprocessing import Normalization
from .regularization import Dropout, Masking
from .reshaping import Flatten, Permute, RepeatVector, Reshape
from .wrappers import TimeDistributed

_REGISTRY: dict[str, type] = {}


def register(cls, *names):
    """Make `cls` deserializable under its class name (and `names`)."""
    for name in (cls.__name__, *names):
        _REGISTRY[name] = cls
    return cls


for _cls in (LSTM, LSTMCell, Bidirectional, Normalization):
    register(_cls)


for _cls in (Activation, Dense, Embedding, InputLayer, Add, Concatenate, Dropout, Masking,
             Flatten, RepeatVector, TimeDistributed, Average, Maximum, Minimum, Multiply,
             Subtract, GlobalAveragePooling1D, GlobalMaxPooling1D, Permute, Reshape,
             LayerNormalization, BatchNormalization, Conv1D, MaxPooling1D, AveragePooling1D):
    register(_cls)


def get(class_name: str):
    """The registered layer class for a Keras class name; ValueError otherwise."""
    if class_name in ("GRU", "SimpleRNN", "GRUCell", "SimpleRNNCell"):
        raise ValueError(f"Layer {class_name!r} is not supported yet by lstmkit (LSTM only)")
    if class_name == "Lambda":
        raise ValueError(
            "Lambda layers are not supported: loading one would run code from the file"
        )
    try:
        return _REGISTRY[class_name]
    except KeyError:
        raise ValueError(
            f"Unknown layer class {class_name!r}; lstmkit knows {', '.join(sorted(_REGISTRY))}"
        ) from None


def serialize(layer) -> dict:
    """Keras 3's entry for a layer."""
    return {"module": "keras.layers", "class_name": type(layer).__name__,
            "config": layer.get_config(), "registered_name": None}


def deserialize(entry: dict):
    """A layer from a Keras entry `{"class_name", "config", ...}`."""
    if not isinstance(entry, dict) or "class_name" not in entry:
        raise ValueError(f"A layer entry must be a dict with 'class_name', got {entry!r}")
    return get(entry["class_name"]).from_config(dict(entry.get("config") or {}))


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
    "Embedding",
    "Flatten",
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
    "RepeatVector",
    "Reshape",
    "Subtract",
    "TimeDistributed",
    "Variable",
    "deserialize",
    "get",
    "register",
    "serialize",
]
