"""Finite-difference checks of whole-model gradients (float64) over random shapes and masks.

`Model.backward` plus the loss gradient must equal central differences of the
compiled loss for every weight, with masking, `go_backwards`, sequences and
initial states between LSTMs.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import lstmkit as lk
from lstmkit.training import losses


def _model(D, H, return_sequences, go_backwards, masked):
    f64 = {"dtype": "float64"}
    x = lk.Input((None, D), dtype="float64")
    h = lk.layers.Masking(**f64)(x) if masked else x
    _, s_h, s_c = lk.layers.LSTM(H, return_state=True, go_backwards=go_backwards, **f64)(h)
    y = lk.layers.LSTM(H, return_sequences=return_sequences, **f64)(h, initial_state=[s_h, s_c])
    out = lk.layers.Dense(2, activation="tanh", **f64)(y)
    return lk.Model(x, out)


def _loss_value(model, loss, x, y, mask_from_run=True):
    out, run = model.forward(x, training=False)
    return float(loss(y, out, mask=model.output_masks(run)[0]))


@settings(max_examples=12, deadline=None)
@given(B=st.integers(1, 3), T=st.integers(1, 4), D=st.integers(1, 3), H=st.integers(1, 3),
       return_sequences=st.booleans(), go_backwards=st.booleans(), masked=st.booleans(),
       seed=st.integers(0, 2**16))
def test_model_gradients_match_finite_differences(B, T, D, H, return_sequences, go_backwards,
                                                  masked, seed):
    rng = np.random.default_rng(seed)
    lk.utils.set_random_seed(seed)
    model = _model(D, H, return_sequences, go_backwards, masked)
    x = rng.normal(size=(B, T, D))
    if masked and T > 1:
        x[0, -1] = 0.0  # a padded step
    out, run = model.forward(x, training=True)
    y = rng.normal(size=out.shape)
    loss = losses.MeanSquaredError()
    _, d_out = loss.compute(y, out, mask=model.output_masks(run)[0])
    _, d_weights = model.backward(run, d_out)
    eps = 1e-6
    for var, grad in zip(model.trainable_weights, d_weights):
        numeric = np.zeros_like(var.value)
        for idx in np.ndindex(var.value.shape):
            old = var.value[idx]
            var.value[idx] = old + eps
            up = _loss_value(model, loss, x, y)
            var.value[idx] = old - eps
            down = _loss_value(model, loss, x, y)
            var.value[idx] = old
            numeric[idx] = (up - down) / (2 * eps)
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8, err_msg=var.path)
