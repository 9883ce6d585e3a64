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

from typing import NamedTuple

import numpy as np

from .. import kernels as _package  # the package's readiness check (imported before this)
from .. import reference as _ref


class CellRun(NamedTuple):
    """A fused run (arrays of `outputs` in processing order, batch-major)."""

    outputs: np.ndarray | None  # (B, T, H), or None when not asked for
    last: np.ndarray  # (B, H) the last output
    states: list  # [h_T]
    cache: object  # KernelCache or ShardedCache, or None at inference


class KernelCache(NamedTuple):
    """What backward (and `lk.trace`) needs, time-major, in processing order."""

    kind: str
    X: np.ndarray  # (T, B, D) inputs, times a shared dropout mask (not a per-gate one)
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


def unsupported_reason(kind, x, arrays, activation, recurrent_activation, recurrent_dropout_mask,
                       wait=True):
    """Why the fused kernel cannot run this call, or None. `wait=False` (backend "auto"):
    while a background process compiles the kernels (`_warm`, which compiles these with
    the LSTM's), that is the reason, and the reference answers."""
    if activation is not _ref.TANH or (kind == "GRU" and recurrent_activation is not
                                        _ref.SIGMOID):
        return ("the fused kernel computes activation='tanh'"
                + (" with recurrent_activation='sigmoid'" if kind == "GRU" else ""))
    if recurrent_dropout_mask is not None:
        return "the fused kernel does not compute recurrent dropout"
    dtype = getattr(x, "dtype", None)
    if getattr(dtype, "type", None) not in (np.float32, np.float64):
        return f"the fused kernel computes float32 or float64 inputs, got {dtype}"
    for a in arrays:
        if a is not None and a.dtype != dtype:
            return f"the fused kernel needs every array in the inputs' dtype {dtype}"
    try:
        reason = _ready(wait, dtype)
        if reason is None:
            _modules()
    except ImportError as err:
        return f"the fused kernel could not be loaded ({err})"
    return reason


def _ready(wait, dtype):
    """None when this dtype's kernels may run (compiled, or compiled here when `wait`);
    else why not yet: the LSTM kernels' readiness, which covers these (`_warm.warmup`)."""
    return _package._kernels(wait, dtype)[1]


_MODULES: list = []


def _modules():
    """(_gru, _run, _shard, _gemm, _blas), imported on first use (they need numba), then
    kept: an import statement per call costs microseconds."""
    if not _MODULES:
        from . import _blas, _gemm, _gru, _run, _shard

        _MODULES.append((_gru, _run, _shard, _gemm, _blas))
    return _MODULES[0]


def _gemm(a, b):
    """a @ b through the kernels' BLAS call, one thread for small products (`_blas.gemm`)."""
    return _modules()[4].gemm(_contiguous(a), _contiguous(b))


def _contiguous(a):
    return a if (a.flags.c_contiguous or a.flags.f_contiguous) else np.ascontiguousarray(a)


def _input_projection(X, kernel, bias_in, dropout_mask, n_gates):
    """XZ (T, B, nH) = (X * mask) @ kernel + bias with one mask per gate (GRU
    implementation 1): one GEMM per gate. (`_gru.forward_call` does the other cases.)"""
    T, B, D = X.shape
    H = kernel.shape[1] // n_gates
    XZ = np.empty((T, B, kernel.shape[1]), X.dtype)
    for k in range(n_gates):
        cols = slice(k * H, (k + 1) * H)
        XZ[:, :, cols] = _gemm((X * dropout_mask[k]).reshape(T * B, D),
                               kernel[:, cols]).reshape(T, B, H)
    if bias_in is not None:
        XZ += bias_in
    return XZ


class ShardedCache(NamedTuple):
    """One `KernelCache` per shard of batch rows [start, stop) (`bounds`)."""

    parts: list
    bounds: list

    def arrays(self) -> dict:
        """`KernelCache.arrays` with the shards' rows joined."""
        parts = [p.arrays() for p in self.parts]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _blas_may_thread(B, T, D, H, G, dtype) -> bool:
    """Whether a call may give BLAS a product that OpenBLAS splits over threads: as
    `_run.blas_may_thread`, products of whole vectors from PACKED_MACS up run packed."""
    gemm = _modules()[3]
    return max(B * H, T * B * D) * G >= gemm.PACKED_MACS and not gemm.whole_vectors(G, dtype)


def _one_call(args, B, T, D, H, G, dtype) -> None:
    """`_gru.forward_call(*args)` on this thread, with SciPy's BLAS on one thread for the
    call when it may get a product OpenBLAS would split (`_blas_may_thread`) that is small."""
    _gru, _, _, _, _blas = _modules()
    if not _blas_may_thread(B, T, D, H, G, dtype):
        _gru.forward_call(*args)
        return
    changed = _blas.single_thread_if_small(B * H * G)
    try:
        _gru.forward_call(*args)
    finally:
        _blas.restore_threads(changed)


def run_forward(kind, x, kernel, recurrent_kernel, bias, h0, *, reset_after=True, mask=None,
                go_backwards=False, zero_output_for_mask=False, dropout_mask=None,
                keep_cache=False, return_sequences=True) -> CellRun:
    """Run a GRU or SimpleRNN over x (B, T, D) on the fused loops; h0 (B, H) or None.

    Outputs (B, T, H) in processing order, or None when neither `return_sequences` nor
    `keep_cache`; `CellRun.last` is the last output either way."""
    _gru, _run, _shard, _, _ = _modules()
    B, T, D = x.shape
    H = recurrent_kernel.shape[0]
    dtype = x.dtype
    gru = kind == "GRU"
    n = 3 if gru else 1
    e1, e2, e3, e2u8 = _run.empties(dtype)
    b_in = b_rec = None
    if bias is not None:
        b_in, b_rec = (bias[0], bias[1]) if (gru and reset_after) else (bias, None)
    per_gate = dropout_mask is not None and dropout_mask.ndim == 3
    XZ_all = None
    if per_gate:  # the input projection per gate, here; X stays without dropout
        X = np.ascontiguousarray(x.transpose(1, 0, 2)[::-1 if go_backwards else 1])
        XZ_all = _input_projection(X, kernel, b_in, dropout_mask, n)  # (T, B, nH)
    if mask is not None:
        mask = np.ascontiguousarray(mask if mask.dtype == np.bool_ else mask != 0).view(np.uint8)
    b_r = e1
    if gru:
        b_r = np.zeros(3 * H, dtype) if b_rec is None else _run._contiguous(b_rec, dtype, e1)
    x = _run._contiguous(x, dtype, e3)
    h0 = _run._contiguous(h0, dtype, e2)
    K = _run._contiguous(kernel, dtype, e2)
    R = _run._contiguous(recurrent_kernel, dtype, e2)
    b_in = _run._contiguous(None if per_gate else b_in, dtype, e1)
    want_seq = return_sequences or keep_cache
    seq = np.empty((B, T, H), dtype) if want_seq else e3
    last, h_T = np.empty((B, H), dtype), np.empty((B, H), dtype)
    shards = _workers(B, B * H * n * H)
    if shards == 1 and not keep_cache and not per_gate and \
            T * B * max(D, n * H) * x.itemsize < _run.OWN_SCRATCH_BYTES:
        # a small inference call: the compiled call allocates its scratch (costs less)
        args = (x, K, R, b_in, b_r, h0, e2u8 if mask is None else mask,
                _run._contiguous(dropout_mask, dtype, e2), False, bool(go_backwards), gru,
                bool(reset_after), False, bool(zero_output_for_mask), e3, e3, e3, e3, e3, e3,
                e3, e3, e2u8, seq, last, h_T)
        _one_call(args, B, T, D, H, n * H, dtype)
        return CellRun(seq if want_seq else None, last, [h_T], None)
    jobs, caches = [], []
    for b0, b1 in _shard._bounds(B, shards):
        rows = b1 - b0
        X = np.empty((T, rows, D), dtype)
        XZ = np.empty((T, rows, n * H), dtype) if XZ_all is None else \
            np.ascontiguousarray(XZ_all[:, b0:b1])
        S = np.empty((T + 1 if keep_cache else 2, rows, H), dtype)
        out = np.empty((T if want_seq else 2, rows, H), dtype)
        gates = tuple(np.empty((T, rows, H), dtype) if keep_cache and gru else e3
                      for _ in range(4))
        m = e2u8 if mask is None else np.empty((T, rows), np.uint8)
        dm = e2 if dropout_mask is None or per_gate else dropout_mask[b0:b1]
        jobs.append((x[b0:b1], K, R, b_in, b_r, h0[b0:b1] if h0.size else e2,
                     e2u8 if mask is None else mask[b0:b1], _run._contiguous(dm, dtype, e2),
                     per_gate, bool(go_backwards), gru, bool(reset_after), bool(keep_cache),
                     bool(zero_output_for_mask), X, XZ, S, out, *gates, m,
                     seq[b0:b1] if want_seq else e3, last[b0:b1], h_T[b0:b1]))
        if keep_cache:
            pdm = None if dropout_mask is None else dropout_mask[:, b0:b1] if per_gate \
                else dropout_mask[b0:b1]
            caches.append(KernelCache(kind, X, S, gates if gru else (), K, R, bias,
                                      reset_after, m, pdm, go_backwards, zero_output_for_mask))
    if shards > 1:
        _shard._run_shards(_gru.forward_call, jobs)  # one BLAS thread each
    else:
        _one_call(jobs[0], B, T, D, H, n * H, dtype)
    cache = None
    if keep_cache:
        cache = caches[0] if shards == 1 else ShardedCache(caches, _shard._bounds(B, shards))
    return CellRun(seq if want_seq else None, last, [h_T], cache)


#: Per-step products of at least this many multiply-adds, with at least SHARD_ROWS rows per
#: shard, run as batch shards in threads (the loops release the GIL), one BLAS thread each.
SHARD_MACS = 1 << 19
SHARD_ROWS = 8


def _workers(B, macs) -> int:
    """Shards for a batch of B rows whose per-step products take `macs` multiply-adds
    (cores as `_shard._cores`: `LSTMKIT_NUM_THREADS`, else the process's CPUs)."""
    if macs < SHARD_MACS:
        return 1
    return max(1, min(_modules()[2]._cores(), B // SHARD_ROWS, 4))


def run_backward(cache, d_outputs=None, d_h=None):
    """Gradients of a `run_forward(..., keep_cache=True)`.

    Args:
        d_outputs: (B, T, H) gradient of the outputs (processing order) or None.
        d_h: (B, H) gradient of the final state or None.

    Returns:
        (dx (B, T, D) in input order, [d_h0], [d_kernel, d_recurrent_kernel(, d_bias)]).
    """
    if isinstance(cache, KernelCache):
        return _backward(cache, d_outputs, d_h)
    _shard = _modules()[2]
    rows = lambda a, b0, b1: None if a is None else a[b0:b1]  # noqa: E731
    parts = _shard._run_shards(_backward, [
        (part, rows(d_outputs, b0, b1), rows(d_h, b0, b1))
        for part, (b0, b1) in zip(cache.parts, cache.bounds)])
    dx = np.concatenate([p[0] for p in parts])
    dh = np.concatenate([p[1][0] for p in parts])
    grads = [sum(p[2][k] for p in parts) for k in range(len(parts[0][2]))]
    return dx, [dh], grads


def _backward(cache: KernelCache, d_outputs, d_h):
    """`run_backward` of one shard."""
    _gru, _run, _, _, _blas = _modules()

    X, S = cache.X, cache.S
    T, B, D = X.shape
    H = S.shape[2]
    dtype = X.dtype
    d_out = np.zeros((0, 0, 0), dtype) if d_outputs is None else np.ascontiguousarray(
        np.asarray(d_outputs, dtype).transpose(1, 0, 2))
    dh = np.zeros((B, H), dtype) if d_h is None else np.array(d_h, dtype)
    gru = cache.kind == "GRU"
    n = 3 if gru else 1
    dA = np.empty((T, B, n * H), dtype)  # gradients of the input projections
    dRec = np.empty((T, B, 3 * H if gru else 0), dtype)
    changed = _blas_may_thread(B, T, D, H, n * H, dtype) and \
        _blas.single_thread_if_small(B * H * n * H)
    try:
        if gru:
            _gru.gru_backward_loop(S, *cache.gates, cache.recurrent_kernel, cache.mask, d_out,
                                   dh, cache.reset_after, cache.zero_output_for_mask, dA, dRec)
        else:
            _gru.simple_rnn_backward_loop(S, cache.recurrent_kernel, cache.mask, d_out, dh,
                                          cache.zero_output_for_mask, dA)
    finally:
        _blas.restore_threads(changed)
    left = S[:-1].reshape(T * B, H)  # the state each step started from
    if not gru:
        dR = _run._weight_grad(left, dA.reshape(T * B, H))
    elif cache.reset_after:
        dR = _run._weight_grad(left, dRec.reshape(T * B, 3 * H))
    else:  # the candidate's product is with r * h (kept in RH)
        flat = dRec.reshape(T * B, 3 * H)
        dR = np.empty_like(cache.recurrent_kernel)
        dR[:, :2 * H] = _run._weight_grad(left, np.ascontiguousarray(flat[:, :2 * H]))
        dR[:, 2 * H:] = _run._weight_grad(cache.gates[3].reshape(T * B, H),
                                          np.ascontiguousarray(flat[:, 2 * H:]))
    dx, dK = _input_projection_backward(X, cache.kernel, dA, cache.dropout_mask, n)
    grads = [dK, dR]
    if cache.bias is not None:
        d_in = dA.sum(axis=(0, 1))
        if gru and cache.reset_after:
            grads.append(np.stack([d_in, dRec.sum(axis=(0, 1))]))  # (2, 3H)
        else:
            grads.append(d_in)
    if cache.go_backwards:
        dx = dx[::-1]
    return np.ascontiguousarray(dx.transpose(1, 0, 2)), [dh], grads


def _input_projection_backward(X, kernel, dA, dropout_mask, n_gates):
    """(dX (T, B, D), d_kernel) of the input projection."""
    _run = _modules()[1]

    T, B, D = X.shape
    G = kernel.shape[1]
    flat = dA.reshape(T * B, G)
    if dropout_mask is None or dropout_mask.ndim == 2:
        # X holds the inputs times a shared mask already (`_gru.forward_call`)
        dK = _run._weight_grad(X.reshape(T * B, D), flat)
        dX = _run._input_grad(flat, kernel).reshape(T, B, D)
        return (dX if dropout_mask is None else dX * dropout_mask), dK
    H = G // n_gates
    dK = np.empty_like(kernel)
    dX = np.zeros_like(X)
    for k in range(n_gates):
        cols = slice(k * H, (k + 1) * H)
        dK[:, cols] = _gemm((X * dropout_mask[k]).reshape(T * B, D).T, flat[:, cols])
        dX += _gemm(flat[:, cols], kernel[:, cols].T).reshape(T, B, D) * dropout_mask[k]
    return dX, dK


def warm(dtype) -> None:
    """Compile (or load from numba's cache) the GRU and SimpleRNN kernels of `dtype`: numba
    compiles per argument types, so a small inference and training call per kind reaches
    them all (`kernels.warmup`, `lstmkit warmup`, runs this)."""
    rng = np.random.default_rng(0)
    B, T, D, H = 2, 3, 4, 5
    x = rng.normal(size=(B, T, D)).astype(dtype)
    mask, dm = rng.random((B, T)) < 0.8, np.ones((B, D), dtype)
    for kind, reset_after in (("GRU", True), ("GRU", False), ("SimpleRNN", False)):
        n = 3 if kind == "GRU" else 1
        K, R = rng.normal(size=(D, n * H)).astype(dtype), rng.normal(size=(H, n * H)).astype(dtype)
        for keep_cache in (False, True):
            run = run_forward(kind, x, K, R, None, None, reset_after=reset_after, mask=mask,
                              dropout_mask=dm, keep_cache=keep_cache)
        run_backward(run.cache, np.ones((B, T, H), dtype), None)
