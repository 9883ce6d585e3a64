"""Batches from files larger than memory: NumPy `.npy` (memory-mapped) and HDF5 datasets.

`ArraySequence(x, y, batch_size)` is a Keras `PyDataset`-like batch source:
`len(seq)` batches, `seq[i]` -> `(x_batch, y_batch)`, `seq.on_epoch_end()`.
Only the rows of one batch are read into memory; `x` and `y` may be

- a path to a `.npy` file, opened with `np.load(path, mmap_mode="r")`;
- `"file.h5:dataset/path"` or an `h5py.Dataset`, read slice by slice;
- any array-like with `len` and slicing (NumPy arrays, memmaps).

Batches are contiguous row ranges, so reads are sequential; `shuffle=True`
shuffles the order of the batches each epoch (not the rows inside one).

Two ways into training:
- `.npy` files: `model.fit(open_array("x.npy"), open_array("y.npy"), ...)`. `fit`
  indexes one batch at a time, so only that batch is read from the memory map
  (`shuffle=False` reads sequentially; the default shuffle reads random rows).
- Anything else (HDF5, custom sources): `model.fit(ArraySequence(...), epochs=...)`
  (then `y` is None: the sequence yields both), or `train_on_sequence(model, seq)`,
  a plain loop over `model.train_on_batch`.

Example:
    >>> import os, tempfile
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> d = tempfile.mkdtemp()
    >>> x = np.lib.format.open_memmap(os.path.join(d, "x.npy"), "w+", "float32", (10, 4, 3))
    >>> x[:] = 1.0; x.flush()
    >>> seq = lk.data.ArraySequence(os.path.join(d, "x.npy"), None, batch_size=4)
    >>> len(seq), seq[2][0].shape
    (3, (2, 4, 3))
"""

from __future__ import annotations

import os

import numpy as np


def open_array(source):
    """An array-like view of `source` that reads lazily (see the module docstring)."""
    if source is None:
        return None
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    if isinstance(source, str):
        path, dataset = source, ""
        if ":" in source and not os.path.exists(source):
            path, _, dataset = source.rpartition(":")
        if dataset or path.endswith((".h5", ".hdf5")):
            import h5py

            if not dataset:
                raise ValueError(f"Name the HDF5 dataset as 'file.h5:dataset', got {source!r}")
            f = h5py.File(path, "r")
            if dataset not in f:
                names = sorted(f.keys())
                f.close()
                raise KeyError(f"HDF5 file {path!r} has no dataset {dataset!r}; it has {names}")
            return f[dataset]
        if not path.endswith(".npy"):
            raise ValueError(f"Expected a .npy file or 'file.h5:dataset', got {source!r}")
        return np.load(path, mmap_mode="r")
    if not hasattr(source, "__len__") or not hasattr(source, "__getitem__"):
        raise TypeError(f"Expected a path, an h5py.Dataset or an array, got "
                        f"{type(source).__name__}")
    return source


class ArraySequence:
    """Batches `(x[i*b:(i+1)*b], y[...])` read from disk on demand.

    Args:
        x: inputs (see the module docstring for what sources are accepted).
        y: targets of the same length, or None (for `predict`).
        batch_size: rows per batch; the last batch may be smaller.
        shuffle: shuffle the batch order at every `on_epoch_end`.
        dtype: cast each x batch to this dtype (default: keep the stored dtype).
        seed: seed of the batch-order shuffle.
    """

    def __init__(self, x, y=None, batch_size=32, shuffle=False, dtype=None, seed=None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.x, self.y = open_array(x), open_array(y)
        if self.y is not None and len(self.y) != len(self.x):
            raise ValueError(f"x has {len(self.x)} rows but y has {len(self.y)}")
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.dtype = dtype
        self._rng = np.random.default_rng(seed)
        self._order = np.arange(len(self))

    def __len__(self) -> int:
        return (len(self.x) + self.batch_size - 1) // self.batch_size

    def _rows(self, array, index):
        start = int(self._order[index]) * self.batch_size
        return np.asarray(array[start:start + self.batch_size])

    def __getitem__(self, index):
        if not -len(self) <= index < len(self):
            raise IndexError(f"batch {index} out of range for {len(self)} batches")
        index %= len(self)
        xb = self._rows(self.x, index)
        if self.dtype is not None:
            xb = xb.astype(self.dtype, copy=False)
        if self.y is None:
            return (xb,)
        return xb, self._rows(self.y, index)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def on_epoch_end(self):
        if self.shuffle:
            self._order = self._rng.permutation(len(self))

    @property
    def num_batches(self) -> int:
        return len(self)


def train_on_sequence(model, sequence, epochs=1, verbose=False):
    """Train with `model.train_on_batch` over an `ArraySequence` (for loops outside `fit`).

    Returns:
        The mean of each epoch's batch losses (list of floats).
    """
    history = []
    for epoch in range(epochs):
        losses = []
        for xb, yb in sequence:
            out = model.train_on_batch(xb, yb)
            losses.append(float(np.ravel(out)[0]))
        sequence.on_epoch_end()
        history.append(float(np.mean(losses)))
        if verbose:
            print(f"epoch {epoch + 1}/{epochs}: loss {history[-1]:.6g}")
    return history
