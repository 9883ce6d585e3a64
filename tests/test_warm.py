"""No waiting on the compiler: with a cold numba cache the reference answers while a child
process compiles the kernels (`lstmkit.kernels._warm`), then the kernels take over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("numba")

from lstmkit import kernels  # noqa: E402
from lstmkit.kernels import _warm  # noqa: E402


@pytest.fixture
def cold(monkeypatch, tmp_path):
    """A process whose kernels are not loaded and whose stamp is in tmp_path (absent)."""
    stamp = tmp_path / "lstmkit-kernels-test-float32.warm"
    monkeypatch.setenv("LSTMKIT_BACKGROUND_COMPILE", "1")
    monkeypatch.setattr(kernels, "_RUN", None)
    monkeypatch.setattr(kernels, "_READY", set())
    child = {}
    monkeypatch.setattr(_warm, "_CHILD", child)
    monkeypatch.setattr(_warm, "stamp_path", lambda dtype="float32": str(tmp_path / (
        f"lstmkit-kernels-test-{dtype}.warm")))
    # The test children only write a stamp; the lock they would release stays in tmp_path.
    monkeypatch.setattr(_warm, "_lock_path", lambda: str(tmp_path / "lstmkit-kernels.compiling"))
    yield stamp
    if "proc" in child:
        child["proc"].wait(timeout=60)
        child["log"].close()


def _call(backend=None, dtype="float32"):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4, 2)).astype(dtype)
    K = rng.normal(size=(2, 20)).astype(dtype)
    R = rng.normal(size=(5, 20)).astype(dtype)
    return kernels.lstm_forward(x, K, R, None, None, None, backend=backend)


def _wait_for_child():
    pid = _warm.child_pid()
    assert pid is not None
    _warm._CHILD["proc"].wait(timeout=60)


def test_reference_answers_until_the_background_compile_is_done(cold, monkeypatch):
    # The child a real first use starts runs `warmup()`; this one only writes the stamp.
    monkeypatch.setattr(_warm, "_child_command", lambda: [
        sys.executable, "-c", f"open({str(cold)!r}, 'w').write('done')"])
    first = _call()
    assert first.backend == "reference" and "background" in first.reason
    _wait_for_child()
    assert _call().backend == "kernel"
    np.testing.assert_allclose(_call().outputs, first.outputs, rtol=2e-5, atol=2e-6)
    assert not _warm.is_warm()  # float64 not yet: its calls still get the reference
    assert "background" in _call(dtype="float64").reason


def test_a_failed_background_compile_says_why_and_the_reference_keeps_answering(
        cold, monkeypatch):
    monkeypatch.setattr(_warm, "_child_command", lambda: [
        sys.executable, "-c", "import sys; sys.exit('RuntimeError: no compiler here')"])
    assert _call().backend == "reference"
    _wait_for_child()
    res = _call()
    assert res.backend == "reference" and "no compiler here" in res.reason
    assert "lstmkit warmup" in res.reason


def test_gru_and_simple_rnn_wait_for_the_same_background_compile(cold, monkeypatch):
    """The GRU/SimpleRNN kernels compile with the LSTM's (`warmup`): until the stamp is
    there their layers answer from the reference too; use_cudnn=True compiles here."""
    import lstmkit as lk

    monkeypatch.setattr(_warm, "_child_command", lambda: [
        sys.executable, "-c", f"open({str(cold)!r}, 'w').write('done')"])
    x = np.random.default_rng(0).normal(size=(3, 4, 2)).astype("float32")
    gru, rnn = lk.layers.GRU(5), lk.layers.SimpleRNN(5)
    first = gru(x)
    assert gru.backend_ == "reference"
    rnn(x)
    assert rnn.backend_ == "reference"
    _wait_for_child()
    np.testing.assert_allclose(gru(x), first, rtol=2e-5, atol=2e-6)
    assert gru.backend_ == "kernel"
    forced = lk.layers.GRU(5, use_cudnn=True, dtype="float64")  # not warm: compiles here
    forced(x)
    assert forced.backend_ == "kernel"


def test_forced_kernel_and_opt_out_compile_in_process(cold, monkeypatch):
    monkeypatch.setattr(_warm, "_child_command", lambda: pytest.fail("no child expected"))
    assert _call(backend="kernel").backend == "kernel"
    monkeypatch.setattr(kernels, "_READY", set())
    monkeypatch.setenv("LSTMKIT_BACKGROUND_COMPILE", "0")
    assert _call().backend == "kernel"
    assert _warm.child_pid() is None


def test_first_call_with_an_empty_numba_cache_answers_at_once(tmp_path):
    """A fresh install: the seed example answers within seconds (compiling takes ~30-60 s),
    with the reference's results, while the background compile runs."""
    from lstmkit import bench

    code = bench.SEED_EXAMPLE + """
import json, time
from lstmkit import kernels
from lstmkit.kernels import _warm
ref = kernels.lstm_forward(inputs, *lstm.get_weights()[:2], lstm.get_weights()[2], None, None,
                           backend="reference")
print(json.dumps({"backend": lstm.backend_, "pid": _warm.child_pid(),
                  "same": bool((whole_seq_output == ref.outputs).all()
                               and (final_carry_state == ref.c).all())}))
"""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), LSTMKIT_BACKGROUND_COMPILE="1")
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    seconds = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.splitlines()[-1])
    if out["pid"] is not None:  # the child keeps compiling after its parent ended: stop it
        try:
            os.kill(out["pid"], signal.SIGTERM)
        except ProcessLookupError:
            pass
    assert out == {"backend": "reference", "pid": out["pid"], "same": True}
    assert out["pid"] is not None
    locks = list(tmp_path.glob("lstmkit-kernels-*.compiling"))  # names who compiles
    assert [lock.read_text() for lock in locks] == [str(out["pid"])]
    # ~0.5 s on a quiet 2-core machine; the bound leaves room for a busy one, and is far
    # below the in-process compile it replaces.
    assert seconds < 10, seconds


def test_lstmkit_warmup_compiles_every_kernel_and_says_so(capsys, monkeypatch, tmp_path):
    from lstmkit.cli import main

    monkeypatch.setattr(_warm, "_cache_dir", lambda: str(tmp_path))  # the stamps only
    monkeypatch.setattr(_warm, "stamp_path", _warm.stamp_path.__wrapped__)
    assert main(["warmup"]) == 0
    out = capsys.readouterr().out
    assert f"lstmkit kernels for {kernels.isa().name}" in out
    assert "[10/10] float64 sharded inference" in out and "ready" in out
    assert kernels.cache_is_warm()


def test_inference_shards_use_the_pool_until_the_openmp_code_is_compiled(cold, monkeypatch):
    """The OpenMP launch compiles last in the background: until its stamp exists, a cold
    process neither compiles it nor probes the threading layer, and the pool serves."""
    from lstmkit.kernels import _parallel

    monkeypatch.setenv("LSTMKIT_PARALLEL", "1")
    monkeypatch.setitem(_parallel._STATE, "compiled", False)
    monkeypatch.setattr(_parallel, "_probe", lambda n: pytest.fail("probed while cold"))
    assert _parallel.available() is False
    open(_warm.stamp_path("openmp"), "w").close()
    monkeypatch.setitem(_parallel._STATE, "available", True)  # a thread-safe layer, probed
    assert _parallel.available() is True


@pytest.mark.parametrize(("env", "openmp"), [
    ({}, False), ({"GOMP_SPINCOUNT": "10000"}, True), ({"OMP_WAIT_POLICY": "passive"}, True),
    ({"LSTMKIT_PARALLEL": "1"}, True), ({"LSTMKIT_PARALLEL": "0", "GOMP_SPINCOUNT": "1"}, False)])
def test_openmp_shards_only_when_asked_or_openmp_is_tuned(monkeypatch, env, openmp):
    from lstmkit import _config

    for key in ("LSTMKIT_PARALLEL", "GOMP_SPINCOUNT", "OMP_WAIT_POLICY"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert _config.kernel_parallel() is openmp
