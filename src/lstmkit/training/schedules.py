"""Learning-rate schedules with Keras 3's names, formulas and configs
(keras/src/optimizers/schedules/learning_rate_schedule.py).

A schedule maps the optimizer's step (its `iterations` before the update) to a
learning rate, computed in float32 as Keras computes it.

Example:
    >>> from lstmkit.training.schedules import ExponentialDecay
    >>> round(float(ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)(10)), 6)
    0.05
"""

from __future__ import annotations

import math

import numpy as np

_F = np.float32


class LearningRateSchedule:
    def __call__(self, step):
        raise NotImplementedError

    def get_config(self):
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _positive_steps(decay_steps):
    if decay_steps <= 0:
        raise ValueError(f"Argument `decay_steps` must be > 0. Received: decay_steps={decay_steps}")
    return decay_steps


class ExponentialDecay(LearningRateSchedule):
    """`initial_learning_rate * decay_rate ** (step / decay_steps)` (floored with staircase)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="ExponentialDecay"):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = _positive_steps(decay_steps)
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def __call__(self, step):
        p = _F(step) / _F(self.decay_steps)
        if self.staircase:
            p = np.floor(p)
        return _F(self.initial_learning_rate) * np.power(_F(self.decay_rate), _F(p))

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Cosine decay from `initial_learning_rate` to `alpha` times it over `decay_steps`,
    after an optional linear warmup to `warmup_target` over `warmup_steps`."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay",
                 warmup_target=None, warmup_steps=0):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = _positive_steps(decay_steps)
        self.alpha = alpha
        self.name = name
        self.warmup_target = warmup_target
        self.warmup_steps = warmup_steps

    def _decay(self, step, decay_from):
        fraction = _F(step) / _F(self.decay_steps)
        cosine = _F(0.5) * (_F(1.0) + np.cos(_F(math.pi) * fraction))
        decayed = _F(1 - self.alpha) * cosine + _F(self.alpha)
        return _F(decay_from) * decayed

    def __call__(self, step):
        step = _F(step)
        if self.warmup_target is None:
            return self._decay(min(step, _F(self.decay_steps)), self.initial_learning_rate)
        step = min(step, _F(self.decay_steps + self.warmup_steps))
        if step < self.warmup_steps:
            delta = _F(self.warmup_target) - _F(self.initial_learning_rate)
            return delta * (step / _F(self.warmup_steps)) + _F(self.initial_learning_rate)
        return self._decay(step - _F(self.warmup_steps), self.warmup_target)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha, "name": self.name,
                "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


class PiecewiseConstantDecay(LearningRateSchedule):
    """`values[0]` while step <= boundaries[0], ..., `values[-1]` after boundaries[-1]."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "The length of boundaries should be 1 less than the length of values. "
                f"Received: boundaries={boundaries} of length {len(boundaries)}, and "
                f"values={values} of length {len(values)}."
            )
        self.boundaries = list(boundaries)
        self.values = list(values)
        self.name = name

    def __call__(self, step):
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return _F(value)
        return _F(self.values[-1])

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


_CLASSES = {"ExponentialDecay": ExponentialDecay, "CosineDecay": CosineDecay,
            "PiecewiseConstantDecay": PiecewiseConstantDecay}


def serialize(schedule) -> dict:
    """Keras's entry for a schedule inside an optimizer config."""
    return {"module": "keras.optimizers.schedules", "class_name": type(schedule).__name__,
            "config": schedule.get_config(), "registered_name": None}


def deserialize(entry):
    """A schedule from `serialize`'s entry; only the classes above."""
    if not isinstance(entry, dict) or entry.get("class_name") not in _CLASSES:
        raise ValueError(
            f"Unknown learning rate schedule {entry!r}; lstmkit knows {sorted(_CLASSES)}"
        )
    return _CLASSES[entry["class_name"]].from_config(dict(entry.get("config") or {}))
