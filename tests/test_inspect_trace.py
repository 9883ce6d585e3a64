"""lk.trace: the gates follow the step math, and the states are the layer's outputs bit for bit.

Oracles: `reference.lstm_step` recomputed from the layer's weights (step math), and the
layer's own call (`layer(x)`), compared with `np.array_equal`.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lstmkit as lk
from lstmkit import reference


def _lstm(units, dtype="float32", **kw):
    layer = lk.layers.LSTM(units, dtype=dtype, **kw)
    return layer


def _randomize(layer, D, seed, batch=None):
    """Weights with a non-trivial bias so gates move away from their defaults."""
    rng = np.random.default_rng(seed)
    layer.build((batch, None, D))
    layer.set_weights([rng.normal(scale=0.6, size=w.shape) for w in layer.get_weights()])
    return layer


def _mask(rng, B, T):
    m = rng.random((B, T)) > 0.35
    m[0, -1] = False  # a masked last step in sample 0
    return m


def _recompute(tr, layer):
    """Re-run the step math from the weights, step by step, on the trace's own states."""
    cell = layer.cell
    K, R = cell.kernel.value, cell.recurrent_kernel.value
    b = None if cell.bias is None else cell.bias.value
    h, c = tr.initial_state
    pm = tr.processing_mask
    for k, t in enumerate(tr.input_index):
        s = reference.lstm_step(tr.inputs[:, t], h, c, K, R, b, cell.activation,
                                cell.recurrent_activation, tr.dropout_mask,
                                tr.recurrent_dropout_mask)
        yield k, s, h, c
        h = np.where(pm[:, k, None], s.h, h)
        c = np.where(pm[:, k, None], s.c, c)


def _check_step_math(tr, layer, tol):
    for k, s, h_prev, c_prev in _recompute(tr, layer):
        for name in ("i", "f", "g", "o"):
            np.testing.assert_allclose(tr[name][:, k], getattr(s, name), rtol=tol, atol=tol,
                                       err_msg=f"gate {name} at step {k}")
        m = tr.processing_mask[:, k, None]
        np.testing.assert_allclose(tr.c[:, k], np.where(m, s.c, c_prev), rtol=tol, atol=tol)
        np.testing.assert_allclose(tr.h[:, k], np.where(m, s.h, h_prev), rtol=tol, atol=tol)
        # the textbook relations on the traced values themselves
        np.testing.assert_allclose(
            np.where(m, tr.c[:, k], 0),
            np.where(m, tr.f[:, k] * c_prev + tr.i[:, k] * tr.g[:, k], 0), rtol=tol, atol=tol)


def _assert_same(a, b):
    a = a if isinstance(a, tuple) else (a,)
    b = b if isinstance(b, tuple) else (b,)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.shape == y.shape and x.dtype == y.dtype
        assert np.array_equal(x, y), "trace outputs differ from the layer's call"


@pytest.mark.parametrize("backend", ["reference", "auto"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_lstm_trace_step_math_and_exact_outputs(backend, go_backwards, masked, with_state):
    rng = np.random.default_rng(1)
    B, T, D, H = 5, 7, 3, 4
    layer = _randomize(_lstm(H, return_sequences=True, return_state=True,
                             go_backwards=go_backwards, backend=backend), D, 2)
    x = rng.normal(size=(B, T, D)).astype("float32")
    mask = _mask(rng, B, T) if masked else None
    init = [rng.normal(size=(B, H)).astype("float32") for _ in range(2)] if with_state else None
    tr = lk.trace(layer, x, mask=mask, initial_state=init)
    assert tr.i.shape == tr.c.shape == tr.h.shape == (B, T, H)
    _check_step_math(tr, layer, 1e-6)
    expected = layer(x, mask=mask, initial_state=init)
    _assert_same(tr.outputs, expected)
    seq, h_T, c_T = expected
    assert np.array_equal(tr.sequence, seq)
    assert np.array_equal(tr.h[:, -1], h_T) and np.array_equal(tr.c[:, -1], c_T)
    if not masked:
        assert np.array_equal(tr.h, seq)  # every step's output is its memory state
    if with_state:
        assert np.array_equal(tr.initial_state[0], init[0])


def test_go_backwards_input_order():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 6, 3)).astype("float32")
    layer = _randomize(_lstm(3, return_sequences=True, go_backwards=True), 3, 4)
    tr = lk.trace(layer, x)
    assert list(tr.input_index) == [5, 4, 3, 2, 1, 0]
    assert np.array_equal(tr.input_order("h")[:, ::-1], tr.h)
    # the first processed step consumed x[:, -1]: recompute it alone from zeros
    cell = layer.cell
    s = reference.lstm_step(x[:, -1], np.zeros((2, 3), "float32"), np.zeros((2, 3), "float32"),
                            cell.kernel.value, cell.recurrent_kernel.value, cell.bias.value)
    np.testing.assert_allclose(tr.h[:, 0], s.h, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_trace(merge_mode, return_sequences):
    rng = np.random.default_rng(5)
    B, T, D, H = 3, 5, 2, 3
    layer = lk.layers.Bidirectional(
        lk.layers.LSTM(H, return_sequences=return_sequences, return_state=True),
        merge_mode=merge_mode)
    layer.build((None, None, D))
    layer.set_weights([rng.normal(scale=0.6, size=w.shape) for w in layer.get_weights()])
    x = rng.normal(size=(B, T, D)).astype("float32")
    mask = _mask(rng, B, T)
    init = [rng.normal(size=(B, H)).astype("float32") for _ in range(4)]
    tr = lk.trace(layer, x, mask=mask, initial_state=init)
    assert tr.forward.direction == "forward" and not tr.forward.go_backwards
    assert tr.backward.direction == "backward" and tr.backward.go_backwards
    _assert_same(tr.outputs, layer(x, mask=mask, initial_state=init))
    _check_step_math(tr.forward, layer.forward_layer, 1e-6)
    _check_step_math(tr.backward, layer.backward_layer, 1e-6)
    n = 2 if merge_mode is None else 1
    h_f, c_f, h_b, c_b = tr.outputs[n:]
    assert np.array_equal(tr.forward.h[:, -1], h_f) and np.array_equal(tr.forward.c[:, -1], c_f)
    assert np.array_equal(tr.backward.h[:, -1], h_b) and np.array_equal(tr.backward.c[:, -1], c_b)
    assert np.array_equal(tr.backward.initial_state[0], init[2])
    # each direction's own outputs: what its LSTM returned, before flipping and merging
    y_b = tr.backward.outputs[0]
    assert np.array_equal(y_b, tr.backward.sequence if return_sequences
                          else tr.backward.sequence[:, -1])
    if merge_mode is None:
        y_b_merged = tr.outputs[1]
        assert np.array_equal(y_b_merged, y_b[:, ::-1] if return_sequences else y_b)


def test_float64_is_exact_to_double_precision():
    rng = np.random.default_rng(7)
    layer = _randomize(_lstm(3, dtype="float64", return_sequences=True), 2, 8)
    x = rng.normal(size=(2, 4, 2))
    tr = lk.trace(layer, x)
    assert tr.h.dtype == np.float64
    _check_step_math(tr, layer, 1e-12)
    assert np.array_equal(tr.outputs, layer(x))


def test_training_dropout_masks_are_recorded_and_used():
    rng = np.random.default_rng(9)
    layer = _randomize(_lstm(4, return_sequences=True, dropout=0.3, recurrent_dropout=0.2,
                             seed=1), 3, 10)
    x = rng.normal(size=(3, 5, 3)).astype("float32")
    tr = lk.trace(layer, x, training=True)
    assert tr.training and tr.dropout_mask is not None and tr.recurrent_dropout_mask is not None
    _check_step_math(tr, layer, 1e-6)
    assert np.array_equal(tr.sequence, tr.outputs)
    assert not np.array_equal(tr.outputs, layer(x))  # inference runs without dropout


def test_stateful_layer_is_not_advanced_by_trace():
    rng = np.random.default_rng(11)
    layer = _randomize(_lstm(3, stateful=True, return_state=True), 2, 12, batch=2)
    x = rng.normal(size=(2, 4, 2)).astype("float32")
    layer(x)  # now it holds non-zero states
    before = [s.copy() for s in layer.states]
    tr = lk.trace(layer, x)
    assert all(np.array_equal(a, b) for a, b in zip(before, layer.states))
    assert np.array_equal(tr.initial_state[0], before[0])
    _assert_same(tr.outputs, layer(x))  # the next call computes what the trace showed


@settings(max_examples=25, deadline=None)
@given(B=st.integers(1, 3), T=st.integers(1, 5), D=st.integers(1, 3), H=st.integers(1, 3),
       go_backwards=st.booleans(), zero_output=st.booleans(), data=st.data())
def test_trace_matches_layer_for_any_mask(B, T, D, H, go_backwards, zero_output, data):
    mask = np.array(data.draw(st.lists(st.lists(st.booleans(), min_size=T, max_size=T),
                                       min_size=B, max_size=B)))
    seed = data.draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    layer = _randomize(_lstm(H, return_sequences=True, return_state=True,
                             go_backwards=go_backwards, zero_output_for_mask=zero_output), D,
                       seed)
    x = rng.normal(size=(B, T, D)).astype("float32")
    tr = lk.trace(layer, x, mask=mask)
    _assert_same(tr.outputs, layer(x, mask=mask))
    assert np.array_equal(tr.h[:, -1], tr.outputs[1])
    _check_step_math(tr, layer, 1e-6)


def test_saturation_fractions():
    rng = np.random.default_rng(13)
    layer = _randomize(_lstm(4, return_sequences=True), 3, 14)
    x = rng.normal(scale=3.0, size=(4, 9, 3)).astype("float32")
    mask = _mask(rng, 4, 9)
    tr = lk.trace(layer, x, mask=mask)
    sat = tr.saturation()
    valid = tr.processing_mask
    for gate in ("i", "f", "o"):
        left, right = sat[gate]
        vals = tr[gate][valid]  # (n_valid, H)
        np.testing.assert_allclose(left, (vals < 0.1).mean(axis=0))
        np.testing.assert_allclose(right, (vals > 0.9).mean(axis=0))


class _FeedingModel:
    """The contract models implement: `layer_inputs(layer_or_name, x) -> dict`."""

    def __init__(self, embed, lstm):
        self.embed, self.lstm, self.layers = embed, lstm, [lstm]

    def get_layer(self, name):
        if name != self.lstm.name:
            raise ValueError(f"No such layer: {name}")
        return self.lstm

    def layer_inputs(self, layer, x):
        layer = self.get_layer(layer) if isinstance(layer, str) else layer
        assert layer is self.lstm
        return {"inputs": self.embed[x], "mask": x != 0, "initial_state": None, "training": False}


def test_trace_a_layer_inside_a_model_both_spellings():
    rng = np.random.default_rng(15)
    lstm = _randomize(lk.layers.LSTM(3, return_sequences=True, name="encoder"), 2, 16)
    model = _FeedingModel(rng.normal(size=(6, 2)).astype("float32"), lstm)
    tokens = np.array([[1, 2, 3, 0], [4, 5, 0, 0]])
    a = lk.trace(model, tokens, layer="encoder")
    b = lk.trace(lstm, tokens, model=model)
    assert np.array_equal(a.mask, tokens != 0)
    expected = lstm(model.embed[tokens], mask=tokens != 0)
    assert np.array_equal(a.outputs, expected) and np.array_equal(b.outputs, expected)


def test_model_inputs_given_to_a_layer_get_a_hint():
    model, x = _token_model()
    with pytest.raises(ValueError, match=r"lk.trace\(model, x, layer='summarizer'\)"):
        lk.trace(model.get_layer("summarizer"), x)


def test_bad_arguments():
    layer = lk.layers.LSTM(2)
    with pytest.raises(TypeError, match="LSTM or Bidirectional"):
        lk.trace(lk.layers.LSTMCell(2), np.ones((1, 2, 3)))
    model = _FeedingModel(np.ones((3, 2), "float32"), _lstm(2, name="enc2"))
    with pytest.raises(TypeError, match="layer="):
        lk.trace(model, np.ones((1, 2), int))
    with pytest.raises(ValueError, match="ndim=3"):
        lk.trace(layer, np.ones((2, 3)))


def _token_model():
    model = lk.Sequential([
        lk.Input(shape=(None,), dtype="int32"),
        lk.layers.Embedding(20, 6, mask_zero=True),
        lk.layers.Bidirectional(lk.layers.LSTM(5, return_sequences=True), name="encoder"),
        lk.layers.LSTM(3, name="summarizer"),
        lk.layers.Dense(2),
    ])
    return model, np.array([[1, 2, 3, 4, 0, 0], [5, 6, 7, 8, 9, 1]])


def test_trace_inside_a_sequential_model_is_what_the_model_computes():
    model, x = _token_model()
    enc = lk.trace(model, x, layer="encoder")
    assert np.array_equal(enc.mask, x != 0)  # the Embedding's mask reaches the layer
    emb = model.layers[0](x)
    assert np.array_equal(enc.outputs, model.get_layer("encoder")(emb, mask=x != 0))
    summ = lk.trace(model.get_layer("summarizer"), x, model=model)
    assert np.array_equal(summ.inputs, enc.outputs)  # fed the encoder's output
    assert np.array_equal(summ.h[:, -1], summ.outputs)
    # the model's prediction is the Dense layer on the traced final memory state
    assert np.array_equal(model(x), model.layers[-1](summ.outputs))


@pytest.mark.filterwarnings(  # torch 2.13's Tensor.__array__ lacks `copy`; NumPy 2 warns
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_every_step_matches_keras_lstm_cell():
    """c and h at every step, against Keras 3's own LSTMCell stepped by hand (torch backend)."""
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(17)
    B, T, D, H = 3, 6, 4, 5
    layer = _randomize(_lstm(H, return_sequences=True), D, 18)
    x = rng.normal(size=(B, T, D)).astype("float32")
    tr = lk.trace(layer, x)
    cell = keras.layers.LSTMCell(H)
    cell.build((None, D))
    cell.set_weights(layer.get_weights())
    h = c = np.zeros((B, H), "float32")
    for t in range(T):
        _, (h, c) = cell(x[:, t], [h, c])
        h, c = keras.ops.convert_to_numpy(h), keras.ops.convert_to_numpy(c)
        np.testing.assert_allclose(tr.h[:, t], h, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(tr.c[:, t], c, rtol=1e-5, atol=1e-6)


def test_export_in_input_order(tmp_path):
    rng = np.random.default_rng(19)
    layer = _randomize(_lstm(3, return_sequences=True, go_backwards=True), 2, 20)
    x = rng.normal(size=(2, 5, 2)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    tr = lk.trace(layer, x, mask=mask)
    tr.save_npz(tmp_path / "trace.npz")
    with np.load(tmp_path / "trace.npz", allow_pickle=False) as saved:
        assert sorted(saved.files) == ["c", "f", "g", "h", "i", "inputs", "mask", "o"]
        assert np.array_equal(saved["h"], tr.h[:, ::-1]) and np.array_equal(saved["mask"], mask)
    assert np.array_equal(tr.as_dict()["c"], tr.c)
    with pytest.raises(ValueError, match="order"):
        tr.as_dict("reversed")
