"""Optimizers with Keras 3's names, defaults, update rules and configs.

Each update follows the torch backend's `_parallel_update_step`
(keras/src/backend/torch/optimizers/torch_*.py), in float32 like Keras's
variables. `apply(grads, variables)` does what keras/src/optimizers/base_optimizer.py
`apply` does: clip (clipnorm per tensor, else global_clipnorm, else clipvalue),
decoupled weight decay `w -= w * weight_decay * lr`, the update, each variable's
constraint, then `iterations += 1`. The learning rate (or schedule at
`iterations`) is read before the update.

Example:
    >>> import numpy as np
    >>> from lstmkit.layers import Variable
    >>> from lstmkit.training.optimizers import SGD
    >>> w = Variable(np.ones(2, "float32"), "w")
    >>> SGD(learning_rate=0.1).apply([np.ones(2, "float32")], [w])
    >>> w.value.tolist()
    [0.8999999761581421, 0.8999999761581421]
"""

from __future__ import annotations

import numpy as np

from ..layers import _snapshot
from . import schedules as _schedules

_F = np.float32


class _Slot:
    """An optimizer variable (momentum, velocity, ...) with Keras's naming."""

    def __init__(self, value, name, path=None):
        self.value = value
        self.name = name
        self.path = path or name

    shape = property(lambda self: self.value.shape)

    def numpy(self):
        return self.value

    def assign(self, value):
        self.value = np.asarray(value, self.value.dtype).reshape(self.value.shape).copy()


class Optimizer:
    """The base: learning rate (float or schedule), clipping, weight decay, iterations."""

    _slot_names: tuple = ()
    # How many leading slots Keras creates in one `add_optimizer_variables` call, which
    # interleaves them per model variable (Adam's momentum and velocity); the others follow
    # in one block per slot name (keras/src/optimizers/adam.py, rmsprop.py `build`).
    _interleaved_slots = 1

    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        kwargs.pop("decay", None)
        if kwargs:
            raise ValueError(f"Argument(s) not recognized: {kwargs}")
        if use_ema:
            raise ValueError("lstmkit optimizers do not support use_ema=True")
        if gradient_accumulation_steps:
            raise ValueError("lstmkit optimizers do not support gradient_accumulation_steps")
        if sum(v is not None for v in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. "
                f"Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                f"global_clipnorm={global_clipnorm}"
            )
        self.name = name or _snake(type(self).__name__)
        if isinstance(learning_rate, dict):
            learning_rate = _schedules.deserialize(learning_rate)
        if not isinstance(learning_rate, _schedules.LearningRateSchedule):
            if isinstance(learning_rate, bool) or not isinstance(
                    learning_rate, (int, float, np.floating, np.integer)):
                raise TypeError(f"learning_rate must be a float or a schedule, got "
                                f"{learning_rate!r}")
            learning_rate = _F(learning_rate)  # Keras keeps it in a float32 variable
        self._learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.use_ema = False
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = None
        self.iterations = 0
        self.built = False
        self._slots: dict = {}  # id(variable) -> {slot name: _Slot}
        self._vars: list = []

    # -- learning rate ---------------------------------------------------------------------
    @property
    def learning_rate(self):
        """The current learning rate (a schedule is evaluated at `iterations`)."""
        if isinstance(self._learning_rate, _schedules.LearningRateSchedule):
            return _F(self._learning_rate(self.iterations))
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(self._learning_rate, _schedules.LearningRateSchedule):
            raise TypeError("This optimizer was created with a learning rate schedule; its "
                            "learning rate cannot be set (ReduceLROnPlateau needs a float)")
        self._learning_rate = _F(value)

    # -- variables -------------------------------------------------------------------------
    def build(self, variables):
        """Create the optimizer's variables for `variables` (Keras's interleaved order)."""
        self._vars = list(variables)
        for var in self._vars:
            self._slots[id(var)] = {
                name: _Slot(np.full(var.shape, self._slot_init(name), var.value.dtype),
                            f"{var.path.replace('/', '_')}_{name}")
                for name in self._active_slots()
            }
        self.built = True

    def _active_slots(self):
        return self._slot_names

    def _slot_init(self, name):
        return 0.0

    @property
    def variables(self) -> list:
        """[iterations, learning_rate, slots...] in Keras's order (the order of its files)."""
        out = [_Slot(np.array(self.iterations, np.int64), "iteration"),
               _Slot(np.array(self.learning_rate, np.float32), "learning_rate")]
        if not self.built:
            return out
        names = list(self._active_slots())
        k = self._interleaved_slots
        for v in self._vars:
            out += [self._slots[id(v)][name] for name in names[:k]]
        for name in names[k:]:
            out += [self._slots[id(v)][name] for v in self._vars]
        return out

    # -- applying --------------------------------------------------------------------------
    def apply_gradients(self, grads_and_vars):
        grads, variables = zip(*grads_and_vars)
        self.apply(list(grads), list(variables))

    def apply(self, grads, variables=None):
        """Update `variables` (lstmkit Variables) from `grads` (arrays, None to skip)."""
        if variables is None:
            if not self.built:
                raise ValueError("When passing `grads` without `variables`, the optimizer must "
                                 "already be built on a list of variables.")
            variables = self._vars
        variables = list(variables)
        if len(grads) != len(variables):
            raise ValueError(f"Got {len(grads)} gradients for {len(variables)} variables")
        if not self.built:
            self.build(variables)
        pairs = [(np.asarray(g, v.value.dtype), v) for g, v in zip(grads, variables)
                 if g is not None]
        if not pairs:
            raise ValueError("No gradients provided for any variable.")
        grads = [g for g, _ in pairs]
        variables = [v for _, v in pairs]
        if self.loss_scale_factor is not None:
            grads = [g / _F(self.loss_scale_factor) for g in grads]
        grads = self._clip(grads)
        lr = _F(self.learning_rate)
        values = [v.value for v in variables]
        if self.weight_decay is not None:
            wd = _F(self.weight_decay)
            values = [w - w * wd * lr for w in values]
        for i, (g, v) in enumerate(zip(grads, variables)):
            slots = self._slots.get(id(v))
            if slots is None:
                raise KeyError(f"Unknown variable {v.path!r}: this optimizer was built for "
                               f"other variables")
            dtype = v.value.dtype
            w = self.update_step(g, values[i], lr, slots).astype(dtype, copy=False)
            if getattr(v, "constraint", None) is not None:
                w = np.asarray(v.constraint(w), dtype)
            values[i] = w
        with _snapshot.publishing():  # a concurrent predict sees the step wholly or not at all
            for v, w in zip(variables, values):
                v.value = w
        self.iterations += 1

    def _clip(self, grads):
        if self.clipnorm and self.clipnorm > 0:
            out = []
            for g in grads:
                norm = np.sqrt(np.sum(np.square(g)))
                out.append(g * _F(self.clipnorm) / np.maximum(norm, _F(self.clipnorm))
                           if norm > 0 else g * _F(self.clipnorm) / _F(self.clipnorm))
            return out
        if self.global_clipnorm and self.global_clipnorm > 0:
            norm = np.sqrt(sum(np.sum(np.square(g)) for g in grads))
            c = _F(self.global_clipnorm)
            scale = c * np.minimum(_F(1.0) / norm, _F(1.0) / c) + (norm - norm)
            return [g * scale for g in grads]
        if self.clipvalue and self.clipvalue > 0:
            return [np.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def update_step(self, g, w, lr, slots):
        raise NotImplementedError

    # -- config ----------------------------------------------------------------------------
    def get_config(self) -> dict:
        lr = self._learning_rate
        lr = _schedules.serialize(lr) if isinstance(lr, _schedules.LearningRateSchedule) \
            else float(lr)
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm,
                "clipvalue": self.clipvalue, "use_ema": self.use_ema,
                "ema_momentum": self.ema_momentum,
                "ema_overwrite_frequency": self.ema_overwrite_frequency,
                "loss_scale_factor": self.loss_scale_factor,
                "gradient_accumulation_steps": self.gradient_accumulation_steps}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = _schedules.deserialize(config["learning_rate"])
        return cls(**config)


def _snake(name):
    # Keras names optimizers uniquely per process: "adam", "adam_1", ...
    from ..layers.base import to_snake_case, unique_name
    return unique_name(to_snake_case(name))


class SGD(Optimizer):
    """Gradient descent with momentum: m = momentum*m - lr*g; w += m (nesterov:
    w += momentum*m - lr*g)."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        if not isinstance(momentum, (int, float)) or momentum < 0 or momentum > 1:
            raise ValueError("`momentum` must be a float between [0, 1].")
        self.momentum = momentum
        self.nesterov = nesterov

    def _active_slots(self):
        return ("momentum",) if self.momentum != 0 else ()

    def update_step(self, g, w, lr, slots):
        if self.momentum == 0:
            return w - lr * g
        m = slots["momentum"].value
        m = m * _F(self.momentum) - lr * g
        slots["momentum"].value = m
        if self.nesterov:
            return w - lr * g + _F(self.momentum) * m
        return w + m

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam (Kingma & Ba), Keras 3's form: alpha = lr*sqrt(1-b2^t)/(1-b1^t);
    w -= alpha*m / (sqrt(v) + epsilon); amsgrad uses max(v_hat, v)."""

    _interleaved_slots = 2  # momentum, velocity per variable; velocity_hat after

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, amsgrad

    def _active_slots(self):
        return ("momentum", "velocity") + (("velocity_hat",) if self.amsgrad else ())

    def update_step(self, g, w, lr, slots):
        t = _F(self.iterations + 1)
        b1, b2 = _F(self.beta_1), _F(self.beta_2)
        alpha = lr * np.sqrt(_F(1) - np.power(b2, t)) / (_F(1) - np.power(b1, t))
        m = slots["momentum"].value * b1 + g * _F(1 - self.beta_1)
        v = slots["velocity"].value * b2 + (g * g) * _F(1 - self.beta_2)
        slots["momentum"].value, slots["velocity"].value = m, v
        if self.amsgrad:
            v = np.maximum(slots["velocity_hat"].value, v)
            slots["velocity_hat"].value = v
        return w - (m * alpha) / (np.sqrt(v) + _F(self.epsilon))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (default 0.004), applied before the update."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, **kwargs):
        if weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float. Received: "
                             "weight_decay=None")
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, amsgrad=amsgrad, weight_decay=weight_decay, **kwargs)


class RMSprop(Optimizer):
    """v = rho*v + (1-rho)*g^2; w -= lr*g / sqrt(v + epsilon [- mean_g^2 if centered]),
    through a momentum buffer when momentum > 0."""

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = rho, momentum, epsilon, centered

    def _active_slots(self):
        return (("velocity",) + (("momentum",) if self.momentum > 0 else ())
                + (("average_gradient",) if self.centered else ()))

    def update_step(self, g, w, lr, slots):
        rho = _F(self.rho)
        v = slots["velocity"].value * rho + (g * g) * _F(1 - self.rho)
        slots["velocity"].value = v
        den = v + _F(self.epsilon)
        if self.centered:
            avg = slots["average_gradient"].value * rho + g * _F(1 - self.rho)
            slots["average_gradient"].value = avg
            den = den - avg * avg
        inc = (g * lr) / np.sqrt(den)
        if self.momentum > 0:
            mom = slots["momentum"].value * _F(self.momentum) + inc
            slots["momentum"].value = mom
            return w - mom
        return w - inc

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


class Adagrad(Optimizer):
    """acc += g^2 (from initial_accumulator_value); w -= lr*g / sqrt(acc + epsilon)."""

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def _active_slots(self):
        return ("accumulator",)

    def _slot_init(self, name):
        return self.initial_accumulator_value

    def update_step(self, g, w, lr, slots):
        acc = slots["accumulator"].value + g * g
        slots["accumulator"].value = acc
        return w - (g * lr) / np.sqrt(acc + _F(self.epsilon))

    def get_config(self):
        return {**super().get_config(),
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


_CLASSES = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW, "RMSprop": RMSprop, "Adagrad": Adagrad}
_NAMES = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}


def get(identifier) -> Optimizer:
    """An optimizer from a Keras name ("adam"), a config dict, or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        cls = _NAMES.get(identifier.lower())
        if cls is None:
            raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}; "
                             f"lstmkit knows {sorted(_NAMES)}")
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}")


def serialize(optimizer) -> dict:
    return {"module": "keras.optimizers", "class_name": type(optimizer).__name__,
            "config": optimizer.get_config(), "registered_name": None}


def deserialize(entry) -> Optimizer:
    name = entry.get("class_name") if isinstance(entry, dict) else None
    cls = _CLASSES.get(name) or _NAMES.get(str(name).lower())
    if cls is None:
        raise ValueError(f"Unknown optimizer {name!r}; lstmkit knows {sorted(_CLASSES)}")
    return cls.from_config(dict(entry.get("config") or {}))


__all__ = [
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "Optimizer",
    "RMSprop",
    "deserialize",
    "get",
    "schedules",
    "serialize",
]
schedules = _schedules
