"""ReLU, LeakyReLU, PReLU, ELU, Softmax against Keras 3: outputs, gradients, configs."""

import json
import warnings

import numpy as np
import pytest

import lstmkit as lk
from _oracle import keras as _keras
from _oracle import torch as _torch

RNG = np.random.default_rng(3)
# Values away from the kinks (0, threshold, max_value) so the gradients are unambiguous.
X = (RNG.uniform(0.05, 3.0, size=(4, 6, 5)) * RNG.choice([-1, 1], size=(4, 6, 5))).astype(
    "float32")

CASES = {
    "relu": lambda L: L.ReLU(),
    "relu6": lambda L: L.ReLU(max_value=6.0),
    "relu_all": lambda L: L.ReLU(max_value=2.5, negative_slope=0.2, threshold=0.5),
    "relu_slope": lambda L: L.ReLU(negative_slope=0.1),
    "leaky": lambda L: L.LeakyReLU(),
    "leaky_slope": lambda L: L.LeakyReLU(negative_slope=0.05),
    "elu": lambda L: L.ELU(),
    "elu_alpha": lambda L: L.ELU(alpha=0.7),
    "prelu": lambda L: L.PReLU(alpha_initializer="glorot_uniform"),
    "prelu_shared": lambda L: L.PReLU(alpha_initializer="glorot_uniform", shared_axes=[1]),
    "prelu_shared_int": lambda L: L.PReLU(alpha_initializer="ones", shared_axes=2),
    "softmax": lambda L: L.Softmax(),
    "softmax_axis1": lambda L: L.Softmax(axis=1),
    "softmax_axes": lambda L: L.Softmax(axis=[1, 2]),
}


def _keras_run(layer, x, weights, g, mask=None):
    torch = _torch()
    xt = torch.tensor(x, requires_grad=True)
    layer.build(x.shape)
    for var, w in zip(layer.weights, weights):
        var.assign(w)
    kwargs = {} if mask is None else {"mask": torch.tensor(mask)}
    y = layer(xt, **kwargs)
    (y * torch.tensor(g)).sum().backward()
    return (y.detach().numpy(), xt.grad.numpy(),
            [v.value.grad.numpy() for v in layer.trainable_weights])


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_backward_config_match_keras(name):
    keras = _keras()
    ours = CASES[name](lk.layers)
    ours.build(X.shape)
    y, cache = ours.forward(X, training=True)
    g = RNG.normal(size=y.shape).astype("float32")
    d_x, d_w = ours.backward(cache, g)
    theirs = CASES[name](keras.layers)
    k_y, k_dx, k_dw = _keras_run(theirs, X, ours.get_weights(), g)
    np.testing.assert_allclose(y, k_y, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ours(X), k_y, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(d_x, k_dx, rtol=1e-5, atol=1e-6)
    assert len(d_w) == len(k_dw)
    for a, b in zip(d_w, k_dw):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    ours_cfg, theirs_cfg = ours.get_config(), theirs.get_config()
    ours_cfg.pop("name"), theirs_cfg.pop("name")
    assert ours_cfg == theirs_cfg
    assert list(ours_cfg) == list(theirs_cfg)  # same key order as Keras writes
    assert ours.supports_masking is theirs.supports_masking is True
    # Through the registry, as a file would bring it back.
    entry = json.loads(json.dumps(lk.layers.serialize(ours)))
    clone = lk.layers.deserialize(entry)
    clone.build(X.shape)
    clone.set_weights(ours.get_weights())
    np.testing.assert_allclose(clone(X), y)


@pytest.mark.parametrize("name", ["relu_all", "elu_alpha", "prelu_shared", "softmax_axes"])
def test_finite_differences(name):
    layer = CASES[name](lk.layers)
    x = X[:2, :3].astype("float64")
    layer = type(layer).from_config({**layer.get_config(), "dtype": "float64"})
    layer.build(x.shape)
    y, cache = layer.forward(x, training=True)
    g = RNG.normal(size=y.shape)
    d_x, d_w = layer.backward(cache, g)
    eps = 1e-6
    num = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        num[i] = np.sum((layer(xp) - layer(xm)) * g) / (2 * eps)
    np.testing.assert_allclose(d_x, num, rtol=1e-5, atol=1e-7)
    for var, dw in zip(layer.trainable_weights, d_w):
        numw = np.zeros_like(var.value)
        for i in np.ndindex(var.shape):
            base = var.value.copy()
            var.value[i] += eps
            yp = layer(x)
            var.value[i] -= 2 * eps
            ym = layer(x)
            var.value[...] = base
            numw[i] = np.sum((yp - ym) * g) / (2 * eps)
        np.testing.assert_allclose(dw, numw, rtol=1e-5, atol=1e-7)


def test_leaky_relu_alpha_is_deprecated_as_in_keras():
    keras = _keras()
    with pytest.warns(UserWarning, match="`alpha` is deprecated") as ours_w:
        ours = lk.layers.LeakyReLU(alpha=0.2)
    with pytest.warns(UserWarning, match="`alpha` is deprecated") as theirs_w:
        theirs = keras.layers.LeakyReLU(alpha=0.2)
    assert str(ours_w[0].message) == str(theirs_w[0].message)
    assert ours.negative_slope == theirs.negative_slope == 0.2


@pytest.mark.parametrize("kwargs", [{"max_value": -1.0}, {"negative_slope": -0.5},
                                    {"threshold": -1.0}, {"negative_slope": None}])
def test_relu_bad_arguments_same_error_as_keras(kwargs):
    keras = _keras()
    with pytest.raises(ValueError) as ours:
        lk.layers.ReLU(**kwargs)
    with pytest.raises(ValueError) as theirs:
        keras.layers.ReLU(**kwargs)
    assert str(ours.value) == str(theirs.value)


def test_softmax_mask_matches_keras():
    keras = _keras()
    mask = RNG.random((4, 6, 5)) > 0.3
    mask[:, :, 0] = True
    g = RNG.normal(size=X.shape).astype("float32")
    ours = lk.layers.Softmax()
    y, cache = ours.forward(X, mask=mask)
    d_x, _ = ours.backward(cache, g)
    k_y, k_dx, _ = _keras_run(keras.layers.Softmax(), X, [], g, mask=mask)
    np.testing.assert_allclose(y, k_y, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(d_x, k_dx, rtol=1e-5, atol=1e-7)
    # A mask that does not broadcast: Keras's error.
    with pytest.raises(ValueError, match="must be broadcastable"):
        ours(X, mask=np.ones((4, 6), bool))


def test_activation_layers_train_in_a_model_like_keras():
    """A model with the five layers: predictions and one SGD step match Keras's."""
    keras = _keras()
    torch = _torch()

    def build(k):
        L = k.layers
        inp = k.Input((6, 5))
        h = L.LSTM(4, return_sequences=True)(inp)
        h = L.PReLU(shared_axes=[1])(L.ELU()(L.LeakyReLU(0.1)(L.ReLU(max_value=3.0)(h))))
        return k.Model(inp, L.Softmax()(L.Dense(3)(L.Flatten()(h))))

    ours = build(lk)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = build(keras)
    for v, w in zip(theirs.weights, ours.get_weights()):
        v.assign(w)
    y = np.eye(3, dtype="float32")[RNG.integers(0, 3, 4)]
    ours.compile(lk.optimizers.SGD(0.5), "categorical_crossentropy")
    theirs.compile(keras.optimizers.SGD(0.5), "categorical_crossentropy")
    ours.train_on_batch(X, y)
    theirs.train_on_batch(torch.tensor(X), torch.tensor(y))
    for a, v in zip(ours.get_weights(), theirs.weights):
        np.testing.assert_allclose(a, v.value.detach().numpy(), rtol=1e-4, atol=1e-6)


def test_keras_files_go_both_ways(tmp_path):
    """A model with the five layers: lstmkit's .keras file loads in Keras and Keras's in
    lstmkit, with the same predictions."""
    keras = _keras()

    def build(k):
        L = k.layers
        inp = k.Input((6, 5))
        h = L.LSTM(4, return_sequences=True)(inp)
        h = L.PReLU(alpha_initializer="glorot_uniform", shared_axes=[1])(L.ReLU(6.0)(h))
        h = L.ELU(0.5)(L.LeakyReLU(negative_slope=0.2)(h))
        return k.Model(inp, L.Softmax(axis=1)(h))

    ours = build(lk)
    ours.save(tmp_path / "ours.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = keras.models.load_model(tmp_path / "ours.keras")
        np.testing.assert_allclose(loaded(_torch().tensor(X)).detach().numpy(), ours.predict(
            X, verbose=0), rtol=1e-5, atol=1e-6)
        theirs = build(keras)
        theirs.save(tmp_path / "theirs.keras")
        expected = theirs(_torch().tensor(X)).detach().numpy()
    back = lk.models.load_model(tmp_path / "theirs.keras")
    assert [type(layer).__name__ for layer in back.layers][2:] == \
        ["ReLU", "PReLU", "LeakyReLU", "ELU", "Softmax"]
    np.testing.assert_allclose(back.predict(X, verbose=0), expected, rtol=1e-5, atol=1e-6)
