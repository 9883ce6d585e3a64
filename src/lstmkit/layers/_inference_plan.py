"""A recurrent layer's repeated inference calls, straight to the compiled call.

A stateful stream calls its layer once per step on a (1, 1, D) array. There the
general path (`RNN.forward`'s checks and weight snapshot, `kernels.lstm_forward`'s
choices, `_shard` and `_run`'s conversions) costs three times the compiled call (and
a tenth of a 32,50,32,64 call, split over two cores).
So an LSTM layer's inference call that ran on the kernel leaves a `Plan`: the
kernel's `inference_plan` for such calls, and what else the result depends on (the
input's shape and dtype, the weight arrays, the layer's `options`). A later call
that matches them all runs the plan; any other call (a mask, initial states,
training, other shapes, new weights or options, `LSTMKIT_BACKEND=reference`) takes
the general path, which leaves a plan for its own kind. The result is the general
path's, bit for bit: the plan holds that path's arguments to the compiled call.

Weight arrays are replaced, never changed in place (`_snapshot`), so the arrays'
identity tells whether the weights changed. The plan holds the arrays it was made
with: after `set_weights` or a training step they live on until the layer's next
inference call replaces the plan. `LSTMKIT_BACKEND` is read on every call.

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> layer = lk.layers.LSTM(4, stateful=True)
    >>> x = np.ones((1, 1, 3), "float32")
    >>> first = layer(x)  # the general path (it leaves a plan when it ran the kernel)
    >>> second = layer(x)  # the plan, if there is one: the same result either way
    >>> second.shape
    (1, 4)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import _config
from .. import kernels as _kernels
from . import _snapshot


class Plan(NamedTuple):
    """A layer's plan: the call it was made for (x's shape and dtype, the weight arrays,
    the layer's `options`) and the kernel's plan, `(x, h0, c0) -> (outputs or None,
    last, h, c)`."""

    shape: tuple
    dtype: np.dtype
    weights: list  # kernel, recurrent_kernel, bias (None without one): the arrays
    options: tuple
    run: object


def _weights(cell) -> list:
    """The arrays of the cell's kernel, recurrent_kernel and bias (None without one)."""
    return _snapshot.arrays((cell.kernel, cell.recurrent_kernel, cell.bias))


def options(layer) -> tuple:
    """What a layer's inference result depends on besides x, the weights and the states
    (and the backend, which `run` asks for on every call)."""
    cell = layer.cell
    return (layer.go_backwards, layer.return_sequences, layer.return_state, layer.stateful,
            cell.activation, cell.recurrent_activation)


def make(layer, x, states) -> Plan | None:
    """The plan for inference calls like `layer(x)` from `states` ([h0, c0] or None),
    which just ran on the kernel; None where the kernel has none. Call it inside the
    call's weight snapshot (`_snapshot.reading`), so that the plan holds the weights
    the call used."""
    from .lstm_cell import LSTMCell  # here: lstm_cell imports rnn, which imports this

    cell = layer.cell
    if type(cell).run_sequence is not LSTMCell.run_sequence:  # plans are the LSTM kernel's
        return None
    weights = _weights(cell)
    h0, c0 = (None, None) if states is None else states
    run = _kernels.inference_plan(
        x, *weights, h0, c0, go_backwards=layer.go_backwards,
        return_sequences=layer.return_sequences, activation=cell.activation,
        recurrent_activation=cell.recurrent_activation)
    return None if run is None else Plan(x.shape, x.dtype, weights, options(layer), run)


def _fits(plan: Plan, layer) -> bool:
    """Whether the layer's weights, options and backend are still those of `plan`."""
    (kernel, recurrent_kernel, bias), made = _weights(layer.cell), plan.weights
    return (kernel is made[0] and recurrent_kernel is made[1] and bias is made[2]
            and options(layer) == plan.options
            and (layer._backend_for_call() or _config.backend()) != "reference")


def run(layer, x):
    """`layer(x)`'s outputs at inference through the layer's plan, or None when the plan
    does not fit this call (then the caller takes the general path)."""
    plan = layer._plan
    if plan is None or type(x) is not np.ndarray or x.shape != plan.shape:
        return None
    if x.dtype != plan.dtype or not x.flags.c_contiguous:
        if x.dtype.kind not in "biuf":  # the general path's error
            return None
        x = np.ascontiguousarray(x, plan.dtype)  # as the general path casts and copies
    if not _fits(plan, layer):
        return None
    result = plan.run(x, *layer.states) if layer.stateful else plan.run(x)
    if result is None:
        return None
    outputs, last, h, c = result
    layer.backend_ = "kernel"
    if layer.stateful:
        layer.states = [h, c]
    output = outputs if layer.return_sequences else last
    return (output, h, c) if layer.return_state else output
