"""The kernel path end to end: buffers, the GEMMs around the loops, the cache.

Forward: this module converts the arguments and makes the buffers (from NumPy; a
small inference call leaves them to the compiled call, where they cost less), and
one compiled call, `_forward.forward_call`, does the rest: x (B, T, D) is copied
once to time-major processing order X (T, B, D) (the copy also reverses for
`go_backwards` and applies a shared input dropout mask), ONE GEMM gives
Z = X @ kernel (T, B, 4H) for all steps (or, for large steps, each step computes
[x_t | h] @ [kernel; recurrent_kernel] at once; see `_gemm`), and
`_forward.forward_loop` runs the recurrence. Backward: `_backward.backward_loop`
fills dZ (T, B, 4H), then single GEMMs over all T*B rows give

    d_kernel = X^T dZ,  d_recurrent_kernel = S[:T]^T dZ,  d_bias = sum dZ,  dx = dZ kernel^T

(S[:T] are the states each step started from), on the packed GEMM where it pays
(`_packed_pays`). Dropout masks are constant over time, so they enter these GEMMs as
one elementwise product each.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import reference as _ref
from . import _gemm
from ._backward import backward_loop
from ._blas import PARALLEL_MACS, gemm, restore_threads, single_thread_if_small, single_threaded
from ._forward import forward_call

#: An inference call whose scratch buffers are all below this size lets the compiled call
#: allocate them: NumPy's own allocations pay only from 4 MiB, where NumPy asks for huge
#: pages (an 8 MB buffer from numba page-faults 2048 times).
OWN_SCRATCH_BYTES = 1 << 22


class KernelCache(NamedTuple):
    """What the kernel's backward needs; every array time-major, in processing order."""

    X: np.ndarray  # (T, B, D) inputs (times a shared dropout mask)
    A: np.ndarray  # (T, B, 4H) activations i, f, g, o per step
    S: np.ndarray  # (T+1, B, H) memory states; S[t] is the one step t starts from
    C: np.ndarray  # (T+1, B, H) carry states; C[0] = c0
    mask: np.ndarray  # (T, B) uint8, or size 0
    kernel: np.ndarray  # (D, 4H)
    recurrent_kernel: np.ndarray  # (H, 4H)
    bias: np.ndarray | None  # (4H,) or None
    dropout_mask: np.ndarray | None  # (B, D) or (4, B, D)
    recurrent_dropout_mask: np.ndarray | None  # (B, H) or (4, B, H)
    go_backwards: bool
    zero_output_for_mask: bool

    @property
    def inputs(self) -> dict:
        """The call's arguments, under the names `reference.Sequence.inputs` uses."""
        return {"kernel": self.kernel, "recurrent_kernel": self.recurrent_kernel,
                "bias": self.bias, "dropout_mask": self.dropout_mask,
                "recurrent_dropout_mask": self.recurrent_dropout_mask,
                "go_backwards": self.go_backwards,
                "zero_output_for_mask": self.zero_output_for_mask}


def _empty(ndim, dtype):
    return np.empty((0,) * ndim, dtype)


def _gate_blocks(w, H):
    """(rows, 4H) -> (4, rows, H) contiguous: one block per gate i, f, c, o."""
    return np.ascontiguousarray(w.reshape(w.shape[0], 4, H).transpose(1, 0, 2))


def _empties(dtype):
    """Size-0 stand-ins for absent arrays (1-, 2- and 3-D of dtype, 2-D uint8), made once."""
    key = np.dtype(dtype)
    if key not in _EMPTY:
        _EMPTY[key] = (_empty(1, key), _empty(2, key), _empty(3, key), _empty(2, np.uint8))
    return _EMPTY[key]


_EMPTY: dict = {}


def call_inputs(x, kernel, recurrent_kernel, bias, h0, c0, mask, go_backwards,
                zero_output_for_mask, dropout_mask, recurrent_dropout_mask, return_sequences,
                train, rows):
    """The first 14 arguments of `_forward.forward_call`, converted (contiguous, dtype,
    size-0 stand-ins for None, masks as uint8 and gate-stacked), for batches of `rows` rows
    (`joint` depends on the rows one call runs)."""
    dtype = x.dtype
    D, H = x.shape[2], recurrent_kernel.shape[0]
    dm, rm = dropout_mask, recurrent_dropout_mask
    e1, e2, e3, e2u8 = _empties(dtype)
    per_gate = (dm is not None and dm.ndim == 3) or (rm is not None and rm.ndim == 3)
    # Large products: one packed [x_t | h] @ [kernel; recurrent_kernel] per step
    joint = not per_gate and _gemm.joint_steps(rows, D, H, dtype)
    if mask is not None:
        mask = np.ascontiguousarray(mask if mask.dtype == np.bool_ else mask != 0).view(np.uint8)
    # Contiguous weights: BLAS sums in an order that depends on the layout, so the same
    # weights must give the same bits whatever layout they arrive in.
    return (_contiguous(x, dtype, e3), _contiguous(kernel, dtype, e2),
            _contiguous(recurrent_kernel, dtype, e2), _contiguous(bias, dtype, e1),
            _contiguous(h0, dtype, e2), _contiguous(c0, dtype, e2),
            e2u8 if mask is None else mask, _gate_stacked(dm, dtype, e3),
            _gate_stacked(rm, dtype, e3), bool(go_backwards), bool(zero_output_for_mask),
            bool(return_sequences), bool(train), joint)


def _contiguous(a, dtype, empty):
    """a as a C-contiguous array of dtype (itself when it is one); `empty` for None."""
    if a is None:
        return empty
    if a.dtype == dtype and a.flags.c_contiguous:
        return a
    return np.ascontiguousarray(a, dtype)


def _gate_stacked(m, dtype, empty):
    """A dropout mask as (1 | 4, B, n): shared masks get a leading axis of 1."""
    return empty if m is None else _contiguous(m if m.ndim == 3 else m[None], dtype, empty)


def make_buffers(n, T, B, D, H, train, joint, has_mask, dtype):
    """The buffers `forward_call` fills after its inputs, (Wp, X, Z, S, C, mask_tm), for
    one call of B rows; each with a leading axis of n when n > 0 (n shards' own buffers
    in one array). From NumPy: huge pages (see `forward_call`)."""
    lead = (n,) if n else ()
    states = lead + (T + 1 if train else 2, B, H)
    return (np.empty(lead + ((D + H) * 4 * H if joint else 0,), dtype),
            np.empty(lead + (T, B, D), dtype),
            np.empty(lead + (T if train or not joint else 1, B, 4 * H), dtype),
            np.empty(states, dtype), np.empty(states, dtype),
            np.empty(lead + (T if has_mask else 0, B), np.uint8))


def kernel_cache(inputs, X, Z, S, C, mask_tm, bias, dm, rm) -> KernelCache:
    """The KernelCache of a call with `call_inputs` `inputs` and these buffers."""
    return KernelCache(X, Z, S, C, mask_tm, inputs[1], inputs[2], bias, dm, rm, inputs[9],
                       inputs[10])


def forward_args(x, kernel, recurrent_kernel, bias, h0, c0, mask, go_backwards,
                 zero_output_for_mask, dropout_mask, recurrent_dropout_mask, return_sequences,
                 train, out, last, h, c):
    """The arguments of `_forward.forward_call` for x (B, T, D), its buffers made, and
    the KernelCache (None unless `train`) that the call will fill.

    out (B, T, H) (or size 0), last, h, c (B, H) are the caller's: whole arrays, or one
    shard's rows of them (see `_shard`).
    """
    B, T, D = x.shape
    H = recurrent_kernel.shape[0]
    inputs = call_inputs(x, kernel, recurrent_kernel, bias, h0, c0, mask, go_backwards,
                         zero_output_for_mask, dropout_mask, recurrent_dropout_mask,
                         return_sequences, train, B)
    joint = inputs[13]
    largest = max(T * B * max(D, 4 * H), (D + H) * 4 * H if joint else 0) * x.itemsize
    if train or largest >= OWN_SCRATCH_BYTES:
        Wp, X, Z, S, C, mask_tm = make_buffers(0, T, B, D, H, train, joint, mask is not None,
                                               x.dtype)
    else:  # the compiled call allocates its scratch itself
        e1, e2, e3, e2u8 = _empties(x.dtype)
        Wp, X, Z, S, C, mask_tm = e1, e3, e3, e3, e3, e2u8
    cache = kernel_cache(inputs, X, Z, S, C, mask_tm, bias, dropout_mask,
                         recurrent_dropout_mask) if train else None
    return inputs + (Wp, X, Z, S, C, out, last, h, c, mask_tm), cache


def blas_may_thread(rows, inputs) -> bool:
    """Whether a forward call of `rows` batch rows with `call_inputs` `inputs` may give
    BLAS a product that OpenBLAS splits over its threads (measured: from 2**21
    multiply-adds; below PACKED_MACS, one thread). Products of whole vectors from
    PACKED_MACS up run packed (`_gemm`), so only per-gate dropout and column counts of no
    whole vectors reach BLAS at any size; the caller then makes BLAS single-threaded for
    the call (`single_thread_if_small`)."""
    x, R, dm, rm = inputs[0], inputs[2], inputs[7], inputs[8]
    T, D, H = x.shape[1], x.shape[2], R.shape[0]
    per_gate = dm.shape[0] == 4 or rm.shape[0] == 4  # dropout masks (4, B, n)
    if not per_gate and _gemm.whole_vectors(4 * H, x.dtype):
        return False
    return max(rows * H, T * rows * D) * 4 * H >= _gemm.PACKED_MACS


def outputs_for(B, T, H, dtype, return_sequences):
    """The forward's outputs, to be filled: out (B, T, H) (size 0 unless
    `return_sequences`), last, h, c (B, H)."""
    out = np.empty((B, T, H), dtype) if return_sequences else _empties(dtype)[2]
    return out, np.empty((B, H), dtype), np.empty((B, H), dtype), np.empty((B, H), dtype)


def forward(x, kernel, recurrent_kernel, bias, h0, c0, mask, go_backwards, zero_output_for_mask,
            dropout_mask, recurrent_dropout_mask, return_sequences, train):
    """Returns (outputs (B, T, H) or None, last (B, H), h (B, H), c (B, H), KernelCache|None)."""
    B, T, _ = x.shape
    H = recurrent_kernel.shape[0]
    out, last, h, c = outputs_for(B, T, H, x.dtype, return_sequences)
    args, cache = forward_args(x, kernel, recurrent_kernel, bias, h0, c0, mask, go_backwards,
                               zero_output_for_mask, dropout_mask, recurrent_dropout_mask,
                               return_sequences, train, out, last, h, c)
    if not blas_may_thread(B, args):
        forward_call(*args)
    else:
        previous = single_thread_if_small(B * H * 4 * H)
        try:
            forward_call(*args)
        finally:
            restore_threads(previous)
    return (out if return_sequences else None), last, h, c, cache


def _packed_pays(macs, columns, dtype) -> bool:
    """Whether a product after the loop (`macs` multiply-adds, `columns` result columns
    on the packed side) runs on the packed GEMM: from PACKED_MACS up (one core,
    (800, 64)^T @ (800, 256): 252 us against BLAS's 330 us; 124 against 198 with 32
    columns), unless it is large enough for BLAS's threads (PARALLEL_MACS) and BLAS has
    several (outside batch shards, `_shard`; on one thread (12800, 512)^T @ (12800, 2048)
    takes 247 ms packed against BLAS's 278)."""
    if macs < _gemm.PACKED_MACS or not _gemm.whole_vectors(columns, dtype):
        return False
    return macs < PARALLEL_MACS or single_threaded()


def _input_grad(dZ2, K):
    """dX = dZ @ kernel.T, (T*B, 4H) @ (4H, D)."""
    if not _packed_pays(dZ2.size * K.shape[0], K.shape[0], dZ2.dtype):
        return gemm(dZ2, K.T)
    dX = np.empty((dZ2.shape[0], K.shape[0]), dZ2.dtype)
    _gemm.product(dZ2, np.ascontiguousarray(K.T), dX)
    return dX


def _weight_grad(inputs, dZ2):
    """inputs^T @ dZ, (T*B, n)^T @ (T*B, 4H) -> (n, 4H): a weight gradient over all steps.

    On the packed path it is computed as (dZ^T @ inputs)^T, so that the smaller matrix
    (inputs) is the one packed and dZ is read in place."""
    n = inputs.shape[1]
    if not _packed_pays(inputs.size * dZ2.shape[1], n, inputs.dtype):
        return gemm(inputs.T, dZ2)
    inputs_packed = np.empty(inputs.size, inputs.dtype)
    _gemm.pack(inputs, inputs_packed)
    grad_t = np.empty((dZ2.shape[1], n), inputs.dtype)  # (4H, n)
    _gemm.matmul_tn(dZ2, inputs_packed, grad_t)
    return np.ascontiguousarray(grad_t.T)


def backward(cache: KernelCache, d_outputs=None, d_h=None, d_c=None,
             input_grad=True) -> _ref.Gradients:
    """BPTT for a training `forward`; same meaning and result as the reference's.

    `input_grad=False` skips dx (one GEMM of the same size as d_kernel's); `x` is then None.
    """
    X, A, S, C = cache.X, cache.A, cache.S, cache.C
    K, R = cache.kernel, cache.recurrent_kernel
    dm, rm = cache.dropout_mask, cache.recurrent_dropout_mask
    dtype = A.dtype
    T, B, D = X.shape
    H = R.shape[0]
    dh = np.zeros((B, H), dtype) if d_h is None else np.array(d_h, dtype, copy=True, order="C")
    dc = np.zeros((B, H), dtype) if d_c is None else np.array(d_c, dtype, copy=True, order="C")
    d_out = _empty(3, dtype) if d_outputs is None else np.ascontiguousarray(d_outputs, dtype)
    rmode, rdrop, RgT = 0, _empty(3, dtype), _empty(3, dtype)
    if rm is not None:
        rmode = 2 if rm.ndim == 3 else 1
        rdrop = np.ascontiguousarray(rm if rm.ndim == 3 else rm[None], dtype)
        if rmode == 2:
            RgT = np.ascontiguousarray(_gate_blocks(R, H).transpose(0, 2, 1))
    dZ = np.empty_like(A)  # (T, B, 4H)
    previous = single_thread_if_small(B * H * 4 * H)
    try:
        backward_loop(A, C, np.ascontiguousarray(R.T), RgT, cache.mask, rdrop, rmode, d_out,
                      dh, dc, dZ, cache.zero_output_for_mask)
    finally:
        restore_threads(previous)
    dZ2 = dZ.reshape(T * B, 4 * H)
    Hp = S[:T]  # (T, B, H) the state each step started from
    if rmode == 0:
        dR = _weight_grad(Hp.reshape(T * B, H), dZ2)
    elif rmode == 1:
        dR = gemm((Hp * rm).reshape(T * B, H).T, dZ2)
    else:
        dR = np.empty_like(R)
        for k in range(4):
            dR[:, k * H:(k + 1) * H] = (Hp * rm[k]).reshape(T * B, H).T @ dZ2[:, k * H:(k + 1) * H]
    if dm is None or dm.ndim == 2:
        dK = _weight_grad(X.reshape(T * B, D), dZ2)  # (D, 4H)
        dX = _input_grad(dZ2, K).reshape(T, B, D) if input_grad else None
        if dm is not None and input_grad:
            dX *= dm
    else:
        dK = np.empty_like(K)
        dX = np.zeros((T, B, D), dtype)
        for k in range(4):
            cols = slice(k * H, (k + 1) * H)
            dK[:, cols] = (X * dm[k]).reshape(T * B, D).T @ dZ2[:, cols]
            if input_grad:
                dX += (dZ2[:, cols] @ K[:, cols].T).reshape(T, B, D) * dm[k]
    d_bias = None if cache.bias is None else dZ2.sum(axis=0)
    if not input_grad:
        return _ref.Gradients(None, dK, dR, d_bias, dh, dc)
    dX = dX.transpose(1, 0, 2)  # (B, T, D), processing order
    dx = np.ascontiguousarray(dX[:, ::-1] if cache.go_backwards else dX)
    return _ref.Gradients(dx, dK, dR, d_bias, dh, dc)
