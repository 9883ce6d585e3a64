"""pytest's setup for the tests and the docstring examples (`--doctest-modules` over
`src/lstmkit`); one file at the root, so both trees share it.

Every module's examples are collected; none are listed by hand. They run from the repository
root, where the examples' data paths (`tests/data/...`) are. A module that needs a missing
extra at import, or whose examples use one, is skipped with the extra to install.
"""

import importlib
import os
import pathlib
import re
import warnings

import pytest

# Tests expect the fused kernels from the first call. With a cold numba cache, lstmkit would
# answer first calls with the NumPy reference while a child process compiles (see
# `lstmkit.kernels._warm`); in tests, examples and the subprocesses they start, the first
# call compiles in-process instead. tests/test_warm.py tests the background compile.
os.environ.setdefault("LSTMKIT_BACKGROUND_COMPILE", "0")

ROOT = pathlib.Path(__file__).resolve().parent
SRC = ROOT / "src"

# tests/compat's example scripts are run by tests/compat/test_compat.py, each in a temporary
# folder; `--doctest-modules` would import them, which runs them in the repository root.
collect_ignore = [str(p) for p in (ROOT / "tests" / "compat").glob("*.py")
                  if not p.name.startswith("test_")]

# Optional packages -> the extra that installs them.
EXTRAS = {"torch": "torch", "onnx": "onnx", "onnxruntime": "onnx", "matplotlib": "viz"}
# What in an example needs an optional package without naming it.
INDIRECT = {r"\.plots\.|inspection\.report\(": "matplotlib"}

_UNCOLLECTED = {}


def _missing(package):
    try:
        importlib.import_module(package)
    except ImportError:
        return True
    return False


def pytest_ignore_collect(collection_path, config):
    path = pathlib.Path(collection_path)
    if path.suffix != ".py" or SRC not in path.parents or path.name == "conftest.py":
        return None
    if path.name == "__main__.py":  # running it is `python -m lstmkit`
        return True
    name = ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
    try:
        with warnings.catch_warnings():  # the deprecated shims warn on import (tested apart)
            warnings.simplefilter("ignore", DeprecationWarning)
            importlib.import_module(name)
    except ModuleNotFoundError as err:
        root = (err.name or "").split(".")[0]
        if root in EXTRAS:
            _UNCOLLECTED[name] = EXTRAS[root]
            return True
        raise
    return None


def pytest_terminal_summary(terminalreporter):
    for name, extra in _UNCOLLECTED.items():
        terminalreporter.write_line(f"doctests of {name} skipped: pip install 'lstmkit[{extra}]'")


def pytest_collection_modifyitems(config, items):
    patterns = {rf"\b{re.escape(p)}\b": p for p in EXTRAS} | INDIRECT
    for item in items:
        if not isinstance(item, pytest.DoctestItem):
            continue
        source = "".join(example.source for example in item.dtest.examples)
        for pattern, package in patterns.items():
            if re.search(pattern, source) and _missing(package):
                item.add_marker(pytest.mark.skip(
                    reason=f"needs {package}: pip install 'lstmkit[{EXTRAS[package]}]'"))
                break


@pytest.fixture(autouse=True)
def _run_from_the_repository_root(request, monkeypatch):
    if isinstance(request.node, pytest.DoctestItem):
        monkeypatch.chdir(ROOT)
