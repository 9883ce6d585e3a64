"""The packed GEMM of the kernels (`lstmkit.kernels._gemm`) against NumPy in float64,
and the LSTM kernels at sizes whose products take the packed path."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstmkit import _config
from lstmkit.kernels import _gemm
from test_kernels import _compare

LANES = {np.float32: _gemm.LANES32, np.float64: _gemm.LANES32 // 2}
TOL = {np.float32: 2e-6, np.float64: 1e-14}


def _packed_product(a, w):
    packed = np.empty(w.size, w.dtype)
    _gemm.pack(w, packed)
    c = np.full((a.shape[0], w.shape[1]), np.nan, a.dtype)
    _gemm.matmul(a, packed, c)
    return c


def _check(c, a, w):
    want = a.astype(np.float64) @ w.astype(np.float64)
    scale = np.abs(a).astype(np.float64) @ np.abs(w).astype(np.float64) + 1
    assert np.all(np.abs(c - want) <= TOL[a.dtype.type] * scale)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([np.float32, np.float64]), st.integers(1, 200), st.integers(1, 70),
       st.integers(1, 9), st.integers(0, 2**16))
def test_matmul_matches_numpy(dtype, M, K, n_vectors, seed):
    """Every row count (full 6-row blocks and each remainder), any depth, and column
    counts made of full panels and one-vector tail panels."""
    N = n_vectors * LANES[dtype]
    rng = np.random.default_rng(seed)
    a, w = rng.normal(size=(M, K)).astype(dtype), rng.normal(size=(K, N)).astype(dtype)
    _check(_packed_product(a, w), a, w)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_strided_rows_and_transposed_weights(dtype):
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


def test_empty_depth_gives_zeros():
    a = np.empty((3, 0), np.float32)
    c = _packed_product(a, np.empty((0, LANES[np.float32]), np.float32))
    assert np.array_equal(c, np.zeros_like(c))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("M", [1, 5, 13])
def test_reverse_panel_order_gives_the_same_bits(dtype, M):
    """matmul(..., reverse=True) sums every element in the same order: identical bits."""
    rng = np.random.default_rng(M)
    N = 9 * LANES[dtype]  # two full panels and one one-vector panel
    a, w = rng.normal(size=(M, 37)).astype(dtype), rng.normal(size=(37, N)).astype(dtype)
    packed = np.empty(w.size, dtype)
    _gemm.pack(w, packed)
    forward, backward = np.empty((M, N), dtype), np.empty((M, N), dtype)
    _gemm.matmul(a, packed, forward)
    _gemm.matmul(a, packed, backward, True)
    assert np.array_equal(forward, backward)
    _check(forward, a, w)


def test_dispatch_between_packed_and_blas():
    """Small products and column counts the lanes don't divide stay with BLAS; one-row
    products repeated at least ONE_ROW_STEPS times are packed."""
    w = np.ones((256, 1024), np.float32)
    assert _gemm.packed_for(w, 64).size == w.size
    assert _gemm.packed_for(w, 1).size == 0  # 262144 multiply-adds: BLAS
    assert _gemm.packed_for(w, 1, _gemm.ONE_ROW_STEPS).size == w.size
    assert _gemm.packed_for(w, 1, _gemm.ONE_ROW_STEPS - 1).size == 0
    assert _gemm.packed_for(w, 2, 1000).size == 0
    assert _gemm.packed_for(np.ones((512, 1022), np.float32), 64).size == 0
    assert _gemm.supported(w, 48) and not _gemm.supported(w, 20)
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
    assert _run._packed_pays(_gemm.PACKED_MACS, 64, f32)
    assert not _run._packed_pays(_gemm.PACKED_MACS - 1, 64, f32)
    assert not _run._packed_pays(_gemm.PACKED_MACS, 20, f32)
    assert not _run._packed_pays(big, 64, f32)
    changed = _blas.single_thread_if_small(0)
    try:
        assert _run._packed_pays(big, 64, f32) == _blas.single_threaded()
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
def test_pack_rows_packs_a_stack_in_parts(dtype):
    """[kernel; recurrent_kernel] packed part by part equals the stack packed whole."""
    rng = np.random.default_rng(3)
    N = 6 * LANES[dtype]  # one full panel and two one-vector panels
    top, bottom = rng.normal(size=(5, N)).astype(dtype), rng.normal(size=(7, N)).astype(dtype)
    whole, parts = np.empty(12 * N, dtype), np.empty(12 * N, dtype)
    _gemm.pack(np.vstack([top, bottom]), whole)
    _gemm.pack_rows(top, parts, 12, 0)
    _gemm.pack_rows(bottom, parts, 12, 5)
    assert np.array_equal(whole, parts)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([np.float32, np.float64]), st.integers(1, 40), st.integers(0, 1300),
       st.integers(1, 6), st.integers(0, 2**16))
def test_matmul_tn_matches_numpy(dtype, M, K, n_vectors, seed):
    """a.T @ w with a (K, M) read in place: depths across several KC chunks."""
    N = n_vectors * LANES[dtype]
    rng = np.random.default_rng(seed)
    a, w = rng.normal(size=(K, M)).astype(dtype), rng.normal(size=(K, N)).astype(dtype)
    packed = np.empty(w.size, dtype)
    _gemm.pack(w, packed)
    c = np.full((M, N), np.nan, dtype)
    _gemm.matmul_tn(a, packed, c)
    _check(c, a.T, w)
