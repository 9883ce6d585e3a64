"""The reference: backward against finite differences; forward against the step math."""

import numpy as np
import pytest

from lstmkit import activations, reference

B, T, D, H = 3, 5, 4, 3


def _problem(rng, per_gate=False, dropout=False):
    x = rng.normal(size=(B, T, D))
    K = rng.normal(size=(D, 4 * H)) * 0.5
    R = rng.normal(size=(H, 4 * H)) * 0.5
    b = rng.normal(size=4 * H) * 0.5
    h0, c0 = rng.normal(size=(B, H)), rng.normal(size=(B, H))
    dm = rm = None
    if dropout:
        lead = (4,) if per_gate else ()
        dm = (rng.random(lead + (B, D)) > 0.3) / 0.7
        rm = (rng.random(lead + (B, H)) > 0.3) / 0.7
    return x, K, R, b, h0, c0, dm, rm


def _fd_check(mask, go_backwards, zero_output, per_gate, dropout, act, rec_act, seed):
    rng = np.random.default_rng(seed)
    x, K, R, b, h0, c0, dm, rm = _problem(rng, per_gate, dropout)
    W, wh, wc = rng.normal(size=(B, T, H)), rng.normal(size=(B, H)), rng.normal(size=(B, H))
    kw = dict(mask=mask, go_backwards=go_backwards, zero_output_for_mask=zero_output,
              dropout_mask=dm, recurrent_dropout_mask=rm, activation=activations.get(act),
              recurrent_activation=activations.get(rec_act))

    def loss(*args):
        s = reference.lstm_sequence(*args, **kw)
        return (s.outputs * W).sum() + (s.h * wh).sum() + (s.c * wc).sum()

    args = [x, K, R, b, h0, c0]
    seq = reference.lstm_sequence(*args, keep_steps=True, **kw)
    grads = reference.lstm_sequence_backward(seq, W, wh, wc)
    for arr, grad in zip(args, grads):
        num = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + 1e-6
            plus = loss(*args)
            arr[idx] = old - 1e-6
            minus = loss(*args)
            arr[idx] = old
            num[idx] = (plus - minus) / 2e-6
        np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-6)


MASK = np.array([[1, 1, 1, 1, 1], [0, 1, 0, 1, 1], [1, 1, 1, 0, 0]], bool)


@pytest.mark.parametrize(
    "mask, go_backwards, zero_output, per_gate, dropout, act, rec_act",
    [
        (None, False, False, False, False, "tanh", "sigmoid"),
        (MASK, False, False, False, False, "tanh", "sigmoid"),
        (MASK, True, True, False, False, "tanh", "sigmoid"),
        (MASK, True, False, False, True, "tanh", "sigmoid"),
        (MASK, False, False, True, True, "softsign", "hard_sigmoid"),
        (None, True, False, False, False, "relu", "sigmoid"),
    ],
)
def test_backward_matches_finite_differences(mask, go_backwards, zero_output, per_gate,
                                             dropout, act, rec_act):
    _fd_check(mask, go_backwards, zero_output, per_gate, dropout, act, rec_act, seed=0)


def test_step_math_by_hand():
    rng = np.random.default_rng(1)
    x, K, R, b, h0, c0, _, _ = _problem(rng)
    step = reference.lstm_step(x[:, 0], h0, c0, K, R, b)
    z = x[:, 0] @ K + h0 @ R + b
    sig = 1 / (1 + np.exp(-z))
    i, f, o = sig[:, :H], sig[:, H:2 * H], sig[:, 3 * H:]
    c = f * c0 + i * np.tanh(z[:, 2 * H:3 * H])
    np.testing.assert_allclose(step.c, c, rtol=1e-12)
    np.testing.assert_allclose(step.h, o * np.tanh(c), rtol=1e-12)


def test_masked_steps_freeze_state_and_repeat_output():
    rng = np.random.default_rng(2)
    x, K, R, b, *_ = _problem(rng)
    mask = np.array([[1, 1, 0, 0, 1]] * B, bool)
    seq = reference.lstm_sequence(x, K, R, b, mask=mask)
    np.testing.assert_array_equal(seq.outputs[:, 2], seq.outputs[:, 1])
    np.testing.assert_array_equal(seq.outputs[:, 3], seq.outputs[:, 1])
    short = reference.lstm_sequence(x[:, [0, 1, 4]], K, R, b)
    np.testing.assert_allclose(seq.h, short.h, rtol=1e-12)
    np.testing.assert_allclose(seq.c, short.c, rtol=1e-12)
    zeros = reference.lstm_sequence(x, K, R, b, mask=mask, zero_output_for_mask=True)
    assert not zeros.outputs[:, 2:4].any()
