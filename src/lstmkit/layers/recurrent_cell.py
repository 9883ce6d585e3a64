"""What every lstmkit cell shares: one step called on arrays, and a sequence run on the
reference loop (`reference_rnn`) for the `RNN` layer.

A cell class mixes in `RecurrentCell` and defines `step_fns(masks)` (its step with
the weights bound, `reference_rnn.StepFns`) and `make_dropout_masks(batch, training)`.
`LSTMCell` overrides `run_sequence` with the fused kernels.

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> cell = lk.layers.GRUCell(4)
    >>> h, [h_again] = cell(np.ones((2, 3), "float32"), cell.get_initial_state(2))
    >>> h.shape
    (2, 4)
"""

from __future__ import annotations

import numpy as np

from .. import reference_rnn as _rr
from .base import check_array
from .rnn import RunResult, _flatten, state_sizes


def cell_config(layer, cell_keys, activity_before) -> dict:
    """A GRU/SimpleRNN layer's Keras config: the RNN keys, then the cell's, flat.

    `activity_before`: the cell key that `activity_regularizer` precedes (Keras's order).
    """
    from .rnn import RNN

    config = RNN.get_config(layer)
    config.pop("cell")
    cell = layer.cell.get_config()
    from .. import regularizers as _regularizers

    for key in cell_keys:
        if key == activity_before:
            config["activity_regularizer"] = _regularizers.serialize(
                layer.activity_regularizer)
        config[key] = cell[key]
    return config


class RecurrentCell:
    """Mixin for `Layer` cells that run on the reference loop."""

    def get_initial_state(self, batch_size=None):
        return [np.zeros((batch_size, s), self.dtype) for s in state_sizes(self)]

    def _check_built(self, input_dim):
        if input_dim is None:
            raise ValueError(f"The last dimension of the inputs to {self.name!r} must be known")

    def run_sequence(self, x, states, *, mask=None, go_backwards=False,
                     zero_output_for_mask=False, training=False, return_sequences=True,
                     keep_cache=False, backend=None) -> RunResult:
        """Run the cell over x (B, T, D) from `states` (flat list, or None for zeros)."""
        if backend == "kernel":
            raise ValueError(
                f"backend='kernel' (or use_cudnn=True) cannot run {type(self).__name__}: "
                f"lstmkit's fused kernels compute the LSTM only. Use backend='auto' or "
                f"'reference' (or use_cudnn='auto').")
        B = x.shape[0]
        step = self.step_fns(self.make_dropout_masks(B, training))
        if states is None:
            states = self.get_initial_state(B)
        seq = _rr.rnn_sequence(step, x, states, mask, go_backwards, zero_output_for_mask,
                               keep_steps=keep_cache)
        return RunResult(seq.outputs, seq.outputs[:, -1], seq.states,
                         (step, seq) if keep_cache else None, "reference")

    def run_sequence_backward(self, result: RunResult, d_seq, d_states, input_grad=True):
        """(dx (B, T, D), d_initial_states (flat), d_weights) for a `run_sequence` result."""
        if result.cache is None:
            raise ValueError("run_sequence_backward needs a run with keep_cache=True")
        step, seq = result.cache
        return _rr.rnn_sequence_backward(step, seq, d_seq, d_states)

    def __call__(self, inputs, states, training=False):
        inputs = check_array(inputs, self.dtype)
        if inputs.ndim != 2:
            raise ValueError(
                f"Input 0 of layer {self.name!r} is incompatible with the layer: expected "
                f"ndim=2 (batch, features), found ndim={inputs.ndim}. "
                f"Full shape received: {inputs.shape}"
            )
        if not self.built:
            self.build(inputs.shape)
        return self.call(inputs, states, training=training)

    def call(self, inputs, states, training=False):
        """One step: returns (output, new_states) as the Keras cell does."""
        B, D = inputs.shape
        if D != self.input_dim:
            raise ValueError(
                f"Input 0 of layer {self.name!r} is incompatible with the layer: expected "
                f"axis -1 of input shape to have value {self.input_dim}, but received input "
                f"with shape {inputs.shape}"
            )
        sizes = state_sizes(self)
        flat = _flatten(states) if isinstance(states, (list, tuple)) else [states]
        if len(flat) != len(sizes):
            raise ValueError(f"Layer {self.name!r} expects {len(sizes)} states, got {len(flat)}")
        flat = [check_array(s, self.dtype, "states") for s in flat]
        for s, size in zip(flat, sizes):
            if s.shape != (B, size):
                raise ValueError(
                    f"A state of layer {self.name!r} must have shape (batch, units) = "
                    f"{(B, size)}, got {s.shape}")
        out, new, _ = self.step_fns(self.make_dropout_masks(B, training)).forward(inputs, flat)
        return out, new
