"""Sequential and functional models -> PyTorch and ONNX, masks from Embedding/Masking.

Oracles: real Keras (model files and predictions written by Keras 3 and tf.keras 2 with
`scripts/make_keras_files.py`), and the lstmkit models themselves.
"""

import json
import pathlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

import lstmkit as lk

L = lk.layers


def _onnx_run(model, path, arrays):
    lk.convert.to_onnx(model, path)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {i.name: a for i, a in zip(sess.get_inputs(), arrays)}
    return sess.run(None, feed)


def _torch_run(model, arrays):
    module = lk.convert.to_torch(model)
    with torch.no_grad():
        out = module(*[torch.from_numpy(np.asarray(a)) for a in arrays])
    return [o.numpy() for o in (out if isinstance(out, list) else [out])]


def _check(ref, outs):
    ref = ref if isinstance(ref, list) else [ref]
    assert len(ref) == len(outs)
    for a, b in zip(ref, outs):
        assert a.shape == b.shape
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-5)


KERAS_FILES = pathlib.Path(__file__).parent / "data" / "keras_files"
MANIFEST = json.loads((KERAS_FILES / "MANIFEST.json").read_text())
# rnn_cells holds RNN(StackedRNNCells), which to_torch and to_onnx do not convert (a stack
# of cells has no single torch module or ONNX operator; tests/test_convert_gru_rnn.py covers
# GRU, SimpleRNN and RNN of one cell).
CASES = sorted(name for name, info in MANIFEST.items()
               if info["format"] == "keras" and info["model"] not in ("lambda", "rnn_cells"))


@pytest.mark.parametrize("name", CASES)
def test_keras_files_convert_with_keras_predictions(name, tmp_path):
    # Inputs include masks with holes and fully masked rows (masking_backwards_dropout,
    # stacked_embedding), which ONNX's sequence_lens alone cannot express.
    data = np.load(KERAS_FILES / MANIFEST[name]["data"])
    model = lk.models.load_model(str(KERAS_FILES / name))
    if len(model.inputs) == 1:
        arrays = [data["x"]]
    else:
        arrays = [data[f"x_{t._keras_history[0].name}"] for t in model.inputs]
    keras_out = [data[k] for k in sorted(data) if k.startswith("y")]
    _check(keras_out, _torch_run(model, arrays))
    _check(keras_out, _onnx_run(model, tmp_path / "k.onnx", arrays))


@st.composite
def text_model(draw):
    """Embedding(mask_zero) -> 1-2 recurrent layers -> Dense, on padded ids."""
    B, T, V = draw(st.integers(1, 4)), draw(st.integers(1, 6)), draw(st.integers(2, 12))
    lens = draw(st.lists(st.integers(0, T), min_size=B, max_size=B))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, V, size=(B, T))
    if draw(st.booleans()):
        ids[np.arange(T)[None, :] >= np.array(lens)[:, None]] = 0  # right padding
    else:
        ids[rng.random((B, T)) < 0.3] = 0  # padding anywhere
    layers = [lk.Input((T,), dtype="int32"),
              L.Embedding(V, draw(st.integers(1, 4)), mask_zero=draw(st.booleans()))]
    n = draw(st.integers(1, 2))
    for k in range(n):
        rs = k < n - 1 or draw(st.booleans())
        wrap = draw(st.booleans())
        lstm = L.LSTM(draw(st.integers(1, 5)), return_sequences=rs,
                      go_backwards=draw(st.booleans()) if k == 0 and not wrap else False,
                      activation=draw(st.sampled_from(["tanh", "relu", "softsign"])),
                      bias_initializer="random_normal")
        if wrap:  # Keras refuses Bidirectional(LSTM(go_backwards=True))
            lstm = L.Bidirectional(lstm, merge_mode=draw(st.sampled_from(
                ["concat", "sum", "mul", "ave"])))
        layers.append(lstm)
    layers.append(L.Dropout(0.3))
    layers.append(L.Dense(draw(st.integers(1, 3)),
                          activation=draw(st.sampled_from(["softmax", "linear", "sigmoid"]))))
    return lk.Sequential(layers), ids.astype("int32")


@settings(max_examples=25, deadline=None)
@given(text_model())
def test_sequential_text_models(tmp_path_factory, case):
    model, ids = case
    ref = model.predict(ids, verbose=0)
    _check(ref, _torch_run(model, [ids]))
    _check(ref, _onnx_run(model, tmp_path_factory.mktemp("m") / "m.onnx", [ids]))
    back = lk.convert.from_torch(lk.convert.to_torch(model))
    np.testing.assert_allclose(back.predict(ids, verbose=0), ref, rtol=0, atol=1e-6)


def test_functional_masking_initial_state_and_merges(tmp_path):
    rng = np.random.default_rng(0)
    x = lk.Input((6, 3), name="series")
    h0, c0 = lk.Input((4,), name="h0"), lk.Input((4,), name="c0")
    masked = L.Masking()(x)
    seq = L.LSTM(4, return_sequences=True, bias_initializer="random_normal")(masked)
    y, h, c = L.LSTM(4, return_sequences=True, return_state=True)(seq, initial_state=[h0, c0])
    both = L.Concatenate()([seq, y])
    summed = L.Add()([seq, y])
    out = L.TimeDistributed(L.Dense(2, activation="gelu"))(both)
    last = L.Bidirectional(L.LSTM(3, go_backwards=False))(summed)
    model = lk.Model([x, h0, c0], [out, last, h, c])
    xs = rng.normal(size=(3, 6, 3)).astype("float32")
    xs[1, 4:] = 0.0  # right padding the Masking layer turns into a mask
    xs[2, 1:] = 0.0
    arrays = [xs, rng.normal(size=(3, 4)).astype("float32"),
              rng.normal(size=(3, 4)).astype("float32")]
    ref = model.predict(arrays, verbose=0)
    _check(ref, _torch_run(model, arrays))
    _check(ref, _onnx_run(model, tmp_path / "f.onnx", arrays))


def test_normalization_flatten_repeat(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.normal(size=(5, 4, 2)).astype("float32")
    norm = L.Normalization()
    norm.adapt(data)
    model = lk.Sequential([lk.Input((4, 2)), norm, L.LSTM(3), L.RepeatVector(2),
                           L.LSTM(2, return_sequences=True), L.Flatten(), L.Dense(1),
                           L.Activation("relu6")])
    ref = model.predict(data, verbose=0)
    _check(ref, _torch_run(model, [data]))
    _check(ref, _onnx_run(model, tmp_path / "n.onnx", [data]))


def test_load_torch_weights_into_model():
    rng = np.random.default_rng(2)
    model = lk.Sequential([lk.Input((5, 2)), L.LSTM(3, return_sequences=True),
                           L.Bidirectional(L.LSTM(2)), L.Dense(1)])
    x = rng.normal(size=(4, 5, 2)).astype("float32")
    module = lk.convert.to_torch(model).train()
    opt = torch.optim.Adam(module.parameters(), lr=0.1)
    module(torch.from_numpy(x)).pow(2).mean().backward()
    opt.step()
    lk.convert.load_torch_weights(model, module)
    module.eval()
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5)
    assert len(lk.convert.torch_weights(module)) == len(model.get_weights())


def test_unsupported_layers_are_named(tmp_path):
    model = lk.Sequential([lk.Input((4, 2)), L.LSTM(3, activation="gelu")])
    with pytest.raises(ValueError, match="cannot express activation 'gelu'"):
        lk.convert.to_onnx(model, tmp_path / "x.onnx")
    with pytest.raises(ValueError, match="single layers"):
        lk.convert.to_onnx(model, tmp_path / "x.onnx", mask=True)
    with pytest.raises(ValueError, match="got int"):
        lk.convert.to_torch(3)
    with pytest.raises(ValueError, match="got str"):
        lk.convert.to_onnx("model.keras", tmp_path / "x.onnx")


def test_shared_layer_converts_once(tmp_path):
    a, b = lk.Input((4, 3), name="a"), lk.Input((4, 3), name="b")
    shared = L.LSTM(2, bias_initializer="random_normal")
    model = lk.Model([a, b], L.Dense(1)(L.Concatenate()([shared(a), shared(b)])))
    rng = np.random.default_rng(4)
    arrays = [rng.normal(size=(3, 4, 3)).astype("float32") for _ in range(2)]
    ref = model.predict(arrays, verbose=0)
    module = lk.convert.to_torch(model)
    assert len(module.layers) == 3  # the shared LSTM is one module, called twice
    _check(ref, _torch_run(model, arrays))
    _check(ref, _onnx_run(model, tmp_path / "s.onnx", arrays))
