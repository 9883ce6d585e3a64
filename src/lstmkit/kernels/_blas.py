"""The BLAS the compiled loops call, and how many threads its per-step products use.

numba's `np.dot` inside compiled code calls SciPy's BLAS (`scipy.linalg.cython_blas`).
The whole-sequence GEMMs (before and after the loops) go through the same BLAS,
via `gemm` below, so that one BLAS, one thread pool and one thread setting serve
the whole kernel (NumPy bundles a second OpenBLAS with its own pool).

OpenBLAS splits products above ~0.26 M multiply-adds over its threads, and each
split costs a thread handshake; on a busy machine a handshake waits for a
descheduled thread (measured here under load: a 13 M multiply-add GEMM taking 20 ms
instead of 0.5). So a call whose products are small (`PARALLEL_MACS`, 2**24, about
0.3 ms of one core; `LSTMKIT_PARALLEL_MACS` overrides) runs SciPy's OpenBLAS
single-threaded for its duration. OpenBLAS's thread count is process-wide, so
other threads using SciPy's BLAS during such a call run single-threaded too; a
counter under a lock restores the count when the last such call ends. Without
SciPy's OpenBLAS (another BLAS), nothing is changed.

Startup: numba needs `scipy.linalg.cython_blas` (a 2 ms extension module), but
importing it the ordinary way first runs `scipy/linalg/__init__.py`, ~85 ms of
imports (all of SciPy's linear algebra and its array-API layer) that the kernels
never use. `load_cython_blas` (run when this module is imported, which
`lstmkit.kernels` does before the kernels) loads that one module on its own;
`import scipy.linalg` later still runs as usual and gives the whole package.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import importlib.machinery
import importlib.util
import os
import sys
import threading

import numpy as np
from numba import njit

#: Products with at least this many multiply-adds (m * n * k) may use BLAS threads.
PARALLEL_MACS = int(os.environ.get("LSTMKIT_PARALLEL_MACS", str(1 << 24)))


def load_cython_blas() -> None:
    """Put `scipy.linalg.cython_blas` into `sys.modules` without running `scipy.linalg`.

    A later `import scipy.linalg` runs as usual; `_LinalgLoader` then only adds the
    `cython_blas` attribute that importing the submodule the ordinary way would have
    set. Does nothing when either module is imported already or SciPy is missing; an
    unusual SciPy layout gets the ordinary import.
    """
    if "scipy.linalg.cython_blas" in sys.modules or "scipy.linalg" in sys.modules:
        return
    try:
        import scipy  # noqa: F401  (numba has imported it already)
    except ImportError:
        return
    try:
        linalg_spec = importlib.util.find_spec("scipy.linalg")  # finds it, runs nothing
        blas_spec = importlib.machinery.PathFinder.find_spec(
            "scipy.linalg.cython_blas", linalg_spec.submodule_search_locations)
        blas = importlib.util.module_from_spec(blas_spec)
        blas_spec.loader.exec_module(blas)
    except Exception:  # not SciPy's usual layout: the ordinary (slower) import
        import scipy.linalg.cython_blas  # noqa: F401

        return
    sys.modules["scipy.linalg.cython_blas"] = blas
    sys.meta_path.insert(0, _LinalgFinder)


class _LinalgLoader:
    """`scipy.linalg`'s own loader, which then also sets `scipy.linalg.cython_blas`."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(_LinalgFinder)  # one import of scipy.linalg needs it
        module.__spec__.loader = module.__loader__ = self.loader
        self.loader.exec_module(module)
        if "scipy.linalg.cython_blas" in sys.modules:
            module.cython_blas = sys.modules["scipy.linalg.cython_blas"]


class _LinalgFinder:
    """On `sys.meta_path` until `scipy.linalg` is imported: finds it the usual way
    (`PathFinder`) and hands it to `_LinalgLoader`."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name != "scipy.linalg":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = _LinalgLoader(spec.loader)
        return spec


def _find_openblas_threads():
    """(get, set) of SciPy's bundled OpenBLAS thread count, or None."""
    try:
        import scipy
    except ImportError:
        return None
    root = os.path.dirname(os.path.dirname(scipy.__file__))
    for path in sorted(glob.glob(os.path.join(root, "scipy.libs", "libscipy_openblas*"))):
        try:
            lib = ctypes.CDLL(path)
            get, put = lib.scipy_openblas_get_num_threads, lib.scipy_openblas_set_num_threads
        except (OSError, AttributeError):
            continue
        get.restype, put.argtypes = ctypes.c_int, [ctypes.c_int]
        return get, put
    return None


load_cython_blas()  # at import, under the import lock: once, before numba's first call
_THREADS = _find_openblas_threads()
_LOCK = threading.Lock()
_STATE = {"depth": 0, "saved": 0}


def single_thread_if_small(macs: int) -> bool:
    """Make SciPy's BLAS single-threaded when products of `macs` multiply-adds are small
    (< PARALLEL_MACS). Returns whether it did; pass that to `restore_threads`."""
    if _THREADS is None or macs >= PARALLEL_MACS:
        return False
    with _LOCK:
        if _STATE["depth"] == 0:
            _STATE["saved"] = _THREADS[0]()
            if _STATE["saved"] > 1:
                _THREADS[1](1)
        _STATE["depth"] += 1
    return True


def single_threaded() -> bool:
    """Whether SciPy's OpenBLAS runs on one thread now: a `single_thread_if_small` is in
    force (e.g. inside batch shards), or its thread count is 1 (threadpoolctl, the
    environment, a 1-core machine). False when the BLAS is not SciPy's OpenBLAS."""
    return _STATE["depth"] > 0 or (_THREADS is not None and _THREADS[0]() == 1)


def restore_threads(changed: bool) -> None:
    """Undo `single_thread_if_small`."""
    if not changed:
        return
    with _LOCK:
        _STATE["depth"] -= 1
        if _STATE["depth"] == 0 and _STATE["saved"] > 1:
            _THREADS[1](_STATE["saved"])


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
