"""Core layers: forward, backward and configs against Keras 3 (torch backend); finite differences.

For each layer the same weights go into the Keras layer and ours; the Keras
output is differentiated with torch autograd for a random upstream gradient G
(loss = sum(y * G)) and compared with our `backward(cache, G)`.
"""

import warnings

import numpy as np
import pytest

import lstmkit as lk
from _oracle import keras as _keras
from _oracle import torch as _torch
from lstmkit.layers import (
    Activation,
    Add,
    Concatenate,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Masking,
    RepeatVector,
    TimeDistributed,
)

RNG = np.random.default_rng(0)


def _x(*shape):
    return RNG.normal(size=shape).astype("float32")


def _cases():
    return {
        "dense": (lambda L: L.Dense(3, activation="tanh"), _x(4, 5)),
        "dense_seq": (lambda L: L.Dense(3, use_bias=False), _x(2, 4, 5)),
        "dense_softmax": (lambda L: L.Dense(4, activation="softmax"), _x(4, 5)),
        "dense_relu": (lambda L: L.Dense(4, activation="relu"), _x(4, 5)),
        "time_distributed": (lambda L: L.TimeDistributed(L.Dense(3, activation="sigmoid")),
                             _x(2, 4, 5)),
        "repeat_vector": (lambda L: L.RepeatVector(3), _x(4, 5)),
        "activation": (lambda L: L.Activation("softmax"), _x(4, 5)),
        "activation_elu": (lambda L: L.Activation("elu"), _x(4, 5)),
        "flatten": (lambda L: L.Flatten(), _x(2, 3, 4)),
        "masking": (lambda L: L.Masking(0.0), np.concatenate([_x(2, 3, 4),
                                                             np.zeros((2, 2, 4), "float32")],
                                                            axis=1)),
        "concatenate": (lambda L: L.Concatenate(), [_x(2, 3, 4), _x(2, 3, 2)]),
        "concatenate_axis1": (lambda L: L.Concatenate(axis=1), [_x(2, 3, 4), _x(2, 2, 4)]),
        "add": (lambda L: L.Add(), [_x(2, 3, 4), _x(2, 3, 4), _x(2, 3, 4)]),
        "subtract": (lambda L: L.Subtract(), [_x(2, 3, 4), _x(2, 3, 4)]),
        "multiply": (lambda L: L.Multiply(), [_x(2, 3, 4), _x(2, 3, 4), _x(2, 3, 4)]),
        "average": (lambda L: L.Average(), [_x(2, 3, 4), _x(2, 3, 4)]),
        "maximum": (lambda L: L.Maximum(), [_x(2, 3, 4), _x(2, 3, 4), _x(2, 3, 4)]),
        "minimum": (lambda L: L.Minimum(), [_x(2, 3, 4), _x(2, 3, 4)]),
        "reshape": (lambda L: L.Reshape((2, -1)), _x(2, 3, 4)),
        "permute": (lambda L: L.Permute((2, 1)), _x(2, 3, 4)),
        "global_avg": (lambda L: L.GlobalAveragePooling1D(), _x(2, 5, 3)),
        "global_avg_first": (lambda L: L.GlobalAveragePooling1D(data_format="channels_first",
                                                                keepdims=True), _x(2, 5, 3)),
        "global_max": (lambda L: L.GlobalMaxPooling1D(), _x(2, 5, 3)),
        "layer_norm": (lambda L: L.LayerNormalization(gamma_initializer="random_normal",
                                                      beta_initializer="random_normal"),
                       _x(2, 5, 3)),
        "layer_norm_axes": (lambda L: L.LayerNormalization(axis=[1, 2], epsilon=0.1),
                            _x(2, 5, 3)),
        "layer_norm_rms": (lambda L: L.LayerNormalization(rms_scaling=True), _x(2, 5, 3)),
        "conv1d": (lambda L: L.Conv1D(4, 3, activation="relu"), _x(2, 9, 3)),
        "conv1d_same_strided": (lambda L: L.Conv1D(3, 4, strides=2, padding="same"),
                                _x(2, 9, 2)),
        "conv1d_causal_dilated": (lambda L: L.Conv1D(2, 3, padding="causal", dilation_rate=2,
                                                     use_bias=False), _x(2, 8, 3)),
        "max_pool": (lambda L: L.MaxPooling1D(2), _x(2, 9, 3)),
        "max_pool_same": (lambda L: L.MaxPooling1D(3, strides=2, padding="same"), _x(2, 8, 3)),
        "avg_pool": (lambda L: L.AveragePooling1D(3, strides=1), _x(2, 7, 3)),
        "avg_pool_same": (lambda L: L.AveragePooling1D(2, padding="same"), _x(2, 7, 3)),
    }


def _keras_forward_backward(layer, x, weights, g):
    torch = _torch()
    xs = [torch.tensor(v, requires_grad=True) for v in (x if isinstance(x, list) else [x])]
    inputs = xs if isinstance(x, list) else xs[0]
    layer.build([v.shape for v in x] if isinstance(x, list) else x.shape)
    for var, w in zip(layer.weights, weights):
        var.assign(w)
    y = layer(inputs)
    (y * torch.tensor(g)).sum().backward()
    d_x = [v.grad.numpy() for v in xs]
    d_w = [var.value.grad.numpy() for var in layer.trainable_weights]
    return y.detach().numpy(), d_x if isinstance(x, list) else d_x[0], d_w


@pytest.mark.parametrize("name", sorted(_cases()))
def test_forward_and_backward_match_keras(name):
    keras = _keras()
    make, x = _cases()[name]
    ours = make(lk.layers)
    y, cache = (ours.build([v.shape for v in x] if isinstance(x, list) else x.shape),
                ours.forward(x, training=True))[1]
    g = RNG.normal(size=y.shape).astype("float32")
    d_x, d_w = ours.backward(cache, g)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras deprecates rms_scaling with warnings
        k_y, k_dx, k_dw = _keras_forward_backward(make(keras.layers), x, ours.get_weights(), g)
    np.testing.assert_allclose(y, k_y, rtol=1e-5, atol=1e-6)
    for a, b in zip(d_x if isinstance(x, list) else [d_x],
                    k_dx if isinstance(x, list) else [k_dx]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert len(d_w) == len(k_dw) == len(ours.trainable_weights)
    for a, b in zip(d_w, k_dw):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_embedding_matches_keras_with_mask():
    keras = _keras()
    torch = _torch()
    ids = np.array([[1, 2, 0, 0], [3, 3, 1, 0]])
    ours = Embedding(5, 3, mask_zero=True)
    ours.build(ids.shape)
    theirs = keras.layers.Embedding(5, 3, mask_zero=True)
    theirs.build(ids.shape)
    theirs.embeddings.assign(ours.get_weights()[0])
    y, cache = ours.forward(ids)
    g = RNG.normal(size=y.shape).astype("float32")
    k_y = theirs(torch.tensor(ids))
    (k_y * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(y, k_y.detach().numpy())
    np.testing.assert_allclose(ours.backward(cache, g)[1][0],
                               theirs.embeddings.value.grad.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(ours.compute_mask(ids),
                                  theirs.compute_mask(torch.tensor(ids)).numpy())
    with pytest.raises(ValueError, match="outside"):
        ours(np.array([[5]]))


def test_global_average_pooling_mask_matches_keras():
    keras = _keras()
    torch = _torch()
    x = _x(3, 5, 2)
    mask = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], bool)
    ours = lk.layers.GlobalAveragePooling1D()
    y, cache = ours.forward(x, mask=mask)
    g = RNG.normal(size=y.shape).astype("float32")
    xt = torch.tensor(x, requires_grad=True)
    k_y = keras.layers.GlobalAveragePooling1D()(xt, mask=torch.tensor(mask))
    (k_y * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(y, k_y.detach().numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ours.backward(cache, g)[0], xt.grad.numpy(), rtol=1e-5,
                               atol=1e-7)


def _numeric_grads(layer, x, g, eps=1e-6):
    """Finite differences of sum(forward(x) * g) for the input and each weight (float64)."""
    def f():
        return float(np.sum(layer.forward(x, training=False)[0] * g))
    d_x = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + eps
        up = f()
        x[idx] = old - eps
        down = f()
        x[idx] = old
        d_x[idx] = (up - down) / (2 * eps)
    d_w = []
    for var in layer.trainable_weights:
        grad = np.zeros_like(var.value)
        for idx in np.ndindex(var.value.shape):
            old = var.value[idx]
            var.value[idx] = old + eps
            up = f()
            var.value[idx] = old - eps
            down = f()
            var.value[idx] = old
            grad[idx] = (up - down) / (2 * eps)
        d_w.append(grad)
    return d_x, d_w


@pytest.mark.parametrize("make, shape", [
    (lambda: Dense(3, activation="softmax", dtype="float64"), (3, 4)),
    (lambda: Dense(2, activation="gelu", dtype="float64"), (2, 3, 4)),
    (lambda: TimeDistributed(Dense(2, activation="tanh", dtype="float64")), (2, 3, 4)),
    (lambda: Activation("selu", dtype="float64"), (3, 4)),
    (lambda: RepeatVector(2, dtype="float64"), (3, 4)),
    (lambda: Flatten(dtype="float64"), (2, 3, 2)),
    (lambda: Masking(dtype="float64"), (2, 3, 2)),
    (lambda: lk.layers.GlobalAveragePooling1D(dtype="float64"), (2, 3, 2)),
    (lambda: lk.layers.GlobalMaxPooling1D(dtype="float64"), (2, 3, 2)),
    (lambda: lk.layers.Reshape((-1, 3), dtype="float64"), (2, 3, 2)),
    (lambda: lk.layers.Permute((2, 1), dtype="float64"), (2, 3, 2)),
    (lambda: lk.layers.LayerNormalization(dtype="float64", gamma_initializer="random_normal"),
     (2, 3, 4)),
    (lambda: lk.layers.LayerNormalization(axis=[1, 2], rms_scaling=True, dtype="float64"),
     (2, 3, 4)),
    (lambda: lk.layers.Conv1D(2, 3, padding="same", strides=2, activation="tanh",
                              dtype="float64"), (2, 7, 3)),
    (lambda: lk.layers.AveragePooling1D(2, padding="same", dtype="float64"), (2, 5, 2)),
    (lambda: lk.layers.MaxPooling1D(2, strides=1, dtype="float64"), (2, 5, 2)),
])
def test_finite_differences(make, shape):
    layer = make()
    layer.build(shape)
    x = RNG.normal(size=shape)
    y, cache = layer.forward(x, training=False)
    g = RNG.normal(size=y.shape)
    d_x, d_w = layer.backward(cache, g)
    n_x, n_w = _numeric_grads(layer, x, g)
    np.testing.assert_allclose(d_x, n_x, rtol=1e-6, atol=1e-8)
    for a, b in zip(d_w, n_w):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)


def test_merge_finite_differences():
    L = lk.layers
    for layer in (Concatenate(dtype="float64"), Add(dtype="float64"), L.Subtract(),
                  L.Multiply(), L.Average(), L.Maximum(), L.Minimum()):
        xs = [RNG.normal(size=(2, 3)) for _ in range(2 if type(layer).__name__ == "Subtract"
                                                     else 3)]
        y, cache = layer.forward(xs)
        g = RNG.normal(size=y.shape)
        d_xs, _ = layer.backward(cache, g)
        for i, x in enumerate(xs):
            numeric = np.zeros_like(x)
            for idx in np.ndindex(x.shape):
                x[idx] += 1e-6
                up = np.sum(layer.forward(xs)[0] * g)
                x[idx] -= 2e-6
                down = np.sum(layer.forward(xs)[0] * g)
                x[idx] += 1e-6
                numeric[idx] = (up - down) / 2e-6
            np.testing.assert_allclose(d_xs[i], numeric, rtol=1e-6, atol=1e-9)


def test_dropout_training_only_and_gradient():
    lk.utils.set_random_seed(3)
    layer = Dropout(0.5)
    x = np.ones((200, 10), "float32")
    np.testing.assert_array_equal(layer(x), x)
    y, cache = layer.forward(x, training=True)
    kept = y != 0
    assert 0.4 < kept.mean() < 0.6
    np.testing.assert_allclose(y[kept], 2.0)
    d_x, _ = layer.backward(cache, np.ones_like(x))
    np.testing.assert_array_equal(d_x, y)
    y2, _ = Dropout(0.5, noise_shape=(None, 1, 4)).forward(np.ones((3, 5, 4), "float32"),
                                                             training=True)
    assert (y2 == y2[:, :1]).all()  # one mask for every step


@pytest.mark.parametrize("name", sorted(_cases()) + ["embedding", "dropout"])
def test_config_matches_keras(name):
    keras = _keras()
    if name == "embedding":
        def make(L):
            return L.Embedding(10, 4, mask_zero=True, name="emb")
    elif name == "dropout":
        def make(L):
            return L.Dropout(0.3, noise_shape=(None, 1, 4), seed=2, name="drop")
    else:
        make = _cases()[name][0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, theirs = make(lk.layers), make(keras.layers)
    ours_cfg, theirs_cfg = ours.get_config(), theirs.get_config()
    ours_cfg.pop("name"), theirs_cfg.pop("name")
    if "layer" in ours_cfg:
        ours_cfg["layer"]["config"].pop("name"), theirs_cfg["layer"]["config"].pop("name")
    assert ours_cfg == theirs_cfg
    clone = type(ours).from_config(ours.get_config())
    assert clone.get_config() == ours.get_config()


def test_masks_propagate_as_keras():
    keras = _keras()
    torch = _torch()
    ids = np.array([[1, 2, 0, 0], [3, 3, 1, 0]])

    def build(lib, L):
        x = lib.Input((4,), dtype="int32", name="ids")
        e = L.Embedding(5, 3, mask_zero=True, name="emb")(x)
        h = L.LSTM(3, return_sequences=True, name="l1")(e)
        d = L.TimeDistributed(L.Dense(2), name="td")(L.Dropout(0.1, name="do")(h))
        return (lib.Model if lib is lk else keras.Model)(x, L.LSTM(2, name="l2")(d))

    ours, theirs = build(lk, lk.layers), build(keras, keras.layers)
    ours.set_weights([v.value.detach().numpy() for v in theirs.weights])
    with torch.no_grad():
        expected = theirs(torch.tensor(ids)).numpy()
    np.testing.assert_allclose(ours.predict(ids), expected, rtol=1e-5, atol=1e-6)
    unmasked = lk.Model.from_config(ours.get_config())
    unmasked.set_weights(ours.get_weights())
    np.testing.assert_allclose(unmasked.predict(ids), expected, rtol=1e-5, atol=1e-6)


def test_bad_layer_arguments():
    with pytest.raises(ValueError, match="units"):
        Dense(0)
    with pytest.raises(ValueError, match="rate"):
        Dropout(1.5)
    with pytest.raises(ValueError, match="list of inputs"):
        Add()(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="incompatible"):
        layer = Dense(2)
        layer(np.zeros((1, 3)))
        layer(np.zeros((1, 4)))
    with pytest.raises(TypeError, match="integer ids"):
        Embedding(3, 2)(np.array([[0.5]]))


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("training", [True, False])
def test_batch_normalization_matches_keras(masked, training):
    keras = _keras()
    torch = _torch()
    x = _x(4, 5, 3) * 2 + 1
    mask = RNG.random((4, 5)) > 0.3 if masked else None
    kw = {"momentum": 0.9, "gamma_initializer": "random_normal",
          "beta_initializer": "random_normal", "moving_mean_initializer": "random_normal"}
    ours, theirs = lk.layers.BatchNormalization(**kw), keras.layers.BatchNormalization(**kw)
    ours.build(x.shape)
    theirs.build(x.shape)
    for var, w in zip(theirs.weights, ours.get_weights()):
        var.assign(w)
    y, cache = ours.forward(x, training=training, mask=mask)
    g = RNG.normal(size=y.shape).astype("float32")
    d_x, d_w = ours.backward(cache, g)
    xt = torch.tensor(x, requires_grad=True)
    k_y = theirs(xt, training=training, mask=None if mask is None else torch.tensor(mask))
    (k_y * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(y, k_y.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(d_x, xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    for a, var in zip(d_w, theirs.trainable_weights):
        np.testing.assert_allclose(a, var.value.grad.numpy(), rtol=1e-4, atol=1e-5)
    for a, var in zip(ours.get_weights(), theirs.weights):  # moving statistics too
        np.testing.assert_allclose(a, var.value.detach().numpy(), rtol=1e-5, atol=1e-6)
    cfg = ours.get_config()
    cfg.pop("name")
    k_cfg = theirs.get_config()
    k_cfg.pop("name")
    assert cfg == k_cfg


def test_batch_normalization_finite_differences():
    layer = lk.layers.BatchNormalization(dtype="float64", gamma_initializer="random_normal")
    x = RNG.normal(size=(3, 4, 2))
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]], bool)
    layer.build(x.shape)
    y, cache = layer.forward(x, training=True, mask=mask)
    g = RNG.normal(size=y.shape)
    d_x, _ = layer.backward(cache, g)
    numeric = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        x[idx] += 1e-6
        up = np.sum(layer.forward(x, training=True, mask=mask)[0] * g)
        x[idx] -= 2e-6
        down = np.sum(layer.forward(x, training=True, mask=mask)[0] * g)
        x[idx] += 1e-6
        numeric[idx] = (up - down) / 2e-6
    np.testing.assert_allclose(d_x, numeric, rtol=1e-5, atol=1e-8)
