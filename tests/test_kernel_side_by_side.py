"""Independent recurrent calls side by side, one core each (`kernels.side_by_side`): the
two directions of a `Bidirectional` at inference."""

import threading

import numpy as np
import pytest

import lstmkit as lk
from lstmkit import kernels
from lstmkit.kernels import _shard


def _load_kernels():
    lk.layers.LSTM(4)(np.zeros((1, 2, 3), "float32"))  # kernels.side_by_side needs them
    assert kernels._RUN is not None


def test_one_core_scope_is_the_threads_own_and_restored():
    _load_kernels()
    outside = _shard._cores()
    with _shard.one_core():
        assert _shard._cores() == 1
        seen = []
        other = threading.Thread(target=lambda: seen.append(_shard._cores()))
        other.start()
        other.join()
        assert seen == [outside]  # another thread keeps its cores
    assert _shard._cores() == outside


def test_jobs_run_at_once_on_their_own_cores_when_the_batch_is_large(monkeypatch):
    _load_kernels()
    monkeypatch.setattr(_shard, "_affinity", lambda: 2)
    monkeypatch.delenv("LSTMKIT_NUM_THREADS", raising=False)
    barrier = threading.Barrier(2, timeout=30)  # both jobs must be running at once

    def job(k):
        barrier.wait()
        return k, _shard._cores(), threading.get_ident()

    results = kernels.side_by_side([lambda: job(0), lambda: job(1)], B=64, H=256)
    assert [k for k, _, _ in results] == [0, 1]
    assert [cores for _, cores, _ in results] == [1, 1]
    assert results[0][2] != results[1][2]


def test_small_calls_run_one_after_the_other_here():
    _load_kernels()
    here = threading.get_ident()
    results = kernels.side_by_side([lambda: threading.get_ident()] * 2, B=2, H=4)
    assert results == [here, here]


def test_an_error_in_either_job_reaches_the_caller(monkeypatch):
    _load_kernels()
    monkeypatch.setattr(_shard, "_affinity", lambda: 2)
    monkeypatch.delenv("LSTMKIT_NUM_THREADS", raising=False)

    def fail():
        raise ValueError("second")

    with pytest.raises(ValueError, match="second"):
        kernels.side_by_side([lambda: 1, fail], B=64, H=256)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("merge_mode", ["concat", None])
def test_bidirectional_gives_the_same_bits_side_by_side(monkeypatch, kind, merge_mode):
    """The directions on cores of their own: the LSTM's bits of one after the other (each
    row computed alike whatever the shard); the GRU's kernel chooses packed or BLAS
    products by the rows of a shard, so one shard instead of two may round differently."""
    monkeypatch.setattr(_shard, "_affinity", lambda: 2)
    monkeypatch.delenv("LSTMKIT_NUM_THREADS", raising=False)
    rng = np.random.default_rng(0)
    B, T, D, H = 32, 12, 8, 128
    mask = np.arange(T)[None, :] < rng.integers(3, T + 1, size=B)[:, None]
    x = rng.normal(size=(B, T, D)).astype("float32")
    layer = lk.layers.Bidirectional(getattr(lk.layers, kind)(H, return_sequences=True,
                                                             return_state=True),
                                    merge_mode=merge_mode)
    ran = []
    real = kernels.side_by_side
    monkeypatch.setattr(kernels, "side_by_side", lambda *a, **k: ran.append(1) or real(*a, **k))
    together = layer(x, mask=mask)
    assert ran and _shard.n_shards(B, H) >= 2
    monkeypatch.setattr(kernels, "side_by_side", lambda jobs, B, H: [job() for job in jobs])
    apart = layer(x, mask=mask)
    assert len(together) == len(apart)
    for a, b in zip(together, apart):
        if kind == "LSTM":
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
