"""Worker threads are woken off their caller's core for one launch, and get their own
affinity back after it (`kernels._placement`, used by `_shard`'s pool and `_handoff`)."""

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from lstmkit.kernels import _handoff, _placement, _run, _shard

pytestmark = pytest.mark.skipif(
    _placement.current_core() is None or len(os.sched_getaffinity(0)) < 2,
    reason="needs sched_getcpu / sched_setaffinity and two cores")


def _thread_cores(tid):
    return os.sched_getaffinity(tid)


def test_a_worker_is_kept_off_the_callers_core_then_given_back():
    cores = os.sched_getaffinity(0)
    with ThreadPoolExecutor(1) as pool:
        tid = pool.submit(threading.get_native_id).result()
        before = _placement.current_core()
        moved = _placement.keep_off_this_core([tid])
        after = _placement.current_core()  # (the caller may move between the two)
        try:
            narrowed = _thread_cores(tid)
            assert moved == [(tid, cores)]
            assert cores - narrowed in ({before}, {after})
            assert pool.submit(lambda: os.sched_getaffinity(0)).result() == narrowed
        finally:
            _placement.give_back(moved)
        assert _thread_cores(tid) == cores
    assert os.sched_getaffinity(0) == cores  # the caller's own: never touched


def test_one_launch_at_a_time_narrows_and_nothing_without_workers():
    with ThreadPoolExecutor(1) as pool:
        tid = pool.submit(threading.get_native_id).result()
        first = _placement.keep_off_this_core([tid])
        try:
            assert _placement.keep_off_this_core([tid]) is None  # another launch: no-op
        finally:
            _placement.give_back(first)
        assert _thread_cores(tid) == os.sched_getaffinity(0)
    assert _placement.keep_off_this_core([]) is None
    _placement.give_back(None)  # nothing to give back
    gone = _placement.keep_off_this_core([2**22 + 12345])  # no such thread: skipped
    assert gone == []
    _placement.give_back(gone)


def _call(B=8, T=5, D=3, H=16, train=False):
    rng = np.random.default_rng(0)
    f = lambda *shape: rng.normal(size=shape).astype(np.float32) * 0.3
    return _run.KernelCall.of(f(B, T, D), f(D, 4 * H), f(H, 4 * H), f(4 * H),
                              return_sequences=True, train=train)


def test_pool_shards_run_off_the_callers_core_and_the_pool_gets_its_cores_back(monkeypatch):
    """A training call in two shards: the pool's shard runs with the caller's core out of
    its affinity; after the call the pool thread has all its cores again."""
    seen = []
    forward_call = _shard.forward_call

    def recording(*args):
        seen.append((threading.get_native_id(), os.sched_getaffinity(0),
                     _placement.current_core()))
        return forward_call(*args)

    monkeypatch.setattr(_shard, "forward_call", recording)
    cores = os.sched_getaffinity(0)
    call = _call(train=True)
    _shard.forward(call, shards=2)  # the pool's thread exists (and is known) from here
    seen.clear()
    _shard.forward(call, shards=2)
    caller = [s for s in seen if s[0] == threading.get_native_id()]
    worker = [s for s in seen if s[0] != threading.get_native_id()]
    assert len(caller) == 1 and len(worker) == 1
    assert len(worker[0][1]) == len(cores) - 1 and worker[0][1] < cores  # one core out
    assert all(_thread_cores(tid) == cores for tid in _shard._POOL_THREADS)
    assert os.sched_getaffinity(0) == cores


def test_sleeping_handoff_workers_are_woken_off_the_callers_core(monkeypatch):
    """The workers asleep when a launch starts are the ones narrowed, and get their
    affinity back when it is over; the shards' results are the pool's."""
    if not _handoff.ready():
        pytest.skip("the hand-off is not compiled yet")
    asked = []
    keep_off = _placement.keep_off_this_core

    def recording(tids):
        asked.append(list(tids))
        return keep_off(tids)

    monkeypatch.setattr(_placement, "keep_off_this_core", recording)
    call = _call()
    inputs = _run.convert(call, 4)
    buffers = _run.make_buffers(2, 5, 4, 3, 16, False, inputs.joint, False, np.float32)
    outputs = _run.outputs_for(8, 5, 16, np.float32, True)
    assert _handoff.forward_shards(*inputs, *buffers, *outputs)  # (may start the worker)
    states, _ = _handoff._workers(1)
    for _ in range(200):  # it spins ~0.1 ms after a job, then sleeps
        if states[0, 0] == _handoff.SLEEPING:
            break
        time.sleep(0.01)
    assert states[0, 0] == _handoff.SLEEPING
    asked.clear()
    assert _handoff.forward_shards(*inputs, *buffers, *outputs)
    worker = _handoff._STATE["workers"][0]
    assert [worker.tid] in asked
    assert _thread_cores(worker.tid) == os.sched_getaffinity(0)
    want = _shard.forward(call, shards=1)[0]
    np.testing.assert_array_equal(outputs.out, want)
