"""LSTMCell, LSTM, Bidirectional as layers: config, weights, stateful, dtypes, bad input.

Keras 3 (torch backend) is the oracle for configs, weight paths and parameter counts;
the numbers themselves are checked in test_parity_keras.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import lstmkit as lk
from _oracle import keras as _keras

L = lk.layers
B, T, D, H = 3, 6, 4, 5
RNG = np.random.default_rng(0)
X = RNG.normal(size=(B, T, D)).astype("float32")
KERAS_NUMPY2_WARNING = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")


def _json(config):
    return json.loads(json.dumps(config))


# -- config round trip against Keras's own configs -------------------------------------------

LSTM_KWARGS = [
    {},
    {"activation": "relu", "recurrent_activation": "hard_sigmoid", "use_bias": False,
         "return_sequences": True, "return_state": True, "go_backwards": True, "stateful": True,
         "unroll": True, "zero_output_for_mask": True, "dropout": 0.25, "recurrent_dropout": 0.5,
         "seed": 3},
    {"kernel_initializer": "he_uniform", "recurrent_initializer": "identity",
         "bias_initializer": "random_normal", "unit_forget_bias": False, "kernel_regularizer": "l2",
         "recurrent_regularizer": "l1", "bias_regularizer": "l2", "activity_regularizer": "l2",
         "kernel_constraint": "max_norm", "recurrent_constraint": "unit_norm",
         "bias_constraint": "non_neg", "activation": None, "dtype": "float64", "trainable": False},
    {"kernel_initializer": {"class_name": "VarianceScaling",
                             "config": {"scale": 2.0, "mode": "fan_out",
                                        "distribution": "normal", "seed": 4}},
         "recurrent_initializer": {"class_name": "Orthogonal", "config": {"gain": 0.5, "seed": 1}},
         "bias_initializer": {"class_name": "Constant", "config": {"value": 0.1}},
         "activation": "gelu", "recurrent_activation": "swish", "dropout": 1.5},
]


@pytest.mark.parametrize("kwargs", LSTM_KWARGS)
def test_lstm_config_round_trip_with_keras(kwargs):
    keras = _keras()
    k_config = _json(keras.layers.LSTM(H, name="lstm_x", **kwargs).get_config())
    layer = L.LSTM.from_config(k_config)
    assert _json(layer.get_config()) == k_config
    assert list(layer.get_config()) == list(k_config)
    # and lstmkit's own constructor gives the same config as Keras's constructor
    own = L.LSTM(H, name="lstm_x", **kwargs).get_config()
    assert _json(own) == k_config


@pytest.mark.parametrize("kwargs", LSTM_KWARGS[:3])
def test_cell_config_round_trip_with_keras(kwargs):
    keras = _keras()
    cell_kwargs = {k: v for k, v in kwargs.items() if k in (
        "activation", "recurrent_activation", "use_bias", "dropout", "recurrent_dropout", "seed",
        "kernel_initializer", "recurrent_initializer", "bias_initializer", "unit_forget_bias",
        "kernel_regularizer", "kernel_constraint", "dtype")}
    k_config = _json(keras.layers.LSTMCell(H, name="cell", **cell_kwargs).get_config())
    cell = L.LSTMCell.from_config(k_config)
    assert _json(cell.get_config()) == k_config
    assert list(cell.get_config()) == list(k_config)


@KERAS_NUMPY2_WARNING
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_config_round_trip_with_keras(merge_mode):
    keras = _keras()
    k_layer = keras.layers.Bidirectional(
        keras.layers.LSTM(H, return_sequences=True, name="inner"), merge_mode=merge_mode,
        backward_layer=keras.layers.LSTM(2, go_backwards=True, return_sequences=True,
                                         activation="relu", name="back"), name="bi")
    k_layer.build((None, T, D))
    k_config = _json(k_layer.get_config())
    layer = L.Bidirectional.from_config(k_config)
    layer.build((None, T, D))
    assert _json(layer.get_config()) == k_config
    assert [w.path for w in layer.weights] == [w.path for w in k_layer.weights]
    assert layer.count_params() == k_layer.count_params()
    assert layer.forward_layer.name == "forward_inner" and layer.backward_layer.name == "back"


def test_serialize_deserialize_registry():
    layer = L.LSTM(H, return_sequences=True, name="seq")
    entry = L.serialize(layer)
    assert entry["module"] == "keras.layers" and entry["class_name"] == "LSTM"
    again = L.deserialize(entry)
    assert type(again) is L.LSTM and again.get_config() == layer.get_config()
    bi = L.deserialize(L.serialize(L.Bidirectional(L.LSTM(H), merge_mode="sum")))
    assert bi.merge_mode == "sum"
    with pytest.raises(ValueError, match="Unknown layer class 'Evil'"):
        L.deserialize({"class_name": "Evil", "config": {}})
    with pytest.raises(ValueError, match="Lambda"):
        L.deserialize({"class_name": "Lambda", "config": {}})


# -- weights -------------------------------------------------------------------------------

@KERAS_NUMPY2_WARNING
@pytest.mark.parametrize("use_bias", [True, False])
def test_weights_order_shapes_paths_count_params_match_keras(use_bias):
    keras = _keras()
    k_layer = keras.layers.LSTM(H, use_bias=use_bias, name="lstm")
    k_layer.build((None, T, D))
    layer = L.LSTM(H, use_bias=use_bias, name="lstm")
    layer.build((None, T, D))
    assert [w.path for w in layer.weights] == [w.path for w in k_layer.weights]
    assert [w.name for w in layer.weights] == [w.name for w in k_layer.weights]
    assert [w.shape for w in layer.weights] == [tuple(w.shape) for w in k_layer.weights]
    assert layer.count_params() == k_layer.count_params() == 4 * H * (D + H + use_bias)


def test_weights_layout_and_set_get():
    layer = L.LSTM(H)
    layer.build((None, T, D))
    kernel, recurrent, bias = layer.get_weights()
    assert kernel.shape == (D, 4 * H) and recurrent.shape == (H, 4 * H) and bias.shape == (4 * H,)
    assert [w.path for w in layer.weights] == [
        f"{layer.name}/lstm_cell/kernel", f"{layer.name}/lstm_cell/recurrent_kernel",
        f"{layer.name}/lstm_cell/bias"]
    new = [RNG.normal(size=w.shape) for w in layer.get_weights()]
    layer.set_weights(new)
    for got, want in zip(layer.get_weights(), new):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want.astype("float32"))
    # get_weights returns copies
    layer.get_weights()[0][:] = 0
    assert layer.get_weights()[0].any()
    assert layer.kernel is layer.cell.kernel and layer.units == H


def test_trainable_false_moves_weights_to_non_trainable():
    layer = L.LSTM(H, trainable=False)
    layer.build((None, T, D))
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 3
    bi = L.Bidirectional(L.LSTM(H))
    bi.build((None, T, D))
    assert len(bi.weights) == 6 and bi.count_params() == 2 * 4 * H * (D + H + 1)


def test_count_params_before_build_is_an_error():
    with pytest.raises(ValueError, match="not built yet"):
        L.LSTM(H).count_params()


# -- stateful ------------------------------------------------------------------------------

def test_stateful_keeps_state_across_calls_and_resets():
    layer = L.LSTM(H, stateful=True, return_sequences=True, return_state=True)
    plain = L.LSTM(H, return_sequences=True, return_state=True)
    layer.build(X.shape)
    plain.build(X.shape)
    plain.set_weights(layer.get_weights())
    x2 = RNG.normal(size=X.shape).astype("float32")
    seq1, h1, _c1 = layer(X)
    seq2, h2, c2 = layer(x2)
    whole, h, _c = plain(np.concatenate([X, x2], axis=1))
    np.testing.assert_allclose(np.concatenate([seq1, seq2], axis=1), whole, atol=1e-6)
    np.testing.assert_allclose(h2, h, atol=1e-6)
    np.testing.assert_allclose(layer.states[0], h2)
    np.testing.assert_allclose(layer.states[1], c2)
    layer.reset_state()
    assert not np.any(layer.states[0]) and not np.any(layer.states[1])
    np.testing.assert_allclose(layer(X)[0], seq1, atol=1e-7)
    layer.reset_states()  # Keras's alias
    np.testing.assert_allclose(layer(X)[1], h1, atol=1e-7)


def test_stateful_batch_change_is_an_error_naming_both_sizes():
    layer = L.LSTM(H, stateful=True)
    layer(X)
    with pytest.raises(ValueError, match=r"batch size 3.*got 2"):
        layer(X[:2])
    layer.reset_state()
    with pytest.raises(ValueError, match=r"batch size 3.*got 2"):
        layer(X[:2])


def test_stateful_needs_a_static_batch():
    with pytest.raises(ValueError, match="batch size must be static"):
        L.LSTM(H, stateful=True).build((None, T, D))


def test_bidirectional_stateful_and_reset():
    bi = L.Bidirectional(L.LSTM(H, stateful=True, return_sequences=True))
    first = bi(X)
    assert len(bi.states) == 4
    assert not np.allclose(bi(X), first)
    bi.reset_state()
    np.testing.assert_allclose(bi(X), first, atol=1e-7)
    with pytest.raises(AttributeError, match="must be stateful"):
        L.Bidirectional(L.LSTM(H)).reset_state()


def test_initial_state_overrides_stored_state():
    layer = L.LSTM(H, stateful=True, return_state=True)
    layer(X)
    h0 = RNG.normal(size=(B, H)).astype("float32")
    c0 = RNG.normal(size=(B, H)).astype("float32")
    plain = L.LSTM(H, return_state=True)
    plain.build(X.shape)
    plain.set_weights(layer.get_weights())
    got = layer(X, initial_state=[h0, c0])
    want = plain(X, initial_state=[h0, c0])
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-7)


# -- dtypes --------------------------------------------------------------------------------

def test_float32_by_default():
    layer = L.LSTM(H, return_state=True)
    outs = layer(X.astype("float64"))
    assert all(o.dtype == np.float32 for o in outs)
    assert all(w.dtype == np.float32 for w in layer.get_weights())
    assert layer.get_config()["dtype"]["config"]["name"] == "float32"


def test_float64_end_to_end():
    layer = L.LSTM(H, dtype="float64", return_sequences=True, return_state=True)
    x = RNG.normal(size=(B, T, D))
    outs = layer(x, initial_state=[np.zeros((B, H), "float32")] * 2,
                 mask=np.ones((B, T), bool))
    assert all(o.dtype == np.float64 for o in outs)
    assert all(w.dtype == np.float64 for w in layer.get_weights())
    ref = lk.reference.lstm_sequence(x, *layer.get_weights())
    np.testing.assert_allclose(outs[0], ref.outputs, rtol=0, atol=1e-13)
    bi = L.Bidirectional(L.LSTM(H, dtype="float64", return_sequences=True), dtype="float64")
    assert bi(x).dtype == np.float64
    cell = L.LSTMCell(H, dtype="float64")
    assert cell(x[:, 0], cell.get_initial_state(B))[0].dtype == np.float64


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8", "bool", "float16"])
def test_int_bool_float16_inputs_are_cast_to_float32(dtype):
    layer = L.LSTM(H, return_sequences=True)
    x = np.round(RNG.normal(size=(B, T, D)) * 2)
    x = (x > 0) if dtype == "bool" else np.abs(x) if dtype == "uint8" else x
    x = x.astype(dtype)
    got = layer(x)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, layer(x.astype("float32")))


@pytest.mark.parametrize("bad", [np.array([[["a", "b"]]]), np.array([[[object()]]]),
                                 np.array([[[1 + 2j]]])])
def test_strings_objects_complex_are_type_errors(bad):
    with pytest.raises(TypeError, match=r"must be numeric.*got an array of dtype"):
        L.LSTM(H)(bad)
    with pytest.raises(TypeError, match="must be numeric"):
        L.Bidirectional(L.LSTM(H))(bad)


@pytest.mark.parametrize("dtype", ["int32", "string", "complex64"])
def test_layer_dtype_must_be_float(dtype):
    with pytest.raises(TypeError, match="float"):
        L.LSTM(H, dtype=dtype)


def test_torch_tensor_inputs_are_accepted():
    torch = pytest.importorskip("torch")
    layer = L.LSTM(H)
    np.testing.assert_array_equal(layer(torch.from_numpy(X)), layer(X))


# -- bad input: ValueError / TypeError naming what was expected and what came ---------------

def _built(**kw):
    layer = L.LSTM(H, **kw)
    layer.build(X.shape)
    return layer


BAD_INPUTS = [
    ("rank 2", lambda: L.LSTM(H)(np.zeros((B, D))), ValueError,
     r"expected ndim=3.*found ndim=2.*\(3, 4\)"),
    ("rank 4", lambda: L.LSTM(H)(np.zeros((B, T, D, 1))), ValueError,
     r"expected ndim=3.*found ndim=4"),
    ("build rank", lambda: L.LSTM(H).build((B, D)), ValueError, r"expected ndim=3.*ndim=2"),
    ("feature size change", lambda: _built()(np.zeros((B, T, D + 1))), ValueError,
     r"expected axis -1 of input shape to have value 4.*\(3, 6, 5\)"),
    ("zero timesteps", lambda: L.LSTM(H)(np.zeros((B, 0, D))), ValueError, "0 timesteps"),
    ("units 0", lambda: L.LSTM(0), ValueError, "expected a positive integer, got 0"),
    ("units negative", lambda: L.LSTMCell(-2), ValueError, "expected a positive integer, got -2"),
    ("units float", lambda: L.LSTM(2.5), ValueError, "expected a positive integer, got 2.5"),
    ("units str", lambda: L.LSTM("4"), ValueError, "expected a positive integer, got '4'"),
    ("unknown activation", lambda: L.LSTM(H, activation="tanhh"), ValueError,
     r"Unknown activation 'tanhh'; expected one of .*tanh"),
    ("unknown recurrent activation", lambda: L.LSTM(H, recurrent_activation="sigm"),
     ValueError, r"Unknown activation 'sigm'; expected one of .*sigmoid"),
    ("activation type", lambda: L.LSTM(H, activation=3), TypeError,
     "activation must be a name.*got int"),
    ("unknown initializer", lambda: L.LSTM(H, kernel_initializer="glorot"), ValueError,
     r"Unknown initializer 'glorot'; expected one of .*glorot_uniform"),
    ("unknown initializer class", lambda: L.LSTM(H, bias_initializer={"class_name": "Nope"}),
     ValueError, "Unknown initializer class 'Nope'"),
    ("initializer type", lambda: L.LSTM(H, kernel_initializer=1.5), TypeError,
     "initializer must be a name.*got 1.5"),
    ("unknown regularizer", lambda: L.LSTM(H, kernel_regularizer="l3"), ValueError,
     r"Unknown regularizer 'l3'; expected one of"),
    ("unknown constraint", lambda: L.LSTM(H, bias_constraint="pos"), ValueError,
     r"Unknown constraint 'pos'; expected one of"),
    ("dropout type", lambda: L.LSTM(H, dropout="0.5"), TypeError,
     r"dropout must be a number in \[0, 1\], got '0.5'"),
    ("use_cudnn", lambda: L.LSTM(H, use_cudnn="yes"), ValueError,
     r"Expected one of \{'auto', True, False\}. Received: use_cudnn='yes'"),
    ("unknown keyword", lambda: L.LSTM(H, time_major=False), ValueError,
     r"Unrecognized keyword arguments passed to LSTM: \{'time_major': False\}"),
    ("weights count", lambda: _built().set_weights([np.zeros((D, 4 * H))]), ValueError,
     (r"expects 3 weight arrays \(kernel \(4, 20\), recurrent_kernel \(5, 20\), bias \(20,\)\), "
     r"got 1")),
    ("weights shape", lambda: _built().set_weights(
        [np.zeros((D, 4 * H)), np.zeros((H, 4 * H)), np.zeros(4 * H + 1)]), ValueError,
     r"weight 'bias' has shape \(20,\), got an array of shape \(21,\)"),
    ("weights transposed", lambda: _built().set_weights(
        [np.zeros((4 * H, D)), np.zeros((H, 4 * H)), np.zeros(4 * H)]), ValueError,
     r"weight 'kernel' has shape \(4, 20\), got an array of shape \(20, 4\)"),
    ("initial_state count", lambda: L.LSTM(H)(X, initial_state=[np.zeros((B, H))]), ValueError,
     r"expects initial_state as a list of 2 arrays \[h, c\], each \(batch, 5\); got 1"),
    ("initial_state not a list", lambda: L.LSTM(H)(X, initial_state=np.zeros((B, H))),
     ValueError, r"list of 2 arrays \[h, c\]"),
    ("initial_state shape", lambda: L.LSTM(H)(
        X, initial_state=[np.zeros((B, H)), np.zeros((B, H + 1))]), ValueError,
     r"initial_state c .* must have shape \(batch, units\) = \(3, 5\), got \(3, 6\)"),
    ("initial_state batch", lambda: L.LSTM(H)(
        X, initial_state=[np.zeros((1, H)), np.zeros((1, H))]), ValueError,
     r"initial_state h .* = \(3, 5\), got \(1, 5\)"),
    ("mask shape", lambda: L.LSTM(H)(X, mask=np.ones((B, T - 1), bool)), ValueError,
     r"mask must have shape \(batch, timesteps\) = \(3, 6\), got \(3, 5\)"),
    ("mask rank", lambda: L.LSTM(H)(X, mask=np.ones((B, T, D), bool)), ValueError,
     r"= \(3, 6\), got \(3, 6, 4\)"),
    ("mask batch", lambda: L.LSTM(H)(X, mask=np.ones((1, T), bool)), ValueError,
     r"= \(3, 6\), got \(1, 6\)"),
    ("mask dtype", lambda: L.LSTM(H)(X, mask=np.ones((B, T), "float32")), TypeError,
     "mask must be boolean.*got dtype float32"),
    ("mask strings", lambda: L.LSTM(H)(X, mask=np.full((B, T), "y")), TypeError,
     "mask must be boolean.*got dtype <U1"),
    ("initial_state strings", lambda: L.LSTM(H)(X, initial_state=[np.full((B, H), "a")] * 2),
     TypeError, "initial_state must be numeric.*got an array of dtype <U1"),
    ("merge_mode", lambda: L.Bidirectional(L.LSTM(H), merge_mode="max"), ValueError,
     r"Invalid merge mode. Received: 'max'. Merge mode should be one of"),
    ("bidirectional of a non-LSTM", lambda: L.Bidirectional("lstm"), ValueError,
     r"expects an lstmkit LSTM layer \(or GRU, SimpleRNN, RNN\), got str"),
    ("bidirectional initial_state count", lambda: L.Bidirectional(L.LSTM(H))(
        X, initial_state=[np.zeros((B, H))] * 2), ValueError,
     r"expects initial_state as 4 arrays \[h_fwd, c_fwd, h_bwd, c_bwd\]; got 2"),
    ("bidirectional mask shape", lambda: L.Bidirectional(L.LSTM(H))(
        X, mask=np.ones((B, 2), bool)), ValueError, r"= \(3, 6\), got \(3, 2\)"),
    ("bidirectional weights", lambda: L.Bidirectional(L.LSTM(H), weights=[np.zeros(1)])(X),
     ValueError, "expects 6 weight arrays"),
    ("bidirectional go_backwards layer", lambda: L.Bidirectional(L.LSTM(H, go_backwards=True)),
     ValueError, r"different `go_backwards` value.*forward_layer.go_backwards True"),
    ("bidirectional backward differs", lambda: L.Bidirectional(
        L.LSTM(H), backward_layer=L.LSTM(H, go_backwards=True, return_state=True)),
     ValueError, "same value for attribute 'return_state', got False .* and True"),
    ("cell rank", lambda: L.LSTMCell(H)(X, [np.zeros((B, H))] * 2), ValueError,
     r"expected ndim=2 \(batch, features\), found ndim=3"),
    ("cell states count", lambda: L.LSTMCell(H)(X[:, 0], [np.zeros((B, H))]), ValueError,
     r"expects states as a list of 2 arrays \[h, c\], each \(batch, 5\); got 1"),
    ("cell states shape", lambda: L.LSTMCell(H)(
        X[:, 0], [np.zeros((1, H)), np.zeros((1, H))]), ValueError,
     r"State h .* = \(3, 5\), got \(1, 5\)"),
    ("layer dtype", lambda: L.LSTM(H, dtype="int32"), TypeError,
     "float32 or float64, got dtype 'int32'"),
    ("layer name", lambda: L.LSTM(H, name=3), TypeError, "name must be a str, got 3"),
]


def _stateful_then_other_batch():
    layer = L.LSTM(H, stateful=True)
    layer(X)
    layer(np.zeros((B + 1, T, D)))


BAD_INPUTS.append(("stateful batch change", _stateful_then_other_batch, ValueError,
                   r"batch size 3.*got 4"))


def _cell_feature_change():
    cell = L.LSTMCell(H)
    cell(X[:, 0], cell.get_initial_state(B))
    cell(np.zeros((B, D + 2)), cell.get_initial_state(B))


BAD_INPUTS.append(("cell feature change", _cell_feature_change, ValueError,
                   r"expected axis -1 of input shape to have value 4.*\(3, 6\)"))


@pytest.mark.parametrize("what, attempt, error, match", BAD_INPUTS,
                         ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_names_expected_and_received(what, attempt, error, match):
    with pytest.raises(error, match=match):
        attempt()


# -- call semantics that are not numbers ------------------------------------------------------

def test_output_structure_and_compute_output_shape():
    for rs in (False, True):
        for st in (False, True):
            layer = L.LSTM(H, return_sequences=rs, return_state=st)
            out = layer(X)
            shape = layer.compute_output_shape(X.shape)
            if st:
                assert isinstance(out, tuple) and len(out) == 3
                assert [o.shape for o in out] == [tuple(s) for s in shape]
                np.testing.assert_array_equal(out[1], out[0][:, -1] if rs else out[0])
            else:
                assert out.shape == tuple(shape)


def test_bidirectional_output_structure():
    for mode in ("concat", "sum", "mul", "ave", None):
        bi = L.Bidirectional(L.LSTM(H, return_sequences=True, return_state=True),
                             merge_mode=mode)
        out = bi(X)
        n = 2 if mode is None else 1
        assert len(out) == n + 4
        width = 2 * H if mode == "concat" else H
        assert out[0].shape == (B, T, width)
        assert all(s.shape == (B, H) for s in out[n:])


def test_training_flag_without_dropout_changes_nothing():
    layer = L.LSTM(H, return_sequences=True)
    np.testing.assert_array_equal(layer(X, training=True), layer(X))


def test_dropout_rate_is_clipped_like_keras():
    assert L.LSTM(H, dropout=1.5, recurrent_dropout=-1).get_config()["dropout"] == 1.0
    assert L.LSTM(H, recurrent_dropout=-1).recurrent_dropout == 0.0
    # rate 1.0 drops nothing: LSTMCell.call applies masks only when 0 < rate < 1
    layer = L.LSTM(H, dropout=1.0, recurrent_dropout=1.0, return_sequences=True)
    np.testing.assert_array_equal(layer(X, training=True), layer(X))
    assert L.LSTMCell(H, recurrent_dropout=0.1).implementation == 1


def test_mask_accepts_int_and_bool():
    layer = L.LSTM(H, return_sequences=True)
    mask = RNG.random((B, T)) > 0.3
    np.testing.assert_array_equal(layer(X, mask=mask), layer(X, mask=mask.astype("int8")))


def test_use_cudnn_selects_the_path():
    assert _run_backend(L.LSTM(H, use_cudnn=False)) == "reference"
    assert _run_backend(L.LSTM(H, backend="reference")) == "reference"


def _run_backend(layer):
    layer(X)
    return layer.backend_


def test_stateful_batch_change_with_initial_state_is_an_error_too():
    layer = L.LSTM(H, stateful=True)
    layer(X)
    with pytest.raises(ValueError, match=r"batch size 3.*got 2"):
        layer(X[:2], initial_state=[np.zeros((2, H))] * 2)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", None])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("return_state", [False, True])
def test_compute_output_shape_matches_keras(merge_mode, return_sequences, return_state):
    keras = _keras()

    def norm(shape):
        if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
            return [tuple(s) for s in shape]
        return tuple(shape)

    kw = {"return_sequences": return_sequences, "return_state": return_state}
    shape = (None, T, D)
    assert norm(L.LSTM(H, **kw).compute_output_shape(shape)) == norm(
        keras.layers.LSTM(H, **kw).compute_output_shape(shape))
    bi = L.Bidirectional(L.LSTM(H, **kw), merge_mode=merge_mode)
    k_bi = keras.layers.Bidirectional(keras.layers.LSTM(H, **kw), merge_mode=merge_mode)
    assert norm(bi.compute_output_shape(shape)) == norm(k_bi.compute_output_shape(shape))


def test_seed_makes_dropout_reproducible_across_instances():
    def run(seed):
        layer = L.LSTM(H, dropout=0.4, recurrent_dropout=0.3, seed=seed, return_sequences=True,
                       kernel_initializer=lk.initializers.GlorotUniform(seed=1),
                       recurrent_initializer=lk.initializers.Orthogonal(seed=2))
        return layer(X, training=True), layer(X, training=True)

    (a1, a2), (b1, b2), (c1, _) = run(7), run(7), run(8)
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    assert not np.array_equal(a1, a2) and not np.array_equal(a1, c1)


def test_stateful_states_exist_after_build_with_the_built_batch():
    layer = L.LSTM(H, stateful=True)
    layer.build((B, T, D))
    assert [s.shape for s in layer.states] == [(B, H), (B, H)]
    assert not np.any(layer.states[0])
    with pytest.raises(ValueError, match=r"batch size 3.*got 2"):
        layer(X[:2])


def test_bidirectional_copies_use_cudnn_to_both_layers():
    bi = L.Bidirectional(L.LSTM(H, use_cudnn=False),
                         backward_layer=L.LSTM(H, go_backwards=True))
    assert bi.forward_layer.use_cudnn is False and bi.backward_layer.use_cudnn is False
    bi(X)
    assert bi.forward_layer.backend_ == "reference" == bi.backward_layer.backend_


@pytest.mark.parametrize("name", ["lstm_a", "forward_a", "backward_a"])
def test_bidirectional_sublayer_names_match_keras(name):
    keras = _keras()
    k_bi = keras.layers.Bidirectional(keras.layers.LSTM(H, name=name))
    bi = L.Bidirectional(L.LSTM(H, name=name))
    assert (bi.forward_layer.name, bi.backward_layer.name) == (
        k_bi.forward_layer.name, k_bi.backward_layer.name)


def test_bidirectional_keeps_keras2_hard_sigmoid_in_both_directions():
    from lstmkit import activations

    layer = lk.layers.LSTM(3, recurrent_activation="hard_sigmoid", _keras2_activations=True)
    bi = lk.layers.Bidirectional(layer)
    for sub in (bi.forward_layer, bi.backward_layer):
        assert sub.cell.recurrent_activation is activations.hard_sigmoid_keras2


def test_building_twice_keeps_one_set_of_weights():
    layer = lk.layers.LSTM(3)
    layer.build((None, 5, 2))
    layer.build((None, 5, 4))
    assert [w.shape for w in layer.get_weights()] == [(4, 12), (3, 12), (12,)]
    bi = lk.layers.Bidirectional(lk.layers.LSTM(3))
    bi.build((None, 5, 2))
    bi.build((None, 5, 2))
    assert len(bi.weights) == 6
