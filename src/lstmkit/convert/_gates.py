"""Gate orders and weight layouts of Keras, PyTorch and ONNX, with named conversions.

The LSTM's four gate blocks are stored in a different order by each ecosystem
(`/work/shared/reference/peers.md` section 8):

| who     | weights                                          | gate order  | bias              |
| ------- | ------------------------------------------------ | ----------- | ----------------- |
| Keras   | kernel (D, 4H), recurrent_kernel (H, 4H), blocks | i, f, c, o  | bias (4H,)        |
|         | along the last axis                              |             |                   |
| PyTorch | weight_ih (4H, D), weight_hh (4H, H), row blocks | i, f, g, o  | bias_ih + bias_hh |
| ONNX    | W (dirs, 4H, D), R (dirs, 4H, H), row blocks     | i, o, f, c  | B (dirs, 8H) =    |
|         |                                                  |             | [Wb, Rb]          |

Keras's "c" and PyTorch's "g" are the same gate (the candidate). Keras -> PyTorch
is a transpose; Keras -> ONNX is a transpose and the reorder i,f,c,o -> i,o,f,c.
Keras's one bias goes into PyTorch's `bias_ih` (with `bias_hh` zeros) and into
ONNX's `Wb` (with `Rb` zeros; keras-onnx once got this wrong, onnx/keras-onnx#98).
PyTorch -> Keras sums the two biases, which can differ by one ulp from PyTorch's
own addition order.

Example:
    >>> import numpy as np
    >>> from lstmkit.convert import _gates
    >>> k = np.arange(8.0).reshape(1, 8)  # D=1, H=2: columns i0 i1 f0 f1 c0 c1 o0 o1
    >>> _gates.reorder_gates(k, "ifco", "iofc", axis=-1)
    array([[0., 1., 6., 7., 2., 3., 4., 5.]])
"""

from __future__ import annotations

import numpy as np

KERAS = "ifco"
TORCH = "ifgo"
ONNX = "iofc"


def _canonical(order: str) -> str:
    order = order.replace("g", "c")  # PyTorch's g is Keras's c, the candidate
    if sorted(order) != sorted("ifco"):
        raise ValueError(f"A gate order names each of i, f, c (or g), o once; got {order!r}")
    return order


def reorder_gates(array, src: str, dst: str, axis: int = -1) -> np.ndarray:
    """Reorder the four gate blocks of `array` along `axis` from order `src` to `dst`.

    Args:
        array: an array whose `axis` has length 4H, made of four blocks of H.
        src, dst: gate orders such as "ifco" (Keras), "ifgo" (PyTorch), "iofc" (ONNX).
        axis: the gate axis.

    Returns:
        A new array of the same shape with the blocks in `dst` order.
    """
    array = np.asarray(array)
    src, dst = _canonical(src), _canonical(dst)
    n = array.shape[axis]
    if n % 4:
        raise ValueError(f"The gate axis must have length 4 * units, got {n} (shape {array.shape})")
    blocks = np.split(array, 4, axis=axis)
    return np.concatenate([blocks[src.index(g)] for g in dst], axis=axis)


def keras_to_torch(kernel, recurrent_kernel, bias=None):
    """Keras (kernel (D, 4H), recurrent_kernel (H, 4H), bias (4H,) or None) -> PyTorch.

    Returns:
        `(weight_ih (4H, D), weight_hh (4H, H), bias_ih (4H,) or None, bias_hh or None)`;
        the Keras bias goes to `bias_ih`, `bias_hh` is zeros.
    """
    kernel, recurrent_kernel = np.asarray(kernel), np.asarray(recurrent_kernel)
    _check_keras(kernel, recurrent_kernel, bias)
    weight_ih = np.ascontiguousarray(kernel.T)  # (4H, D), i,f,c,o == i,f,g,o
    weight_hh = np.ascontiguousarray(recurrent_kernel.T)  # (4H, H)
    if bias is None:
        return weight_ih, weight_hh, None, None
    bias = np.asarray(bias)
    return weight_ih, weight_hh, bias.copy(), np.zeros_like(bias)


def torch_to_keras(weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """PyTorch (weight_ih (4H, D), weight_hh (4H, H), bias_ih, bias_hh) -> Keras.

    Returns:
        `(kernel (D, 4H), recurrent_kernel (H, 4H), bias (4H,) or None)`, bias = bias_ih + bias_hh.
    """
    weight_ih, weight_hh = np.asarray(weight_ih), np.asarray(weight_hh)
    if weight_ih.ndim != 2 or weight_hh.ndim != 2 or weight_hh.shape[0] != 4 * weight_hh.shape[1]:
        raise ValueError(
            f"Expected weight_ih (4H, D) and weight_hh (4H, H), got {weight_ih.shape} and "
            f"{weight_hh.shape}"
        )
    if weight_ih.shape[0] != weight_hh.shape[0]:
        raise ValueError(
            f"weight_ih {weight_ih.shape} and weight_hh {weight_hh.shape} disagree on 4H")
    kernel = np.ascontiguousarray(weight_ih.T)
    recurrent_kernel = np.ascontiguousarray(weight_hh.T)
    if bias_ih is None and bias_hh is None:
        return kernel, recurrent_kernel, None
    bias = sum(np.asarray(b) for b in (bias_ih, bias_hh) if b is not None)
    return kernel, recurrent_kernel, bias


def keras_to_onnx(kernel, recurrent_kernel, bias=None):
    """Keras weights -> one direction of ONNX's `LSTM` inputs.

    Returns:
        `(W (4H, D), R (4H, H), B (8H,))` in gate order i, o, f, c; B = [Keras bias, zeros].
    """
    kernel, recurrent_kernel = np.asarray(kernel), np.asarray(recurrent_kernel)
    _check_keras(kernel, recurrent_kernel, bias)
    W = reorder_gates(kernel, KERAS, ONNX, axis=-1).T  # (4H, D)
    R = reorder_gates(recurrent_kernel, KERAS, ONNX, axis=-1).T  # (4H, H)
    H4 = recurrent_kernel.shape[1]
    wb = np.zeros(H4, kernel.dtype) if bias is None else reorder_gates(bias, KERAS, ONNX)
    B = np.concatenate([wb, np.zeros(H4, kernel.dtype)])  # (8H,) = [Wb, Rb]
    return np.ascontiguousarray(W), np.ascontiguousarray(R), B


def onnx_to_keras(W, R, B=None):
    """One direction of ONNX's `LSTM` (W (4H, D), R (4H, H), B (8H,)) -> Keras weights."""
    W, R = np.asarray(W), np.asarray(R)
    kernel = reorder_gates(W.T, ONNX, KERAS, axis=-1)
    recurrent_kernel = reorder_gates(R.T, ONNX, KERAS, axis=-1)
    if B is None:
        return kernel, recurrent_kernel, None
    wb, rb = np.split(np.asarray(B), 2)
    return kernel, recurrent_kernel, reorder_gates(wb + rb, ONNX, KERAS)


def _check_keras(kernel, recurrent_kernel, bias):
    if kernel.ndim != 2 or recurrent_kernel.ndim != 2:
        raise ValueError(
            f"Expected kernel (D, 4H) and recurrent_kernel (H, 4H), got {kernel.shape} and "
            f"{recurrent_kernel.shape}"
        )
    H = recurrent_kernel.shape[0]
    if recurrent_kernel.shape[1] != 4 * H or kernel.shape[1] != 4 * H:
        raise ValueError(
            f"Expected kernel (D, 4H) and recurrent_kernel (H, 4H), got {kernel.shape} and "
            f"{recurrent_kernel.shape}"
        )
    if bias is not None and np.shape(bias) != (4 * H,):
        raise ValueError(f"Expected bias (4H,) = ({4 * H},), got {np.shape(bias)}")
