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

from .. import _config
from .. import reference as _ref
from . import _gemm
from ._backward import backward_loop
from ._blas import gemm, restore_threads, single_thread_if_small, single_threaded
from ._forward import forward_call

#: An inference call whose scratch buffers are all below this size lets the compiled call
#: allocate them: NumPy's own allocations pay only from 4 MiB, where NumPy asks for huge
#: pages (an 8 MB buffer from numba page-faults 2048 times).
OWN_SCRATCH_BYTES = 1 << 22


class KernelCall(NamedTuple):
    """One LSTM call as `kernels.lstm_forward` receives it (None where an array is absent).

    x (B, T, D); kernel (D, 4H); recurrent_kernel (H, 4H); bias (4H,); h0, c0 (B, H);
    mask (B, T) bool; dropout_mask (B, D) shared or (4, B, D) per gate;
    recurrent_dropout_mask (B, H) or (4, B, H); `train` keeps what backward needs.
    """

    x: np.ndarray
    kernel: np.ndarray
    recurrent_kernel: np.ndarray
    bias: np.ndarray | None = None
    h0: np.ndarray | None = None
    c0: np.ndarray | None = None
    mask: np.ndarray | None = None
    go_backwards: bool = False
    zero_output_for_mask: bool = False
    dropout_mask: np.ndarray | None = None
    recurrent_dropout_mask: np.ndarray | None = None
    return_sequences: bool = True
    train: bool = False

    @classmethod
    def of(cls, x, kernel, recurrent_kernel, bias=None, h0=None, c0=None, **options):
        """The call with keyword options (`mask=`, `train=`, ...)."""
        return cls(x, kernel, recurrent_kernel, bias, h0, c0, **options)

    def rows(self, b0: int, b1: int) -> KernelCall:
        """The same call for batch rows [b0, b1) (a shard)."""
        return self.take(slice(b0, b1))

    def take(self, rows, x=None) -> KernelCall:
        """The same call for the batch rows `rows` (a slice, or an index array: a copy);
        `x`: x[rows] when the caller has it already."""
        def cut(a, axis=0):
            if a is None:
                return None
            return a[rows] if axis == 0 or a.ndim == 2 else a[:, rows]
        return self._replace(x=self.x[rows] if x is None else x, h0=cut(self.h0),
                             c0=cut(self.c0),
                             mask=cut(self.mask), dropout_mask=cut(self.dropout_mask, 1),
                             recurrent_dropout_mask=cut(self.recurrent_dropout_mask, 1))


class Inputs(NamedTuple):
    """A `KernelCall` converted for the compiled `_forward.forward_call`, whose first
    parameters these fields are, in this order (`tests/test_kernels.py` checks it).

    Arrays are C-contiguous in the inputs' dtype and size 0 where the call has none
    (numba types each argument once; None would compile another specialization):
    bias (4H,) or (0,); h0, c0 (B, H) or (0, 0); mask (B, T) uint8 or (0, 0);
    dm (1 | 4, B, D) and rm (1 | 4, B, H) dropout masks, shared or per gate, or (0, 0, 0).
    `joint`: each step computes [x_t | h] @ [kernel; recurrent_kernel] as one packed
    product (large products; see `_gemm.joint_steps`).
    """

    x: np.ndarray
    kernel: np.ndarray
    R: np.ndarray
    bias: np.ndarray
    h0: np.ndarray
    c0: np.ndarray
    mask: np.ndarray
    dm: np.ndarray
    rm: np.ndarray
    go_backwards: bool
    zero_output: bool
    return_sequences: bool
    train: bool
    joint: bool


class Buffers(NamedTuple):
    """The scratch `forward_call` fills, after its `Inputs` (time-major, processing order).

    Wp ((D + H) * 4H,) packed joint weights, or size 0; X (T, B, D) inputs; Z (T, B, 4H)
    pre-activations, then activations when training ((1, B, 4H) for joint inference);
    S, C (T+1, B, H) states when training, else (2, B, H); mask_tm (T, B) uint8 or (0, B).
    All size 0 for a small inference call: `forward_call` then allocates its own.
    With a leading shard axis (n, ...) for `_parallel.forward_shards`.
    """

    Wp: np.ndarray
    X: np.ndarray
    Z: np.ndarray
    S: np.ndarray
    C: np.ndarray
    mask_tm: np.ndarray


class Outputs(NamedTuple):
    """What `forward_call` writes, its last parameters: out (B, T, H) (size 0 unless
    `return_sequences`), last, h, c (B, H): the last output and the final states."""

    out: np.ndarray
    last: np.ndarray
    h: np.ndarray
    c: np.ndarray


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


def empties(dtype):
    """Size-0 stand-ins for absent arrays (1-, 2- and 3-D of dtype, 2-D uint8), made once."""
    key = np.dtype(dtype)
    if key not in _EMPTY:
        _EMPTY[key] = (_empty(1, key), _empty(2, key), _empty(3, key), _empty(2, np.uint8))
    return _EMPTY[key]


_EMPTY: dict = {}


def convert(call: KernelCall, rows: int) -> Inputs:
    """The `Inputs` of `call`, for compiled calls of `rows` batch rows each (`joint`
    depends on the rows one compiled call runs)."""
    x = call.x
    dtype = x.dtype
    D, H = x.shape[2], call.recurrent_kernel.shape[0]
    dm, rm = call.dropout_mask, call.recurrent_dropout_mask
    e1, e2, e3, e2u8 = empties(dtype)
    per_gate = (dm is not None and dm.ndim == 3) or (rm is not None and rm.ndim == 3)
    joint = not per_gate and _gemm.joint_steps(rows, D, H, dtype)
    mask = call.mask
    if mask is not None:
        mask = np.ascontiguousarray(mask if mask.dtype == np.bool_ else mask != 0).view(np.uint8)
    # Contiguous weights: BLAS sums in an order that depends on the layout, so the same
    # weights must give the same bits whatever layout they arrive in.
    return Inputs(_contiguous(x, dtype, e3), _contiguous(call.kernel, dtype, e2),
                  _contiguous(call.recurrent_kernel, dtype, e2),
                  _contiguous(call.bias, dtype, e1), _contiguous(call.h0, dtype, e2),
                  _contiguous(call.c0, dtype, e2), e2u8 if mask is None else mask,
                  _gate_stacked(dm, dtype, e3), _gate_stacked(rm, dtype, e3),
                  bool(call.go_backwards), bool(call.zero_output_for_mask),
                  bool(call.return_sequences), bool(call.train), joint)


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


def make_buffers(n, T, B, D, H, train, joint, has_mask, dtype) -> Buffers:
    """The `Buffers` of one call of B rows; each with a leading axis of n when n > 0
    (n shards' own buffers in one array). From NumPy, which maps large buffers on huge
    pages: numba's allocator would page-fault on every 4 KB of them."""
    lead = (n,) if n else ()
    states = lead + (T + 1 if train else 2, B, H)
    return Buffers(np.empty(lead + ((D + H) * 4 * H if joint else 0,), dtype),
                   np.empty(lead + (T, B, D), dtype),
                   np.empty(lead + (T if train or not joint else 1, B, 4 * H), dtype),
                   np.empty(states, dtype), np.empty(states, dtype),
                   np.empty(lead + (T if has_mask else 0, B), np.uint8))


def kernel_cache(call: KernelCall, inputs: Inputs, buffers: Buffers) -> KernelCache:
    """The KernelCache of a training call once `forward_call` has filled `buffers`."""
    return KernelCache(buffers.X, buffers.Z, buffers.S, buffers.C, buffers.mask_tm,
                       inputs.kernel, inputs.R, call.bias, call.dropout_mask,
                       call.recurrent_dropout_mask, inputs.go_backwards, inputs.zero_output)


def prepare(call: KernelCall, scratch=None) -> tuple:
    """(Inputs, Buffers, KernelCache or None) for one compiled call of `call`'s rows
    (the whole batch, or one shard's rows: see `_shard`). Large buffers come from
    `scratch` (`make_buffers`'s signature; `make_buffers` itself by default)."""
    B, T, D = call.x.shape
    H = call.recurrent_kernel.shape[0]
    inputs = convert(call, B)
    largest = max(T * B * max(D, 4 * H), (D + H) * 4 * H if inputs.joint else 0)
    if call.train or largest * call.x.itemsize >= OWN_SCRATCH_BYTES:
        buffers = (scratch or make_buffers)(0, T, B, D, H, call.train, inputs.joint,
                                            call.mask is not None, call.x.dtype)
    else:  # the compiled call allocates its scratch itself
        e1, e2, e3, e2u8 = empties(call.x.dtype)
        buffers = Buffers(e1, e3, e3, e3, e3, e2u8)
    cache = kernel_cache(call, inputs, buffers) if call.train else None
    return inputs, buffers, cache


def blas_may_thread(rows: int, inputs: Inputs) -> bool:
    """Whether a forward call of `rows` batch rows may give BLAS a product that OpenBLAS
    splits over its threads. Products of whole vectors from PACKED_MACS up run packed
    (`_gemm`), so only per-gate dropout and column counts of no whole vectors reach BLAS
    at any size; the caller then limits BLAS to one thread for the call
    (`_blas.single_thread_if_small`)."""
    T, D, H = inputs.x.shape[1], inputs.x.shape[2], inputs.R.shape[0]
    per_gate = inputs.dm.shape[0] == 4 or inputs.rm.shape[0] == 4  # masks (4, B, n)
    if not per_gate and _gemm.whole_vectors(4 * H, inputs.x.dtype):
        return False
    return max(rows * H, T * rows * D) * 4 * H >= _gemm.PACKED_MACS


def outputs_for(B, T, H, dtype, return_sequences) -> Outputs:
    """The forward's `Outputs`, to be filled."""
    out = np.empty((B, T, H), dtype) if return_sequences else empties(dtype)[2]
    return Outputs(out, np.empty((B, H), dtype), np.empty((B, H), dtype),
                   np.empty((B, H), dtype))


def forward(call: KernelCall, outputs: Outputs | None = None, scratch=None) -> tuple:
    """Returns (outputs (B, T, H) or None, last (B, H), h (B, H), c (B, H), KernelCache|None),
    filled into `outputs` when given (`outputs_for`'s shapes); `scratch` as in `prepare`."""
    B, T, _ = call.x.shape
    H = call.recurrent_kernel.shape[0]
    if outputs is None:
        outputs = outputs_for(B, T, H, call.x.dtype, call.return_sequences)
    inputs, buffers, cache = prepare(call, scratch)
    if not blas_may_thread(B, inputs):
        forward_call(*inputs, *buffers, *outputs)
    else:
        previous = single_thread_if_small(B * H * 4 * H)
        try:
            forward_call(*inputs, *buffers, *outputs)
        finally:
            restore_threads(previous)
    out, last, h, c = outputs
    return (out if call.return_sequences else None), last, h, c, cache


def _packed_pays(macs, columns, dtype) -> bool:
    """Whether a product after the loop (`macs` multiply-adds, `columns` result columns
    on the packed side) runs on the packed GEMM: from PACKED_MACS up, where packing the
    weights once pays, unless the product is large enough for BLAS's threads
    (`LSTMKIT_PARALLEL_MACS`) and BLAS has several (outside batch shards, `_shard`).
    The measurements behind it are in benchmarks/README.md."""
    if macs < _gemm.PACKED_MACS or not _gemm.whole_vectors(columns, dtype):
        return False
    return macs < _config.kernel_parallel_macs() or single_threaded()


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
    (inputs) is the one packed and dZ is read in place; that path stops at the ISA's
    `gradient_macs`, above which BLAS is faster."""
    n, macs = inputs.shape[1], inputs.size * dZ2.shape[1]
    if macs >= _gemm.LIMITS.gradient_macs or not _packed_pays(macs, n, inputs.dtype):
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
