"""`trace`: every gate and state of an LSTM at every time step, from the layer's own run.

`trace(layer, x)` runs the layer once with `forward(..., keep_cache=True)` (the
path a training step runs) and reads the gates from what the kernel kept for
backward. Nothing is recomputed, so `trace.h[:, -1]` is bitwise the layer's
final memory state and `trace.outputs` is what `layer(x)` returns.

Per-step arrays are (B, T, H) in the order the layer *processed* the steps,
as Keras returns the sequence: with `go_backwards=True` step 0 consumed
x[:, T-1]. `Trace.input_order(name)` flips such an array back so position t
refers to input t.

    i, f, o   input, forget and output gates, recurrent_activation(z)    (B, T, H)
    g         the candidate, activation(z_c) (Keras's gate "c")           (B, T, H)
    c         carry (cell) state after the step                          (B, T, H)
    h         memory (hidden) state after the step                       (B, T, H)

At a masked step the cell still computes gates (they are kept here), but the
layer discards the result: `c` and `h` repeat the previous step's states.

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> x = np.random.default_rng(0).normal(size=(32, 10, 8)).astype("float32")
    >>> lstm = lk.layers.LSTM(4, return_sequences=True, return_state=True)
    >>> t = lk.trace(lstm, x)
    >>> t.f.shape
    (32, 10, 4)
    >>> whole_seq_output, final_memory_state, final_carry_state = t.outputs
    >>> bool((t.h[:, -1] == final_memory_state).all() and (t.c[:, -1] == final_carry_state).all())
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..layers.bidirectional import Bidirectional
from ..layers.lstm_cell import LSTMCell
from ..layers.rnn import RNN
from ..layers.stacked_rnn_cells import StackedRun
from . import trace_rnn as _trace_rnn

ARRAYS = ("i", "f", "g", "o", "c", "h")
GATES = ("i", "f", "o")  # the sigmoid gates; g is the tanh candidate
NAMES = {
    "i": "input gate",
    "f": "forget gate",
    "g": "candidate (Keras's gate c)",
    "o": "output gate",
    "c": "carry (cell) state c",
    "h": "memory (hidden) state h",
}


def _dropout_masks(cache):
    """(dropout_mask, recurrent_dropout_mask) a training run used, from either cache."""
    saved = getattr(cache, "inputs", None)
    if isinstance(saved, dict):  # reference.Sequence
        return saved.get("dropout_mask"), saved.get("recurrent_dropout_mask")
    return (getattr(cache, "dropout_mask", None), getattr(cache, "recurrent_dropout_mask", None))


@dataclass
class Trace(_trace_rnn.StepArrays):
    """Every gate and state of one LSTM direction at every step; see the module docstring.

    Attributes:
        i, f, g, o, c, h: (B, T, H) in processing order.
        sequence: (B, T, H) the layer's output at each step, processing order (equals
            `h` at valid steps; at masked steps it repeats the previous output, or is zero
            with `zero_output_for_mask`).
        inputs: (B, T, D) as given (input order). mask: (B, T) bool or None (input order).
        initial_state: [h0, c0], each (B, H): the states the run started from.
        outputs: what the layer returned for this call, in Keras's order; for one
            direction of a Bidirectional, what that direction's LSTM returned (before the
            wrapper flips and merges).
        go_backwards: whether step k consumed input T-1-k.
        dropout_mask, recurrent_dropout_mask: the masks a training run drew, or None.
    """

    layer_name: str
    i: np.ndarray
    f: np.ndarray
    g: np.ndarray
    o: np.ndarray
    c: np.ndarray
    h: np.ndarray
    sequence: np.ndarray
    inputs: np.ndarray
    mask: np.ndarray | None
    initial_state: list
    outputs: object
    go_backwards: bool = False
    zero_output_for_mask: bool = False
    training: bool = False
    backend: str | None = None
    dropout_mask: np.ndarray | None = None
    recurrent_dropout_mask: np.ndarray | None = None
    direction: str = "forward"
    extra: dict = field(default_factory=dict)

    ARRAYS = ARRAYS
    NAMES = NAMES

    @property
    def input_index(self) -> np.ndarray:
        """(T,) the input position each processing step consumed."""
        T = self.h.shape[1]
        return np.arange(T)[::-1].copy() if self.go_backwards else np.arange(T)

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in ARRAYS + ("sequence",):
            raise KeyError(f"a Trace has arrays {ARRAYS + ('sequence',)}, got {name!r}")
        return getattr(self, name)

    def saturation(self, low: float = 0.1, high: float = 0.9) -> dict:
        """Fraction of valid steps each unit's gates spend below `low` / above `high`.

        Karpathy, Johnson & Fei-Fei 2015 ("Visualizing and Understanding Recurrent
        Networks", Fig. 3): a forget gate almost always above 0.9 integrates over long
        spans; one below 0.1 resets at every step.

        Returns:
            {"i" | "f" | "o": (left (H,), right (H,))}, fractions over all samples and
            valid steps.
        """
        valid = self.processing_mask[..., None]  # (B, T, 1)
        n = max(int(valid.sum()), 1)
        return {k: (((self[k] < low) & valid).sum(axis=(0, 1)) / n,
                    ((self[k] > high) & valid).sum(axis=(0, 1)) / n) for k in GATES}

    def __repr__(self):
        B, T, H = self.h.shape
        bits = [f"layer={self.layer_name!r}", f"direction={self.direction!r}",
                f"batch={B}", f"timesteps={T}", f"units={H}"]
        if self.go_backwards:
            bits.append("go_backwards=True (arrays in processing order)")
        if self.mask is not None:
            bits.append(f"masked steps={int((~self.mask).sum())}")
        return f"<Trace {' '.join(bits)}; arrays i, f, g, o, c, h each {self.h.shape}>"


@dataclass
class BidirectionalTrace:
    """Traces of both directions of a `Bidirectional` layer from one call.

    `backward` is in its own processing order (step 0 consumed the last input);
    `backward.input_order("h")` aligns it with the inputs, as the layer does
    before merging.
    """

    layer_name: str
    forward: Trace
    backward: Trace
    outputs: object
    merge_mode: str | None

    inputs = property(lambda self: self.forward.inputs)
    mask = property(lambda self: self.forward.mask)

    @property
    def directions(self):
        return [("forward", self.forward), ("backward", self.backward)]

    def __repr__(self):
        return (f"<BidirectionalTrace layer={self.layer_name!r} merge_mode={self.merge_mode!r}"
                f" forward={self.forward!r} backward={self.backward!r}>")


def _is_model(obj) -> bool:
    return hasattr(obj, "get_layer") and hasattr(obj, "layers") and not isinstance(
        obj, (RNN, Bidirectional))


def _one_cell(layer) -> bool:
    """Whether a recurrent layer runs one LSTM, GRU or SimpleRNN cell (what trace reads)."""
    return _trace_rnn.is_cell_traceable(getattr(layer, "cell", None))


def traceable(layer) -> bool:
    """Whether `trace` reads this layer: an RNN of one cell or of stacked cells, or a
    Bidirectional over an RNN of one cell."""
    if isinstance(layer, Bidirectional):
        return _one_cell(layer.forward_layer)
    return isinstance(layer, RNN) and (
        _one_cell(layer) or _trace_rnn.is_stack_traceable(layer.cell))


def resolve(layer_or_model, inputs, mask=None, initial_state=None, model=None, layer=None):
    """(layer, inputs, mask, initial_state, training or None) for a layer or a layer in a model.

    `trace(layer, x)`: x goes to the layer. `trace(layer, x, model=m)` and
    `trace(m, x, layer="encoder")`: x goes to the model, and the layer gets what the
    model feeds it (`model.layer_inputs`); explicit mask/initial_state win.
    """
    if _is_model(layer_or_model):
        if model is not None:
            raise TypeError("pass the model once: trace(model, x, layer=...) or "
                            "trace(layer, x, model=model)")
        model, layer_or_model = layer_or_model, layer
        if layer_or_model is None:
            raise TypeError("trace(model, x) needs layer=<name or layer> to say which layer")
    elif layer is not None and layer_or_model is None:
        layer_or_model = layer
    elif layer is not None:
        raise TypeError("layer= is for trace(model, x, layer=...); got a layer twice")
    target = layer_or_model
    training = None
    if model is not None:
        if isinstance(target, str):
            target = model.get_layer(target)
        if not hasattr(model, "layer_inputs"):
            raise TypeError(
                f"{type(model).__name__} has no layer_inputs(); cannot tell what it feeds "
                f"{getattr(target, 'name', target)!r}. Pass the layer's own inputs instead."
            )
        fed = model.layer_inputs(target, inputs)
        inputs = fed["inputs"]
        if isinstance(inputs, (list, tuple)) and len(inputs) == 1:
            inputs = inputs[0]  # the layer's call structure: one positional input
        mask = fed.get("mask") if mask is None else mask
        initial_state = fed.get("initial_state") if initial_state is None else initial_state
        training = fed.get("training")
    if not traceable(target):
        raise TypeError(
            f"trace expects an lstmkit LSTM or Bidirectional layer, a GRU, a SimpleRNN or an "
            f"RNN of LSTM/GRU/SimpleRNN cells (one, or a list; a Bidirectional wraps one "
            f"cell), or a model and layer=; got {type(target).__name__}: {target!r}"
        )
    return target, inputs, mask, initial_state, training


def trace(layer_or_model, inputs, mask=None, initial_state=None, training=False, *,
          model=None, layer=None):
    """Run `layer` once on `inputs` and keep every gate and state.

    Args:
        layer_or_model: an `LSTM`, `GRU`, `SimpleRNN`, `RNN` (of one cell or a list of
            cells) or `Bidirectional` layer, or a model (then give `layer=`).
        inputs: (B, T, D) array the layer receives; for a model, the model's inputs.
        mask: (B, T) bool, True = valid step; None = all valid.
        initial_state: [h0, c0] ((B, H) each), or 4 arrays for `Bidirectional`.
        training: run in training mode (dropout masks are drawn and recorded).
        model: the model `layer_or_model` belongs to; `inputs` then go to the model.
        layer: with a model as first argument, the layer (or its name) to trace.

    Returns:
        `Trace` (LSTM), `trace_rnn.CellTrace` (GRU, SimpleRNN), `trace_rnn.StackedTrace`
        (`.cells[k]`, for an RNN of a list of cells), or `BidirectionalTrace` (`.forward`,
        `.backward`) for `Bidirectional`.

    Given only a layer, `inputs` go to that layer as they are. A layer knows nothing of
    the model around it, so to trace a layer inside a model on the *model's* inputs, say
    which model: `trace(model, x, layer="encoder")` or `trace(layer, x, model=model)`;
    the layer then gets what the model feeds it (`model.layer_inputs`: the previous
    layer's output, the mask of an `Embedding(mask_zero=True)`, initial states).

    A stateful layer starts from its stored states and keeps them: tracing does not
    advance it.

    Example:
        >>> import numpy as np
        >>> import lstmkit as lk
        >>> t = lk.trace(lk.layers.Bidirectional(lk.layers.LSTM(3)), np.ones((2, 5, 4)))
        >>> t.forward.h.shape, t.backward.go_backwards, t.outputs.shape
        ((2, 5, 3), True, (2, 6))
    """
    target, inputs, mask, initial_state, fed_training = resolve(
        layer_or_model, inputs, mask, initial_state, model, layer)
    if fed_training is not None and training is False:
        training = bool(fed_training)
    subs = [target] if isinstance(target, RNN) else [target.forward_layer, target.backward_layer]
    saved = [None if s.states is None else [a.copy() for a in s.states] for s in subs]
    try:
        outputs, cache = target.forward(inputs, training=bool(training), mask=mask,
                                        initial_state=initial_state, keep_cache=True)
    except ValueError as err:
        if model is None and _is_model(layer_or_model) is False and getattr(
                target, "_inbound_nodes", None):
            raise ValueError(
                f"{err}. {target.name!r} is a layer of a model: if these are the model's "
                f"inputs, use lk.trace(model, x, layer={target.name!r}) or "
                f"lk.trace(layer, x, model=model) to feed it what the model feeds it"
            ) from err
        raise
    finally:
        for s, st in zip(subs, saved):
            s.states = st
    starts = _start_states(subs, saved, initial_state)
    if isinstance(target, RNN):
        return _direction(target, cache.result, starts[0], outputs, inputs, mask,
                          bool(training))
    cache_f, cache_b, _, _ = cache
    fwd = _direction(target.forward_layer, cache_f.result, starts[0],
                     _own_outputs(target.forward_layer, cache_f.result), inputs, mask,
                     bool(training), "forward")
    bwd = _direction(target.backward_layer, cache_b.result, starts[1],
                     _own_outputs(target.backward_layer, cache_b.result), inputs, mask,
                     bool(training), "backward")
    return BidirectionalTrace(target.name, fwd, bwd, outputs, target.merge_mode)


def _direction(layer, result, start, outputs, inputs, mask, training, direction="forward"):
    """One direction's trace from its `RunResult`: one cell's, or a `StackedTrace`."""
    if not hasattr(layer.cell, "cells"):
        return _cell_trace(layer, layer.cell, _trace_rnn.cell_arrays(layer.cell, result), start,
                           outputs, inputs, mask, training, direction, result)
    cells, k0 = [], 0
    for k, (cell, arrays) in enumerate(zip(layer.cell.cells,
                                           _trace_rnn.stacked_arrays(layer.cell, result))):
        n = 2 if isinstance(cell, LSTMCell) else 1
        last = k == len(layer.cell.cells) - 1
        own = [arrays["h"][:, -1]] + ([arrays["c"][:, -1]] if n == 2 else [])
        seq = result.outputs if last else arrays["h"]  # an inner cell's output is its h
        sub = result.cache.results[k] if isinstance(result.cache, StackedRun) else None
        cells.append(_cell_trace(
            layer, cell, arrays, None if start is None else start[k0:k0 + n],
            (seq, *own), inputs, mask, training, direction, sub, sequence=seq,
            name=f"{layer.name}/{cell.name}"))
        # the next cell reads this one's states h, in input order
        inputs, k0 = cells[-1].input_order("h"), k0 + n
    return _trace_rnn.StackedTrace(layer.name, cells, outputs, cells[0].inputs, cells[0].mask,
                                   layer.go_backwards, result.backend)


def _cell_trace(layer, cell, arrays, start, outputs, inputs, mask, training, direction, result,
                sequence=None, name=None):
    """A `Trace` (LSTM cell) or `CellTrace` (GRU, SimpleRNN) of `cell`, run by `layer`.

    `result`: the cell's own `RunResult` (None inside the step-by-step stacked loop).
    """
    sequence = result.outputs if sequence is None else sequence
    backend = getattr(result, "backend", "reference")
    if not isinstance(cell, LSTMCell):
        return _trace_rnn.cell_trace(layer, cell, arrays, start, outputs, inputs, mask, training,
                                     direction, backend, sequence, name)
    B, _, H = arrays["h"].shape
    if start is None:
        h0 = c0 = np.zeros((B, H), arrays["h"].dtype)
    else:
        h0, c0 = (np.asarray(s, arrays["h"].dtype) for s in start)
    dm, rm = (None, None) if result is None else _dropout_masks(result.cache.cache)
    return Trace(
        layer_name=name or layer.name, **{k: arrays[k] for k in ARRAYS}, sequence=sequence,
        inputs=np.asarray(inputs, layer.dtype),
        mask=None if mask is None else np.asarray(mask).astype(bool), initial_state=[h0, c0],
        outputs=outputs, go_backwards=layer.go_backwards,
        zero_output_for_mask=layer.zero_output_for_mask, training=training,
        backend=backend, dropout_mask=dm, recurrent_dropout_mask=rm, direction=direction,
    )


def _start_states(subs, saved, initial_state):
    """[h0, c0] (or None = zeros) per direction: the argument, else stored states."""
    if initial_state is not None:
        given = list(initial_state)
        n = len(given) // len(subs)
        return [given[n * k:n * k + n] for k in range(len(subs))]
    return saved


def _own_outputs(layer, result):
    """What `layer` returned for its `RunResult`, as `RNN.forward` packs it."""
    output = result.outputs if layer.return_sequences else result.last_output
    return (output, *result.states) if layer.return_state else output
