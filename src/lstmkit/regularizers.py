"""Weight regularizers with Keras 3's names, formulas and configs.

A regularizer maps a weight to a scalar penalty added to the loss; `grad`
gives its gradient, which training adds to the weight's gradient.

Example:
    >>> import numpy as np
    >>> from lstmkit import regularizers
    >>> float(regularizers.get("l2")(np.ones((2, 2))))
    0.04
"""

from __future__ import annotations

import numpy as np


class Regularizer:
    def __call__(self, w):
        raise NotImplementedError

    def grad(self, w):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class L1L2(Regularizer):
    """`l1 * sum(|w|) + l2 * sum(w**2)`."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1, self.l2 = _validate(l1, "l1"), _validate(l2, "l2")

    def __call__(self, w):
        return self.l1 * np.abs(w).sum() + self.l2 * np.square(w).sum()

    def grad(self, w):
        return (self.l1 * np.sign(w) + 2.0 * self.l2 * w).astype(w.dtype)

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    def __init__(self, l1=0.01):
        # Keras's L1 keeps l1 as a float32 tensor: get_config gives 0.009999999776482582.
        super().__init__(l1=float(np.float32(_validate(l1, "l1"))))

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


def _validate(value, name):
    """Keras's `validate_float_arg`: a finite, non-negative number."""
    if (isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating))
            or not np.isfinite(value) or value < 0):
        raise ValueError(
            f"Invalid value for argument {name}: expected a non-negative float. "
            f"Received: {name}={value!r}"
        )
    return float(value)


_CLASSES = {"L1L2": L1L2, "L1": L1, "L2": L2}
_NAMES = {"l1": L1, "l2": L2, "l1_l2": L1L2}


def get(identifier):
    """A `Regularizer` from None, a Keras name ("l1", "l2", "l1_l2"), a config dict or instance."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        if identifier not in _NAMES:
            raise ValueError(
                f"Unknown regularizer {identifier!r}; expected one of {sorted(_NAMES)}")
        return _NAMES[identifier]()
    if isinstance(identifier, dict):
        cls = _CLASSES.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(f"Unknown regularizer class in {identifier!r}")
        return cls.from_config(dict(identifier.get("config") or {}))
    raise TypeError(
        f"regularizer must be None, a name, a dict or a Regularizer, got {identifier!r}")


def serialize(reg):
    if reg is None:
        return None
    return {"module": "keras.regularizers", "class_name": type(reg).__name__,
            "config": reg.get_config(), "registered_name": None}


def deserialize(config, custom_objects=None):
    """A regularizer from Keras's serialized dict (as `get`)."""
    return get(config)


# Keras's lower-case aliases are the same classes (`keras.regularizers.l2 is L2`).
l1, l2, l1_l2 = L1, L2, L1L2
