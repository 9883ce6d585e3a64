"""GRU, SimpleRNN, RNN(cell), StackedRNNCells and Bidirectional over them, against Keras 3
(torch backend) live: forward within 1e-5, gradients (torch autograd through Keras's layer)
within 1e-4, dropout with the same masks, and `deserialize(keras.layers.serialize(...))`."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import lstmkit as lk
from _oracle import keras as _keras
from _oracle import quiet, to_numpy, to_torch
from lstmkit.layers import recurrent_cell as lk_recurrent_cell

KERAS_NUMPY2_WARNING = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
pytestmark = KERAS_NUMPY2_WARNING

B, T, D = 3, 5, 4
MASK = np.array([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [0, 1, 1, 0, 1]], bool)


def _cells(K, spec):
    """Keras cells from a spec: "gru", "gru_before" (reset_after=False), "simple", "lstm"."""
    make = {"gru": lambda: K.layers.GRUCell(3), "simple": lambda: K.layers.SimpleRNNCell(2),
            "gru_before": lambda: K.layers.GRUCell(3, reset_after=False),
            "lstm": lambda: K.layers.LSTMCell(2)}
    return [make[s]() for s in spec]


def _keras_layer(K, kind, kwargs):
    """A Keras layer from the case's name and kwargs."""
    if kind == "GRU":
        return K.layers.GRU(3, **kwargs)
    if kind == "SimpleRNN":
        return K.layers.SimpleRNN(3, **kwargs)
    if kind.startswith("RNN:"):
        cells = _cells(K, kind[4:].split("+"))
        return K.layers.RNN(cells if len(cells) > 1 else cells[0], **kwargs)
    raise AssertionError(kind)


CASES = [
    ("GRU", {}),
    ("GRU", {"reset_after": False}),
    ("GRU", {"use_bias": False, "return_sequences": True}),
    ("GRU", {"reset_after": False, "activation": "relu", "recurrent_activation": "hard_sigmoid",
             "return_state": True}),
    ("GRU", {"return_sequences": True, "return_state": True, "go_backwards": True}),
    ("GRU", {"return_sequences": True, "zero_output_for_mask": True}),
    ("SimpleRNN", {}),
    ("SimpleRNN", {"return_sequences": True, "return_state": True, "go_backwards": True}),
    ("SimpleRNN", {"activation": None, "use_bias": False}),
    ("RNN:gru", {"return_state": True}),
    ("RNN:simple", {"return_sequences": True}),
    ("RNN:lstm", {"return_sequences": True, "return_state": True}),
    ("RNN:lstm+gru_before+simple", {"return_sequences": True, "return_state": True}),
    ("RNN:gru+lstm", {"go_backwards": True, "return_state": True}),
    ("RNN:gru", {"unroll": True, "return_sequences": True}),
]
IDS = [f"{k}-{'-'.join(f'{a}={v}' for a, v in kw.items())}" for k, kw in CASES]
# Bidirectional over each case (Keras refuses to wrap a go_backwards layer, and Keras 3.15 on
# torch fails on Bidirectional(RNN(unroll=True)) with a mask: "tuple has no attribute shape")
BI_CASES = [(k, kw, bi) for k, kw in CASES for bi in (False, True)
            if not (bi and (kw.get("go_backwards") or kw.get("unroll")))]
BI_IDS = [f"{'Bidirectional-' if bi else ''}{i}" for (k, kw, bi), i in
          zip(BI_CASES, [i for (k, kw), i in zip(CASES, IDS) for bi in (False, True)
                         if not (bi and (kw.get("go_backwards") or kw.get("unroll")))])]


def _pair(kind, kwargs, bidirectional=False, seed=0, backend=None):
    """The Keras layer (random weights) and lstmkit's from Keras's serialized config;
    `backend` "reference" or "auto" (the fused kernel where it runs) for lstmkit's."""
    K = _keras()
    k_layer = _keras_layer(K, kind, kwargs)
    if bidirectional:
        k_layer = K.layers.Bidirectional(k_layer)
    k_layer.build((B, T, D))
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=w.shape).astype("float32") * 0.6 for w in k_layer.weights]
    k_layer.set_weights(weights)
    l_layer = lk.layers.deserialize(K.layers.serialize(k_layer))
    l_layer.build((B, T, D))
    l_layer.set_weights(weights)
    for sub in (l_layer, getattr(l_layer, "forward_layer", None),
                getattr(l_layer, "backward_layer", None)):
        if sub is not None and backend is not None:
            sub.backend = backend
    return k_layer, l_layer


def _flat(x):
    if isinstance(x, (list, tuple)):
        return [a for v in x for a in _flat(v)]
    return [x]


def _initial_state(k_layer, rng):
    return [rng.normal(size=tuple(s.shape)).astype("float32")
            for s in _flat(k_layer.get_initial_state(B))] if hasattr(k_layer, "cell") else None


@pytest.mark.parametrize("backend", ["reference", "auto"])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("kind, kwargs, bidirectional", BI_CASES, ids=BI_IDS)
def test_forward_matches_keras(kind, kwargs, masked, bidirectional, backend):
    k_layer, l_layer = _pair(kind, kwargs, bidirectional, backend=backend)
    x = np.random.default_rng(1).normal(size=(B, T, D)).astype("float32")
    mask = MASK if masked else None
    with quiet():
        want = k_layer(to_torch(x), mask=None if mask is None else to_torch(mask))
    got = l_layer(x, mask=mask)
    want, got = _flat(to_numpy(want)), _flat(got)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind, kwargs", CASES[:3] + CASES[6:7] + CASES[11:13],
                         ids=IDS[:3] + IDS[6:7] + IDS[11:13])
def test_initial_state_matches_keras(kind, kwargs):
    import torch

    k_layer, l_layer = _pair(kind, kwargs)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(B, T, D)).astype("float32")
    states = _initial_state(k_layer, rng)
    nested = k_layer.get_initial_state(B)
    if isinstance(nested, list) and any(isinstance(s, list) for s in nested):  # a stack
        it = iter(states)
        k_states = [[torch.from_numpy(next(it)) for _ in s] if isinstance(s, list)
                    else torch.from_numpy(next(it)) for s in nested]
    else:
        k_states = [torch.from_numpy(s) for s in states]
    with quiet():
        want = _flat(to_numpy(k_layer(to_torch(x), initial_state=k_states, mask=to_torch(MASK))))
    got = _flat(l_layer(x, initial_state=states, mask=MASK))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-5, rtol=0)


def _keras_grads(k_layer, x, mask, w_out):
    import torch

    xt = torch.tensor(x, requires_grad=True)
    with quiet():
        out = k_layer(xt, mask=None if mask is None else to_torch(mask), training=True)
    outs = _flat(out)
    loss = sum((o * torch.from_numpy(w)).sum() for o, w in zip(outs, w_out))
    loss.backward()
    return [v.value.grad.numpy() for v in k_layer.trainable_weights], xt.grad.numpy(), \
        [o.detach().numpy() for o in outs]


@pytest.mark.parametrize("backend", ["reference", "auto"])
@pytest.mark.parametrize("kind, kwargs, bidirectional", BI_CASES, ids=BI_IDS)
def test_gradients_match_keras_autograd(kind, kwargs, bidirectional, backend):
    k_layer, l_layer = _pair(kind, kwargs, bidirectional, seed=3, backend=backend)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(B, T, D)).astype("float32")
    outs, cache = l_layer.forward(x, training=True, mask=MASK)
    w_out = [rng.normal(size=o.shape).astype("float32") for o in _flat(outs)]
    k_grads, k_dx, k_outs = _keras_grads(k_layer, x, MASK, w_out)
    d_outputs = w_out[0] if len(w_out) == 1 else _unflat(outs, w_out)
    dx, d_weights = l_layer.backward(cache, d_outputs)
    assert len(d_weights) == len(k_grads)
    for g, w, var in zip(d_weights, k_grads, l_layer.trainable_weights):
        np.testing.assert_allclose(g, w, atol=1e-4, rtol=0, err_msg=var.path)
    np.testing.assert_allclose(dx, k_dx, atol=1e-4, rtol=0)


def _unflat(structure, flat):
    """`flat` arranged like `structure` (a tuple of arrays and lists of arrays)."""
    it = iter(flat)

    def build(s):
        if isinstance(s, (list, tuple)):
            return type(s)(build(v) for v in s)
        return next(it)

    return build(structure)


class MaskBook:
    """The same dropout masks for Keras and lstmkit, in draw order (see test_parity_keras)."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.masks, self.used = [], 0

    def keras_dropout(self, inputs, rate, noise_shape=None, seed=None):
        import torch

        mask = ((self.rng.random(tuple(inputs.shape)) >= rate) / (1.0 - rate)).astype("float32")
        self.masks.append(mask)
        return torch.as_tensor(mask, dtype=inputs.dtype) * inputs

    def lstmkit_dropout(self, rng, shape, rate, dtype):
        n = shape[0] if len(shape) == 3 else 1
        taken = self.masks[self.used:self.used + n]
        self.used += n
        mask = np.stack(taken) if len(shape) == 3 else taken[0]
        assert mask.shape == tuple(shape)
        return mask.astype(dtype)


@pytest.mark.parametrize("kind, kwargs", [
    ("GRU", {"dropout": 0.4, "return_sequences": True}),  # one input mask for z, r, h
    # implementation=1: 3 input masks. (use_cudnn=False: Keras's own fused-path attempt
    # crashes on the list of masks; implementation is not in Keras's config, so it is set
    # on lstmkit's cell below.)
    ("GRU", {"dropout": 0.4, "implementation": 1, "use_cudnn": False, "return_state": True}),
    ("GRU", {"dropout": 0.3, "recurrent_dropout": 0.3, "return_sequences": True}),  # 3 + 3
    ("GRU", {"dropout": 0.3, "recurrent_dropout": 0.2, "reset_after": False,
             "go_backwards": True, "return_state": True}),
    ("SimpleRNN", {"dropout": 0.3, "recurrent_dropout": 0.4, "return_sequences": True}),
])
@pytest.mark.parametrize("backend", ["reference", "auto"])
def test_dropout_matches_keras_with_the_same_masks(monkeypatch, kind, kwargs, backend):
    _keras()
    from keras.src.layers.rnn import dropout_rnn_cell

    book = MaskBook(seed=7)
    monkeypatch.setattr(dropout_rnn_cell.backend.random, "dropout", book.keras_dropout)
    monkeypatch.setattr(lk_recurrent_cell, "dropout_mask", book.lstmkit_dropout)
    k_layer, l_layer = _pair(kind, kwargs, backend=backend)
    if "implementation" in kwargs:
        l_layer.cell.implementation = kwargs["implementation"]
    x = np.random.default_rng(5).normal(size=(B, T, D)).astype("float32")
    # Keras draws the masks even when not training, once per call; only training uses them
    with quiet():
        want = _flat(to_numpy(k_layer(to_torch(x), mask=to_torch(MASK), training=True)))
    got = _flat(l_layer(x, mask=MASK, training=True))
    assert book.used == len(book.masks), (book.used, len(book.masks))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind, kwargs", CASES, ids=IDS)
def test_config_round_trips_through_keras(kind, kwargs):
    K = _keras()
    k_layer, l_layer = _pair(kind, kwargs)
    ours = lk.layers.serialize(l_layer)
    theirs = K.layers.serialize(k_layer)
    again = K.layers.deserialize(copy.deepcopy(ours))  # Keras rebuilds our entry
    assert type(again).__name__ == type(k_layer).__name__
    _same_config(ours["config"], theirs["config"])


def _same_config(a, b):
    """Equal configs, ignoring layer names and Keras's `shared_object_id` bookkeeping."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = (set(a) | set(b)) - {"name", "shared_object_id", "build_config"}
        for k in keys:
            assert k in a and k in b, k
            _same_config(a[k], b[k])
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same_config(x, y)
    else:
        assert a == b, (a, b)


def test_stateful_gru_carries_states_like_keras():
    K = _keras()
    k_layer = K.layers.GRU(3, stateful=True, return_sequences=True)
    k_layer.build((B, T, D))
    rng = np.random.default_rng(6)
    weights = [rng.normal(size=w.shape).astype("float32") * 0.5 for w in k_layer.weights]
    k_layer.set_weights(weights)
    l_layer = lk.layers.GRU.from_config(k_layer.get_config())
    l_layer.build((B, T, D))
    l_layer.set_weights(weights)
    for _ in range(2):
        x = rng.normal(size=(B, T, D)).astype("float32")
        with quiet():
            want = to_numpy(k_layer(to_torch(x)))
        np.testing.assert_allclose(l_layer(x), want, atol=1e-5, rtol=0)
    l_layer.reset_state()
    assert not np.any(l_layer.states[0])


def test_errors_name_what_was_expected():
    x = np.zeros((2, 3, 4), "float32")
    with pytest.raises(ValueError, match=r"initial_state as a list of 1 arrays \[h\]"):
        lk.layers.GRU(3)(x, initial_state=[np.zeros((2, 3)), np.zeros((2, 3))])
    with pytest.raises(ValueError, match="fused kernel computes activation='tanh'"):
        lk.layers.GRU(3, use_cudnn=True, activation="relu")(x)
    layer = lk.layers.GRU(3, use_cudnn=True)
    layer(x)
    assert layer.backend_ == "kernel"
    layer = lk.layers.SimpleRNN(3, recurrent_dropout=0.5)  # the kernel has no recurrent dropout
    layer(x, training=True)
    assert layer.backend_ == "reference"
    with pytest.raises(ValueError, match="Received an invalid value for argument `units`"):
        lk.layers.GRUCell(0)
    with pytest.raises(ValueError, match="lstmkit RNN cell"):
        lk.layers.RNN(lk.layers.Dense(3))
    stack = lk.layers.RNN([lk.layers.GRUCell(2), lk.layers.GRUCell(2)], return_state=True)
    with pytest.raises(ValueError, match="not supported in functional models yet"):
        stack(lk.Input((3, 4)))
