"""The hand-off of equal inference shards to workers waiting in compiled code
(kernels/_handoff.py): every path of its state machine gives the thread pool's bits, and
no path hangs. The results of the launch itself against the reference are in
test_kernels.py (`test_equal_shards_on_either_launcher`)."""

from __future__ import annotations

import os
import resource
import signal
import threading
import time

import numpy as np
import pytest

from lstmkit.kernels import _handoff, _run, _shard


@pytest.fixture(autouse=True)
def _handoff_on(monkeypatch):
    """Equal inference shards on the hand-off (not OpenMP), compiled or not."""
    monkeypatch.setenv("LSTMKIT_PARALLEL", "0")
    monkeypatch.setattr(_handoff, "ready", lambda compiling=False: True)


def _call(seed=0, B=6, T=5, D=3, H=16):
    rng = np.random.default_rng(seed)
    f = lambda *shape: rng.normal(size=shape).astype(np.float32)  # noqa: E731
    return _run.KernelCall.of(f(B, T, D), f(D, 4 * H), f(H, 4 * H), f(4 * H), h0=f(B, H),
                              mask=rng.random((B, T)) > 0.3, return_sequences=True)


def _pooled(call, shards=2):
    """The same call's shards on the thread pool."""
    saved = _handoff.ready
    _handoff.ready = lambda compiling=False: False
    try:
        return _shard.forward(call, shards=shards)
    finally:
        _handoff.ready = saved


def _assert_same(got, want):
    for a, b in zip(got[:4], want[:4], strict=True):
        assert np.array_equal(a, b)


def _launch_args(call, n=2):
    """`launch`'s arrays for `call` in n equal shards (as `_shard` makes them)."""
    B, T, D = call.x.shape
    H = call.recurrent_kernel.shape[0]
    inputs = _run.convert(call, B // n)
    buffers = _run.make_buffers(n, T, B // n, D, H, False, inputs.joint, True, call.x.dtype)
    outputs = _run.outputs_for(B, T, H, call.x.dtype, True)
    return (*inputs, *buffers, *outputs), outputs


def test_shards_are_handed_off_with_the_pools_bits():
    call = _call()
    calls = []
    launch = _handoff.launch
    _handoff.launch = lambda *a: calls.append(1) or launch(*a)
    try:
        got = _shard.forward(call, shards=2)
    finally:
        _handoff.launch = launch
    assert calls
    _assert_same(got, _pooled(call))
    call3 = _call(1, B=9)  # three shards: two workers
    _assert_same(_shard.forward(call3, shards=3), _pooled(call3, shards=3))


def test_a_sleeping_worker_is_woken_for_its_shard():
    """Posted to while asleep (`_post` says SLEEPING): the caller wakes it after posting."""
    states = np.full((1, 1), _handoff.SLEEPING, np.int64)
    boxes = np.zeros((1, _handoff.BOX_SIZE), np.int64)
    worker = _handoff.Worker(states[0], boxes[0])
    call = _call(2)
    args, outputs = _launch_args(call)
    given = _handoff.launch(states, boxes, *args)
    assert given.tolist() == [_handoff.SLEEPING]
    worker.wake.set()
    while not _handoff.wait(states[0]):
        time.sleep(0)
    _assert_same(outputs, _pooled(call))


def test_a_busy_worker_leaves_its_shard_to_the_caller():
    states = np.full((1, 1), _handoff.CLAIMED, np.int64)  # claimed by no one: never free
    boxes = np.zeros((1, _handoff.BOX_SIZE), np.int64)
    call = _call(3)
    args, outputs = _launch_args(call)
    assert _handoff.launch(states, boxes, *args).tolist() == [_handoff.CLAIMED]
    _assert_same(outputs, _pooled(call))


def test_a_call_while_another_thread_owns_the_workers_runs_on_the_pool():
    call = _call(4)
    lock = _handoff._STATE["lock"]
    with lock:
        args, _ = _launch_args(call)
        assert _handoff.forward_shards(*args) is False
        _assert_same(_shard.forward(call, shards=2), _pooled(call))


def test_workers_sleep_after_a_burst_and_cost_nothing_then():
    call = _call(5)
    for _ in range(20):
        _shard.forward(call, shards=2)
    deadline = time.monotonic() + 5
    while _handoff._STATE["states"][0, 0] != _handoff.SLEEPING:
        assert time.monotonic() < deadline, "the worker did not go to sleep"
        time.sleep(0.01)
    before = resource.getrusage(resource.RUSAGE_SELF)
    time.sleep(0.3)
    after = resource.getrusage(resource.RUSAGE_SELF)
    assert after.ru_utime - before.ru_utime < 0.05  # nobody spins while the process idles


def test_calls_from_many_threads_at_once():
    calls = [_call(10 + k) for k in range(4)]
    expected = [_pooled(c) for c in calls]
    failures = []

    def work(k):
        for _ in range(100):
            got = _shard.forward(calls[k], shards=2)
            if not all(np.array_equal(a, b) for a, b in zip(got[:4], expected[k][:4])):
                failures.append(k)
    threads = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a hand-off hung"
    assert failures == []


def test_a_forked_child_makes_its_own_workers():
    call = _call(20)
    want = _shard.forward(call, shards=2)  # the parent's workers exist now
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if its own workers gave the same result
        signal.alarm(120)  # a hang (waiting for the parent's workers) kills the child only
        ok = False
        try:
            got = _shard.forward(call, shards=2)
            ok = all(np.array_equal(a, b) for a, b in zip(got[:4], want[:4]))
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_an_error_in_a_worker_is_raised_in_the_caller(monkeypatch):
    call = _call(30)
    _shard.forward(call, shards=2)  # the worker exists
    deadline = time.monotonic() + 5
    while _handoff._STATE["states"][0, 0] != _handoff.SLEEPING:  # back on its Event
        assert time.monotonic() < deadline
        time.sleep(0.01)

    def failing(state, box):
        raise MemoryError("no memory for the shard")
    monkeypatch.setattr(_handoff, "serve", failing)
    with pytest.raises(MemoryError, match="no memory"):
        _shard.forward(call, shards=2)
    monkeypatch.undo()  # (the autouse fixture's patches too: set them again)
    monkeypatch.setenv("LSTMKIT_PARALLEL", "0")
    monkeypatch.setattr(_handoff, "ready", lambda compiling=False: True)
    _assert_same(_shard.forward(call, shards=2), _pooled(call))  # and the worker serves again
