"""One training or test step on one batch: Keras's `Trainer.train_step` / `test_step`.

As the torch trainer (keras/src/backend/torch/trainer.py): forward, loss (the compiled
losses, weighted per output, plus the weights' regularization and the layers' activity
losses), backward, optimizer update; the "loss" logged is the running mean weighted by
batch size, metrics are running means.
"""

from __future__ import annotations

import numpy as np


def _regularization(model):
    """Sum of the weight penalties and their gradients by id(Variable)."""
    total, grads = 0.0, {}
    for v in model.weights:
        reg = getattr(v, "regularizer", None)
        if reg is not None:
            total += float(reg(v.value))
            if v.trainable:
                grads[id(v)] = reg.grad(v.value)
    return total, grads


def _loss_and_grads(model, state, xs, ys, sample_weight, training, need_grad):
    """Forward and loss: (total loss, flat predictions, masks, run, d_outputs, reg_grads)."""
    state.check_loss()
    outs, run = model.forward(xs if len(xs) > 1 else xs[0], training=training,
                              keep_cache=need_grad)
    preds = outs if isinstance(outs, list) else [outs]
    masks = model.output_masks(run)
    total = 0.0
    d_outs = []
    for i, (loss_fn, weight) in enumerate(zip(state.losses, state.loss_weights)):
        if loss_fn is None:
            d_outs.append(None)
            continue
        if ys[i] is None:
            raise ValueError(f"Output {state.output_names[i]!r} has a loss but no target")
        sw_i = sample_weight[i] if isinstance(sample_weight, list) else sample_weight
        value, d = loss_fn.compute(ys[i], preds[i], sw_i, masks[i],
                                   need_grad=need_grad)
        if state.multi:
            state.output_loss_trackers[i].update_state(np.asarray([float(value)]),
                                                       np.asarray([preds[i].shape[0]]))
        w = 1.0 if weight is None else float(weight)
        total += w * float(value)
        d_outs.append(None if d is None else (d * np.float32(w) if weight is not None else d))
    reg_loss, reg_grads = _regularization(model)
    total += reg_loss + run.activity_loss
    return total, preds, masks, run, d_outs, reg_grads


def train_step(model, state, xs, ys, sample_weight):
    """Forward, backward and one optimizer update on a batch; returns the running logs."""
    total, preds, masks, run, d_outs, reg_grads = _loss_and_grads(
        model, state, xs, ys, sample_weight, training=True, need_grad=True)
    n = xs[0].shape[0]
    state.loss_tracker.update_state(np.asarray([total]), np.asarray([n]))
    weights = model.trainable_weights
    if weights:
        _, d_weights = model.backward(run, d_outs if state.multi else d_outs[0],
                                      input_grads=False)
        d_weights = [g + reg_grads[id(v)] if id(v) in reg_grads else g
                     for v, g in zip(weights, d_weights)]
        state.optimizer.apply(d_weights, weights)
    state.update_metrics(ys, preds, masks, sample_weight)
    return state.results()


def test_step(model, state, xs, ys, sample_weight):
    """Forward and loss on a batch (inference mode); returns the running logs."""
    total, preds, masks, _, _, _ = _loss_and_grads(model, state, xs, ys, sample_weight,
                                                   training=False, need_grad=False)
    state.loss_tracker.update_state(np.asarray([total]), np.asarray([xs[0].shape[0]]))
    state.update_metrics(ys, preds, masks, sample_weight)
    return state.results()
