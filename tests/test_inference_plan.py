"""Inference plans (layers/_inference_plan.py, kernels/_plan.InferencePlan): a repeated
inference call of an LSTM layer goes straight to the compiled call, with the general
path's bits, and any change that the result depends on sends the call back to the
general path.

The oracle is the general path itself: a twin layer with the same weights whose plan is
removed before every call.
"""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lstmkit as lk
from lstmkit import _config
from lstmkit.layers import _inference_plan


def _twins(H, dtype="float32", **kwargs):
    """A layer and its twin (same weights), built for (B, T, D) calls."""
    return lk.layers.LSTM(H, dtype=dtype, **kwargs), lk.layers.LSTM(H, dtype=dtype, **kwargs)


def _general(layer, x, **call):
    """layer(x) on the general path."""
    layer._plan = None
    return layer(x, **call)


class _Counted:
    """A layer's plan that counts the calls it answered (not those it declined)."""

    def __init__(self, layer):
        self.calls = 0
        self.plan = layer._plan
        layer._plan = self.plan._replace(run=self)

    def __call__(self, *args):
        result = self.plan.run(*args)
        self.calls += result is not None
        return result


def _flat(outputs):
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _assert_same_bits(a, b):
    for x, y in zip(_flat(a), _flat(b), strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        assert np.array_equal(x, y), np.abs(x - y).max()


@settings(max_examples=30, deadline=None)
@given(B=st.integers(1, 4), T=st.integers(1, 5), D=st.integers(1, 9),
       H=st.sampled_from([3, 4, 16, 20]), dtype=st.sampled_from(["float32", "float64"]),
       return_sequences=st.booleans(), return_state=st.booleans(), go_backwards=st.booleans(),
       stateful=st.booleans(), use_bias=st.booleans(), seed=st.integers(0, 2**16))
def test_plan_gives_the_general_paths_bits(B, T, D, H, dtype, return_sequences, return_state,
                                           go_backwards, stateful, use_bias, seed):
    rng = np.random.default_rng(seed)
    options = dict(return_sequences=return_sequences, return_state=return_state,
                   go_backwards=go_backwards, stateful=stateful, use_bias=use_bias)
    layer, twin = _twins(H, dtype, **options)
    xs = [rng.normal(size=(B, T, D)).astype(dtype) for _ in range(4)]
    layer(xs[0])
    twin(xs[0])
    twin.set_weights(layer.get_weights())
    layer.set_weights(layer.get_weights())  # both from the same arrays' values
    if stateful:
        layer.reset_states()
        twin.reset_states()
    layer(xs[0])  # the general path, which leaves the plan
    _general(twin, xs[0])
    assert layer.backend_ == "kernel" and layer._plan is not None
    counted = _Counted(layer)
    for x in xs[1:]:
        _assert_same_bits(layer(x), _general(twin, x))
        assert layer.backend_ == "kernel"
    assert counted.calls == 3
    if stateful:
        _assert_same_bits(layer.states, twin.states)


def _stream_layer(**kwargs):
    layer = lk.layers.LSTM(8, **kwargs)
    x = np.random.default_rng(0).normal(size=(2, 3, 5)).astype("float32")
    layer(x)
    layer(x)  # a plan now
    assert layer._plan is not None
    return layer, x


def test_new_weights_take_the_general_path_once_then_a_new_plan():
    layer, x = _stream_layer()
    before = layer._plan
    weights = [w * 0.5 for w in layer.get_weights()]
    layer.set_weights(weights)
    out = layer(x)
    assert layer._plan is not before
    fresh = lk.layers.LSTM(8)
    fresh(x)
    fresh.set_weights(weights)
    _assert_same_bits(out, _general(fresh, x))
    counted = _Counted(layer)
    _assert_same_bits(layer(x), out)
    assert counted.calls == 1


@pytest.mark.parametrize("change", ["go_backwards", "return_sequences", "return_state",
                                    "backend", "use_cudnn"])
def test_changed_options_take_the_general_path(change):
    layer, x = _stream_layer()
    counted = _Counted(layer)
    value = {"backend": "reference", "use_cudnn": False}.get(change, True)
    setattr(layer, change, value)
    out = layer(x)
    assert counted.calls == 0
    if change in ("backend", "use_cudnn"):
        assert layer.backend_ == "reference"
    else:
        twin = lk.layers.LSTM(8, **{change: True})
        twin(x)
        twin.set_weights(layer.get_weights())
        _assert_same_bits(out, _general(twin, x))


def test_environment_backend_is_read_on_every_call(monkeypatch):
    layer, x = _stream_layer()
    counted = _Counted(layer)
    monkeypatch.setenv("LSTMKIT_BACKEND", "reference")
    layer(x)
    assert layer.backend_ == "reference" and counted.calls == 0
    monkeypatch.delenv("LSTMKIT_BACKEND")
    layer(x)
    assert layer.backend_ == "kernel"


@pytest.mark.parametrize("call", ["mask", "initial_state", "training", "shape"])
def test_other_calls_take_the_general_path(call):
    layer, x = _stream_layer(dropout=0.5)
    counted = _Counted(layer)
    kwargs = {}
    if call == "mask":
        kwargs["mask"] = np.ones(x.shape[:2], bool)
    elif call == "initial_state":
        kwargs["initial_state"] = [np.zeros((2, 8), "float32")] * 2
    elif call == "training":
        kwargs["training"] = True
    else:
        x = x[:1]
    out = layer(x, **kwargs)
    assert counted.calls == 0
    if call != "training":  # dropout at training draws masks: no twin to compare with
        twin = lk.layers.LSTM(8, dropout=0.5)
        twin(x)
        twin.set_weights(layer.get_weights())
        _assert_same_bits(out, _general(twin, x, **kwargs))


@pytest.mark.parametrize("cast", ["float64", "int", "strided"])
def test_inputs_the_general_path_would_cast_use_the_plan(cast):
    layer, x = _stream_layer()
    counted = _Counted(layer)
    x = {"float64": x.astype("float64"), "int": (x * 3).astype("int64"),
         "strided": np.repeat(x, 2, axis=2)[:, :, ::2]}[cast]
    out = layer(x)
    assert counted.calls == 1
    twin = lk.layers.LSTM(8)
    twin(x)
    twin.set_weights(layer.get_weights())
    _assert_same_bits(out, _general(twin, x))


def test_training_context_of_a_custom_call_takes_the_general_path():
    layer, x = _stream_layer(dropout=0.5)
    counted = _Counted(layer)
    from lstmkit.layers import _custom

    with _custom.training_context(True):
        a = layer(x)
    assert counted.calls == 0
    assert not np.array_equal(a, layer(x))  # dropout at training, none at inference
    assert counted.calls == 1


def test_states_that_do_not_fit_take_the_general_path():
    layer, x = _stream_layer(stateful=True)
    counted = _Counted(layer)
    h, c = layer.states
    layer.states = [np.repeat(h, 2, axis=1)[:, ::2], np.asfortranarray(c)]  # not C order
    out = layer(x)
    assert counted.calls == 0
    twin = lk.layers.LSTM(8, stateful=True)
    twin(x)
    twin.set_weights(layer.get_weights())
    twin.states = [h.copy(), c.copy()]
    _assert_same_bits(out, _general(twin, x))


def test_plans_run_from_many_threads_at_once():
    layer, _ = _stream_layer()
    rng = np.random.default_rng(1)
    xs = [rng.normal(size=(2, 3, 5)).astype("float32") for _ in range(8)]
    expected = [layer(x) for x in xs]
    failures = []

    def work(k):
        for _ in range(200):
            if not np.array_equal(layer(xs[k]), expected[k]):
                failures.append(k)
    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


# -- calls split over cores: the plan launches the equal shards itself ---------------------

@pytest.fixture
def two_shards(monkeypatch):
    """Every call of more than one row split in two shards, on any machine."""
    monkeypatch.setenv("LSTMKIT_SHARD_MACS", "1")
    monkeypatch.setenv("LSTMKIT_NUM_THREADS", "2")


@pytest.mark.parametrize("B, H, dtype, options", [
    (4, 8, "float32", {}),
    (6, 16, "float32", {"return_sequences": True, "return_state": True}),
    (4, 16, "float32", {"stateful": True, "go_backwards": True, "return_state": True}),
    (2, 20, "float64", {"use_bias": False, "return_sequences": True}),
])
def test_a_call_split_over_cores_plans_its_shards(two_shards, B, H, dtype, options):
    from lstmkit.kernels import _shard

    rng = np.random.default_rng(B * H)
    layer, twin = _twins(H, dtype, **options)
    xs = [rng.normal(size=(B, 3, 5)).astype(dtype) for _ in range(4)]
    layer(xs[0])
    twin(xs[0])
    twin.set_weights(layer.get_weights())
    if layer.stateful:
        layer.reset_states()
        twin.reset_states()
    layer(xs[0])
    _general(twin, xs[0])
    assert _shard.n_shards(B, H) == 2 and layer._plan.run.shards == 2
    counted = _Counted(layer)
    for x in xs[1:]:
        _assert_same_bits(layer(x), _general(twin, x))
    assert counted.calls == 3
    if layer.stateful:
        _assert_same_bits(layer.states, twin.states)


def test_a_split_plan_declines_other_shards_and_busy_workers(two_shards, monkeypatch):
    from lstmkit.kernels import _handoff, _parallel

    layer, twin = _twins(8)
    x = np.random.default_rng(3).normal(size=(4, 3, 5)).astype("float32")
    layer(x)
    twin(x)
    twin.set_weights(layer.get_weights())
    layer(x)
    assert layer._plan.run.shards == 2
    # the environment now asks for one shard: the general path, which plans one shard
    monkeypatch.setenv("LSTMKIT_NUM_THREADS", "1")
    counted = _Counted(layer)
    _assert_same_bits(layer(x), _general(twin, x))
    assert counted.calls == 0 and layer._plan.run.shards == 1
    # two shards again, and another thread holds the hand-off's workers: the plan declines
    # (the general path then runs the shards on the pool)
    monkeypatch.setenv("LSTMKIT_NUM_THREADS", "2")
    layer(x)
    assert layer._plan.run.shards == 2
    expected = _general(twin, x)
    counted = _Counted(layer)
    with _handoff._STATE["lock"]:
        if not _parallel.available():
            assert layer._plan.run(x) is None
        _assert_same_bits(layer(x), expected)
    assert counted.calls == 0 or _parallel.available()
    counted = _Counted(layer)  # the plan the general path left
    _assert_same_bits(layer(x), expected)
    assert counted.calls == 1


def test_a_cell_other_than_lstms_makes_no_plan():
    gru = lk.layers.GRU(4)
    x = np.ones((1, 2, 3), "float32")
    gru(x)
    gru(x)
    assert gru._plan is None
    assert _inference_plan.make(gru, x, None) is None


# -- _config.getenv: os.environ.get, without exceptions for unset names ----------------------

def test_getenv_follows_the_environment(monkeypatch):
    name = "LSTMKIT_TEST_GETENV"
    monkeypatch.delenv(name, raising=False)
    assert _config.getenv(name) == "" and _config.getenv(name, None) is None
    monkeypatch.setenv(name, "kernel")
    assert _config.getenv(name) == "kernel"
    os.environ[name] = "ünïcode"
    assert _config.getenv(name) == os.environ.get(name) == "ünïcode"
    monkeypatch.setenv(name, "")
    assert _config.getenv(name, None) == ""
    monkeypatch.delenv(name)
    assert _config.getenv(name, "x") == "x"


def test_getenv_of_a_replaced_environ(monkeypatch):
    monkeypatch.setattr(os, "environ", {"LSTMKIT_BACKEND": "reference"})
    assert _config.getenv("LSTMKIT_BACKEND") == "reference"
    assert _config.backend() == "reference"
    assert _config.getenv("LSTMKIT_NOT_SET", "d") == "d"


def test_a_models_calls_use_the_plan_with_the_models_weights():
    model = lk.Sequential([lk.Input((3, 5)), lk.layers.LSTM(8, return_sequences=True),
                           lk.layers.LSTM(4)])
    x = np.random.default_rng(2).normal(size=(2, 3, 5)).astype("float32")
    first = model.predict_on_batch(x)
    model.predict_on_batch(x)  # each LSTM has a plan now
    counted = [_Counted(layer) for layer in model.layers]
    _assert_same_bits(model.predict_on_batch(x), first)
    assert [c.calls for c in counted] == [1, 1]
    model.set_weights([w + 0.01 for w in model.get_weights()])
    changed = model.predict_on_batch(x)
    assert not np.array_equal(changed, first)
    for layer in model.layers:
        layer._plan = None
    _assert_same_bits(model.predict_on_batch(x), changed)
