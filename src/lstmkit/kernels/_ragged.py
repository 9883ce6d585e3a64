"""Padded batches: the rows sorted longest first, so that each step computes only the
rows still running.

At inference the forward loop computes a masked step for rows [0, r) only, where r is
one past the last row not masked at that step (`_forward.rows_per_step`; where the steps'
products run packed, `_gemm.steps_packed`): rows after it hold their state. With padding
(each row's valid steps first, or last, as `Masking` / `Embedding(mask_zero=True)` give
for padded sequences), sorting the rows by
their number of valid steps, longest first, makes the rows still running at every step
a leading block, in either direction (`go_backwards` meets the padding first, and its
rows join the block one by one). This is what onnxruntime's `sequence_lens` and
PyTorch's packed sequences spare.

The caller's row order is restored in the outputs. With n shards, the sorted rows are
dealt to the shards in turn, so that each shard gets long and short rows alike.

Example:
    >>> import numpy as np
    >>> mask = np.arange(4)[None, :] < np.array([[1], [4], [2]])  # (B, T): lengths 1, 4, 2
    >>> rows = order(mask, shards=1)
    >>> rows.tolist()
    [1, 2, 0]
"""

from __future__ import annotations

import numpy as np

from ._forward import RAGGED_SAVING, active_rows


def order(mask: np.ndarray, shards: int) -> np.ndarray | None:
    """The batch rows of mask (B, T) in the order to run them (longest first, dealt
    round-robin to `shards` shards), or None when that would not spare another
    `RAGGED_SAVING` of the row-steps over the rows as they come (no padding, a mask
    that is not padding, or rows already in order)."""
    B, T = mask.shape
    if B < 2:
        return None
    longest_first = np.argsort(-np.count_nonzero(mask, axis=1), kind="stable")
    rows = np.concatenate([longest_first[s::shards] for s in range(shards)])
    spared = computed_steps(mask, shards) - computed_steps(mask[rows], shards)
    return rows if spared >= RAGGED_SAVING * B * T else None


def computed_steps(mask: np.ndarray, shards: int) -> int:
    """How many row-steps the loop computes for mask (B, T) in this row order, cut into
    `shards` shards as `shard_bounds` cuts it (per step and shard, `active_rows`)."""
    steps = np.ascontiguousarray(mask.T, np.uint8)  # (T, B), as the loop reads it
    return sum(int(active_rows(steps[:, b0:b1].copy()).sum())
               for b0, b1 in shard_bounds(mask.shape[0], shards))


def shard_bounds(B: int, shards: int) -> list:
    """[start, stop) of each shard's rows after `order`: shard s holds sorted rows
    s, s + shards, ..., so the first B % shards shards have one row more."""
    sizes = [len(range(s, B, shards)) for s in range(shards)]
    edges = np.cumsum([0] + sizes).tolist()
    return list(zip(edges[:-1], edges[1:]))


def restore(rows: np.ndarray, *arrays):
    """Each array (B, ...) computed in `rows` order, back in the caller's order
    (None stays None)."""
    inverse = np.empty_like(rows)
    inverse[rows] = np.arange(len(rows))
    return tuple(None if a is None else a[inverse] for a in arrays)
