"""lstmkit models (Sequential and functional) -> an ONNX graph, node by node.

Masks travel through the graph as (B, T) bool tensors, made by
`Embedding(mask_zero=True)` and `Masking` and passed from layer to layer as in
Keras 3 (see `_torch_models`); merging layers OR them. The LSTM emitter turns any
mask into what ONNX's LSTM takes (see `_onnx_graph`).
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto

from ..layers import LSTM, Bidirectional
from ..layers.input_layer import InputLayer
from ..layers.node import KerasTensor
from ..layers.rnn import RNN
from ._onnx_graph import Graph, bidirectional_outputs, lstm_outputs

_ELEM = {"float32": TensorProto.FLOAT, "float64": TensorProto.FLOAT,
         "int32": TensorProto.INT32, "int64": TensorProto.INT64, "bool": TensorProto.BOOL}


def activation(g: Graph, name: str, x: str) -> str:
    """A Keras activation (by name) on tensor x, as ONNX operators."""
    f32 = lambda v: g.const(np.asarray(v, np.float32))
    if name == "linear":
        return x
    simple = {"relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid", "elu": "Elu",
              "softplus": "Softplus", "softsign": "Softsign", "selu": "Selu",
              "exponential": "Exp"}
    if name in simple:
        return g.op(simple[name], [x])
    if name == "softmax":
        return g.op("Softmax", [x], axis=-1)
    if name == "log_softmax":
        return g.op("LogSoftmax", [x], axis=-1)
    if name == "hard_sigmoid":
        return g.op("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5)
    if name == "hard_sigmoid_keras2":
        return g.op("HardSigmoid", [x], alpha=0.2, beta=0.5)
    if name == "relu6":
        return g.op("Clip", [x, f32(0.0), f32(6.0)])
    if name == "hard_tanh":
        return g.op("Clip", [x, f32(-1.0), f32(1.0)])
    if name == "silu":
        return g.op("Mul", [x, g.op("Sigmoid", [x])])
    if name == "gelu":  # exact: 0.5 x (1 + erf(x / sqrt 2))
        erf = g.op("Erf", [g.op("Div", [x, f32(np.sqrt(2.0))])])
        return g.op("Mul", [g.op("Mul", [x, f32(0.5)]), g.op("Add", [erf, f32(1.0)])])
    raise ValueError(f"to_onnx has no ONNX form of activation {name!r}")


def _merge_masks(g, masks, any_none_means_none):
    """OR of (B, T) bool masks; None where Keras's result has no mask."""
    present = [x for x in masks if x is not None]
    if not present or (any_none_means_none and len(present) != len(masks)):
        return None
    out = present[0]
    for m in present[1:]:
        out = g.op("Or", [out, m])
    return out


def emit_layer(g: Graph, layer, args, mask, initial_state):
    """Emit one call of `layer`; returns (outputs, output masks (B, T) bool or None)."""
    from .torch import activation_name

    kind = type(layer).__name__
    f32 = lambda v: g.const(np.asarray(v, np.float32))
    if isinstance(layer, (LSTM, RNN, Bidirectional)):
        emit = bidirectional_outputs if isinstance(layer, Bidirectional) else lstm_outputs
        outs = emit(g, layer, args, mask, initial_state)
        out_mask = mask if layer.return_sequences else None
        n_merged = 2 if isinstance(layer, Bidirectional) and layer.merge_mode is None else 1
        return outs, [out_mask] * n_merged + [None] * (len(outs) - n_merged)
    if kind == "Dense":
        z = g.op("MatMul", [args, f32(layer.kernel.value)])
        if layer.bias is not None:
            z = g.op("Add", [z, f32(layer.bias.value)])
        return [activation(g, activation_name(layer.activation), z)], [mask]
    if kind == "TimeDistributed":
        return emit_layer(g, layer.layer, args, mask, None)
    if kind == "Activation":
        return [activation(g, activation_name(layer.activation), args)], [mask]
    if kind == "Dropout":
        return [g.op("Identity", [args])], [mask]
    if kind == "Embedding":
        ids = g.op("Cast", [args], to=TensorProto.INT64)
        out = g.op("Gather", [f32(layer.embeddings.value), ids], axis=0)
        mask_out = None
        if layer.mask_zero:
            mask_out = g.op("Not", [g.op("Equal", [ids, g.const(np.asarray(0, np.int64))])])
        return [out], [mask_out]
    if kind == "Masking":
        differs = g.op("Not", [g.op("Equal", [args, f32(layer.mask_value)])])  # (B, T, D)
        count = g.op("ReduceSum", [g.op("Cast", [differs], to=TensorProto.INT32),
                                   g.ints([-1])], keepdims=1)  # (B, T, 1)
        keep = g.op("Greater", [count, g.const(np.asarray(0, np.int32))])  # any(x != value)
        out = g.op("Where", [keep, args, f32(0.0)])
        return [out], [g.op("Squeeze", [keep, g.ints([-1])])]  # (B, T)
    if kind == "Flatten":
        return [g.op("Flatten", [args], axis=1)], [None]
    if kind == "RepeatVector":
        tiled = g.op("Tile", [g.op("Unsqueeze", [args, g.ints([1])]), g.ints([1, layer.n, 1])])
        return [tiled], [None]
    if kind == "Add":
        out = args[0]
        for a in args[1:]:
            out = g.op("Add", [out, a])
        return [out], [_merge_masks(g, mask or [], False)]
    if kind == "Concatenate":
        return [g.op("Concat", list(args), axis=layer.axis)], [_merge_masks(g, mask or [], True)]
    if kind == "Normalization":
        if layer.axis not in ((), (-1,)):
            raise ValueError(f"to_onnx converts Normalization on the last axis only; "
                             f"{layer.name!r} has axis={layer.axis}")
        mean, scale = layer._stats(1 if not layer.axis else 2)
        mean, scale = f32(np.ravel(mean) if layer.axis else mean), f32(
            np.ravel(scale) if layer.axis else scale)
        if layer.invert:
            return [g.op("Add", [mean, g.op("Mul", [args, scale])])], [mask]
        return [g.op("Div", [g.op("Sub", [args, mean]), scale])], [mask]
    raise ValueError(
        f"to_onnx cannot convert layer {layer.name!r} of type {kind}; supported: LSTM, "
        f"Bidirectional, Dense, Embedding, Activation, Dropout, Masking, Flatten, "
        f"RepeatVector, Add, Concatenate, Normalization, TimeDistributed"
    )


def _fetch(structure, values):
    if isinstance(structure, KerasTensor):
        return values[id(structure)]
    if isinstance(structure, (list, tuple)):
        return [_fetch(s, values) for s in structure]
    return structure


def model_graph(model) -> Graph:
    """The ONNX graph of a built lstmkit `Sequential` or functional `Model`."""
    from ._torch_models import _supports_masking, built_model
    from .onnx import symbolic_shape

    built_model(model, "to_onnx")
    g = Graph()
    values, masks = {}, {}
    for t in model.inputs:
        name = t._keras_history[0].name
        values[id(t)] = g.add_input(name, _ELEM.get(t.dtype, TensorProto.FLOAT),
                                    symbolic_shape(t.shape))
    for node in model._run_order:
        layer = node.layer
        if isinstance(layer, InputLayer):
            continue
        if hasattr(layer, "_run_order"):
            raise ValueError(f"Nested model {layer.name!r} is not supported by to_onnx")
        args = _fetch(node.call_args, values)
        kw = node.call_kwargs
        if isinstance(node.call_args, (list, tuple)):
            previous = [masks.get(id(t)) for t in node.call_args]
        else:
            previous = masks.get(id(node.call_args))
        state = _fetch(kw["initial_state"], values) if "initial_state" in kw else None
        if kw.get("mask") is not None:
            previous = g.op("Cast", [_fetch(kw["mask"], values)], to=TensorProto.BOOL)
            mask = previous
        elif state is None:
            mask = previous
        else:
            mask = None
        if isinstance(mask, list) and all(m is None for m in mask):
            mask = None
        outs, out_masks = emit_layer(g, layer, args, mask, state)
        for t, value in zip(node.output_tensors, outs):
            values[id(t)] = value
        if _supports_masking(layer):
            for t, m in zip(node.output_tensors, out_masks):
                if m is not None:
                    masks[id(t)] = m
    names = [t._keras_history[0].name for t in model.outputs]
    for i, t in enumerate(model.outputs):
        name = names[i] if names.count(names[i]) == 1 else f"{names[i]}_{i}"
        g.add_output(name, values[id(t)], TensorProto.FLOAT, symbolic_shape(t.shape))
    return g
