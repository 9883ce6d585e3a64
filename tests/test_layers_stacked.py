"""`RNN([cell, ...])` (StackedRNNCells) on the fused kernels, cell by cell over the sequence:
against the step-by-step reference loop (hypothesis over shapes, masks, directions, dtypes,
initial states; forward and backward) and against Keras 3 (torch backend) live, with masks,
go_backwards, initial_state, stateful and per-cell dropout (the same masks)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lstmkit as lk
from _oracle import keras as _keras
from _oracle import quiet, to_numpy, to_torch
from lstmkit.layers import recurrent_cell as lk_recurrent_cell
from test_layers_gru_rnn import MaskBook

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

B, T, D = 3, 6, 4
MASK = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 1], [0, 1, 1, 0, 1, 0]], bool)
MAKE = {"lstm": lambda m, n: m.LSTMCell(n), "gru": lambda m, n: m.GRUCell(n),
        "gru_before": lambda m, n: m.GRUCell(n, reset_after=False),
        "simple": lambda m, n: m.SimpleRNNCell(n)}


def _flat(x):
    if isinstance(x, (list, tuple)):
        return [a for v in x for a in _flat(v)]
    return [x]


def _nest_like(structure, flat):
    it = iter(flat)

    def build(s):
        return type(s)(build(v) for v in s) if isinstance(s, (list, tuple)) else next(it)

    return build(structure)


def _stack(spec, units, dtype="float32", **kwargs):
    """An lstmkit stack on the kernels and its twin (same weights) on the reference loop."""
    layers = []
    for backend in ("kernel", "reference"):
        cells = [MAKE[s](lk.layers, n) for s, n in zip(spec, units)]
        for c in cells:
            c.dtype = dtype
        layers.append(lk.layers.RNN(cells, backend=backend, dtype=dtype, **kwargs))
    return layers


def _compare_with_reference(kernel, reference, x, mask, initial_state, training, rtol, atol):
    kernel.build(x.shape)
    reference.build(x.shape)
    reference.set_weights(kernel.get_weights())
    got, c_got = kernel.forward(x, training=training, mask=mask, initial_state=initial_state)
    want, c_want = reference.forward(x, training=training, mask=mask,
                                     initial_state=initial_state)
    assert kernel.backend_ == "kernel" and reference.backend_ == "reference"
    for g, w in zip(_flat(got), _flat(want), strict=True):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    rng = np.random.default_rng(9)
    d_flat = [rng.normal(size=a.shape).astype(x.dtype) for a in _flat(got)]
    d_out = _nest_like(got, d_flat) if isinstance(got, tuple) else d_flat[0]
    got_g, got_w = kernel.backward(c_got, d_out)
    want_g, want_w = reference.backward(c_want, d_out)
    for g, w in zip(_flat(got_g), _flat(want_g), strict=True):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=10 * atol)
    for g, w in zip(got_w, want_w, strict=True):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=10 * atol)


@settings(max_examples=20, deadline=None)
@given(spec=st.lists(st.sampled_from(sorted(MAKE)), min_size=1, max_size=3),
       units=st.lists(st.integers(1, 5), min_size=3, max_size=3),
       b=st.integers(1, 4), t=st.integers(1, 6), d=st.integers(1, 4),
       masked=st.booleans(), go_backwards=st.booleans(), zero_output=st.booleans(),
       with_state=st.booleans(), dtype=st.sampled_from(["float32", "float64"]),
       seed=st.integers(0, 2**16))
def test_stack_on_kernels_matches_the_reference_loop(spec, units, b, t, d, masked, go_backwards,
                                                     zero_output, with_state, dtype, seed):
    rng = np.random.default_rng(seed)
    kernel, reference = _stack(spec, units, dtype, return_sequences=True, return_state=True,
                               go_backwards=go_backwards, zero_output_for_mask=zero_output)
    x = rng.normal(size=(b, t, d)).astype(dtype)
    mask = rng.random((b, t)) > 0.4 if masked else None
    kernel.build(x.shape)
    initial = [rng.normal(size=(b, s)).astype(dtype)
               for s in lk.layers.rnn.state_sizes(kernel.cell)] if with_state else None
    tol = {"float32": (1e-5, 1e-6), "float64": (1e-9, 1e-11)}[dtype]
    _compare_with_reference(kernel, reference, x, mask, initial, False, *tol)


@pytest.mark.parametrize("return_sequences", [False, True])
def test_stack_with_dropout_draws_the_reference_masks(return_sequences):
    kwargs = dict(return_sequences=return_sequences, return_state=True)
    cells = {"kernel": [], "reference": []}
    for backend in cells:  # the same seeds: the same masks on both paths
        cells[backend] = [lk.layers.LSTMCell(3, dropout=0.3, seed=1),
                          lk.layers.GRUCell(2, dropout=0.4, recurrent_dropout=0.2, seed=2),
                          lk.layers.SimpleRNNCell(2, dropout=0.5, seed=3)]
    kernel = lk.layers.RNN(cells["kernel"], backend="auto", **kwargs)
    reference = lk.layers.RNN(cells["reference"], backend="reference", **kwargs)
    x = np.random.default_rng(0).normal(size=(B, T, D)).astype("float32")
    kernel.build(x.shape)
    reference.build(x.shape)
    reference.set_weights(kernel.get_weights())
    got, c_got = kernel.forward(x, training=True, mask=MASK)
    want, c_want = reference.forward(x, training=True, mask=MASK)
    # the GRU with recurrent dropout runs the reference loop, the others their kernels
    assert kernel.backend_.split(",")[0::2] == ["kernel", "kernel"]
    for g, w in zip(_flat(got), _flat(want), strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    d_out = _nest_like(got, [np.ones_like(a) for a in _flat(got)])
    for g, w in zip(kernel.backward(c_got, d_out)[1], reference.backward(c_want, d_out)[1],
                    strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


# -- Keras 3 live ------------------------------------------------------------------------------
STACKS = [
    (["lstm", "gru"], {"return_sequences": True, "return_state": True}),
    (["gru_before", "lstm", "simple"], {"return_state": True, "go_backwards": True}),
    (["simple", "simple"], {"return_sequences": True, "zero_output_for_mask": True}),
    (["lstm", "lstm"], {"return_sequences": True, "return_state": True, "go_backwards": True}),
]


def _keras_pair(spec, kwargs, seed=0):
    """A Keras RNN over stacked cells (`spec`: names, or a function of keras.layers giving
    the cells), random weights, and lstmkit's from its serialized config, on the kernels."""
    K = _keras()
    cells = spec(K.layers) if callable(spec) else [MAKE[s](K.layers, 3 - k % 2)
                                                   for k, s in enumerate(spec)]
    k_layer = K.layers.RNN(cells, **kwargs)
    k_layer.build((B, T, D))
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=w.shape).astype("float32") * 0.6 for w in k_layer.weights]
    k_layer.set_weights(weights)
    l_layer = lk.layers.deserialize(K.layers.serialize(k_layer))
    l_layer.backend = "kernel"
    l_layer.build((B, T, D))
    l_layer.set_weights(weights)
    return K, k_layer, l_layer


@pytest.mark.parametrize("spec, kwargs", STACKS)
def test_stack_on_kernels_matches_keras_with_masks_and_initial_state(spec, kwargs):
    import torch

    K, k_layer, l_layer = _keras_pair(spec, kwargs)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(B, T, D)).astype("float32")
    nested = k_layer.get_initial_state(B)
    flat = [rng.normal(size=tuple(s.shape)).astype("float32") for s in _flat(nested)]
    k_states = _nest_like(nested, [torch.from_numpy(s) for s in flat])
    with quiet():
        want = _flat(to_numpy(k_layer(to_torch(x), mask=to_torch(MASK))))
        want_init = _flat(to_numpy(k_layer(to_torch(x), initial_state=k_states,
                                           mask=to_torch(MASK))))
    got = _flat(l_layer(x, mask=MASK))
    assert l_layer.backend_ == "kernel"
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, atol=1e-5, rtol=0)
    for g, w in zip(_flat(l_layer(x, initial_state=flat, mask=MASK)), want_init, strict=True):
        np.testing.assert_allclose(g, w, atol=1e-5, rtol=0)


@pytest.mark.parametrize("spec, kwargs", STACKS[:2])
def test_stack_gradients_on_kernels_match_keras_autograd(spec, kwargs):
    import torch

    K, k_layer, l_layer = _keras_pair(spec, kwargs, seed=3)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(B, T, D)).astype("float32")
    outs, cache = l_layer.forward(x, training=True, mask=MASK)
    assert l_layer.backend_ == "kernel"
    w_out = [rng.normal(size=o.shape).astype("float32") for o in _flat(outs)]
    xt = torch.tensor(x, requires_grad=True)
    with quiet():
        k_outs = _flat(k_layer(xt, mask=to_torch(MASK), training=True))
    sum((o * torch.from_numpy(w)).sum() for o, w in zip(k_outs, w_out)).backward()
    dx, d_weights = l_layer.backward(cache, _nest_like(outs, w_out))
    k_grads = [v.value.grad.numpy() for v in k_layer.trainable_weights]
    for g, w in zip(d_weights, k_grads, strict=True):
        np.testing.assert_allclose(g, w, atol=1e-4, rtol=0)
    np.testing.assert_allclose(dx, xt.grad.numpy(), atol=1e-4, rtol=0)


def test_stateful_stack_carries_every_cells_states_like_keras():
    _, k_layer, l_layer = _keras_pair(lambda m: [m.LSTMCell(3), m.GRUCell(2)],
                                      {"stateful": True, "return_sequences": True}, seed=6)
    rng = np.random.default_rng(6)
    for _ in range(2):
        x = rng.normal(size=(B, T, D)).astype("float32")
        with quiet():
            want = to_numpy(k_layer(to_torch(x), mask=to_torch(MASK)))
        np.testing.assert_allclose(l_layer(x, mask=MASK), want, atol=1e-5, rtol=0)
    assert [s.shape for s in l_layer.states] == [(B, 3), (B, 3), (B, 2)]


def test_stack_dropout_per_cell_matches_keras_with_the_same_masks(monkeypatch):
    _keras()
    from keras.src.layers.rnn import dropout_rnn_cell

    book = MaskBook(seed=7)
    monkeypatch.setattr(dropout_rnn_cell.backend.random, "dropout", book.keras_dropout)
    monkeypatch.setattr(lk_recurrent_cell, "dropout_mask", book.lstmkit_dropout)
    _, k_layer, l_layer = _keras_pair(
        lambda m: [m.LSTMCell(3, dropout=0.3), m.GRUCell(2, dropout=0.4),
                   m.SimpleRNNCell(2, dropout=0.2)],
        {"return_sequences": True, "return_state": True}, seed=8)
    rng = np.random.default_rng(8)
    x = rng.normal(size=(B, T, D)).astype("float32")
    with quiet():
        want = _flat(to_numpy(k_layer(to_torch(x), mask=to_torch(MASK), training=True)))
    got = _flat(l_layer(x, mask=MASK, training=True))
    assert l_layer.backend_ == "kernel"
    assert book.used == len(book.masks) == 3
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, atol=1e-5, rtol=0)
