"""`StackedRNNCells`: cells run one after another at each step, as one cell
(keras/src/layers/rnn/stacked_rnn_cells.py). `RNN([cell, cell])` makes one.

The states are the cells' states in order; the output is the last cell's output;
cell k's input is cell k - 1's output.

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> cells = lk.layers.StackedRNNCells([lk.layers.LSTMCell(4), lk.layers.GRUCell(3)])
    >>> lk.layers.RNN(cells, return_sequences=True)(np.zeros((2, 5, 3), "float32")).shape
    (2, 5, 3)
"""

from __future__ import annotations

from .. import reference_rnn as _rr
from .base import Layer
from .recurrent_cell import RecurrentCell
from .rnn import state_counts


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

    def get_config(self):
        from . import serialize

        return {**super().get_config(), "cells": [serialize(c) for c in self.cells]}

    @classmethod
    def from_config(cls, config):
        from . import deserialize

        config = dict(config)
        cells = [deserialize(c) for c in config.pop("cells")]
        return cls(cells, **config)
