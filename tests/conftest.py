"""Test session setup shared by all test files."""

from __future__ import annotations

import os

# Tests expect the fused kernels from the first call. With a cold numba cache, lstmkit would
# answer first calls with the NumPy reference while a child process compiles (see
# `lstmkit.kernels._warm`); in tests the first call compiles in-process instead. The
# background compile has its own tests (tests/test_warm.py), which set this variable.
os.environ.setdefault("LSTMKIT_BACKGROUND_COMPILE", "0")


def pytest_sessionstart(session):
    """Compile (or load) every kernel once, so that `kernels.cache_is_warm()` holds."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return
    from lstmkit import kernels

    if not kernels.cache_is_warm():
        kernels.warmup()
