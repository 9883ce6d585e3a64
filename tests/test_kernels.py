"""The fused kernels against the reference (the spec), forward and backward, and the dispatch."""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import _other_isa
import lstmkit as lk
from lstmkit import activations, kernels, reference
from lstmkit.kernels import _math

TOL = {np.float32: {"rtol": 2e-5, "atol": 2e-5}, np.float64: {"rtol": 1e-10, "atol": 1e-11}}


def _mask(kind, B, T, rng):
    if kind == "none":
        return None
    lengths = rng.integers(0, T + 1, size=B)
    lengths[0] = T  # at least one full row
    if kind == "right":  # right padded: valid prefix
        return np.arange(T)[None, :] < lengths[:, None]
    if kind == "left":  # left padded: valid suffix
        return np.arange(T)[None, :] >= (T - lengths)[:, None]
    m = rng.random((B, T)) > 0.4  # holes anywhere
    if kind == "empty_rows":
        m[B // 2:] = False  # fully masked rows
    return m


def _problem(dtype, B, T, D, H, *, mask="none", state=False, dropout="none", bias=True, seed=0):
    rng = np.random.default_rng(seed)
    cast = lambda a: np.asarray(a, dtype)
    x = cast(rng.normal(size=(B, T, D)))
    K = cast(rng.normal(size=(D, 4 * H)) * 0.5)
    R = cast(rng.normal(size=(H, 4 * H)) * 0.5)
    b = cast(rng.normal(size=4 * H) * 0.5) if bias else None
    h0 = cast(rng.normal(size=(B, H))) if state else None
    c0 = cast(rng.normal(size=(B, H))) if state else None
    dm = rm = None
    if dropout != "none":
        lead = (4,) if dropout.startswith("per_gate") else ()
        dm = cast((rng.random(lead + (B, D)) > 0.3) / 0.7)
        rm = cast((rng.random(lead + (B, H)) > 0.3) / 0.7)
    if dropout == "input_only":
        rm = None
    if dropout in ("recurrent_only", "per_gate_recurrent_only"):
        dm = None  # Keras's implementation 1 with recurrent_dropout > 0 and dropout == 0
    grads_in = (cast(rng.normal(size=(B, T, H))), cast(rng.normal(size=(B, H))),
                cast(rng.normal(size=(B, H))))
    kw = {"mask": _mask(mask, B, T, rng), "dropout_mask": dm, "recurrent_dropout_mask": rm}
    return (x, K, R, b, h0, c0), kw, grads_in


def _compare(dtype, B, T, D, H, go_backwards=False, zero_output=False, train=True,
             return_sequences=True, **problem):
    args, kw, (d_out, d_h, d_c) = _problem(dtype, B, T, D, H, **problem)
    kw.update({"go_backwards": go_backwards, "zero_output_for_mask": zero_output})
    ref = kernels.lstm_forward(*args, **kw, keep_cache=True, backend="reference")
    ker = kernels.lstm_forward(*args, **kw, keep_cache=train, return_sequences=return_sequences,
                               backend="kernel")
    assert ref.backend == "reference" and ker.backend == "kernel"
    tol = TOL[dtype]
    for name in ("last_output", "h", "c"):
        got = getattr(ker, name)
        assert got.dtype == dtype
        np.testing.assert_allclose(got, getattr(ref, name), **tol, err_msg=name)
    if return_sequences or train:
        np.testing.assert_allclose(ker.outputs, ref.outputs, **tol)
    else:
        assert ker.outputs is None
    if not train:
        assert ker.cache is None
        return
    g_ref = kernels.lstm_backward(ref, d_out, d_h, d_c)
    g_ker = kernels.lstm_backward(ker, d_out, d_h, d_c)
    for name in reference.Gradients._fields:
        a, b = getattr(g_ker, name), getattr(g_ref, name)
        if b is None:
            assert a is None, name
            continue
        assert a.shape == b.shape and a.dtype == dtype, name
        scale = max(1.0, float(np.abs(b).max()))
        np.testing.assert_allclose(a, b, rtol=tol["rtol"], atol=tol["atol"] * scale, err_msg=name)
    # without the input gradient: the same weight gradients, x is None
    g_w = kernels.lstm_backward(ker, d_out, d_h, d_c, input_grad=False)
    assert g_w.x is None
    for name in ("kernel", "recurrent_kernel", "h0", "c0"):
        np.testing.assert_array_equal(getattr(g_w, name), getattr(g_ker, name), err_msg=name)
    # gradients for the final states only (no output gradient)
    g_ref = kernels.lstm_backward(ref, None, d_h, None)
    g_ker = kernels.lstm_backward(ker, None, d_h, None)
    np.testing.assert_allclose(g_ker.x, g_ref.x, **tol)
    # what tracing sees is the same on both paths
    gk, gr = kernels.gates_from_cache(ker), kernels.gates_from_cache(ref)
    assert sorted(gk) == ["c", "f", "g", "h", "i", "o"]
    for k in gk:
        assert gk[k].shape == (B, T, H)
        np.testing.assert_allclose(gk[k], gr[k], **tol, err_msg=k)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("mask", ["none", "right", "left", "holes", "empty_rows"])
def test_masks_and_directions(dtype, go_backwards, mask):
    _compare(dtype, 4, 7, 3, 5, go_backwards=go_backwards, mask=mask, state=True)
    _compare(dtype, 4, 7, 3, 5, go_backwards=go_backwards, mask=mask, zero_output=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dropout", ["shared", "per_gate", "input_only", "recurrent_only",
                                     "per_gate_recurrent_only"])
def test_dropout_masks(dtype, dropout):
    _compare(dtype, 3, 6, 4, 5, dropout=dropout, mask="holes", state=True)
    _compare(dtype, 3, 6, 4, 5, dropout=dropout, go_backwards=True, bias=False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_inference_stores_nothing(dtype, return_sequences):
    _compare(dtype, 5, 9, 3, 4, train=False, return_sequences=return_sequences, mask="holes",
             state=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dropout", ["none", "shared", "per_gate"])
def test_inference_pass_of_wide_layers(dtype, dropout):
    """H >= 16 at inference: the pass that keeps no gates (`_forward._infer_pass`)."""
    _compare(dtype, 3, 7, 5, 20, train=False, mask="holes", state=True, dropout=dropout)
    _compare(dtype, 2, 6, 3, 32, train=False, go_backwards=True, return_sequences=False,
             dropout=dropout)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("train", [False, True])
@pytest.mark.parametrize("dropout", ["none", "shared"])
def test_one_row_sequences_on_the_packed_path(dtype, train, dropout):
    """B = 1 and T >= ONE_ROW_STEPS: h @ R packed, panels in alternating order (by BLAS
    on an ISA whose one-row products never run packed)."""
    from lstmkit.kernels import _gemm

    T = min(_gemm.ONE_ROW_STEPS, 64) + 3
    _compare(dtype, 1, T, 4, 48, train=train, mask="holes", dropout=dropout)
    _compare(dtype, 1, T, 4, 20, train=train, go_backwards=True, state=True, dropout=dropout)


def test_small_inference_allocates_its_own_scratch(monkeypatch):
    """A small inference call lets the compiled call allocate its buffers; the result is
    the same bits as with buffers from NumPy."""
    from lstmkit.kernels import _run

    args, kw, _ = _problem(np.float32, 3, 40, 5, 24, mask="holes", state=True)
    small = kernels.lstm_forward(*args, **kw, backend="kernel")
    monkeypatch.setattr(_run, "OWN_SCRATCH_BYTES", 0)  # every call: buffers from NumPy
    numpy_buffers = kernels.lstm_forward(*args, **kw, backend="kernel")
    for name in ("outputs", "h", "c"):
        np.testing.assert_array_equal(getattr(small, name), getattr(numpy_buffers, name))


@pytest.mark.parametrize("train", [False, True])
def test_empty_batch(train):
    """A batch of 0 rows gives empty outputs on both paths (the compiled call still makes
    its (2, 0, H) state buffers)."""
    args, kw, _ = _problem(np.float32, 1, 4, 3, 20)
    args = (np.zeros((0, 4, 3), np.float32),) + args[1:]
    for backend in ("kernel", "reference"):
        res = kernels.lstm_forward(*args, keep_cache=train, backend=backend)
        assert res.outputs.shape == (0, 4, 20) and res.h.shape == res.c.shape == (0, 20)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 9), st.integers(1, 7), st.integers(1, 9),
       st.sampled_from([np.float32, np.float64]), st.booleans(), st.booleans(),
       st.sampled_from(["none", "right", "left", "holes", "empty_rows"]),
       st.sampled_from(["none", "shared", "per_gate", "per_gate_recurrent_only"]),
       st.booleans(), st.booleans(),
       st.integers(0, 2**16))
def test_hypothesis_shapes(B, T, D, H, dtype, go_backwards, zero_output, mask, dropout, state,
                           bias, seed):
    _compare(dtype, B, T, D, H, go_backwards=go_backwards, zero_output=zero_output, mask=mask,
             dropout=dropout, state=state, bias=bias, seed=seed)


def test_large_values_saturate_like_the_reference():
    args, _kw, _ = _problem(np.float32, 3, 4, 2, 3)
    x = args[0] * 200  # drives every gate into saturation
    ref = kernels.lstm_forward(x, *args[1:], backend="reference")
    ker = kernels.lstm_forward(x, *args[1:], backend="kernel")
    np.testing.assert_allclose(ker.outputs, ref.outputs, rtol=0, atol=1e-6)


def test_float32_sigmoid_tanh_accuracy():
    x = np.concatenate([np.linspace(-80, 80, 400_001), [0.0, -0.0, 1e-30, 0.5, -0.5]])
    x = x.astype(np.float32)
    x64 = x.astype(np.float64)
    for name, exact in (("sigmoid", 1 / (1 + np.exp(-x64))), ("tanh", np.tanh(x64))):
        got = _math.apply(name, x)
        rel = np.abs(got - exact) / np.maximum(np.abs(exact), 1e-30)
        assert rel.max() < 3e-7, (name, rel.max(), x[rel.argmax()])


# -- dispatch ---------------------------------------------------------------------------------

def test_auto_uses_the_kernel_and_falls_back_with_a_reason():
    args, _kw, _ = _problem(np.float32, 2, 3, 2, 3)
    assert kernels.lstm_forward(*args, backend="auto").backend == "kernel"
    relu = activations.get("relu")
    res = kernels.lstm_forward(*args, activation=relu, backend="auto")  # no warning (-W error)
    assert res.backend == "reference" and "relu" in res.reason
    ref = kernels.lstm_forward(*args, activation=relu, backend="reference")
    np.testing.assert_array_equal(res.outputs, ref.outputs)
    with pytest.raises(ValueError, match="backend='kernel' cannot run.*relu"):
        kernels.lstm_forward(*args, activation=relu, backend="kernel")
    x16 = args[0].astype(np.float16)
    assert "float16" in kernels.unsupported_reason(x16, *args[1:])
    with pytest.raises(ValueError, match="dtype"):
        kernels.lstm_forward(args[0], args[1].astype(np.float64), *args[2:], backend="kernel")
    with pytest.raises(ValueError, match="backend must be one of"):
        kernels.lstm_forward(*args, backend="fast")


def test_environment_variable_forces_a_path(monkeypatch):
    args, _kw, _ = _problem(np.float64, 2, 3, 2, 3)
    monkeypatch.setenv("LSTMKIT_BACKEND", "reference")
    assert kernels.lstm_forward(*args).backend == "reference"
    layer = lk.layers.LSTM(3)
    layer(args[0].astype(np.float32))
    assert layer.backend_ == "reference"
    monkeypatch.setenv("LSTMKIT_BACKEND", "kernel")
    assert kernels.lstm_forward(*args).backend == "kernel"
    monkeypatch.setenv("LSTMKIT_BACKEND", "nope")
    with pytest.raises(ValueError, match="LSTMKIT_BACKEND"):
        kernels.lstm_forward(*args)


def test_gates_from_cache_needs_a_training_run():
    args, _kw, _ = _problem(np.float32, 2, 3, 2, 3)
    with pytest.raises(ValueError, match="keep_cache=True"):
        kernels.gates_from_cache(kernels.lstm_forward(*args))
    with pytest.raises(ValueError, match="keep_cache=True"):
        kernels.lstm_backward(kernels.lstm_forward(*args))


# -- through the layers ------------------------------------------------------------------------

def _layer_pair(**config):
    a = lk.layers.LSTM(**config, backend="kernel", bias_initializer="random_normal")
    b = lk.layers.LSTM(**config, backend="reference")
    return a, b


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_layer_kernel_matches_reference(return_sequences, go_backwards):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 6, 3)).astype("float32")
    mask = rng.random((4, 6)) > 0.3
    state = [rng.normal(size=(4, 5)).astype("float32") for _ in range(2)]
    a, b = _layer_pair(units=5, return_sequences=return_sequences, return_state=True,
                       go_backwards=go_backwards)
    a(x)
    b(x)
    b.set_weights(a.get_weights())
    ya, ca = a.forward(x, training=True, mask=mask, initial_state=state)
    yb, cb = b.forward(x, training=True, mask=mask, initial_state=state)
    assert (a.backend_, b.backend_) == ("kernel", "reference")
    for u, v in zip(ya, yb):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)
    d = tuple(rng.normal(size=y.shape).astype("float32") for y in ya)
    (dxa, dsa), wa = a.backward(ca, d)
    (dxb, dsb), wb = b.backward(cb, d)
    for u, v in zip([dxa, *dsa, *wa], [dxb, *dsb, *wb]):
        np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-5)
    # inference on the kernel path gives what training's forward gave
    out = a(x, mask=mask, initial_state=state)
    for u, v in zip(out, ya):
        np.testing.assert_allclose(u, v, rtol=1e-6, atol=1e-7)


def test_layer_falls_back_quietly_for_other_activations():
    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    layer = lk.layers.LSTM(3, activation="relu")
    layer(x)
    assert layer.backend_ == "reference"
    forced = lk.layers.LSTM(3, activation="relu", backend="kernel")
    with pytest.raises(ValueError, match="relu"):
        forced(x)
    default = lk.layers.LSTM(3)
    default(x)
    assert default.backend_ == "kernel"


def test_bidirectional_kernel_matches_reference():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 5, 2)).astype("float32")
    mask = np.ones((3, 5), bool)
    mask[1, 3:] = False
    a = lk.layers.Bidirectional(lk.layers.LSTM(4, return_sequences=True, backend="kernel"))
    b = lk.layers.Bidirectional(lk.layers.LSTM(4, return_sequences=True, backend="reference"))
    a(x)
    b(x)
    b.set_weights(a.get_weights())
    np.testing.assert_allclose(a(x, mask=mask), b(x, mask=mask), rtol=1e-5, atol=1e-6)
    assert a.backend_ == "kernel" and b.backend_ == "reference"


def test_second_process_compiles_nothing():
    args, _kw, grads = _problem(np.float32, 2, 3, 2, 3)
    res = kernels.lstm_forward(*args, keep_cache=True, backend="kernel")  # fills the cache
    kernels.lstm_backward(res, *grads)
    code = (
        "import numpy as np\n"
        "from lstmkit import kernels\n"
        "from lstmkit.kernels import _forward, _backward\n"
        "x = np.ones((2, 3, 2), 'float32'); K = np.ones((2, 12), 'float32')\n"
        "R = np.ones((3, 12), 'float32')\n"
        "r = kernels.lstm_forward(x, K, R, None, None, None, keep_cache=True, backend='kernel')\n"
        "kernels.lstm_backward(r, np.ones((2, 3, 3), 'float32'))\n"
        "s = [f.stats for f in (_forward.forward_call, _backward.backward_loop)]\n"
        "print(sum(len(x.cache_misses) for x in s), sum(len(x.cache_hits) for x in s))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_DISABLE_CACHING"}
    out = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True,
                         check=False, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    misses, hits = map(int, out.stdout.split())
    assert (misses, hits) == (0, 2)


@pytest.mark.parametrize("dropout", ["none", "shared", "per_gate"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_shards_match_the_reference(monkeypatch, dropout, dtype):
    from lstmkit.kernels import _shard

    monkeypatch.setenv("LSTMKIT_SHARD_MACS", "0")  # split even this small batch over the cores
    monkeypatch.setattr(_shard, "_cores", lambda: 3)
    assert _shard.n_shards(5, 4) == 3
    _compare(dtype, 5, 6, 3, 4, mask="holes", state=True, dropout=dropout)
    _compare(dtype, 5, 6, 3, 4, go_backwards=True, zero_output=True, mask="empty_rows",
             dropout=dropout, bias=False)
    _compare(dtype, 5, 6, 3, 4, train=False, return_sequences=False, mask="right")
    args, kw, _ = _problem(dtype, 5, 6, 3, 4, dropout=dropout)
    res = kernels.lstm_forward(*args, **kw, keep_cache=True, backend="kernel")
    assert isinstance(res.cache, _shard.ShardedCache)
    for name in ("dropout_mask", "recurrent_dropout_mask"):
        got, want = res.cache.inputs[name], kw[name]
        assert (got is None) == (want is None)
        if want is not None:
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("launcher", ["openmp", "handoff", "pool"])
@pytest.mark.parametrize("dropout", ["none", "shared", "per_gate"])
def test_equal_shards_on_either_launcher(monkeypatch, launcher, dropout):
    """Equal inference shards (B % n == 0) run on numba's OpenMP layer when it is there
    and allowed, else on `_handoff`'s workers (no dropout masks), else on the thread pool
    (training always on the pool); all match the reference."""
    from lstmkit.kernels import _handoff, _parallel, _shard

    monkeypatch.setenv("LSTMKIT_PARALLEL", "1" if launcher == "openmp" else "0")
    if launcher == "openmp" and not _parallel.available():
        pytest.skip("numba has no thread-safe threading layer (OpenMP/TBB) here")
    monkeypatch.setitem(_parallel._STATE, "available", launcher == "openmp")
    monkeypatch.setattr(_handoff, "ready", lambda compiling=False: launcher == "handoff")
    handed_off = []
    launch = _handoff.launch
    monkeypatch.setattr(_handoff, "launch", lambda *a: handed_off.append(1) or launch(*a))
    monkeypatch.setenv("LSTMKIT_SHARD_MACS", "0")
    monkeypatch.setattr(_shard, "_cores", lambda: 3)
    for dtype in (np.float32, np.float64):
        _compare(dtype, 6, 5, 3, 4, mask="holes", state=True, dropout=dropout)
        _compare(dtype, 6, 5, 3, 4, go_backwards=True, zero_output=True, mask="empty_rows",
                 dropout=dropout, bias=False)
        _compare(dtype, 6, 5, 3, 4, train=False, return_sequences=False, mask="right")
        _compare(dtype, 6, 5, 3, 4, train=False, mask="holes", state=True, dropout=dropout,
                 go_backwards=True, zero_output=True)
    _compare(np.float32, 18, 3, 16, 128, state=True, dropout=dropout)  # joint packed steps
    _compare(np.float32, 18, 3, 16, 128, train=False, mask="left", dropout=dropout)
    assert bool(handed_off) == (launcher == "handoff")


def test_a_forked_child_runs_shards_on_the_pool(monkeypatch):
    """GNU OpenMP must not run in a forked child: the child falls back to the pool."""
    from lstmkit.kernels import _parallel

    monkeypatch.setenv("LSTMKIT_SHARD_MACS", "0")
    monkeypatch.setenv("LSTMKIT_PARALLEL", "1")
    args, kw, _ = _problem(np.float32, 6, 4, 3, 4)
    want = kernels.lstm_forward(*args, **kw, backend="kernel").outputs  # OpenMP in the parent
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if the pool ran and the result is the same
        signal.alarm(120)  # a hang (the bug this tests) kills the child, not the test run
        try:
            got = kernels.lstm_forward(*args, **kw, backend="kernel").outputs
            ok = _parallel.available() is False and np.array_equal(got, want)
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0


def test_cache_is_warm_tells_a_first_run(tmp_path, monkeypatch):
    """The demo warms up when `warmup()` has not run for this numba cache (its stamps)."""
    from lstmkit.kernels import _warm

    monkeypatch.setattr(_warm, "_cache_dir", lambda: str(tmp_path / "cache"))
    monkeypatch.setattr(_warm, "stamp_path", _warm.stamp_path.__wrapped__)  # uncached
    assert not kernels.cache_is_warm()
    _warm._write_stamp("float32")
    assert _warm.is_warm("float32") and not kernels.cache_is_warm()
    _warm._write_stamp("float64")
    assert not kernels.cache_is_warm()  # the OpenMP launch of inference shards: last
    _warm._write_stamp("openmp")
    assert kernels.cache_is_warm()
    code = "from lstmkit import kernels; print(kernels.cache_is_warm())"
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True,
                         text=True, env=env, timeout=120)
    assert out.stdout.strip() == "False"


def test_named_call_tuples_are_the_compiled_calls_parameters_in_order():
    """`forward_call(*Inputs, *Buffers, *Outputs)` and `forward_shards(...)` likewise: the
    fields must name the parameters they fill."""
    import inspect

    from lstmkit.kernels import _forward, _handoff, _parallel, _run

    fields = _run.Inputs._fields + _run.Buffers._fields + _run.Outputs._fields
    for fn in (_forward.forward_call, _parallel.forward_shards, _handoff.forward_shards):
        assert tuple(inspect.signature(getattr(fn, "py_func", fn)).parameters) == fields
    for fn in (_handoff.launch, _handoff._post, _handoff._shard):  # after their own first
        params = tuple(inspect.signature(fn.py_func).parameters)
        assert params[-len(fields):] == fields


def test_kernel_call_rows_cut_every_per_row_array():
    from lstmkit.kernels import _run

    B, T, D, H = 5, 3, 2, 4
    rng = np.random.default_rng(0)
    call = _run.KernelCall.of(
        rng.normal(size=(B, T, D)), rng.normal(size=(D, 4 * H)), rng.normal(size=(H, 4 * H)),
        h0=rng.normal(size=(B, H)), mask=rng.random((B, T)) > 0.5,
        dropout_mask=rng.random((4, B, D)), recurrent_dropout_mask=rng.random((B, H)))
    part = call.rows(1, 3)
    assert part.x.shape == (2, T, D) and part.h0.shape == (2, H) and part.c0 is None
    assert part.mask.shape == (2, T) and part.dropout_mask.shape == (4, 2, D)
    assert part.recurrent_dropout_mask.shape == (2, H) and part.kernel is call.kernel
    np.testing.assert_array_equal(part.dropout_mask, call.dropout_mask[:, 1:3])


@_other_isa.needs_x86_64
@pytest.mark.parametrize("cpu, isa_name", _other_isa.CPUS)
def test_parity_compiled_for_other_isas(tmp_path, cpu, isa_name):
    """The float32 parity tests above (forward, backward, masks, dropout, the packed one-row
    path, padded inference), the hand-off of equal shards (`_handoff`: atomics and the
    cycle counter) and the GRU/SimpleRNN kernels' compiled for AVX2 and for
    generic x86-64 (`_other_isa`)."""
    here = os.path.dirname(__file__)
    tests = [__file__] + [os.path.join(here, name)
                          for name in ("test_kernel_ragged.py", "test_kernels_gru_rnn.py")]
    _other_isa.run_pytest(cpu, isa_name, tmp_path / "nb", [
        "-k", "float32 and (masks_and_directions or dropout_masks or one_row or "
        "inference_pass or padded_batches or kernel_matches_reference) or "
        "(equal_shards_on_either_launcher and handoff and none)"] + tests)
