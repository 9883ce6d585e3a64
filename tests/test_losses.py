"""Losses: values and gradients against Keras 3 (torch backend autograd), and finite differences.

Each case computes the Keras loss on torch tensors, differentiates it with
autograd, and compares with `loss.compute(...)`; masks are attached to the
prediction as Keras attaches them (`_keras_mask`).
"""

import numpy as np
import pytest

from _oracle import keras as _keras
from _oracle import torch as _torch
from lstmkit.training import losses

RNG = np.random.default_rng(0)


def _probs(shape):
    e = np.exp(RNG.normal(size=shape))
    return (e / e.sum(-1, keepdims=True)).astype("float32")


def _case(name):
    """(Keras class name, kwargs, y_true, y_pred) for a named case."""
    reg = RNG.normal(size=(6, 3)).astype("float32")
    seq = RNG.normal(size=(4, 5, 2)).astype("float32")
    logits = RNG.normal(size=(6, 4)).astype("float32") * 3
    onehot = np.eye(4, dtype="float32")[RNG.integers(0, 4, 6)]
    ids = RNG.integers(0, 4, 6)
    bin_true = RNG.integers(0, 2, (6, 1)).astype("float32")
    sig = (1 / (1 + np.exp(-RNG.normal(size=(6, 1)) * 2))).astype("float32")
    return {
        "mse": ("MeanSquaredError", {}, reg, RNG.normal(size=(6, 3)).astype("float32")),
        "mse_seq": ("MeanSquaredError", {}, seq, RNG.normal(size=(4, 5, 2)).astype("float32")),
        "mae": ("MeanAbsoluteError", {}, reg, RNG.normal(size=(6, 3)).astype("float32")),
        "huber": ("Huber", {"delta": 0.7}, reg, RNG.normal(size=(6, 3)).astype("float32")),
        "bce": ("BinaryCrossentropy", {}, bin_true, sig),
        "bce_logits": ("BinaryCrossentropy", {"from_logits": True}, bin_true,
                       RNG.normal(size=(6, 1)).astype("float32")),
        "bce_smooth": ("BinaryCrossentropy", {"label_smoothing": 0.1}, bin_true, sig),
        "cce": ("CategoricalCrossentropy", {}, onehot, _probs((6, 4))),
        "cce_logits": ("CategoricalCrossentropy", {"from_logits": True}, onehot, logits),
        "cce_smooth": ("CategoricalCrossentropy", {"label_smoothing": 0.2}, onehot,
                       _probs((6, 4))),
        "scce": ("SparseCategoricalCrossentropy", {}, ids, _probs((6, 4))),
        "scce_col": ("SparseCategoricalCrossentropy", {}, ids[:, None], _probs((6, 4))),
        "scce_logits": ("SparseCategoricalCrossentropy", {"from_logits": True}, ids, logits),
        "scce_seq": ("SparseCategoricalCrossentropy", {"from_logits": True},
                     RNG.integers(0, 3, (4, 5)), RNG.normal(size=(4, 5, 3)).astype("float32")),
    }[name]


CASES = ["mse", "mse_seq", "mae", "huber", "bce", "bce_logits", "bce_smooth", "cce",
         "cce_logits", "cce_smooth", "scce", "scce_col", "scce_logits", "scce_seq"]


def _keras_value_and_grad(cls, kwargs, y_true, y_pred, sample_weight=None, mask=None,
                          reduction="sum_over_batch_size"):
    keras = _keras()
    torch = _torch()
    from keras.src import backend
    pred = torch.tensor(y_pred, requires_grad=True)
    if mask is not None:
        backend.set_keras_mask(pred, torch.tensor(mask))
    loss = getattr(keras.losses, cls)(reduction=reduction, **kwargs)
    sw = None if sample_weight is None else torch.tensor(sample_weight)
    value = loss(torch.tensor(y_true), pred, sample_weight=sw)
    value.backward()
    return float(value.detach()), pred.grad.numpy()


@pytest.mark.parametrize("name", CASES)
def test_loss_value_and_gradient_match_keras(name):
    cls, kwargs, y_true, y_pred = _case(name)
    expected, expected_grad = _keras_value_and_grad(cls, kwargs, y_true, y_pred)
    ours = getattr(losses, cls)(**kwargs)
    value, grad = ours.compute(y_true, y_pred)
    assert float(value) == pytest.approx(expected, rel=1e-5, abs=1e-6)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("name", ["mse", "mse_seq", "bce", "cce_logits", "scce_seq"])
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean_with_sample_weight"])
def test_sample_weight_and_mask_match_keras(name, reduction):
    cls, kwargs, y_true, y_pred = _case(name)
    batch = y_pred.shape[0]
    sw = RNG.uniform(0.1, 2.0, size=(batch,)).astype("float32")
    mask = None
    if y_pred.ndim == 3:  # a sequence output: Keras needs (B, T) weights with a (B, T) mask
        mask = RNG.random(y_pred.shape[:2]) > 0.3
        sw = RNG.uniform(0.1, 2.0, size=y_pred.shape[:2]).astype("float32")
    expected, expected_grad = _keras_value_and_grad(cls, kwargs, y_true, y_pred, sw, mask,
                                                    reduction)
    ours = getattr(losses, cls)(reduction=reduction, **kwargs)
    value, grad = ours.compute(y_true, y_pred, sample_weight=sw, mask=mask)
    assert float(value) == pytest.approx(expected, rel=1e-5, abs=1e-6)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("name", ["mse", "mae", "huber", "bce", "bce_logits", "cce",
                                  "cce_logits", "scce", "scce_seq"])
def test_loss_gradient_finite_differences(name):
    cls, kwargs, y_true, y_pred = _case(name)
    loss = getattr(losses, cls)(**kwargs)
    y_pred = y_pred.astype("float64")
    if name == "mae":  # |e| has a kink at 0: keep away from it
        y_pred = y_pred + np.sign(y_pred - y_true) * 0.05
    _, grad = loss.compute(y_true, y_pred)
    eps = 1e-6
    numeric = np.zeros_like(y_pred)
    for idx in np.ndindex(y_pred.shape):
        plus, minus = y_pred.copy(), y_pred.copy()
        plus[idx] += eps
        minus[idx] -= eps
        numeric[idx] = (float(loss(y_true, plus)) - float(loss(y_true, minus))) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


def test_names_configs_and_bad_targets():
    assert isinstance(losses.get("mse"), losses.MeanSquaredError)
    assert isinstance(losses.get("sparse_categorical_crossentropy"),
                      losses.SparseCategoricalCrossentropy)
    with pytest.raises(ValueError, match="loss identifier"):
        losses.get("mean_squared_errr")
    with pytest.raises(ValueError, match="do not match"):
        losses.MeanSquaredError()(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="integer targets"):
        losses.SparseCategoricalCrossentropy()(np.zeros((4, 3)), np.full((4, 3), 1 / 3))
    with pytest.raises(ValueError, match="class ids"):
        losses.SparseCategoricalCrossentropy()(np.array([0, 5]), np.full((2, 3), 1 / 3))
    keras = _keras()
    for cls in ("MeanSquaredError", "MeanAbsoluteError", "Huber", "BinaryCrossentropy",
                "CategoricalCrossentropy", "SparseCategoricalCrossentropy"):
        assert getattr(losses, cls)().get_config() == getattr(keras.losses, cls)().get_config()
