"""Issue 15's gaps, each against Keras 3 (torch backend): a Sequential without an Input,
symbolic `.input` / `.output`, `Model.metrics`, `supports_masking`, lower-case aliases.

(The activation layers are in test_layers_activations.py, `lk.utils` in
test_utils_keras.py, whole example scripts in tests/compat/.)
"""

import warnings

import numpy as np
import pytest

import lstmkit as lk
from _oracle import keras as _keras
from _oracle import keras_call, quiet

RNG = np.random.default_rng(15)


def _text(model, keras=None):
    """The printed summary, without lstmkit's backend line."""
    lines = []
    if keras is None:
        model.summary(print_fn=lines.append)
        text = "\n".join(lines)
        return "\n".join(ln for ln in text.split("\n") if not ln.startswith(" LSTM backend"))
    model.summary(print_fn=lambda s, line_break=True: lines.append(s))
    return "\n".join(lines).rstrip("\n")


def _pair(build, keras):
    """The same model built by lstmkit and by Keras, named alike."""
    lk.utils.clear_session()
    ours = build(lk)
    keras.utils.clear_session()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = build(keras)
    return ours, theirs


# -- 1. a Sequential without an Input --------------------------------------------------------
def _text_model(k):
    L = k.layers
    return k.Sequential([L.Embedding(50, 8), L.Bidirectional(L.LSTM(4)), L.Dense(1)])


def test_unbuilt_sequential_summary_as_keras(monkeypatch):
    keras = _keras()
    monkeypatch.setenv("COLUMNS", "80")  # Keras sizes its table to the terminal
    ours, theirs = _pair(_text_model, keras)
    assert not ours.built and not theirs.built
    assert _text(ours) == _text(theirs, keras)
    assert "0 (unbuilt)" in _text(ours)


def test_sequential_built_by_a_call_runs_other_lengths_and_batch_sizes(monkeypatch):
    keras = _keras()
    monkeypatch.setenv("COLUMNS", "80")
    ours, theirs = _pair(_text_model, keras)
    first = RNG.integers(1, 50, size=(2, 19))
    ours(first)
    keras_call(theirs, first)
    assert ours.input_shape == tuple(theirs.input_shape) == (2, 19)
    assert ours.output_shape == tuple(theirs.output_shape)
    assert _text(ours) == _text(theirs, keras)
    theirs.set_weights(ours.get_weights())
    for shape in [(3, 25), (1, 7), (5, 19)]:  # other lengths, other batch sizes
        x = RNG.integers(1, 50, size=shape)
        with quiet():
            np.testing.assert_allclose(ours.predict(x, verbose=0),
                                       theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    ours.compile("adam", "mse")
    history = ours.fit(RNG.integers(1, 50, size=(4, 30)), np.zeros((4, 1)), verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize("how", ["predict", "fit"])
def test_sequential_built_by_predict_or_fit_records_the_first_batch_as_keras(how):
    keras = _keras()

    def build(k):
        return k.Sequential([k.layers.LSTM(4), k.layers.Dense(1)])

    ours, theirs = _pair(build, keras)
    x = RNG.normal(size=(40, 5, 3)).astype("float32")
    for model in (ours, theirs):
        with quiet():
            if how == "predict":
                model.predict(x, batch_size=16, verbose=0)
            else:
                model.compile("sgd", "mse")
                model.fit(x, np.zeros((40, 1)), batch_size=16, verbose=0)
    assert ours.input_shape == tuple(theirs.input_shape) == (16, 5, 3)
    # ... and then any length and batch size; the LSTM still checks its features.
    assert ours.predict(RNG.normal(size=(3, 11, 3)), verbose=0).shape == (3, 1)
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 3"):
        ours.predict(RNG.normal(size=(3, 11, 4)), verbose=0)


def test_saved_sequential_built_from_tokens_runs_other_lengths_after_loading(tmp_path):
    keras = _keras()
    ours, theirs = _pair(_text_model, keras)
    ours(RNG.integers(1, 50, size=(2, 19)))
    ours.save(tmp_path / "m.keras")
    x = RNG.integers(1, 50, size=(3, 25))
    with quiet():
        loaded = keras.models.load_model(tmp_path / "m.keras")
        expected = loaded.predict(x, verbose=0)
    back = lk.models.load_model(tmp_path / "m.keras")
    assert back.input_shape == tuple(loaded.input_shape) == (2, 19)
    np.testing.assert_allclose(back.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_sequential_with_an_input_runs_other_lengths_too_a_functional_model_does_not():
    keras = _keras()

    def seq(k):
        return k.Sequential([k.Input((5, 3)), k.layers.LSTM(2)])

    def functional(k):
        x = k.Input((5, 3))
        return k.Model(x, k.layers.LSTM(2)(x))

    ours, theirs = _pair(seq, keras)
    theirs.set_weights(ours.get_weights())
    x = RNG.normal(size=(2, 9, 3)).astype("float32")
    with quiet():
        np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0),
                                   rtol=1e-5, atol=1e-6)
    ours, theirs = _pair(functional, keras)
    with pytest.raises(ValueError, match="incompatible"):
        ours.predict(x, verbose=0)
    with quiet(), pytest.raises(ValueError, match="incompatible"):
        theirs.predict(x, verbose=0)


def _subclassed_model(k):
    class Forecast(k.Model):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.encoder = k.layers.LSTM(units, return_sequences=True)
            self.states = k.layers.LSTM(units, return_state=True)
            self.head = k.layers.Dense(1)

        def call(self, inputs, training=None):
            h, _, _ = self.states(self.encoder(inputs, training=training))
            return self.head(h)

    return Forecast(4, name="forecast")


@pytest.mark.parametrize("how", ["unbuilt", "call", "predict"])
def test_subclassed_model_summary_shows_the_built_shapes_as_keras(how, monkeypatch):
    """Keras shows a subclassed model's layers with the output shape for the shape each
    was built with ("?" and "0 (unbuilt)" before): a call, or fit/predict on a batch."""
    keras = _keras()
    monkeypatch.setenv("COLUMNS", "80")
    ours, theirs = _pair(_subclassed_model, keras)
    x = RNG.normal(size=(6, 5, 3)).astype("float32")
    if how == "call":
        ours(x[:2])
        keras_call(theirs, x[:2])
    elif how == "predict":
        ours.predict(x, verbose=0)
        with quiet():
            theirs.predict(x, verbose=0)
    text = _text(ours)
    assert text == _text(theirs, keras)
    expected = {"unbuilt": "0 (unbuilt)", "call": "((2, 4), (2, 4), (2,", "predict": "(6, 5, 4)"}
    assert expected[how] in text and ("?" in text) == (how == "unbuilt")


# -- 2. symbolic .input / .output ----------------------------------------------------------------
def _seq2seq(k):
    enc_in = k.Input((None, 4))
    _, h, c = k.layers.LSTM(6, return_state=True)(enc_in)
    dec_in = k.Input((None, 5))
    seq, _, _ = k.layers.LSTM(6, return_sequences=True, return_state=True)(
        dec_in, initial_state=[h, c])
    return k.Model([enc_in, dec_in], k.layers.Dense(5, activation="softmax")(seq))


def _cut(k, model):
    """keras.io lstm_seq2seq: the encoder and decoder inference models."""
    encoder = k.Model(model.input[0], list(model.layers[2].output[1:]))
    h_in, c_in = k.Input((6,)), k.Input((6,))
    seq, h, c = model.layers[3](model.input[1], initial_state=[h_in, c_in])
    decoder = k.Model([model.input[1], h_in, c_in], [model.layers[4](seq), h, c])
    return encoder, decoder


def test_cut_inference_models_out_of_a_seq2seq_as_keras():
    keras = _keras()
    ours, theirs = _pair(_seq2seq, keras)
    theirs.set_weights(ours.get_weights())
    assert isinstance(ours.input, list) and len(ours.input) == len(theirs.input) == 2
    assert [t.shape for t in ours.layers[2].output] == \
        [tuple(t.shape) for t in theirs.layers[2].output]
    assert ours.layers[2].input.shape == tuple(theirs.layers[2].input.shape)
    (o_enc, o_dec), (k_enc, k_dec) = _cut(lk, ours), _cut(keras, theirs)
    x_enc = RNG.normal(size=(3, 7, 4)).astype("float32")
    x_dec = RNG.normal(size=(3, 1, 5)).astype("float32")
    states = o_enc.predict(x_enc, verbose=0)
    for a, b in zip(states, keras_call(k_enc, x_enc)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for a, b in zip(o_dec.predict([x_dec, *states], verbose=0),
                    keras_call(k_dec, [x_dec, *states])):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert [w.shape for w in o_dec.get_weights()] == [tuple(w.shape) for w in k_dec.weights]


def test_input_output_structure_and_errors_as_keras():
    keras = _keras()
    for k in (lk, keras):
        x = k.Input((3,), name="x")
        dense = k.layers.Dense(2)
        y = dense(x)
        assert dense.input is x and dense.output is y
        assert k.Model(x, y).input is x and k.Model(x, y).output is y
        assert k.Model([x], [y]).input == [x] and k.Model([x], [y]).output == [y]
        dense(k.Input((3,)))  # a second call: .output stays the first call's
        assert dense.output is y
        assert x._keras_history[0].output is x
    with pytest.raises(AttributeError, match="has never been called and thus has no defined "
                                             "output"):
        _ = lk.layers.Dense(2).output
    with pytest.raises(AttributeError):
        _ = keras.layers.Dense(2).output
    for k in (lk, keras):  # a Sequential's .input is its own call's, never made here
        with pytest.raises(AttributeError):
            _ = k.Sequential([k.Input((3,)), k.layers.Dense(2)]).input


# -- 4. Model.metrics and metrics_names -----------------------------------------------------------
def _stages(k, multi, metrics):
    i = k.Input((5, 3))
    h = k.layers.LSTM(4)(i)
    if multi:
        model = k.Model(i, [k.layers.Dense(1, name="a")(h),
                            k.layers.Dense(2, activation="softmax", name="b")(h)])
        loss = ["mse", "sparse_categorical_crossentropy"]
    else:
        model = k.Model(i, k.layers.Dense(2, activation="softmax")(h))
        loss = "sparse_categorical_crossentropy"
    out = [[(type(m).__name__, m.name) for m in model.metrics] + [model.metrics_names]]
    model.compile("adam", loss, metrics=metrics)
    out.append([(type(m).__name__, m.name) for m in model.metrics] + [model.metrics_names])
    x = RNG.normal(size=(8, 5, 3)).astype("float32")
    y = RNG.integers(0, 2, size=8)
    with quiet():
        model.fit(x, [np.zeros((8, 1)), y] if multi else y, verbose=0)
    out.append([(type(m).__name__, m.name) for m in model.metrics] + [model.metrics_names])
    if metrics:
        out.append(sorted(m.name for m in model.metrics[1].metrics))
    return out


@pytest.mark.parametrize("multi,metrics", [(False, None), (False, ["accuracy"]),
                                           (True, [["mae"], ["accuracy"]])])
def test_metrics_and_metrics_names_as_keras(multi, metrics):
    keras = _keras()
    assert _stages(lk, multi, metrics) == _stages(keras, multi, metrics)


# -- 5. supports_masking --------------------------------------------------------------------------
def _layer_args(k):
    L = k.layers
    return {"Dense": (2,), "Embedding": (5, 2), "LSTM": (2,), "LSTMCell": (2,),
            "Activation": ("relu",), "Conv1D": (2, 2), "Reshape": ((2,),), "Permute": ((1,),),
            "RepeatVector": (2,), "Dropout": (0.1,), "AveragePooling1D": (2,),
            "MaxPooling1D": (2,), "Bidirectional": (L.LSTM(2),),
            "TimeDistributed": (L.Dense(2),), "GRU": (2,), "GRUCell": (2,),
            "SimpleRNN": (2,), "SimpleRNNCell": (2,), "RNN": (L.LSTMCell(2),),
            "StackedRNNCells": ([L.LSTMCell(2), L.GRUCell(2)],)}


@pytest.mark.parametrize("name", sorted(n for n in lk.layers.__all__ if n[0].isupper()
                                        and n not in ("Layer", "Variable", "Input")
                                        and getattr(lk.layers, n).__name__ == n))  # no aliases
def test_supports_masking_as_keras(name):
    keras = _keras()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "InputLayer":
            ours, theirs = lk.layers.InputLayer(shape=(3,)), keras.layers.InputLayer(shape=(3,))
        else:
            ours = getattr(lk.layers, name)(*_layer_args(lk).get(name, ()))
            theirs = getattr(keras.layers, name)(*_layer_args(keras).get(name, ()))
    assert ours.supports_masking is theirs.supports_masking, name


def test_supports_masking_of_models_and_mask_zero_as_keras():
    keras = _keras()
    for k in (lk, keras):
        x = k.Input((3,))
        assert k.Model(x, k.layers.Dense(1)(x)).supports_masking is False
        assert k.Sequential([k.layers.Dense(1)]).supports_masking is False
        assert k.layers.Embedding(5, 2, mask_zero=True).supports_masking is True


def test_a_nested_model_still_passes_its_mask_on():
    """Models report supports_masking=False as Keras does, yet masks flow through them."""
    keras = _keras()

    def build(k):
        inner_in = k.Input((None,), dtype="int32")
        inner = k.Model(inner_in, k.layers.Embedding(20, 4, mask_zero=True)(inner_in))
        outer_in = k.Input((None,), dtype="int32")
        return k.Model(outer_in, k.layers.LSTM(3)(inner(outer_in)))

    ours, theirs = _pair(build, keras)
    theirs.set_weights(ours.get_weights())
    x = np.array([[3, 4, 0, 0], [5, 0, 0, 0]])
    np.testing.assert_allclose(ours.predict(x, verbose=0), keras_call(theirs, x),
                               rtol=1e-5, atol=1e-6)


# -- 6. lower-case aliases ---------------------------------------------------------------------
MODULES = ["initializers", "regularizers", "constraints", "layers", "activations", "losses",
           "metrics", "optimizers", "callbacks"]


@pytest.mark.parametrize("module", MODULES)
def test_keras_aliases_exist_where_lstmkit_has_the_class(module):
    """Every Keras name that is another name of the same object (`zeros is Zeros`) exists in
    lstmkit as the same object, wherever lstmkit has that object under any of the names."""
    keras = _keras()
    theirs, ours = getattr(keras, module), getattr(lk, module)
    groups = {}
    for name in dir(theirs):
        if not name.startswith("_"):
            groups.setdefault(id(getattr(theirs, name)), []).append(name)
    checked = 0
    for names in groups.values():
        have = [n for n in names if hasattr(ours, n)]
        if len(names) < 2 or not have:
            continue
        target = getattr(ours, have[0])
        for name in names:
            assert getattr(ours, name, None) is target, f"{module}.{name} should be {have[0]}"
        checked += 1
    assert checked or module in ("losses", "metrics", "optimizers", "callbacks")


def test_lower_case_initializers_build_what_keras_builds():
    keras = _keras()
    for name in ["zeros", "ones", "glorot_uniform", "glorot_normal", "he_uniform",
                 "he_normal", "lecun_uniform", "lecun_normal", "orthogonal", "random_normal",
                 "random_uniform", "truncated_normal", "variance_scaling", "identity"]:
        ours, theirs = getattr(lk.initializers, name)(), getattr(keras.initializers, name)()
        assert type(ours).__name__ == type(theirs).__name__
        assert ours.get_config() == theirs.get_config(), name
    np.testing.assert_array_equal(lk.initializers.constant(2.0)((2, 3)),
                                  keras.ops.convert_to_numpy(
                                      keras.initializers.constant(2.0)((2, 3))))
    assert lk.regularizers.l2(0.01).get_config() == keras.regularizers.l2(0.01).get_config()
    assert lk.regularizers.l1_l2(l1=0.1).get_config() == \
        keras.regularizers.l1_l2(l1=0.1).get_config()
    assert lk.constraints.max_norm(2.0).get_config() == \
        keras.constraints.max_norm(2.0).get_config()


@pytest.mark.parametrize("name,kwargs", [
    ("binary_crossentropy", {}), ("binary_crossentropy", {"from_logits": True}),
    ("categorical_crossentropy", {"label_smoothing": 0.1}),
    ("sparse_categorical_crossentropy", {}), ("huber", {"delta": 0.5}),
])
def test_loss_functions_as_keras(name, kwargs):
    keras = _keras()
    y_pred = RNG.uniform(0.05, 0.95, size=(6, 4)).astype("float32")
    if name == "sparse_categorical_crossentropy":
        y_true = RNG.integers(0, 4, size=6)
    elif name == "categorical_crossentropy":
        y_true = np.eye(4, dtype="float32")[RNG.integers(0, 4, 6)]
    else:
        y_true = RNG.integers(0, 2, size=(6, 4)).astype("float32")
    ours = getattr(lk.losses, name)(y_true, y_pred, **kwargs)
    theirs = keras.ops.convert_to_numpy(getattr(keras.losses, name)(y_true, y_pred, **kwargs))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    assert getattr(lk.metrics, name) is getattr(lk.losses, name)


def test_functional_merge_layers_as_keras():
    keras = _keras()
    for name in ["add", "subtract", "multiply", "average", "maximum", "minimum",
                 "concatenate"]:
        def build(k, name=name):
            a, b = k.Input((4,)), k.Input((4,))
            return k.Model([a, b], getattr(k.layers, name)([a, b]))

        ours, theirs = _pair(build, keras)
        x = [RNG.normal(size=(2, 4)).astype("float32") for _ in range(2)]
        np.testing.assert_allclose(ours.predict(x, verbose=0), keras_call(theirs, x),
                                   rtol=1e-6)
        assert type(ours.layers[-1]).__name__ == type(theirs.layers[-1]).__name__


def test_metrics_of_a_sequential_compiled_before_it_is_built_as_keras():
    keras = _keras()
    seen = []
    for k in (lk, keras):
        model = k.Sequential([k.layers.LSTM(2), k.layers.Dense(1)])
        model.compile("adam", "mse", metrics=["mae"])
        stages = [[(type(m).__name__, m.name) for m in model.metrics]]
        with quiet():
            model.fit(np.zeros((4, 3, 2)), np.zeros((4, 1)), verbose=0)
        stages.append([(type(m).__name__, m.name) for m in model.metrics])
        stages.append(sorted(model.get_metrics_result()))
        seen.append(stages)
    assert seen[0] == seen[1]


@pytest.mark.parametrize("module,obj", [
    ("initializers", lambda k: k.initializers.GlorotUniform(seed=3)),
    ("regularizers", lambda k: k.regularizers.L2(0.01)),
    ("constraints", lambda k: k.constraints.MaxNorm(2.0)),
    ("activations", lambda k: k.activations.get("tanh")),
    ("losses", lambda k: k.losses.Huber(delta=2.0)),
    ("optimizers", lambda k: k.optimizers.Adam(0.01)),
])
def test_serialize_deserialize_read_keras_entries(module, obj):
    """Each module's `deserialize` reads what Keras's `serialize` writes."""
    keras = _keras()
    entry = getattr(keras, module).serialize(obj(keras))
    ours = getattr(lk, module).deserialize(entry)
    theirs = getattr(keras, module).deserialize(entry)
    if module == "activations":
        assert ours.name == theirs.__name__
    else:
        assert type(ours).__name__ == type(theirs).__name__
        assert ours.get_config() == {k: v for k, v in theirs.get_config().items()
                                     if k in ours.get_config()}
