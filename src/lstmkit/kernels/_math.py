"""Sigmoid and tanh that vectorize inside numba loops, float32 and float64.

A scalar `math.exp` call in a loop stops LLVM from vectorizing it (there is no
vector math library by default), and the LSTM's fused elementwise pass runs five
of them per element. So the float32 versions compute `exp` by plain arithmetic:
Cephes `expf` (range reduction x = n ln2 + r, a degree-7 polynomial in r, then
2**n built in the exponent bits), about 1 ulp. From it

    sigmoid(x) = 1 / (1 + exp(-x))                       (a few ulps relative)
    tanh(x)    = sign(x) (1 - e) / (1 + e), e = exp(-2|x|)  for |x| >= 0.5
               = odd Taylor polynomial of degree 17          for |x| <  0.5

so both are accurate to ~2e-7 relative, well inside Keras parity (1e-5). The
float64 versions call `math.exp` / `math.tanh`: exactness first, float64 is not
the fast path.

`sigmoid(x)` and `tanh(x)` are generic (numba `overload`): they pick the version
for the argument's type at compile time.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

_f = np.float32
_LOG2E = _f(1.44269504088896341)
_LN2_HI = _f(0.693359375)
_LN2_LO = _f(-2.12194440e-4)
_EXP_MAX = _f(88.0)
_EXP_MIN = _f(-87.0)
_P0, _P1, _P2 = _f(1.9875691500e-4), _f(1.3981999507e-3), _f(8.3334519073e-3)
_P3, _P4, _P5 = _f(4.1665795894e-2), _f(1.6666665459e-1), _f(5.0000001201e-1)
_ONE, _TWO, _HALF, _ZERO = _f(1.0), _f(2.0), _f(0.5), _f(0.0)
# tanh(x) = x + x^3 T3 + ... + x^17 T17 (Taylor; the first dropped term is < 1e-9 for |x| < 0.5)
_T = [_f(c) for c in (-1 / 3, 2 / 15, -17 / 315, 62 / 2835, -1382 / 155925, 21844 / 6081075,
                      -929569 / 638512875, 6404582 / 10854718875)]
_T3, _T5, _T7, _T9, _T11, _T13, _T15, _T17 = _T


@intrinsic
def _int32_bits_as_float32(typingctx, value):
    """Reinterpret an int32's bits as a float32 (LLVM bitcast; vectorizes)."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


@njit(cache=True, error_model="numpy")
def exp32(x):
    """exp for float32 in plain arithmetic (Cephes expf), ~1 ulp; clamps to [-87, 88]."""
    x = max(x, _EXP_MIN)  # written as selects so that LLVM vectorizes
    x = min(x, _EXP_MAX)
    n = np.floor(x * _LOG2E + _HALF)
    r = x - n * _LN2_HI - n * _LN2_LO
    p = ((((_P0 * r + _P1) * r + _P2) * r + _P3) * r + _P4) * r + _P5
    y = p * r * r + r + _ONE
    scale = _int32_bits_as_float32((np.int32(n) + np.int32(127)) << np.int32(23))
    return y * scale


@njit(cache=True, error_model="numpy")
def sigmoid32(x):
    return _ONE / (_ONE + exp32(-x))


@njit(cache=True, error_model="numpy")
def tanh32(x):
    a = abs(x)
    e = exp32(-_TWO * a)
    big = (_ONE - e) / (_ONE + e)
    x2 = x * x
    p = _T15 + x2 * _T17
    p = _T13 + x2 * p
    p = _T11 + x2 * p
    p = _T9 + x2 * p
    p = _T7 + x2 * p
    p = _T5 + x2 * p
    p = _T3 + x2 * p
    small = x + x * x2 * p
    return small if a < _HALF else (big if x >= _ZERO else -big)


@njit(cache=True, error_model="numpy")
def sigmoid64(x):
    return 1.0 / (1.0 + math.exp(-x))


@njit(cache=True, error_model="numpy")
def tanh64(x):
    return math.tanh(x)


def sigmoid(x):
    """Generic sigmoid for numba code (float32 or float64)."""
    raise NotImplementedError("only callable from numba-compiled code")


def tanh(x):
    """Generic tanh for numba code (float32 or float64)."""
    raise NotImplementedError("only callable from numba-compiled code")


@overload(sigmoid)
def _sigmoid_ov(x):
    if x == types.float32:
        return lambda x: sigmoid32(x)
    return lambda x: sigmoid64(x)


@overload(tanh)
def _tanh_ov(x):
    if x == types.float32:
        return lambda x: tanh32(x)
    return lambda x: tanh64(x)


@njit(cache=True, error_model="numpy")
def _sigmoid_array32(x, out):
    for k in range(x.size):
        out[k] = sigmoid32(x[k])


@njit(cache=True, error_model="numpy")
def _tanh_array32(x, out):
    for k in range(x.size):
        out[k] = tanh32(x[k])


def apply(name: str, x: np.ndarray) -> np.ndarray:
    """Run the float32 "sigmoid" or "tanh" on a 1-D float32 array (for tests)."""
    x = np.ascontiguousarray(x, np.float32).ravel()
    out = np.empty_like(x)
    (_sigmoid_array32 if name == "sigmoid" else _tanh_array32)(x, out)
    return out
