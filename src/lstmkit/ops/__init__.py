"""`lk.ops`: the NumPy-backed subset of `keras.ops` that recurrent models and their custom
layers use, differentiable through a tape.

Outside training the ops take and return NumPy arrays. While a custom layer's or
model's `call` trains, its inputs and weights are on a `Tape`: every op records
its vector-Jacobian product beside its forward, and backward replays them (see
`lstmkit.ops._tape`). Names, arguments and broadcasting are keras.ops's.

Example:
    >>> import numpy as np
    >>> from lstmkit import ops
    >>> x = np.arange(6, dtype="float32").reshape(2, 3)
    >>> ops.sum(ops.softmax(x), axis=-1).tolist()
    [1.0, 1.0]
"""

from ._creation import (
    arange,
    convert_to_numpy,
    convert_to_tensor,
    copy,
    eye,
    full,
    full_like,
    identity,
    ndim,
    ones,
    ones_like,
    shape,
    size,
    stop_gradient,
    zeros,
    zeros_like,
)
from ._linalg import dot, einsum, matmul
from ._math import (
    abs,
    absolute,
    add,
    cast,
    ceil,
    clip,
    cos,
    divide,
    equal,
    exp,
    expm1,
    floor,
    greater,
    greater_equal,
    isfinite,
    isinf,
    isnan,
    less,
    less_equal,
    log,
    log1p,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    maximum,
    minimum,
    multiply,
    negative,
    not_equal,
    power,
    reciprocal,
    round,
    sign,
    sin,
    sqrt,
    square,
    subtract,
    tanh,
    true_divide,
    where,
)
from ._nn import (
    elu,
    gelu,
    hard_sigmoid,
    leaky_relu,
    log_softmax,
    one_hot,
    relu,
    relu6,
    selu,
    sigmoid,
    silu,
    softmax,
    softplus,
    softsign,
    swish,
)
from ._reduce import (
    all,
    amax,
    amin,
    any,
    argmax,
    argmin,
    cumprod,
    cumsum,
    logsumexp,
    max,
    mean,
    min,
    prod,
    std,
    sum,
    var,
)
from ._shape import (
    broadcast_to,
    concatenate,
    expand_dims,
    flatten,
    flip,
    getitem,
    moveaxis,
    pad,
    ravel,
    repeat,
    reshape,
    slice,
    split,
    squeeze,
    stack,
    swapaxes,
    take,
    take_along_axis,
    tile,
    transpose,
    unstack,
)
from ._tape import Tape, Tensor

__all__ = [name for name in dir() if not name.startswith("_")]
