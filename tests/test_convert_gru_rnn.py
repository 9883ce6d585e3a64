"""GRU / SimpleRNN <-> torch.nn.GRU / nn.RNN, and GRU to ONNX (onnxruntime as the oracle)."""

import numpy as np
import pytest

import lstmkit as lk

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(17)
X = RNG.normal(size=(3, 5, 4)).astype("float32")
MASK = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 1, 1, 0]], bool)


def _randomized(layer):
    layer.build((None, 5, 4))
    layer.set_weights([RNG.normal(scale=0.5, size=w.shape).astype("float32")
                       for w in layer.get_weights()])
    return layer


def _flat(y):
    return [a.detach().numpy() if hasattr(a, "detach") else a
            for a in (y if isinstance(y, (list, tuple)) else [y])]


@pytest.mark.parametrize("layer", [
    lambda: lk.layers.GRU(3, return_sequences=True, return_state=True),
    lambda: lk.layers.GRU(3, reset_after=False, go_backwards=True, return_state=True),
    lambda: lk.layers.GRU(3, use_bias=False, recurrent_activation="hard_sigmoid"),
    lambda: lk.layers.SimpleRNN(3, return_sequences=True, return_state=True),
    lambda: lk.layers.SimpleRNN(3, activation="relu", go_backwards=True),
    lambda: lk.layers.RNN(lk.layers.GRUCell(2), return_sequences=True),
    lambda: lk.layers.Bidirectional(lk.layers.GRU(2, return_sequences=True, return_state=True)),
])
@pytest.mark.parametrize("masked", [False, True])
def test_to_torch_computes_what_lstmkit_computes_and_comes_back(layer, masked):
    layer = _randomized(layer())
    mask = MASK if masked else None
    want = _flat(layer(X, mask=mask))
    module = lk.convert.to_torch(layer)
    with torch.no_grad():
        got = _flat(module(torch.from_numpy(X), mask=None if mask is None else
                           torch.from_numpy(mask)))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-5)
    back = lk.convert.from_torch(module)
    assert type(back).__name__ == type(layer).__name__
    for a, b in zip(back.get_weights(), layer.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_nn_gru_becomes_keras_gru(bidirectional, num_layers):
    gru = torch.nn.GRU(4, 3, num_layers=num_layers, bidirectional=bidirectional,
                       batch_first=True)
    layers = lk.convert.from_torch(gru)
    y = X
    for layer in layers:
        y = layer(y)
    with torch.no_grad():
        want = gru(torch.from_numpy(X))[0].numpy()
    np.testing.assert_allclose(y, want, atol=1e-5)
    if not bidirectional and num_layers == 1:
        assert layers[0].reset_after
        module = lk.convert.to_torch(layers[0])
        for a, b in zip(module.rnn.parameters(), gru.parameters()):
            np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-7)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_nn_rnn_becomes_simple_rnn(nonlinearity):
    rnn = torch.nn.RNN(4, 3, nonlinearity=nonlinearity, batch_first=True, bidirectional=True)
    model = lk.convert.from_torch(rnn, as_sequential=True)
    with torch.no_grad():
        want = rnn(torch.from_numpy(X))[0].numpy()
    np.testing.assert_allclose(model.predict(X, verbose=0), want, atol=1e-5)


def test_conversion_errors_name_the_problem():
    stateful = lk.layers.GRU(2, stateful=True)
    stateful(X)
    with pytest.raises(ValueError, match="is stateful"):
        lk.convert.to_torch(stateful)
    with pytest.raises(ValueError, match="reset_after=True"):
        lk.convert._torch_gru.gru_keras_to_torch(np.zeros((4, 6)), np.zeros((2, 6)),
                                                 np.zeros(6))


@pytest.mark.parametrize("layer", [
    lambda: lk.layers.GRU(3, return_sequences=True, return_state=True),  # linear_before_reset=1
    lambda: lk.layers.GRU(3, reset_after=False, go_backwards=True, return_state=True),
    lambda: lk.layers.GRU(3, recurrent_activation="hard_sigmoid", return_sequences=True,
                          zero_output_for_mask=True),
    lambda: lk.layers.SimpleRNN(3, activation="relu", return_sequences=True,
                                return_state=True),
    lambda: lk.layers.RNN(lk.layers.GRUCell(2), return_state=True),
    lambda: lk.layers.Bidirectional(lk.layers.GRU(2, return_sequences=True, return_state=True)),
])
def test_onnx_gru_and_rnn_match_onnxruntime(layer, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    layer = _randomized(layer())
    n = len(layer.forward_layer.get_initial_state(3)) * 2 if hasattr(layer, "forward_layer") \
        else len(layer.get_initial_state(3))
    states = [RNG.normal(size=(3, 2 if hasattr(layer, "forward_layer") else layer.units))
              .astype("float32") for _ in range(n)]
    want = _flat(layer(X, mask=MASK, initial_state=states))
    path = tmp_path / "m.onnx"
    model = lk.convert.to_onnx(layer, path, mask=True, initial_state=True)
    op = "RNN" if "SimpleRNN" in type(getattr(layer, "forward_layer", layer).cell).__name__ \
        else "GRU"
    nodes = [nd for nd in model.graph.node if nd.op_type == op]
    assert nodes
    if op == "GRU":
        sub = getattr(layer, "forward_layer", layer)
        lbr = [a.i for a in nodes[0].attribute if a.name == "linear_before_reset"]
        assert lbr == [int(sub.cell.reset_after)]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, lk.convert.onnx_feed(X, MASK, states, layer=layer))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-5)
