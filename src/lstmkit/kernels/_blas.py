"""The BLAS the compiled loops call, and a scoped one-thread limit for small products.

numba's `np.dot` inside compiled code calls SciPy's BLAS (`scipy.linalg.cython_blas`).
The whole-sequence GEMMs (before and after the loops) go through the same BLAS, via
`gemm` below, so that one BLAS and one thread setting serve the whole kernel (NumPy
bundles a second OpenBLAS with its own thread pool).

Why a thread limit: OpenBLAS splits products above a few hundred thousand
multiply-adds over its threads, and each split is a thread handshake. When the
machine is busy, a handshake waits for a descheduled thread, so a small product can
take many times its compute time. Calls whose products are all small
(`_config.kernel_parallel_macs()`, `LSTMKIT_PARALLEL_MACS`) therefore run SciPy's
OpenBLAS on one thread, through `threadpoolctl`, for the duration of the call.

What this changes outside lstmkit: OpenBLAS's thread count is per library, not per
thread, so while such a call runs, other threads of the application that use SciPy's
BLAS run single-threaded too. The limit is scoped: a counter under a lock restores the
count the library had when the last overlapping call ends. NumPy's own BLAS is never
touched (unless it is the same library, as in conda), nor is anything changed when
SciPy's BLAS is not an OpenBLAS that threadpoolctl can control.
"""

from __future__ import annotations

import os
import threading

import numpy as np
from numba import njit

from .. import _config


class _ScipyBlasThreads:
    """SciPy's OpenBLAS as threadpoolctl sees it: its thread count, read and set.

    Found on first use, after loading `scipy.linalg.cython_blas` (as numba does for its
    `np.dot`): threadpoolctl lists the libraries loaded at the time it looks, and before
    that only NumPy's OpenBLAS may be there.
    """

    def __init__(self):
        self._lib = None
        self._looked = False

    def lib(self):
        if not self._looked:
            self._looked = True
            try:
                import scipy.linalg.cython_blas  # noqa: F401  (the BLAS numba calls)
                import threadpoolctl
            except ImportError:  # both are dependencies; a broken install: no limit
                return None
            libs = threadpoolctl.ThreadpoolController().select(internal_api="openblas")
            # SciPy's wheels bundle their OpenBLAS in "scipy.libs" (NumPy's is in
            # "numpy.libs"); with one OpenBLAS loaded (e.g. conda), SciPy uses that one.
            ours = [c for c in libs.lib_controllers
                    if "scipy" in os.path.basename(os.path.dirname(c.filepath))]
            if not ours and len(libs.lib_controllers) == 1:
                ours = libs.lib_controllers
            self._lib = ours[0] if ours else None
        return self._lib


_BLAS = _ScipyBlasThreads()
_LOCK = threading.Lock()
_STATE = {"depth": 0, "saved": 0}


def single_thread_if_small(macs: int) -> bool:
    """Limit SciPy's BLAS to one thread when products of `macs` multiply-adds are small
    (< `LSTMKIT_PARALLEL_MACS`). Returns whether it did; pass that to `restore_threads`."""
    if macs >= _config.kernel_parallel_macs():
        return False
    lib = _BLAS.lib()
    if lib is None:
        return False
    with _LOCK:
        if _STATE["depth"] == 0:
            _STATE["saved"] = lib.get_num_threads()
            if _STATE["saved"] > 1:
                lib.set_num_threads(1)
        _STATE["depth"] += 1
    return True


def single_threaded() -> bool:
    """Whether SciPy's OpenBLAS runs on one thread now: a `single_thread_if_small` is in
    force (e.g. inside batch shards), or its thread count is 1 (threadpoolctl, the
    environment, a 1-core machine). False when the BLAS is not SciPy's OpenBLAS."""
    if _STATE["depth"] > 0:
        return True
    lib = _BLAS.lib()
    return lib is not None and lib.get_num_threads() == 1


def restore_threads(changed: bool) -> None:
    """Undo `single_thread_if_small`: the last overlapping call restores the count."""
    if not changed:
        return
    with _LOCK:
        _STATE["depth"] -= 1
        if _STATE["depth"] == 0 and _STATE["saved"] > 1:
            _BLAS.lib().set_num_threads(_STATE["saved"])


@njit(cache=True, nogil=True)
def _dot(a, b, out):
    np.dot(a, b, out)


def gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """out = a @ b (2-D, C- or F-contiguous) through the kernel's BLAS."""
    if out is None:
        out = np.empty((a.shape[0], b.shape[1]), np.result_type(a, b))
    previous = single_thread_if_small(a.shape[0] * a.shape[1] * b.shape[1])
    try:
        _dot(a, b, out)
    finally:
        restore_threads(previous)
    return out
