"""A GEMM for the per-step products, with the right-hand matrix packed once per call.

Every step of the recurrence multiplies a small left matrix (h, (B, H)) by the same
right matrix (the recurrent kernel, (H, 4H)). A BLAS call packs that right matrix
anew on every call (and for small B the packing is a large part of the work), so here
it is packed once, before the loop, into column panels, and each step runs only the
register blocks over the packed panels (the scheme of onnxruntime's `MlasGemmPackB`
and of oneDNN's packed RNN weights).

The register block (`_microkernel.Block`: lanes per vector, mr rows, nv vectors) comes
from the ISA numba compiles for (`_isa.isa()`), so the layout depends on it too.

Packed layout of w (K, N), with L lanes of w's dtype and W = nv * L: full column panels
of W columns, then one tail panel of the r = (N mod W) / L vectors left (none when W
divides N); each panel stores its K rows one after another, so a block reads it front
to back:

    full panel p:  packed[p*K*W + k*W + j] = w[k, p*W + j]            (0 <= j < W)
    tail panel:    packed[F*K*W + k*r*L + j] = w[k, F*W + j]           (0 <= j < r*L)

where F = N // W is the number of full panels. N must be a multiple of L (`supported`).

Whether a product runs packed or by BLAS (`packed_for`) is decided per ISA by the
`Thresholds` in `THRESHOLDS`, measured with `benchmarks/bench_gemm.py` (numbers in
`benchmarks/README.md`); an ISA not measured uses BLAS only.

Adding an ISA: `_isa._probe` names it and gives its register file, `block_for` derives
its block from that; add the block to `BLOCKS` in `tests/test_kernel_gemm.py`, and its
thresholds, from `bench_gemm.py --crossover` on that CPU, to `THRESHOLDS`.

Example:
    >>> import numpy as np
    >>> w = np.arange(3 * 64, dtype=np.float32).reshape(3, 64)  # (K, N)
    >>> packed = np.empty(w.size, np.float32)
    >>> pack(w, packed)
    >>> a, c = np.ones((2, 3), np.float32), np.empty((2, 64), np.float32)  # (M, K), (M, N)
    >>> matmul(a, packed, c)
    >>> bool(np.array_equal(c, a @ w))
    True
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from ._isa import isa
from ._microkernel import block_for, copy_vector, kernel, shape

#: The ISA numba compiles for, and the register block chosen for it.
ISA = isa()
BLOCK = block_for(ISA)
#: float32 lanes of one vector register (float64: half).
LANES32 = BLOCK.lanes32
#: Rows of `a` per cache block: the kernel runs every panel over MC rows before the next MC.
MC = 96
#: Depth per pass of `matmul_tn` (depth T*B): a panel's KC rows stay in L2.
KC = 512
#: Bytes of a cache line: the kernels' buffers start on one (see `aligned_empty`).
LINE = 64


class Thresholds(NamedTuple):
    """When a product runs packed rather than by BLAS (see `packed_for`).

    packed_macs: a product of at least this many multiply-adds, even once (pack included).
    step_macs, steps: a product of M > 1 rows repeated at least `steps` times (the pack
        paid back over the steps) from this many multiply-adds.
    one_row_steps: a one-row product repeated at least this many times (BLAS has a
        matrix-vector product of its own for one row, so it is a case apart).
    gradient_macs: a weight gradient (`matmul_tn`, depth T*B) runs packed below this
        many multiply-adds only: above, BLAS's kernel for large products, which packs
        both operands, is faster (`bench_gemm.py --gradients`).
    """

    packed_macs: int
    step_macs: int
    steps: int
    one_row_steps: int
    gradient_macs: int


_NEVER = 1 << 62
#: Per ISA name, measured with `benchmarks/bench_gemm.py --crossover` and `--gradients`
#: (which print the values; numbers and machines in `benchmarks/README.md`). An ISA not
#: measured here (NEON, SSE, generic) runs BLAS only: its packed GEMM is tested, not timed.
THRESHOLDS = {
    "avx512": Thresholds(1 << 20, 1 << 17, 32, 32, 1 << 28),
    "avx2": Thresholds(1 << 22, 1 << 14, 2, _NEVER, 1 << 25),
}
LIMITS = THRESHOLDS.get(ISA.name, Thresholds(_NEVER, _NEVER, _NEVER, _NEVER, 0))
#: Products of at least PACKED_MACS multiply-adds run packed (also read by `_run`).
PACKED_MACS = LIMITS.packed_macs
#: One-row products repeated at least this many times run packed.
ONE_ROW_STEPS = LIMITS.one_row_steps


@njit(cache=True, nogil=True)
def aligned_empty(n, like):
    """An empty (n,) array of like's dtype whose data starts on a cache line.

    A vector load that straddles two cache lines reads both, and NumPy's and numba's
    allocators may put data 16 bytes off a line. Reshape the result for more axes.
    """
    per_line = LINE // like.itemsize
    buf = np.empty(n + per_line, like.dtype)
    skip = ((LINE - buf.ctypes.data % LINE) % LINE) // like.itemsize
    return buf[skip:skip + n]


@njit(cache=True, nogil=True)
def supported_with(blk, a, N):
    """Whether the packed GEMM of block `blk` handles N columns of a's dtype."""
    lanes, _, _ = shape(blk, a)
    return N % lanes == 0


@njit(cache=True, nogil=True)
def pack_rows_with(blk, w, packed, K, row0):
    """Pack w (k, N) as rows row0 .. row0+k of a (K, N) matrix packed into `packed`
    (K*N,) for block `blk` (layout in the module docstring)."""
    w = np.ascontiguousarray(w)  # (no copy when it is)
    k_rows, N = w.shape
    lanes, _, nv = shape(blk, packed)
    width = nv * lanes
    full = N // width
    for p in range(full):
        base = p * K * width + row0 * width
        for k in range(k_rows):
            for v in range(nv):
                copy_vector(blk, w, k * N + p * width + v * lanes, packed,
                            base + k * width + v * lanes)
    tail = N - full * width  # columns of the tail panel
    base = full * K * width + row0 * tail
    for k in range(k_rows):
        for v in range(tail // lanes):
            copy_vector(blk, w, k * N + full * width + v * lanes, packed,
                        base + k * tail + v * lanes)


@njit(cache=True, nogil=True)
def _any_block(blk, rows, vectors, a, a_at, lda, ksa, packed, po, c, c_at, ldc, kc, acc):
    """`kernel` for shapes known at run time only: compiled once per block and dtype, not
    into each caller (its switch holds mr * nv register blocks)."""
    kernel(blk, rows, vectors, a, a_at, lda, ksa, packed, po, c, c_at, ldc, kc, acc)


@njit(cache=True, nogil=True, inline="always")
def _blocked(blk, a, ao, lda, ksa, M, K, packed, c, ldc, N, accumulate, kc_max, reverse):
    """c[:M, :N] (+)= A @ w: A's element (r, k) at a[ao + r*lda + k*ksa] (flat), w (K, N)
    packed. Depth in chunks of kc_max, rows in chunks of MC, each row chunk in blocks
    of nearly equal size (64 rows with mr = 6: 9 x 6 + 2 x 5, not 10 x 6 + 4: a block of
    few rows does few multiply-adds per load). `reverse` runs the panels last to first:
    the same sums in the same order, but a product that follows one run the other way
    starts with the panels still in L1 (see `matmul`)."""
    lanes, mr_max, nv = shape(blk, packed)
    width = nv * lanes
    full = N // width
    tail = (N - full * width) // lanes  # vectors of the tail panel
    panels = full + (1 if tail > 0 else 0)
    for k0 in range(0, max(K, 1), kc_max):
        kc = min(kc_max, K - k0)
        acc = accumulate or k0 > 0
        for i0 in range(0, M, MC):
            m = min(MC, M - i0)
            blocks = (m + mr_max - 1) // mr_max
            rows, extra = m // blocks, m % blocks
            for n in range(panels):
                p = panels - 1 - n if reverse else n
                if p < full:  # where the panel's rows k0.. start in `packed`, its first column
                    po, col, vectors = p * K * width + k0 * width, p * width, nv
                else:
                    po, col, vectors = full * K * width + k0 * tail * lanes, full * width, tail
                i = i0
                for b in range(blocks):
                    mr = rows + 1 if b < extra else rows
                    a_at, c_at = ao + i * lda + k0 * ksa, i * ldc + col
                    if m == 1 and p < full:  # constant shape: the kernel's switch folds away
                        kernel(blk, 1, nv, a, a_at, lda, ksa, packed, po, c, c_at, ldc, kc, acc)
                    else:
                        _any_block(blk, mr, vectors, a, a_at, lda, ksa, packed, po, c, c_at, ldc,
                                   kc, acc)
                    i += mr


@njit(cache=True, nogil=True)
def matmul_with(blk, a, packed, c, reverse=False):
    """`matmul` with block `blk` (w packed by `pack_rows_with` for the same block)."""
    M, K = a.shape
    # whole depth per pass (the steps' depths, D + H, are small)
    _blocked(blk, a, 0, a.strides[0] // a.itemsize, 1, M, K, packed, c,
             c.strides[0] // c.itemsize, c.shape[1], False, max(K, 1), reverse)


@njit(cache=True, nogil=True)
def matmul_tn_with(blk, a, packed, c):
    """`matmul_tn` with block `blk`."""
    K, M = a.shape
    _blocked(blk, a, 0, 1, a.strides[0] // a.itemsize, M, K, packed, c,
             c.strides[0] // c.itemsize, c.shape[1], False, KC, False)


@njit(cache=True, nogil=True)
def supported(a, N):
    """Whether the packed GEMM handles N columns of a's dtype (N a multiple of the lanes)."""
    return supported_with(BLOCK, a, N)


@njit(cache=True, nogil=True)
def pack(w, packed):
    """Pack w (K, N) into `packed` (K*N,) (layout in the module docstring)."""
    pack_rows_with(BLOCK, w, packed, w.shape[0], 0)


@njit(cache=True, nogil=True)
def pack_rows(w, packed, K, row0):
    """Pack w (k, N) as rows row0 .. row0+k of a (K, N) matrix packed into
    `packed` (K*N,): so [kernel; recurrent_kernel] packs without being stacked first."""
    pack_rows_with(BLOCK, w, packed, K, row0)


@njit(cache=True, nogil=True)
def matmul(a, packed, c, reverse=False):
    """c = a @ w, where `packed` is w (K, N) packed by `pack`.

    a (M, K) and c (M, N) need unit stride along their last axis (any row stride);
    N must be `supported`. `reverse=True` computes the same bits with the panels in
    reverse order: in a loop of products that alternates it, each product starts on
    the panels the previous one read last, still in L1 when the packed matrix is
    larger than L1.
    """
    matmul_with(BLOCK, a, packed, c, reverse)


@njit(cache=True, nogil=True)
def matmul_at(stack, i, packed, c, reverse=False):
    """c = stack[i] @ w for a C-contiguous stack (n, M, K), without making the view
    stack[i] (a view costs reference counting, per step of a loop); as `matmul`."""
    _, M, K = stack.shape
    _blocked(BLOCK, stack, i * M * K, K, 1, M, K, packed, c, c.strides[0] // c.itemsize,
             c.shape[1], False, max(K, 1), reverse)


@njit(cache=True, nogil=True)
def matmul_tn(a, packed, c):
    """c = a.T @ w, where `packed` is w (K, N) packed by `pack`: a (K, M) row-major
    with unit stride along its rows (the weight gradients' X^T dZ without a transpose)."""
    matmul_tn_with(BLOCK, a, packed, c)


@njit(cache=True, nogil=True)
def pays(M, K, N, steps=1):
    """Whether `steps` products (M, K) @ (K, N) with one right matrix run packed rather
    than by BLAS, by this ISA's `THRESHOLDS` (N must also be `supported`)."""
    macs = M * K * N
    return (macs >= LIMITS.packed_macs
            or (M > 1 and steps >= LIMITS.steps and macs >= LIMITS.step_macs)
            or (M == 1 and steps >= LIMITS.one_row_steps))


@njit(cache=True, nogil=True)
def packed_for(w, M, steps=1):
    """w (K, N) packed for `steps` products with M-row left matrices; size 0 when BLAS
    serves them."""
    K, N = w.shape
    if not supported(w, N) or not pays(M, K, N, steps):
        return np.empty(0, w.dtype)
    packed = aligned_empty(K * N, w)
    pack(w, packed)
    return packed


@njit(cache=True, nogil=True)
def step_product(a, w, packed, c, reverse=False):
    """c = a @ w (a (M, K), w (K, N) contiguous), through `packed` = packed_for(w, M)
    when it is not empty (`reverse` as in `matmul`), else BLAS."""
    if packed.size > 0:
        matmul(a, packed, c, reverse)
    else:
        np.dot(a, w, c)


@njit(cache=True, nogil=True)
def product(a, w, c):
    """c = a @ w for a one-off product: packs w first when that pays."""
    step_product(a, w, packed_for(w, a.shape[0]), c)


def whole_vectors(N: int, dtype) -> bool:
    """`supported` from Python: whether N columns of dtype are whole vectors."""
    return N % ISA.lanes(np.dtype(dtype).itemsize) == 0


def steps_packed(B: int, T: int, D: int, H: int, dtype) -> bool:
    """Whether the T steps of a forward of B rows run packed products: joint steps
    (`joint_steps`), or h @ recurrent_kernel on the packed path (`_forward.forward_loop`)."""
    if not whole_vectors(4 * H, dtype):
        return False
    return joint_steps(B, D, H, dtype) or pays(B, H, 4 * H, T)


def joint_steps(B: int, D: int, H: int, dtype) -> bool:
    """Whether the forward computes each step as one packed [x_t | h] @ [kernel; R]:
    when the recurrent product is large enough for the packed path (`packed_for`)."""
    return B * H * 4 * H >= PACKED_MACS and whole_vectors(4 * H, dtype)
