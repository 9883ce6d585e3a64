"""Save a converted model as a PyTorch ExportedProgram (`.pt2`) that loads without lstmkit.

`save_torch(obj, path)` runs `torch.export` on `to_torch(obj)` and writes the
program with `torch.export.save`. Anyone with torch loads it back with

    program = torch.export.load("model.pt2")
    outputs = program.module()(x)            # x: (batch, timesteps, ...) tensors

The batch axis stays dynamic; the number of timesteps is fixed at export (PyTorch
specializes the time loop, also inside `nn.LSTM`), taken from the model's input
shape or `timesteps=`. For variable-length inputs export ONNX, whose time axis is
dynamic. Exporting unrolls the time loop, so it takes seconds to a minute.
"""

from __future__ import annotations

import os
import warnings

import torch

from .. import _files
from ..layers import LSTM, Bidirectional
from .torch import to_torch

_INT = {"int32": torch.int32, "int64": torch.int64, "int16": torch.int16, "uint8": torch.uint8}


def _example_inputs(obj, timesteps, batch_size):
    if isinstance(obj, (LSTM, Bidirectional)):
        sub = obj.forward_layer if isinstance(obj, Bidirectional) else obj
        if timesteps is None:
            raise ValueError("save_torch of a single layer needs timesteps= (the length the "
                             "exported program takes)")
        dtype = torch.float64 if obj.dtype == "float64" else torch.float32
        return [torch.zeros(batch_size, timesteps, sub.cell.input_dim, dtype=dtype)]
    examples = []
    for t in obj.inputs:
        shape = list(t.shape)
        shape[0] = batch_size
        if len(shape) > 1 and shape[1] is None:
            if timesteps is None:
                raise ValueError(
                    f"Input {t._keras_history[0].name!r} has shape {t.shape} with a variable "
                    f"number of timesteps; pass timesteps= (--timesteps) to fix it for export"
                )
            shape[1] = timesteps
        if any(d is None for d in shape):
            raise ValueError(f"Input {t._keras_history[0].name!r} has unknown dimensions "
                             f"{t.shape}; only batch and timesteps may be unknown")
        dtype = _INT.get(t.dtype, torch.float64 if t.dtype == "float64" else torch.float32)
        examples.append(torch.zeros(shape, dtype=dtype))
    return examples


def save_torch(obj, path, timesteps=None):
    """Write `obj` (layer or model) as a `.pt2` ExportedProgram; returns the path.

    Args:
        obj: what `to_torch` converts.
        path: the file to write (`.pt2` by convention).
        timesteps: the sequence length to export for, when the model's is unknown.
    """
    module = to_torch(obj).eval()
    examples = _example_inputs(obj, timesteps, batch_size=2)
    batch = torch.export.Dim("batch")
    if isinstance(obj, (LSTM, Bidirectional)):
        dynamic = ({0: batch},)
    else:
        dynamic = (tuple({0: batch} for _ in examples),)  # forward(*inputs)
    with warnings.catch_warnings():
        # torch.export warns about nn.LSTM's cached flat weights; nothing to act on.
        warnings.simplefilter("ignore")
        program = torch.export.export(module, tuple(examples), dynamic_shapes=dynamic)
        directory = os.path.dirname(os.fspath(path))
        if directory:
            os.makedirs(directory, exist_ok=True)
        with _files.atomic_path(path) as tmp:
            torch.export.save(program, tmp)
    return os.fspath(path)
