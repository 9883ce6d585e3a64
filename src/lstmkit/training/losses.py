"""Losses with Keras 3's names, formulas, reductions and gradients
(keras/src/losses/losses.py, loss.py; the torch backend's nn.py for crossentropies).

A `Loss` maps (y_true, y_pred) to per-sample values (the mean over the last
axis), then reduces them with sample weights and the prediction's mask exactly
as `reduce_weighted_values` does: masked entries are dropped and the rest
rescaled so that "sum_over_batch_size" stays a mean over the valid entries.
`loss.gradient(...)` returns d loss / d y_pred for the same call.

Example:
    >>> import numpy as np
    >>> from lstmkit.training import losses
    >>> float(losses.MeanSquaredError()(np.zeros((2, 1)), np.ones((2, 1))))
    1.0
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-7  # keras.config.epsilon()
REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", None, "none")


def squeeze_or_expand(x1, x2, expand_rank_1=True):
    """Keras's `squeeze_or_expand_to_same_rank`: fix a trailing dim of 1 on one side."""
    r1, r2 = x1.ndim, x2.ndim
    if r1 == r2 + 1 and x1.shape[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = x2[..., None]
        else:
            x1 = x1[..., 0]
    if r2 == r1 + 1 and x2.shape[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = x1[..., None]
        else:
            x2 = x2[..., 0]
    return x1, x2


class Loss:
    """Base: `__call__(y_true, y_pred, sample_weight=None, mask=None)` -> scalar."""

    sparse = False

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        if reduction not in REDUCTIONS:
            raise ValueError(f"Invalid value for argument `reduction`. Expected one of "
                             f"{REDUCTIONS}. Received: reduction={reduction!r}")
        self.name = name or _default_name(type(self).__name__)
        self.reduction = reduction
        self.dtype = dtype

    # Subclasses: values(y_true, y_pred) -> (per-sample values, d values / d y_pred).
    def _values(self, y_true, y_pred, need_grad):
        raise NotImplementedError

    def _prepare(self, y_true, y_pred):
        y_pred = np.asarray(y_pred)
        dtype = y_pred.dtype if y_pred.dtype.kind == "f" else np.float32
        y_pred = y_pred.astype(dtype, copy=False)
        y_true = np.asarray(y_true)
        if not self.sparse:
            y_true = y_true.astype(dtype, copy=False)
            y_true, y_pred2 = squeeze_or_expand(y_true, y_pred)
            if y_pred2.shape != y_pred.shape or y_true.shape != y_pred.shape:
                raise ValueError(
                    f"Loss {self.name!r}: targets of shape {np.shape(y_true)} do not match "
                    f"predictions of shape {y_pred.shape}; expected the same shape"
                )
        return y_true, y_pred

    def __call__(self, y_true, y_pred, sample_weight=None, mask=None):
        return self.compute(y_true, y_pred, sample_weight, mask, need_grad=False)[0]

    def gradient(self, y_true, y_pred, sample_weight=None, mask=None):
        """d loss / d y_pred (same shape as y_pred)."""
        return self.compute(y_true, y_pred, sample_weight, mask, need_grad=True)[1]

    def compute(self, y_true, y_pred, sample_weight=None, mask=None, need_grad=True):
        """(loss, d loss / d y_pred or None)."""
        y_true, y_pred = self._prepare(y_true, y_pred)
        values, d_values = self._values(y_true, y_pred, need_grad)  # (B, ...) and (B, ..., K)
        weights = _merge_mask(sample_weight, mask, values, self.reduction)
        if weights is not None:
            v2, w2 = squeeze_or_expand(values, weights)
            try:
                weighted = v2 * w2
            except ValueError:
                raise ValueError(
                    f"Loss {self.name!r}: sample_weight of shape {np.shape(sample_weight)} "
                    f"does not fit per-sample losses of shape {values.shape}"
                ) from None
        else:
            v2, w2, weighted = values, None, values
        loss, scale = _reduce(weighted, w2, self.reduction)
        if not need_grad:
            return loss, None
        if w2 is None:
            d = np.full(values.shape, scale, values.dtype)  # d loss / d values
        else:
            d = np.broadcast_to(w2, weighted.shape) * scale
            while d.ndim > v2.ndim:
                d = d.sum(axis=-1)
            d = d.reshape(values.shape)
        return loss, (d[..., None] * d_values).astype(y_pred.dtype, copy=False)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _default_name(class_name):
    from ..layers.base import to_snake_case
    return to_snake_case(class_name)


def _merge_mask(sample_weight, mask, values, reduction):
    """Keras's `apply_mask`: the mask becomes weights total/valid (or 1) on valid entries."""
    dtype = values.dtype
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype)
    if mask is None:
        return sample_weight
    mask = np.asarray(mask, bool)
    if reduction in ("mean", "sum_over_batch_size"):
        valid = mask.sum()
        weight = dtype.type(mask.size) / dtype.type(valid) if valid else dtype.type(0)
        float_mask = np.where(mask, weight, 0).astype(dtype)
    else:
        float_mask = mask.astype(dtype)
    if sample_weight is None:
        return float_mask
    float_mask, sample_weight = squeeze_or_expand(float_mask, sample_weight)
    return sample_weight * float_mask


def _reduce(values, weights, reduction):
    """(loss, d loss / d weighted value)."""
    if reduction in (None, "none") or values.ndim == 0:
        return values, 1.0
    total = values.sum(dtype=values.dtype)
    if reduction == "sum":
        return total, 1.0
    if reduction == "mean_with_sample_weight" and weights is not None:
        divisor = weights.sum()
    else:
        divisor = values.size
    if divisor == 0:
        return values.dtype.type(0), 0.0
    return values.dtype.type(total / values.dtype.type(divisor)), 1.0 / divisor


class MeanSquaredError(Loss):
    """mean((y_pred - y_true)^2, axis=-1)."""

    def _values(self, y_true, y_pred, need_grad):
        diff = y_pred - y_true
        k = y_pred.shape[-1] if y_pred.ndim else 1
        return np.mean(diff * diff, axis=-1), (2.0 * diff / k if need_grad else None)


class MeanAbsoluteError(Loss):
    """mean(|y_pred - y_true|, axis=-1)."""

    def _values(self, y_true, y_pred, need_grad):
        diff = y_pred - y_true
        k = y_pred.shape[-1]
        return np.mean(np.abs(diff), axis=-1), (np.sign(diff) / k if need_grad else None)


class Huber(Loss):
    """mean(0.5 e^2 if |e| <= delta else delta (|e| - 0.5 delta), axis=-1), e = y_pred - y_true."""

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss",
                 dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.delta = delta

    def _values(self, y_true, y_pred, need_grad):
        e = y_pred - y_true
        a = np.abs(e)
        d = y_pred.dtype.type(self.delta)
        inner = a <= d
        v = np.where(inner, 0.5 * e * e, d * a - 0.5 * d * d)
        k = y_pred.shape[-1]
        grad = np.where(inner, e, d * np.sign(e)) / k if need_grad else None
        return np.mean(v, axis=-1), grad

    # Keras 3.15's Huber.get_config leaves `delta` out; so does this one, to match files.


class BinaryCrossentropy(Loss):
    """mean(BCE, axis=-1); probabilities are clipped to [eps, 1 - eps] (torch backend)."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="binary_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis

    def _values(self, y_true, y_pred, need_grad):
        t = y_true
        if self.label_smoothing:
            t = t * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        k = y_pred.shape[-1]
        if self.from_logits:
            # torch's binary_cross_entropy_with_logits: max(x, 0) - x t + log(1 + exp(-|x|))
            x = y_pred
            v = np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))
            grad = (_sigmoid(x) - t) / k if need_grad else None
            return np.mean(v, axis=-1), grad
        p = np.clip(y_pred, _EPS, 1 - _EPS)
        log_p = np.maximum(np.log(p), -100)  # torch clamps the logs at -100
        log_1p = np.maximum(np.log1p(-p), -100)
        v = -(t * log_p + (1 - t) * log_1p)
        grad = None
        if need_grad:
            inside = (y_pred >= _EPS) & (y_pred <= 1 - _EPS)
            grad = (p - t) / np.maximum(p * (1 - p), 1e-12) * inside / k
        return np.mean(v, axis=-1), grad

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


def _sigmoid(x):
    from scipy import special
    return special.expit(x)


def _log_softmax(x):
    shifted = x - np.max(x, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def _ce(t, y_pred, from_logits, need_grad):
    """-sum(t * log p) over the last axis and its gradient, as the torch backend computes."""
    if from_logits:
        logp = _log_softmax(y_pred)
        v = -np.sum(t * logp, axis=-1)
        grad = (np.exp(logp) * np.sum(t, axis=-1, keepdims=True) - t) if need_grad else None
        return v, grad
    s = np.sum(y_pred, axis=-1, keepdims=True)
    q = y_pred / s
    p = np.clip(q, _EPS, 1 - _EPS)
    v = -np.sum(t * np.log(p), axis=-1)
    grad = None
    if need_grad:
        inside = (q >= _EPS) & (q <= 1 - _EPS)
        dq = np.where(inside, -t / p, 0)  # d v / d q
        grad = (dq - np.sum(dq * q, axis=-1, keepdims=True)) / s  # through q = y / sum(y)
    return v, grad


class CategoricalCrossentropy(Loss):
    """-sum(y_true * log(y_pred)) over the last axis (probabilities renormalized and clipped)."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis

    def _values(self, y_true, y_pred, need_grad):
        t = y_true
        if self.label_smoothing:
            k = y_pred.shape[-1]
            t = t * (1.0 - self.label_smoothing) + self.label_smoothing / k
        return _ce(t, y_pred, self.from_logits, need_grad)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


class SparseCategoricalCrossentropy(Loss):
    """Categorical crossentropy with integer class targets (B, ...) or (B, ..., 1)."""

    sparse = True

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits, self.ignore_class = from_logits, ignore_class

    def _values(self, y_true, y_pred, need_grad):
        k = y_pred.shape[-1]
        ids = y_true
        if ids.ndim == y_pred.ndim and ids.shape[-1] == 1:
            ids = ids[..., 0]
        if ids.shape != y_pred.shape[:-1]:
            raise ValueError(
                f"Loss {self.name!r}: integer targets must have shape {y_pred.shape[:-1]} "
                f"(or with a trailing 1) for predictions {y_pred.shape}, got {y_true.shape}"
            )
        if ids.dtype.kind == "f" and not np.all(ids == np.round(ids)):
            raise ValueError(f"Loss {self.name!r} expects integer class ids, got fractions")
        ids = ids.astype(np.int64)
        keep = None
        if self.ignore_class is not None:
            keep = ids != self.ignore_class
            ids = np.where(keep, ids, 0)
        if ids.size and (ids.min() < 0 or ids.max() >= k):
            raise ValueError(f"Loss {self.name!r}: class ids must be in [0, {k}), got "
                             f"min {ids.min()}, max {ids.max()}")
        t = np.eye(k, dtype=y_pred.dtype)[ids]
        v, grad = _ce(t, y_pred, self.from_logits, need_grad)
        if keep is not None:
            v = v * keep
            if grad is not None:
                grad = grad * keep[..., None]
        return v, grad

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "ignore_class": self.ignore_class}


_CLASSES = {c.__name__: c for c in (MeanSquaredError, MeanAbsoluteError, Huber,
                                    BinaryCrossentropy, CategoricalCrossentropy,
                                    SparseCategoricalCrossentropy)}
_NAMES = {
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "huber": Huber, "huber_loss": Huber,
    "binary_crossentropy": BinaryCrossentropy, "bce": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}


def get(identifier) -> Loss:
    """A `Loss` from a Keras name ("mse", ...), a config dict or an instance."""
    if isinstance(identifier, Loss):
        return identifier
    if callable(identifier) and getattr(identifier, "__name__", None) in _NAMES and \
            getattr(identifier, "__module__", None) == __name__:
        identifier = identifier.__name__  # lk.losses.mean_squared_error, as Keras accepts
    if isinstance(identifier, str):
        cls = _NAMES.get(identifier)
        if cls is None:
            raise ValueError(f"Could not interpret loss identifier: {identifier!r}; "
                             f"lstmkit knows {sorted(_NAMES)}")
        obj = cls()
        return obj
    if isinstance(identifier, dict):
        cls = _CLASSES.get(identifier.get("class_name")) or _NAMES.get(
            identifier.get("config") if isinstance(identifier.get("config"), str) else "")
        if cls is None:
            raise ValueError(f"Could not interpret loss identifier: {identifier!r}")
        config = identifier.get("config")
        return cls.from_config(dict(config)) if isinstance(config, dict) else cls()
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}")


def serialize(loss):
    return {"module": "keras.losses", "class_name": type(loss).__name__,
            "config": loss.get_config(), "registered_name": None}


def deserialize(entry):
    return get(entry)


# Function forms, as keras.losses.mean_squared_error(y_true, y_pred): per-sample values.
def mean_squared_error(y_true, y_pred):
    return MeanSquaredError()._values(*MeanSquaredError()._prepare(y_true, y_pred), False)[0]


def mean_absolute_error(y_true, y_pred):
    return MeanAbsoluteError()._values(*MeanAbsoluteError()._prepare(y_true, y_pred), False)[0]


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-sample binary crossentropy, mean over the last axis (keras.losses's function)."""
    fn = BinaryCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
    return fn._values(*fn._prepare(y_true, y_pred), False)[0]


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-sample categorical crossentropy over the last axis (keras.losses's function)."""
    fn = CategoricalCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing,
                                 axis=axis)
    return fn._values(*fn._prepare(y_true, y_pred), False)[0]


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None,
                                    axis=-1):
    """Per-sample crossentropy for integer targets (keras.losses's function)."""
    fn = SparseCategoricalCrossentropy(from_logits=from_logits, ignore_class=ignore_class)
    return fn._values(*fn._prepare(y_true, y_pred), False)[0]


def huber(y_true, y_pred, delta=1.0):
    """Per-sample Huber loss, mean over the last axis (keras.losses's function)."""
    fn = Huber(delta=delta)
    return fn._values(*fn._prepare(y_true, y_pred), False)[0]


mse, mae = mean_squared_error, mean_absolute_error

__all__ = [
    "binary_crossentropy",
    "categorical_crossentropy",
    "huber",
    "sparse_categorical_crossentropy",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "Huber",
    "Loss",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "SparseCategoricalCrossentropy",
    "deserialize",
    "get",
    "mae",
    "mean_absolute_error",
    "mean_squared_error",
    "mse",
    "serialize",
]
