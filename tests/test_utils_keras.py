"""`lk.utils`: to_categorical, timeseries_dataset_from_array, get_file, clear_session,
against Keras 3 where Keras runs without TensorFlow, and against their definitions."""

import time
import zipfile

import numpy as np
import pytest

import lstmkit as lk
from _oracle import keras as _keras

RNG = np.random.default_rng(16)


def test_to_categorical_as_keras():
    keras = _keras()
    for y, kwargs in [([0, 2, 1, 2], {}), (np.array([[1], [3]]), {"num_classes": 5}),
                      (np.array([[0, 1], [2, 0]]), {})]:
        np.testing.assert_array_equal(lk.utils.to_categorical(y, **kwargs),
                                      keras.utils.to_categorical(y, **kwargs))


def _reference_windows(data, targets, sequence_length, sequence_stride=1, sampling_rate=1,
                       start_index=None, end_index=None):
    """The documented definition, one window at a time."""
    start = start_index or 0
    end = len(data) if end_index is None else end_index
    xs, ys, i = [], [], 0
    while start + i + (sequence_length - 1) * sampling_rate < end:
        if targets is not None and i >= len(targets):
            break
        xs.append(data[[start + i + j * sampling_rate for j in range(sequence_length)]])
        if targets is not None:
            ys.append(targets[start + i])
        i += sequence_stride
    return np.array(xs), (np.array(ys) if targets is not None else None)


@pytest.mark.parametrize("kwargs", [
    {"sequence_length": 10},
    {"sequence_length": 5, "sequence_stride": 3, "sampling_rate": 2},
    {"sequence_length": 4, "sampling_rate": 6, "start_index": 7, "end_index": 90},
    {"sequence_length": 8, "batch_size": 7},
    {"sequence_length": 3, "batch_size": None},
])
def test_timeseries_windows_follow_the_definition(kwargs):
    data = RNG.normal(size=(100, 3)).astype("float32")
    targets = np.arange(100) * 10
    ds = lk.utils.timeseries_dataset_from_array(data, targets, **kwargs)
    x = np.concatenate([b[0] for b in ds])
    y = np.concatenate([b[1] for b in ds])
    ref_kwargs = {k: v for k, v in kwargs.items() if k != "batch_size"}
    ref_x, ref_y = _reference_windows(data, targets, **ref_kwargs)
    np.testing.assert_array_equal(x, ref_x)
    np.testing.assert_array_equal(y, ref_y)
    batch = kwargs.get("batch_size", 128)
    assert all(len(b[0]) == (batch or len(ref_x)) for b in list(ds)[:-1])
    assert len(ds) == len(ds.take(1000)) == -(-len(ref_x) // (batch or len(ref_x)))


def test_timeseries_docstring_examples():
    """keras.io's examples: inputs 0..9 predict 10; a sampled 100-step window."""
    data = np.arange(100)
    ds = lk.utils.timeseries_dataset_from_array(data[:-10], data[10:], sequence_length=10)
    for inputs, targets in ds.take(1):
        assert inputs[0].tolist() == list(range(10)) and targets[0] == 10
        assert inputs[1].tolist() == list(range(1, 11)) and targets[1] == 11
    x = RNG.normal(size=(1000, 2))
    ds = lk.utils.timeseries_dataset_from_array(x, None, sequence_length=10, sampling_rate=2,
                                                batch_size=1)
    first = ds[0]
    assert first.shape == (1, 10, 2)
    np.testing.assert_array_equal(first[0], x[0:20:2])


def test_timeseries_shuffle_is_seeded():
    data = np.arange(50)
    a = lk.utils.timeseries_dataset_from_array(data, data, 5, shuffle=True, seed=3)
    b = lk.utils.timeseries_dataset_from_array(data, data, 5, shuffle=True, seed=3)
    plain = lk.utils.timeseries_dataset_from_array(data, data, 5)
    np.testing.assert_array_equal(a[0][1], b[0][1])
    assert sorted(a[0][1].tolist()) == plain[0][1].tolist()
    assert a[0][1].tolist() != plain[0][1].tolist()
    for x, y in a:
        np.testing.assert_array_equal(x[:, 0], y)  # each window keeps its own target


@pytest.mark.parametrize("kwargs", [
    {"sampling_rate": 0}, {"sequence_stride": 0}, {"start_index": -1},
    {"start_index": 200}, {"end_index": 200}, {"start_index": 5, "end_index": 3},
    {"sequence_stride": 100}, {"format": "numpy"},
])
def test_timeseries_bad_arguments_same_errors_as_keras(kwargs):
    keras = _keras()
    data = np.arange(100)
    with pytest.raises(ValueError) as ours:
        lk.utils.timeseries_dataset_from_array(data, None, 5, **kwargs)
    with pytest.raises(ValueError) as theirs:
        keras.utils.timeseries_dataset_from_array(data, None, 5, **kwargs)
    assert str(ours.value) == str(theirs.value)


def test_fit_evaluate_predict_take_a_timeseries_dataset():
    series = np.sin(np.arange(400) / 10)[:, None].astype("float32")
    train = lk.utils.timeseries_dataset_from_array(series[:-5], series[5:, 0], 20,
                                                   batch_size=32)
    model = lk.Sequential([lk.layers.LSTM(4), lk.layers.Dense(1)])
    model.compile("adam", "mse")
    history = model.fit(train, epochs=2, validation_data=train, verbose=0)
    assert sorted(history.history) == ["loss", "val_loss"]
    assert np.isfinite(model.evaluate(train, verbose=0))
    inputs_only = lk.utils.timeseries_dataset_from_array(series, None, 20, batch_size=64)
    windows = sum(len(b) for b in inputs_only)
    assert model.predict(inputs_only, verbose=0).shape == (windows, 1)


def _paths_relative(path, root):
    return str(path)[len(str(root)):]


@pytest.mark.parametrize("kwargs", [{}, {"fname": "data.zip", "extract": True},
                                    {"extract": True}, {"cache_subdir": "models"}])
def test_get_file_local_origin_same_cache_layout_as_keras(tmp_path, kwargs):
    keras = _keras()
    src = tmp_path / "data.zip"
    with zipfile.ZipFile(src, "w") as z:
        z.writestr("inner/a.txt", "hello")
    (tmp_path / "lk").mkdir()
    (tmp_path / "k").mkdir()  # Keras falls back to /tmp/.keras for a folder not yet made
    ours = lk.utils.get_file(origin=src.as_uri(), cache_dir=tmp_path / "lk", **kwargs)
    theirs = keras.utils.get_file(origin=src.as_uri(), cache_dir=str(tmp_path / "k"), **kwargs)
    assert _paths_relative(ours, tmp_path / "lk") == _paths_relative(theirs, tmp_path / "k")
    if kwargs.get("extract"):
        assert (tmp_path / "lk" / _paths_relative(ours, tmp_path / "lk").lstrip("/") /
                "inner" / "a.txt").read_text() == "hello"


def test_get_file_uses_the_cache_without_the_network(tmp_path):
    cached = tmp_path / "datasets" / "series.csv"
    cached.parent.mkdir()
    cached.write_text("1,2\n")
    start = time.perf_counter()
    path = lk.utils.get_file(origin="https://example.invalid/series.csv", cache_dir=tmp_path)
    assert path == str(cached) and time.perf_counter() - start < 1.0


def test_get_file_offline_is_a_quick_clear_error(tmp_path):
    start = time.perf_counter()
    with pytest.raises(OSError, match="URL fetch failure on http://127.0.0.1:9/x.csv.*put it at"):
        lk.utils.get_file(origin="http://127.0.0.1:9/x.csv", cache_dir=tmp_path)
    assert time.perf_counter() - start < 10
    assert not list((tmp_path / "datasets").iterdir())  # no partial file left behind


def test_get_file_checks_hashes(tmp_path):
    src = tmp_path / "f.bin"
    src.write_bytes(b"abc")
    sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert lk.utils.get_file(origin=src.as_uri(), file_hash=sha, cache_dir=tmp_path / "c")
    with pytest.raises(ValueError, match="hash does not match"):
        lk.utils.get_file(origin=src.as_uri(), file_hash="0" * 64,
                          cache_dir=tmp_path / "d")
    with pytest.raises(ValueError, match="Please specify the \"origin\""):
        lk.utils.get_file("x.csv")
    with pytest.raises(ValueError, match="Paths are no longer accepted"):
        lk.utils.get_file("a/b.csv", origin=src.as_uri(), cache_dir=tmp_path)


def test_get_file_refuses_archive_members_outside_the_folder(tmp_path):
    src = tmp_path / "evil.zip"
    with zipfile.ZipFile(src, "w") as z:
        z.writestr("../outside.txt", "x")
    with pytest.raises(ValueError, match="outside"):
        lk.utils.get_file("evil.zip", origin=src.as_uri(), extract=True, cache_dir=tmp_path)
    assert not (tmp_path / "datasets" / "outside.txt").exists()


def test_clear_session_restarts_names_as_keras():
    keras = _keras()
    for k in (lk, keras):
        k.utils.clear_session()
        names = [k.layers.LSTM(2).name, k.layers.LSTM(2).name, k.layers.Dense(1).name]
        assert names == ["lstm", "lstm_1", "dense"]
