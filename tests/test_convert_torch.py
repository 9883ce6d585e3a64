"""lstmkit <-> PyTorch: round trips over random configurations, nn.LSTM import, errors.

Oracles: lstmkit's own layers (themselves tested against Keras) for `to_torch`, and
`torch.nn.LSTM` itself for `from_torch`.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

import lstmkit as lk
from lstmkit.convert import _gates

ACTS = ["tanh", "sigmoid", "relu", "hard_sigmoid", "linear", "softsign", "elu", "gelu", "silu"]
# Gates stay bounded: unbounded gates (relu, gelu, ...) overflow to inf within a few steps.
GATE_ACTS = ["sigmoid", "hard_sigmoid", "tanh", "softsign"]


def _mask(draw, B, T, kind):
    if kind == "none":
        return None
    if kind == "right":
        lens = draw(st.lists(st.integers(0, T), min_size=B, max_size=B))
        return np.arange(T)[None, :] < np.array(lens)[:, None]
    bits = draw(st.lists(st.booleans(), min_size=B * T, max_size=B * T))
    return np.array(bits, bool).reshape(B, T)


def _t(a):
    return None if a is None else torch.from_numpy(np.asarray(a))


def _close(ref, out, atol=1e-5):
    ref = ref if isinstance(ref, tuple) else (ref,)
    out = out if isinstance(out, tuple) else (out,)
    assert len(ref) == len(out)
    for a, b in zip(ref, out):
        b = b.detach().numpy() if hasattr(b, "detach") else b
        assert a.shape == b.shape
        np.testing.assert_allclose(b, a, rtol=0, atol=atol)


@st.composite
def lstm_case(draw):
    B, T, D, H = (draw(st.integers(1, 4)), draw(st.integers(1, 7)), draw(st.integers(1, 5)),
                  draw(st.integers(1, 6)))
    config = {
        "units": H, "return_sequences": draw(st.booleans()), "return_state": draw(st.booleans()),
        "go_backwards": draw(st.booleans()), "use_bias": draw(st.booleans()),
        "activation": draw(st.sampled_from(ACTS)),
        "recurrent_activation": draw(st.sampled_from(GATE_ACTS)),
        "zero_output_for_mask": draw(st.booleans()), "unit_forget_bias": draw(st.booleans()),
    }
    mask = _mask(draw, B, T, draw(st.sampled_from(["none", "right", "any"])))
    seed = draw(st.integers(0, 2**31))
    return B, T, D, config, mask, draw(st.booleans()), seed


@settings(max_examples=60, deadline=None)
@given(lstm_case())
def test_lstm_round_trip(case):
    B, T, D, config, mask, with_state, seed = case
    rng = np.random.default_rng(seed)
    layer = lk.layers.LSTM(**config, bias_initializer="random_normal")
    x = rng.normal(size=(B, T, D)).astype("float32")
    state = None
    if with_state:
        state = [rng.normal(size=(B, config["units"])).astype("float32") for _ in range(2)]
    ref = layer(x, initial_state=state, mask=mask)
    module = lk.convert.to_torch(layer)
    out = module(_t(x), None if state is None else [_t(s) for s in state], _t(mask))
    _close(ref, out)
    back = lk.convert.from_torch(module)
    assert back.get_config() == layer.get_config()
    _close(ref, back(x, initial_state=state, mask=mask), atol=1e-6)  # ulps: array alignment


@settings(max_examples=30, deadline=None)
@given(lstm_case(), st.sampled_from(["concat", "sum", "mul", "ave", None]))
def test_bidirectional_round_trip(case, merge_mode):
    B, T, D, config, mask, with_state, seed = case
    config.pop("go_backwards")
    config.pop("zero_output_for_mask")
    rng = np.random.default_rng(seed)
    layer = lk.layers.Bidirectional(
        lk.layers.LSTM(**config, bias_initializer="random_normal"), merge_mode=merge_mode)
    x = rng.normal(size=(B, T, D)).astype("float32")
    state = None
    if with_state:
        state = [rng.normal(size=(B, config["units"])).astype("float32") for _ in range(4)]
    ref = layer(x, initial_state=state, mask=mask)
    module = lk.convert.to_torch(layer)
    _close(ref, module(_t(x), None if state is None else [_t(s) for s in state], _t(mask)))
    back = lk.convert.from_torch(module)
    _close(ref, back(x, initial_state=state, mask=mask), atol=1e-6)  # ulps: array alignment


def test_default_lstm_runs_on_torch_nn_lstm():
    layer = lk.layers.LSTM(3, return_sequences=True, return_state=True,
                           bias_initializer="random_normal")
    x = np.random.default_rng(8).normal(size=(2, 4, 2)).astype("float32")
    y, h, c = layer(x)
    module = lk.convert.to_torch(layer)
    assert isinstance(module.lstm, torch.nn.LSTM)
    assert module.uses_torch_lstm(None)
    assert not module.uses_torch_lstm(torch.ones(1, 4, dtype=torch.bool))
    # The plain nn.LSTM inside computes the same sequence and final states.
    with torch.no_grad():
        y_t, (h_t, c_t) = module.lstm(torch.from_numpy(x))
    _close((y, h, c), (y_t, h_t[0], c_t[0]))


def test_float64_layer():
    rng = np.random.default_rng(1)
    layer = lk.layers.LSTM(3, return_sequences=True, dtype="float64")
    x = rng.normal(size=(2, 5, 4))
    ref = layer(x)
    out = lk.convert.to_torch(layer)(torch.from_numpy(x))
    assert out.dtype == torch.float64
    np.testing.assert_allclose(out.detach().numpy(), ref, atol=1e-12)


@pytest.mark.parametrize("recurrent_dropout", [0.0, 0.4])
def test_training_dropout_follows_keras(recurrent_dropout):
    # The module draws Keras's masks (one per call, constant over time; one per gate with
    # recurrent dropout); with those masks it must compute what the reference computes.
    rng = np.random.default_rng(2)
    layer = lk.layers.LSTM(3, dropout=0.5, recurrent_dropout=recurrent_dropout,
                           return_sequences=True, bias_initializer="random_normal")
    x = rng.normal(size=(2, 4, 3)).astype("float32")
    layer(x)
    module = lk.convert.to_torch(layer).train()
    assert not module.uses_torch_lstm(None)
    dm, rm = module._dropout_masks(torch.from_numpy(x))
    lead = (4,) if recurrent_dropout else ()
    assert dm.shape == (*lead, 2, 3) and set(dm.unique().tolist()) <= {0.0, 2.0}
    assert (rm is None) == (not recurrent_dropout)
    module._dropout_masks = lambda _x: (dm, rm)
    got = module(torch.from_numpy(x)).detach().numpy()
    kernel, recurrent_kernel, bias = layer.get_weights()
    want = lk.reference.lstm_sequence(
        x, kernel, recurrent_kernel, bias, dropout_mask=dm.numpy(),
        recurrent_dropout_mask=None if rm is None else rm.numpy()).outputs
    np.testing.assert_allclose(got, want, atol=1e-5)
    module.eval()
    np.testing.assert_allclose(module(torch.from_numpy(x)).detach().numpy(), layer(x),
                               atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(num_layers=st.integers(1, 3), bidirectional=st.booleans(), batch_first=st.booleans(),
       bias=st.booleans(), with_state=st.booleans(), seed=st.integers(0, 2**31))
def test_from_nn_lstm(num_layers, bidirectional, batch_first, bias, with_state, seed):
    torch.manual_seed(seed)
    B, T, D, H = 3, 5, 4, 6
    lstm = torch.nn.LSTM(D, H, num_layers=num_layers, bias=bias, batch_first=batch_first,
                         bidirectional=bidirectional, dropout=0.25 if num_layers > 1 else 0.0)
    lstm.eval()
    x = torch.randn(B, T, D)
    dirs = 2 if bidirectional else 1
    h0, c0 = torch.randn(num_layers * dirs, B, H), torch.randn(num_layers * dirs, B, H)
    with torch.no_grad():
        y, (_h_n, _c_n) = lstm(x if batch_first else x.transpose(0, 1),
                             (h0, c0) if with_state else None)
    y = y if batch_first else y.transpose(0, 1)
    layers = lk.convert.from_torch(lstm)
    # One lstmkit layer per PyTorch layer, with Dropout(0.25) between them.
    assert [type(la).__name__ for la in layers][::2] == [
        "Bidirectional" if bidirectional else "LSTM"] * num_layers
    assert all(la.rate == 0.25 for la in layers[1::2])
    layers = layers[::2]
    out = x.numpy()
    for k, layer in enumerate(layers):
        state = None
        if with_state:
            state = []
            for d in range(dirs):
                state += [h0[k * dirs + d].numpy(), c0[k * dirs + d].numpy()]
        out = layer(out, initial_state=state)
    np.testing.assert_allclose(out, y.numpy(), atol=1e-5)
    last = lk.convert.from_torch(lstm, return_sequences=False)[-1]
    assert last.return_sequences is False
    if not with_state:
        model = lk.convert.from_torch(lstm, as_sequential=True)
        np.testing.assert_allclose(model.predict(x.numpy(), verbose=0), y.numpy(), atol=1e-5)


def test_load_torch_weights_after_training_step():
    layer = lk.layers.Bidirectional(lk.layers.LSTM(3, return_sequences=True))
    x = np.random.default_rng(3).normal(size=(2, 4, 2)).astype("float32")
    layer(x)
    module = lk.convert.to_torch(layer).train()
    opt = torch.optim.SGD(module.parameters(), lr=0.5)
    module(torch.from_numpy(x)).pow(2).sum().backward()
    opt.step()
    before = layer.get_weights()
    lk.convert.load_torch_weights(layer, module)
    assert any(not np.allclose(a, b) for a, b in zip(before, layer.get_weights()))
    module.eval()
    _close(layer(x), module(torch.from_numpy(x)))


def test_errors():
    with pytest.raises(ValueError, match="proj_size"):
        lk.convert.from_torch(torch.nn.LSTM(3, 4, proj_size=2))
    with pytest.raises(ValueError, match="torch.nn.LSTM, nn.GRU, nn.RNN"):
        lk.convert.from_torch(torch.nn.Linear(3, 4))
    with pytest.raises(ValueError, match="not built"):
        lk.convert.to_torch(lk.layers.LSTM(3))
    stateful = lk.layers.LSTM(3, stateful=True)
    stateful.build((2, 4, 3))
    with pytest.raises(ValueError, match="stateful"):
        lk.convert.to_torch(stateful)
    with pytest.raises(ValueError, match="from_torch converts"):
        lk.convert.from_torch(torch.nn.Linear(2, 3))


def test_gate_layouts():
    H, D = 2, 3
    rng = np.random.default_rng(4)
    k, r, b = rng.normal(size=(D, 4 * H)), rng.normal(size=(H, 4 * H)), rng.normal(size=4 * H)
    w_ih, w_hh, b_ih, b_hh = _gates.keras_to_torch(k, r, b)
    assert w_ih.shape == (4 * H, D) and np.all(b_hh == 0)
    for got, want in zip(_gates.torch_to_keras(w_ih, w_hh, b_ih, b_hh), (k, r, b)):
        np.testing.assert_array_equal(got, want)
    W, R, B = _gates.keras_to_onnx(k, r, b)
    # ONNX's second block is the output gate: Keras's fourth.
    np.testing.assert_array_equal(W[H:2 * H], k[:, 3 * H:].T)
    np.testing.assert_array_equal(B[4 * H:], 0)
    for got, want in zip(_gates.onnx_to_keras(W, R, B), (k, r, b)):
        np.testing.assert_array_equal(got, want)
    assert list(_gates.reorder_gates(np.arange(4), "ifgo", "iofc")) == [0, 3, 1, 2]
    with pytest.raises(ValueError, match="gate order"):
        _gates.reorder_gates(np.arange(4), "ifco", "iffo")
    with pytest.raises(ValueError, match="4 \\* units"):
        _gates.reorder_gates(np.arange(6), "ifco", "iofc")
    with pytest.raises(ValueError, match="kernel"):
        _gates.keras_to_torch(k, r[:, :4], b)
