"""Training traced layers through the tape, and built-in layers as one op on it.

`traced_forward` runs a custom layer's (or subclassed model's) `call` under an
`lk.ops.Tape`, its float inputs and its weights watched; `traced_backward`
replays the tape. A built-in layer called inside such a `call` keeps its fused
`forward`/`backward`: `record_layer` runs `forward` and records `backward` as the
op's VJP, with the layer's weights as leaves of the tape.

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> class Double(lk.layers.Layer):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.dense = lk.layers.Dense(2, kernel_initializer="ones")
    ...     def call(self, inputs):
    ...         return self.dense(inputs) * 2
    >>> layer = Double()
    >>> out, cache = layer.forward(np.ones((1, 3), "float32"), training=True)
    >>> d_x, d_weights = layer.backward(cache, np.ones((1, 2), "float32"))
    >>> out.tolist(), d_x.tolist(), [w.shape for w in d_weights]
    ([[6.0, 6.0]], [[4.0, 4.0, 4.0]], [(3, 2), (2,)])
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..ops import _tape
from ..ops._tape import Tape, Tensor, value_of
from . import node as _node
from ._custom import (
    collecting_losses,
    context_training,
    convert_inputs,
    run_call,
    tracked_layers,
    training_context,
)
from ._masks import attach_masks, first_mask, output_masks, set_masks, supports_masking


def eager_call(layer, inputs, args, kwargs):
    """`layer(...)` on arrays: traced layers run `call`; built-ins on a tape become one op."""
    if _tape.current() is not None and not layer._traced:
        return record_layer(layer, inputs, kwargs, args)
    inputs = convert_inputs(layer, inputs)
    outputs = run_call(layer, inputs, args, kwargs)
    if supports_masking(layer):
        mask = kwargs.get("mask", first_mask(inputs))
        outputs = attach_masks(outputs, layer.compute_mask(inputs, mask))
    return outputs


# -- a built-in layer as one op on the tape --------------------------------------------------
def record_layer(layer, inputs, kwargs, args=()):
    """Run a built-in layer's fused `forward` and record its `backward` as the VJP.

    State arguments (`initial_state` for LSTM, `states` for LSTMCell) are parents too; the
    layer's trainable weights are leaves of the tape.
    """
    if args:
        raise TypeError(f"Layer {layer.name!r}: pass arguments other than the inputs by "
                        f"keyword inside a traced call, got {len(args)} positional")
    tape = _tape.current()
    kwargs = dict(kwargs)
    training = kwargs.pop("training", None)
    training = context_training() if training is None else training
    mask = kwargs.pop("mask", None)
    if mask is None:
        mask = first_mask(inputs)
    state_key = next((k for k in ("initial_state", "states") if kwargs.get(k) is not None), None)
    states = kwargs.pop(state_key) if state_key else None
    kwargs.pop("initial_state", None)
    if kwargs:
        raise TypeError(f"Layer {layer.name!r} got unexpected keywords {sorted(kwargs)}")
    values = layer._convert_inputs(_node.map_structure(value_of, inputs))
    if not layer.built:
        layer.build(layer._shape_of(values))
        layer.built = True
    extra = {}
    if states is not None:
        extra[state_key] = [np.asarray(value_of(s)) for s in states]
    mask_value = None if mask is None else _node.map_structure(
        lambda m: None if m is None else np.asarray(value_of(m)), mask)
    out, cache = layer.forward(values, training=bool(training), mask=mask_value,
                               keep_cache=True, **extra)
    flat_in = _node.flatten(inputs)
    flat_states = [] if states is None else list(states)
    weights = layer.trainable_weights
    parents = tuple(tape.lift(p) for p in flat_in + flat_states) + tuple(
        tape.watch_variable(w) for w in weights)
    multi = isinstance(out, (list, tuple))
    flat_out = _node.flatten(out) if multi else [out]
    skip_dx = not any(isinstance(p, Tensor) for p in parents[:len(flat_in) + len(flat_states)]
                      ) and getattr(layer, "can_skip_input_grad", False)

    def vjp(gs):
        d_out = _fill(_pack_like(out, iter(gs)), out) if multi else gs[0]
        if skip_dx:
            d_in, d_w = layer.backward(cache, d_out, input_grad=False)
        else:
            d_in, d_w = layer.backward(cache, d_out)
        d_states = []
        if states is not None:
            d_in, d_states = d_in
        d_flat = [None] * len(flat_in) if d_in is None else (
            _node.flatten(d_in) if isinstance(d_in, (list, tuple)) else [d_in])
        return tuple(d_flat) + tuple(d_states) + tuple(d_w)

    results = [Tensor(o) for o in flat_out]
    tape.entries.append((results, parents, vjp))
    reg = getattr(layer, "activity_regularizer", None)
    if reg is not None:  # Keras adds reg(output) / batch to the loss, as graph.run_forward
        tape.activity.extend((t, reg) for t in results)
    packed = _pack_like(out, iter(results)) if multi else results[0]
    if supports_masking(layer):
        set_masks(packed, layer.compute_mask(values, mask_value))
    return packed


def _fill(d_out, out):
    """Keep None gradients except inside lists of states, which backward wants whole."""
    if isinstance(out, tuple):
        return tuple(_fill(d, o) for d, o in zip(d_out, out))
    if isinstance(out, list):
        return [np.zeros_like(o) if d is None else d for d, o in zip(d_out, out)]
    return d_out


def _pack_like(structure, it):
    if isinstance(structure, (list, tuple)):
        return type(structure)(_pack_like(s, it) for s in structure)
    return next(it)


# -- training a traced layer or model ----------------------------------------------------------
class TracedCache(NamedTuple):
    """What a traced forward leaves for backward: the tape, watched inputs, outputs, masks."""

    tape: Tape | None
    inputs: object
    outputs: object
    masks: list
    activity_loss: float = 0.0  # activity penalties and add_loss values; the trainer adds it
    added_losses: tuple = ()  # what add_loss got (Tensors get a gradient of ones)


def traced_forward(layer, inputs, training=False, mask=None, keep_cache=True, **kwargs):
    """`(outputs as arrays, TracedCache)`: `call` run under a tape when `keep_cache`."""
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if mask is not None:
        kwargs["mask"] = mask
    inputs = convert_inputs(layer, inputs)
    if not keep_cache and _has_activity_penalty(layer):  # the loss needs the penalties
        outputs, cache = traced_forward(layer, inputs, training, keep_cache=True, **kwargs)
        return outputs, cache._replace(tape=None, inputs=None, outputs=None)
    if not keep_cache:
        with training_context(training), collecting_losses() as added:
            outputs = run_call(layer, inputs, (), kwargs, training=training)
        masks = output_masks(outputs)
        return _node.map_structure(value_of, outputs), TracedCache(
            None, None, None, masks, _added_total(added))
    with Tape() as tape, training_context(training), collecting_losses() as added:
        watched = _node.map_structure(
            lambda a: tape.watch(a) if a is not None and np.asarray(a).dtype.kind == "f" else a,
            inputs)
        outputs = run_call(layer, watched, (), kwargs, training=training)
    masks = output_masks(outputs)
    activity = sum(float(reg(t.value)) / _batch(t.value) for t, reg in tape.activity)
    return (_node.map_structure(lambda o: np.asarray(value_of(o)), outputs),
            TracedCache(tape, watched, outputs, masks, activity + _added_total(added),
                        tuple(added)))


def _added_total(added) -> float:
    return sum(float(np.sum(value_of(loss))) for loss in added)


def _has_activity_penalty(layer) -> bool:
    """Whether a sublayer (tracked from attributes, at any depth) has an activity_regularizer."""
    return any(getattr(sub, "activity_regularizer", None) is not None
               or (sub._traced and _has_activity_penalty(sub))
               for sub in tracked_layers(layer))


def _batch(value):
    return max(value.shape[0], 1) if value.ndim else 1


def traced_backward(layer, cache: TracedCache, d_outputs):
    """`(d_inputs in the inputs' structure, d_weights aligned with trainable_weights)`."""
    flat_out = _node.flatten(cache.outputs)
    d_flat = _node.flatten(d_outputs) if isinstance(cache.outputs, (list, tuple)) \
        else [d_outputs]
    for t, reg in cache.tape.activity:  # the activity penalties' gradients join the seeds
        flat_out, d_flat = flat_out + [t], d_flat + [reg.grad(t.value) / _batch(t.value)]
    for loss in cache.added_losses:  # each added loss counts as its sum
        if isinstance(loss, Tensor):
            flat_out, d_flat = flat_out + [loss], d_flat + [np.ones_like(loss.value)]
    grads = cache.tape.gradients(flat_out, d_flat)
    d_inputs = _node.map_structure(
        lambda t: grads.get(id(t)) if isinstance(t, Tensor) else None, cache.inputs)
    return d_inputs, cache.tape.variable_gradients(grads, layer.trainable_weights)
