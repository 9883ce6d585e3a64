"""Conversions of RNN(LSTMCell), stacked cells (`RNN([cell, ...])`) and GRU/SimpleRNN dropout:
the torch module and the ONNX model (onnxruntime) against lstmkit and Keras 3 live."""

import numpy as np
import pytest

import lstmkit as lk
from _oracle import keras as _keras
from _oracle import quiet, to_numpy, to_torch
from lstmkit import reference_rnn as rr
from lstmkit.layers.rnn import state_sizes

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

RNG = np.random.default_rng(31)
B, T, D = 3, 6, 4
X = RNG.normal(size=(B, T, D)).astype("float32")
MASK = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 1], [0, 1, 1, 0, 1, 0]], bool)
MAKE = {"lstm": lambda m: m.LSTMCell(3), "gru": lambda m: m.GRUCell(2),
        "gru_before": lambda m: m.GRUCell(3, reset_after=False),
        "simple": lambda m: m.SimpleRNNCell(2)}
CASES = [
    (["lstm"], {"return_sequences": True, "return_state": True}),
    (["lstm"], {"go_backwards": True, "return_state": True}),
    (["lstm", "gru"], {"return_sequences": True, "return_state": True}),
    (["gru_before", "lstm", "simple"], {"return_state": True, "go_backwards": True}),
    (["simple", "lstm"], {"return_sequences": True, "zero_output_for_mask": True}),
]
IDS = ["+".join(spec) + "-" + "-".join(kw) for spec, kw in CASES]


def _flat(y):
    out = []
    for a in (y if isinstance(y, (list, tuple)) else [y]):
        if isinstance(a, (list, tuple)):
            out += _flat(a)
        else:
            out.append(a.detach().numpy() if hasattr(a, "detach") else np.asarray(a))
    return out


def _pair(spec, kwargs):
    """A Keras RNN of `spec`'s cells with random weights and lstmkit's from its config."""
    K = _keras()
    cells = [MAKE[s](K.layers) for s in spec]
    k_layer = K.layers.RNN(cells if len(cells) > 1 else cells[0], **kwargs)
    k_layer.build((B, T, D))
    weights = [RNG.normal(scale=0.5, size=w.shape).astype("float32") for w in k_layer.weights]
    k_layer.set_weights(weights)
    layer = lk.layers.deserialize(K.layers.serialize(k_layer))
    layer.build((B, T, D))
    layer.set_weights(weights)
    return k_layer, layer


def _keras_nested_states(k_layer, flat):
    nested = k_layer.get_initial_state(B)
    it = iter(flat)
    return [[torch.from_numpy(next(it)) for _ in s] if isinstance(s, list)
            else torch.from_numpy(next(it)) for s in nested]


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("spec, kwargs", CASES, ids=IDS)
def test_to_torch_matches_lstmkit_and_keras_and_comes_back(spec, kwargs, masked):
    k_layer, layer = _pair(spec, kwargs)
    mask = MASK if masked else None
    states = [RNG.normal(size=(B, s)).astype("float32") for s in state_sizes(layer.cell)]
    with quiet():
        keras_out = _flat(to_numpy(k_layer(to_torch(X), initial_state=_keras_nested_states(
            k_layer, states), mask=None if mask is None else to_torch(mask))))
    ours = _flat(layer(X, mask=mask, initial_state=states))
    module = lk.convert.to_torch(layer)
    assert type(module).__name__ == ("KerasLSTM" if len(spec) == 1 else "KerasStackedRNN")
    with torch.no_grad():
        got = _flat(module(torch.from_numpy(X), [torch.from_numpy(s) for s in states],
                           None if mask is None else torch.from_numpy(mask)))
    assert len(got) == len(ours) == len(keras_out)
    for g, o, k in zip(got, ours, keras_out):
        np.testing.assert_allclose(g, o, atol=1e-5, rtol=0)
        np.testing.assert_allclose(g, k, atol=1e-5, rtol=0)
    back = lk.convert.from_torch(module)
    assert type(back.cell).__name__ == type(layer.cell).__name__
    for a, b in zip(back.get_weights(), layer.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("spec, kwargs", CASES, ids=IDS)
def test_to_onnx_matches_lstmkit_and_keras_in_onnxruntime(spec, kwargs, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    k_layer, layer = _pair(spec, kwargs)
    states = [RNG.normal(size=(B, s)).astype("float32") for s in state_sizes(layer.cell)]
    with quiet():
        keras_out = _flat(to_numpy(k_layer(to_torch(X), initial_state=_keras_nested_states(
            k_layer, states), mask=to_torch(MASK))))
    ours = _flat(layer(X, mask=MASK, initial_state=states))
    path = tmp_path / "stack.onnx"
    model = lk.convert.to_onnx(layer, path, mask=True, initial_state=True)
    ops = {"lstm": "LSTM", "gru": "GRU", "gru_before": "GRU", "simple": "RNN"}
    assert [n.op_type for n in model.graph.node if n.op_type in ("LSTM", "GRU", "RNN")] == \
        [ops[s] for s in spec]  # one node per cell, in order
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, lk.convert.onnx_feed(X, MASK, states, layer=layer))
    assert len(got) == len(ours) == len(keras_out)
    for g, o, k in zip(got, ours, keras_out):
        np.testing.assert_allclose(g, o, atol=1e-5, rtol=0)
        np.testing.assert_allclose(g, k, atol=1e-5, rtol=0)


def test_a_model_with_stacked_cells_converts_to_torch_and_onnx(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    model = lk.Sequential([
        lk.Input((None, D)),
        lk.layers.RNN([lk.layers.LSTMCell(4), lk.layers.GRUCell(3)], return_sequences=True),
        lk.layers.RNN(lk.layers.LSTMCell(2)),
        lk.layers.Dense(1),
    ])
    want = model.predict(X, verbose=0)
    with torch.no_grad():
        got = lk.convert.to_torch(model)(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)
    lk.convert.to_onnx(model, tmp_path / "m.onnx")
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {sess.get_inputs()[0].name: X})[0], want,
                               atol=1e-5)


def _check_training_dropout(layer, module, masks):
    """With the module's masks fixed, training computes the reference loop with the same
    masks; in eval the module is the layer at inference."""
    cells = getattr(layer.cell, "cells", [layer.cell])
    subs = getattr(module, "cells", [module])
    for sub, m in zip(subs, masks):
        fixed = tuple(None if a is None else torch.from_numpy(a) for a in m)
        sub._dropout_masks = lambda _x, sub=sub, fixed=fixed: fixed if sub.training else (
            None, None)
    module.train()
    got = module(torch.from_numpy(X)).detach().numpy()
    steps = [c.step_fns(m) for c, m in zip(cells, masks)]
    step = steps[0] if len(steps) == 1 else rr.stacked_step_fns(
        steps, [len(state_sizes(c)) for c in cells])
    seq = rr.rnn_sequence(step, X, [np.zeros((B, s), "float32") for s in state_sizes(layer.cell)])
    want = seq.outputs if layer.return_sequences else seq.outputs[:, -1]
    np.testing.assert_allclose(got, want, atol=1e-5)
    module.eval()
    np.testing.assert_allclose(module(torch.from_numpy(X)).detach().numpy(), layer(X),
                               atol=1e-5)


def _mask(shape, rate):
    return ((RNG.random(shape) >= rate) / (1 - rate)).astype("float32")


@pytest.mark.parametrize("make, n_gates", [
    (lambda: lk.layers.GRU(3, dropout=0.4, return_sequences=True), 0),
    (lambda: lk.layers.GRU(3, dropout=0.3, recurrent_dropout=0.3, return_sequences=True), 3),
    (lambda: lk.layers.GRU(3, dropout=0.3, recurrent_dropout=0.2, reset_after=False), 3),
    (lambda: lk.layers.SimpleRNN(3, dropout=0.3, recurrent_dropout=0.4,
                                 return_sequences=True), 0),
])
def test_gru_and_simple_rnn_dropout_convert_like_the_lstm(make, n_gates):
    layer = make()
    layer.build((B, T, D))
    layer.set_weights([RNG.normal(scale=0.5, size=w.shape).astype("float32")
                       for w in layer.get_weights()])
    module = lk.convert.to_torch(layer).train()
    lead = (n_gates,) if n_gates else ()
    dm, rm = module._dropout_masks(torch.from_numpy(X))
    assert dm.shape == (*lead, B, D)
    assert (rm is None) == (layer.cell.recurrent_dropout == 0)
    masks = (_mask((*lead, B, D), layer.cell.dropout),
             None if rm is None else _mask((*lead, B, 3), layer.cell.recurrent_dropout))
    _check_training_dropout(layer, module, [masks])


def test_stacked_cells_with_dropout_convert_per_cell():
    layer = lk.layers.RNN([lk.layers.LSTMCell(3, dropout=0.3),
                           lk.layers.GRUCell(2, dropout=0.2, recurrent_dropout=0.4),
                           lk.layers.SimpleRNNCell(2, recurrent_dropout=0.3)],
                          return_sequences=True)
    layer.build((B, T, D))
    masks = [(_mask((B, D), 0.3), None), (_mask((3, B, 3), 0.2), _mask((3, B, 2), 0.4)),
             (None, _mask((B, 2), 0.3))]
    _check_training_dropout(layer, lk.convert.to_torch(layer), masks)
