"""The spec: one Keras LSTM step and the whole sequence, forward and backward, in NumPy.

This module is what lstmkit computes, written to be read. It mirrors
`LSTMCell.call` in keras/src/layers/rnn/lstm.py and the generic loop
`rnn()` in keras/src/backend/*/rnn.py. The compiled kernels in
`lstmkit.kernels` compute the same numbers and are tested against it.

Shapes: B batch, T timesteps, D input features, H units.
Weights (Keras's layout): kernel (D, 4H), recurrent_kernel (H, 4H), bias (4H,),
the last axis split into the gates i, f, c (here `g`, the candidate), o.

One step, with sigma = recurrent_activation and phi = activation:

    z = x_t @ kernel + h @ recurrent_kernel + bias        # (B, 4H)
    i, f, o = sigma(z_i), sigma(z_f), sigma(z_o)
    g = phi(z_g)
    c_t = f * c + i * g                                    # carry (cell) state
    h_t = o * phi(c_t)                                     # memory (hidden) state = output

Masked steps (mask[b, t] False) keep h and c from the step before; the output
repeats the previous output (zeros before the first valid step), or is zeros
when `zero_output_for_mask`. `go_backwards` runs the reversed sequence and
returns outputs in that processing order.

Example:
    >>> import numpy as np
    >>> from lstmkit import reference
    >>> B, T, D, H = 2, 3, 4, 5
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(B, T, D))
    >>> K, R, b = rng.normal(size=(D, 4 * H)), rng.normal(size=(H, 4 * H)), np.zeros(4 * H)
    >>> out = reference.lstm_sequence(x, K, R, b)
    >>> out.outputs.shape, out.h.shape, out.c.shape
    ((2, 3, 5), (2, 5), (2, 5))
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import activations as _act

TANH = _act.get("tanh")
SIGMOID = _act.get("sigmoid")


class Step(NamedTuple):
    """What one step computes: new states, the pre-activations and the four gates."""

    h: np.ndarray  # (B, H) memory state, the step's output
    c: np.ndarray  # (B, H) carry state
    z: np.ndarray  # (B, 4H) pre-activations, gates i, f, c, o
    i: np.ndarray  # (B, H) input gate
    f: np.ndarray  # (B, H) forget gate
    g: np.ndarray  # (B, H) candidate, phi(z_c)
    o: np.ndarray  # (B, H) output gate


def gate_inputs(x_t, h, kernel, recurrent_kernel, bias, dropout_mask=None,
                recurrent_dropout_mask=None):
    """z = x_t @ kernel + h @ recurrent_kernel + bias, with Keras's dropout rules.

    Dropout masks are None, one mask shared by the four gates (implementation 2:
    x (B, D), h (B, H)), or one mask per gate stacked as (4, B, D) / (4, B, H)
    (implementation 1, which Keras uses when `recurrent_dropout > 0`).
    """
    H = recurrent_kernel.shape[0]
    per_gate = any(m is not None and m.ndim == 3 for m in (dropout_mask, recurrent_dropout_mask))
    if not per_gate:  # implementation 2: (x @ K + h @ R) + b
        if dropout_mask is not None:
            x_t = x_t * dropout_mask
        if recurrent_dropout_mask is not None:
            h = h * recurrent_dropout_mask
        z = x_t @ kernel + h @ recurrent_kernel  # (B, 4H)
        return z + bias if bias is not None else z
    # implementation 1, gate by gate: (x_k @ K_k + b_k) + h_k @ R_k
    parts = []
    for k in range(4):
        cols = slice(k * H, (k + 1) * H)
        x_k = x_t if dropout_mask is None else x_t * _gate_mask(dropout_mask, k)
        h_k = h if recurrent_dropout_mask is None else h * _gate_mask(recurrent_dropout_mask, k)
        z_k = x_k @ kernel[:, cols]
        if bias is not None:
            z_k = z_k + bias[cols]
        parts.append(z_k + h_k @ recurrent_kernel[:, cols])
    return np.concatenate(parts, axis=-1)  # (B, 4H)


def _gate_mask(mask, k):
    return mask[k] if mask.ndim == 3 else mask


def lstm_step(x_t, h, c, kernel, recurrent_kernel, bias, activation=TANH,
              recurrent_activation=SIGMOID, dropout_mask=None, recurrent_dropout_mask=None):
    """One LSTM step, `LSTMCell.call`. Returns a `Step`."""
    z = gate_inputs(x_t, h, kernel, recurrent_kernel, bias, dropout_mask,
                    recurrent_dropout_mask)  # (B, 4H)
    z_i, z_f, z_g, z_o = np.split(z, 4, axis=-1)
    i = recurrent_activation(z_i)
    f = recurrent_activation(z_f)
    g = activation(z_g)
    o = recurrent_activation(z_o)
    c_new = f * c + i * g
    h_new = o * activation(c_new)
    return Step(h_new, c_new, z, i, f, g, o)


class Sequence(NamedTuple):
    """The result of `lstm_sequence`; per-step arrays are in processing order."""

    outputs: np.ndarray  # (B, T, H)
    h: np.ndarray  # (B, H) final memory state
    c: np.ndarray  # (B, H) final carry state
    steps: list | None = None  # list of T `Step`s (kept when `keep_steps`)
    inputs: dict | None = None  # what backward needs besides the steps


def lstm_sequence(x, kernel, recurrent_kernel, bias, h0=None, c0=None, mask=None,
                  go_backwards=False, activation=TANH, recurrent_activation=SIGMOID,
                  zero_output_for_mask=False, dropout_mask=None,
                  recurrent_dropout_mask=None, keep_steps=False):
    """Run the LSTM over a sequence, as Keras's generic `rnn()` loop does.

    Args:
        x: (B, T, D) inputs.
        kernel, recurrent_kernel, bias: (D, 4H), (H, 4H), (4H,) or None.
        h0, c0: (B, H) initial states; zeros when None.
        mask: (B, T) bool, True = a valid step; None = all valid.
        go_backwards: process x[:, ::-1]; outputs stay in processing order.
        activation, recurrent_activation: `Activation`s (phi, sigma).
        zero_output_for_mask: masked steps output zeros instead of repeating.
        dropout_mask, recurrent_dropout_mask: see `gate_inputs`; constant over time.
        keep_steps: keep every `Step` (for backward and tracing).

    Returns:
        A `Sequence` (outputs (B, T, H), h (B, H), c (B, H), steps, inputs).
    """
    B, T, _ = x.shape
    H = recurrent_kernel.shape[0]
    h = np.zeros((B, H), x.dtype) if h0 is None else h0
    c = np.zeros((B, H), x.dtype) if c0 is None else c0
    if go_backwards:
        x = x[:, ::-1]
        mask = None if mask is None else mask[:, ::-1]
    outputs = np.zeros((B, T, H), x.dtype)
    prev_out = np.zeros((B, H), x.dtype)  # TF/torch start the carried output at zeros
    steps, before = [], []  # before[t] = (h, c) that step t starts from
    for t in range(T):
        if keep_steps:
            before.append((h, c))
        step = lstm_step(x[:, t], h, c, kernel, recurrent_kernel, bias, activation,
                         recurrent_activation, dropout_mask, recurrent_dropout_mask)
        if keep_steps:
            steps.append(step)
        if mask is None:
            h, c, out = step.h, step.c, step.h
        else:
            m = mask[:, t, None]  # (B, 1)
            h = np.where(m, step.h, h)
            c = np.where(m, step.c, c)
            out = np.where(m, step.h, 0 if zero_output_for_mask else prev_out)
        outputs[:, t] = out
        prev_out = out
    saved = None
    if keep_steps:
        saved = dict(x=x, before=before, mask=mask, go_backwards=go_backwards, kernel=kernel,
                     recurrent_kernel=recurrent_kernel, bias=bias, activation=activation,
                     recurrent_activation=recurrent_activation,
                     zero_output_for_mask=zero_output_for_mask, dropout_mask=dropout_mask,
                     recurrent_dropout_mask=recurrent_dropout_mask)
    return Sequence(outputs, h, c, steps if keep_steps else None, saved)


class Gradients(NamedTuple):
    """Gradients of a loss with respect to everything `lstm_sequence` took."""

    x: np.ndarray  # (B, T, D), in input (not processing) order
    kernel: np.ndarray  # (D, 4H)
    recurrent_kernel: np.ndarray  # (H, 4H)
    bias: np.ndarray | None  # (4H,) or None without bias
    h0: np.ndarray  # (B, H)
    c0: np.ndarray  # (B, H)


def lstm_sequence_backward(seq: Sequence, d_outputs=None, d_h=None, d_c=None) -> Gradients:
    """Backpropagation through time for `lstm_sequence(..., keep_steps=True)`.

    Args:
        seq: the forward result, with steps kept.
        d_outputs: (B, T, H) gradient of the loss w.r.t. `seq.outputs` (processing order).
        d_h, d_c: (B, H) gradients w.r.t. the final states.

    Returns:
        `Gradients`; the weight gradients sum over all steps.
    """
    if seq.steps is None:
        raise ValueError("lstm_sequence_backward needs a forward run with keep_steps=True")
    a = seq.inputs
    x, K, R, bias = a["x"], a["kernel"], a["recurrent_kernel"], a["bias"]
    act, rec_act, mask = a["activation"], a["recurrent_activation"], a["mask"]
    dm, rm = a["dropout_mask"], a["recurrent_dropout_mask"]
    B, T, D = x.shape
    H = R.shape[0]
    zeros = np.zeros((B, H), x.dtype)
    dh = zeros.copy() if d_h is None else d_h.astype(x.dtype, copy=True)
    dc = zeros.copy() if d_c is None else d_c.astype(x.dtype, copy=True)
    d_out_next = zeros.copy()  # gradient reaching out_t through out_{t+1} = out_t (masked)
    dx = np.zeros_like(x)
    dK, dR = np.zeros_like(K), np.zeros_like(R)
    dz_all = np.zeros((B, T, 4 * H), x.dtype)
    for t in reversed(range(T)):
        s = seq.steps[t]
        h_prev, c_prev = a["before"][t]
        g_out = (0 if d_outputs is None else d_outputs[:, t]) + d_out_next
        m = np.ones((B, 1), bool) if mask is None else mask[:, t, None]
        # outputs[t] = where(m, s.h, prev_out or 0); states h_t, c_t = where(m, new, old)
        dh_new = np.where(m, dh + g_out, 0)
        dc_new = np.where(m, dc, 0)
        d_out_next = np.where(m | a["zero_output_for_mask"], 0, g_out)
        phi_c = act(s.c)
        dc_total = dc_new + dh_new * s.o * act.grad(s.c, phi_c)
        z_i, z_f, z_g, z_o = np.split(s.z, 4, axis=-1)
        dz = np.concatenate([
            dc_total * s.g * rec_act.grad(z_i, s.i),
            dc_total * c_prev * rec_act.grad(z_f, s.f),
            dc_total * s.i * act.grad(z_g, s.g),
            dh_new * phi_c * rec_act.grad(z_o, s.o),
        ], axis=-1)  # (B, 4H)
        dz_all[:, t] = dz
        dx_t, dh_cell, dK_t, dR_t = _gate_inputs_backward(dz, x[:, t], h_prev, K, R, dm, rm)
        dx[:, t] = dx_t
        dK += dK_t
        dR += dR_t
        dh = dh_cell + np.where(m, 0, dh)
        dc = dc_total * s.f + np.where(m, 0, dc)
    d_bias = None if bias is None else dz_all.sum(axis=(0, 1))
    if a["go_backwards"]:
        dx = dx[:, ::-1]
    return Gradients(dx, dK, dR, d_bias, dh, dc)


def lstm_step_backward(step: Step, x_t, h, c, kernel, recurrent_kernel, activation=TANH,
                       recurrent_activation=SIGMOID, d_out=None, d_h=None, d_c=None,
                       dropout_mask=None, recurrent_dropout_mask=None) -> Gradients:
    """Backward of `lstm_step` (`LSTMCell` called once): gradients w.r.t. x_t, h, c, weights.

    Args:
        step: `lstm_step`'s result for (x_t (B, D), h (B, H), c (B, H)).
        d_out, d_h, d_c: (B, H) gradients w.r.t. the step's output h, its state h and its
            state c (the output and the state h are the same array; None counts as zero).

    Returns:
        `Gradients` with x (B, D), h0 / c0 the gradients w.r.t. the incoming h and c.
    """
    dh = sum(g for g in (d_out, d_h) if g is not None) if (d_out is not None
                                                          or d_h is not None) else 0
    dc = 0 if d_c is None else d_c
    act, rec_act = activation, recurrent_activation
    phi_c = act(step.c)
    dc_total = dc + dh * step.o * act.grad(step.c, phi_c)  # (B, H)
    z_i, z_f, z_g, z_o = np.split(step.z, 4, axis=-1)
    dz = np.concatenate([
        dc_total * step.g * rec_act.grad(z_i, step.i),
        dc_total * c * rec_act.grad(z_f, step.f),
        dc_total * step.i * act.grad(z_g, step.g),
        dh * phi_c * rec_act.grad(z_o, step.o),
    ], axis=-1).astype(x_t.dtype, copy=False)  # (B, 4H)
    dx, dh_prev, dK, dR = _gate_inputs_backward(dz, x_t, h, kernel, recurrent_kernel,
                                                dropout_mask, recurrent_dropout_mask)
    return Gradients(dx, dK, dR, dz.sum(axis=0), dh_prev, dc_total * step.f)


def _gate_inputs_backward(dz, x_t, h, K, R, dm, rm):
    """Backward of `gate_inputs`: (dx_t, dh, dK, dR) for one step."""
    H = R.shape[0]
    if not any(mk is not None and mk.ndim == 3 for mk in (dm, rm)):
        x_eff = x_t if dm is None else x_t * dm
        h_eff = h if rm is None else h * rm
        dx_t = dz @ K.T
        dh = dz @ R.T
        if dm is not None:
            dx_t = dx_t * dm
        if rm is not None:
            dh = dh * rm
        return dx_t, dh, x_eff.T @ dz, h_eff.T @ dz
    dx_t, dh = np.zeros_like(x_t), np.zeros_like(h)
    dK, dR = np.zeros_like(K), np.zeros_like(R)
    for k in range(4):
        cols = slice(k * H, (k + 1) * H)
        mx = 1 if dm is None else _gate_mask(dm, k)
        mh = 1 if rm is None else _gate_mask(rm, k)
        dz_k = dz[:, cols]
        dx_t += (dz_k @ K[:, cols].T) * mx
        dh += (dz_k @ R[:, cols].T) * mh
        dK[:, cols] = (x_t * mx).T @ dz_k
        dR[:, cols] = (h * mh).T @ dz_k
    return dx_t, dh, dK, dR
