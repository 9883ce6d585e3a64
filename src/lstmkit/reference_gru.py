"""The spec of a Keras GRU step, forward and backward, in NumPy (keras/src/layers/rnn/gru.py).

Shapes: B batch, D input features, H units. Weights (Keras's layout): kernel (D, 3H),
recurrent_kernel (H, 3H), the last axis split into the gates z (update), r (reset),
h (candidate). The bias is (2, 3H) with `reset_after=True` (Keras 3's default, cuDNN's
form: row 0 the input bias, row 1 the recurrent bias) and (3H,) with `reset_after=False`
(Keras 2's original form). With sigma = recurrent_activation and phi = activation:

    z  = sigma(x @ K_z + b_z + h @ R_z + b'_z)
    r  = sigma(x @ K_r + b_r + h @ R_r + b'_r)
    hh = phi(x @ K_h + b_h + r * (h @ R_h + b'_h))      # reset_after=True
    hh = phi(x @ K_h + b_h + (r * h) @ R_h)              # reset_after=False (no b')
    h_t = z * h + (1 - z) * hh                           # the output, and the one state

Dropout masks are None, one mask shared by the three gates (implementation 2:
x (B, D)), or one mask per gate stacked as (3, B, D) / (3, B, H) (implementation 1,
which Keras uses whenever `recurrent_dropout > 0`). The recurrent masks multiply the
h that enters each gate's matmul; the mix `z * h` uses h itself.

The time loop (masks, go_backwards, outputs) is `reference_rnn.rnn_sequence`.

Example:
    >>> import numpy as np
    >>> from lstmkit import reference_gru
    >>> rng = np.random.default_rng(0)
    >>> x, h = rng.normal(size=(2, 4)), np.zeros((2, 5))
    >>> K, R, b = rng.normal(size=(4, 15)), rng.normal(size=(5, 15)), np.zeros((2, 15))
    >>> step = reference_gru.gru_step(x, h, K, R, b)
    >>> step.h.shape, step.z.shape, step.hh.shape
    ((2, 5), (2, 5), (2, 5))
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .reference import SIGMOID, TANH


class GRUStep(NamedTuple):
    """What one GRU step computes (and what its backward needs)."""

    h: np.ndarray  # (B, H) new state = output
    z: np.ndarray  # (B, H) update gate
    r: np.ndarray  # (B, H) reset gate
    hh: np.ndarray  # (B, H) candidate h~
    a_z: np.ndarray  # (B, H) pre-activations of z, r and the candidate
    a_r: np.ndarray
    a_h: np.ndarray
    rec_h: np.ndarray  # (B, H) h @ R_h + b'_h (reset_after) or r * h_h (reset_after=False)


def _mask(mask, k):
    if mask is None:
        return None
    return mask[k] if mask.ndim == 3 else mask


def _times(a, mask):
    return a if mask is None else a * mask


def split_bias(bias, H, reset_after):
    """(input bias (3H,) or None, recurrent bias (3H,) or None)."""
    if bias is None:
        return None, None
    if reset_after:
        return bias[0], bias[1]
    return bias, None


def gru_step(x_t, h, kernel, recurrent_kernel, bias, reset_after=True, activation=TANH,
             recurrent_activation=SIGMOID, dropout_mask=None, recurrent_dropout_mask=None):
    """One GRU step, `GRUCell.call`. Returns a `GRUStep`."""
    H = recurrent_kernel.shape[0]
    b_in, b_rec = split_bias(bias, H, reset_after)
    cols = [slice(k * H, (k + 1) * H) for k in range(3)]
    x_k = [_times(x_t, _mask(dropout_mask, k)) for k in range(3)]  # z, r, h inputs
    h_k = [_times(h, _mask(recurrent_dropout_mask, k)) for k in range(3)]
    xs = [x_k[k] @ kernel[:, cols[k]] for k in range(3)]  # 3 x (B, H)
    if b_in is not None:
        xs = [xs[k] + b_in[cols[k]] for k in range(3)]
    rs = [h_k[k] @ recurrent_kernel[:, cols[k]] for k in range(2)]
    if b_rec is not None:
        rs = [rs[k] + b_rec[cols[k]] for k in range(2)]
    a_z, a_r = xs[0] + rs[0], xs[1] + rs[1]
    z, r = recurrent_activation(a_z), recurrent_activation(a_r)
    if reset_after:
        rec_h = h_k[2] @ recurrent_kernel[:, cols[2]]  # (B, H)
        if b_rec is not None:
            rec_h = rec_h + b_rec[cols[2]]
        a_h = xs[2] + r * rec_h
    else:
        rec_h = r * h_k[2]  # (B, H), the reset state that meets R_h
        a_h = xs[2] + rec_h @ recurrent_kernel[:, cols[2]]
    hh = activation(a_h)
    h_new = z * h + (1 - z) * hh
    return GRUStep(h_new, z, r, hh, a_z, a_r, a_h, rec_h)


def gru_step_backward(s: GRUStep, dh_new, x_t, h, kernel, recurrent_kernel, bias,
                      reset_after=True, activation=TANH, recurrent_activation=SIGMOID,
                      dropout_mask=None, recurrent_dropout_mask=None):
    """Backward of `gru_step` for the gradient `dh_new` (B, H) of its output.

    Returns:
        (dx_t (B, D), dh (B, H), [d_kernel, d_recurrent_kernel] + [d_bias] if bias).
    """
    H = recurrent_kernel.shape[0]
    cols = [slice(k * H, (k + 1) * H) for k in range(3)]
    d_hh = dh_new * (1 - s.z)
    d_z = dh_new * (h - s.hh)
    dh = dh_new * s.z
    da_h = d_hh * activation.grad(s.a_h, s.hh)  # (B, H)
    h_k = [_times(h, _mask(recurrent_dropout_mask, k)) for k in range(3)]
    dR = np.zeros_like(recurrent_kernel)
    if reset_after:
        d_rec_h = da_h * s.r  # gradient of h @ R_h + b'_h
        d_r = da_h * s.rec_h
        dR[:, cols[2]] = h_k[2].T @ d_rec_h
        dh_k2 = d_rec_h @ recurrent_kernel[:, cols[2]].T
    else:
        d_rec_h = da_h @ recurrent_kernel[:, cols[2]].T  # gradient of r * h_h
        dR[:, cols[2]] = s.rec_h.T @ da_h
        d_r = d_rec_h * h_k[2]
        dh_k2 = d_rec_h * s.r
    da_z = d_z * recurrent_activation.grad(s.a_z, s.z)
    da_r = d_r * recurrent_activation.grad(s.a_r, s.r)
    da = [da_z, da_r, da_h]  # gradients of the three input projections x_k @ K_k
    dh_k = [da_z @ recurrent_kernel[:, cols[0]].T, da_r @ recurrent_kernel[:, cols[1]].T, dh_k2]
    for k in range(2):
        dR[:, cols[k]] = h_k[k].T @ da[k]
    dx = np.zeros_like(x_t)
    dK = np.zeros_like(kernel)
    for k in range(3):
        m_x = _mask(dropout_mask, k)
        dx += _times(da[k] @ kernel[:, cols[k]].T, m_x)
        dK[:, cols[k]] = _times(x_t, m_x).T @ da[k]
        dh += _times(dh_k[k], _mask(recurrent_dropout_mask, k))
    grads = [dK, dR]
    if bias is not None:
        d_in = np.concatenate([g.sum(axis=0) for g in da])  # (3H,)
        if reset_after:
            d_rec = np.concatenate([da_z.sum(axis=0), da_r.sum(axis=0),
                                    d_rec_h.sum(axis=0)])
            grads.append(np.stack([d_in, d_rec]))  # (2, 3H)
        else:
            grads.append(d_in)
    return dx, dh, grads
