"""Metrics with Keras 3's names and running-mean semantics
(keras/src/metrics/reduction_metrics.py, accuracy_metrics.py, regression_metrics.py).

A metric keeps `total` and `count`; `update_state` adds a batch, `result()` is
total / count. Per-sample values are reduced to one value per sample first
(`reduce_to_samplewise_values`), so a sequence output counts once per sample,
and a prediction mask becomes a sample weight as Keras's `apply_mask` makes it.

Example:
    >>> import numpy as np
    >>> from lstmkit.training import metrics
    >>> m = metrics.BinaryAccuracy()
    >>> m.update_state(np.array([[1], [1], [0], [0]]), np.array([[0.98], [1], [0], [0.6]]))
    >>> float(m.result())
    0.75
"""

from __future__ import annotations

import numpy as np

# Keras's metrics module exports the losses' function forms too.
from .losses import (
    binary_crossentropy,
    categorical_crossentropy,
    huber,
    sparse_categorical_crossentropy,
    squeeze_or_expand,
)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    y_true, y_pred = squeeze_or_expand(np.asarray(y_true, np.float32), np.asarray(y_pred))
    return (y_true == (y_pred > threshold).astype(y_true.dtype)).astype(np.float32)


def categorical_accuracy(y_true, y_pred):
    y_true = np.argmax(np.asarray(y_true), axis=-1)
    return (y_true == np.argmax(np.asarray(y_pred), axis=-1)).astype(np.float32)


def sparse_categorical_accuracy(y_true, y_pred):
    y_pred = np.asarray(y_pred)
    y_true = np.asarray(y_true)
    org_shape = y_true.shape
    reshape = False
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
        reshape = True
    matches = (y_true.astype(np.float32) == np.argmax(y_pred, axis=-1)).astype(np.float32)
    if reshape:
        matches = matches.reshape(org_shape)
    if matches.ndim > 1 and matches.shape[-1] == 1:
        matches = matches[..., 0]
    return matches


def mean_absolute_error(y_true, y_pred):
    y_true, y_pred = squeeze_or_expand(np.asarray(y_true, np.float32), np.asarray(y_pred))
    return np.mean(np.abs(y_pred - y_true), axis=-1)


def mean_squared_error(y_true, y_pred):
    y_true, y_pred = squeeze_or_expand(np.asarray(y_true, np.float32), np.asarray(y_pred))
    return np.mean(np.square(y_pred - y_true), axis=-1)


class Mean:
    """A weighted running mean: result = sum(values * w) / sum(w)."""

    def __init__(self, name="mean", dtype=None):
        self.name = name
        self.dtype = dtype or "float32"
        self.reset_state()

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None):
        values, sample_weight = _samplewise(np.asarray(values, np.float64), sample_weight)
        self.total += float(np.sum(values))
        self.count += float(values.shape[0] if values.ndim and sample_weight is None
                            else (1 if sample_weight is None else np.sum(sample_weight)))

    def result(self):
        return np.float32(self.total / self.count) if self.count else np.float32(0.0)


def _samplewise(values, sample_weight):
    """Keras's `reduce_to_samplewise_values` with the mean."""
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, np.float64)
        values, sample_weight = squeeze_or_expand(values, sample_weight)
        if values.ndim > sample_weight.ndim:
            values = values.mean(axis=tuple(range(sample_weight.ndim, values.ndim)))
        sample_weight = np.broadcast_to(sample_weight, values.shape)
        values = values * sample_weight
        if values.ndim > 1:
            sample_weight = sample_weight.mean(axis=tuple(range(1, sample_weight.ndim)))
    if values.ndim > 1:
        values = values.mean(axis=tuple(range(1, values.ndim)))
    return values, sample_weight


class MeanMetricWrapper(Mean):
    """A `Mean` of `fn(y_true, y_pred)`; the prediction's mask weights the samples."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name=name or fn.__name__, dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None):
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        if mask is not None:
            float_mask = np.asarray(mask, np.float64)
            if sample_weight is None:
                sample_weight = float_mask
            else:
                float_mask, sw = squeeze_or_expand(float_mask, np.asarray(sample_weight,
                                                                          np.float64))
                sample_weight = sw * float_mask
        super().update_state(values, sample_weight)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, **self._fn_kwargs}


class BinaryAccuracy(MeanMetricWrapper):
    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)


class CategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, name=name, dtype=dtype)


class MeanSquaredError(MeanMetricWrapper):
    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name=name, dtype=dtype)


_NAMES = {
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
}
_CLASSES = {c.__name__: c for c in (BinaryAccuracy, CategoricalAccuracy,
                                    SparseCategoricalAccuracy, MeanAbsoluteError,
                                    MeanSquaredError, Mean)}


def is_binary_or_sparse_categorical(y_true, y_pred):
    """Keras's rule for resolving "accuracy" from the target and prediction shapes."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    is_binary = y_pred.shape[-1] == 1
    is_sparse = y_true.ndim < y_pred.ndim or (y_true.shape[-1] == 1 and y_pred.shape[-1] > 1)
    return is_binary, is_sparse


def get(identifier, y_true=None, y_pred=None):
    """A metric from a Keras name; "accuracy"/"acc" resolve from the shapes as Keras does.

    The metric's name (the key in `History.history`) is the string given.
    """
    if isinstance(identifier, Mean):
        return identifier
    if callable(identifier) and getattr(identifier, "__module__", None) == __name__ and \
            identifier.__name__ in _NAMES:
        identifier = identifier.__name__  # lk.metrics.mean_absolute_error, as Keras accepts
    if not isinstance(identifier, str):
        raise TypeError(f"Could not interpret metric identifier: {identifier!r}")
    if identifier.lower() in ("accuracy", "acc"):
        if y_true is None:
            raise ValueError("Resolving 'accuracy' needs the target and prediction shapes")
        is_binary, is_sparse = is_binary_or_sparse_categorical(y_true, y_pred)
        cls = (BinaryAccuracy if is_binary else SparseCategoricalAccuracy if is_sparse
               else CategoricalAccuracy)
    else:
        cls = _NAMES.get(identifier)
        if cls is None:
            raise ValueError(f"Could not interpret metric identifier: {identifier!r}; "
                             f"lstmkit knows {sorted(_NAMES) + ['accuracy', 'acc']}")
    metric = cls()
    metric.name = identifier
    return metric


__all__ = [
    "binary_crossentropy",
    "categorical_crossentropy",
    "huber",
    "sparse_categorical_crossentropy",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "Mean",
    "MeanAbsoluteError",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "SparseCategoricalAccuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "get",
    "mean_absolute_error",
    "mean_squared_error",
    "sparse_categorical_accuracy",
]
