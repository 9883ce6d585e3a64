"""Helpers for tests that use Keras 3 (torch backend) as the oracle.

Keras's own `predict` and `Variable.numpy()` warn under NumPy 2 with torch 2.13
(`__array__` without `copy`), which `-W error` turns into failures, so these
helpers move arrays through torch directly.
"""

import os

import numpy as np
import pytest


def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


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
