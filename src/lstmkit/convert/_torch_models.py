"""Models (Sequential and functional) -> PyTorch, layer by layer (filled in with lk.models)."""

from __future__ import annotations

from torch import nn


class KerasModel(nn.Module):
    """A converted lstmkit model: the converted layers, run in the model's order."""


def model_to_torch(obj):
    raise ValueError(
        f"to_torch converts lstmkit LSTM, Bidirectional and models; got {type(obj).__name__}"
    )


def model_torch_weights(module):
    raise ValueError(f"Not a module made by lstmkit.convert.to_torch: {type(module).__name__}")


def load_model_weights(target, module):
    raise ValueError(f"load_torch_weights: cannot load into {type(target).__name__}")


def model_from_torch(module):
    raise ValueError(f"Not a module made by lstmkit.convert.to_torch: {type(module).__name__}")
