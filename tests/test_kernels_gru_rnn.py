"""The fused GRU and SimpleRNN kernels against the reference (`reference_rnn`), forward and
backward, for each dtype, direction, mask, dropout, bias and reset_after."""

import numpy as np
import pytest

from lstmkit import reference_rnn as rr
from lstmkit.kernels import cells

pytest.importorskip("numba")
B, T, D, H = 3, 6, 4, 5
TOL = {"float32": dict(rtol=2e-5, atol=2e-5), "float64": dict(rtol=1e-10, atol=1e-12)}


def _case(kind, dtype, reset_after, use_bias, dropout, seed=0):
    rng = np.random.default_rng(seed)
    n = 3 if kind == "GRU" else 1
    f = lambda *s: (rng.normal(size=s) * 0.5).astype(dtype)  # noqa: E731
    K, R = f(D, n * H), f(H, n * H)
    bias = None
    if use_bias:
        bias = f(2, 3 * H) if kind == "GRU" and reset_after else f(n * H)
    dm = None
    if dropout == "shared":
        dm = ((rng.random((B, D)) > 0.3) / 0.7).astype(dtype)
    elif dropout == "per_gate":
        dm = ((rng.random((3, B, D)) > 0.3) / 0.7).astype(dtype)
    return rng, K, R, bias, dm


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind, reset_after, dropout", [
    ("GRU", True, None), ("GRU", False, None), ("GRU", True, "shared"),
    ("GRU", False, "per_gate"), ("SimpleRNN", True, None), ("SimpleRNN", True, "shared")])
@pytest.mark.parametrize("masked, go_backwards, zofm, use_bias, with_h0", [
    (False, False, False, True, False), (True, True, False, True, True),
    (True, False, True, False, True), (True, True, True, True, False)])
def test_kernel_matches_reference(dtype, kind, reset_after, dropout, masked, go_backwards,
                                  zofm, use_bias, with_h0):
    rng, K, R, bias, dm = _case(kind, dtype, reset_after, use_bias, dropout)
    x = rng.normal(size=(B, T, D)).astype(dtype)
    mask = None
    if masked:
        mask = rng.random((B, T)) > 0.35
        mask[0] = False  # a fully masked row
    h0 = rng.normal(size=(B, H)).astype(dtype) if with_h0 else None
    if kind == "GRU":
        step = rr.gru_step_fns(K, R, bias, reset_after, dropout_mask=dm)
    else:
        step = rr.simple_rnn_step_fns(K, R, bias, dropout_mask=dm)
    states = [np.zeros((B, H), dtype) if h0 is None else h0]
    want = rr.rnn_sequence(step, x, states, mask, go_backwards, zofm, keep_steps=True)
    got = cells.run_forward(kind, x, K, R, bias, h0, reset_after=reset_after, mask=mask,
                            go_backwards=go_backwards, zero_output_for_mask=zofm,
                            dropout_mask=dm, keep_cache=True)
    np.testing.assert_allclose(got.outputs, want.outputs, **TOL[dtype])
    np.testing.assert_allclose(got.states[0], want.states[0], **TOL[dtype])
    d_out = rng.normal(size=(B, T, H)).astype(dtype)
    d_h = rng.normal(size=(B, H)).astype(dtype)
    dx_w, dst_w, dw_w = rr.rnn_sequence_backward(step, want, d_out, [d_h])
    dx, dst, dw = cells.run_backward(got.cache, d_out, d_h)
    np.testing.assert_allclose(dx, dx_w, **TOL[dtype])
    np.testing.assert_allclose(dst[0], dst_w[0], **TOL[dtype])
    assert len(dw) == len(dw_w)
    for a, b in zip(dw, dw_w):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, **TOL[dtype])
    inference = cells.run_forward(kind, x, K, R, bias, h0, reset_after=reset_after, mask=mask,
                                  go_backwards=go_backwards, zero_output_for_mask=zofm,
                                  dropout_mask=dm)
    np.testing.assert_array_equal(inference.outputs, got.outputs)
    np.testing.assert_array_equal(inference.states[0], got.states[0])
    last_only = cells.run_forward(kind, x, K, R, bias, h0, reset_after=reset_after, mask=mask,
                                  go_backwards=go_backwards, zero_output_for_mask=zofm,
                                  dropout_mask=dm, return_sequences=False)
    assert last_only.outputs is None
    np.testing.assert_array_equal(last_only.last, got.outputs[:, -1])
    np.testing.assert_array_equal(last_only.states[0], got.states[0])


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=25, deadline=None)
@given(kind=st.sampled_from(["GRU", "SimpleRNN"]), reset_after=st.booleans(),
       b=st.integers(1, 4), t=st.integers(1, 5), d=st.integers(1, 4), h=st.integers(1, 33),
       go_backwards=st.booleans(), masked=st.booleans(), seed=st.integers(0, 2**16))
def test_kernel_matches_reference_on_random_shapes(kind, reset_after, b, t, d, h, go_backwards,
                                                   masked, seed):
    rng = np.random.default_rng(seed)
    n = 3 if kind == "GRU" else 1
    K, R = rng.normal(size=(d, n * h)) * 0.5, rng.normal(size=(h, n * h)) * 0.5
    bias = rng.normal(size=(2, 3 * h) if kind == "GRU" and reset_after else (n * h,))
    x = rng.normal(size=(b, t, d))
    mask = rng.random((b, t)) > 0.3 if masked else None
    step = (rr.gru_step_fns(K, R, bias, reset_after) if kind == "GRU"
            else rr.simple_rnn_step_fns(K, R, bias))
    want = rr.rnn_sequence(step, x, [np.zeros((b, h))], mask, go_backwards, keep_steps=True)
    got = cells.run_forward(kind, x, K, R, bias, None, reset_after=reset_after, mask=mask,
                            go_backwards=go_backwards, keep_cache=True)
    np.testing.assert_allclose(got.outputs, want.outputs, rtol=1e-10, atol=1e-12)
    d_out = rng.normal(size=(b, t, h))
    dx_w, _, dw_w = rr.rnn_sequence_backward(step, want, d_out, [None])
    dx, _, dw = cells.run_backward(got.cache, d_out, None)
    np.testing.assert_allclose(dx, dx_w, rtol=1e-9, atol=1e-11)
    for a, w in zip(dw, dw_w):
        np.testing.assert_allclose(a, w, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("kind, reset_after", [("GRU", True), ("GRU", False), ("SimpleRNN", True)])
def test_kernel_matches_reference_with_blas_sized_products(kind, reset_after):
    """Per-step products above `_gru.SMALL_MACS` go through BLAS instead of the loop."""
    from lstmkit.kernels import _gru

    b, t, d, h = 24, 4, 8, 160 if kind == "SimpleRNN" else 48
    n = 3 if kind == "GRU" else 1
    assert b * h * n * h >= _gru.SMALL_MACS
    rng = np.random.default_rng(1)
    K, R = rng.normal(size=(d, n * h)) * 0.2, rng.normal(size=(h, n * h)) * 0.2
    bias = rng.normal(size=(2, 3 * h) if kind == "GRU" and reset_after else (n * h,))
    x, mask = rng.normal(size=(b, t, d)), rng.random((b, t)) > 0.3
    step = (rr.gru_step_fns(K, R, bias, reset_after) if kind == "GRU"
            else rr.simple_rnn_step_fns(K, R, bias))
    want = rr.rnn_sequence(step, x, [np.zeros((b, h))], mask, keep_steps=True)
    got = cells.run_forward(kind, x, K, R, bias, None, reset_after=reset_after, mask=mask,
                            keep_cache=True)
    np.testing.assert_allclose(got.outputs, want.outputs, rtol=1e-10, atol=1e-12)
    d_out = rng.normal(size=(b, t, h))
    _, _, dw_w = rr.rnn_sequence_backward(step, want, d_out, [None])
    _, _, dw = cells.run_backward(got.cache, d_out, None)
    for a, w in zip(dw, dw_w):
        np.testing.assert_allclose(a, w, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("kind, reset_after", [("GRU", True), ("GRU", False), ("SimpleRNN", True)])
@pytest.mark.parametrize("keep_cache", [False, True])
def test_batch_shards_in_threads_match_the_reference(monkeypatch, kind, reset_after, keep_cache):
    """Large products run as batch shards in threads; forced here on a small batch."""
    monkeypatch.setattr(cells, "SHARD_MACS", 0)
    monkeypatch.setattr(cells, "SHARD_ROWS", 1)
    from lstmkit.kernels import _shard

    monkeypatch.setattr(_shard, "_cores", lambda: 3)
    assert cells._workers(B, 1) == 3
    rng, K, R, bias, dm = _case(kind, "float64", reset_after, True, "shared")
    x = rng.normal(size=(B, T, D))
    mask = rng.random((B, T)) > 0.3
    h0 = rng.normal(size=(B, H))
    step = (rr.gru_step_fns(K, R, bias, reset_after, dropout_mask=dm) if kind == "GRU"
            else rr.simple_rnn_step_fns(K, R, bias, dropout_mask=dm))
    want = rr.rnn_sequence(step, x, [h0], mask, True, keep_steps=True)
    got = cells.run_forward(kind, x, K, R, bias, h0, reset_after=reset_after, mask=mask,
                            go_backwards=True, dropout_mask=dm, keep_cache=keep_cache)
    np.testing.assert_allclose(got.outputs, want.outputs, **TOL["float64"])
    np.testing.assert_allclose(got.states[0], want.states[0], **TOL["float64"])
    if keep_cache:
        d_out = rng.normal(size=(B, T, H))
        dx_w, dst_w, dw_w = rr.rnn_sequence_backward(step, want, d_out, [None])
        dx, dst, dw = cells.run_backward(got.cache, d_out, None)
        np.testing.assert_allclose(dx, dx_w, **TOL["float64"])
        np.testing.assert_allclose(dst[0], dst_w[0], **TOL["float64"])
        for a, w in zip(dw, dw_w):
            np.testing.assert_allclose(a, w, **TOL["float64"])
        whole = cells.run_forward(kind, x, K, R, bias, h0, reset_after=reset_after, mask=mask,
                                  go_backwards=True, dropout_mask=dm, keep_cache=True)
        assert isinstance(got.cache, cells.ShardedCache)
        for name, a in whole.cache.arrays().items():  # what lk.trace reads
            np.testing.assert_array_equal(got.cache.arrays()[name], a)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind, reset_after", [("GRU", True), ("GRU", False), ("SimpleRNN", True)])
@pytest.mark.parametrize("b, h", [(1, 48), (16, 96)])
def test_kernel_matches_reference_on_the_packed_path(dtype, kind, reset_after, b, h):
    """Sizes where the per-step products run on the packed GEMM (`_gemm.packed_for`) on an
    ISA with measured thresholds: one row (B = 1) and several; BLAS on the others."""
    from lstmkit.kernels import _gemm

    t = min(max(_gemm.LIMITS.steps, _gemm.ONE_ROW_STEPS if b == 1 else 1), 40) + 1
    n = 3 if kind == "GRU" else 1
    rng = np.random.default_rng(2)
    f = lambda *s: (rng.normal(size=s) * 0.2).astype(dtype)  # noqa: E731
    K, x = f(5, n * h), f(b, t, 5)
    R = (rng.normal(size=(h, n * h)) * 0.8 / np.sqrt(h)).astype(dtype)  # contracting: rounding
    # differences shrink over the steps instead of growing
    bias = f(2, 3 * h) if kind == "GRU" and reset_after else f(n * h)
    if _gemm.ISA.name in _gemm.THRESHOLDS and (b > 1 or _gemm.ONE_ROW_STEPS <= 40):
        assert _gemm.packed_for(R, b, t).size > 0
    mask = rng.random((b, t)) > 0.3
    step = (rr.gru_step_fns(K, R, bias, reset_after) if kind == "GRU"
            else rr.simple_rnn_step_fns(K, R, bias))
    want = rr.rnn_sequence(step, x, [np.zeros((b, h), dtype)], mask, True, keep_steps=True)
    got = cells.run_forward(kind, x, K, R, bias, None, reset_after=reset_after, mask=mask,
                            go_backwards=True, keep_cache=True)
    np.testing.assert_allclose(got.outputs, want.outputs, **TOL[dtype])
    d_out = rng.normal(size=(b, t, h)).astype(dtype)
    dx_w, _, dw_w = rr.rnn_sequence_backward(step, want, d_out, [None])
    dx, _, dw = cells.run_backward(got.cache, d_out, None)
    np.testing.assert_allclose(dx, dx_w, **TOL[dtype])
    for a, w in zip(dw, dw_w):
        np.testing.assert_allclose(a, w, **TOL[dtype])


@pytest.mark.parametrize("kind", ["GRU", "SimpleRNN"])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_small_inference_allocates_its_own_scratch(monkeypatch, kind, return_sequences):
    """A small inference call lets the compiled call allocate its buffers; the result is
    the same bits as with buffers from NumPy."""
    from lstmkit.kernels import _run

    rng, K, R, bias, dm = _case(kind, "float32", True, True, "shared")
    x = rng.normal(size=(B, T, D)).astype("float32")
    mask = rng.random((B, T)) > 0.3
    kw = dict(reset_after=True, mask=mask, dropout_mask=dm, return_sequences=return_sequences)
    own = cells.run_forward(kind, x, K, R, bias, None, **kw)
    monkeypatch.setattr(_run, "OWN_SCRATCH_BYTES", 0)  # every call: buffers from NumPy
    numpy_buffers = cells.run_forward(kind, x, K, R, bias, None, **kw)
    for a, b in ((own.outputs, numpy_buffers.outputs), (own.last, numpy_buffers.last),
                 (own.states[0], numpy_buffers.states[0])):
        np.testing.assert_array_equal(a, b)
