"""Keras 2's `CuDNNGRU` / `CuDNNLSTM` weights, converted to `GRU(reset_after=True)` / `LSTM`.

tf.compat.v1.keras.layers.CuDNNGRU and CuDNNLSTM (GPU-only layers of TF 1 and 2) store
kernel (D, nH) and recurrent_kernel (H, nH) per gate in cuDNN's layout and one bias of
2nH (input and recurrent halves). Keras reads them into the plain layers by the bias's
shape, as tf_keras's `hdf5_format._convert_rnn_weights` does: per gate, the input kernel
k (D, H) becomes `k.T.reshape(k.shape, order="F")` and the recurrent kernel its transpose;
the LSTM sums the two bias halves, the GRU keeps them as its (2, 3H) bias.

Example:
    >>> import numpy as np
    >>> k, r, b = np.zeros((3, 12)), np.zeros((4, 12)), np.arange(24.0)
    >>> [a.shape for a in from_cudnn("GRU", [k, r, b])]
    [(3, 12), (4, 12), (2, 12)]
"""

from __future__ import annotations

import numpy as np

_GATES = {"GRU": 3, "LSTM": 4}


def is_cudnn_layout(kind: str, shapes) -> bool:
    """Whether (kernel, recurrent_kernel, bias) shapes are a CuDNNGRU / CuDNNLSTM's."""
    if kind not in _GATES or len(shapes) != 3:
        return False
    units = shapes[1][0]
    return tuple(shapes[2]) == (2 * _GATES[kind] * units,)


def from_cudnn(kind: str, weights) -> list:
    """[kernel, recurrent_kernel, bias] of a `GRU(reset_after=True)` / `LSTM` from cuDNN's."""
    n = _GATES[kind]
    kernel, recurrent, bias = (np.asarray(w) for w in weights)
    kernel = np.hstack([k.T.reshape(k.shape, order="F") for k in np.hsplit(kernel, n)])
    recurrent = np.hstack([k.T for k in np.hsplit(recurrent, n)])
    bias = bias.reshape(2, -1) if kind == "GRU" else bias.reshape(2, -1).sum(axis=0)
    return [kernel, recurrent, bias]
