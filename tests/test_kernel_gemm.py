"""The packed GEMM of the kernels (`lstmkit.kernels._gemm`) against NumPy in float64: every
ISA's register block compiled and run on this machine, the ISA's own block through the
public functions (also in subprocesses compiling for AVX2 and for generic x86-64), and
the LSTM kernels at sizes whose products take the packed path."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

import _other_isa
from lstmkit import _config
from lstmkit.kernels import _gemm
from lstmkit.kernels._isa import Isa
from lstmkit.kernels._microkernel import Block, block_for
from test_kernels import _compare

LANES = {np.float32: _gemm.LANES32, np.float64: max(_gemm.LANES32 // 2, 1)}
TOL = {np.float32: 2e-6, np.float64: 1e-14}

#: The register block of every ISA: a block compiled for other lanes than this machine's
#: is still correct code (LLVM splits or pads the vectors), so all run here.
BLOCKS = {
    "avx512": block_for(Isa("avx512", "skylake-avx512", 512, 32, True, "")),
    "avx2": block_for(Isa("avx2", "haswell", 256, 16, True, "")),
    "sse": block_for(Isa("sse", "generic", 128, 16, False, "")),
    "neon": block_for(Isa("neon", "generic", 128, 32, True, "")),
}


def _packed_product(a, w):
    packed = np.empty(w.size, w.dtype)
    _gemm.pack(w, packed)
    c = np.full((a.shape[0], w.shape[1]), np.nan, a.dtype)
    _gemm.matmul(a, packed, c)
    return c


def _check(c, a, w, c0=0.0):
    want = c0 + a.astype(np.float64) @ w.astype(np.float64)
    scale = np.abs(a).astype(np.float64) @ np.abs(w).astype(np.float64) + 1 + np.abs(c0)
    assert np.all(np.abs(c - want) <= TOL[a.dtype.type] * scale)


def test_blocks_fit_the_register_files():
    """Accumulators + right-hand vectors + a broadcast (+ a product without FMA) fit."""
    assert BLOCKS == {"avx512": Block(16, 5, 5), "avx2": Block(8, 4, 3),
                      "sse": Block(4, 6, 2), "neon": Block(4, 5, 5)}
    assert _gemm.BLOCK == block_for(_gemm.ISA)
    for isa_name, regs, fma in [("avx512", 32, True), ("avx2", 16, True), ("sse", 16, False)]:
        b = BLOCKS[isa_name]
        assert b.mr * b.nv + b.nv + 1 + (0 if fma else 1) <= regs


@njit
def _accumulate(blk, a, packed, c):
    """c += a @ w through the blocked loop's accumulate flag (a (M, K) row-major)."""
    M, K = a.shape
    _gemm._blocked(blk, a, 0, K, 1, M, K, packed, c, c.shape[1], c.shape[1], True, max(K, 1),
                   False)


def _pack_with(blk, w):
    packed = np.full(w.size, np.nan, w.dtype)
    _gemm.pack_rows_with(blk, w, packed, w.shape[0], 0)
    assert not np.isnan(packed).any()  # every element placed
    return packed


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("isa_name", sorted(BLOCKS))
def test_every_block_matches_numpy(isa_name, dtype):
    """Each ISA's block: row counts around its mr and past a cache block (MC), odd depths,
    full panels with and without a tail panel; overwrite, accumulate, reversed panels."""
    blk = BLOCKS[isa_name]
    lanes = blk.lanes32 if dtype == np.float32 else max(blk.lanes32 // 2, 1)
    rng = np.random.default_rng(blk.mr * 7 + blk.nv)
    for M in sorted({1, 2, blk.mr - 1, blk.mr, blk.mr + 1, 2 * blk.mr + 1, 13, _gemm.MC + 5}):
        for K, vectors in [(1, 1), (7, blk.nv), (37, blk.nv + 1), (3, 2 * blk.nv + blk.nv - 1)]:
            a = rng.normal(size=(M, K)).astype(dtype)  # (M, K)
            w = rng.normal(size=(K, vectors * lanes)).astype(dtype)  # (K, N)
            packed = _pack_with(blk, w)
            c = np.full((M, w.shape[1]), np.nan, dtype)
            _gemm.matmul_with(blk, a, packed, c)
            _check(c, a, w)
            c_rev = np.full_like(c, np.nan)
            _gemm.matmul_with(blk, a, packed, c_rev, True)
            assert np.array_equal(c, c_rev)  # the same sums in the same order
            c0 = rng.normal(size=c.shape).astype(dtype)
            c_acc = c0.copy()
            _accumulate(blk, a, packed, c_acc)
            _check(c_acc, a, w, c0)
    assert _gemm.supported_with(blk, a, lanes) and not _gemm.supported_with(blk, a, lanes + 1) \
        or lanes == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("isa_name", sorted(BLOCKS))
def test_every_block_transposed_a(isa_name, dtype):
    """a.T @ w with a (K, M) read in place, the depth in several KC passes (the later ones
    accumulate)."""
    blk = BLOCKS[isa_name]
    lanes = blk.lanes32 if dtype == np.float32 else max(blk.lanes32 // 2, 1)
    rng = np.random.default_rng(5)
    for K, M, vectors in [(0, 3, 1), (5, 1, blk.nv), (2 * _gemm.KC + 3, blk.mr + 2, blk.nv + 1)]:
        a = rng.normal(size=(K, M)).astype(dtype)  # (K, M)
        w = rng.normal(size=(K, vectors * lanes)).astype(dtype)  # (K, N)
        c = np.full((M, w.shape[1]), np.nan, dtype)
        _gemm.matmul_tn_with(blk, a, _pack_with(blk, w) if K else np.empty(0, dtype), c)
        _check(c, a.T, w)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("isa_name", sorted(BLOCKS))
def test_every_block_packs_a_stack_in_parts(isa_name, dtype):
    """[kernel; recurrent_kernel] packed part by part equals the stack packed whole."""
    blk = BLOCKS[isa_name]
    lanes = blk.lanes32 if dtype == np.float32 else max(blk.lanes32 // 2, 1)
    rng = np.random.default_rng(3)
    N = (blk.nv + 2) * lanes  # one full panel and a tail panel
    top, bottom = rng.normal(size=(5, N)).astype(dtype), rng.normal(size=(7, N)).astype(dtype)
    whole, parts = np.empty(12 * N, dtype), np.empty(12 * N, dtype)
    _gemm.pack_rows_with(blk, np.vstack([top, bottom]), whole, 12, 0)
    _gemm.pack_rows_with(blk, top, parts, 12, 0)
    _gemm.pack_rows_with(blk, bottom, parts, 12, 5)
    assert np.array_equal(whole, parts)


# The public functions, with the block of the ISA numba compiles for. The subprocess test
# below runs these ("public_api") compiled for AVX2 and for generic x86-64.
@settings(max_examples=60, deadline=None)
@given(st.sampled_from([np.float32, np.float64]), st.integers(1, 200), st.integers(1, 70),
       st.integers(1, 9), st.integers(0, 2**16))
def test_public_api_matmul_matches_numpy(dtype, M, K, n_vectors, seed):
    """Every row count (full blocks of the ISA's mr rows and each remainder), any depth,
    and column counts made of full panels and a tail panel."""
    N = n_vectors * LANES[dtype]
    rng = np.random.default_rng(seed)
    a, w = rng.normal(size=(M, K)).astype(dtype), rng.normal(size=(K, N)).astype(dtype)
    _check(_packed_product(a, w), a, w)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_public_api_strided_rows_and_transposed_weights(dtype):
    """a and c may be row views of larger arrays; w may be a transposed view."""
    rng = np.random.default_rng(1)
    N = 5 * LANES[dtype]
    big_a = rng.normal(size=(13, 40)).astype(dtype)
    a = big_a[:, 3:31]  # unit stride along a row, row stride 40
    wT = rng.normal(size=(N, 28)).astype(dtype)
    packed = np.empty(wT.size, dtype)
    _gemm.pack(wT.T, packed)
    big_c = np.full((13, N + 7), 7.0, dtype)
    _gemm.matmul(a, packed, big_c[:, 2:N + 2])
    _check(big_c[:, 2:N + 2], a, wT.T)
    assert np.all(big_c[:, :2] == 7) and np.all(big_c[:, N + 2:] == 7)  # nothing else written


def test_public_api_empty_depth_gives_zeros():
    a = np.empty((3, 0), np.float32)
    c = _packed_product(a, np.empty((0, LANES[np.float32]), np.float32))
    assert np.array_equal(c, np.zeros_like(c))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("M", [1, 5, 13])
def test_public_api_reverse_panel_order_gives_the_same_bits(dtype, M):
    """matmul(..., reverse=True) sums every element in the same order: identical bits."""
    rng = np.random.default_rng(M)
    N = (2 * _gemm.BLOCK.nv + 1) * LANES[dtype]  # two full panels and a tail panel
    a, w = rng.normal(size=(M, 37)).astype(dtype), rng.normal(size=(37, N)).astype(dtype)
    packed = np.empty(w.size, dtype)
    _gemm.pack(w, packed)
    forward, backward = np.empty((M, N), dtype), np.empty((M, N), dtype)
    _gemm.matmul(a, packed, forward)
    _gemm.matmul(a, packed, backward, True)
    assert np.array_equal(forward, backward)
    _check(forward, a, w)


def test_public_api_dispatch_between_packed_and_blas():
    """The ISA's measured `Thresholds` (BLAS only for an ISA not measured), on both sides
    of each: products of packed_macs multiply-adds, repeated products from step_macs,
    one-row products repeated one_row_steps times; column counts of no whole vectors
    always by BLAS."""
    lim, never = _gemm.LIMITS, _gemm._NEVER
    assert lim == _gemm.THRESHOLDS.get(_gemm.ISA.name, _gemm.Thresholds(never, never, never,
                                                                        never, 0))
    L = LANES[np.float32]
    cases = [(64, 256, 64 * L, 1), (1, 256, 64 * L, 1), (1, 64, 16 * L, 1), (1, 64, 16 * L, 10**6),
             (2, 8, 3 * L, 1000), (64, 512, 64 * L - 2, 10**6)]
    for macs in {lim.packed_macs, lim.step_macs} - {never}:
        cases += [(2, macs // (16 * L), 8 * L, 1), (2, macs // (16 * L) - 1, 8 * L, 1)]
    if lim.steps != never:
        cases += [(2, lim.step_macs // (16 * L), 8 * L, lim.steps),
                  (2, lim.step_macs // (16 * L), 8 * L, lim.steps - 1)]
    if lim.one_row_steps != never:
        cases += [(1, 64, 4 * L, lim.one_row_steps), (1, 64, 4 * L, lim.one_row_steps - 1)]
    for M, K, N, steps in cases:
        w = np.ones((K, N), np.float32)
        macs = M * K * N
        packs = N % L == 0 and (macs >= lim.packed_macs
                                or (M > 1 and steps >= lim.steps and macs >= lim.step_macs)
                                or (M == 1 and steps >= lim.one_row_steps))
        assert _gemm.packed_for(w, M, steps).size == (w.size if packs else 0), (M, K, N, steps)
    assert _gemm.supported(w, 3 * L) and (L == 1 or not _gemm.supported(w, 3 * L + 1))
    rng = np.random.default_rng(2)
    for M, K, N in [(64, 256, 1024), (2, 8, 48), (64, 256, 1022)]:
        a = rng.normal(size=(M, K)).astype(np.float32)
        w = rng.normal(size=(K, N)).astype(np.float32)
        c = np.empty((M, N), np.float32)
        _gemm.product(a, w, c)
        _check(c, a, w)


def test_gradient_products_take_the_packed_gemm_where_it_pays():
    """After the loop: packed from PACKED_MACS up, BLAS for small products, for columns
    of no whole vectors, and for products big enough for BLAS's threads when those are
    free (outside batch shards)."""
    from lstmkit.kernels import _blas, _run

    f32, big = np.float32, _config.kernel_parallel_macs()
    if _gemm.PACKED_MACS == _gemm._NEVER:  # an ISA without measured thresholds: BLAS only
        assert not any(_run._packed_pays(1 << n, 64, f32) for n in range(10, 62))
        return
    assert _run._packed_pays(_gemm.PACKED_MACS, 64, f32) == (_gemm.PACKED_MACS < big)
    assert not _run._packed_pays(_gemm.PACKED_MACS - 1, 64, f32)
    assert not _run._packed_pays(_gemm.PACKED_MACS, 20, f32)
    assert not _run._packed_pays(big, 64, f32)
    changed = _blas.single_thread_if_small(0)
    try:
        assert _run._packed_pays(big, 64, f32) == _blas.single_threaded()
    finally:
        _blas.restore_threads(changed)


def test_weight_gradients_run_packed_below_gradient_macs_only(monkeypatch):
    """In a batch shard (BLAS on one thread), a weight gradient just below the ISA's
    `gradient_macs` runs packed and one of gradient_macs runs on BLAS; both right."""
    from lstmkit.kernels import _blas, _run

    limit, n, N = _gemm.LIMITS.gradient_macs, 64, 16 * LANES[np.float32]
    packed_calls, matmul_tn = [], _gemm.matmul_tn

    def counted(a, packed, c):
        packed_calls.append(a.shape)
        matmul_tn(a, packed, c)
    monkeypatch.setattr(_gemm, "matmul_tn", counted)
    rng = np.random.default_rng(0)
    changed = _blas.single_thread_if_small(0)
    try:
        for rows, packed in [(limit // (n * N) - 1, True), (limit // (n * N), False)]:
            if rows * n * N < _gemm.PACKED_MACS or rows < 1:  # BLAS below, then no case
                continue
            inputs = rng.normal(size=(rows, n)).astype(np.float32)
            dZ = rng.normal(size=(rows, N)).astype(np.float32)
            before = len(packed_calls)
            grad = _run._weight_grad(inputs, dZ)
            assert (len(packed_calls) > before) == packed, (rows, limit)
            np.testing.assert_allclose(grad, inputs.astype(np.float64).T @ dZ, rtol=1e-3,
                                       atol=1e-2 * np.sqrt(rows))
    finally:
        _blas.restore_threads(changed)


# The LSTM kernels with per-step products above `_gemm.PACKED_MACS` (B * H * 4H), so that
# the forward's recurrent product, its input GEMM and backward's dz @ R^T run packed.
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mask", ["none", "holes"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_lstm_kernel_on_the_packed_path(dtype, mask, go_backwards):
    # D = 24: the kernel's gradient by BLAS (24 columns are no whole vectors); D = 32: packed
    _compare(dtype, 17, 3, 24, 128, mask=mask, go_backwards=go_backwards, state=True)
    _compare(dtype, 17, 5, 32, 128, mask=mask, go_backwards=go_backwards)


@pytest.mark.parametrize("dropout", ["shared", "per_gate"])
def test_lstm_kernel_on_the_packed_path_with_dropout(dropout):
    _compare(np.float32, 16, 3, 16, 128, dropout=dropout)


@pytest.mark.parametrize("return_sequences", [False, True])
def test_lstm_kernel_inference_on_the_packed_path(return_sequences):
    """Inference with joint [x_t | h] products keeps one step's pre-activations only."""
    _compare(np.float32, 17, 4, 24, 128, train=False, return_sequences=return_sequences,
             mask="holes", state=True)
    _compare(np.float32, 17, 4, 24, 128, train=False, dropout="input_only")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_public_api_pack_rows_packs_a_stack_in_parts(dtype):
    """[kernel; recurrent_kernel] packed part by part equals the stack packed whole."""
    rng = np.random.default_rng(3)
    N = (_gemm.BLOCK.nv + 2) * LANES[dtype]  # one full panel and a tail panel
    top, bottom = rng.normal(size=(5, N)).astype(dtype), rng.normal(size=(7, N)).astype(dtype)
    whole, parts = np.empty(12 * N, dtype), np.empty(12 * N, dtype)
    _gemm.pack(np.vstack([top, bottom]), whole)
    _gemm.pack_rows(top, parts, 12, 0)
    _gemm.pack_rows(bottom, parts, 12, 5)
    assert np.array_equal(whole, parts)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([np.float32, np.float64]), st.integers(1, 40), st.integers(0, 1300),
       st.integers(1, 6), st.integers(0, 2**16))
def test_public_api_matmul_tn_matches_numpy(dtype, M, K, n_vectors, seed):
    """a.T @ w with a (K, M) read in place: depths across several KC chunks."""
    N = n_vectors * LANES[dtype]
    rng = np.random.default_rng(seed)
    a, w = rng.normal(size=(K, M)).astype(dtype), rng.normal(size=(K, N)).astype(dtype)
    packed = np.empty(w.size, dtype)
    _gemm.pack(w, packed)
    c = np.full((M, N), np.nan, dtype)
    _gemm.matmul_tn(a, packed, c)
    _check(c, a.T, w)


@_other_isa.needs_x86_64
@pytest.mark.parametrize("cpu, isa_name", _other_isa.CPUS)
def test_public_api_compiled_for_other_isas(tmp_path, cpu, isa_name):
    """This module's public-API tests compiled for AVX2 and for generic x86-64
    (`_other_isa`)."""
    _other_isa.run_pytest(cpu, isa_name, tmp_path / "numba",
                          ["-k", "public_api and not other_isas", __file__], timeout=900)
