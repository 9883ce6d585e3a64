"""Hostile and broken model files: each gets a clear ValueError (or OSError), fast, with
no code run, nothing unpickled or imported, and nothing written anywhere."""

from __future__ import annotations

import io
import json
import os
import pickle
import sys
import time
import tracemalloc
import warnings
import zipfile

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lstmkit as lk
from lstmkit.saving import _sandbox
from test_io_keras_files import DATA

CLEAR = (ValueError, OSError)
FUZZ = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture]}
SRC = DATA / "keras3_encoder_decoder.keras"
with zipfile.ZipFile(SRC) as _zf:
    CONFIG = json.loads(_zf.read("config.json"))
    METADATA = _zf.read("metadata.json")
    WEIGHTS = _zf.read("model.weights.h5")
SEQ_CONFIG = json.loads(zipfile.ZipFile(DATA / "keras3_classifier.keras").read("config.json"))


@pytest.fixture(autouse=True)
def short_parse_timeout(monkeypatch):
    monkeypatch.setattr(_sandbox, "BASE_TIMEOUT", 5.0)


def make_keras(path, config=CONFIG, weights=WEIGHTS, weights_name="model.weights.h5",
               extra=(), compress=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compress) as zf:
        zf.writestr("metadata.json", METADATA)
        zf.writestr("config.json", config if isinstance(config, (bytes, str))
                    else json.dumps(config))
        if weights is not None:
            zf.writestr(weights_name, weights)
        for name, data in extra:
            zf.writestr(name, data)
    return path


def load_clear(path):
    """Load, expecting a clear error; returns its message."""
    t = time.monotonic()
    with pytest.raises(CLEAR) as info:
        lk.models.load_model(path)
    assert time.monotonic() - t < 10
    message = str(info.value)
    assert message and "Traceback" not in message
    return message


def load_or_clear(path):
    """A mutated file may still be valid: it loads or gets a clear error, never anything else.
    An unusable compile_config only warns (as in Keras): the model loads uncompiled."""
    t = time.monotonic()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*loaded but not compiled",
                                    category=UserWarning)
            lk.models.load_model(path)
    except CLEAR as err:
        assert str(err)
    assert time.monotonic() - t < 10


# -- not model files ------------------------------------------------------------------------
def test_not_model_files(tmp_path):
    (tmp_path / "empty.keras").write_bytes(b"")
    assert "empty" in load_clear(tmp_path / "empty.keras")
    (tmp_path / "text.h5").write_text("hello")
    assert "neither" in load_clear(tmp_path / "text.h5")
    (tmp_path / "dir.keras").mkdir()
    assert "directory" in load_clear(tmp_path / "dir.keras")
    with pytest.raises(FileNotFoundError):
        lk.models.load_model(tmp_path / "missing.keras")
    make_keras(tmp_path / "noweights.keras", weights=None)
    assert "no model.weights.h5" in load_clear(tmp_path / "noweights.keras")


@settings(max_examples=40, **FUZZ)
@given(st.binary(min_size=0, max_size=600), st.sampled_from([b"", b"PK\x03\x04",
                                                           b"\x89HDF\r\n\x1a\n"]))
def test_random_bytes(tmp_path, data, magic):
    path = tmp_path / "random.keras"
    path.write_bytes(magic + data)
    load_clear(path)


@pytest.mark.parametrize("name", ["keras3_classifier.keras", "tfkeras2_classifier.h5",
                                  "keras3_stacked_embedding.h5"])
def test_truncated_files(tmp_path, name):
    data = (DATA / name).read_bytes()
    for cut in np.linspace(1, len(data) - 1, 12).astype(int):
        path = tmp_path / f"cut{name[-6:]}"
        path.write_bytes(data[:cut])
        load_or_clear(path)


# -- mutated files (hypothesis) ---------------------------------------------------------------
def mutate(data: bytes, edits) -> bytes:
    b = bytearray(data)
    for pos, value in edits:
        b[pos % len(b)] = value
    return bytes(b)


EDITS = st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1,
                 max_size=16)


@settings(max_examples=60, **FUZZ)
@given(EDITS)
def test_mutated_legacy_h5(tmp_path, edits):
    path = tmp_path / "m.h5"
    path.write_bytes(mutate((DATA / "tfkeras2_bidirectional_state_concat.h5").read_bytes(),
                            edits))
    load_or_clear(path)


@settings(max_examples=60, **FUZZ)
@given(EDITS)
def test_mutated_weights_inside_keras(tmp_path, edits):
    """The zip's CRC would catch raw byte flips, so mutate the inner HDF5 and re-zip it."""
    path = make_keras(tmp_path / "m.keras", weights=mutate(WEIGHTS, edits))
    load_or_clear(path)


@settings(max_examples=40, **FUZZ)
@given(EDITS)
def test_mutated_zip_container(tmp_path, edits):
    path = tmp_path / "m.keras"
    path.write_bytes(mutate(SRC.read_bytes(), edits))
    load_or_clear(path)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**15, 10**15) | st.floats(allow_nan=True)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8),
                                                                      children, max_size=4),
    max_leaves=12)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


ALL_PATHS = list(_paths(CONFIG))[1:]


@settings(max_examples=80, **FUZZ)
@given(st.lists(st.tuples(st.sampled_from(ALL_PATHS), JSON), min_size=1, max_size=3))
# A crafted value for an argument lstmkit accepts without effect (e.g. Dense's
# quantization_config) is told by a one-time UserWarning: allowed, like a clear error.
@pytest.mark.filterwarnings("ignore:.*has no effect in lstmkit:UserWarning")
def test_crafted_configs(tmp_path, replacements):
    config = json.loads(json.dumps(CONFIG))
    for where, value in replacements:
        node = config
        try:
            for key in where[:-1]:
                node = node[key]
            node[where[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    load_or_clear(make_keras(tmp_path / "c.keras", config=config))


def test_calls_of_input_layers_and_empty_calls(tmp_path):
    """Found by test_crafted_configs: a call recorded for an InputLayer is ignored (input
    layers are made by their config; Keras writes no calls for them), and a call of another
    layer without input tensors (or on values that are not tensors), or that is no dict,
    is a clear error."""
    config = json.loads(json.dumps(CONFIG))
    layers = config["config"]["layers"]
    first_input = next(i for i, e in enumerate(layers) if e["class_name"] == "InputLayer")
    other = next(i for i, e in enumerate(layers) if e["class_name"] != "InputLayer")
    layers[first_input]["inbound_nodes"] = [{}]
    lk.models.load_model(make_keras(tmp_path / "a.keras", config=config))
    # also calls on numbers or strings instead of the model's tensors (3.4e38 overflowed a
    # float32 cast here before it was refused)
    for bad in ({}, {"args": []}, {"args": 3}, [1, 2], {"args": [3.4028235677973366e38]},
                {"args": [["x", 1]]}):
        config = json.loads(json.dumps(CONFIG))
        config["config"]["layers"][other]["inbound_nodes"] = [bad]
        message = load_clear(make_keras(tmp_path / "b.keras", config=config))
        assert repr(layers[other]["config"]["name"]) in message, message


# -- crafted attacks ---------------------------------------------------------------------------
def test_non_json_and_deep_json_configs(tmp_path):
    assert "not valid JSON" in load_clear(make_keras(tmp_path / "a.keras", config=b"\xff{"))
    assert "not valid JSON" in load_clear(make_keras(tmp_path / "b.keras", config="{'a': 1}"))
    deep = "[" * 100_000 + "]" * 100_000
    load_clear(make_keras(tmp_path / "c.keras", config=deep))
    assert "JSON object" in load_clear(make_keras(tmp_path / "d.keras", config="[1, 2]"))


def test_decompression_bomb_is_refused_fast_with_little_memory(tmp_path):
    """200 MB of zeros deflated to ~200 KB: refused from the zip's declared sizes."""
    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metadata.json", METADATA)
        zf.writestr("config.json", json.dumps(CONFIG))
        with zf.open("model.weights.h5", "w", force_zip64=True) as f:
            block = bytes(1 << 20)
            for _ in range(200):
                f.write(block)
    assert bomb.stat().st_size < 2_000_000
    tracemalloc.start()
    t = time.monotonic()
    message = load_clear(bomb)
    elapsed = time.monotonic() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert "decompression bomb" in message
    assert elapsed < 2.0 and peak < 20_000_000


def test_config_bomb_is_refused(tmp_path):
    path = tmp_path / "c.keras"
    big = json.dumps({"pad": " " * (80 << 20)})
    make_keras(path, config=big, compress=zipfile.ZIP_DEFLATED)
    assert "bomb" in load_clear(path) or "limit" in load_clear(path)


def test_absurd_units_refused_before_allocation(tmp_path):
    config = json.loads(json.dumps(CONFIG))
    config["config"]["layers"][2]["config"]["units"] = 10**12
    tracemalloc.start()
    message = load_clear(make_keras(tmp_path / "u.keras", config=config))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert "units=1000000000000" in message and "'encoder'" in message
    assert peak < 20_000_000
    # Large but "possible" units still need their weights in the file: checked before build.
    config["config"]["layers"][2]["config"]["units"] = 10_000
    message = load_clear(make_keras(tmp_path / "v.keras", config=config))
    assert "asks for at least" in message


def test_declared_huge_dataset_without_storage(tmp_path):
    """An HDF5 dataset can declare a huge shape over almost no stored bytes."""
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.create_dataset("layers/lstm/cell/vars/0", shape=(10_000, 40_000), dtype="f4",
                         chunks=(1000, 1000), compression="gzip")
    path = make_keras(tmp_path / "h.keras", weights=buf.getvalue())
    t = time.monotonic()
    message = load_clear(path)
    # The dataset is never read: the model's variables are checked against the file's
    # index first (shapes and counts), and only referenced datasets are decompressed.
    assert "bomb" in message or "the file holds 1" in message
    assert time.monotonic() - t < 5


def test_path_traversal_members_are_never_written(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    extra = [("../../evil.txt", b"x"), ("/tmp/lstmkit_evil_abs.txt", b"x"),
             ("assets/../../../evil2.txt", b"x"), ("config.json/../x", b"x")]
    path = make_keras(work / "t.keras", extra=extra)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    model = lk.models.load_model(path)  # the extra members are simply never read
    assert model.name == "encoder_decoder"
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    assert not os.path.exists("/tmp/lstmkit_evil_abs.txt")


def test_duplicate_member_names_are_refused(tmp_path):
    path = tmp_path / "d.keras"
    make_keras(path)
    with zipfile.ZipFile(path, "a") as zf, pytest.warns(UserWarning, match="Duplicate"):
        zf.writestr("config.json", json.dumps({"class_name": "Sequential"}))
    assert "2 members named 'config.json'" in load_clear(path)


class _Marker:
    """Unpickling this would create a marker file: the test checks it never appears."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_pickled_npz_weights_are_never_unpickled(tmp_path):
    marker = tmp_path / "UNPICKLED"
    obj = np.empty((), dtype=object)
    obj[()] = _Marker(str(marker))
    buf = io.BytesIO()
    np.savez(buf, **{"layers/lstm/cell": obj})
    path = make_keras(tmp_path / "p.keras", weights=buf.getvalue(),
                      weights_name="model.weights.npz")
    assert pickle.dumps(obj)  # the payload is a real pickle
    assert "never unpickles" in load_clear(path)
    assert not marker.exists()


def test_numeric_npz_weights_load(tmp_path):
    """An npz with plain arrays named by Keras's variable paths is read (no pickle needed)."""
    model = lk.models.load_model(SRC)
    from lstmkit.saving._weights import model_var_groups

    arrays = {f"{inner}/vars/{i}": v.value for inner, vs in model_var_groups(model)
              for i, v in enumerate(vs)}
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path = make_keras(tmp_path / "n.keras", weights=buf.getvalue(),
                      weights_name="model.weights.npz")
    again = lk.models.load_model(path)
    for a, b in zip(again.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def _weights_with(edit):
    buf = io.BytesIO(WEIGHTS)
    with h5py.File(buf, "r+") as f:
        edit(f)
    return buf.getvalue()


def test_links_out_of_the_file_are_refused(tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("w", data=np.ones((3, 16), "f4"))

    def external(f):
        del f["layers/lstm/cell/vars/0"]
        f["layers/lstm/cell/vars/0"] = h5py.ExternalLink(str(other), "w")

    def soft(f):
        del f["layers/lstm/cell/vars/0"]
        f["layers/lstm/cell/vars/0"] = h5py.SoftLink("/layers/dense/vars/0")

    for name, edit in (("external", external), ("soft", soft)):
        path = make_keras(tmp_path / f"{name}.keras", weights=_weights_with(edit))
        assert "only follows hard links" in load_clear(path)


def test_external_raw_storage_is_refused(tmp_path):
    raw = tmp_path / "raw.bin"
    raw.write_bytes(np.ones((3, 16), "f4").tobytes())

    def edit(f):
        del f["layers/lstm/cell/vars/0"]
        f.create_dataset("layers/lstm/cell/vars/0", shape=(3, 16), dtype="f4",
                         external=[(str(raw), 0, 3 * 16 * 4)])

    path = make_keras(tmp_path / "x.keras", weights=_weights_with(edit))
    assert "outside the file" in load_clear(path)


def test_wrong_shapes_and_dtypes(tmp_path):
    def shape(f):
        del f["layers/lstm/cell/vars/1"]
        f.create_dataset("layers/lstm/cell/vars/1", data=np.ones((5, 16), "f4"))

    def dtype(f):
        del f["layers/dense/vars/1"]
        f.create_dataset("layers/dense/vars/1", data=np.array([1, 2, 3], dtype="i4"))

    def strings(f):
        del f["layers/dense/vars/1"]
        f.create_dataset("layers/dense/vars/1", data=np.array(["a", "b", "c"], dtype="S1"))

    def count(f):
        del f["layers/lstm/cell/vars/2"]

    message = load_clear(make_keras(tmp_path / "s.keras", weights=_weights_with(shape)))
    assert "(5, 16)" in message and "(4, 16)" in message
    assert "float" in load_clear(make_keras(tmp_path / "d.keras", weights=_weights_with(dtype)))
    assert "plain numbers" in load_clear(
        make_keras(tmp_path / "t.keras", weights=_weights_with(strings)))
    message = load_clear(make_keras(tmp_path / "c.keras", weights=_weights_with(count)))
    assert "expected 3 variables" in message or "more weights than the file holds" in message

    def swap(f):  # same number of weights, one missing where the layer needs it
        del f["layers/lstm/cell/vars/2"]
        f.create_dataset("layers/extra/vars/0", data=np.ones(16, "f4"))

    message = load_clear(make_keras(tmp_path / "w.keras", weights=_weights_with(swap)))
    assert "expected 3 variables" in message


def test_unknown_classes_are_named_and_never_imported(tmp_path):
    module = "lstmkit_hostile_module_that_must_not_be_imported"
    for class_name, registered, expect in (
            ("system", None, "'system'"), ("MyLayer", "my_pkg>MyLayer", "my_pkg>MyLayer"),
            ("Lambda", None, "Lambda"), ("ConvLSTM1D", None, "not support")):
        config = json.loads(json.dumps(SEQ_CONFIG))
        config["config"]["layers"][2] = {"module": module, "class_name": class_name,
                                         "config": {"name": "intruder"},
                                         "registered_name": registered}
        message = load_clear(make_keras(tmp_path / f"{class_name}.keras", config=config))
        assert "'intruder'" in message and expect in message
        assert module not in sys.modules


def test_legacy_h5_broken_structure(tmp_path):
    def legacy(path, edit):
        data = (DATA / "tfkeras2_classifier.h5").read_bytes()
        buf = io.BytesIO(data)
        with h5py.File(buf, "r+") as f:
            edit(f)
        path.write_bytes(buf.getvalue())
        return path

    def bad_json(f):
        f.attrs["model_config"] = "{not json"

    def missing_group(f):
        names = [n if isinstance(n, bytes) else n.encode()
                 for n in f["model_weights"].attrs["layer_names"]] + [b"ghost"]
        f["model_weights"].attrs["layer_names"] = np.array(names, dtype="S")

    def missing_weight(f):
        del f["model_weights/lstm/lstm/lstm_cell/kernel:0"]

    def weights_only(f):
        del f.attrs["model_config"]

    assert "not valid JSON" in load_clear(legacy(tmp_path / "a.h5", bad_json))
    assert "'ghost'" in load_clear(legacy(tmp_path / "b.h5", missing_group))
    assert "missing" in load_clear(legacy(tmp_path / "c.h5", missing_weight))
    assert "load_weights" in load_clear(legacy(tmp_path / "d.h5", weights_only))


def test_hung_parser_is_stopped(monkeypatch):
    """A parse that never ends (as libhdf5 did on a fuzzed file) becomes a ValueError."""
    if not _sandbox.enabled():
        pytest.skip("the parse sandbox is off (LSTMKIT_IO_SANDBOX=0, or not POSIX)")
    monkeypatch.setattr(_sandbox, "BASE_TIMEOUT", 1.0)
    t = time.monotonic()
    with pytest.raises(ValueError, match="did not finish"):
        _sandbox.run_isolated(time.sleep, 60, what="slow")
    assert time.monotonic() - t < 5
    with pytest.raises(ValueError, match="crashed"):
        _sandbox.run_isolated(os.abort, what="crash")  # as a segfault in libhdf5 would


def test_shapes_from_the_graph_are_bounded_by_the_file(tmp_path):
    """Input (10**6,) -> Embedding(2, 1000) -> Flatten -> Dense(1000) asks for a 10**9 x 1000
    kernel that no size key shows; building stops at the file's weight count, before
    allocating."""
    config = {"module": "keras", "class_name": "Sequential", "registered_name": None,
              "config": {"name": "wide", "layers": [
                  {"class_name": "InputLayer", "config": {"batch_shape": [None, 1_000_000],
                                                          "dtype": "int32", "name": "ids"}},
                  {"class_name": "Embedding", "config": {"name": "emb", "input_dim": 2,
                                                         "output_dim": 1000}},
                  {"class_name": "Flatten", "config": {"name": "flat"}},
                  {"class_name": "Dense", "config": {"name": "out", "units": 1000}}]}}
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.create_dataset("layers/embedding/vars/0", data=np.ones((2, 1000), "f4"))
        f.create_dataset("layers/dense/vars/0", data=np.ones((1, 1000), "f4"))
    tracemalloc.start()
    message = load_clear(make_keras(tmp_path / "wide.keras", config=config,
                                    weights=buf.getvalue()))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert "'out'" in message and "more weights than the file holds" in message
    assert peak < 50_000_000


def test_unusable_compile_config_warns_and_loads_uncompiled(tmp_path):
    """As Keras: a compile_config that cannot be used leaves the model loaded, uncompiled."""
    config = json.loads(json.dumps(SEQ_CONFIG))
    config["compile_config"] = {"optimizer": {"class_name": "my_pkg>Evil", "config": {}},
                                "loss": "mse"}
    with zipfile.ZipFile(DATA / "keras3_classifier.keras") as zf:
        weights = zf.read("model.weights.h5")
    path = make_keras(tmp_path / "cc.keras", config=config, weights=weights)
    with pytest.warns(UserWarning, match="not compiled"):
        model = lk.models.load_model(path)
    assert getattr(model, "_compile_state", None) is None
