"""`trace` for a GRU, a SimpleRNN and stacked cells: every gate and state at every step, from
the layer's run.

As for the LSTM (`trace.py`), the layer runs once with `forward(..., keep_cache=True)`
and the arrays are read from what the run kept for backward: nothing is recomputed,
so `trace.h[:, -1]` is bitwise the layer's final state. Per-step arrays are
(B, T, H) in processing order (`input_order(name)` flips a go_backwards one).

    GRU:        z   update gate, recurrent_activation(...)                 (B, T, H)
                r   reset gate                                             (B, T, H)
                hh  the candidate h~, activation(...)                      (B, T, H)
                h   the state after the step: z * h_(t-1) + (1 - z) * hh   (B, T, H)
    SimpleRNN:  h   the state after the step: activation(x W + h_(t-1) U + b)

A GRU and a SimpleRNN have one state, h, which is also the output.

`RNN([cell, ...])` (StackedRNNCells) gives a `StackedTrace`: `.cells[k]` is cell k's
trace (an LSTM `Trace` or a `CellTrace`), in Keras's order; cell k's inputs are cell
k - 1's states h. At a masked step every cell keeps its states; the gates a cell after
the first computes there (and discards) read the previous cell's discarded output on the
reference loop and zeros on the fused kernels, so they differ between the two paths.

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    >>> gru = lk.layers.GRU(4, return_state=True)
    >>> t = lk.trace(gru, x)
    >>> t.z.shape, bool((t.h[:, -1] == t.outputs[1]).all())
    ((2, 5, 4), True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _files

GRU_NAMES = {"z": "update gate z", "r": "reset gate r", "hh": "candidate h~",
             "h": "state h (the output)"}
SIMPLE_NAMES = {"h": "state h (the output)"}


class StepArrays:
    """What every trace of one cell shares: per-step arrays (B, T, H) by name, in processing
    order. A subclass has `ARRAYS` (the names), `h`, `mask`, `inputs` and `go_backwards`."""

    @property
    def shape(self):
        """(batch, timesteps, units)."""
        return self["h"].shape

    @property
    def processing_mask(self) -> np.ndarray:
        """(B, T) bool, True at valid steps, in processing order."""
        B, T, _ = self.shape
        if self.mask is None:
            return np.ones((B, T), bool)
        return self.mask[:, ::-1] if self.go_backwards else self.mask

    def input_order(self, name: str) -> np.ndarray:
        """A per-step array flipped, if needed, so that position t refers to input t."""
        arr = self[name]
        return arr[:, ::-1] if self.go_backwards else arr

    def as_dict(self, order: str = "processing") -> dict:
        """{name: (B, T, H), "inputs", "mask"} as plain arrays.

        `order="input"` flips a go_backwards trace so position t is input t (as LSTMVis
        and token-aligned tools expect); "processing" keeps the layer's order.
        """
        if order not in ("processing", "input"):
            raise ValueError(f"order must be 'processing' or 'input', got {order!r}")
        out = {k: (self.input_order(k) if order == "input" else self[k]) for k in self.ARRAYS}
        out["inputs"] = self.inputs
        if self.mask is not None:
            out["mask"] = self.mask
        return out

    def save_npz(self, path, order: str = "input") -> None:
        """Write `as_dict(order)` to a NumPy .npz file (no pickles), e.g. for LSTMVis."""
        _files.atomic_write(path, write=lambda f: np.savez(f, **self.as_dict(order)))


@dataclass
class CellTrace(StepArrays):
    """One direction of a GRU or SimpleRNN run; `arrays` holds the per-step arrays by name.

    Attributes:
        arrays: {name: (B, T, H)} in processing order: z, r, hh, h (GRU) or h (SimpleRNN).
        sequence: (B, T, H) the layer's output at each step (processing order).
        inputs: (B, T, D) as given; mask: (B, T) bool or None (input order).
        initial_state: [h0] (B, H); outputs: what the layer returned.
    """

    layer_name: str
    kind: str  # "GRU" or "SimpleRNN"
    arrays: dict
    sequence: np.ndarray
    inputs: np.ndarray
    mask: np.ndarray | None
    initial_state: list
    outputs: object
    go_backwards: bool = False
    zero_output_for_mask: bool = False
    training: bool = False
    backend: str | None = None
    direction: str = "forward"

    @property
    def ARRAYS(self):  # noqa: N802 (the LSTM Trace's name for its array names)
        return tuple(self.arrays)

    @property
    def NAMES(self):  # noqa: N802
        return GRU_NAMES if self.kind == "GRU" else SIMPLE_NAMES

    def __getattr__(self, name):
        arrays = self.__dict__.get("arrays", {})
        if name in arrays:
            return arrays[name]
        raise AttributeError(f"a {self.kind} trace has arrays {tuple(arrays)}, not {name!r}")

    def __getitem__(self, name):
        if name == "sequence":
            return self.sequence
        if name not in self.arrays:
            raise KeyError(f"a {self.kind} trace has arrays {tuple(self.arrays)}, got {name!r}")
        return self.arrays[name]

    def __repr__(self):
        B, T, H = self.shape
        return (f"<{self.kind}Trace layer={self.layer_name!r} direction={self.direction!r} "
                f"batch={B} timesteps={T} units={H}; arrays {', '.join(self.arrays)}>")


@dataclass
class StackedTrace:
    """Every cell of an `RNN([cell, ...])` (StackedRNNCells) from one call.

    Attributes:
        cells: one trace per cell, in Keras's order: a `Trace` for an LSTMCell, a
            `CellTrace` for a GRUCell or SimpleRNNCell. Cell k's `inputs` are cell
            k - 1's states h (input order), its `outputs` what `RNN(cell,
            return_sequences=True, return_state=True)` would return for them.
        outputs: what the layer returned: the last cell's output, then (return_state)
            one list of final states per cell.
        inputs: (B, T, D) as given; mask: (B, T) bool or None.
    """

    layer_name: str
    cells: list
    outputs: object
    inputs: np.ndarray
    mask: np.ndarray | None
    go_backwards: bool = False
    backend: str | None = None

    @property
    def sequence(self):
        """(B, T, H) the layer's output at each step (processing order)."""
        return self.cells[-1].sequence

    def __repr__(self):
        inner = ", ".join(repr(c) for c in self.cells)
        return f"<StackedTrace layer={self.layer_name!r} cells=[{inner}]>"


_GATES = {"LSTM": ("i", "f", "g", "o"), "GRU": ("z", "r", "hh"), "SimpleRNN": ()}


def kind_of(cell) -> str:
    """"LSTM", "GRU" or "SimpleRNN" for a cell."""
    return type(cell).__name__.removesuffix("Cell")


def arrays_from_steps(kind, saved, final_states) -> dict:
    """Per-step arrays from the reference loop's saved steps of one cell.

    `saved[t]` is what the cell's `reference_rnn` step kept: (step, x_t, *states before).
    The state after step t is what step t + 1 started from (a masked step kept it).
    """
    steps = [sv[0] for sv in saved]
    out = {name: np.stack([getattr(s, name) for s in steps], axis=1) for name in _GATES[kind]}
    after = [sv[2:] for sv in saved[1:]] + [tuple(final_states)]  # [(h, c) or (h,)] * T
    if kind == "LSTM":
        out["c"] = np.stack([a[1] for a in after], axis=1)  # (B, T, H)
    out["h"] = np.stack([a[0] for a in after], axis=1)  # (B, T, H)
    return out


def cell_arrays(cell, result) -> dict:
    """Per-step arrays (B, T, H) of one cell's `run_sequence` result kept for backward."""
    if kind_of(cell) == "LSTM":  # the kernels' ForwardResult is the run's cache
        from ..kernels import gates_from_cache

        return gates_from_cache(result.cache)
    if result.backend == "kernel":  # the fused kernel kept them (kernels.cells.KernelCache)
        return result.cache.arrays()
    _step, seq = result.cache
    return arrays_from_steps(kind_of(cell), seq.saved, seq.states)


def stacked_arrays(stack, result) -> list:
    """Per-cell arrays of a `StackedRNNCells.run_sequence` result, from either path."""
    from ..layers.stacked_rnn_cells import StackedRun

    if isinstance(result.cache, StackedRun):  # cell by cell (kernels)
        return [cell_arrays(c, r) for c, r in zip(stack.cells, result.cache.results)]
    _step, seq = result.cache  # the step-by-step loop: seq.saved[t][k] is cell k's
    out, start = [], 0
    for k, cell in enumerate(stack.cells):
        n = 2 if kind_of(cell) == "LSTM" else 1
        out.append(arrays_from_steps(kind_of(cell), [sv[k] for sv in seq.saved],
                                     seq.states[start:start + n]))
        start += n
    return out


def cell_trace(layer, cell, arrays, start, outputs, inputs, mask, training, direction="forward",
               backend=None, sequence=None, name=None):
    """A `CellTrace` of a GRU/SimpleRNN `cell` of `layer` from its per-step `arrays`."""
    B, _, H = arrays["h"].shape
    h0 = np.zeros((B, H), arrays["h"].dtype) if start is None else \
        np.asarray(start[0], arrays["h"].dtype)
    return CellTrace(
        layer_name=name or layer.name, kind=kind_of(cell),
        arrays=arrays, sequence=arrays["h"] if sequence is None else sequence,
        inputs=np.asarray(inputs, layer.dtype),
        mask=None if mask is None else np.asarray(mask).astype(bool), initial_state=[h0],
        outputs=outputs, go_backwards=layer.go_backwards,
        zero_output_for_mask=layer.zero_output_for_mask, training=training,
        backend=backend, direction=direction)


def is_cell_traceable(cell) -> bool:
    """Whether `cell` is one LSTM, GRU or SimpleRNN cell (what `cell_arrays` reads)."""
    return type(cell).__name__ in ("LSTMCell", "GRUCell", "SimpleRNNCell")


def is_stack_traceable(cell) -> bool:
    """Whether `cell` is a StackedRNNCells of cells `is_cell_traceable` accepts."""
    return hasattr(cell, "cells") and all(is_cell_traceable(c) for c in cell.cells)
