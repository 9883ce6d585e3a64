"""Dispatch of the LSTM sequence computation: the fused kernels or the reference.

`lstm_forward` and `lstm_backward` are the one contract the layers call. The
backend is "kernel" (fused compiled kernels), "reference" (`lstmkit.reference`),
or "auto": the kernel whenever it supports the call, else the reference.

Until the compiled kernels land, every backend runs the reference.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from .. import _config
from .. import reference as _ref


class ForwardResult(NamedTuple):
    """What a forward run returns to the layer (arrays in processing order)."""

    outputs: Optional[np.ndarray]  # (B, T, H), or None when not needed
    last_output: np.ndarray  # (B, H) = outputs[:, -1]
    h: np.ndarray  # (B, H) final memory state
    c: np.ndarray  # (B, H) final carry state
    cache: object  # what lstm_backward needs (None unless training)
    backend: str  # "kernel" or "reference": which path ran


def resolve_backend(backend: Optional[str]) -> str:
    """The backend asked for: the argument, else `LSTMKIT_BACKEND`, else "auto"."""
    if backend is None:
        return _config.backend()
    if backend not in _config.BACKENDS:
        raise ValueError(f"backend must be one of {_config.BACKENDS}, got {backend!r}")
    return backend


def lstm_forward(x, kernel, recurrent_kernel, bias, h0, c0, *, mask=None, go_backwards=False,
                 activation=_ref.TANH, recurrent_activation=_ref.SIGMOID,
                 zero_output_for_mask=False, dropout_mask=None, recurrent_dropout_mask=None,
                 return_sequences=True, keep_cache=False, backend=None) -> ForwardResult:
    """Run an LSTM over `x` (B, T, D); see `reference.lstm_sequence` for the arguments.

    `keep_cache=True` keeps what `lstm_backward` needs (training).
    """
    resolve_backend(backend)
    seq = _ref.lstm_sequence(
        x, kernel, recurrent_kernel, bias, h0, c0, mask=mask, go_backwards=go_backwards,
        activation=activation, recurrent_activation=recurrent_activation,
        zero_output_for_mask=zero_output_for_mask, dropout_mask=dropout_mask,
        recurrent_dropout_mask=recurrent_dropout_mask, keep_steps=keep_cache,
    )
    return ForwardResult(seq.outputs, seq.outputs[:, -1], seq.h, seq.c,
                         seq if keep_cache else None, "reference")


def lstm_backward(result: ForwardResult, d_outputs=None, d_h=None, d_c=None) -> _ref.Gradients:
    """Gradients for a `lstm_forward(..., keep_cache=True)` run.

    d_outputs: (B, T, H) in processing order, or None; d_h, d_c: (B, H) or None.
    """
    if result.cache is None:
        raise ValueError("lstm_backward needs a forward run with keep_cache=True")
    return _ref.lstm_sequence_backward(result.cache, d_outputs, d_h, d_c)
