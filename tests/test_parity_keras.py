"""Parity with real Keras 3: golden files made by Keras, and Keras (torch backend) live.

The goldens (tests/data/golden_lstm.{json,npz}) were written by scripts/make_golden.py
running Keras 3.15 on the TensorFlow backend, the authority. Each case holds Keras's
`get_config()`, the weights Keras ran with, the call arguments and Keras's outputs;
lstmkit builds its layer from that very config dict, loads the same weights and must
return the same numbers (max abs error <= 1e-5 in float32).

Goldens are checked on both lstmkit paths (the reference and the fused kernels). They
also hold every activation's values on a grid, the errors Keras raises for bad input, and
tf.keras 2 (tf_keras) outputs for the Keras 2 `hard_sigmoid` switch.

The live tests (Keras 3 on the torch backend) cover what goldens cannot: dropout with
training=True, where both libraries are made to draw the same masks, and the activations'
derivatives against torch autograd through Keras's own activations.
"""

from __future__ import annotations

import builtins
import json
from pathlib import Path

import numpy as np
import pytest

import lstmkit as lk
from _oracle import keras as _keras
from lstmkit.layers import recurrent_cell as lk_recurrent_cell

DATA = Path(__file__).parent / "data"
GOLDEN = json.loads((DATA / "golden_lstm.json").read_text())
with np.load(DATA / "golden_lstm.npz") as _npz:
    ARRAYS = {k: _npz[k] for k in _npz.files}
CASES = GOLDEN["cases"]
TOL = {"float32": 1e-5, "float64": 1e-12}
# Keras's torch variables implement __array__ without `copy` (NumPy 2 warns); not ours.
KERAS_NUMPY2_WARNING = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")


def test_goldens_were_made_by_keras3_on_tensorflow():
    assert GOLDEN["made_by"] == "scripts/make_golden.py"
    assert GOLDEN["keras_version"].startswith("3.")
    assert GOLDEN["backend"] == "tensorflow"
    assert len(CASES) >= 100
    size = sum((DATA / f).stat().st_size for f in ("golden_lstm.json", "golden_lstm.npz"))
    assert size < 1_000_000


def build_from_golden(case, backend=None):
    """The lstmkit layer made from Keras's own config dict, with Keras's weights."""
    cls = getattr(lk.layers, case["class_name"])
    layer = cls.from_config(json.loads(json.dumps(case["config"])))  # a fresh copy
    layer.build(tuple(case["input_shape"]))
    layer.set_weights([ARRAYS[k] for k in case["weights"]])
    if backend is not None:  # "reference" (the spec) or "auto" (the fused kernels if they run)
        for sub in (layer, getattr(layer, "forward_layer", None),
                    getattr(layer, "backward_layer", None)):
            if sub is not None and hasattr(sub, "backend"):
                sub.backend = backend
    return layer


def run_call(layer, case, call):
    x = ARRAYS[call["inputs"]]
    states = None
    if call["initial_state"] is not None:
        states = [ARRAYS[k] for k in call["initial_state"]]
    if case["class_name"] == "LSTMCell":
        h, (h2, c) = layer(x, states)
        return [h, h2, c]
    if call["reset_before"]:
        layer.reset_state()
    mask = None if call["mask"] is None else ARRAYS[call["mask"]]
    out = layer(x, mask=mask, initial_state=states, training=call["training"])
    return list(out) if isinstance(out, tuple) else [out]


@pytest.mark.parametrize("backend", ["reference", "auto"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_outputs(name, backend):
    case = CASES[name]
    layer = build_from_golden(case, backend)
    for n, call in enumerate(case["calls"]):
        got = run_call(layer, case, call)
        want = [ARRAYS[k] for k in call["outputs"]]
        assert len(got) == len(want), f"call {n}: {len(got)} outputs, Keras gave {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert g.shape == w.shape, f"call {n} output {i}: {g.shape} != Keras {w.shape}"
            assert g.dtype == w.dtype, f"call {n} output {i}: {g.dtype} != Keras {w.dtype}"
            err = float(np.max(np.abs(g.astype("float64") - w.astype("float64"))))
            assert err <= TOL[str(w.dtype)], f"call {n} output {i}: max abs err {err:.3g}"
    if backend == "reference" and case["class_name"] != "LSTMCell":
        assert layer.backend_ == "reference"


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_config_round_trip(name):
    """Keras's config -> lstmkit -> get_config() gives Keras's config back."""
    case = CASES[name]
    layer = getattr(lk.layers, case["class_name"]).from_config(dict(case["config"]))
    if case["class_name"] == "Bidirectional":
        layer.build(tuple(case["input_shape"]))
    got = json.loads(json.dumps(layer.get_config()))
    want = case["config"]
    assert got == want
    assert list(got) == list(want)  # Keras's key order, so written files match byte for byte


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_weight_shapes_and_initial_values(name):
    """Keras's weight order and shapes; deterministic initializers give Keras's values."""
    case = CASES[name]
    layer = getattr(lk.layers, case["class_name"]).from_config(dict(case["config"]))
    layer.build(tuple(case["input_shape"]))
    shapes = [w.shape for w in layer.get_weights()]
    assert shapes == [ARRAYS[k].shape for k in case["weights"]]
    dtypes = [str(w.dtype) for w in layer.get_weights()]
    assert dtypes == [str(ARRAYS[k].dtype) for k in case["weights"]]
    if case["initial_weights"] and case["config"]["use_bias"]:
        *_, bias = layer.get_weights()
        init_bias = ARRAYS[case["initial_weights"][-1]]
        np.testing.assert_array_equal(bias, init_bias)


ERRORS = GOLDEN["errors"]
X = np.zeros((3, 6, 4), "float32")


def _lstm(**kw):
    return lk.layers.LSTM(3, **kw)


def _stateful_batch_change():
    layer = _lstm(stateful=True)
    layer(X)
    layer(X[:2])


def _set_weights_wrong_count():
    layer = _lstm()
    layer.build((None, 6, 4))
    layer.set_weights([np.zeros((4, 12))])


ATTEMPTS = {
    "units_zero": lambda: lk.layers.LSTM(0),
    "units_negative": lambda: lk.layers.LSTMCell(-1),
    "unknown_activation": lambda: _lstm(activation="nope"),
    "unknown_initializer": lambda: _lstm(kernel_initializer="nope"),
    "use_cudnn_invalid": lambda: _lstm(use_cudnn="yes"),
    "merge_mode_invalid": lambda: lk.layers.Bidirectional(_lstm(), merge_mode="max"),
    "bidi_wrapped_go_backwards": lambda: lk.layers.Bidirectional(_lstm(go_backwards=True)),
    "bidi_backward_same_direction": lambda: lk.layers.Bidirectional(
        _lstm(), backward_layer=_lstm()),
    "bidi_backward_return_sequences_differs": lambda: lk.layers.Bidirectional(
        _lstm(return_sequences=True), backward_layer=_lstm(go_backwards=True)),
    "stateful_batch_change": _stateful_batch_change,
    "wrong_rank": lambda: _lstm()(np.zeros((3, 4), "float32")),
    "set_weights_wrong_count": _set_weights_wrong_count,
}


def test_every_recorded_keras_error_is_attempted():
    assert set(ATTEMPTS) == set(ERRORS)


@pytest.mark.parametrize("name", sorted(ATTEMPTS))
def test_rejects_what_keras_rejects(name):
    keras_error = ERRORS[name]
    assert keras_error is not None, f"Keras accepted {name}"
    with pytest.raises(getattr(builtins, keras_error["type"])):
        ATTEMPTS[name]()


# -- live oracle: Keras 3 on the torch backend -----------------------------------------------

class MaskBook:
    """Deterministic dropout masks, shared by Keras's and lstmkit's draws, in draw order."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.masks = []  # every mask Keras drew, in order
        self.used = 0  # how many of them lstmkit has taken

    def keras_dropout(self, inputs, rate, noise_shape=None, seed=None):
        import torch

        shape = tuple(inputs.shape)
        keep = self.rng.random(shape) >= rate
        mask = (keep / (1.0 - rate)).astype("float32")
        self.masks.append(mask)
        return torch.as_tensor(mask, dtype=inputs.dtype) * inputs

    def lstmkit_dropout(self, rng, shape, rate, dtype):
        n = shape[0] if len(shape) == 3 else 1
        taken = self.masks[self.used:self.used + n]
        self.used += n
        assert len(taken) == n, "lstmkit drew more masks than Keras"
        mask = np.stack(taken) if len(shape) == 3 else taken[0]
        assert mask.shape == tuple(shape), f"lstmkit mask {shape}, Keras's {mask.shape}"
        return mask.astype(dtype)


DROPOUT_CASES = [
    # (layer kwargs, mask, masks per call Keras draws)
    ({"dropout": 0.4}, None, 1),  # implementation 2: one input mask shared by 4 gates
    ({"dropout": 0.4}, "holes", 1),
    ({"dropout": 0.3, "go_backwards": True, "return_state": True}, "holes", 1),
    ({"recurrent_dropout": 0.3}, None, 4),  # implementation 1: 4 recurrent masks
    ({"dropout": 0.5, "recurrent_dropout": 0.25}, "holes", 8),  # 4 input + 4 recurrent
    # implementation=1 asked for: 4 input masks, one per gate. (use_cudnn=False because
    # Keras's own fused-path attempt crashes on the list of 4 masks in LSTM.inner_loop.)
    ({"dropout": 0.5, "implementation": 1, "use_cudnn": False}, "holes", 4),
    ({"dropout": 0.2, "recurrent_dropout": 0.6, "go_backwards": True, "zero_output_for_mask": True},
     "right_padded", 8),
]


@KERAS_NUMPY2_WARNING
@pytest.mark.parametrize("backend", ["reference", "auto"])
@pytest.mark.parametrize("kwargs, mask_name, n_masks", DROPOUT_CASES)
def test_dropout_training_matches_keras_with_the_same_masks(monkeypatch, kwargs,
                                                            mask_name, n_masks, backend):
    keras = _keras()
    from keras.src.layers.rnn import dropout_rnn_cell

    book = MaskBook(seed=len(kwargs) + n_masks)
    monkeypatch.setattr(dropout_rnn_cell.backend.random, "dropout", book.keras_dropout)
    monkeypatch.setattr(lk_recurrent_cell, "dropout_mask", book.lstmkit_dropout)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 6, 4)).astype("float32")
    mask = None if mask_name is None else np.array(GOLDEN["masks"][mask_name], bool)
    k_layer = keras.layers.LSTM(3, return_sequences=True, **kwargs)
    k_layer.build(x.shape)
    weights = [rng.normal(size=w.shape).astype("float32") * 0.5 for w in k_layer.get_weights()]
    k_layer.set_weights(weights)
    config = k_layer.get_config()
    if "implementation" in kwargs:  # not in Keras's config: Keras's own round trip loses it
        config["implementation"] = kwargs["implementation"]
    l_layer = lk.layers.LSTM.from_config(config)
    l_layer.backend = backend
    l_layer.build(x.shape)
    l_layer.set_weights(weights)
    for _call in range(2):  # a new mask per call, the same mask at every step of a call
        before = len(book.masks)
        want = k_layer(x, mask=mask, training=True)
        assert len(book.masks) - before == n_masks
        got = l_layer(x, mask=mask, training=True)
        assert book.used == len(book.masks), "lstmkit drew fewer masks than Keras"
        want = [want] if not isinstance(want, (tuple, list)) else list(want)
        got = [got] if not isinstance(got, tuple) else list(got)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w.detach().cpu().numpy(), atol=1e-5, rtol=0)
    if n_masks == 1:  # the rule itself: one input mask (B, D), shared by the four gates
        assert book.masks[0].shape == (3, 4)


@KERAS_NUMPY2_WARNING
@pytest.mark.parametrize("kwargs, n_masks", [({"dropout": 0.3}, 2),
                                             ({"dropout": 0.3, "recurrent_dropout": 0.4}, 16)])
def test_bidirectional_dropout_matches_keras_with_the_same_masks(monkeypatch, kwargs, n_masks):
    """Each direction draws its own masks, forward layer first."""
    keras = _keras()
    from keras.src.layers.rnn import dropout_rnn_cell

    book = MaskBook(seed=n_masks)
    monkeypatch.setattr(dropout_rnn_cell.backend.random, "dropout", book.keras_dropout)
    monkeypatch.setattr(lk_recurrent_cell, "dropout_mask", book.lstmkit_dropout)
    rng = np.random.default_rng(8)
    x = rng.normal(size=(3, 6, 4)).astype("float32")
    mask = np.array(GOLDEN["masks"]["holes"], bool)
    k_layer = keras.layers.Bidirectional(
        keras.layers.LSTM(3, return_sequences=True, return_state=True, **kwargs))
    k_layer.build(x.shape)
    weights = [rng.normal(size=w.shape).astype("float32") * 0.5 for w in k_layer.get_weights()]
    k_layer.set_weights(weights)
    l_layer = lk.layers.Bidirectional.from_config(k_layer.get_config())
    l_layer.build(x.shape)
    l_layer.set_weights(weights)
    want = k_layer(x, mask=mask, training=True)
    assert len(book.masks) == n_masks
    got = l_layer(x, mask=mask, training=True)
    assert book.used == n_masks
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w.detach().cpu().numpy(), atol=1e-5, rtol=0)


def test_dropout_one_mask_per_call_shared_across_time(monkeypatch):
    """Unpatched draws: a new mask each call, one mask (B, D) for all steps of a call."""
    seen = []
    real = lk_recurrent_cell.dropout_mask

    def spy(rng, shape, rate, dtype):
        seen.append(real(rng, shape, rate, dtype))
        return seen[-1]

    monkeypatch.setattr(lk_recurrent_cell, "dropout_mask", spy)
    layer = lk.layers.LSTM(3, dropout=0.5, seed=1, return_sequences=True)
    x = np.ones((4, 5, 6), "float32")
    a = layer(x, training=True)
    b = layer(x, training=True)
    assert len(seen) == 2 and seen[0].shape == (4, 6)
    assert not np.array_equal(seen[0], seen[1]) and not np.allclose(a, b)
    np.testing.assert_allclose(seen[0][seen[0] != 0], 2.0)  # inverted dropout: 1 / (1 - rate)
    # The same mask at every step: equal to running the reference with that fixed mask.
    cell = layer.cell
    ref = lk.reference.lstm_sequence(x * seen[1][:, None, :], cell.kernel.value,
                                     cell.recurrent_kernel.value, cell.bias.value)
    np.testing.assert_allclose(b, ref.outputs, atol=1e-6)
    np.testing.assert_array_equal(layer(x), layer(x, training=False))  # no dropout at inference
    assert len(seen) == 2


@KERAS_NUMPY2_WARNING
@pytest.mark.parametrize("cls_kwargs", [
    {"return_sequences": True, "return_state": True},
    {"go_backwards": True, "return_sequences": True, "zero_output_for_mask": True},
    {"activation": "relu6", "recurrent_activation": "hard_sigmoid", "use_bias": False},
])
def test_live_keras_torch_backend_random_masks(cls_kwargs):
    """A few random masks (with holes and empty rows) against Keras live."""
    keras = _keras()
    rng = np.random.default_rng(11)
    x = rng.normal(size=(5, 7, 3)).astype("float32")
    mask = rng.random((5, 7)) > 0.4
    mask[0] = False
    k_layer = keras.layers.LSTM(4, **cls_kwargs)
    k_layer.build(x.shape)
    weights = [rng.normal(size=w.shape).astype("float32") * 0.5 for w in k_layer.get_weights()]
    k_layer.set_weights(weights)
    l_layer = lk.layers.LSTM.from_config(k_layer.get_config())
    l_layer.build(x.shape)
    l_layer.set_weights(weights)
    want = k_layer(x, mask=mask)
    got = l_layer(x, mask=mask)
    want = list(want) if isinstance(want, (tuple, list)) else [want]
    got = list(got) if isinstance(got, tuple) else [got]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w.detach().cpu().numpy(), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", sorted(k.split("/")[1] for k in ARRAYS
                                       if k.startswith("activations/") and k != "activations/x"))
def test_activation_values_match_keras_golden(name):
    """Keras (TF) on a float32 grid through every kink; TF's gelu is the erfc form."""
    x = ARRAYS["activations/x"]
    got = lk.activations.get(None if name == "none" else name)(x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ARRAYS[f"activations/{name}"], rtol=4e-6, atol=2e-8)


@KERAS_NUMPY2_WARNING
@pytest.mark.parametrize("name", sorted(set(lk.activations.names())
                                        - {"softmax", "log_softmax"}))
def test_activation_derivatives_match_keras_autograd(name):
    """`Activation.grad` against torch autograd through Keras's own activation (float64,
    away from the kinks, where the derivative is not defined)."""
    keras = _keras()
    import torch

    kinks = np.array([-6.0, -3.0, -2.5, -1.0, 0.0, 1.0, 2.5, 3.0, 6.0])
    x = np.linspace(-9, 9, 361)
    x = x[np.min(np.abs(x[:, None] - kinks[None, :]), axis=1) > 1e-2]
    leaf = torch.tensor(x, requires_grad=True)
    keras.activations.get(name)(leaf).sum().backward()
    act = lk.activations.get(name)
    np.testing.assert_allclose(act.grad(x, act(x)), leaf.grad.numpy(), rtol=1e-7, atol=1e-9)


KERAS2 = GOLDEN.get("keras2_cases") or {}


def test_keras2_goldens_are_present():
    assert set(KERAS2) == {"keras2_hard_sigmoid", "keras2_hard_sigmoid_backwards"}


@pytest.mark.parametrize("name", sorted(KERAS2))
def test_keras2_hard_sigmoid_switch_matches_tf_keras(name):
    """tf.keras 2's hard_sigmoid (0.2 x + 0.5) behind `_keras2_activations=True`."""
    case = KERAS2[name]
    config = {k: v for k, v in case["config"].items() if k != "time_major"}  # Keras 3 rejects it
    layer = lk.layers.LSTM.from_config({**config, "_keras2_activations": True})
    layer.build(tuple(case["input_shape"]))
    layer.set_weights([ARRAYS[k] for k in case["weights"]])
    x, mask = ARRAYS[case["inputs"]], ARRAYS[case["mask"]]
    got = layer(x, mask=mask)
    got = list(got) if isinstance(got, tuple) else [got]
    want = [ARRAYS[k] for k in case["outputs"]]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-5)
    keras3 = lk.layers.LSTM.from_config(config)  # Keras 3's hard_sigmoid differs
    keras3.build(x.shape)
    keras3.set_weights(layer.get_weights())
    first = keras3(x, mask=mask)
    first = first[0] if isinstance(first, tuple) else first
    assert np.abs(first - want[0]).max() > 1e-3
