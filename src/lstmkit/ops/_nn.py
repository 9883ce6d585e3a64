"""Activations as ops: relu, relu6, sigmoid, softmax, log_softmax, softplus, softsign,
silu, elu, selu, leaky_relu, hard_sigmoid, gelu; and one_hot.

Formulas follow keras.ops (keras/src/ops/nn.py): `hard_sigmoid` is Keras 3's
`relu6(x + 3) / 6`, `gelu` is the tanh approximation unless `approximate=False`.

Example:
    >>> import numpy as np
    >>> from lstmkit import ops
    >>> ops.softmax(np.zeros((1, 4))).tolist()
    [[0.25, 0.25, 0.25, 0.25]]
"""

from __future__ import annotations

import math

import numpy as np

from ._math import _float
from ._tape import record, value_of


def _expit(a):
    """The logistic function as `(1 + tanh(a / 2)) / 2`: no overflow for large |a|."""
    return 0.5 * (1 + np.tanh(0.5 * a))


def relu(x):
    """`max(x, 0)`; the gradient at 0 is 0."""
    return record(lambda a: np.maximum(a, 0), (x,), lambda out, a: lambda g: (g * (a > 0),))


def relu6(x):
    """`min(max(x, 0), 6)`."""
    return record(lambda a: np.clip(a, 0, 6), (x,),
                  lambda out, a: lambda g: (g * ((a > 0) & (a < 6)),))


def sigmoid(x):
    """`1 / (1 + e ** -x)`."""
    return record(lambda a: _expit(_float(a)), (x,),
                  lambda out, a: lambda g: (g * out * (1 - out),))


def hard_sigmoid(x):
    """Keras 3's `relu6(x + 3) / 6`."""
    return record(lambda a: np.clip(a + 3, 0, 6) / 6, (x,),
                  lambda out, a: lambda g: (g * ((a > -3) & (a < 3)) / 6,))


def softplus(x):
    """`log(1 + e ** x)`, computed stably."""
    return record(lambda a: np.logaddexp(_float(a), 0), (x,),
                  lambda out, a: lambda g: (g * _expit(a),))


def softsign(x):
    """`x / (1 + |x|)`."""
    return record(lambda a: a / (1 + np.abs(a)), (x,),
                  lambda out, a: lambda g: (g / (1 + np.abs(a)) ** 2,))


def silu(x):
    """`x * sigmoid(x)` (swish)."""
    def vjp(out, a):
        s = _expit(a)
        return lambda g: (g * s * (1 + a * (1 - s)),)
    return record(lambda a: a * _expit(_float(a)), (x,), vjp)


swish = silu


def elu(x, alpha=1.0):
    """`x` for x > 0, else `alpha * (e ** x - 1)`."""
    return record(lambda a: np.where(a > 0, a, alpha * np.expm1(np.minimum(a, 0))), (x,),
                  lambda out, a: lambda g: (g * np.where(a > 0, 1, out + alpha),))


def selu(x):
    """Scaled ELU with Keras's constants."""
    scale, alpha = 1.0507009873554805, 1.6732632423543772
    return record(lambda a: scale * np.where(a > 0, a, alpha * np.expm1(np.minimum(a, 0))),
                  (x,), lambda out, a: lambda g: (
                      g * scale * np.where(a > 0, 1, alpha * np.exp(np.minimum(a, 0))),))


def leaky_relu(x, negative_slope=0.2):
    """`x` for x >= 0, else `negative_slope * x`."""
    return record(lambda a: np.where(a >= 0, a, negative_slope * a), (x,),
                  lambda out, a: lambda g: (g * np.where(a >= 0, 1, negative_slope),))


def gelu(x, approximate=True):
    """Gaussian error linear unit (the tanh approximation by default, as Keras)."""
    c = math.sqrt(2 / math.pi)  # Python floats keep float32 inputs float32

    def fn(a):
        a = _float(a)
        if approximate:
            return 0.5 * a * (1 + np.tanh(c * (a + 0.044715 * a ** 3)))
        from scipy import special  # only the exact gelu needs erf; `import lstmkit` stays light
        return 0.5 * a * (1 + special.erf(a / math.sqrt(2)))

    def vjp(out, a):
        if approximate:
            t = np.tanh(c * (a + 0.044715 * a ** 3))
            d = 0.5 * (1 + t) + 0.5 * a * (1 - t * t) * c * (1 + 3 * 0.044715 * a * a)
        else:
            from scipy import special
            d = 0.5 * (1 + special.erf(a / math.sqrt(2))) + a * np.exp(-a * a / 2) / math.sqrt(
                2 * math.pi)
        return lambda g: (g * d,)
    return record(fn, (x,), vjp)


def softmax(x, axis=-1):
    """`exp(x) / sum(exp(x))` along `axis`, computed stably."""
    def fn(a):
        a = _float(a)
        e = np.exp(a - np.max(a, axis=axis, keepdims=True))
        return e / np.sum(e, axis=axis, keepdims=True)

    return record(fn, (x,), lambda out, a: lambda g: (
        out * (g - np.sum(g * out, axis=axis, keepdims=True)),))


def log_softmax(x, axis=-1):
    """`x - logsumexp(x)` along `axis`."""
    def fn(a):
        a = _float(a)
        shifted = a - np.max(a, axis=axis, keepdims=True)
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))

    return record(fn, (x,), lambda out, a: lambda g: (
        g - np.exp(out) * np.sum(g, axis=axis, keepdims=True),))


def one_hot(x, num_classes, axis=-1, dtype=None):
    """Integer ids as one-hot vectors of `num_classes` along `axis` (no gradient)."""
    ids = np.asarray(value_of(x)).astype(np.int64)
    out = (ids[..., None] == np.arange(num_classes)).astype(dtype or "float32")
    return np.moveaxis(out, -1, axis)
