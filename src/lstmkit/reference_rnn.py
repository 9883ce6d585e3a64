"""The spec of Keras's generic recurrent loop for any cell, forward and backward, in NumPy.

Keras's `RNN` layer (keras/src/layers/rnn/rnn.py and `rnn()` in
keras/src/backend/*/rnn.py) runs a cell step by step. This module does the same
for a *step*: a pair of functions

    forward(x_t (B, D), states [(B, S_i), ...]) -> (output (B, H), new_states, saved)
    backward(saved, d_output, d_new_states) -> (dx_t, d_states, [d_weight, ...])

so one loop serves the GRU (`reference_gru`), SimpleRNN (`reference_simple_rnn`), the
LSTM (`lstm_step_fns`) and a stack of cells (`stacked_step_fns`, Keras's
`StackedRNNCells`). The rules are the LSTM's (`reference.lstm_sequence`): a masked
step keeps every state; its output repeats the previous output (zeros before the
first valid step), or is zeros with `zero_output_for_mask`; `go_backwards` runs
the reversed sequence and returns outputs in processing order.

Example:
    >>> import numpy as np
    >>> from lstmkit import reference_rnn as rr
    >>> rng = np.random.default_rng(0)
    >>> K, R, b = rng.normal(size=(3, 12)), rng.normal(size=(4, 12)), np.zeros((2, 12))
    >>> step = rr.gru_step_fns(K, R, b)
    >>> seq = rr.rnn_sequence(step, rng.normal(size=(2, 5, 3)), [np.zeros((2, 4))])
    >>> seq.outputs.shape, [s.shape for s in seq.states]
    ((2, 5, 4), [(2, 4)])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from . import reference as _ref
from . import reference_gru as _gru
from . import reference_simple_rnn as _srnn


class StepFns(NamedTuple):
    """A cell's step, forward and backward, with its weights bound."""

    forward: Callable
    backward: Callable
    n_weights: int  # how many weight gradients `backward` returns


# -- cells as steps ---------------------------------------------------------------------------
def gru_step_fns(kernel, recurrent_kernel, bias, reset_after=True, activation=_ref.TANH,
                 recurrent_activation=_ref.SIGMOID, dropout_mask=None,
                 recurrent_dropout_mask=None) -> StepFns:
    """A GRU cell as a step; one state [h]."""
    args = (kernel, recurrent_kernel, bias, reset_after, activation, recurrent_activation,
            dropout_mask, recurrent_dropout_mask)

    def forward(x_t, states):
        s = _gru.gru_step(x_t, states[0], *args)
        return s.h, [s.h], (s, x_t, states[0])

    def backward(saved, d_out, d_states):
        s, x_t, h = saved
        dx, dh, grads = _gru.gru_step_backward(s, d_out + d_states[0], x_t, h, *args)
        return dx, [dh], grads

    return StepFns(forward, backward, 2 + (bias is not None))


def simple_rnn_step_fns(kernel, recurrent_kernel, bias, activation=_ref.TANH,
                        dropout_mask=None, recurrent_dropout_mask=None) -> StepFns:
    """A SimpleRNN cell as a step; one state [h]."""
    args = (kernel, recurrent_kernel, bias, activation, dropout_mask, recurrent_dropout_mask)

    def forward(x_t, states):
        s = _srnn.simple_rnn_step(x_t, states[0], *args)
        return s.h, [s.h], (s, x_t, states[0])

    def backward(saved, d_out, d_states):
        s, x_t, h = saved
        dx, dh, grads = _srnn.simple_rnn_step_backward(s, d_out + d_states[0], x_t, h, *args)
        return dx, [dh], grads

    return StepFns(forward, backward, 2 + (bias is not None))


def lstm_step_fns(kernel, recurrent_kernel, bias, activation=_ref.TANH,
                  recurrent_activation=_ref.SIGMOID, dropout_mask=None,
                  recurrent_dropout_mask=None) -> StepFns:
    """An LSTM cell (`reference.lstm_step`) as a step; states [h, c]."""
    def forward(x_t, states):
        s = _ref.lstm_step(x_t, states[0], states[1], kernel, recurrent_kernel, bias,
                           activation, recurrent_activation, dropout_mask,
                           recurrent_dropout_mask)
        return s.h, [s.h, s.c], (s, x_t, states[0], states[1])

    def backward(saved, d_out, d_states):
        s, x_t, h, c = saved
        dh_new, dc_new = d_out + d_states[0], d_states[1]
        phi_c = activation(s.c)
        dc = dc_new + dh_new * s.o * activation.grad(s.c, phi_c)
        z_i, z_f, z_g, z_o = np.split(s.z, 4, axis=-1)
        dz = np.concatenate([
            dc * s.g * recurrent_activation.grad(z_i, s.i),
            dc * c * recurrent_activation.grad(z_f, s.f),
            dc * s.i * activation.grad(z_g, s.g),
            dh_new * phi_c * recurrent_activation.grad(z_o, s.o),
        ], axis=-1)  # (B, 4H)
        dx, dh, dK, dR = _ref._gate_inputs_backward(dz, x_t, h, kernel, recurrent_kernel,
                                                    dropout_mask, recurrent_dropout_mask)
        grads = [dK, dR] + ([] if bias is None else [dz.sum(axis=0)])
        return dx, [dh, dc * s.f], grads

    return StepFns(forward, backward, 2 + (bias is not None))


def stacked_step_fns(steps: list, n_states: list) -> StepFns:
    """Cells run one after another in each step (Keras's `StackedRNNCells`).

    States are the cells' states in order, flat; the output is the last cell's.
    """
    bounds = np.cumsum([0] + list(n_states))

    def forward(x_t, states):
        new, saved = [], []
        for k, step in enumerate(steps):
            x_t, s_new, sv = step.forward(x_t, states[bounds[k]:bounds[k + 1]])
            new += s_new
            saved.append(sv)
        return x_t, new, saved

    def backward(saved, d_out, d_states):
        d_prev = [None] * len(d_states)
        grads = []
        for k in reversed(range(len(steps))):
            d_out, d_s, g = steps[k].backward(saved[k], d_out,
                                              d_states[bounds[k]:bounds[k + 1]])
            d_prev[bounds[k]:bounds[k + 1]] = d_s
            grads = g + grads  # d_out is now the gradient of cell k - 1's output
        return d_out, d_prev, grads

    return StepFns(forward, backward, sum(s.n_weights for s in steps))


# -- the loop ---------------------------------------------------------------------------------
class RNNSequence(NamedTuple):
    """The result of `rnn_sequence`; per-step arrays are in processing order."""

    outputs: np.ndarray  # (B, T, H)
    states: list  # final states [(B, S_i), ...]
    saved: list | None = None  # per step: what the step's backward needs
    mask: np.ndarray | None = None  # (B, T) in processing order
    go_backwards: bool = False
    zero_output_for_mask: bool = False


def rnn_sequence(step: StepFns, x, states, mask=None, go_backwards=False,
                 zero_output_for_mask=False, keep_steps=False) -> RNNSequence:
    """Run a step over x (B, T, D) from `states`, as Keras's generic `rnn()` loop does."""
    B, T, _ = x.shape
    if go_backwards:
        x = x[:, ::-1]
        mask = None if mask is None else mask[:, ::-1]
    states = list(states)
    outputs, prev_out, saved = None, None, []
    for t in range(T):
        out, new, sv = step.forward(x[:, t], states)
        if outputs is None:
            outputs = np.zeros((B, T, out.shape[-1]), out.dtype)
            prev_out = np.zeros_like(out)  # TF/torch start the carried output at zeros
        if keep_steps:
            saved.append(sv)
        if mask is None:
            states = new
        else:
            m = mask[:, t, None]  # (B, 1)
            states = [np.where(m, n, s) for n, s in zip(new, states)]
            out = np.where(m, out, 0 if zero_output_for_mask else prev_out)
        outputs[:, t] = out
        prev_out = out
    return RNNSequence(outputs, states, saved if keep_steps else None, mask, go_backwards,
                       zero_output_for_mask)


def rnn_sequence_backward(step: StepFns, seq: RNNSequence, d_outputs=None, d_states=None):
    """Backpropagation through time for `rnn_sequence(..., keep_steps=True)`.

    Args:
        d_outputs: (B, T, H) gradient w.r.t. `seq.outputs` (processing order), or None.
        d_states: gradients w.r.t. the final states (entries may be None).

    Returns:
        (dx (B, T, D) in input order, d_initial_states, [d_weight, ...] summed over steps).
    """
    if seq.saved is None:
        raise ValueError("rnn_sequence_backward needs a forward run with keep_steps=True")
    B, T, H = seq.outputs.shape
    d_states = [np.zeros_like(s) if d is None else np.asarray(d, s.dtype)
                for s, d in zip(seq.states, d_states or [None] * len(seq.states))]
    d_out_next = np.zeros((B, H), seq.outputs.dtype)  # out_{t+1} = out_t at a masked step
    dxs, grads = [None] * T, None
    for t in reversed(range(T)):
        g_out = d_out_next + (0 if d_outputs is None else d_outputs[:, t])
        if seq.mask is None:
            d_cell_out, d_new, d_keep = g_out, d_states, None
            d_out_next = np.zeros_like(g_out)
        else:
            m = seq.mask[:, t, None]
            d_cell_out = np.where(m, g_out, 0)
            d_new = [np.where(m, d, 0) for d in d_states]
            d_keep = [np.where(m, 0, d) for d in d_states]  # states carried past step t
            d_out_next = np.where(m | seq.zero_output_for_mask, 0, g_out)
        dx_t, d_prev, g = step.backward(seq.saved[t], d_cell_out, d_new)
        d_states = d_prev if d_keep is None else [a + b for a, b in zip(d_prev, d_keep)]
        dxs[t] = dx_t
        grads = g if grads is None else [a + b for a, b in zip(grads, g)]
    dx = np.stack(dxs, axis=1)  # (B, T, D) in processing order
    if seq.go_backwards:
        dx = dx[:, ::-1]
    return dx, d_states, grads
