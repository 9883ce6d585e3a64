"""Padded inference runs its rows longest first and computes only the rows still running
(`kernels._ragged`, `_forward.active_rows`): the same results as the reference."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstmkit import kernels
from lstmkit.kernels import _forward, _ragged, _run, _shard

TOL = {np.float32: {"rtol": 2e-5, "atol": 2e-5}, np.float64: {"rtol": 1e-10, "atol": 1e-11}}


def _padding(lengths, T, side):
    """(B, T) bool: each row's `lengths` valid steps first ("right" padding) or last."""
    mask = np.arange(T)[None, :] < np.asarray(lengths)[:, None]
    return mask if side == "right" else mask[:, ::-1].copy()


def _call(dtype, B, T, D, H, mask, seed=0, **options):
    rng = np.random.default_rng(seed)
    cast = lambda a: np.asarray(a, dtype)
    scale = min(0.5, 2 / np.sqrt(D + H))  # larger weights make float32 rounding chaotic
    return _run.KernelCall.of(cast(rng.normal(size=(B, T, D))),
                              cast(rng.normal(size=(D, 4 * H)) * scale),
                              cast(rng.normal(size=(H, 4 * H)) * scale),
                              cast(rng.normal(size=4 * H) * 0.5),
                              cast(rng.normal(size=(B, H))), cast(rng.normal(size=(B, H))),
                              mask=mask, **options)


def _check(call, shards):
    out, last, h, c, cache = _shard.forward(call, shards=shards)
    assert cache is None
    ref = kernels.lstm_forward(call.x, call.kernel, call.recurrent_kernel, call.bias, call.h0,
                               call.c0, mask=call.mask, go_backwards=call.go_backwards,
                               zero_output_for_mask=call.zero_output_for_mask,
                               backend="reference")
    tol = TOL[call.x.dtype.type]
    np.testing.assert_allclose(h, ref.h, **tol)
    np.testing.assert_allclose(c, ref.c, **tol)
    np.testing.assert_allclose(last, ref.last_output, **tol)
    if call.return_sequences:
        np.testing.assert_allclose(out, ref.outputs, **tol)


def test_order_sorts_longest_first_and_deals_rows_to_shards():
    mask = _padding([1, 4, 2, 3, 0], 4, "right")
    np.testing.assert_array_equal(_ragged.order(mask, shards=1), [1, 3, 2, 0, 4])
    rows = _ragged.order(mask, shards=2)  # sorted 1, 3, 2, 0, 4 dealt in turn
    np.testing.assert_array_equal(rows, [1, 2, 4, 3, 0])
    assert _ragged.shard_bounds(5, 2) == [(0, 3), (3, 5)]


def test_order_declines_when_sorting_spares_nothing():
    assert _ragged.order(np.ones((4, 6), bool), shards=1) is None  # no padding
    assert _ragged.order(_padding([6, 6, 6, 5], 6, "right"), shards=1) is None  # too little
    assert _ragged.order(np.ones((1, 6), bool), shards=1) is None  # one row
    holes = np.tile([True, False], (4, 3))  # the loop skips the empty steps in any order
    assert _ragged.order(holes, shards=1) is None
    assert _ragged.order(_padding([6, 5, 3, 1], 6, "right"), shards=1) is None  # in order


def test_active_rows_is_one_past_the_last_running_row():
    mask = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0], [0, 1, 0]], np.uint8)  # (T, B)
    np.testing.assert_array_equal(_forward.active_rows(mask), [2, 1, 0, 2])
    np.testing.assert_array_equal(_forward.rows_per_step(mask, 4, 3, True), [2, 1, 0, 2])
    np.testing.assert_array_equal(_forward.rows_per_step(mask, 4, 3, False), [3, 3, 3, 3])
    full = np.ones((4, 3), np.uint8)  # nothing to spare
    np.testing.assert_array_equal(_forward.rows_per_step(full, 4, 3, True), [3, 3, 3, 3])


def test_sorting_spares_the_padded_steps():
    lengths = [20, 80, 35, 50, 80, 21]
    mask = _padding(lengths, 80, "right")
    rows = _ragged.order(mask, shards=2)
    computed = _ragged.computed_steps(mask[rows], shards=2)
    assert computed < _ragged.computed_steps(mask, shards=2)
    assert computed == 80 + 50 + 21 + 80 + 35 + 20  # each row runs its own length


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("shards", [1, 2, 3])
def test_padded_batches_match_the_reference(dtype, side, go_backwards, shards):
    lengths = [1, 0, 3, 2, 5, 7, 7]  # longest last: sorting spares the most
    for H in (5, 20):  # the small-H pass and the inference pass
        call = _call(dtype, 7, 7, 3, H, _padding(lengths, 7, side), go_backwards=go_backwards)
        assert _ragged.order(call.mask, shards) is not None
        _check(call, shards)
        _check(call._replace(zero_output_for_mask=True, return_sequences=False), shards)


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("shards", [1, 2])
def test_rows_on_the_packed_and_joint_paths(go_backwards, shards):
    """Large enough for the packed recurrent product and for joint [x_t | h] steps: the
    reference's results, and the very bits of a call that computes every row at every
    step (here: the same rows unsorted, after one more row that runs to the end)."""
    lengths = np.random.default_rng(3).integers(5, 41, size=32)
    for D, H in ((16, 64), (64, 256)):
        call = _call(np.float32, 33, 40, D, H, _padding(list(lengths) + [40], 40, "right"),
                     go_backwards=go_backwards)
        every_row = _run.forward(call)  # the last row runs every step: nothing is skipped
        call = call.rows(0, 32)
        assert _ragged.order(call.mask, shards) is not None
        _check(call, shards)
        for got, want in zip(_shard.forward(call, shards=shards)[:4], every_row):
            np.testing.assert_array_equal(got, want[:32])


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 9), st.integers(1, 9), st.integers(1, 5), st.sampled_from([3, 16, 24]),
       st.sampled_from(["right", "left", "holes"]), st.booleans(), st.booleans(),
       st.integers(1, 3), st.integers(0, 2**16))
def test_hypothesis_masks(B, T, D, H, kind, go_backwards, zero_output, shards, seed):
    rng = np.random.default_rng(seed)
    if kind == "holes":
        mask = rng.random((B, T)) > 0.5
    else:
        mask = _padding(rng.integers(0, T + 1, size=B), T, kind)
    call = _call(np.float32, B, T, D, H, mask, seed=seed, go_backwards=go_backwards,
                 zero_output_for_mask=zero_output)
    _check(call, min(shards, B))


@pytest.mark.parametrize("shards", [1, 2])
def test_padded_outputs_are_the_callers_own_while_the_sorted_scratch_is_kept(shards):
    """The sorted copy of x and the sorted outputs are the thread's scratch, kept for its
    next call (`_shard._kept`); what the call returns is new every call, and a second
    call leaves the first's results as they were."""
    lengths = np.random.default_rng(4).integers(5, 41, size=32)
    mask = _padding(list(lengths), 40, "right")
    first_call, second_call = (_call(np.float32, 32, 40, 16, 64, mask, seed=s) for s in (1, 2))
    first = _shard.forward(first_call, shards=shards)[:4]
    saved = [a.copy() for a in first]
    kept = {name: made for name, (_, made) in _shard._KEPT.by_name.items()
            if name.startswith("sorted")}
    assert set(kept) == {"sorted x", "sorted out", "sorted last", "sorted h", "sorted c"}
    second = _shard.forward(second_call, shards=shards)[:4]
    for name, made in _shard._KEPT.by_name.items():  # the same scratch again
        if name.startswith("sorted"):
            assert made[1] is kept[name]
    for got, want in zip(first, saved):
        np.testing.assert_array_equal(got, want)
    for result in (*first, *second):
        assert not any(np.shares_memory(result, a) for a in kept.values())
    _check(second_call, shards)


def test_kept_scratch_is_per_thread_per_key_and_bounded(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    a = _shard._scratch_array("test", (3, 4), np.float32)
    assert _shard._scratch_array("test", (3, 4), np.float32) is a
    assert _shard._scratch_array("test", (3, 4), np.float64) is not a  # another key
    with ThreadPoolExecutor(1) as pool:
        other = pool.submit(_shard._scratch_array, "test", (3, 4), np.float32).result()
    assert other is not a
    monkeypatch.setattr(_shard._KEPT, "by_name", {})
    monkeypatch.setattr(_shard, "SCRATCH_CACHE_BYTES", 8)
    big = _shard._scratch_array("test big", (3,), np.float32)  # 12 bytes: not kept
    assert _shard._scratch_array("test big", (3,), np.float32) is not big
    first = _shard._scratch_array("first", (1,), np.float32)  # 4 bytes: kept
    assert _shard._scratch_array("first", (1,), np.float32) is first
    second = _shard._scratch_array("second", (2,), np.float32)  # 4 + 8 > 8: not kept
    assert _shard._scratch_array("second", (2,), np.float32) is not second
    assert _shard._scratch_array("first", (2,), np.float32) is not first  # replaced: 8
    assert set(_shard._KEPT.by_name) == {"first"}


def test_one_shard_inference_keeps_its_numpy_scratch(monkeypatch):
    """A one-shard inference call whose scratch comes from NumPy (large calls) gets the
    same buffers on its next call of the same sizes, as shards do; training gets its own."""
    monkeypatch.setattr(_run, "OWN_SCRATCH_BYTES", 0)  # every call: buffers from NumPy
    call = _call(np.float32, 4, 6, 3, 8, None)
    _check(call, 1)
    buffers = _shard._KEPT.by_name["buffers"][1]
    _check(call._replace(x=call.x[::-1].copy()), 1)
    assert _shard._KEPT.by_name["buffers"][1] is buffers
    cache = _shard.forward(call._replace(train=True), shards=1)[4]
    assert not any(np.shares_memory(cache.A, b) for b in buffers)
