"""Custom layers and subclassed models: Keras's contract, masks, and gradients through the
tape (finite differences in float64; Keras as the oracle for LSTMCell steps)."""

import numpy as np
import pytest

import _oracle
import lstmkit as lk
from lstmkit import ops


class Stepper(lk.Model):
    """An LSTMCell stepped by hand, a Dense on every step, ops in between."""

    def __init__(self, units, dtype=None):
        super().__init__(dtype=dtype)
        self.cell = lk.layers.LSTMCell(units, dtype=dtype)
        self.head = lk.layers.Dense(2, activation="tanh", dtype=dtype)
        self.gain = None

    def build(self, input_shape):
        self.gain = self.add_weight(shape=(2,), initializer="ones", name="gain")

    def call(self, inputs, training=None):
        states = self.cell.get_initial_state(ops.shape(inputs)[0])
        outs = []
        for t in range(ops.shape(inputs)[1]):
            h, states = self.cell(inputs[:, t], states, training=training)
            outs.append(self.head(h) * self.gain + ops.sum(states[1], axis=-1, keepdims=True))
        return ops.stack(outs, axis=1)


def _loss(model, x, g):
    return float(np.sum(model.predict(x, verbose=0) * g))


def test_tape_gradients_of_a_subclassed_model_match_finite_differences():
    rng = np.random.default_rng(0)
    model = Stepper(3, dtype="float64")
    x = rng.normal(size=(2, 4, 3))
    model.build((None, 4, 3))
    g = rng.normal(size=(2, 4, 2))
    out, cache = model.forward(x, training=True)
    d_x, d_weights = model.backward(cache, g)
    assert [w.name for w in model.trainable_weights][:1] == ["gain"]
    eps = 1e-6
    for var, grad in zip(model.trainable_weights, d_weights):
        numeric = np.zeros_like(var.value)
        for idx in np.ndindex(var.shape):
            old = var.value[idx]
            var.value[idx] = old + eps
            plus = _loss(model, x, g)
            var.value[idx] = old - eps
            minus = _loss(model, x, g)
            var.value[idx] = old
            numeric[idx] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7, err_msg=var.path)
    numeric = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        numeric[idx] = (_loss(model, xp, g) - _loss(model, xm, g)) / (2 * eps)
    np.testing.assert_allclose(d_x, numeric, rtol=1e-5, atol=1e-7)


def test_lstm_cell_called_per_step_matches_keras():
    keras = _oracle.keras()
    torch = _oracle.torch()
    rng = np.random.default_rng(1)
    k_cell = keras.layers.LSTMCell(4)
    x = rng.normal(size=(3, 5)).astype("float32")
    states = [rng.normal(size=(3, 4)).astype("float32") for _ in range(2)]
    with _oracle.quiet(), torch.no_grad():
        k_h, k_states = k_cell(torch.from_numpy(x), [torch.from_numpy(s) for s in states])
    cell = lk.layers.LSTMCell(4)
    cell.build(x.shape)
    cell.set_weights(_oracle.keras_weights(k_cell))
    h, (h_state, c) = cell(x, states, training=False)
    np.testing.assert_allclose(h, k_h.numpy(), atol=1e-6)
    np.testing.assert_allclose(h_state, k_states[0].numpy(), atol=1e-6)
    np.testing.assert_allclose(c, k_states[1].numpy(), atol=1e-6)


def test_subclassed_model_fit_evaluate_predict_and_weights(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(16, 4, 3)).astype("float32")
    y = rng.normal(size=(16, 4, 2)).astype("float32")
    model = Stepper(5)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    history = model.fit(x, y, epochs=4, batch_size=8, verbose=0, validation_split=0.25)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert set(history.history) == {"loss", "mae", "val_loss", "val_mae"}
    loss, mae = model.evaluate(x, y, verbose=0)
    assert np.isfinite(loss) and np.isfinite(mae)
    assert model.predict(x, verbose=0).shape == (16, 4, 2)
    assert len(model.layers) == 2 and model.count_params() == 2 + 4 * 5 * (3 + 5 + 1) + 12
    path = str(tmp_path / "stepper.weights.h5")
    model.save_weights(path)
    other = Stepper(5)
    other.build((None, 4, 3))
    other.load_weights(path)
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))


def test_plain_model_without_call_is_a_type_error():
    with pytest.raises(TypeError, match="inputs and outputs"):
        lk.Model()


class Counter(lk.layers.Layer):
    """Keras's contract: __init__ / build / call(inputs, training, mask) / get_config."""

    def __init__(self, units, rate=0.5, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.rate = rate
        self.dropout = lk.layers.Dropout(rate, seed=1)

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
        self.calls = self.add_weight(shape=(), dtype="int32", initializer="zeros",
                                     trainable=False, name="calls")

    def call(self, inputs, training=None, mask=None):
        self.calls.assign(self.calls + 1)
        return self.dropout(ops.matmul(inputs, self.kernel))


def test_custom_layer_contract():
    layer = Counter(3)
    x = np.ones((4, 2), "float32")
    out = layer(x)
    assert out.shape == (4, 3) and layer.built
    assert layer.calls.dtype == np.int32 and int(layer.calls.value) == 1
    assert [w.name for w in layer.trainable_weights] == ["kernel"]
    assert [w.name for w in layer.non_trainable_weights] == ["calls"]
    config = layer.get_config()
    assert config["units"] == 3 and config["rate"] == 0.5 and config["name"] == layer.name
    clone = Counter.from_config(config)
    assert clone.units == 3
    # training reaches the Dropout inside call through the enclosing call's flag
    np.testing.assert_array_equal(layer(x, training=False), layer(x))
    train_out, _ = layer.forward(x, training=True)
    assert (train_out == 0).any()
    assert (layer(x, training=True) == 0).any()  # an explicit flag reaches nested calls too

    class NoFlag(lk.layers.Layer):
        def call(self, inputs):
            return inputs + 1

    np.testing.assert_array_equal(NoFlag()(x, training=True), x + 1)  # not passed on


def test_custom_layer_in_functional_graph_without_compute_output_shape():
    inputs = lk.Input((None, 2))
    x = Counter(3, rate=0.0)(inputs)
    outputs = lk.layers.Add()([x, x])
    model = lk.Model(inputs, outputs)
    assert model.output_shape == (None, None, 3)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((4, 5, 2)), np.zeros((4, 5, 3)), verbose=0)


def test_masking_guide_custom_layer_with_lstm_matches_keras():
    """The guide's MyLayer: Embedding(mask_zero) and LSTM inside a custom layer."""
    keras = _oracle.keras()

    def make(mod, layers, base):
        class MyLayer(base):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.embedding = layers.Embedding(input_dim=50, output_dim=4, mask_zero=True)
                self.lstm = layers.LSTM(3)

            def call(self, inputs):
                x = self.embedding(inputs)
                mask = self.embedding.compute_mask(inputs)
                return self.lstm(x, mask=mask)
        return MyLayer()

    ours, theirs = make(lk, lk.layers, lk.layers.Layer), make(keras, keras.layers,
                                                               keras.layers.Layer)
    ids = np.array([[3, 4, 0, 0], [7, 1, 9, 0]], "int32")
    with _oracle.quiet():
        expected = _oracle.keras_call(theirs, ids)
    ours(ids)
    ours.set_weights(_oracle.keras_weights(theirs))
    np.testing.assert_allclose(ours(ids), expected, atol=1e-5)
    inputs = lk.Input((None,), dtype="int32")
    model = lk.Model(inputs, lk.layers.Dense(1)(ours(inputs)))
    model.compile(optimizer="adam", loss="mse")
    before = [w.copy() for w in ours.get_weights()]
    model.fit(ids, np.ones((2, 1)), verbose=0)
    assert all((a != b).any() for a, b in zip(before, ours.get_weights()))


def test_functional_model_inside_a_subclassed_model_trains_through_the_tape():
    inputs = lk.Input((3, 2), dtype="float64")
    encoder = lk.Model(inputs, lk.layers.LSTM(3, dtype="float64")(inputs))

    class Wrapper(lk.Model):
        def __init__(self):
            super().__init__(dtype="float64")
            self.encoder = encoder
            self.head = lk.layers.Dense(1, dtype="float64")

        def call(self, inputs):
            return self.head(ops.tanh(self.encoder(inputs)))

    rng = np.random.default_rng(5)
    x, g = rng.normal(size=(2, 3, 2)), rng.normal(size=(2, 1))
    model = Wrapper()
    model.build((None, 3, 2))
    assert len(model.trainable_weights) == 5
    _, cache = model.forward(x, training=True)
    _, d_weights = model.backward(cache, g)
    var, grad, eps = model.trainable_weights[0], d_weights[0], 1e-6
    numeric = np.zeros_like(var.value)
    for idx in np.ndindex(var.shape):
        old = var.value[idx]
        var.value[idx] = old + eps
        plus = _loss(model, x, g)
        var.value[idx] = old - eps
        minus = _loss(model, x, g)
        var.value[idx] = old
        numeric[idx] = (plus - minus) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


def test_eager_lstm_passes_and_attaches_keras_masks():
    ids = np.array([[1, 2, 0], [3, 0, 0]])
    embedded = lk.layers.Embedding(5, 2, mask_zero=True)(ids)
    layer = lk.layers.LSTM(2, return_sequences=True)
    seq = layer(embedded)  # takes the mask the embedding attached
    np.testing.assert_array_equal(seq._keras_mask, ids != 0)
    plain = np.asarray(embedded)
    np.testing.assert_array_equal(seq, layer(plain, mask=ids != 0))
    assert not np.array_equal(seq, layer(plain))


def test_readme_feedback_example_trains():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    start = text.index("Custom layers and subclassed models train too")
    code = re.search(r"```python\n(.*?)```", text[start:], re.DOTALL).group(1)
    namespace = {"lk": lk}
    exec(code, namespace)  # noqa: S102 (the README's own example)
    model = namespace["FeedBack"](8, 3, 2)
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).normal(size=(8, 5, 2)).astype("float32")
    model.fit(x, np.zeros((8, 3, 2)), verbose=0)
    assert model.predict(x, verbose=0).shape == (8, 3, 2)


def test_model_subclass_built_from_tensors_is_functional():
    class Functional(lk.Model):
        def __init__(self):
            x = lk.Input((5, 3))
            super().__init__(x, lk.layers.Dense(2)(lk.layers.LSTM(4)(x)), name="f")

    model = Functional()
    assert isinstance(model, lk.models.Functional) and isinstance(model, lk.Model)
    assert model.predict(np.zeros((2, 5, 3)), verbose=0).shape == (2, 2)
    x = lk.Input((3,))
    assert type(lk.Model(inputs=x, outputs=lk.layers.Dense(1)(x))) is lk.models.Functional


def test_activity_regularizer_inside_a_traced_call_counts_like_in_a_graph():
    """The same Dense with an activity penalty, in a functional graph and in a subclass."""
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(4, 3)).astype("float32"), rng.normal(size=(4, 2)).astype("float32")
    inputs = lk.Input((3,))
    dense = lk.layers.Dense(2, activity_regularizer="l2")
    graph = lk.Model(inputs, dense(inputs))

    class Sub(lk.Model):
        def __init__(self):
            super().__init__()
            self.dense = lk.layers.Dense(2, activity_regularizer="l2")

        def call(self, inputs):
            return self.dense(inputs)

    sub = Sub()
    sub.build((None, 3))
    sub.set_weights(graph.get_weights())
    for model in (graph, sub):
        model.compile(optimizer=lk.optimizers.SGD(0.1), loss="mse")
    assert sub.evaluate(x, y, verbose=0) == pytest.approx(graph.evaluate(x, y, verbose=0))
    graph.train_on_batch(x, y)
    sub.train_on_batch(x, y)
    for a, b in zip(graph.get_weights(), sub.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_add_loss_trains_like_keras():
    """The subclassing guide's ActivityRegularizationLayer inside a subclassed model."""
    keras = _oracle.keras()

    def make(mod, layers, base, ops_module):
        class ActivityRegularizationLayer(base):
            def __init__(self, rate=1e-2):
                super().__init__()
                self.rate = rate

            def call(self, inputs):
                self.add_loss(self.rate * ops_module.mean(inputs))
                return inputs

        class Net(mod.Model):
            def __init__(self):
                super().__init__()
                self.dense = layers.Dense(3)
                self.reg = ActivityRegularizationLayer(0.5)
                self.out = layers.Dense(1)

            def call(self, inputs):
                return self.out(self.reg(ops_module.relu(self.dense(inputs))))
        return Net()

    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(5, 4)).astype("float32"), rng.normal(size=(5, 1)).astype("float32")
    theirs = make(keras, keras.layers, keras.layers.Layer, keras.ops)
    with _oracle.quiet():
        _oracle.keras_call(theirs, x)
    ours = make(lk, lk.layers, lk.layers.Layer, ops)
    ours.build((None, 4))
    ours.set_weights(_oracle.keras_weights(theirs))
    theirs.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    ours.compile(optimizer=lk.optimizers.SGD(0.5), loss="mse")
    with _oracle.quiet():
        k_loss = theirs.evaluate(x, y, verbose=0)
    assert ours.evaluate(x, y, verbose=0) == pytest.approx(k_loss, rel=1e-5)
    with _oracle.quiet():
        theirs.train_on_batch(x, y)
    ours.train_on_batch(x, y)
    for a, b in zip(_oracle.keras_weights(theirs), ours.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
