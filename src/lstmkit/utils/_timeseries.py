"""`timeseries_dataset_from_array`: sliding windows over a series, in batches, NumPy-backed.

Follows keras/src/utils/timeseries_dataset_utils.py: window `i` starts at
`start_index + start_positions[i]` and takes `sequence_length` steps `sampling_rate`
apart; its target is `targets[start_index + start_positions[i]]`. Keras returns a
`tf.data.Dataset`; this returns a `TimeseriesDataset`, a sequence of NumPy batches
that `fit`, `evaluate` and `predict` accept and that iterates like the dataset
(`for x, y in ds`, `ds.take(1)`).

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> ds = lk.utils.timeseries_dataset_from_array(
    ...     np.arange(100), np.arange(100), sequence_length=10, batch_size=32)
    >>> x, y = ds[0]
    >>> x.shape, y.shape, x[1].tolist()[:3], int(y[1])
    ((32, 10), (32,), [1, 2, 3], 1)
"""

from __future__ import annotations

import numpy as np


class TimeseriesDataset:
    """Batches of windows: `len(ds)` batches, `ds[i]` is `(x, y)` (or `x` without targets).

    x: (batch, sequence_length, *data.shape[1:]); y: (batch, *targets.shape[1:]).
    """

    def __init__(self, data, targets, windows, positions, batch_size):
        self._data, self._targets = data, targets
        self._windows = windows  # (N, sequence_length) indices into data
        self._positions = positions  # (N,) indices into targets
        self._batch_size = len(windows) if batch_size is None else batch_size

    def __len__(self):
        return -(-len(self._windows) // self._batch_size) if len(self._windows) else 0

    def __getitem__(self, i):
        if not -len(self) <= i < len(self):
            raise IndexError(f"batch index {i} out of range for {len(self)} batches")
        i %= len(self)
        rows = slice(i * self._batch_size, (i + 1) * self._batch_size)
        x = self._data[self._windows[rows]]  # (b, sequence_length, ...)
        if self._targets is None:
            return x
        return x, self._targets[self._positions[rows]]  # (b, ...)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def take(self, count):
        """The first `count` batches, as `tf.data.Dataset.take` gives them."""
        return [self[i] for i in range(min(count, len(self)) if count >= 0 else len(self))]

    def __repr__(self):
        return (f"<TimeseriesDataset batches={len(self)} windows={len(self._windows)} "
                f"batch_size={self._batch_size}>")


def _check(start_index, end_index, sampling_rate, sequence_stride, n):
    """Keras's argument checks, with its messages."""
    if start_index:
        if start_index < 0:
            raise ValueError(f"`start_index` must be 0 or greater. Received: "
                             f"start_index={start_index}")
        if start_index >= n:
            raise ValueError("`start_index` must be lower than the length of the data. "
                             f"Received: start_index={start_index}, for data of length {n}")
    if end_index:
        if start_index and end_index <= start_index:
            raise ValueError("`end_index` must be higher than `start_index`. Received: "
                             f"start_index={start_index}, and end_index={end_index} ")
        if end_index >= n:
            raise ValueError("`end_index` must be lower than the length of the data. "
                             f"Received: end_index={end_index}, for data of length {n}")
        if end_index <= 0:
            raise ValueError(f"`end_index` must be higher than 0. Received: "
                             f"end_index={end_index}")
    if sampling_rate <= 0:
        raise ValueError(f"`sampling_rate` must be higher than 0. Received: "
                         f"sampling_rate={sampling_rate}")
    if sampling_rate >= n:
        raise ValueError("`sampling_rate` must be lower than the length of the data. "
                         f"Received: sampling_rate={sampling_rate}, for data of length {n}")
    if sequence_stride <= 0:
        raise ValueError(f"`sequence_stride` must be higher than 0. Received: "
                         f"sequence_stride={sequence_stride}")
    if sequence_stride >= n:
        raise ValueError("`sequence_stride` must be lower than the length of the data. "
                         f"Received: sequence_stride={sequence_stride}, for data of length {n}")


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1,
                                  sampling_rate=1, batch_size=128, shuffle=False, seed=None,
                                  start_index=None, end_index=None, format="tf"):
    """Windows of `data` with their targets, in batches (Keras's arguments and order).

    Args:
        data: array (N, ...), the series (time on axis 0).
        targets: array (N, ...) or None; window i's target is `targets[start of window i]`.
        sequence_length: steps per window.
        sequence_stride: steps between the starts of consecutive windows.
        sampling_rate: steps between the samples within a window.
        batch_size: windows per batch (None: one batch of all windows).
        shuffle, seed: shuffle the window order (NumPy RandomState(seed), as Keras).
        start_index, end_index: use only data[start_index:end_index].
        format: "tf" or "grain" in Keras; both give the same NumPy batches here.

    Returns:
        A `TimeseriesDataset`: batches `(x (b, sequence_length, ...), y (b, ...))`.
    """
    data = np.asarray(data)
    n = len(data)
    _check(start_index, end_index, sampling_rate, sequence_stride, n)
    if format not in ("tf", "grain"):
        raise ValueError(f'`format` should be either "tf" or "grain". Received: format={format}')
    start_index = start_index or 0
    end_index = n if end_index is None else end_index
    num_seqs = end_index - start_index - (sequence_length - 1) * sampling_rate
    if targets is not None:
        targets = np.asarray(targets)
        num_seqs = min(num_seqs, len(targets))
    start_positions = np.arange(0, max(num_seqs, 0), sequence_stride)  # (N,)
    if shuffle:
        if seed is None:
            seed = np.random.randint(1e6)
        np.random.RandomState(seed).shuffle(start_positions)
    offsets = np.arange(sequence_length) * sampling_rate  # (sequence_length,)
    windows = start_index + start_positions[:, None] + offsets  # (N, sequence_length)
    return TimeseriesDataset(data, targets, windows, start_index + start_positions, batch_size)
