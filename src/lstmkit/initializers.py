"""Initializers with Keras 3's names, formulas and config dicts.

Formulas follow keras/src/initializers/random_initializers.py and
constant_initializers.py. Random draws use NumPy's PCG64 generator: the same
`seed` gives the same weights in lstmkit (not the same numbers as Keras's RNG).

Example:
    >>> from lstmkit import initializers
    >>> w = initializers.get("glorot_uniform")((8, 16), seed=1)
    >>> w.shape, bool(abs(w).max() <= (6 / 24) ** 0.5)
    ((8, 16), True)
"""

from __future__ import annotations

import math

import numpy as np

from . import utils as _utils


def compute_fans(shape):
    """Keras's (fan_in, fan_out) for a weight shape."""
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """Base class: `init(shape, dtype="float32", seed=None) -> ndarray`."""

    def __init__(self, seed=None):
        self.seed = seed

    def _rng(self, seed):
        return _utils.make_rng(self.seed if seed is None else seed)

    def __call__(self, shape, dtype="float32", seed=None):
        raise NotImplementedError

    def get_config(self):
        return {"seed": self.seed}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}({self.get_config()})"


class Zeros(Initializer):
    def __init__(self):
        super().__init__(None)

    def __call__(self, shape, dtype="float32", seed=None):
        return np.zeros(shape, dtype=dtype)

    def get_config(self):
        return {}


class Ones(Zeros):
    def __call__(self, shape, dtype="float32", seed=None):
        return np.ones(shape, dtype=dtype)


class Constant(Initializer):
    def __init__(self, value=0.0):
        super().__init__(None)
        self.value = value

    def __call__(self, shape, dtype="float32", seed=None):
        return np.full(shape, self.value, dtype=dtype)

    def get_config(self):
        return {"value": self.value}


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype="float32", seed=None):
        return self._rng(seed).normal(self.mean, self.stddev, size=shape).astype(dtype)

    def get_config(self):  # Keras's key order: RandomInitializer's seed first
        return {"seed": self.seed, "mean": self.mean, "stddev": self.stddev}


def _truncated_normal(rng, mean, stddev, shape):
    """Normal draws re-drawn until within two standard deviations (Keras's rule)."""
    out = rng.standard_normal(size=shape)
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = rng.standard_normal(size=int(bad.sum()))
        bad = np.abs(out) > 2.0
    return mean + stddev * out


class TruncatedNormal(RandomNormal):
    def __call__(self, shape, dtype="float32", seed=None):
        return _truncated_normal(self._rng(seed), self.mean, self.stddev, shape).astype(dtype)


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape, dtype="float32", seed=None):
        return self._rng(seed).uniform(self.minval, self.maxval, size=shape).astype(dtype)

    def get_config(self):
        return {"seed": self.seed, "minval": self.minval, "maxval": self.maxval}


class VarianceScaling(Initializer):
    """Keras's VarianceScaling: scale / fan, then a uniform or (truncated) normal draw."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None,
                 input_axes=None, output_axes=None):
        super().__init__(seed)
        # input_axes / output_axes (Keras 3.13+) only matter for rank > 2 kernels.
        self.input_axes, self.output_axes = input_axes, output_axes
        if isinstance(distribution, str):
            distribution = distribution.lower()
        if distribution == "normal":  # Keras stores "normal" as "truncated_normal"
            distribution = "truncated_normal"
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale!r}")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"mode must be fan_in, fan_out or fan_avg, got {mode!r}")
        if distribution not in ("truncated_normal", "untruncated_normal", "normal", "uniform"):
            raise ValueError(
                "distribution must be truncated_normal, untruncated_normal or uniform, "
                f"got {distribution!r}"
            )
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def __call__(self, shape, dtype="float32", seed=None):
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        scale = self.scale / max(1.0, n)
        rng = self._rng(seed)
        if self.distribution == "truncated_normal":
            # 0.879... is the stddev of a unit normal truncated to [-2, 2].
            stddev = math.sqrt(scale) / 0.87962566103423978
            return _truncated_normal(rng, 0.0, stddev, shape).astype(dtype)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(scale), size=shape).astype(dtype)
        limit = math.sqrt(3.0 * scale)
        return rng.uniform(-limit, limit, size=shape).astype(dtype)

    def get_config(self):
        return {
            "seed": self.seed,
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }


def _variance(name, scale, mode, distribution):
    def __init__(self, seed=None, input_axes=None, output_axes=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed, input_axes, output_axes)

    cls = type(
        name,
        (VarianceScaling,),
        {
            "__init__": __init__,
            "get_config": lambda self: {
                "seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes
            },
            "__doc__": f"VarianceScaling(scale={scale}, mode={mode!r}, "
            f"distribution={distribution!r}).",
        },
    )
    return cls


GlorotUniform = _variance("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _variance("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _variance("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _variance("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _variance("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _variance("LecunNormal", 1.0, "fan_in", "truncated_normal")


class Orthogonal(Initializer):
    """QR of a normal matrix, signs fixed by diag(r), transposed when rows < cols."""

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = gain

    def __call__(self, shape, dtype="float32", seed=None):
        if len(shape) < 2:
            raise ValueError(f"Orthogonal needs a shape of rank >= 2, got {tuple(shape)}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = self._rng(seed).standard_normal(size=(max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q.reshape(shape)).astype(dtype)

    def get_config(self):
        return {"seed": self.seed, "gain": self.gain}


class Identity(Initializer):
    """`gain * eye` for a 2-D shape."""

    def __init__(self, gain=1.0):
        super().__init__(None)
        self.gain = gain

    def __call__(self, shape, dtype="float32", seed=None):
        if len(shape) != 2:
            raise ValueError(f"Identity needs a 2-D shape, got {tuple(shape)}")
        return (self.gain * np.eye(*shape)).astype(dtype)

    def get_config(self):
        # Keras's Identity inherits `Initializer.get_config` and serializes no gain (3.15).
        return {}


_CLASSES = {
    c.__name__: c
    for c in (
        Zeros, Ones, Constant, RandomNormal, RandomUniform, TruncatedNormal, VarianceScaling,
        GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal,
        Orthogonal, Identity,
    )
}
_CLASSES["IdentityInitializer"] = Identity
_NAMES = {
    "zeros": Zeros, "ones": Ones, "constant": Constant, "random_normal": RandomNormal,
    "random_uniform": RandomUniform, "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling, "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal, "he_uniform": HeUniform, "he_normal": HeNormal,
    "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal, "orthogonal": Orthogonal,
    "identity": Identity,
}


def get(identifier) -> Initializer:
    """An `Initializer` from a Keras name, a serialized dict, or an instance.

    Raises:
        ValueError: for an unknown name or class. TypeError: for anything else.
    """
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        cls = _NAMES.get(identifier) or _CLASSES.get(identifier)
        if cls is None:
            raise ValueError(
                f"Unknown initializer {identifier!r}; expected one of {', '.join(sorted(_NAMES))}"
            )
        return cls()
    if isinstance(identifier, dict):
        name = identifier.get("class_name")
        cls = _CLASSES.get(name) or _NAMES.get(name)
        if cls is None:
            raise ValueError(f"Unknown initializer class {name!r} in {identifier!r}")
        return cls.from_config(dict(identifier.get("config") or {}))
    raise TypeError(
        f"initializer must be a name, a config dict or an Initializer, got {identifier!r}"
    )


def serialize(init: Initializer) -> dict:
    """Keras 3's serialized form: {"module", "class_name", "config", "registered_name"}."""
    return {
        "module": "keras.initializers",
        "class_name": type(init).__name__,
        "config": init.get_config(),
        "registered_name": None,
    }


def deserialize(config, custom_objects=None):
    """An `Initializer` from Keras's serialized dict (as `get`)."""
    return get(config)


# Keras's lower-case aliases are the same classes (`keras.initializers.zeros is Zeros`).
zeros, ones, constant = Zeros, Ones, Constant
random_normal, random_uniform, truncated_normal = RandomNormal, RandomUniform, TruncatedNormal
variance_scaling, orthogonal, identity = VarianceScaling, Orthogonal, Identity
glorot_uniform, glorot_normal = GlorotUniform, GlorotNormal
he_uniform, he_normal, lecun_uniform, lecun_normal = HeUniform, HeNormal, LecunUniform, LecunNormal
IdentityInitializer, OrthogonalInitializer = Identity, Orthogonal
