"""The loops: `fit` (epochs of `train_step`), `evaluate`, `predict` and the `*_on_batch`
methods, as keras/src/trainers/trainer.py; the methods of `lk.Model` call these.

Elsewhere: one step on a batch in `_step.py` (`train_step`, `test_step`); the data
arguments checked and batched in `_adapters.py`; `compile` and `compile_from_config` in
`compile_state.py` (imported here, so `trainer.compile` is the one `Model.compile` calls).
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np

from ..layers import _snapshot
from . import _adapters as _data
from . import _progbar
from . import callbacks as _callbacks
from ._step import test_step, train_step
from .compile_state import CompileState, compile, compile_from_config

__all__ = ["compile", "compile_from_config", "fit", "evaluate", "predict", "predict_on_batch",
           "train_on_batch", "test_on_batch"]


def _prepare(model, first_batch):
    """Build an unbuilt Sequential on the first batch, as Keras does."""
    if hasattr(model, "_ensure_built") and not model.built:
        model._ensure_built(first_batch)


def _callback_list(model, callbacks, verbose, **params):
    """The callbacks of evaluate or predict, with Keras's progress bar unless verbose=0
    ("auto": the bar on a terminal, one plain line in a pipe or a file, as `fit`)."""
    verbose = _progbar.resolve_verbose(verbose)
    cbs = list(callbacks or [])
    if verbose and not any(isinstance(c, _callbacks.ProgbarLogger) for c in cbs):
        cbs.append(_callbacks.ProgbarLogger(verbose=verbose))
    return _callbacks.CallbackList(cbs, model=model, verbose=verbose, **params)


def predict(model, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
    """Outputs for `x` in batches of `batch_size` (default 32), concatenated.

    `steps` limits the number of batches; `callbacks` get Keras's `on_predict_*` calls.
    Safe from many threads at once: all batches use one snapshot of the weights, so a
    `set_weights` in another thread is seen wholly or not at all (layers/_snapshot.py).
    """
    if x is None:
        raise ValueError("predict needs input data x")
    batches = _data.predict_batches(x, batch_size, steps)
    if not batches:
        raise ValueError("predict got 0 samples")
    _prepare(model, batches[0])
    cb = _callback_list(model, callbacks, verbose, steps=len(batches))
    cb.on_predict_begin()
    chunks = []
    # Every batch sees one set of weights, whatever other threads publish.
    with _snapshot.reading(lambda: _snapshot.model_variables(model)):
        for step, batch in enumerate(batches):
            cb.on_predict_batch_begin(step)
            out, _ = model.forward(batch, training=False, keep_cache=False)
            chunks.append(out if isinstance(out, list) else [out])
            cb.on_predict_batch_end(step, {"outputs": out})
    cb.on_predict_end()
    flat = [np.concatenate([c[i] for c in chunks]) for i in range(len(chunks[0]))]
    return model._pack_outputs(flat)


def predict_on_batch(model, x):
    _prepare(model, x)
    out, _ = model.forward(x, training=False, keep_cache=False)
    return out


def _state(model, x=None, batch_size=None):
    if not getattr(model, "compiled", False):
        raise RuntimeError("You must call `compile()` before using the model for training.")
    _prepare(model, _data.first_batch(x, batch_size))
    if model._compile_state is None:
        model._compile_state = CompileState(model, **model._compile_args)
        model.optimizer = model._compile_state.optimizer
    return model._compile_state


# -- fit / evaluate -------------------------------------------------------------------------
_TRAINING_LOCK = threading.Lock()
_TRAINING: dict = {}  # id(model) -> the thread training it


@contextlib.contextmanager
def _one_trainer(model, what):
    """Refuse to train one model from two threads at once (the optimizer's slots, the
    metrics and the callbacks are per model); the same thread may nest (callbacks)."""
    me = threading.get_ident()
    with _TRAINING_LOCK:
        owner = _TRAINING.get(id(model))
        if owner is not None and owner != me:
            raise RuntimeError(
                f"{what} was called on model {getattr(model, 'name', '?')!r} while another "
                "thread is training it; one model trains in one thread at a time (calls such "
                "as predict are safe from any thread)")
        _TRAINING[id(model)] = me
    try:
        yield
    finally:
        if owner is None:
            with _TRAINING_LOCK:
                _TRAINING.pop(id(model), None)


def fit(model, x=None, y=None, **kwargs):
    """Train for `epochs` epochs; returns a `History` with Keras's keys.

    `x` is arrays (with `y`), or a Keras `PyDataset`-like sequence of `(x, y)` batches such
    as `lk.data.ArraySequence` (then `y` is None). `validation_steps` limits the batches
    of each validation. One thread at a time per model (RuntimeError otherwise).
    """
    with _one_trainer(model, "fit"):
        return _fit(model, x, y, **kwargs)


def _fit(model, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
         validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
         sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
         validation_batch_size=None, validation_freq=1):
    from ..utils import make_rng
    _data.check_steps(validation_steps, 1, "validation_steps")  # checked before any training
    batch_size = _data.check_batch_size(batch_size)
    first = x[0][0] if _data.is_batch_sequence(x) else x
    state = _state(model, first, None if _data.is_batch_sequence(x) else batch_size)
    source, val = _data.fit_sources(model, x, y, sample_weight, batch_size, validation_data,
                                    validation_split, validation_batch_size, class_weight)
    steps = min(source.steps, steps_per_epoch or source.steps)
    verbose = _progbar.resolve_verbose(verbose)  # "auto": 1 on a terminal, 2 in a pipe or file
    cbs = list(callbacks or [])
    history = next((c for c in cbs if isinstance(c, _callbacks.History)), None)
    if history is None:
        history = _callbacks.History()
        cbs.append(history)
    if verbose and not any(isinstance(c, _callbacks.ProgbarLogger) for c in cbs):
        cbs.append(_callbacks.ProgbarLogger(verbose=verbose))
    cb = _callbacks.CallbackList(cbs, model=model, epochs=epochs, steps=steps, verbose=verbose)
    rng = make_rng()
    model.stop_training = False
    cb.on_train_begin()
    logs = {}
    for epoch in range(initial_epoch, epochs):
        state.reset()
        cb.on_epoch_begin(epoch)
        for step, (bx, by, bsw) in enumerate(source.batches(shuffle, rng)):
            if step >= steps:
                break
            cb.on_train_batch_begin(step)
            logs = train_step(model, state, bx, by, bsw)
            cb.on_train_batch_end(step, dict(logs))
            if model.stop_training:
                break
        source.on_epoch_end()
        epoch_logs = dict(logs)
        if val is not None and (epoch + 1) % validation_freq == 0:
            val_logs = _evaluate_source(model, state, val, validation_steps)
            epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
        cb.on_epoch_end(epoch, epoch_logs)
        if model.stop_training:
            break
    cb.on_train_end(logs)
    return history


def _evaluate_source(model, state, source, steps=None, cb=None):
    """The loss and metrics over the first `steps` batches of `source` (default: all)."""
    state.reset()
    logs = {}
    steps = _data.check_steps(steps, source.steps)
    for step, (bx, by, bsw) in enumerate(source.batches()):
        if step >= steps:
            break
        if cb is not None:
            cb.on_test_batch_begin(step)
        logs = test_step(model, state, bx, by, bsw)
        if cb is not None:
            cb.on_test_batch_end(step, dict(logs))
    return logs


def evaluate(model, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
             steps=None, callbacks=None, return_dict=False):
    """Loss and metrics on (x, y): a float, a list in Keras's order, or a dict.

    `steps` limits the number of batches; `callbacks` get Keras's `on_test_*` calls.
    """
    seq = _data.is_batch_sequence(x)
    batch_size = _data.check_batch_size(batch_size)
    state = _state(model, x[0][0] if seq else x, None if seq else batch_size)
    source = _data.make_source(model, x, y, sample_weight, batch_size)
    steps = _data.check_steps(steps, source.steps)
    cb = _callback_list(model, callbacks, verbose, steps=steps)
    cb.on_test_begin()
    logs = _evaluate_source(model, state, source, steps, cb)
    cb.on_test_end(dict(logs))
    return _format(state, logs, return_dict)


def _format(state, logs, return_dict):
    if return_dict:
        return logs
    values = state.ordered(logs)
    return values[0] if len(values) == 1 else values


def train_on_batch(model, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
    """One optimizer step on one batch; logs are this batch's (metrics reset, as Keras 3)."""
    with _one_trainer(model, "train_on_batch"):
        state = _state(model, x)
        xs, ys, sw = _data.inputs_targets(model, x, y, sample_weight)
        if class_weight is not None:
            sw = _data.class_weight_to_sample_weights(ys[0], class_weight)
        state.reset()
        return _format(state, train_step(model, state, xs, ys, sw), return_dict)


def test_on_batch(model, x, y=None, sample_weight=None, return_dict=False):
    state = _state(model, x)
    xs, ys, sw = _data.inputs_targets(model, x, y, sample_weight)
    state.reset()
    return _format(state, test_step(model, state, xs, ys, sw), return_dict)
