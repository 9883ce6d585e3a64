"""The fused GRU and SimpleRNN paths: when they run, and their forward and backward.

`run_forward(kind, ...)` computes what `reference_rnn.rnn_sequence` computes for a
GRU ("GRU") or SimpleRNN ("SimpleRNN") cell with the loops of `_gru.py`: the input
projection of all steps is one GEMM before the loop, the weight gradients single
GEMMs after it. The kernels compute activation tanh with recurrent_activation
sigmoid (Keras's defaults), float32 or float64, masks, go_backwards, initial states,
zero_output_for_mask and input dropout (one mask, or one per gate for the GRU's
implementation 1). Anything else (other activations, recurrent dropout) runs the
reference loop: `unsupported_reason` says why; `backend="kernel"` then raises.

Example:
    >>> import numpy as np
    >>> from lstmkit.kernels import cells
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(2, 4, 3)).astype("float32")
    >>> K, R = rng.normal(size=(3, 6)).astype("float32"), rng.normal(size=(2, 6)).astype("float32")
    >>> run = cells.run_forward("GRU", x, K, R, None, None, reset_after=True, keep_cache=True)
    >>> run.outputs.shape, run.states[0].shape
    ((2, 4, 2), (2, 2))
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np

from .. import reference as _ref


class CellRun(NamedTuple):
    """A fused run (arrays of `outputs` in processing order, batch-major)."""

    outputs: np.ndarray  # (B, T, H)
    states: list  # [h_T]
    cache: object  # KernelCache, or None at inference


class KernelCache(NamedTuple):
    """What backward (and `lk.trace`) needs, time-major, in processing order."""

    kind: str
    X: np.ndarray  # (T, B, D) inputs, dropout not applied
    S: np.ndarray  # (T+1, B, H) states, S[0] = h0
    gates: tuple  # GRU: Zs, Rs, HHs, RH (T, B, H) each; SimpleRNN: ()
    kernel: np.ndarray
    recurrent_kernel: np.ndarray
    bias: np.ndarray | None
    reset_after: bool
    mask: np.ndarray  # (T, B) uint8 or size 0
    dropout_mask: np.ndarray | None
    go_backwards: bool
    zero_output_for_mask: bool

    def arrays(self) -> dict:
        """{"z", "r", "hh", "h"} (GRU) or {"h"}: (B, T, H) in processing order."""
        out = {}
        if self.kind == "GRU":
            for name, a in zip(("z", "r", "hh"), self.gates[:3]):
                out[name] = np.ascontiguousarray(a.transpose(1, 0, 2))
        out["h"] = np.ascontiguousarray(self.S[1:].transpose(1, 0, 2))
        return out


def unsupported_reason(kind, x, arrays, activation, recurrent_activation, recurrent_dropout_mask):
    """Why the fused kernel cannot run this call, or None."""
    if activation is not _ref.TANH or (kind == "GRU" and recurrent_activation is not
                                        _ref.SIGMOID):
        return ("the fused kernel computes activation='tanh'"
                + (" with recurrent_activation='sigmoid'" if kind == "GRU" else ""))
    if recurrent_dropout_mask is not None:
        return "the fused kernel does not compute recurrent dropout"
    dtype = getattr(x, "dtype", None)
    if getattr(dtype, "type", None) not in (np.float32, np.float64):
        return f"the fused kernel computes float32 or float64 inputs, got {dtype}"
    if any(a is not None and a.dtype != dtype for a in arrays):
        return f"the fused kernel needs every array in the inputs' dtype {dtype}"
    try:
        from . import _gru  # noqa: F401  (numba)
    except ImportError as err:
        return f"the fused kernel could not be loaded ({err})"
    return None


def _gemm(a, b):
    """a @ b through the kernels' BLAS call, one thread for small products (`_blas.gemm`)."""
    from . import _blas

    return _blas.gemm(_contiguous(a), _contiguous(b))


def _contiguous(a):
    return a if (a.flags.c_contiguous or a.flags.f_contiguous) else np.ascontiguousarray(a)


def _input_projection(X, kernel, bias_in, dropout_mask, n_gates):
    """XZ (T, B, nH) = (X * mask) @ kernel + bias, one GEMM (three with per-gate masks)."""
    T, B, D = X.shape
    if dropout_mask is None or dropout_mask.ndim == 2:
        Xd = X if dropout_mask is None else X * dropout_mask  # (T, B, D)
        XZ = _gemm(Xd.reshape(T * B, D), kernel).reshape(T, B, kernel.shape[1])
    else:  # one mask per gate (GRU implementation 1)
        H = kernel.shape[1] // n_gates
        XZ = np.empty((T, B, kernel.shape[1]), X.dtype)
        for k in range(n_gates):
            cols = slice(k * H, (k + 1) * H)
            XZ[:, :, cols] = _gemm((X * dropout_mask[k]).reshape(T * B, D),
                                   kernel[:, cols]).reshape(T, B, H)
    if bias_in is not None:
        XZ += bias_in
    return XZ


def run_forward(kind, x, kernel, recurrent_kernel, bias, h0, *, reset_after=True, mask=None,
                go_backwards=False, zero_output_for_mask=False, dropout_mask=None,
                keep_cache=False) -> CellRun:
    """Run a GRU or SimpleRNN over x (B, T, D) on the fused loops; h0 (B, H) or None."""
    from . import _gru

    B, T, _ = x.shape
    H = recurrent_kernel.shape[0]
    dtype = x.dtype
    X = np.ascontiguousarray(x.transpose(1, 0, 2))  # (T, B, D)
    m = np.zeros(0, np.uint8) if mask is None else np.ascontiguousarray(mask.T, np.uint8)
    if go_backwards:
        X = np.ascontiguousarray(X[::-1])
        m = m if mask is None else np.ascontiguousarray(m[::-1])
    if mask is None:
        m = m.reshape(0, 0)
    b_in = b_rec = None
    if bias is not None:
        b_in, b_rec = (bias[0], bias[1]) if (kind == "GRU" and reset_after) else (bias, None)
    n = 3 if kind == "GRU" else 1
    XZ = _input_projection(X, kernel, b_in, dropout_mask, n)  # (T, B, nH)
    S = np.empty((T + 1 if keep_cache else 2, B, H), dtype)
    S[0] = 0 if h0 is None else h0
    out = np.empty((T, B, H), dtype)
    R = np.ascontiguousarray(recurrent_kernel)
    empty = np.zeros((0, 0, 0), dtype)
    gates = ()
    if kind == "GRU":
        gates = tuple(np.empty((T, B, H), dtype) if keep_cache else empty for _ in range(4))
        b_r = np.zeros(3 * H, dtype) if b_rec is None else np.ascontiguousarray(b_rec)

    def loop(XZ, S, out, gates, m):
        if kind == "GRU":
            _gru.gru_forward_loop(XZ, R, b_r, S, out, *gates, m, reset_after, keep_cache,
                                  zero_output_for_mask)
        else:
            _gru.simple_rnn_forward_loop(XZ, R, S, out, m, keep_cache, zero_output_for_mask)

    _sharded(loop, B, B * H * n * H, inputs=(XZ,), outputs=(S, out), gates=gates, mask=m)
    h_T = S[T if keep_cache else T % 2].copy()
    cache = None
    if keep_cache:
        cache = KernelCache(kind, X, S, gates, kernel, R, bias, reset_after, m, dropout_mask,
                            go_backwards, zero_output_for_mask)
    return CellRun(np.ascontiguousarray(out.transpose(1, 0, 2)), [h_T], cache)


#: Per-step products of at least this many multiply-adds, with at least SHARD_ROWS rows per
#: shard, run as batch shards in threads (the loops release the GIL), one BLAS thread each.
SHARD_MACS = 1 << 19
SHARD_ROWS = 8


def _workers(B, macs) -> int:
    if macs < SHARD_MACS:
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cpus or 1, B // SHARD_ROWS, 4))


def _sharded(loop, B, macs, inputs, outputs, gates, mask, gates_are_inputs=False):
    """loop(*inputs, *outputs, gates, mask) over all rows, or over batch shards in threads.

    Every array is time-major (batch on axis 1); a shard runs on contiguous copies of its
    rows (the loops need contiguous arrays) and its outputs are copied back.
    """
    from . import _blas

    n = _workers(B, macs)
    changed = _blas.single_thread_if_small(0 if n > 1 else macs)  # one BLAS thread per loop
    try:
        if n == 1:
            loop(*inputs, *outputs, gates, mask)
            return
        bounds = np.linspace(0, B, n + 1).astype(int)

        def rows(a, sl):
            return a if a.size == 0 else np.ascontiguousarray(a[:, sl])

        def shard(k):
            sl = slice(bounds[k], bounds[k + 1])
            outs = [rows(a, sl) for a in outputs]
            gs = tuple(rows(g, sl) for g in gates)
            loop(*(rows(a, sl) for a in inputs), *outs, gs, rows(mask, sl))
            for a, part in zip(outputs, outs):
                if a.size:
                    a[:, sl] = part
            if not gates_are_inputs:
                for g, part in zip(gates, gs):
                    if g.size:
                        g[:, sl] = part

        with ThreadPoolExecutor(n) as pool:
            list(pool.map(shard, range(n)))
    finally:
        _blas.restore_threads(changed)


def run_backward(cache: KernelCache, d_outputs=None, d_h=None):
    """Gradients of a `run_forward(..., keep_cache=True)`.

    Args:
        d_outputs: (B, T, H) gradient of the outputs (processing order) or None.
        d_h: (B, H) gradient of the final state or None.

    Returns:
        (dx (B, T, D) in input order, [d_h0], [d_kernel, d_recurrent_kernel(, d_bias)]).
    """
    from . import _gru

    X, S = cache.X, cache.S
    T, B, D = X.shape
    H = S.shape[2]
    dtype = X.dtype
    d_out = np.zeros((0, 0, 0), dtype) if d_outputs is None else np.ascontiguousarray(
        np.asarray(d_outputs, dtype).transpose(1, 0, 2))
    dh = np.zeros((B, H), dtype) if d_h is None else np.array(d_h, dtype)
    n = 3 if cache.kind == "GRU" else 1
    dA = np.empty((T, B, n * H), dtype)  # gradients of the input projections
    dRec = np.empty((T, B, 3 * H), dtype) if cache.kind == "GRU" else np.empty((T, B, 0), dtype)
    if d_out.size == 0:
        d_out = np.zeros((T, B, H), dtype)  # one shape for every shard

    def loop(S, d_out, dh, dA, dRec, gates, m):
        dh2 = dh[0]  # (B, H): carried as (1, B, H) so that shards slice it on axis 1
        if cache.kind == "GRU":
            _gru.gru_backward_loop(S, *gates, cache.recurrent_kernel, m, d_out, dh2,
                                   cache.reset_after, cache.zero_output_for_mask, dA, dRec)
        else:
            _gru.simple_rnn_backward_loop(S, cache.recurrent_kernel, m, d_out, dh2,
                                          cache.zero_output_for_mask, dA)

    dh3 = dh[None]  # (1, B, H)
    _sharded(loop, B, B * H * n * H, inputs=(S, d_out), outputs=(dh3, dA, dRec),
             gates=cache.gates, mask=cache.mask, gates_are_inputs=True)
    dh = dh3[0]
    if cache.kind == "GRU":
        left = S[:-1].reshape(T * B, H)
        dR = np.empty_like(cache.recurrent_kernel)
        dR[:, :2 * H] = _gemm(left.T, dRec[:, :, :2 * H].reshape(T * B, 2 * H))
        # the candidate's product: with h (reset_after) or with r * h (kept in RH)
        left_h = left if cache.reset_after else cache.gates[3].reshape(T * B, H)
        dR[:, 2 * H:] = _gemm(left_h.T, dRec[:, :, 2 * H:].reshape(T * B, H))
    else:
        dR = _gemm(S[:-1].reshape(T * B, H).T, dA.reshape(T * B, H))
    dx, dK = _input_projection_backward(X, cache.kernel, dA, cache.dropout_mask, n)
    grads = [dK, dR]
    if cache.bias is not None:
        d_in = dA.sum(axis=(0, 1))
        if cache.kind == "GRU" and cache.reset_after:
            grads.append(np.stack([d_in, dRec.sum(axis=(0, 1))]))  # (2, 3H)
        else:
            grads.append(d_in)
    if cache.go_backwards:
        dx = dx[::-1]
    return np.ascontiguousarray(dx.transpose(1, 0, 2)), [dh], grads


def _input_projection_backward(X, kernel, dA, dropout_mask, n_gates):
    """(dX (T, B, D), d_kernel) of `_input_projection`."""
    T, B, D = X.shape
    G = kernel.shape[1]
    flat = dA.reshape(T * B, G)
    if dropout_mask is None or dropout_mask.ndim == 2:
        Xd = X if dropout_mask is None else X * dropout_mask
        dK = _gemm(Xd.reshape(T * B, D).T, flat)
        dX = _gemm(flat, kernel.T).reshape(T, B, D)
        return (dX if dropout_mask is None else dX * dropout_mask), dK
    H = G // n_gates
    dK = np.empty_like(kernel)
    dX = np.zeros_like(X)
    for k in range(n_gates):
        cols = slice(k * H, (k + 1) * H)
        dK[:, cols] = _gemm((X * dropout_mask[k]).reshape(T * B, D).T, flat[:, cols])
        dX += _gemm(flat[:, cols], kernel[:, cols].T).reshape(T, B, D) * dropout_mask[k]
    return dX, dK
