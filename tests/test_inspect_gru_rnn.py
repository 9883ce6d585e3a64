"""lk.trace, lk.explain and the HTML report for GRU, SimpleRNN and RNN(cell) layers."""

import numpy as np
import pytest

import lstmkit as lk
from lstmkit import reference_gru

RNG = np.random.default_rng(17)
X = RNG.normal(size=(3, 5, 4)).astype("float32")
MASK = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 1, 1, 0]], bool)


@pytest.mark.parametrize("kwargs", [{}, {"reset_after": False, "go_backwards": True}])
def test_gru_trace_is_the_layer_run(kwargs):
    layer = lk.layers.GRU(3, return_sequences=True, return_state=True, **kwargs)
    t = lk.trace(layer, X, mask=MASK)
    seq, h = layer(X, mask=MASK)
    assert t.z.shape == t.r.shape == t.hh.shape == t.h.shape == (3, 5, 3)
    np.testing.assert_array_equal(t.h[:, -1], h)
    np.testing.assert_array_equal(t.outputs[0], seq)
    # the gates are the reference step's for the state each step started from
    h_prev = np.concatenate([np.zeros((3, 1, 3), "float32"), t.h[:, :-1]], axis=1)
    x = X[:, ::-1] if layer.go_backwards else X
    cell = layer.cell
    for k in range(5):
        s = reference_gru.gru_step(x[:, k], h_prev[:, k], cell.kernel.value,
                                   cell.recurrent_kernel.value, cell.bias.value,
                                   cell.reset_after)
        np.testing.assert_allclose(t.z[:, k], s.z, rtol=1e-6)
        np.testing.assert_allclose(t.hh[:, k], s.hh, rtol=1e-6, atol=1e-7)
    valid = t.processing_mask[..., None]
    np.testing.assert_allclose(np.where(valid, t.h, 0),
                               np.where(valid, t.z * h_prev + (1 - t.z) * t.hh, 0), atol=1e-6)


def test_simple_rnn_and_rnn_cell_traces():
    layer = lk.layers.SimpleRNN(2, return_state=True)
    t = lk.trace(layer, X)
    assert t.ARRAYS == ("h",)
    np.testing.assert_array_equal(t.h[:, -1], layer(X)[1])
    rnn = lk.layers.RNN(lk.layers.GRUCell(2))
    assert lk.trace(rnn, X).z.shape == (3, 5, 2)
    lstm = lk.layers.RNN(lk.layers.LSTMCell(2), return_state=True)
    assert lk.trace(lstm, X).c.shape == (3, 5, 2)
    with pytest.raises(TypeError, match="trace expects"):
        lk.trace(lk.layers.Dense(2), X)


def test_bidirectional_gru_trace():
    layer = lk.layers.Bidirectional(lk.layers.GRU(2, return_sequences=True, return_state=True))
    t = lk.trace(layer, X, mask=MASK)
    _, h_f, h_b = layer(X, mask=MASK)
    np.testing.assert_array_equal(t.forward.h[:, -1], h_f)
    np.testing.assert_array_equal(t.backward.h[:, -1], h_b)
    assert t.backward.go_backwards


@pytest.mark.parametrize("layer", [
    lk.layers.GRU(3, return_state=True), lk.layers.GRU(3, return_sequences=True),
    lk.layers.SimpleRNN(3, return_sequences=True, return_state=True),
    lk.layers.RNN(lk.layers.GRUCell(3), return_state=True),
    lk.layers.Bidirectional(lk.layers.GRU(3, return_sequences=True, return_state=True)),
])
def test_explain_states_one_state_and_checks_it(layer):
    e = lk.explain(layer, X, mask=MASK)
    text = str(e)
    assert e.verified is True, text
    assert "carry" not in text and "c_T" not in text
    if getattr(layer, "return_state", False) and not hasattr(layer, "forward_layer"):
        assert [o[0] for o in e.outputs][-1] == "final_state" and len(e.outputs) == 2
    if "GRU" in text.splitlines()[0] or "gru" in text.splitlines()[0]:
        assert "h_t = z * h_(t-1) + (1 - z) * h~" in text


def test_report_shows_gru_and_simple_rnn_arrays():
    x = lk.Input((5, 4))
    h = lk.layers.GRU(3, return_sequences=True, name="g")(x)
    h = lk.layers.SimpleRNN(2, name="s")(h)
    model = lk.Model(x, lk.layers.Dense(1)(h))
    page = lk.inspection.report(model, X, pictures=False)
    assert '"arrays":["z","r","hh","h"]' in page and '"arrays":["h"]' in page
    assert "update gate z" in page and "GRU g" in page and "SimpleRNN s" in page
