"""A small ONNX graph builder and the LSTM/Bidirectional emitters (Keras semantics).

Tensors between layers stay batch-major like Keras's: (B, T, F). The ONNX `LSTM`
operator runs time-major (layout 0): X (T, B, D), Y (T, dirs, B, H), Y_h and
Y_c (dirs, B, H); see https://onnx.ai/onnx/operators/onnx__LSTM.html.

What differs from Keras and how each emitter makes Keras's numbers:
- `go_backwards`: ONNX `direction="reverse"` writes Y in input time order; Keras
  returns processing (reversed) order, so Y is flipped (onnxruntime#4187).
- Masks: a right-padded mask is `sequence_lens` (valid steps per row). ONNX writes
  zeros after the last valid step; Keras repeats the last valid output unless
  `zero_output_for_mask`, so the emitter gathers step `min(t, len - 1)`
  (onnxruntime#12492). A row with 0 valid steps keeps its initial state in Keras;
  onnxruntime returns zeros there, so a `Where` puts the initial state back.
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


def emit_lstm(g: Graph, layer, x, seq_lens=None, initial_state=None):
    """Add one Keras `LSTM` layer; returns (sequence (B, T, H) in Keras's order, h, c).

    Args:
        x: name of the (B, T, D) float32 input.
        seq_lens: name of an int32 (B,) tensor of valid steps (a right-padded mask) or None.
        initial_state: names of h0, c0 (B, H) or None.
    """
    cell = layer.cell
    if layer.stateful:
        raise ValueError(
            f"Layer {layer.name!r} is stateful; an ONNX graph keeps no state between runs. "
            f"Export a stateful=False copy and feed initial_h/initial_c."
        )
    acts = [onnx_activation(cell.recurrent_activation), onnx_activation(cell.activation),
            onnx_activation(cell.activation)]
    H = layer.units
    W, R, B = _gates.keras_to_onnx(*[w.astype(np.float32) for w in layer.get_weights()])
    attrs = {"hidden_size": H, "direction": "reverse" if layer.go_backwards else "forward",
             "activations": [a[0] for a in acts]}
    alphas = [a[1] for a in acts if a[1] is not None]
    betas = [a[2] for a in acts if a[2] is not None]
    if alphas:
        attrs["activation_alpha"] = [float(a) for a in alphas]
    if betas:
        attrs["activation_beta"] = [float(b) for b in betas]
    xt = g.op("Transpose", [x], perm=[1, 0, 2])  # (T, B, D)
    h0 = c0 = ""
    if initial_state is not None:
        h0, c0 = (g.op("Unsqueeze", [s, g.ints([0])]) for s in initial_state)  # (1, B, H)
    y, y_h, y_c = g.op(
        "LSTM", [xt, g.const(W[None], "W"), g.const(R[None], "R"), g.const(B[None], "B"),
                 seq_lens or "", h0, c0], n_out=3, **attrs)
    y = g.op("Squeeze", [y, g.ints([1])])  # (T, B, H)
    if layer.go_backwards:
        y = g.flip_time(y, 0)  # processing order; padding (zeros) comes first, as in Keras
    elif seq_lens is not None and not layer.zero_output_for_mask:
        y = _carry_last_valid(g, y, xt, seq_lens)
    seq = g.op("Transpose", [y], perm=[1, 0, 2])  # (B, T, H)
    h = g.op("Squeeze", [y_h, g.ints([0])])  # (B, H)
    c = g.op("Squeeze", [y_c, g.ints([0])])
    if seq_lens is not None and initial_state is not None:
        empty = g.op("Unsqueeze", [g.op("Equal", [seq_lens, g.const(np.asarray(0, np.int32))]),
                                   g.ints([1])])  # (B, 1)
        h = g.op("Where", [empty, initial_state[0], h])
        c = g.op("Where", [empty, initial_state[1], c])
    return seq, h, c


def _carry_last_valid(g: Graph, y, xt, seq_lens):
    """y (T, B, H) zero-filled after each row's length -> y[min(t, len - 1)] (Keras's carry)."""
    T = g.op("Squeeze", [g.op("Shape", [xt], start=0, end=1), g.ints([0])])  # scalar
    t = g.op("Range", [g.const(np.asarray(0, np.int64)), T, g.const(np.asarray(1, np.int64))])
    last = g.op("Sub", [g.op("Cast", [seq_lens], to=TensorProto.INT64),
                        g.const(np.asarray(1, np.int64))])  # (B,)
    idx = g.op("Min", [g.op("Unsqueeze", [t, g.ints([1])]),
                       g.op("Unsqueeze", [last, g.ints([0])])])  # (T, B)
    idx = g.op("Max", [idx, g.const(np.asarray(0, np.int64))])
    idx = g.op("Expand", [g.op("Unsqueeze", [idx, g.ints([2])]), g.op("Shape", [y])])
    return g.op("GatherElements", [y, idx], axis=0)  # (T, B, H)


def lstm_outputs(g, layer, x, seq_lens=None, initial_state=None):
    """The Keras outputs of an `LSTM` layer: [y] or [y, h, c]."""
    seq, h, c = emit_lstm(g, layer, x, seq_lens, initial_state)
    y = seq if layer.return_sequences else g.last_step(seq)
    return [y, h, c] if layer.return_state else [y]


def bidirectional_outputs(g, layer, x, seq_lens=None, initial_state=None):
    """The Keras outputs of a `Bidirectional`: merged (or y_f, y_b), then states if asked."""
    s_f = s_b = None
    if initial_state is not None:
        s_f, s_b = initial_state[:2], initial_state[2:]
    y_f, *st_f = lstm_outputs(g, layer.forward_layer, x, seq_lens, s_f)
    y_b, *st_b = lstm_outputs(g, layer.backward_layer, x, seq_lens, s_b)
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
