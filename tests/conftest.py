"""Test session setup shared by all test files."""

from __future__ import annotations

import os

# Tests expect the fused kernels from the first call. With a cold numba cache, lstmkit would
# answer first calls with the NumPy reference while a child process compiles (see
# `lstmkit.kernels._warm`); in tests (and the subprocesses they start) the first call
# compiles in-process instead. tests/test_warm.py tests the background compile.
os.environ.setdefault("LSTMKIT_BACKGROUND_COMPILE", "0")
