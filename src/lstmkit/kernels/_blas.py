"""The BLAS the compiled loops call, and how many threads its per-step products use.

numba's `np.dot` inside compiled code calls SciPy's BLAS (`scipy.linalg.cython_blas`).
The whole-sequence GEMMs (before and after the loops) go through the same BLAS,
via `gemm` below, so one thread pool serves the kernel: two OpenBLAS pools
(NumPy's and SciPy's) taking turns leave one pool's idle workers spinning while
the other works, which costs more than it saves on a 2-core machine.

OpenBLAS splits products above ~0.26 M multiply-adds over its threads, and each
split costs a thread handshake; on a busy machine a handshake waits for a
descheduled thread (measured: a 13 M multiply-add GEMM taking 20 ms instead of 0.5).
So products run on the calling thread unless they are large (`PARALLEL_MACS`,
2**24, about 0.3 ms of one core), through
OpenBLAS's thread-local setting (`openblas_set_num_threads_local`, OpenBLAS >=
0.3.27), which leaves every other thread's setting alone. Without it (another
BLAS), nothing is changed.
"""

from __future__ import annotations

import ctypes
import glob
import os

import numpy as np
from numba import njit

#: Products with at least this many multiply-adds (m * n * k) may use BLAS threads.
PARALLEL_MACS = int(os.environ.get("LSTMKIT_PARALLEL_MACS", str(1 << 24)))


def _find_set_threads_local():
    try:
        import scipy
    except ImportError:
        return None
    root = os.path.dirname(os.path.dirname(scipy.__file__))
    for path in sorted(glob.glob(os.path.join(root, "scipy.libs", "libscipy_openblas*"))):
        try:
            lib = ctypes.CDLL(path)
            fn = lib.openblas_set_num_threads_local
        except (OSError, AttributeError):
            continue
        fn.argtypes = [ctypes.c_int]
        fn.restype = ctypes.c_int
        return fn
    return None


_SET_THREADS_LOCAL = _find_set_threads_local()


def single_thread_if_small(macs: int) -> int:
    """Make this thread's BLAS single-threaded when products of `macs` multiply-adds are
    small (< PARALLEL_MACS); returns what `restore_threads` needs (-1: nothing changed)."""
    if _SET_THREADS_LOCAL is None or macs >= PARALLEL_MACS:
        return -1
    return _SET_THREADS_LOCAL(1)


def restore_threads(previous: int) -> None:
    """Undo `single_thread_if_small`."""
    if previous >= 0:
        _SET_THREADS_LOCAL(previous)


@njit(cache=True)
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
