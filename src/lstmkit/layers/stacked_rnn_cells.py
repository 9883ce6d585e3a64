"""`StackedRNNCells`: cells run one after another at each step, as one cell
(keras/src/layers/rnn/stacked_rnn_cells.py). `RNN([cell, cell])` makes one.

The states are the cells' states in order; the output is the last cell's output;
cell k's input is cell k - 1's output.

The reference path (`backend="reference"`) runs the stack step by step, as Keras
does (`reference_rnn.stacked_step_fns`). Otherwise each cell runs over the whole
sequence on its own path (the fused kernels of `LSTM`, `GRU`, `SimpleRNN`, or the
reference loop where a kernel cannot run), cell k on cell k - 1's output sequence.
That is the same computation: a masked step holds every cell's state in both, and
what a masked step feeds the next cell is never used (that cell holds its state
too). Under `go_backwards` the first cell reverses the sequence and the others run
forward over its output, which is already in processing order.

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> cells = lk.layers.StackedRNNCells([lk.layers.LSTMCell(4), lk.layers.GRUCell(3)])
    >>> lk.layers.RNN(cells, return_sequences=True)(np.zeros((2, 5, 3), "float32")).shape
    (2, 5, 3)
"""

from __future__ import annotations

from typing import NamedTuple

from .. import reference_rnn as _rr
from .base import Layer
from .recurrent_cell import RecurrentCell, _resolve
from .rnn import RunResult, state_counts, state_sizes


class StackedRun(NamedTuple):
    """The cache of a cell-by-cell run: each cell's `RunResult`, in cell order."""

    results: list


class StackedRNNCells(RecurrentCell, Layer):
    """A list of cells as one cell. Args: cells, a list of lstmkit cells."""

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        cells = list(cells)
        for cell in cells:
            if not hasattr(cell, "step_fns") or not hasattr(cell, "state_size"):
                raise ValueError(
                    f"All cells must be lstmkit RNN cells (LSTMCell, GRUCell, SimpleRNNCell) "
                    f"with a `state_size`. Received: {cell!r}")
        if not cells:
            raise ValueError("StackedRNNCells needs at least one cell, got an empty list")
        self.cells = cells

    @property
    def state_size(self):
        return [c.state_size for c in self.cells]

    @property
    def output_size(self):
        return self.cells[-1].output_size

    @property
    def input_dim(self):
        return self.cells[0].input_dim

    def _all_weights(self):
        return [w for c in self.cells for w in c._all_weights()]

    def build(self, input_shape):
        batch = input_shape[0]
        prefix = getattr(self, "_path_prefix", self.name)
        for cell in self.cells:
            cell._path_prefix = f"{prefix}/{cell.name}"
            if not cell.built:
                cell.build((batch, input_shape[-1]))
            input_shape = (batch, cell.output_size)
        self.built = True

    def make_dropout_masks(self, batch_size, training):
        """One (input, recurrent) pair per cell, in cell order (as Keras draws them)."""
        return [c.make_dropout_masks(batch_size, training) for c in self.cells]

    def step_fns(self, masks) -> _rr.StepFns:
        return _rr.stacked_step_fns([c.step_fns(m) for c, m in zip(self.cells, masks)],
                                    state_counts(self))

    def run_sequence(self, x, states, *, mask=None, go_backwards=False,
                     zero_output_for_mask=False, training=False, return_sequences=True,
                     keep_cache=False, backend=None) -> RunResult:
        """Run over x (B, T, D) from `states` (flat, or None), cell by cell (see the module).

        `backend` of the result: "kernel" or "reference" when every cell ran there,
        else the cells' paths joined, e.g. "kernel,reference".
        """
        if _resolve(backend) == "reference":  # the step-by-step loop, as Keras runs it
            return super().run_sequence(
                x, states, mask=mask, go_backwards=go_backwards,
                zero_output_for_mask=zero_output_for_mask, training=training,
                return_sequences=return_sequences, keep_cache=keep_cache, backend=backend)
        results, start, last = [], 0, len(self.cells) - 1
        for k, cell in enumerate(self.cells):
            n = len(state_sizes(cell))
            res = cell.run_sequence(
                x, None if states is None else states[start:start + n], mask=mask,
                go_backwards=go_backwards and k == 0,
                # an inner cell's masked-step outputs feed a masked step of the next cell,
                # which ignores them: zeros are as good as repeats and cost nothing
                zero_output_for_mask=zero_output_for_mask if k == last else True,
                training=training, return_sequences=return_sequences or k < last,
                keep_cache=keep_cache, backend=backend)
            results.append(res)
            start += n
            x = res.outputs  # (B, T, H_k) in processing order
            if k == 0 and go_backwards and mask is not None:
                mask = mask[:, ::-1]  # the next cells run forward in processing order
        paths = [r.backend for r in results]
        backend_ = paths[0] if len(set(paths)) == 1 else ",".join(paths)
        states = [s for r in results for s in r.states]
        return RunResult(results[-1].outputs, results[-1].last_output, states,
                         StackedRun(results) if keep_cache else None, backend_)

    def run_sequence_backward(self, result: RunResult, d_seq, d_states, input_grad=True):
        """(dx (B, T, D), d_initial_states (flat), d_weights in cell order) for a run."""
        if not isinstance(result.cache, StackedRun):
            return super().run_sequence_backward(result, d_seq, d_states, input_grad)
        bounds = [0]
        for cell in self.cells:
            bounds.append(bounds[-1] + len(state_sizes(cell)))
        d_init, d_weights = [None] * len(d_states), []
        for k in reversed(range(len(self.cells))):
            # d_seq becomes the gradient of cell k - 1's output sequence (processing order)
            d_seq, d_s, d_w = self.cells[k].run_sequence_backward(
                result.cache.results[k], d_seq, list(d_states[bounds[k]:bounds[k + 1]]),
                input_grad=input_grad or k > 0)
            d_init[bounds[k]:bounds[k + 1]] = d_s
            d_weights = list(d_w) + d_weights
        return d_seq, d_init, d_weights

    def get_config(self):
        from . import serialize

        return {**super().get_config(), "cells": [serialize(c) for c in self.cells]}

    @classmethod
    def from_config(cls, config):
        from . import deserialize

        config = dict(config)
        cells = [deserialize(c) for c in config.pop("cells")]
        return cls(cells, **config)
