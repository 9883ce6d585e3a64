"""Custom layers and subclassed models against Keras 3 (torch backend), written from the
TensorFlow time-series tutorial (`FeedBack`) and Keras's masking guide.

Forward within 1e-5 given the same weights; one SGD step's weight change within 1e-4
(relative to the largest change).
"""

import numpy as np
import pytest

import _oracle
import lstmkit as lk
from lstmkit import ops


def _feedback_class(lib, lib_ops):
    """The tutorial's autoregressive `FeedBack` as published (tf.keras -> lib, tf.stack ->
    lib_ops.stack), for Keras (`keras`, `keras.ops`) or lstmkit (`lk`, `lk.ops`): one source."""

    class FeedBack(lib.Model):
        def __init__(self, units, out_steps, num_features):
            super().__init__()
            self.out_steps = out_steps
            self.units = units
            self.lstm_cell = lib.layers.LSTMCell(units)
            self.lstm_rnn = lib.layers.RNN(self.lstm_cell, return_state=True)  # shares the cell
            self.dense = lib.layers.Dense(num_features)

        def warmup(self, inputs):
            x, *state = self.lstm_rnn(inputs)
            prediction = self.dense(x)
            return prediction, state

        def call(self, inputs, training=None):
            predictions = []
            prediction, state = self.warmup(inputs)
            predictions.append(prediction)
            for _ in range(1, self.out_steps):
                x = prediction
                x, state = self.lstm_cell(x, states=state, training=training)
                prediction = self.dense(x)
                predictions.append(prediction)
            predictions = lib_ops.stack(predictions)
            return lib_ops.transpose(predictions, [1, 0, 2])

    return FeedBack


def _step_parity(keras, k_model, l_model, x, y, rtol=1e-4):
    """One SGD step in both: the weight changes agree (relative to the largest change), up
    to one float32 rounding of the updated weight (a change far below a weight's ulp is
    all rounding)."""
    k_model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    l_model.compile(optimizer=lk.optimizers.SGD(0.5), loss="mse")
    before = l_model.get_weights()
    with _oracle.quiet():
        k_model.train_on_batch(x, y)
    l_model.train_on_batch(x, y)
    k_after = _oracle.keras_weights(k_model)
    for b, k, w in zip(before, k_after, l_model.get_weights()):
        dk, dl = k - b, w - b
        scale = max(np.abs(dk).max(), 1e-12)
        rounding = np.spacing(np.maximum(np.abs(k), np.abs(w)))
        assert np.all(np.abs(dk - dl) <= rtol * scale + rounding)


def test_feedback_matches_keras():
    keras = _oracle.keras()
    KerasFeedBack, FeedBack = _feedback_class(keras, keras.ops), _feedback_class(lk, ops)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 6, 3)).astype("float32")
    y = rng.normal(size=(4, 5, 3)).astype("float32")
    k_model = KerasFeedBack(8, 5, 3)
    with _oracle.quiet():
        k_out = _oracle.keras_call(k_model, x)
    l_model = FeedBack(8, 5, 3)
    l_model.build((None, 6, 3))
    l_model.set_weights(_oracle.keras_weights(k_model))
    assert [w.shape for w in l_model.weights] == [w.shape for w in k_model.weights]
    np.testing.assert_allclose(l_model.predict(x, verbose=0), k_out, atol=1e-5)
    _step_parity(keras, k_model, l_model, x, y)


def test_feedback_fits_and_round_trips_weights(tmp_path):
    FeedBack = _feedback_class(lk, ops)
    model = FeedBack(4, 3, 2)
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(1).normal(size=(16, 5, 2)).astype("float32")
    history = model.fit(x, np.zeros((16, 3, 2), "float32"), epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert np.isfinite(model.evaluate(x, np.zeros((16, 3, 2)), verbose=0))
    path = str(tmp_path / "fb.weights.h5")
    model.save_weights(path)
    other = FeedBack(4, 3, 2)
    other.build((None, 5, 2))
    other.load_weights(path)
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))


# -- the masking guide's custom layers ------------------------------------------------------------
def _masking_classes(keras_ops, base):
    class TemporalSplit(base):
        """Split the input tensor into 2 tensors along the time dimension."""

        def call(self, inputs):
            return keras_ops.split(inputs, 2, axis=1)

        def compute_mask(self, inputs, mask=None):
            if mask is None:
                return None
            return keras_ops.split(mask, 2, axis=1)

    class CustomEmbedding(base):
        def __init__(self, input_dim, output_dim, mask_zero=False, **kwargs):
            super().__init__(**kwargs)
            self.input_dim = input_dim
            self.output_dim = output_dim
            self.mask_zero = mask_zero

        def build(self, input_shape):
            self.embeddings = self.add_weight(
                shape=(self.input_dim, self.output_dim), initializer="random_normal",
                dtype="float32")

        def call(self, inputs):
            inputs = keras_ops.cast(inputs, "int32")
            return keras_ops.take(self.embeddings, inputs)

        def compute_mask(self, inputs, mask=None):
            if not self.mask_zero:
                return None
            return keras_ops.not_equal(inputs, 0)

    class MyActivation(base):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True

        def call(self, inputs):
            return keras_ops.relu(inputs)

    class TemporalSoftmax(base):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True

        def call(self, inputs, mask=None):
            assert mask is not None
            broadcast_float_mask = keras_ops.expand_dims(keras_ops.cast(mask, "float32"), -1)
            inputs_exp = keras_ops.exp(inputs) * broadcast_float_mask
            inputs_sum = keras_ops.sum(inputs_exp * broadcast_float_mask, axis=-1,
                                       keepdims=True)
            return inputs_exp / inputs_sum

    return TemporalSplit, CustomEmbedding, MyActivation, TemporalSoftmax


def _ids(rng, shape, vocab):
    ids = rng.integers(1, vocab, size=shape)
    ids[:, -3:] = 0  # padding
    return ids.astype("int32")


def test_masking_guide_layers_eager():
    keras = _oracle.keras()
    TemporalSplit, CustomEmbedding, _, _ = _masking_classes(ops, lk.layers.Layer)
    KSplit, KEmbedding, _, _ = _masking_classes(keras.ops, keras.layers.Layer)
    rng = np.random.default_rng(2)
    ids = _ids(rng, (3, 10), 9)
    embedded = lk.layers.Embedding(10, 4, mask_zero=True)(ids)
    np.testing.assert_array_equal(embedded._keras_mask, ids != 0)
    first, second = TemporalSplit()(embedded)
    np.testing.assert_array_equal(first._keras_mask, (ids != 0)[:, :5])
    np.testing.assert_array_equal(second._keras_mask, (ids != 0)[:, 5:])
    layer, k_layer = CustomEmbedding(10, 32, mask_zero=True), KEmbedding(10, 32, mask_zero=True)
    with _oracle.quiet():
        k_out = _oracle.keras_call(k_layer, ids)
    layer.build(ids.shape)
    layer.set_weights(_oracle.keras_weights(k_layer))
    np.testing.assert_allclose(layer(ids), k_out, atol=1e-6)
    np.testing.assert_array_equal(layer.compute_mask(ids), ids != 0)
    assert layer(ids)._keras_mask is not None
    _ = KSplit


def _masked_models(keras, units):
    _, _, MyActivation, TemporalSoftmax = _masking_classes(ops, lk.layers.Layer)
    _, _, KActivation, KSoftmax = _masking_classes(keras.ops, keras.layers.Layer)

    def build(mod, layers, activation, softmax):
        inputs = mod.Input(shape=(None,), dtype="int32")
        x = layers.Embedding(input_dim=10, output_dim=6, mask_zero=True)(inputs)
        x = activation()(x)  # passes the mask along
        x = layers.LSTM(5, return_sequences=True)(x)
        x = layers.Dense(units)(x)
        outputs = softmax()(x)
        return mod.Model(inputs, outputs)

    k_model = build(keras, keras.layers, KActivation, KSoftmax)
    l_model = build(lk, lk.layers, MyActivation, TemporalSoftmax)
    l_model.set_weights(_oracle.keras_weights(k_model))
    return k_model, l_model


def test_masking_guide_model_matches_keras():
    """As published (Dense(1)): masked steps are 0 / 0 = nan in Keras too."""
    keras = _oracle.keras()
    rng = np.random.default_rng(3)
    k_model, l_model = _masked_models(keras, 1)
    ids = _ids(rng, (4, 7), 9)
    with _oracle.quiet(), np.errstate(invalid="ignore"):
        k_out = _oracle.keras_call(k_model, ids)
        l_out = l_model.predict(ids, verbose=0)
    assert np.isnan(k_out[:, -3:]).all()
    np.testing.assert_allclose(l_out, k_out, atol=1e-5)  # nan where Keras has nan


def test_masking_guide_model_trains_like_keras():
    """One step with a softmax over 3 features and no padding (padding gives nan losses)."""
    keras = _oracle.keras()
    rng = np.random.default_rng(4)
    k_model, l_model = _masked_models(keras, 3)
    ids = rng.integers(1, 10, size=(4, 7)).astype("int32")
    with _oracle.quiet():
        k_out = _oracle.keras_call(k_model, ids)
    np.testing.assert_allclose(l_model.predict(ids, verbose=0), k_out, atol=1e-5)
    y = rng.uniform(size=(4, 7, 3)).astype("float32")
    _step_parity(keras, k_model, l_model, ids, y)


def test_symbolic_masks_and_shapes():
    _, _, MyActivation, TemporalSoftmax = _masking_classes(ops, lk.layers.Layer)
    inputs = lk.Input(shape=(None,), dtype="int32")
    x = lk.layers.Embedding(input_dim=50, output_dim=16, mask_zero=True)(inputs)
    x = MyActivation()(x)
    assert x._keras_mask.shape == (None, None)
    assert x.shape == (None, None, 16)
    outputs = TemporalSoftmax()(lk.layers.Dense(1)(x))
    assert outputs.shape == (None, None, 1)
    model = lk.Model(inputs, outputs)
    out = model.predict(np.array([[3, 4, 5, 6]]), verbose=0)
    assert out.shape == (1, 4, 1)


def test_subclassed_model_output_mask_weights_the_loss_like_keras():
    """Embedding(mask_zero) -> LSTM(return_sequences) -> Dense in a subclassed model: the
    outputs carry the mask, and the loss skips the padded steps, as in Keras."""
    keras = _oracle.keras()

    def make(mod, layers):
        class Tagger(mod.Model):
            def __init__(self):
                super().__init__()
                self.embedding = layers.Embedding(12, 4, mask_zero=True)
                self.lstm = layers.LSTM(5, return_sequences=True)
                self.dense = layers.Dense(2)

            def call(self, inputs, training=None):
                return self.dense(self.lstm(self.embedding(inputs), training=training))
        return Tagger()

    rng = np.random.default_rng(8)
    ids = _ids(rng, (4, 6), 12)
    y = rng.normal(size=(4, 6, 2)).astype("float32")
    theirs, ours = make(keras, keras.layers), make(lk, lk.layers)
    with _oracle.quiet():
        expected = _oracle.keras_call(theirs, ids)
    ours.build((None, 6))
    ours.set_weights(_oracle.keras_weights(theirs))
    np.testing.assert_allclose(ours.predict(ids, verbose=0), expected, atol=1e-5)
    theirs.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    ours.compile(optimizer=lk.optimizers.SGD(0.5), loss="mse")
    with _oracle.quiet():
        k_loss = theirs.evaluate(ids, y, verbose=0)
    assert ours.evaluate(ids, y, verbose=0) == pytest.approx(k_loss, rel=1e-5)
    _step_parity(keras, theirs, ours, ids, y)
