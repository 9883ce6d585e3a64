"""lstmkit -> ONNX (onnxruntime) over random configurations, and ONNX's limits.

Oracle: lstmkit's layers (themselves tested against Keras); onnxruntime runs the file.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import lstmkit as lk

ACTS = ["tanh", "sigmoid", "relu", "hard_sigmoid", "linear", "softsign", "softplus", "elu"]
# Gates stay bounded: unbounded gates (relu, softplus, ...) overflow to inf within a few steps.
GATE_ACTS = ["sigmoid", "hard_sigmoid", "tanh", "softsign"]


def _run(path, feed):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, feed)


def _close(ref, out):
    ref = list(ref) if isinstance(ref, tuple) else [ref]
    assert len(ref) == len(out)
    for a, b in zip(ref, out):
        assert a.shape == b.shape
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-5)


@st.composite
def case(draw):
    B, T, D, H = (draw(st.integers(1, 4)), draw(st.integers(1, 7)), draw(st.integers(1, 5)),
                  draw(st.integers(1, 6)))
    config = {
        "units": H, "return_sequences": draw(st.booleans()),
        "return_state": draw(st.booleans()), "use_bias": draw(st.booleans()),
        "activation": draw(st.sampled_from(ACTS)),
        "recurrent_activation": draw(st.sampled_from(GATE_ACTS)),
    }
    kind = draw(st.sampled_from(["none", "right", "any"]))
    mask = None
    if kind == "right":  # right-padded, rows of any length (0 included)
        lens = np.array(draw(st.lists(st.integers(0, T), min_size=B, max_size=B)))
        mask = np.arange(T)[None, :] < lens[:, None]
    elif kind == "any":  # holes and left padding: ONNX's sequence_lens alone cannot say this
        bits = draw(st.lists(st.booleans(), min_size=B * T, max_size=B * T))
        mask = np.array(bits, bool).reshape(B, T)
    return B, T, D, config, mask, draw(st.booleans()), draw(st.integers(0, 2**31))


@settings(max_examples=40, deadline=None)
@given(case(), st.booleans(), st.booleans())
def test_lstm_to_onnx(tmp_path_factory, c, go_backwards, zero_output_for_mask):
    B, T, D, config, mask, with_state, seed = c
    rng = np.random.default_rng(seed)
    layer = lk.layers.LSTM(**config, go_backwards=go_backwards,
                           zero_output_for_mask=zero_output_for_mask,
                           bias_initializer="random_normal")
    x = rng.normal(size=(B, T, D)).astype("float32")
    state = [rng.normal(size=(B, config["units"])).astype("float32")
             for _ in range(2)] if with_state else None
    ref = layer(x, initial_state=state, mask=mask)
    path = tmp_path_factory.mktemp("onnx") / "lstm.onnx"
    model = lk.convert.to_onnx(layer, path, mask=mask is not None, initial_state=with_state)
    assert [n.op_type for n in model.graph.node].count("LSTM") == 1
    _close(ref, _run(path, lk.convert.onnx_feed(x, mask, state)))


@settings(max_examples=30, deadline=None)
@given(case(), st.sampled_from(["concat", "sum", "mul", "ave", None]))
def test_bidirectional_to_onnx(tmp_path_factory, c, merge_mode):
    B, T, D, config, mask, with_state, seed = c
    rng = np.random.default_rng(seed)
    layer = lk.layers.Bidirectional(
        lk.layers.LSTM(**config, bias_initializer="random_normal"), merge_mode=merge_mode)
    x = rng.normal(size=(B, T, D)).astype("float32")
    state = [rng.normal(size=(B, config["units"])).astype("float32")
             for _ in range(4)] if with_state else None
    ref = layer(x, initial_state=state, mask=mask)
    path = tmp_path_factory.mktemp("onnx") / "bi.onnx"
    lk.convert.to_onnx(layer, path, mask=mask is not None, initial_state=with_state)
    _close(ref, _run(path, lk.convert.onnx_feed(x, mask, state)))


def test_keras2_hard_sigmoid(tmp_path):
    layer = lk.layers.LSTM(3, recurrent_activation="hard_sigmoid", _keras2_activations=True,
                           return_sequences=True)
    x = np.random.default_rng(5).normal(size=(2, 4, 3)).astype("float32") * 3
    ref = layer(x)
    lk.convert.to_onnx(layer, tmp_path / "k2.onnx")
    _close(ref, _run(tmp_path / "k2.onnx", lk.convert.onnx_feed(x)))


def test_float64_layer_exports_float32(tmp_path):
    layer = lk.layers.LSTM(3, dtype="float64")
    x = np.random.default_rng(6).normal(size=(2, 4, 3))
    ref = layer(x)
    lk.convert.to_onnx(layer, tmp_path / "f64.onnx")
    np.testing.assert_allclose(_run(tmp_path / "f64.onnx", lk.convert.onnx_feed(x))[0], ref,
                               atol=1e-5)


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="not built"):
        lk.convert.to_onnx(lk.layers.LSTM(3), tmp_path / "a.onnx")
    layer = lk.layers.LSTM(3, activation="gelu")
    layer.build((None, 4, 2))
    with pytest.raises(ValueError, match="cannot express activation 'gelu'"):
        lk.convert.to_onnx(layer, tmp_path / "a.onnx")
    stateful = lk.layers.LSTM(3, stateful=True)
    stateful.build((2, 4, 2))
    with pytest.raises(ValueError, match="stateful"):
        lk.convert.to_onnx(stateful, tmp_path / "a.onnx")
    ok = lk.layers.LSTM(3)
    ok.build((None, 4, 2))
    with pytest.raises(ValueError, match="opset 15"):
        lk.convert.to_onnx(ok, tmp_path / "a.onnx", opset=13)
    x = np.zeros((2, 3, 2), "float32")
    with pytest.raises(ValueError, match="boolean"):
        lk.convert.onnx_feed(x, np.ones((2, 3), "float32"))
    with pytest.raises(ValueError, match="2 arrays"):
        lk.convert.onnx_feed(x, None, [np.zeros((2, 3))] * 3)
    assert not (tmp_path / "a.onnx").exists()


@pytest.mark.parametrize("opset", [15, 18, 21])
def test_opsets(tmp_path, opset):
    layer = lk.layers.Bidirectional(lk.layers.LSTM(2, return_sequences=True, go_backwards=False))
    x = np.random.default_rng(7).normal(size=(2, 5, 3)).astype("float32")
    mask = np.array([[1, 0, 1, 1, 0], [0, 0, 0, 0, 0]], bool)
    ref = layer(x, mask=mask)
    path = tmp_path / f"o{opset}.onnx"
    model = lk.convert.to_onnx(layer, path, mask=True, opset=opset)
    assert model.opset_import[0].version == opset
    _close(ref, _run(path, lk.convert.onnx_feed(x, mask)))
