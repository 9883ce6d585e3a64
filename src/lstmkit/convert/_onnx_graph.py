"""A small ONNX graph builder and the LSTM/GRU/SimpleRNN/Bidirectional emitters (Keras
semantics). A Keras GRU is ONNX's `GRU` operator (gate order z, r, h as Keras's) with
`linear_before_reset=1` for `reset_after=True` (B = [input bias, recurrent bias]) and 0 for
`reset_after=False` (no recurrent bias); a SimpleRNN is ONNX's `RNN`.

Tensors between layers stay batch-major like Keras's: (B, T, F). The ONNX `LSTM`
operator runs time-major (layout 0): X (T, B, D), Y (T, dirs, B, H), Y_h and
Y_c (dirs, B, H); see https://onnx.ai/onnx/operators/onnx__LSTM.html.

What differs from Keras and how each emitter makes Keras's numbers:
- `go_backwards`: ONNX `direction="reverse"` writes Y in input time order; Keras
  returns processing (reversed) order, so the emitter flips the input and runs
  forward (onnxruntime#4187).
- Masks: Keras skips masked steps (states kept) and repeats the last valid output
  (or zeros with `zero_output_for_mask`); ONNX's LSTM takes only `sequence_lens`
  and writes zeros after them (onnxruntime#12492). The emitter moves each row's
  valid steps to the front (so any mask, not only right padding, works), runs
  `sequence_lens` = valid steps, and gathers the outputs back to Keras's steps. A row
  with no valid step keeps its initial state in Keras; onnxruntime gives zeros, so
  a `Where` puts the initial state back.
- The Keras bias goes into `Wb`, `Rb` is zeros (keras-onnx#98).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .. import activations as _activations
from . import _gates

# Keras activation -> (ONNX RNN activation, alpha or None, beta or None).
_ONNX_ACTIVATIONS = {
    "sigmoid": ("Sigmoid", None, None),
    "tanh": ("Tanh", None, None),
    "relu": ("Relu", None, None),
    "linear": ("Affine", 1.0, 0.0),
    "softsign": ("Softsign", None, None),
    "softplus": ("Softplus", None, None),
    "elu": ("Elu", 1.0, None),
    "hard_sigmoid": ("HardSigmoid", 1.0 / 6.0, 0.5),  # Keras 3: relu6(x + 3) / 6
}


def onnx_activation(activation):
    """(name, alpha, beta) of ONNX's RNN activation equal to a Keras activation."""
    if activation is _activations.hard_sigmoid_keras2:
        return ("HardSigmoid", 0.2, 0.5)  # Keras 2: clip(0.2 x + 0.5, 0, 1)
    if activation.name not in _ONNX_ACTIVATIONS:
        raise ValueError(
            f"ONNX's LSTM operator cannot express activation {activation.name!r}; it allows "
            f"{', '.join(sorted(_ONNX_ACTIVATIONS))} (use to_torch for the others)"
        )
    return _ONNX_ACTIVATIONS[activation.name]


class Graph:
    """Collects nodes, initializers, inputs and outputs with unique names."""

    def __init__(self):
        self.nodes, self.initializers, self.inputs, self.outputs = [], [], [], []
        self._count = 0

    def name(self, base: str) -> str:
        self._count += 1
        return f"{base}_{self._count}"

    def const(self, array, base="const") -> str:
        name = self.name(base)
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def ints(self, values) -> str:
        return self.const(np.asarray(values, np.int64), "ints")

    def op(self, op_type: str, inputs, n_out: int = 1, **attrs):
        outs = [self.name(op_type.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=self.name(op_type),
                                           **attrs))
        return outs[0] if n_out == 1 else outs

    def add_input(self, name, elem_type, shape):
        self.inputs.append(helper.make_tensor_value_info(name, elem_type, shape))
        return name

    def add_output(self, name, source, elem_type, shape):
        self.nodes.append(helper.make_node("Identity", [source], [name], name=self.name("out")))
        self.outputs.append(helper.make_tensor_value_info(name, elem_type, shape))

    def model(self, opset: int, doc: str) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, "lstmkit", self.inputs, self.outputs,
                                  self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                  producer_name="lstmkit", doc_string=doc)
        model.ir_version = min(model.ir_version, 9)  # what onnxruntime 1.17+ reads
        onnx.checker.check_model(model)
        return model

    # -- helpers ---------------------------------------------------------------------------
    def flip_time(self, x, axis):
        """x reversed along `axis` (Slice with step -1)."""
        big = np.iinfo(np.int64).max
        return self.op("Slice", [x, self.ints([-1]), self.ints([-big]), self.ints([axis]),
                                 self.ints([-1])])

    def last_step(self, seq):
        """seq (B, T, H) -> seq[:, -1] (B, H)."""
        return self.op("Gather", [seq, self.const(np.asarray(-1, np.int64))], axis=1)


def _operator(cell, layer_name):
    """(ONNX op, W (nH, D), R (nH, H), B (2nH,), activations, extra attributes, states)."""
    kind = type(cell).__name__
    if kind not in ("LSTMCell", "GRUCell", "SimpleRNNCell"):
        raise ValueError(f"to_onnx converts LSTM, GRU, SimpleRNN and RNN of such cells (one, "
                         f"or a list); layer {layer_name!r} runs a {kind}")
    weights = [w.astype(np.float32) for w in cell.get_weights()]
    if kind == "LSTMCell":
        acts = [cell.recurrent_activation, cell.activation, cell.activation]
        return ("LSTM", *_gates.keras_to_onnx(*weights), acts, {}, 2)
    kernel, recurrent, *bias = weights
    n = kernel.shape[1]
    if not bias:
        b = np.zeros(2 * n, np.float32)
    elif bias[0].ndim == 2:  # GRU reset_after=True: [input bias, recurrent bias]
        b = bias[0].reshape(-1)
    else:  # one bias: ONNX's Wb, with Rb zeros
        b = np.concatenate([bias[0], np.zeros(n, np.float32)])
    W, R = np.ascontiguousarray(kernel.T), np.ascontiguousarray(recurrent.T)
    if kind == "SimpleRNNCell":
        return "RNN", W, R, b, [cell.activation], {}, 1
    # ONNX's GRU computes z, r, h as Keras does, same gate order (z, r, h)
    extra = {"linear_before_reset": int(cell.reset_after)}
    return "GRU", W, R, b, [cell.recurrent_activation, cell.activation], extra, 1


def emit_lstm(g: Graph, layer, x, mask=None, initial_state=None):
    """Add one Keras `LSTM`, `GRU` or `SimpleRNN` (or `RNN` of their cells); returns
    (sequence (B, T, H) in Keras's order, *final states): h, c for an LSTM, h otherwise,
    each cell's in order for stacked cells.

    Args:
        x: name of the (B, T, D) float32 input.
        mask: name of a (B, T) bool mask (True = a valid step) or None. Any mask works:
            see `_compact`.
        initial_state: names of the initial states (h0, c0 or h0; the cells' in order for
            stacked cells), (B, H) each, or None.

    Stacked cells (Keras's StackedRNNCells) become one node per cell, chained: cell k
    reads cell k - 1's sequence. That computes what Keras's step-by-step stack computes
    (a masked step keeps every cell's states; what it feeds the next cell is never used).
    Under go_backwards the first node reverses the sequence and the others run forward
    over its output, which is already in processing order.
    """
    if layer.stateful:
        raise ValueError(
            f"Layer {layer.name!r} is stateful; an ONNX graph keeps no state between runs. "
            f"Export a stateful=False copy and feed the initial states."
        )
    cells = getattr(layer.cell, "cells", [layer.cell])
    seq, states, start = x, [], 0
    for k, cell in enumerate(cells):
        n = 2 if type(cell).__name__ == "LSTMCell" else 1
        last = k == len(cells) - 1
        seq, *st = _emit_cell(
            g, cell, layer.name, seq, mask,
            None if initial_state is None else initial_state[start:start + n],
            layer.go_backwards and k == 0,
            # an inner cell's masked-step outputs are never read: zeros cost least
            layer.zero_output_for_mask if last else True)
        states += st
        start += n
        if k == 0 and layer.go_backwards and mask is not None and not last:
            mask = g.flip_time(mask, 1)  # the next cells run forward in processing order
    return (seq, *states)


def _emit_cell(g: Graph, cell, layer_name, x, mask, initial_state, go_backwards,
               zero_output_for_mask):
    """One recurrent node for `cell` over x (B, T, D): (sequence (B, T, H), *final states)."""
    op, W, R, B, activations, extra, n_states = _operator(cell, layer_name)
    acts = [onnx_activation(a) for a in activations]
    attrs = {"hidden_size": cell.units, "direction": "forward",
             "activations": [a[0] for a in acts], **extra}
    alphas = [a[1] for a in acts if a[1] is not None]
    betas = [a[2] for a in acts if a[2] is not None]
    if alphas:
        attrs["activation_alpha"] = [float(a) for a in alphas]
    if betas:
        attrs["activation_beta"] = [float(b) for b in betas]
    xt = g.op("Transpose", [x], perm=[1, 0, 2])  # (T, B, D)
    m = None if mask is None else g.op("Transpose", [mask], perm=[1, 0])  # (T, B)
    if go_backwards:
        # Keras runs the reversed sequence and returns outputs in that processing order;
        # ONNX's "reverse" direction would return them in input order (onnxruntime#4187).
        xt = g.flip_time(xt, 0)
        m = None if m is None else g.flip_time(m, 0)
    lens = steps = None
    if m is not None:
        xt, lens, steps = _compact(g, xt, m)
    starts = [""] * n_states
    if initial_state is not None:
        starts = [g.op("Unsqueeze", [s, g.ints([0])]) for s in initial_state]  # (1, B, H)
    y, *finals = g.op(
        op, [xt, g.const(W[None], "W"), g.const(R[None], "R"), g.const(B[None], "B"),
             lens or "", *starts], n_out=1 + n_states, **attrs)
    y = g.op("Squeeze", [y, g.ints([1])])  # (T, B, H)
    if m is not None:
        y = _expand(g, y, m, steps, zero_output_for_mask)
    seq = g.op("Transpose", [y], perm=[1, 0, 2])  # (B, T, H)
    states = [g.op("Squeeze", [f, g.ints([0])]) for f in finals]  # (B, H) each
    if m is not None and initial_state is not None:
        # A row without valid steps keeps its initial state in Keras; onnxruntime gives zeros.
        empty = g.op("Unsqueeze", [g.op("Equal", [lens, g.const(np.asarray(0, np.int32))]),
                                   g.ints([1])])  # (B, 1)
        states = [g.op("Where", [empty, s0, s]) for s0, s in zip(initial_state, states)]
    return (seq, *states)


def _i64(g, value):
    return g.const(np.asarray(value, np.int64))


def _compact(g: Graph, xt, m):
    """Move each row's valid steps to the front, in order: (x (T, B, D), lens, steps).

    Keras skips a masked step (the state is kept), so running only the valid steps,
    in order, gives the same states. ONNX's LSTM runs the first `lens` steps of each
    row, so any mask (holes, left padding) becomes a prefix. steps (T, B) int64 =
    number of valid steps up to and including t.
    """
    mi = g.op("Cast", [m], to=TensorProto.INT64)  # (T, B)
    steps = g.op("CumSum", [mi, _i64(g, 0)])  # (T, B)
    count = g.op("Gather", [steps, _i64(g, -1)], axis=0)  # (B,)
    T = g.op("Squeeze", [g.op("Shape", [xt], start=0, end=1), g.ints([0])])  # scalar
    t = g.op("Unsqueeze", [g.op("Range", [_i64(g, 0), T, _i64(g, 1)]), g.ints([1])])  # (T, 1)
    # Where step t goes: valid steps to steps[t] - 1, masked ones after all valid ones.
    dest = g.op("Where", [m, g.op("Sub", [steps, _i64(g, 1)]),
                          g.op("Sub", [g.op("Add", [count, t]), steps])])  # (T, B)
    t_tb = g.op("Expand", [t, g.op("Shape", [dest])])  # (T, B)
    src = g.op("ScatterElements", [g.op("Mul", [dest, _i64(g, 0)]), dest, t_tb], axis=0)
    idx = g.op("Expand", [g.op("Unsqueeze", [src, g.ints([2])]), g.op("Shape", [xt])])
    x_c = g.op("GatherElements", [xt, idx], axis=0)  # (T, B, D)
    lens = g.op("Cast", [count], to=TensorProto.INT32)
    return x_c, lens, steps


def _expand(g: Graph, y, m, steps, zero_output_for_mask):
    """Compacted outputs (T, B, H) back to Keras's time steps.

    At step t Keras outputs the output of the last valid step so far (zeros before the
    first), or zeros at masked steps with `zero_output_for_mask`.
    """
    k = g.op("Sub", [steps, _i64(g, 1)])  # (T, B): the compacted step to show
    idx = g.op("Max", [k, _i64(g, 0)])
    idx = g.op("Expand", [g.op("Unsqueeze", [idx, g.ints([2])]), g.op("Shape", [y])])
    out = g.op("GatherElements", [y, idx], axis=0)  # (T, B, H)
    keep = m if zero_output_for_mask else g.op("GreaterOrEqual", [k, _i64(g, 0)])
    zero = g.const(np.asarray(0, np.float32))
    return g.op("Where", [g.op("Unsqueeze", [keep, g.ints([2])]), out, zero])


def lstm_outputs(g, layer, x, mask=None, initial_state=None):
    """The Keras outputs of an `LSTM` layer: [y] or [y, h, c] ([y, h] for a GRU/SimpleRNN)."""
    seq, *states = emit_lstm(g, layer, x, mask, initial_state)
    y = seq if layer.return_sequences else g.last_step(seq)
    return [y, *states] if layer.return_state else [y]


def bidirectional_outputs(g, layer, x, mask=None, initial_state=None):
    """The Keras outputs of a `Bidirectional`: merged (or y_f, y_b), then states if asked."""
    s_f = s_b = None
    if initial_state is not None:
        n = len(initial_state) // 2
        s_f, s_b = initial_state[:n], initial_state[n:]
    y_f, *st_f = lstm_outputs(g, layer.forward_layer, x, mask, s_f)
    y_b, *st_b = lstm_outputs(g, layer.backward_layer, x, mask, s_b)
    if layer.return_sequences:
        y_b = g.flip_time(y_b, 1)  # Keras's ops.flip(y_rev, axis=1): back to input order
    mode = layer.merge_mode
    if mode == "concat":
        merged = [g.op("Concat", [y_f, y_b], axis=-1)]
    elif mode == "sum":
        merged = [g.op("Add", [y_f, y_b])]
    elif mode == "mul":
        merged = [g.op("Mul", [y_f, y_b])]
    elif mode == "ave":
        merged = [g.op("Div", [g.op("Add", [y_f, y_b]), g.const(np.asarray(2, np.float32))])]
    else:
        merged = [y_f, y_b]
    return merged + st_f + st_b
