"""Activations with Keras 3's names and formulas, and their derivatives.

Each activation is an `Activation`: `fn(x)` computes it, `grad(x, y)` returns
dy/dx given the input `x` and the output `y = fn(x)` (so sigmoid and tanh use
`y` only, as backprop through an LSTM cell does).

`hard_sigmoid` differs between Keras versions: Keras 3 computes
`relu6(x + 3) / 6` (keras/src/activations/activations.py), Keras 2 computes
`clip(0.2 x + 0.5, 0, 1)` (tf_keras/backend.py). `get("hard_sigmoid")` is
Keras 3's; `get("hard_sigmoid", keras2=True)` is Keras 2's, for old files.

Example:
    >>> import numpy as np
    >>> from lstmkit import activations
    >>> float(activations.get("sigmoid")(np.float32(0.0)))
    0.5
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Activation:
    """A named elementwise function with its derivative."""

    name: str
    fn: Callable[[np.ndarray], np.ndarray]
    grad: Callable[[np.ndarray, np.ndarray], np.ndarray]

    def __call__(self, x):
        return self.fn(x)

    def __repr__(self):
        return f"<activation {self.name}>"


def _sigmoid(x):
    # 1 / (1 + exp(-x)) without overflow: exp(-|x|) <= 1 on both branches. Plain NumPy, so
    # `import lstmkit` does not pay for scipy.special (about a third of a second).
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _erfc(x):
    from scipy import special  # only gelu needs it: imported on first use

    return special.erfc(x)


def _softplus(x):
    return np.logaddexp(np.zeros((), dtype=np.result_type(x, np.float32)), x).astype(
        np.result_type(x, np.float32), copy=False
    )


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


def _gelu(x):
    # Keras 3 `activations.gelu(x, approximate=False)`: x * Phi(x), written with erfc as
    # tf.nn.gelu and torch do (1 + erf(x) loses every digit for x << 0).
    return 0.5 * x * _erfc(-x / np.sqrt(2.0).astype(np.result_type(x, np.float32)))


def _gelu_grad(x, y):
    cdf = 0.5 * _erfc(-x / np.sqrt(2.0))
    pdf = np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)
    return (cdf + x * pdf).astype(np.result_type(x, np.float32), copy=False)


def _step(cond, x):
    return cond.astype(np.result_type(x, np.float32))


_ALL = [
    Activation("tanh", np.tanh, lambda x, y: 1 - y * y),
    Activation("sigmoid", _sigmoid, lambda x, y: y * (1 - y)),
    Activation(
        "hard_sigmoid",
        lambda x: np.clip(x / 6.0 + 0.5, 0.0, 1.0).astype(np.result_type(x, np.float32)),
        lambda x, y: _step((x > -3) & (x < 3), x) / 6.0,
    ),
    Activation("relu", lambda x: np.maximum(x, 0), lambda x, y: _step(x > 0, x)),
    Activation("linear", lambda x: x, lambda x, y: np.ones_like(x)),
    Activation("softsign", lambda x: x / (1 + np.abs(x)), lambda x, y: 1 / (1 + np.abs(x)) ** 2),
    Activation("softplus", _softplus, lambda x, y: _sigmoid(x)),
    Activation("elu", _elu, lambda x, y: np.where(x > 0, 1, y + 1)),
    Activation(
        "selu",
        lambda x: _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0))),
        lambda x, y: np.where(x > 0, _SELU_SCALE, y + _SELU_SCALE * _SELU_ALPHA),
    ),
    Activation("gelu", _gelu, _gelu_grad),
    Activation(
        "silu",
        lambda x: x * _sigmoid(x),
        lambda x, y: _sigmoid(x) * (1 + x * (1 - _sigmoid(x))),
    ),
    Activation("exponential", np.exp, lambda x, y: y),
    Activation(
        "relu6", lambda x: np.clip(x, 0, 6), lambda x, y: _step((x > 0) & (x < 6), x)
    ),
    Activation(
        "hard_tanh", lambda x: np.clip(x, -1, 1), lambda x, y: _step((x > -1) & (x < 1), x)
    ),
]

_REGISTRY: dict[str, Activation] = {a.name: a for a in _ALL}
_ALIASES = {"swish": "silu", "hard_tanh": "hard_tanh", "None": "linear"}

#: Keras 2's hard_sigmoid, `clip(0.2 x + 0.5, 0, 1)`, for files written by tf.keras.
hard_sigmoid_keras2 = Activation(
    "hard_sigmoid",
    lambda x: np.clip(0.2 * x + 0.5, 0.0, 1.0).astype(np.result_type(x, np.float32)),
    lambda x, y: _step((x > -2.5) & (x < 2.5), x) * 0.2,
)

for _a in _ALL:
    globals()[_a.name] = _a
swish = _REGISTRY["silu"]


def names() -> list[str]:
    """Every activation name `get` accepts."""
    return sorted(set(_REGISTRY) | set(_ALIASES) - {"None"})


def get(identifier, keras2: bool = False) -> Activation:
    """Return the `Activation` for a Keras name, `None` (linear), or an `Activation`.

    Args:
        identifier: a name such as "tanh", `None`, a serialized dict, or an `Activation`.
        keras2: use Keras 2's formula where it differs (only `hard_sigmoid`).

    Raises:
        ValueError: for an unknown name. TypeError: for anything else.
    """
    if isinstance(identifier, Activation):
        return identifier
    if identifier is None:
        return _REGISTRY["linear"]
    if isinstance(identifier, dict):  # {"class_name": "function", "config": "tanh", ...}
        identifier = identifier.get("config", identifier.get("class_name"))
    if isinstance(identifier, str):
        key = _ALIASES.get(identifier, identifier)
        if keras2 and key == "hard_sigmoid":
            return hard_sigmoid_keras2
        if key in _REGISTRY:
            return _REGISTRY[key]
        raise ValueError(
            f"Unknown activation {identifier!r}; expected one of {', '.join(names())} or None"
        )
    raise TypeError(
        f"activation must be a name (str), None or an lstmkit Activation, "
        f"got {type(identifier).__name__}: {identifier!r}"
    )


def serialize(activation: Activation) -> str:
    """The Keras name of an activation, as `get_config` writes it."""
    return activation.name


def deserialize(config, custom_objects=None) -> Activation:
    """An activation from its Keras name or serialized dict (as `get`)."""
    return get(config)


# -- softmax (added for Dense/Activation heads): not elementwise, so `grad` cannot give the
# vector-Jacobian product; layers use `softmax_vjp` (see lstmkit.layers.activation).
def _softmax(x, axis=-1):
    # keras/src/activations/activations.py softmax: exp(x - max) / sum(exp(x - max)).
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _softmax_grad(x, y):
    raise NotImplementedError(
        "softmax is not elementwise: use lstmkit.activations.softmax_vjp(y, d_y)"
    )


def softmax_vjp(y, d_y, axis=-1):
    """d_x for y = softmax(x) and an upstream gradient d_y: y * (d_y - sum(d_y * y))."""
    return y * (d_y - np.sum(d_y * y, axis=axis, keepdims=True))


softmax = Activation("softmax", _softmax, _softmax_grad)
_REGISTRY["softmax"] = softmax


def _log_softmax(x, axis=-1):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


log_softmax = Activation("log_softmax", _log_softmax, _softmax_grad)
_REGISTRY["log_softmax"] = log_softmax
