"""Conversion to and from PyTorch and ONNX, exact in Keras's semantics.

- `to_torch(layer_or_model)` -> `torch.nn.Module`; `from_torch(module)` -> lstmkit;
  `load_torch_weights(target, module)` copies trained weights back (DDP wrappers too).
- `save_torch(obj, path)` writes a `.pt2` ExportedProgram that loads with torch alone.
- `train_distributed(obj, x, y, ...)`: DistributedDataParallel over N processes, weights
  back into lstmkit (`lstmkit.convert.distributed`).
- `to_onnx(layer_or_model, path)` writes an ONNX model built on the standard `LSTM`
  operator; `onnx_feed(...)` makes onnxruntime's input dict (masks -> `sequence_lens`).
- `reorder_gates`, `keras_to_torch`, `torch_to_keras`, `keras_to_onnx`, `onnx_to_keras`:
  the weight layouts (gate orders i,f,c,o / i,f,g,o / i,o,f,c; one bias vs two).

torch and onnx are imported on first use (`pip install lstmkit[torch]`, `lstmkit[onnx]`).

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> lk.convert.reorder_gates(np.arange(4), "ifco", "iofc")
    array([0, 3, 1, 2])
"""

from __future__ import annotations

import importlib

from .._extras import extra_needed
from ._gates import keras_to_onnx, keras_to_torch, onnx_to_keras, reorder_gates, torch_to_keras

_LAZY = {
    "to_torch": ("torch", "torch"),
    "from_torch": ("torch", "torch"),
    "load_torch_weights": ("torch", "torch"),
    "torch_weights": ("torch", "torch"),
    "save_torch": ("_torch_export", "torch"),
    "train_distributed": ("distributed", "torch"),
    "to_onnx": ("onnx", "onnx"),
    "onnx_feed": ("onnx", "onnx"),
}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'lstmkit.convert' has no attribute {name!r}")
    with extra_needed(f"lstmkit.convert.{name}"):
        module = importlib.import_module(f".{_LAZY[name][0]}", __name__)
    value = getattr(module, name)
    globals()[name] = value
    return value


__all__ = [
    "from_torch",
    "keras_to_onnx",
    "keras_to_torch",
    "load_torch_weights",
    "onnx_feed",
    "onnx_to_keras",
    "reorder_gates",
    "save_torch",
    "to_onnx",
    "to_torch",
    "torch_to_keras",
    "torch_weights",
    "train_distributed",
]
