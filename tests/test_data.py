"""lk.data: batches streamed from memory-mapped .npy files and HDF5 datasets."""

import h5py
import numpy as np
import pytest

import lstmkit as lk


def _write_npy(path, array):
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=array.dtype, shape=array.shape)
    mm[:] = array
    mm.flush()
    del mm


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(23, 5, 3)).astype("float32")
    y = rng.normal(size=(23, 2)).astype("float32")
    _write_npy(tmp_path / "x.npy", x)
    _write_npy(tmp_path / "y.npy", y)
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["train/x"] = x
        f["train/y"] = y
    return tmp_path, x, y


def test_npy_batches_are_memory_mapped(files):
    d, x, y = files
    seq = lk.data.ArraySequence(d / "x.npy", str(d / "y.npy"), batch_size=5)
    assert isinstance(seq.x, np.memmap)
    assert len(seq) == 5
    xb, yb = seq[4]
    np.testing.assert_array_equal(yb, y[20:])
    assert xb.shape == (3, 5, 3) and not isinstance(xb, np.memmap)
    np.testing.assert_array_equal(np.concatenate([b[0] for b in seq]), x)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in seq]), y)
    np.testing.assert_array_equal(seq[-1][0], x[20:])


def test_hdf5_and_shuffled_batch_order(files):
    d, x, y = files
    seq = lk.data.ArraySequence(f"{d / 'd.h5'}:train/x", f"{d / 'd.h5'}:train/y",
                                batch_size=4, shuffle=True, seed=1)
    seq.on_epoch_end()
    order = seq._order.copy()
    assert sorted(order) == list(range(6)) and list(order) != list(range(6))
    xs, ys = zip(*seq)
    got = np.concatenate(xs)
    assert sorted(map(tuple, got[:, 0, :])) == sorted(map(tuple, x[:, 0, :]))
    # x and y rows stay paired under the shuffle.
    for xb, yb in zip(xs, ys):
        rows = [int(np.flatnonzero((x == r).all(axis=(1, 2)))[0]) for r in xb]
        np.testing.assert_array_equal(yb, y[rows])


def test_predict_source_and_dtype(files):
    d, x, _ = files
    seq = lk.data.ArraySequence(d / "x.npy", batch_size=10, dtype="float64")
    (xb,) = seq[0]
    assert xb.dtype == np.float64 and len(seq) == 3
    np.testing.assert_array_equal(xb, x[:10])


def test_errors(files, tmp_path):
    d, x, y = files
    with pytest.raises(ValueError, match="batch_size"):
        lk.data.ArraySequence(x, y, batch_size=0)
    with pytest.raises(ValueError, match="23 rows but y has 22"):
        lk.data.ArraySequence(x, y[:22])
    with pytest.raises(KeyError, match="no dataset 'nope'"):
        lk.data.ArraySequence(f"{d / 'd.h5'}:nope")
    with pytest.raises(ValueError, match="Name the HDF5 dataset"):
        lk.data.ArraySequence(str(d / "d.h5"))
    with pytest.raises(ValueError, match=".npy file"):
        lk.data.ArraySequence(str(d / "x.csv"))
    with pytest.raises(TypeError, match="Expected a path"):
        lk.data.ArraySequence(3)
    with pytest.raises(IndexError):
        lk.data.ArraySequence(x, y, batch_size=5)[5]
