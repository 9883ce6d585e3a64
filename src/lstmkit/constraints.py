"""Weight constraints with Keras 3's names and formulas, applied after each update.

Example:
    >>> import numpy as np
    >>> from lstmkit import constraints
    >>> constraints.get("non_neg")(np.array([-1.0, 2.0])) == np.array([0.0, 2.0])
    array([ True,  True])
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-7  # keras.config.epsilon()


class Constraint:
    def __call__(self, w):
        return w

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class NonNeg(Constraint):
    def __call__(self, w):
        return w * (w >= 0).astype(w.dtype)


class MaxNorm(Constraint):
    def __init__(self, max_value=2, axis=0):
        self.max_value, self.axis = max_value, axis

    def __call__(self, w):
        norms = np.sqrt(np.sum(np.square(w), axis=self.axis, keepdims=True))
        desired = np.clip(norms, 0, self.max_value)
        return (w * (desired / (_EPS + norms))).astype(w.dtype)

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class UnitNorm(Constraint):
    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        norms = np.sqrt(np.sum(np.square(w), axis=self.axis, keepdims=True))
        return (w / (_EPS + norms)).astype(w.dtype)

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        norms = np.sqrt(np.sum(np.square(w), axis=self.axis, keepdims=True))
        desired = self.rate * np.clip(norms, self.min_value, self.max_value) + (
            1 - self.rate) * norms
        return (w * (desired / (_EPS + norms))).astype(w.dtype)

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


_CLASSES = {c.__name__: c for c in (NonNeg, MaxNorm, UnitNorm, MinMaxNorm)}
_NAMES = {"non_neg": NonNeg, "max_norm": MaxNorm, "unit_norm": UnitNorm,
          "min_max_norm": MinMaxNorm}


def get(identifier):
    """A `Constraint` from None, a Keras name, a config dict or an instance."""
    if identifier is None or isinstance(identifier, Constraint):
        return identifier
    if isinstance(identifier, str):
        if identifier not in _NAMES:
            raise ValueError(f"Unknown constraint {identifier!r}; expected one of {sorted(_NAMES)}")
        return _NAMES[identifier]()
    if isinstance(identifier, dict):
        cls = _CLASSES.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(f"Unknown constraint class in {identifier!r}")
        return cls.from_config(dict(identifier.get("config") or {}))
    raise TypeError(f"constraint must be None, a name, a dict or a Constraint, got {identifier!r}")


def serialize(con):
    if con is None:
        return None
    return {"module": "keras.constraints", "class_name": type(con).__name__,
            "config": con.get_config(), "registered_name": None}


def deserialize(config, custom_objects=None):
    """A constraint from Keras's serialized dict (as `get`)."""
    return get(config)


# Keras's lower-case aliases are the same classes (`keras.constraints.max_norm is MaxNorm`).
max_norm, min_max_norm, non_neg, unit_norm = MaxNorm, MinMaxNorm, NonNeg, UnitNorm
