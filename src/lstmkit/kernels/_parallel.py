"""Batch shards launched by numba's OpenMP threading layer, when that layer is there.

`_shard` splits a large batch into n shards of rows and runs each shard's whole
sequence on its own core. Handing shards to a Python thread pool costs two or three
thread wake-ups and GIL hand-offs per call, with a long tail where waking a thread is
slow (virtual machines). An OpenMP `prange` over the shards starts them without the GIL,
and its threads spin a while between launches, so back-to-back calls find them awake
(numbers in benchmarks/README.md). So when numba runs its parallel code on OpenMP (or
TBB), equal shards may take this path; otherwise (numba's own "workqueue" layer, which
aborts the process if two threads launch parallel code at once) `_handoff`'s workers or
the pool serve.

GNU OpenMP is not fork-safe: a forked child must not launch it. The child of a fork
therefore falls back to the pool (`os.register_at_fork`).

GNU OpenMP's idle threads spin before they sleep (`GOMP_SPINCOUNT`, 300,000 rounds by
default), competing with any other thread pool that runs next, and on a busy machine the
launch then waits for descheduled threads. That setting belongs to the application (it is
read once when OpenMP loads, for the whole process), so by default (`LSTMKIT_PARALLEL`
"auto") this path is taken only when the application has set it (`_config.kernel_parallel`);
`_handoff` gives the same launch time with a short spin of its own.

Example:
    >>> from lstmkit.kernels import _parallel
    >>> isinstance(_parallel.available(), bool)
    True
"""

from __future__ import annotations

import os

from numba import njit, prange

from .. import _config
from . import _warm
from ._forward import forward_call

_STATE = {"available": None, "compiled": False}


def _disable_in_child():
    _STATE["available"] = False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_disable_in_child)


@njit(parallel=True, cache=True)
def _probe(n):
    total = 0
    for i in prange(n):
        total += i
    return total


def available(compiling: bool = False) -> bool:
    """Whether shards can be launched with `forward_shards`: `LSTMKIT_PARALLEL` allows it,
    numba's threading layer is a thread-safe one (probed once), and the OpenMP code is
    compiled. While a background process compiles the kernels (`_warm`), the OpenMP code
    comes last: until then shards run on the pool rather than compile here. `compiling`:
    yes whenever the layer allows (the warmup, which compiles this path whatever the
    settings)."""
    if not (compiling or _config.kernel_parallel()):
        return False
    if not (_STATE["compiled"] or compiling):
        if _config.kernel_background_compile() and not _warm.is_warm("openmp"):
            return False
        _STATE["compiled"] = True
    if _STATE["available"] is None:
        import numba

        try:
            _probe(2)
            _STATE["available"] = numba.threading_layer() in ("omp", "tbb")
        except Exception:  # no layer could start: the pool serves
            _STATE["available"] = False
    return _STATE["available"]


@njit(parallel=True, cache=True, nogil=True)
def forward_shards(x, kernel, R, bias, h0, c0, mask, dm, rm, go_backwards, zero_output,
                   return_sequences, train, joint, Wp, X, Z, S, C, mask_tm, out, last, h, c):
    """`forward_call` for n equal shards of rows at once (one per OpenMP thread).

    Parameters as `forward_call`'s (`_run.Inputs`, `_run.Buffers`, `_run.Outputs`). The
    inputs and outputs are whole (B rows); the buffers have a leading shard axis:
    Wp (n, size), X (n, T, B/n, D), Z, S, C, mask_tm likewise.
    """
    n = X.shape[0]
    rows = X.shape[2]
    for s in prange(n):
        b0, b1 = s * rows, (s + 1) * rows
        forward_call(x[b0:b1], kernel, R, bias, h0[b0:b1] if h0.size > 0 else h0,
                     c0[b0:b1] if c0.size > 0 else c0, mask[b0:b1] if mask.size > 0 else mask,
                     dm[:, b0:b1] if dm.size > 0 else dm[:, :], rm[:, b0:b1] if rm.size > 0
                     else rm[:, :], go_backwards, zero_output, return_sequences, train, joint,
                     Wp[s], X[s], Z[s], S[s], C[s], mask_tm[s],
                     out[b0:b1] if out.size > 0 else out, last[b0:b1], h[b0:b1], c[b0:b1])
