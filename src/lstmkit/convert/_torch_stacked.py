"""`RNN([cell, ...])` (Keras's StackedRNNCells) <-> a PyTorch module: `KerasStackedRNN`.

The module holds one converted module per cell (`KerasLSTM`, `KerasGRU`,
`KerasSimpleRNN`, each an `nn.LSTM` / `nn.GRU` / `nn.RNN` inside) and runs them in
order over the whole sequence, cell k on cell k - 1's output sequence. That computes
what Keras's step-by-step stack computes: a masked step keeps every cell's states, and
what a masked step feeds the next cell is never used (that cell is masked there too).
Under `go_backwards` the first cell reverses the sequence and the others run forward
over its output, which is already in processing order.

Example:
    >>> import numpy as np, torch
    >>> import lstmkit as lk
    >>> layer = lk.layers.RNN([lk.layers.LSTMCell(4), lk.layers.GRUCell(3)], return_state=True)
    >>> x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    >>> y, (h0, c0), (h1,) = layer(x)
    >>> module = lk.convert.to_torch(layer)
    >>> got, (t_h0, t_c0), (t_h1,) = module(torch.from_numpy(x))
    >>> bool(np.allclose(got.detach().numpy(), y, atol=1e-5))
    True
"""

from __future__ import annotations

import torch
from torch import nn


class KerasStackedRNN(nn.Module):
    """Keras's `RNN` over stacked cells in PyTorch.

    Args:
        cells: the converted cell modules in order, each built with
            `return_sequences=True, return_state=True`, only the first with `go_backwards`.
        return_sequences, return_state, go_backwards, zero_output_for_mask: as Keras's RNN.

    Call: `module(x (B, T, D), initial_state=None, mask=(B, T) bool or None)`;
    `initial_state` is the cells' states flat ([h0, c0, h1] for an LSTMCell then a
    GRUCell) or one list per cell. Returns what Keras returns: the last cell's output
    ((B, T, H) with return_sequences, else (B, H)), then with return_state one list of
    final states per cell, in cell order.
    """

    def __init__(self, cells, return_sequences=False, return_state=False, go_backwards=False,
                 zero_output_for_mask=False):
        super().__init__()
        self.cells = nn.ModuleList(cells)
        self.return_sequences, self.return_state = return_sequences, return_state
        self.go_backwards, self.zero_output_for_mask = go_backwards, zero_output_for_mask

    def compute_mask(self, inputs, mask=None):
        """Keras <= 3.15: the mask passes on with return_sequences; states get None."""
        out = mask if self.return_sequences else None
        return [out] + [None] * len(self.cells) if self.return_state else out

    def forward(self, x, initial_state=None, mask=None):
        starts = [None] * len(self.cells)
        if initial_state is not None:
            flat = [s for group in initial_state
                    for s in (group if isinstance(group, (list, tuple)) else [group])]
            counts = [2 if hasattr(c, "lstm") else 1 for c in self.cells]
            if len(flat) != sum(counts):
                raise ValueError(f"initial_state must hold {sum(counts)} arrays (the cells' "
                                 f"states in order), got {len(flat)}")
            starts, k = [], 0
            for n in counts:
                starts.append(list(flat[k:k + n]))
                k += n
        if mask is not None:
            mask = torch.as_tensor(mask, device=x.device).to(torch.bool)  # (B, T)
        states = []
        for k, cell in enumerate(self.cells):
            x, *st = cell(x, starts[k], mask)  # (B, T, H_k) in processing order
            states.append(list(st))
            if k == 0 and self.go_backwards and mask is not None:
                mask = torch.flip(mask, (1,))  # the next cells run forward over x
        out = x if self.return_sequences else x[:, -1]
        return (out, *states) if self.return_state else out


def stacked_to_torch(layer, cell_to_torch) -> KerasStackedRNN:
    """An lstmkit `RNN` over `StackedRNNCells` -> `KerasStackedRNN`.

    `cell_to_torch(cell, go_backwards, zero_output_for_mask)` converts one cell.
    """
    cells = layer.cell.cells
    modules = [cell_to_torch(cell, layer.go_backwards and k == 0,
                             # inner cells' masked-step outputs are never read (see above)
                             layer.zero_output_for_mask if k == len(cells) - 1 else True)
               for k, cell in enumerate(cells)]
    module = KerasStackedRNN(modules, layer.return_sequences, layer.return_state,
                             layer.go_backwards, layer.zero_output_for_mask)
    module.keras_entry = {"class_name": "RNN", "config": layer.get_config()}
    return module.eval()
