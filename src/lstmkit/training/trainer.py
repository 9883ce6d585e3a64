"""The fit loop: `compile`, `fit`, `evaluate`, `predict` and the `*_on_batch` methods.

Follows keras/src/trainers/trainer.py and the torch trainer
(keras/src/backend/torch/trainer.py): one step is forward, loss (compiled loss
+ regularization losses), backward, optimizer update; the "loss" in logs is the
running mean weighted by batch size; metrics are running means.
"""

from __future__ import annotations

import contextlib
import threading
import time

import numpy as np

from ..layers import _snapshot
from . import _progbar


def _batches(n, batch_size):
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def _slice(x, index):
    if isinstance(x, (list, tuple)):
        return [_slice(v, index) for v in x]
    if isinstance(x, dict):
        return {k: _slice(v, index) for k, v in x.items()}
    return None if x is None else np.asarray(x)[index]


def _num_samples(x):
    if isinstance(x, dict):
        x = list(x.values())
    if isinstance(x, (list, tuple)):
        sizes = {np.shape(v)[0] for v in x}
        if len(sizes) > 1:
            raise ValueError(
                f"All inputs must have the same number of samples, got {sorted(sizes)}")
        return sizes.pop()
    return np.shape(x)[0]


def _prepare(model, x, batch_size=None):
    """Build an unbuilt Sequential on the first batch of `x`, as Keras does."""
    if hasattr(model, "_ensure_built") and not model.built:
        first = x if batch_size is None or x is None else _slice(x, slice(0, batch_size))
        model._ensure_built(first)


def _steps(steps, available, what="steps"):
    """How many batches to run: `steps` (at most `available`), else all of them."""
    if steps is None:
        return available
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps <= 0:
        raise ValueError(f"{what} must be a positive int or None, got {steps!r}")
    return min(int(steps), available)


def _callback_list(model, callbacks, **params):
    from .callbacks import CallbackList
    return CallbackList(list(callbacks or []), model=model, **params)


def predict(model, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
    """Outputs for `x` in batches of `batch_size` (default 32), concatenated.

    `steps` limits the number of batches; `callbacks` get Keras's `on_predict_*` calls.
    Safe from many threads at once: all batches use one snapshot of the weights, so a
    `set_weights` in another thread is seen wholly or not at all (layers/_snapshot.py).
    """
    if x is None:
        raise ValueError("predict needs input data x")
    from ._adapters import is_batch_sequence
    if is_batch_sequence(x):  # a PyDataset-like sequence: items are (x,) or (x, y, ...)
        items = [x[i] for i in range(_steps(steps, len(x)))]
        batches = [item[0] if isinstance(item, tuple) else item for item in items]
        if batches:
            _prepare(model, batches[0])
    else:
        batch_size = _batch_size(batch_size)
        _prepare(model, x, batch_size)
        index = list(_batches(_num_samples(x), batch_size))
        batches = [_slice(x, i) for i in index[:_steps(steps, len(index))]]
    if not batches:
        raise ValueError("predict got 0 samples")
    start = time.perf_counter()
    cb = _callback_list(model, callbacks, steps=len(batches), verbose=verbose)
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
    if verbose in (1, 2):
        _print_summary_line(len(chunks), start, {}, verbose)
    return model._pack_outputs(flat)


def predict_on_batch(model, x):
    _prepare(model, x)
    out, _ = model.forward(x, training=False, keep_cache=False)
    return out


def _batch_size(batch_size):
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or \
            batch_size <= 0:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return int(batch_size)


# -- compile ------------------------------------------------------------------------------
def compile(model, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
            weighted_metrics=None, **keras_only):
    """Configure training: `model.compile(optimizer="adam", loss="mse", metrics=["mae"])`.

    `run_eagerly`, `jit_compile`, `steps_per_execution` and `auto_scale_loss` are accepted;
    a value other than Keras's default gives a one-time UserWarning
    (see `compile_state.NO_EFFECT`).
    """
    from .compile_state import CompileState, warn_no_effect
    warn_no_effect(keras_only)
    model._compile_args = {"optimizer": optimizer, "loss": loss, "loss_weights": loss_weights,
                               "metrics": metrics, "weighted_metrics": weighted_metrics}
    model._compile_state = None
    if getattr(model, "built", False):
        model._compile_state = CompileState(model, optimizer, loss, loss_weights, metrics,
                                            weighted_metrics)
        model.optimizer = model._compile_state.optimizer
    else:  # a Sequential without an input shape: validate names now, finish on first data
        from . import losses as _losses
        from . import optimizers as _optimizers
        model.optimizer = _optimizers.get(optimizer)
        model._compile_args["optimizer"] = model.optimizer
        for spec in (loss if isinstance(loss, (list, tuple)) else [loss]):
            if spec is not None and not isinstance(spec, dict):
                _losses.get(spec)
    model.compiled = True


def _state(model, x=None, batch_size=None):
    if not getattr(model, "compiled", False):
        raise RuntimeError("You must call `compile()` before using the model for training.")
    _prepare(model, x, batch_size)
    if model._compile_state is None:
        from .compile_state import CompileState
        model._compile_state = CompileState(model, **model._compile_args)
        model.optimizer = model._compile_state.optimizer
    return model._compile_state


# -- one step -----------------------------------------------------------------------------
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
    """Forward and loss: (total loss, flat predictions, masks, run, d_outputs)."""
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


def _train_step(model, state, xs, ys, sample_weight):
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


def _test_step(model, state, xs, ys, sample_weight):
    total, preds, masks, _, _, _ = _loss_and_grads(model, state, xs, ys, sample_weight,
                                                   training=False, need_grad=False)
    state.loss_tracker.update_state(np.asarray([total]), np.asarray([xs[0].shape[0]]))
    state.update_metrics(ys, preds, masks, sample_weight)
    return state.results()


def _inputs_targets(model, x, y, sample_weight):
    from ._adapters import as_arrays, num_samples
    if x is None:
        raise ValueError("Pass the input data x")
    xs = as_arrays(x, len(model.inputs), "input", model.input_names)
    if y is None:
        raise ValueError("Pass the targets y: this model trains on (x, y) pairs")
    ys = as_arrays(y, len(model.outputs), "output", model.output_names)
    sw = None
    if isinstance(sample_weight, dict):
        sample_weight = [sample_weight.get(name) for name in model.output_names]
    if isinstance(sample_weight, (list, tuple)) and len(model.outputs) > 1 and \
            len(sample_weight) == len(model.outputs) and not np.isscalar(sample_weight[0]):
        # one weight array per output (None for unweighted), as Keras accepts
        sw = [None if w is None else np.asarray(w, np.float32) for w in sample_weight]
    elif sample_weight is not None:
        sw = np.asarray(sample_weight, np.float32)
    num_samples(xs, ys, sw)
    return xs, ys, sw


# -- fit / evaluate -------------------------------------------------------------------------
def _source(model, x, y, sample_weight, batch_size, what="x"):
    """A batch source for arrays or for a PyDataset-like sequence."""
    from . import _adapters as _data
    if _data.is_batch_sequence(x):
        if y is not None or sample_weight is not None:
            raise ValueError(f"When `{what}` is a batch sequence, its items carry the targets: "
                             "pass y=None and sample_weight=None")
        return _data.SequenceSource(
            x, lambda bx, by, bsw=None: _inputs_targets(model, bx, by, bsw))
    return _data.ArraySource(*_inputs_targets(model, x, y, sample_weight), batch_size)


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
    from . import _adapters as _data
    from . import callbacks as _callbacks
    _steps(validation_steps, 1, "validation_steps")  # checked before any training
    batch_size = _batch_size(batch_size)
    first = x[0][0] if _data.is_batch_sequence(x) else x
    state = _state(model, first, None if _data.is_batch_sequence(x) else batch_size)
    source = _source(model, x, y, sample_weight, batch_size)
    val = None
    if validation_data is not None:
        if _data.is_batch_sequence(validation_data):
            val = _source(model, validation_data, None, None, batch_size, "validation_data")
        else:
            vx, vy, vsw = _data.unpack_validation_data(validation_data)
            val = _source(model, vx, vy, vsw, validation_batch_size or batch_size)
    elif validation_split:
        if not isinstance(source, _data.ArraySource):
            raise ValueError("`validation_split` is only supported for arrays; pass "
                             "validation_data for a batch sequence")
        train, held = _data.split_validation(source.xs, source.ys, source.sw, validation_split)
        source = _data.ArraySource(*train, batch_size)
        val = _data.ArraySource(*held, validation_batch_size or batch_size)
    if class_weight is not None:
        if not isinstance(source, _data.ArraySource):
            raise ValueError("`class_weight` needs arrays; weight the batches of a sequence "
                             "with sample weights")
        if len(source.ys) > 1:
            raise ValueError("`class_weight` is only supported for Models with a single output.")
        if source.sw is not None:
            raise ValueError("You cannot `class_weight` and `sample_weight` at the same time.")
        source.sw = _data.class_weight_to_sample_weights(source.ys[0], class_weight)
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
            logs = _train_step(model, state, bx, by, bsw)
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
    steps = _steps(steps, source.steps)
    for step, (bx, by, bsw) in enumerate(source.batches()):
        if step >= steps:
            break
        if cb is not None:
            cb.on_test_batch_begin(step)
        logs = _test_step(model, state, bx, by, bsw)
        if cb is not None:
            cb.on_test_batch_end(step, dict(logs))
    return logs


def evaluate(model, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
             steps=None, callbacks=None, return_dict=False):
    """Loss and metrics on (x, y): a float, a list in Keras's order, or a dict.

    `steps` limits the number of batches; `callbacks` get Keras's `on_test_*` calls.
    """
    from . import _adapters as _data
    seq = _data.is_batch_sequence(x)
    state = _state(model, x[0][0] if seq else x, None if seq else _batch_size(batch_size))
    start = time.perf_counter()
    source = _source(model, x, y, sample_weight, _batch_size(batch_size))
    steps = _steps(steps, source.steps)
    cb = _callback_list(model, callbacks, steps=steps, verbose=verbose)
    cb.on_test_begin()
    logs = _evaluate_source(model, state, source, steps, cb)
    cb.on_test_end(dict(logs))
    if verbose in (1, 2):  # "auto" stays quiet (Keras would print): scripts and tests
        _print_summary_line(steps, start, logs, verbose)
    return _format(state, logs, return_dict)


def _print_summary_line(steps, start, logs, verbose):
    """Keras's last progress line (see `_progbar`): the bar on a terminal, plain elsewhere."""
    bar = _progbar.Progbar(steps, verbose)
    bar.start = start
    bar.update(steps, logs, finalize=True)


def _format(state, logs, return_dict):
    if return_dict:
        return logs
    values = state.ordered(logs)
    return values[0] if len(values) == 1 else values


def train_on_batch(model, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
    """One optimizer step on one batch; logs are this batch's (metrics reset, as Keras 3)."""
    from . import _adapters as _data
    with _one_trainer(model, "train_on_batch"):
        state = _state(model, x)
        xs, ys, sw = _inputs_targets(model, x, y, sample_weight)
        if class_weight is not None:
            sw = _data.class_weight_to_sample_weights(ys[0], class_weight)
        state.reset()
        return _format(state, _train_step(model, state, xs, ys, sw), return_dict)


def test_on_batch(model, x, y=None, sample_weight=None, return_dict=False):
    state = _state(model, x)
    xs, ys, sw = _inputs_targets(model, x, y, sample_weight)
    state.reset()
    return _format(state, _test_step(model, state, xs, ys, sw), return_dict)


def compile_from_config(model, compile_config):
    """Compile `model` from Keras's saved `compile_config` (what `load_model(compile=True)` does).

    Accepts the optimizer entry (any module: torch or TensorFlow Keras) and loss / metric
    names or Keras entries; returns False when the config is empty (nothing to compile).
    """
    from . import losses as _losses
    from . import optimizers as _optimizers
    if not compile_config:
        return False

    def loss_spec(spec):
        if isinstance(spec, dict) and "class_name" in spec:
            return _losses.get(spec)
        if isinstance(spec, list):
            return [loss_spec(s) for s in spec]
        if isinstance(spec, dict):
            return {k: loss_spec(v) for k, v in spec.items()}
        return spec

    def metric_spec(spec):
        if isinstance(spec, list):
            return [metric_spec(s) for s in spec]
        if isinstance(spec, dict) and "class_name" in spec:
            config = spec.get("config")
            return config.get("name") if isinstance(config, dict) else config
        if isinstance(spec, dict):
            return {k: metric_spec(v) for k, v in spec.items()}
        return spec

    opt = compile_config.get("optimizer") or "rmsprop"
    if isinstance(opt, dict):
        opt = _optimizers.deserialize(opt)
    compile(model, optimizer=opt, loss=loss_spec(compile_config.get("loss")),
            loss_weights=compile_config.get("loss_weights"),
            metrics=metric_spec(compile_config.get("metrics")),
            weighted_metrics=metric_spec(compile_config.get("weighted_metrics")))
    return True
