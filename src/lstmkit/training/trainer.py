"""The fit loop: `compile`, `fit`, `evaluate`, `predict` and the `*_on_batch` methods.

Follows keras/src/trainers/trainer.py and the torch trainer
(keras/src/backend/torch/trainer.py): one step is forward, loss (compiled loss
+ regularization losses), backward, optimizer update; the "loss" in logs is the
running mean weighted by batch size; metrics are running means.
"""

from __future__ import annotations

import numpy as np


def _batches(n, batch_size):
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def _slice(x, index):
    if isinstance(x, (list, tuple)):
        return [_slice(v, index) for v in x]
    if isinstance(x, dict):
        return {k: _slice(v, index) for k, v in x.items()}
    return None if x is None else np.asarray(x)[index]


def _num_samples(x):
    if isinstance(x, dict):
        x = list(x.values())
    if isinstance(x, (list, tuple)):
        sizes = {np.shape(v)[0] for v in x}
        if len(sizes) > 1:
            raise ValueError(f"All inputs must have the same number of samples, got {sorted(sizes)}")
        return sizes.pop()
    return np.shape(x)[0]


def _prepare(model, x):
    if hasattr(model, "_ensure_built"):
        model._ensure_built(x)


def predict(model, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
    """Outputs for `x` in batches of `batch_size` (default 32), concatenated."""
    if x is None:
        raise ValueError("predict needs input data x")
    _prepare(model, x)
    batch_size = _batch_size(batch_size)
    n = _num_samples(x)
    chunks = []
    for index in _batches(n, batch_size):
        out, _ = model.forward(_slice(x, index), training=False, keep_cache=False)
        chunks.append(out if isinstance(out, list) else [out])
    if not chunks:
        raise ValueError("predict got 0 samples")
    flat = [np.concatenate([c[i] for c in chunks]) for i in range(len(chunks[0]))]
    return model._pack_outputs(flat)


def predict_on_batch(model, x):
    _prepare(model, x)
    out, _ = model.forward(x, training=False, keep_cache=False)
    return out


def _batch_size(batch_size):
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or \
            batch_size <= 0:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return int(batch_size)
