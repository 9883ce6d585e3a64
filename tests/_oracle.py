"""Helpers for tests that use Keras 3 (torch backend) as the live oracle.

Keras's own `predict` and `Variable.numpy()` warn under NumPy 2 with torch 2.13
(`__array__` without `copy`), which `-W error` turns into failures, so these
helpers move arrays through torch directly.
"""

import contextlib
import os
import warnings

import numpy as np
import pytest


def keras():
    """Keras 3 on the torch backend (what `make test` installs), or skip."""
    if os.environ.get("KERAS_BACKEND", "torch") != "torch":
        pytest.skip("the live oracle runs Keras on the torch backend")
    os.environ["KERAS_BACKEND"] = "torch"
    pytest.importorskip("torch")
    return pytest.importorskip("keras")


@contextlib.contextmanager
def quiet():
    """torch 2.13's Tensor.__array__ lacks `copy`; NumPy 2 warns when Keras converts."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="__array__ implementation",
                                category=DeprecationWarning)
        warnings.filterwarnings("ignore", message="No training configuration found")
        yield


def torch():
    return pytest.importorskip("torch")


def to_torch(x):
    t = torch()
    if isinstance(x, (list, tuple)):
        return [to_torch(v) for v in x]
    return t.from_numpy(np.ascontiguousarray(x))


def to_numpy(x):
    if isinstance(x, (list, tuple)):
        return [to_numpy(v) for v in x]
    return x.detach().cpu().numpy()


def keras_weights(model):
    return [v.value.detach().cpu().numpy() for v in model.weights]


def keras_call(model, x, training=False):
    t = torch()
    with t.no_grad():
        return to_numpy(model(to_torch(x), training=training))
