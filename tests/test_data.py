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


def _model(seed_weights=None):
    model = lk.Sequential([lk.Input((5, 3)), lk.layers.LSTM(4), lk.layers.Dense(2)])
    if seed_weights is not None:
        model.set_weights(seed_weights)
    model.compile(optimizer=lk.optimizers.Adam(0.01), loss="mse")
    return model


def test_fit_reads_memmaps_and_train_on_sequence_matches_fit(files):
    d, x, y = files
    reference = _model()
    start = reference.get_weights()
    reference.fit(x, y, batch_size=5, epochs=2, shuffle=False, verbose=0)
    # fit indexes the batches of a memory map, so a .npy larger than memory streams.
    xm, ym = lk.data.open_array(d / "x.npy"), lk.data.open_array(d / "y.npy")
    on_disk = _model(start)
    on_disk.fit(xm, ym, batch_size=5, epochs=2, shuffle=False, verbose=0)
    # HDF5 (or any source): the train_on_batch loop over an ArraySequence.
    looped = _model(start)
    seq = lk.data.ArraySequence(f"{d / 'd.h5'}:train/x", f"{d / 'd.h5'}:train/y", batch_size=5)
    history = lk.data.train_on_sequence(looped, seq, epochs=2)
    assert len(history) == 2 and history[1] < history[0]
    for a, b, c in zip(reference.get_weights(), on_disk.get_weights(), looped.get_weights()):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-6)
        np.testing.assert_allclose(c, a, rtol=0, atol=1e-6)
    assert not np.allclose(start[0], reference.get_weights()[0])
