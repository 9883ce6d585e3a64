"""A GEMM for the per-step products, with the right-hand matrix packed once per call.

Every step of the recurrence multiplies a small left matrix (h, (B, H)) by the same
right matrix (the recurrent kernel, (H, 4H)). A BLAS call packs that right matrix
anew on every call (and for small B the packing is a large part of the work), so here
it is packed once, before the loop, into column panels, and each step runs only the
register-blocked inner kernel over the packed panels (the scheme of onnxruntime's
`MlasGemmPackB` and of oneDNN's packed RNN weights).

Packed layout of w (K, N): full column panels of W = NV vectors (64 float32 columns
with AVX-512), then panels of one vector for the rest; each panel stores its K rows
one after another, so the inner kernel reads it front to back:

    full panel p:  packed[p*K*W + k*W + j] = w[k, p*W + j]

The inner kernel (`_microkernel`) holds an MR x (nv vectors) block of the result in
registers, and per k broadcasts one element of each of the MR rows of `a` and does
MR * nv fused multiply-adds with the nv vectors of the panel's row k. It is written in
LLVM IR (a numba `intrinsic`) because that is the only way to make numba keep 24
vector accumulators in registers; the loops around it are plain numba.

Measured on one core of the 2-core AVX-512 machine, float32: (64, 256) @ (256, 1024)
runs at 116 GFLOP/s against SciPy OpenBLAS's 84 (and onnxruntime MLAS's 110). Small
products (below `PACKED_MACS`) stay with BLAS, whose small-matrix kernels are as fast,
except one-row steps (batch 1), which need the whole recurrent kernel per step: packed
(in a buffer that starts on a cache line, `aligned_empty`) with the panels run in
alternating order (`matmul(..., reverse)`), a step re-reads from L1 what the previous
one read last (h (1, 64) @ (64, 256): 0.52 us against BLAS's 0.67-0.73).

Example:
    >>> import numpy as np
    >>> w = np.arange(3 * 64, dtype=np.float32).reshape(3, 64)  # (K, N)
    >>> packed = np.empty(w.size, np.float32)
    >>> pack(w, packed)
    >>> a, c = np.ones((2, 3), np.float32), np.empty((2, 64), np.float32)
    >>> matmul(a, packed, c)
    >>> bool(np.array_equal(c, a @ w))
    True
"""

from __future__ import annotations

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

#: float32 lanes of one vector register: 16 with AVX-512, else 8 (AVX2 / other).
LANES32 = 16 if "+avx512f" in llvm.get_host_cpu_features().flatten() else 8
#: Vectors per full panel, and rows per register block.
NV, MR = 4, 6
#: Rows of `a` per cache block: the kernel runs every panel over MC rows before the next MC.
MC = 96
#: Depth per pass of `matmul_tn` (depth T*B): a panel's KC rows (128 KB) stay in L2.
KC = 512

_I32, _I64 = ir.IntType(32), ir.IntType(64)


def _lanes_of(dtype) -> int:
    return LANES32 if dtype == types.float32 else LANES32 // 2


def _data(context, builder, typ, value):
    return context.make_array(typ)(context, builder, value=value).data


def _microkernel(mr: int, nv: int):
    """c[0:mr, 0:nv*L] (+)= a[0:mr, 0:K] @ panel (K, nv*L), for L lanes of a's dtype.

    Arguments (numba): a, a_off, lda, ksa, packed, p_off, c, c_off, ldc, K, accumulate.
    Element (r, k) of a is at a_off + r*lda + k*ksa (ksa = 1 for a row-major a, lda = 1
    for a transposed one); offsets and strides count elements. The panel is read row
    after row from p_off. `accumulate` adds to c instead of overwriting it.
    """

    @intrinsic
    def kernel(typingctx, a, a_off, lda, ksa, packed, p_off, c, c_off, ldc, K, accumulate):
        if not all(isinstance(t, types.Array) and t.dtype == a.dtype for t in (a, packed, c)):
            return None
        if a.dtype not in (types.float32, types.float64):
            return None
        sig = types.void(a, a_off, lda, ksa, packed, p_off, c, c_off, ldc, K, accumulate)

        def codegen(context, builder, signature, args):
            a_t, p_t, c_t = signature.args[0], signature.args[4], signature.args[6]
            a_v, a_off_v, lda_v, ksa_v, p_v, p_off_v, c_v, c_off_v, ldc_v, k_v, acc_v = (
                context.cast(builder, v, t, types.int64) if isinstance(t, types.Integer) else v
                for v, t in zip(args, signature.args))
            lanes = _lanes_of(a_t.dtype)
            elem = context.get_value_type(a_t.dtype)
            vec = ir.VectorType(elem, lanes)
            width = lanes * nv
            a_ptr = builder.gep(_data(context, builder, a_t, a_v), [a_off_v])
            p_ptr = builder.gep(_data(context, builder, p_t, p_v), [p_off_v])
            c_ptr = builder.gep(_data(context, builder, c_t, c_v), [c_off_v])
            name = f"llvm.fma.v{lanes}f{32 if a_t.dtype == types.float32 else 64}"
            fma = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(vec, [vec, vec, vec]), name)
            zero = ir.Constant(vec, None)
            undef = ir.Constant(vec, ir.Undefined)
            splat = ir.Constant(ir.VectorType(_I32, lanes), [0] * lanes)
            const = lambda n: ir.Constant(_I64, n)
            vec_at = lambda ptr, at: builder.bitcast(builder.gep(ptr, [at]), vec.as_pointer())
            c_at = [[builder.add(builder.mul(const(r), ldc_v), const(v * lanes))
                     for v in range(nv)] for r in range(mr)]

            # the block's starting values: c itself (read only then), or zeros
            before = builder.block
            read_c = builder.append_basic_block("packed_gemm.read_c")
            start = builder.append_basic_block("packed_gemm.start")
            builder.cbranch(acc_v, read_c, start)
            builder.position_at_end(read_c)
            loaded = [[builder.load(vec_at(c_ptr, c_at[r][v]), align=4) for v in range(nv)]
                      for r in range(mr)]
            builder.branch(start)
            builder.position_at_end(start)
            init = [[builder.phi(vec) for _ in range(nv)] for _ in range(mr)]
            for r in range(mr):
                for v in range(nv):
                    init[r][v].add_incoming(zero, before)
                    init[r][v].add_incoming(loaded[r][v], read_c)
            entry = builder.block
            loop = builder.append_basic_block("packed_gemm.loop")
            done = builder.append_basic_block("packed_gemm.done")
            builder.cbranch(builder.icmp_signed(">", k_v, const(0)), loop, done)

            builder.position_at_end(loop)  # one k: nv panel vectors, mr broadcasts
            k = builder.phi(_I64)
            acc = [[builder.phi(vec) for _ in range(nv)] for _ in range(mr)]
            row = builder.mul(k, const(width))
            b = [builder.load(vec_at(p_ptr, builder.add(row, const(v * lanes))), align=4)
                 for v in range(nv)]
            a_k = builder.mul(k, ksa_v)
            new = []
            for r in range(mr):
                at = builder.add(builder.mul(const(r), lda_v), a_k)
                s = builder.load(builder.gep(a_ptr, [at]))
                s = builder.shuffle_vector(builder.insert_element(undef, s, ir.Constant(_I32, 0)),
                                           undef, splat)
                new.append([builder.call(fma, [s, b[v], acc[r][v]]) for v in range(nv)])
            k_next = builder.add(k, const(1))
            end = builder.block
            k.add_incoming(const(0), entry)
            k.add_incoming(k_next, end)
            for r in range(mr):
                for v in range(nv):
                    acc[r][v].add_incoming(init[r][v], entry)
                    acc[r][v].add_incoming(new[r][v], end)
            builder.cbranch(builder.icmp_signed("<", k_next, k_v), loop, done)

            builder.position_at_end(done)  # store the block
            final = []
            for r in range(mr):
                for v in range(nv):
                    phi = builder.phi(vec)
                    phi.add_incoming(init[r][v], entry)
                    phi.add_incoming(new[r][v], end)
                    final.append(phi)
            for r in range(mr):
                for v in range(nv):
                    builder.store(final[r * nv + v], vec_at(c_ptr, c_at[r][v]), align=4)
            return context.get_dummy_value()

        return sig, codegen

    return kernel


@intrinsic
def _lanes(typingctx, a):
    """The vector lanes for a's dtype, as a compile-time constant."""
    sig = types.intp(a)

    def codegen(context, builder, signature, args):
        return ir.Constant(context.get_value_type(types.intp), _lanes_of(signature.args[0].dtype))

    return sig, codegen


@intrinsic
def _copy_vector(typingctx, src, s_off, dst, d_off):
    """dst[d_off : d_off + L] = src[s_off : s_off + L] for L lanes of the dtype, one vector
    load and store (offsets count elements of the flat data). Packing with it runs ~4x
    faster than an element loop over a 2-D source, which LLVM does not vectorize."""
    if not (isinstance(src, types.Array) and isinstance(dst, types.Array)
            and src.dtype == dst.dtype and src.dtype in (types.float32, types.float64)):
        return None
    sig = types.void(src, s_off, dst, d_off)

    def codegen(context, builder, signature, args):
        s_t, so_t, d_t, do_t = signature.args
        s_v, so, d_v, do = args
        so = context.cast(builder, so, so_t, types.int64)
        do = context.cast(builder, do, do_t, types.int64)
        vec = ir.VectorType(context.get_value_type(s_t.dtype), _lanes_of(s_t.dtype))
        at = lambda t, v, off: builder.bitcast(builder.gep(_data(context, builder, t, v), [off]),
                                               vec.as_pointer())
        builder.store(builder.load(at(s_t, s_v, so), align=4), at(d_t, d_v, do), align=4)
        return context.get_dummy_value()

    return sig, codegen


_F1, _F2, _F3, _F4, _F5, _F6 = (_microkernel(m, NV) for m in range(1, MR + 1))
_T1, _T2, _T3, _T4, _T5, _T6 = (_microkernel(m, 1) for m in range(1, MR + 1))


#: Bytes of a cache line: the kernels' buffers start on one (see `aligned_empty`).
LINE = 64


@njit(cache=True, nogil=True)
def aligned_empty(n, like):
    """An empty (n,) array of like's dtype whose data starts on a cache line.

    An AVX-512 load of 64 bytes that straddles two cache lines reads both: measured here,
    one-row steps at H = 64 take 0.62 us a product with the packed weights 16 bytes off a
    line (where NumPy's and numba's allocators may put them) against 0.50 us on one.
    Reshape the result for more axes.
    """
    per_line = LINE // like.itemsize
    buf = np.empty(n + per_line, like.dtype)
    skip = ((LINE - buf.ctypes.data % LINE) % LINE) // like.itemsize
    return buf[skip:skip + n]


@njit(cache=True, nogil=True)
def supported(a, N):
    """Whether the packed GEMM handles N columns of a's dtype (N a multiple of the lanes)."""
    return N % _lanes(a) == 0


@njit(cache=True, nogil=True)
def pack(w, packed):
    """Pack w (K, N) into `packed` (K*N,), panel after panel (see the module docstring)."""
    pack_rows(w, packed, w.shape[0], 0)


@njit(cache=True, nogil=True)
def pack_rows(w, packed, K, row0):
    """Pack w (k, N) as rows row0 .. row0+k of a (K, N) matrix packed into
    `packed` (K*N,): so [kernel; recurrent_kernel] packs without being stacked first."""
    w = np.ascontiguousarray(w)  # (no copy when it is)
    k_rows, N = w.shape
    lanes = _lanes(packed)
    width = NV * lanes
    full = N // width
    for p in range(full):
        base = p * K * width + row0 * width
        for k in range(k_rows):
            for v in range(NV):
                _copy_vector(w, k * N + p * width + v * lanes, packed,
                             base + k * width + v * lanes)
    tail = full * K * width
    for q in range((N - full * width) // lanes):
        base = tail + q * K * lanes + row0 * lanes
        col = full * width + q * lanes
        for k in range(k_rows):
            _copy_vector(w, k * N + col, packed, base + k * lanes)


@njit(cache=True, nogil=True)
def _full_block(m, a, ao, lda, ksa, packed, po, c, co, ldc, K, acc):
    if m == 6:
        _F6(a, ao, lda, ksa, packed, po, c, co, ldc, K, acc)
    elif m == 5:
        _F5(a, ao, lda, ksa, packed, po, c, co, ldc, K, acc)
    elif m == 4:
        _F4(a, ao, lda, ksa, packed, po, c, co, ldc, K, acc)
    elif m == 3:
        _F3(a, ao, lda, ksa, packed, po, c, co, ldc, K, acc)
    elif m == 2:
        _F2(a, ao, lda, ksa, packed, po, c, co, ldc, K, acc)
    else:
        _F1(a, ao, lda, ksa, packed, po, c, co, ldc, K, acc)


@njit(cache=True, nogil=True)
def _tail_block(m, a, ao, lda, ksa, packed, po, c, co, ldc, K, acc):
    if m == 6:
        _T6(a, ao, lda, ksa, packed, po, c, co, ldc, K, acc)
    elif m == 5:
        _T5(a, ao, lda, ksa, packed, po, c, co, ldc, K, acc)
    elif m == 4:
        _T4(a, ao, lda, ksa, packed, po, c, co, ldc, K, acc)
    elif m == 3:
        _T3(a, ao, lda, ksa, packed, po, c, co, ldc, K, acc)
    elif m == 2:
        _T2(a, ao, lda, ksa, packed, po, c, co, ldc, K, acc)
    else:
        _T1(a, ao, lda, ksa, packed, po, c, co, ldc, K, acc)


@njit(cache=True, nogil=True, inline="always")
def _blocked(a, ao, lda, ksa, M, K, packed, c, ldc, N, accumulate, kc_max, reverse):
    """c[:M, :N] (+)= A @ w: A's element (r, k) at a[ao + r*lda + k*ksa] (flat), w (K, N)
    packed. Depth in chunks of kc_max, rows in chunks of MC, each row chunk in blocks
    of nearly equal size (64 rows: 9 x 6 + 2 x 5, not 10 x 6 + 4: a block of few rows
    does few multiply-adds per load). `reverse` runs the panels last to first: the
    same sums in the same order, but a product that follows one run the other way
    starts with the panels still in L1 (see `matmul`)."""
    lanes = _lanes(packed)
    width = NV * lanes
    full = N // width
    panels = full + (N - full * width) // lanes
    for k0 in range(0, max(K, 1), kc_max):
        kc = min(kc_max, K - k0)
        acc = accumulate or k0 > 0
        for i0 in range(0, M, MC):
            m = min(MC, M - i0)
            blocks = (m + MR - 1) // MR
            rows, extra = m // blocks, m % blocks
            for n in range(panels):
                p = panels - 1 - n if reverse else n
                is_full = p < full
                if is_full:  # where the panel starts in `packed`, and its first column
                    po, col = p * K * width + k0 * width, p * width
                else:
                    po = full * K * width + (p - full) * K * lanes + k0 * lanes
                    col = full * width + (p - full) * lanes
                i = i0
                for blk in range(blocks):
                    mr = rows + 1 if blk < extra else rows
                    a_at = ao + i * lda + k0 * ksa
                    if m == 1:  # one row: the kernel called directly (faster than a dispatch)
                        if is_full:
                            _F1(a, a_at, lda, ksa, packed, po, c, i * ldc + col, ldc, kc, acc)
                        else:
                            _T1(a, a_at, lda, ksa, packed, po, c, i * ldc + col, ldc, kc, acc)
                    elif is_full:
                        _full_block(mr, a, a_at, lda, ksa, packed, po, c, i * ldc + col, ldc,
                                    kc, acc)
                    else:
                        _tail_block(mr, a, a_at, lda, ksa, packed, po, c, i * ldc + col, ldc,
                                    kc, acc)
                    i += mr


@njit(cache=True, nogil=True)
def matmul(a, packed, c, reverse=False):
    """c = a @ w, where `packed` is w (K, N) packed by `pack`.

    a (M, K) and c (M, N) need unit stride along their last axis (any row stride);
    N must be `supported`. `reverse=True` computes the same bits with the panels in
    reverse order: a loop of products alternating it reads the first panels of each
    product from L1, where the previous one left them (one-row steps at H = 64:
    0.54 us a product instead of 0.64, the recurrent kernel being 64 KB against a
    32 KB L1).
    """
    M, K = a.shape
    # whole depth per pass (the steps' depths, D + H <= ~2k, measured best unsplit)
    _blocked(a, 0, a.strides[0] // a.itemsize, 1, M, K, packed, c,
             c.strides[0] // c.itemsize, c.shape[1], False, max(K, 1), reverse)


@njit(cache=True, nogil=True)
def matmul_at(stack, i, packed, c, reverse=False):
    """c = stack[i] @ w for a C-contiguous stack (n, M, K), without making the view
    stack[i] (a view costs reference counting, per step of a loop); as `matmul`."""
    _, M, K = stack.shape
    _blocked(stack, i * M * K, K, 1, M, K, packed, c, c.strides[0] // c.itemsize, c.shape[1],
             False, max(K, 1), reverse)


@njit(cache=True, nogil=True)
def matmul_tn(a, packed, c):
    """c = a.T @ w, where `packed` is w (K, N) packed by `pack`: a (K, M) row-major
    with unit stride along its rows (the weight gradients' X^T dZ without a transpose)."""
    K, M = a.shape
    _blocked(a, 0, 1, a.strides[0] // a.itemsize, M, K, packed, c,
             c.strides[0] // c.itemsize, c.shape[1], False, KC, False)


#: Products below this many multiply-adds stay with BLAS: there OpenBLAS's small-matrix
#: kernels are as fast (measured, one core: (32, 64) @ (64, 256) 9.2 us either way,
#: (100, 16) @ (16, 256) 7.5 us BLAS against 8.3 us packed), and packing costs a copy.
#: OpenBLAS itself runs products below 2**21 multiply-adds on one thread (measured:
#: (64, 64) @ (64, 256) 25.6 us with 1 or 2 threads, (128, 64) @ (64, 256) 47 -> 34 us).
PACKED_MACS = 1 << 20
#: One-row products repeated at least this many times are packed too: the packed kernel
#: with alternating panel order (`matmul`) beats BLAS's one-row product (median of 15
#: interleaved runs, one core, h (1, H) @ (H, 4H): 0.60 against 0.67 us at H = 64, 0.30
#: against 0.39 at H = 48, even at H >= 80), and the pack (~1.5 us for 64 KB) is paid
#: back within ~30 steps.
ONE_ROW_STEPS = 32


@njit(cache=True, nogil=True)
def packed_for(w, M, steps=1):
    """w (K, N) packed for `steps` products with M-row left matrices; size 0 when BLAS
    serves them."""
    K, N = w.shape
    if not supported(w, N):
        return np.empty(0, w.dtype)
    if M * K * N < PACKED_MACS and not (M == 1 and steps >= ONE_ROW_STEPS):
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
    return N % (LANES32 if np.dtype(dtype) == np.float32 else LANES32 // 2) == 0


def joint_steps(B: int, D: int, H: int, dtype) -> bool:
    """Whether the forward computes each step as one packed [x_t | h] @ [kernel; R]:
    when the recurrent product is large enough for the packed path (`packed_for`)."""
    return B * H * 4 * H >= PACKED_MACS and whole_vectors(4 * H, dtype)
