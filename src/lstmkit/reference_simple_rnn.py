"""The spec of a Keras SimpleRNN step, forward and backward, in NumPy
(keras/src/layers/rnn/simple_rnn.py).

Shapes: B batch, D input features, H units. Weights: kernel (D, H),
recurrent_kernel (H, H), bias (H,). With phi = activation (tanh by default):

    h_t = phi((x * dropout_mask) @ K + b + (h * recurrent_dropout_mask) @ R)

`activation=None` (linear) is `activations.get(None)`. The step's output is h_t,
its only state. The time loop is `reference_rnn.rnn_sequence`.

Example:
    >>> import numpy as np
    >>> from lstmkit import reference_simple_rnn as ref
    >>> rng = np.random.default_rng(0)
    >>> x, h = rng.normal(size=(2, 4)), np.zeros((2, 5))
    >>> K, R, b = rng.normal(size=(4, 5)), rng.normal(size=(5, 5)), np.zeros(5)
    >>> ref.simple_rnn_step(x, h, K, R, b).h.shape
    (2, 5)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .reference import TANH


class SimpleRNNStep(NamedTuple):
    h: np.ndarray  # (B, H) new state = output
    a: np.ndarray  # (B, H) pre-activation


def simple_rnn_step(x_t, h, kernel, recurrent_kernel, bias, activation=TANH,
                    dropout_mask=None, recurrent_dropout_mask=None):
    """One step, `SimpleRNNCell.call`. Returns a `SimpleRNNStep`."""
    if dropout_mask is not None:
        x_t = x_t * dropout_mask
    if recurrent_dropout_mask is not None:
        h = h * recurrent_dropout_mask
    a = x_t @ kernel  # (B, H)
    if bias is not None:
        a = a + bias
    a = a + h @ recurrent_kernel
    return SimpleRNNStep(activation(a), a)


def simple_rnn_step_backward(s: SimpleRNNStep, dh_new, x_t, h, kernel, recurrent_kernel, bias,
                             activation=TANH, dropout_mask=None, recurrent_dropout_mask=None):
    """Backward of `simple_rnn_step`: (dx_t, dh, [dK, dR] + [db] if bias)."""
    da = dh_new * activation.grad(s.a, s.h)  # (B, H)
    x_eff = x_t if dropout_mask is None else x_t * dropout_mask
    h_eff = h if recurrent_dropout_mask is None else h * recurrent_dropout_mask
    dx = da @ kernel.T
    dh = da @ recurrent_kernel.T
    if dropout_mask is not None:
        dx = dx * dropout_mask
    if recurrent_dropout_mask is not None:
        dh = dh * recurrent_dropout_mask
    grads = [x_eff.T @ da, h_eff.T @ da]
    if bias is not None:
        grads.append(da.sum(axis=0))
    return dx, dh, grads
