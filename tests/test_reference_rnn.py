"""The GRU, SimpleRNN and generic-loop references: gradients against finite differences,
and the LSTM step inside the generic loop against `reference.lstm_sequence`."""

import numpy as np
import pytest

from lstmkit import reference as ref
from lstmkit import reference_rnn as rr

B, T, D, H = 3, 4, 3, 2


def _weights(rng, kind, reset_after=True, use_bias=True, d=D, h=H):
    g = {"gru": 3, "simple": 1, "lstm": 4}[kind]
    K = rng.normal(size=(d, g * h)) * 0.7
    R = rng.normal(size=(h, g * h)) * 0.7
    b = None
    if use_bias:
        b = rng.normal(size=(2, g * h) if kind == "gru" and reset_after else (g * h,)) * 0.5
    return [K, R] + ([] if b is None else [b])


def _step(kind, weights, reset_after, masks):
    dm, rm = masks
    K, R, *b = weights
    b = b[0] if b else None
    if kind == "gru":
        return rr.gru_step_fns(K, R, b, reset_after, dropout_mask=dm, recurrent_dropout_mask=rm)
    if kind == "simple":
        return rr.simple_rnn_step_fns(K, R, b, dropout_mask=dm, recurrent_dropout_mask=rm)
    return rr.lstm_step_fns(K, R, b, dropout_mask=dm, recurrent_dropout_mask=rm)


def _masks(rng, kind, per_gate, d=D, h=H):
    if per_gate is None:
        return None, None
    n = {"gru": (3,), "lstm": (4,), "simple": ()}[kind] if per_gate else ()
    dm = (rng.random(n + (B, d)) > 0.3) / 0.7
    rm = (rng.random(n + (B, h)) > 0.3) / 0.7 if per_gate or kind == "simple" else None
    return dm, rm


def _check_grads(make_step, weights, x, states, mask, go_backwards, zofm, rng):
    seq = rr.rnn_sequence(make_step(weights), x, states, mask, go_backwards, zofm,
                          keep_steps=True)
    w_out = rng.normal(size=seq.outputs.shape)
    w_st = [rng.normal(size=s.shape) for s in seq.states]

    def loss(weights, x, states):
        s = rr.rnn_sequence(make_step(weights), x, states, mask, go_backwards, zofm)
        return float((s.outputs * w_out).sum() + sum((a * w).sum()
                                                     for a, w in zip(s.states, w_st)))

    dx, d_states, d_w = rr.rnn_sequence_backward(make_step(weights), seq, w_out, w_st)
    eps = 1e-6

    def numeric(arrays, k):
        a = arrays[k]
        out = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            old = a[idx]
            a[idx] = old + eps
            up = loss(*args)
            a[idx] = old - eps
            down = loss(*args)
            a[idx] = old
            out[idx] = (up - down) / (2 * eps)
        return out

    args = (weights, x, states)
    for k, g in enumerate(d_w):
        np.testing.assert_allclose(g, numeric(weights, k), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(dx, numeric([x], 0), rtol=1e-5, atol=1e-7)
    for k, g in enumerate(d_states):
        np.testing.assert_allclose(g, numeric(states, k), rtol=1e-5, atol=1e-7)


# dropout: None = no masks, False = one mask shared by the gates, True = one mask per gate
@pytest.mark.parametrize("kind,reset_after,dropout", [
    (kind, ra, dp) for kind, ra in (("gru", True), ("gru", False), ("simple", True),
                                    ("lstm", True))
    for dp in ((None, False) if kind == "simple" else (None, False, True))])
@pytest.mark.parametrize("masked,go_backwards,zofm", [(False, False, False), (True, True, False),
                                                      (True, False, True)])
@pytest.mark.parametrize("use_bias", [True, False])
def test_gradients_match_finite_differences(kind, reset_after, masked, go_backwards, zofm,
                                            dropout, use_bias):
    rng = np.random.default_rng(17)
    weights = _weights(rng, kind, reset_after, use_bias)
    masks = _masks(rng, kind, dropout)
    x = rng.normal(size=(B, T, D))
    states = [rng.normal(size=(B, H)) for _ in range(2 if kind == "lstm" else 1)]
    mask = rng.random((B, T)) > 0.4 if masked else None
    _check_grads(lambda w: _step(kind, w, reset_after, masks), weights, x, states, mask,
                 go_backwards, zofm, rng)


def test_stacked_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    w1, w2 = _weights(rng, "lstm"), _weights(rng, "gru", False, d=H, h=3)
    w3 = _weights(rng, "simple", d=3, h=2)
    masks = _masks(rng, "gru", True, d=H, h=3)

    def make(w):
        return rr.stacked_step_fns([_step("lstm", w[:3], True, (None, None)),
                                    _step("gru", w[3:6], False, masks),
                                    _step("simple", w[6:], True, (None, None))], [2, 1, 1])

    x = rng.normal(size=(B, T, D))
    states = [rng.normal(size=(B, n)) for n in (H, H, 3, 2)]
    _check_grads(make, w1 + w2 + w3, x, states, rng.random((B, T)) > 0.3, True, False, rng)


def test_lstm_step_in_the_generic_loop_is_reference_lstm():
    rng = np.random.default_rng(1)
    K, R, b = _weights(rng, "lstm")
    x = rng.normal(size=(B, T, D))
    mask = rng.random((B, T)) > 0.3
    want = ref.lstm_sequence(x, K, R, b, mask=mask, go_backwards=True)
    got = rr.rnn_sequence(rr.lstm_step_fns(K, R, b), x, [np.zeros((B, H))] * 2, mask, True)
    np.testing.assert_allclose(got.outputs, want.outputs, rtol=1e-12)
    np.testing.assert_allclose(got.states[1], want.c, rtol=1e-12)


def test_gru_step_formulas():
    """reset_after=False and True written out for one unit of one row."""
    rng = np.random.default_rng(2)
    x, h = rng.normal(size=(1, 2)), rng.normal(size=(1, 1))
    K, R = rng.normal(size=(2, 3)), rng.normal(size=(1, 3))
    b = rng.normal(size=(2, 3))
    sig = ref.SIGMOID
    z = sig(x @ K[:, :1] + b[0, 0] + h @ R[:, :1] + b[1, 0])
    r = sig(x @ K[:, 1:2] + b[0, 1] + h @ R[:, 1:2] + b[1, 1])
    hh = np.tanh(x @ K[:, 2:] + b[0, 2] + r * (h @ R[:, 2:] + b[1, 2]))
    s = rr._gru.gru_step(x, h, K, R, b, reset_after=True)
    np.testing.assert_allclose(s.h, z * h + (1 - z) * hh, rtol=1e-12)
    b1 = b[0]
    z = sig(x @ K[:, :1] + b1[0] + h @ R[:, :1])
    r = sig(x @ K[:, 1:2] + b1[1] + h @ R[:, 1:2])
    hh = np.tanh(x @ K[:, 2:] + b1[2] + (r * h) @ R[:, 2:])
    s = rr._gru.gru_step(x, h, K, R, b1, reset_after=False)
    np.testing.assert_allclose(s.h, z * h + (1 - z) * hh, rtol=1e-12)
