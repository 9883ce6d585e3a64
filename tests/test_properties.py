"""Property tests: the reference against independent formulations, and layer identities.

Second formulations, written without lstmkit's code:
- a per-sample loop that runs only the valid steps of each row, gate by gate, with its own
  activation formulas, and fills masked positions by Keras's rule;
- torch.nn.LSTM run on each row's valid steps alone (per-sample truncation);
- torch autograd through a torch transcription of Keras's masked loop, for the gradients.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import lstmkit as lk
from lstmkit import activations, reference

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])



def _sigmoid(x):  # 1 / (1 + e^-x), written so that no exp overflows
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


# Activation formulas written out again, from Keras's documentation.
NAIVE = {
    "tanh": lambda x: np.sign(x) * (1.0 - np.exp(-2 * np.abs(x))) / (1.0 + np.exp(-2 * np.abs(x))),
    "sigmoid": _sigmoid,
    "hard_sigmoid": lambda x: np.minimum(np.maximum(x + 3.0, 0.0), 6.0) / 6.0,
    "relu": lambda x: x * (x > 0),
    "linear": lambda x: x,
    "softsign": lambda x: x / (np.abs(x) + 1.0),
    "softplus": lambda x: np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0.0),
    "elu": lambda x: np.where(x > 0, x, np.exp(np.minimum(x, 0.0)) - 1.0),
    "relu6": lambda x: np.minimum(x * (x > 0), 6.0),
    "hard_tanh": lambda x: np.maximum(-1.0, np.minimum(1.0, x)),
    "silu": lambda x: x * _sigmoid(x),
}


@st.composite
def problems(draw, max_t=7):
    B = draw(st.integers(1, 4))
    T = draw(st.integers(1, max_t))
    D = draw(st.integers(1, 5))
    H = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    mask_kind = draw(st.sampled_from(["none", "random", "right", "left", "empty_row"]))
    mask = None
    if mask_kind == "random":
        mask = rng.random((B, T)) < 0.6
    elif mask_kind in ("right", "left", "empty_row"):
        lengths = rng.integers(0 if mask_kind == "empty_row" else 1, T + 1, size=B)
        mask = np.arange(T)[None, :] < lengths[:, None]
        if mask_kind == "left":
            mask = mask[:, ::-1].copy()
        if mask_kind == "empty_row":
            mask[0] = False
    return {
        "x": rng.normal(size=(B, T, D)),
        "kernel": rng.normal(size=(D, 4 * H)) * 0.6,
        "recurrent_kernel": rng.normal(size=(H, 4 * H)) * 0.6,
        "bias": rng.normal(size=4 * H) * 0.3 if draw(st.booleans()) else None,
        "h0": rng.normal(size=(B, H)) if draw(st.booleans()) else None,
        "c0": rng.normal(size=(B, H)) if draw(st.booleans()) else None,
        "mask": mask,
        "go_backwards": draw(st.booleans()),
        "zero_output_for_mask": draw(st.booleans()),
    }


def naive_lstm(x, kernel, recurrent_kernel, bias, h0, c0, mask, go_backwards,
               zero_output_for_mask, act="tanh", rec_act="sigmoid"):
    """Row by row, step by step, gate by gate; masked steps are skipped, not blended."""
    phi, sigma = NAIVE[act], NAIVE[rec_act]
    B, T, _ = x.shape
    H = recurrent_kernel.shape[0]
    K = [kernel[:, k * H:(k + 1) * H] for k in range(4)]
    R = [recurrent_kernel[:, k * H:(k + 1) * H] for k in range(4)]
    b = [np.zeros(H) if bias is None else bias[k * H:(k + 1) * H] for k in range(4)]
    outputs = np.zeros((B, T, H))
    h_final, c_final = np.zeros((B, H)), np.zeros((B, H))
    for row in range(B):
        h = np.zeros(H) if h0 is None else h0[row].copy()
        c = np.zeros(H) if c0 is None else c0[row].copy()
        last = np.zeros(H)  # the carried output starts at zeros (TF / torch generic loop)
        times = list(range(T))[::-1] if go_backwards else list(range(T))
        for position, t in enumerate(times):
            if mask is not None and not mask[row, t]:
                outputs[row, position] = 0.0 if zero_output_for_mask else last
                continue
            xt = x[row, t]
            i = sigma(xt @ K[0] + h @ R[0] + b[0])
            f = sigma(xt @ K[1] + h @ R[1] + b[1])
            g = phi(xt @ K[2] + h @ R[2] + b[2])
            o = sigma(xt @ K[3] + h @ R[3] + b[3])
            c = f * c + i * g
            h = o * phi(c)
            outputs[row, position] = last = h
        h_final[row], c_final[row] = h, c
    return outputs, h_final, c_final


def run_reference(p, act="tanh", rec_act="sigmoid"):
    return reference.lstm_sequence(
        p["x"], p["kernel"], p["recurrent_kernel"], p["bias"], p["h0"], p["c0"],
        mask=p["mask"], go_backwards=p["go_backwards"], activation=activations.get(act),
        recurrent_activation=activations.get(rec_act),
        zero_output_for_mask=p["zero_output_for_mask"])


@SETTINGS
@given(problems(), st.sampled_from(sorted(NAIVE)), st.sampled_from(sorted(NAIVE)))
def test_reference_equals_per_sample_loop(p, act, rec_act):
    # Unbounded gates (linear, relu, elu, ...) can blow the state up: compare finite runs.
    with np.errstate(over="ignore", invalid="ignore"):
        seq = run_reference(p, act, rec_act)
        outputs, h, c = naive_lstm(**p, act=act, rec_act=rec_act)
    assume(np.isfinite(seq.outputs).all() and np.isfinite(seq.c).all())
    np.testing.assert_allclose(seq.outputs, outputs, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(seq.h, h, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(seq.c, c, rtol=1e-9, atol=1e-9)


@SETTINGS
@given(problems())
def test_reference_equals_torch_lstm_on_each_rows_valid_steps(p):
    torch = pytest.importorskip("torch")
    seq = run_reference(p)
    B, T, D = p["x"].shape
    H = p["recurrent_kernel"].shape[0]
    net = torch.nn.LSTM(D, H, batch_first=True).double()
    with torch.no_grad():  # torch's gate order is Keras's (i, f, g, o); weights transposed
        net.weight_ih_l0.copy_(torch.from_numpy(p["kernel"].T.copy()))
        net.weight_hh_l0.copy_(torch.from_numpy(p["recurrent_kernel"].T.copy()))
        net.bias_ih_l0.copy_(torch.from_numpy(
            np.zeros(4 * H) if p["bias"] is None else p["bias"]))
        net.bias_hh_l0.zero_()
    order = np.arange(T)[::-1] if p["go_backwards"] else np.arange(T)
    for row in range(B):
        valid = order if p["mask"] is None else order[p["mask"][row, order]]
        h0 = np.zeros(H) if p["h0"] is None else p["h0"][row]
        c0 = np.zeros(H) if p["c0"] is None else p["c0"][row]
        if len(valid) == 0:  # nothing ran: the states are the initial ones
            np.testing.assert_allclose(seq.h[row], h0, atol=1e-12)
            np.testing.assert_allclose(seq.c[row], c0, atol=1e-12)
            continue
        x_row = torch.from_numpy(p["x"][row, valid][None].copy())
        with torch.no_grad():
            y, (h, c) = net(x_row, (torch.from_numpy(h0[None, None].copy()),
                                    torch.from_numpy(c0[None, None].copy())))
        np.testing.assert_allclose(seq.h[row], h[0, 0].numpy(), atol=1e-10)
        np.testing.assert_allclose(seq.c[row], c[0, 0].numpy(), atol=1e-10)
        # the outputs at the valid positions (processing order) are torch's outputs
        positions = np.flatnonzero(np.isin(order, valid))
        np.testing.assert_allclose(seq.outputs[row, positions], y[0].numpy(), atol=1e-10)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(max_t=5))
def test_reference_backward_equals_torch_autograd(p):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(int(abs(p["x"].sum()) * 1e6) % 2**32)
    B, T, _D = p["x"].shape
    H = p["recurrent_kernel"].shape[0]
    h0 = p["h0"] if p["h0"] is not None else np.zeros((B, H))
    c0 = p["c0"] if p["c0"] is not None else np.zeros((B, H))
    bias = p["bias"] if p["bias"] is not None else rng.normal(size=4 * H)
    w_out, w_h, w_c = (rng.normal(size=s) for s in ((B, T, H), (B, H), (B, H)))
    seq = reference.lstm_sequence(p["x"], p["kernel"], p["recurrent_kernel"], bias, h0, c0,
                                  mask=p["mask"], go_backwards=p["go_backwards"],
                                  zero_output_for_mask=p["zero_output_for_mask"],
                                  keep_steps=True)
    grads = reference.lstm_sequence_backward(seq, w_out, w_h, w_c)

    leaves = [torch.tensor(a, requires_grad=True)
              for a in (p["x"], p["kernel"], p["recurrent_kernel"], bias, h0, c0)]
    x, K, R, b, h, c = leaves
    mask = torch.ones(B, T, dtype=torch.bool) if p["mask"] is None else torch.from_numpy(
        p["mask"])
    times = range(T - 1, -1, -1) if p["go_backwards"] else range(T)
    prev = torch.zeros(B, H, dtype=torch.float64)
    outs = []
    for t in times:  # Keras's rnn(): the step runs, `where` keeps or discards it
        z = x[:, t] @ K + h @ R + b
        zi, zf, zg, zo = z.split(H, dim=1)
        c_new = torch.sigmoid(zf) * c + torch.sigmoid(zi) * torch.tanh(zg)
        h_new = torch.sigmoid(zo) * torch.tanh(c_new)
        m = mask[:, t, None]
        out = torch.where(m, h_new, torch.zeros_like(h_new) if p["zero_output_for_mask"]
                          else prev)
        h, c = torch.where(m, h_new, h), torch.where(m, c_new, c)
        outs.append(out)
        prev = out
    loss = ((torch.stack(outs, 1) * torch.from_numpy(w_out)).sum()
            + (h * torch.from_numpy(w_h)).sum() + (c * torch.from_numpy(w_c)).sum())
    loss.backward()
    np.testing.assert_allclose(seq.outputs, torch.stack(outs, 1).detach().numpy(), atol=1e-12)
    for name, got, leaf in zip(("x", "kernel", "recurrent_kernel", "bias", "h0", "c0"),
                               grads, leaves):
        np.testing.assert_allclose(got, leaf.grad.numpy(), rtol=1e-9, atol=1e-10,
                                   err_msg=name)


# -- layer-level identities -------------------------------------------------------------------

@st.composite
def layer_inputs(draw):
    B, T = draw(st.integers(1, 4)), draw(st.integers(1, 6))
    D, H = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(B, T, D))
    mask = rng.random((B, T)) < 0.7 if draw(st.booleans()) else None
    return x, mask, H, rng


def _weights(layer, rng):
    return [rng.normal(size=w.shape) * 0.5 for w in layer.get_weights()]


@SETTINGS
@given(layer_inputs(), st.booleans(), st.booleans())
def test_go_backwards_equals_running_the_reversed_sequence(data, return_sequences,
                                                           zero_output):
    x, mask, H, rng = data
    kw = {"return_sequences": return_sequences, "return_state": True, "dtype": "float64",
              "zero_output_for_mask": zero_output}
    back = lk.layers.LSTM(H, go_backwards=True, **kw)
    back.build(x.shape)
    back.set_weights(_weights(back, rng))
    fwd = lk.layers.LSTM(H, **kw)
    fwd.build(x.shape)
    fwd.set_weights(back.get_weights())
    rev_mask = None if mask is None else mask[:, ::-1]
    for got, want in zip(back(x, mask=mask), fwd(x[:, ::-1], mask=rev_mask)):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-13)


@SETTINGS
@given(layer_inputs(), st.booleans(), st.booleans(),
       st.sampled_from(["concat", "sum", "mul", "ave", None]))
def test_bidirectional_halves_equal_separately_run_layers(data, return_sequences,
                                                          return_state, merge_mode):
    x, mask, H, rng = data
    kw = {"return_sequences": return_sequences, "return_state": True, "dtype": "float64"}
    bi = lk.layers.Bidirectional(lk.layers.LSTM(H, **{**kw, "return_state": return_state}),
                                 merge_mode=merge_mode, dtype="float64")
    bi.build(x.shape)
    bi.set_weights(_weights(bi, rng))
    fwd = lk.layers.LSTM(H, zero_output_for_mask=return_sequences, **kw)
    bwd = lk.layers.LSTM(H, go_backwards=True, zero_output_for_mask=return_sequences, **kw)
    for layer, weights in ((fwd, bi.get_weights()[:3]), (bwd, bi.get_weights()[3:])):
        layer.build(x.shape)
        layer.set_weights(weights)
    y_f, h_f, c_f = fwd(x, mask=mask)
    y_b, h_b, c_b = bwd(x, mask=mask)
    if return_sequences:
        y_b = y_b[:, ::-1]  # back into input order
    merged = {"concat": lambda: [np.concatenate([y_f, y_b], -1)], "sum": lambda: [y_f + y_b],
              "mul": lambda: [y_f * y_b], "ave": lambda: [(y_f + y_b) / 2],
              None: lambda: [y_f, y_b]}[merge_mode]()
    want = merged + ([h_f, c_f, h_b, c_b] if return_state else [])
    got = bi(x, mask=mask)
    got = list(got) if isinstance(got, tuple) else [got]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-13)
    if return_sequences and mask is not None:  # masked steps are zeros in both directions
        assert not np.any(np.concatenate([y_f, y_b], -1)[~mask])


@SETTINGS
@given(layer_inputs(), st.integers(1, 3))
def test_trailing_masked_steps_change_no_state(data, extra):
    x, mask, H, rng = data
    layer = lk.layers.LSTM(H, return_sequences=True, return_state=True, dtype="float64")
    layer.build(x.shape)
    layer.set_weights(_weights(layer, rng))
    B, T, D = x.shape
    mask = np.ones((B, T), bool) if mask is None else mask
    x_long = np.concatenate([x, rng.normal(size=(B, extra, D))], axis=1)
    mask_long = np.concatenate([mask, np.zeros((B, extra), bool)], axis=1)
    seq, h, c = layer(x, mask=mask)
    seq_long, h_long, c_long = layer(x_long, mask=mask_long)
    # (not bit-equal: the kernels' one GEMM over all steps rounds by its shape)
    close = {"rtol": 0, "atol": 1e-14}
    np.testing.assert_allclose(h_long, h, **close)
    np.testing.assert_allclose(c_long, c, **close)
    np.testing.assert_allclose(seq_long[:, :T], seq, **close)
    # masked steps repeat the previous output exactly
    np.testing.assert_array_equal(seq_long[:, T:], np.repeat(seq_long[:, T - 1:T], extra, 1))
    # h is the last output; the last output of return_sequences=False is h
    np.testing.assert_array_equal(seq[:, -1], h)


@SETTINGS
@given(layer_inputs())
def test_float32_layer_tracks_float64_reference(data):
    x, mask, H, rng = data
    layer = lk.layers.LSTM(H, return_sequences=True, return_state=True)
    layer.build(x.shape)
    layer.set_weights(_weights(layer, rng))
    got = layer(x.astype("float32"), mask=mask)
    want = reference.lstm_sequence(x.astype("float32").astype("float64"),
                                   *[w.astype("float64") for w in layer.get_weights()],
                                   mask=mask)
    for g, w in zip(got, (want.outputs, want.h, want.c)):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, w, rtol=0, atol=2e-6)
