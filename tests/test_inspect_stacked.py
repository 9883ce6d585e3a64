"""lk.trace, lk.explain and the HTML report for RNN(cell) of each cell and for stacked cells
(`RNN([cell, ...])`): the trace is the layer's own run, explain names what Keras returns."""

import re

import numpy as np
import pytest

import lstmkit as lk
from _oracle import keras as _keras
from _oracle import quiet, to_numpy, to_torch
from lstmkit import reference
from test_inspect_report import _chromium, needs_chromium

RNG = np.random.default_rng(23)
X = RNG.normal(size=(3, 6, 4)).astype("float32")
MASK = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 1], [0, 1, 1, 0, 1, 0]], bool)


def _stack(backend, **kwargs):
    return lk.layers.RNN([lk.layers.LSTMCell(4), lk.layers.GRUCell(3),
                          lk.layers.SimpleRNNCell(2)], backend=backend, **kwargs)


@pytest.mark.parametrize("go_backwards", [False, True])
def test_stacked_trace_is_the_layer_run_on_either_path(go_backwards):
    kw = dict(return_sequences=True, return_state=True, go_backwards=go_backwards)
    kernel, ref = _stack("kernel", **kw), _stack("reference", **kw)
    kernel.build(X.shape)
    ref.build(X.shape)
    ref.set_weights(kernel.get_weights())
    traces = {}
    for name, layer in (("kernel", kernel), ("reference", ref)):
        t = lk.trace(layer, X, mask=MASK)
        seq, (h0, c0), (h1,), (h2,) = layer(X, mask=MASK)
        assert isinstance(t, lk.inspection.trace_rnn.StackedTrace)
        assert [type(c).__name__ for c in t.cells] == ["Trace", "CellTrace", "CellTrace"]
        assert t.backend == name and t.cells[0].backend == name
        for got, want in ((t.cells[0].h[:, -1], h0), (t.cells[0].c[:, -1], c0),
                          (t.cells[1].h[:, -1], h1), (t.cells[2].h[:, -1], h2),
                          (t.sequence, seq)):
            np.testing.assert_array_equal(got, want)
        # cell k reads cell k - 1's states h (input order)
        np.testing.assert_array_equal(t.cells[1].inputs, t.cells[0].input_order("h"))
        traces[name] = t
    # at valid steps; at a masked step a cell after the first reads what the step discarded
    # (the previous cell's computed output on the reference loop, zeros on the kernels)
    for a, b in zip(traces["kernel"].cells, traces["reference"].cells):
        valid = a.processing_mask[..., None]
        for name in a.ARRAYS:
            np.testing.assert_allclose(np.where(valid, a[name], 0), np.where(valid, b[name], 0),
                                       rtol=1e-5, atol=1e-6)
    # the LSTM cell's gates are the reference step's for the states each step started from
    t, cell = traces["kernel"].cells[0], kernel.cell.cells[0]
    x = X[:, ::-1] if go_backwards else X
    h_prev = np.concatenate([np.zeros((3, 1, 4), "float32"), t.h[:, :-1]], axis=1)
    c_prev = np.concatenate([np.zeros((3, 1, 4), "float32"), t.c[:, :-1]], axis=1)
    for k in range(X.shape[1]):
        s = reference.lstm_step(x[:, k], h_prev[:, k], c_prev[:, k], cell.kernel.value,
                                cell.recurrent_kernel.value, cell.bias.value)
        np.testing.assert_allclose(t.f[:, k], s.f, rtol=1e-5, atol=1e-6)


def test_stacked_trace_starts_from_the_initial_state():
    layer = _stack("auto", return_state=True)
    layer.build(X.shape)
    states = [RNG.normal(size=(3, n)).astype("float32") for n in (4, 4, 3, 2)]
    t = lk.trace(layer, X, initial_state=states)
    assert [s.shape for c in t.cells for s in c.initial_state] == [(3, 4), (3, 4), (3, 3),
                                                                 (3, 2)]
    np.testing.assert_array_equal(t.cells[1].initial_state[0], states[2])


@pytest.mark.parametrize("make", [
    lambda: lk.layers.RNN(lk.layers.LSTMCell(3), return_sequences=True, return_state=True),
    lambda: lk.layers.RNN(lk.layers.LSTMCell(3), go_backwards=True),
    lambda: lk.layers.RNN(lk.layers.GRUCell(3), return_state=True),
    lambda: lk.layers.RNN(lk.layers.SimpleRNNCell(3), return_sequences=True),
    lambda: _stack("auto", return_state=True),
    lambda: _stack("reference", return_sequences=True, return_state=True, go_backwards=True),
    lambda: lk.layers.RNN([lk.layers.SimpleRNNCell(2), lk.layers.LSTMCell(3)],
                          zero_output_for_mask=True, return_sequences=True),
], ids=["lstm-seq-state", "lstm-back", "gru", "simple", "stack-state", "stack-ref-back",
        "stack-zero"])
def test_explain_rnn_of_cells_checks_every_claim(make):
    layer = make()
    e = lk.explain(layer, X, mask=MASK)
    assert e.verified is True, str(e)
    outputs = layer(X, mask=MASK)
    flat = [outputs] if not isinstance(outputs, tuple) else \
        [a for o in outputs for a in (o if isinstance(o, list) else [o])]
    assert [tuple(o[1]) for o in e.outputs] == [a.shape for a in flat]


@pytest.mark.parametrize("spec", [["lstm", "gru"], ["simple", "lstm", "gru"]])
def test_explain_names_every_array_keras_returns(spec):
    K = _keras()
    make = {"lstm": lambda m: m.LSTMCell(3), "gru": lambda m: m.GRUCell(2),
            "simple": lambda m: m.SimpleRNNCell(4)}
    k_layer = K.layers.RNN([make[s](K.layers) for s in spec], return_state=True,
                           return_sequences=True)
    with quiet():
        want = to_numpy(k_layer(to_torch(X)))
    # Keras: the output, then one list of final states per cell, in cell order
    assert [len(w) if isinstance(w, list) else 0 for w in want] == \
        [0] + [2 if s == "lstm" else 1 for s in spec]
    flat = [want[0]] + [s for group in want[1:] for s in group]
    layer = lk.layers.deserialize(K.layers.serialize(k_layer))
    e = lk.explain(layer, X)
    names = [o[0] for o in e.outputs]
    expected = ["whole_seq_output"] + [f"{n}{k}" for k, s in enumerate(spec)
                                       for n in (("h", "c") if s == "lstm" else ("h",))]
    assert names == expected
    assert [tuple(o[1]) for o in e.outputs] == [tuple(a.shape) for a in flat]
    assert e.verified is True, str(e)


def _model():
    x = lk.Input((6, 4))
    h = lk.layers.RNN([lk.layers.LSTMCell(4), lk.layers.GRUCell(3)], return_sequences=True,
                      name="stack")(x)
    h = lk.layers.RNN(lk.layers.LSTMCell(3), return_sequences=True, name="cell_lstm")(h)
    h = lk.layers.GRU(3, return_sequences=True, name="g")(h)
    h = lk.layers.SimpleRNN(2, name="s")(h)
    return lk.Model(x, lk.layers.Dense(1)(h))


def test_report_shows_rnn_of_cells_and_stacked_cells():
    page = lk.inspection.report(_model(), X, pictures=False)
    assert page.count('class="lk-panel"') == 5  # two for the stack's cells, one per layer
    for text in ("RNN stack", "stack cell 0: LSTMCell", "stack cell 1: GRUCell",
                 "RNN cell_lstm", "GRU g", "SimpleRNN s", "cells[1].h"):
        assert text in page, text
    assert "&#10007;" not in page  # no claim failed


@needs_chromium
def test_report_of_stacked_and_cell_layers_opens_in_headless_chromium(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "cells.html"
    lk.inspection.report(_model(), X, str(path))
    proc, console = _chromium(tmp_path, path, "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    body = re.search(r"<body[^>]*>", proc.stdout).group(0)
    assert 'data-ready="1"' in body and 'data-errors="0"' in body, body
    assert console == [], console
    assert proc.stdout.count("<canvas class=\"lk-heat\"") == 5  # every panel drew its heatmap
