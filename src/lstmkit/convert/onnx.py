"""lstmkit -> ONNX: `to_onnx` writes a model built on the standard `LSTM` operator.

The exported model takes batch-major float32 inputs like Keras, `inputs`
(batch, timesteps, features), and returns Keras's outputs in Keras's order.
Layers add, on request:
- `mask` bool (batch, timesteps), Keras's mask (`mask=True`): any mask, right-padded
  or not (the graph compacts the valid steps and feeds ONNX's `sequence_lens`; see
  `_onnx_graph`). Models compute their masks from `Embedding(mask_zero=True)` and
  `Masking` inside the graph.
- `initial_h`, `initial_c` (batch, units) (`initial_state=True`); `Bidirectional`
  takes `initial_h_forward`, `initial_c_forward`, `initial_h_backward`, `initial_c_backward`;
  stacked cells (`RNN([cell, ...])`, one node per cell) take each cell's, numbered:
  `initial_h0`, `initial_c0`, `initial_h1`, ... and return `output`, `h0`, `c0`, `h1`, ...
  (Keras's per-cell lists, flat).

Weights are written as float32 (onnxruntime's LSTM kernel is float32).

Example:
    >>> import numpy as np, onnxruntime as ort, tempfile, os
    >>> import lstmkit as lk
    >>> layer = lk.layers.LSTM(4, return_sequences=True)
    >>> x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    >>> y = layer(x)
    >>> path = os.path.join(tempfile.mkdtemp(), "lstm.onnx")
    >>> _ = lk.convert.to_onnx(layer, path)
    >>> sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    >>> bool(np.allclose(sess.run(None, lk.convert.onnx_feed(x))[0], y, atol=1e-5))
    True
"""

from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import TensorProto

from .. import _files
from ..layers import LSTM, Bidirectional
from ..layers.rnn import RNN, _flatten, state_sizes
from ..layers.rnn import _state_names as _stack_state_names
from ._onnx_graph import Graph, bidirectional_outputs, lstm_outputs

DOC = ("Exported by lstmkit. Inputs are batch-major (batch, timesteps, features); Keras's "
       "masks (any pattern), carried outputs and go_backwards order are reproduced.")
_FLOAT = TensorProto.FLOAT


_LSTM_STATES = ["initial_h", "initial_c"]
_BIDIRECTIONAL_STATES = ["initial_h_forward", "initial_c_forward", "initial_h_backward",
                         "initial_c_backward"]


def _one_state(layer) -> bool:
    """A GRU / SimpleRNN (or a Bidirectional over one): one state h instead of h, c."""
    sub = layer.forward_layer if isinstance(layer, Bidirectional) else layer
    return not isinstance(sub, LSTM) and type(sub.cell).__name__ != "LSTMCell"


def _stacked(layer) -> bool:
    return hasattr(getattr(layer, "cell", None), "cells")


def _state_names(layer):
    if _stacked(layer):
        return [f"initial_{n}" for n in _stack_state_names(layer.cell)]
    names = _BIDIRECTIONAL_STATES if isinstance(layer, Bidirectional) else _LSTM_STATES
    return [n for n in names if "_c" not in n] if _one_state(layer) else names


def _output_names(layer):
    if _stacked(layer):
        return ["output"] + (_stack_state_names(layer.cell) if layer.return_state else [])
    if isinstance(layer, Bidirectional):
        ys = ["output"] if layer.merge_mode is not None else ["output_forward",
                                                              "output_backward"]
        states = ["h_forward", "c_forward", "h_backward", "c_backward"]
    else:
        ys, states = ["output"], ["h", "c"]
    if _one_state(layer):
        states = [n for n in states if not n.startswith("c")]
    return ys + (states if layer.return_state else [])


def _layer_graph(layer, mask: bool, initial_state: bool) -> Graph:
    if not layer.built:
        raise ValueError(
            f"Layer {layer.name!r} is not built, so it has no weights to export; call it on "
            f"an input or build((batch, timesteps, features)) first"
        )
    g = Graph()
    sub = layer.forward_layer if isinstance(layer, Bidirectional) else layer
    x = g.add_input("inputs", _FLOAT, ["batch", "timesteps", sub.cell.input_dim])
    mask = g.add_input("mask", TensorProto.BOOL, ["batch", "timesteps"]) if mask else None
    states = None
    if initial_state:
        units = ([layer.forward_layer.units] * 4 if isinstance(layer, Bidirectional)
                 else state_sizes(layer.cell) if _stacked(layer) else [layer.units] * 2)
        states = [g.add_input(n, _FLOAT, ["batch", u])
                  for n, u in zip(_state_names(layer), units)]
    emit = bidirectional_outputs if isinstance(layer, Bidirectional) else lstm_outputs
    outs = emit(g, layer, x, mask, states)
    shapes = layer.compute_output_shape((None, None, sub.cell.input_dim))
    if not isinstance(shapes[0], tuple):
        shapes = [shapes]
    # a stack's states: one list per cell (Keras), flat here
    shapes = [s for part in shapes for s in (part if isinstance(part, list) else [part])]
    for name, source, shape in zip(_output_names(layer), outs, shapes):
        g.add_output(name, source, _FLOAT, symbolic_shape(shape))
    return g


def symbolic_shape(shape):
    """A Keras shape with None -> ONNX's named dimensions ("batch", "timesteps")."""
    names = ["batch", "timesteps"]
    return [names[i] if d is None and i < 2 else (f"dim{i}" if d is None else int(d))
            for i, d in enumerate(shape)]


def to_onnx(obj, path, *, mask=False, initial_state=False, opset=17):
    """Write `obj` as an ONNX model that onnxruntime runs with lstmkit's outputs.

    Args:
        obj: a built `LSTM` or `Bidirectional`, or a `Sequential`/functional model of
            supported layers.
        path: where to write the `.onnx` file.
        mask: (layers) add the `mask` input, a (batch, timesteps) bool Keras mask.
        initial_state: (layers) add inputs for the initial states.
        opset: the ONNX opset (15 or later).

    Returns:
        The `onnx.ModelProto` written.

    Raises:
        ValueError: where ONNX cannot express the configuration (an activation ONNX's
            LSTM lacks, a stateful layer, an unsupported layer), naming the layer.
    """
    if opset < 15:
        raise ValueError(f"to_onnx needs opset 15 or later (Shape with start/end), got {opset}")
    if isinstance(obj, (LSTM, RNN, Bidirectional)):
        model = _layer_graph(obj, mask, initial_state).model(opset, DOC)
    else:
        from . import _onnx_models

        if mask or initial_state:
            raise ValueError(
                "mask= and initial_state= are for single layers; a model's masks come from "
                "its Embedding(mask_zero=True)/Masking layers and its initial states from "
                "its inputs"
            )
        model = _onnx_models.model_graph(obj).model(opset, DOC)
    directory = os.path.dirname(os.fspath(path))
    if directory:
        os.makedirs(directory, exist_ok=True)
    with _files.atomic_path(path) as tmp:
        onnx.save(model, tmp)
    return model


def onnx_feed(inputs, mask=None, initial_state=None, layer=None) -> dict:
    """onnxruntime's input dict for a layer exported by `to_onnx`.

    Args:
        inputs: (B, T, D) array.
        mask: a (B, T) bool mask (for `mask=True` exports) or None.
        initial_state: [h, c] (LSTM) or [h_f, c_f, h_b, c_b] (Bidirectional) or None;
            for stacked cells the cells' states in order (flat, or one list per cell).
        layer: the exported layer; needed for a GRU or SimpleRNN's initial_state ([h], or
            [h_f, h_b] under Bidirectional) and for stacked cells.
    """
    feed = {"inputs": np.asarray(inputs, np.float32)}
    if mask is not None:
        mask = np.asarray(mask)
        if mask.ndim != 2 or mask.dtype.kind not in "biu":
            raise ValueError(f"mask must be a boolean (batch, timesteps) array, got shape "
                             f"{mask.shape} dtype {mask.dtype}")
        feed["mask"] = mask.astype(bool)
    if initial_state is not None:
        initial_state = _flatten(initial_state)
        n = len(initial_state)
        if layer is not None:
            names = _state_names(layer)
            if n != len(names):
                raise ValueError(f"initial_state must be {len(names)} arrays for "
                                 f"{layer.name!r} ({', '.join(names)}), got {n}")
        elif n not in (2, 4):
            raise ValueError(f"initial_state must be 2 arrays (LSTM) or 4 (Bidirectional), got {n}")
        else:
            names = _LSTM_STATES if n == 2 else _BIDIRECTIONAL_STATES
        feed.update({k: np.asarray(v, np.float32) for k, v in zip(names, initial_state)})
    return feed
