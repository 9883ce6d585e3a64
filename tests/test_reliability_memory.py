"""Memory (issue 18): loading reads only the datasets the model references, a gzip bomb
beside the weights is never decompressed, a legitimate model's peak stays near its
weights, and the reading helper runs under a deadline and an address-space limit.

Peaks are measured in fresh child processes (`ru_maxrss` of the parent and of the
reading helper), with small files built in tmp_path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import zipfile

import h5py
import numpy as np
import pytest

import lstmkit as lk
from lstmkit.saving import _sandbox

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, "src"))

PEAK = textwrap.dedent("""
    import resource, sys
    sys.path.insert(0, {src!r})
    import lstmkit as lk
    lk.models.load_model({path!r}).layers  # warm up: imports, the reading helper
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        lk.models.load_model({path!r})
        print("loaded")
    except ValueError as err:
        print("refused:", err)
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
    from lstmkit.saving import _sandbox
    _sandbox._stop()  # a child's peak is reported once it has ended
    helper = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(me * 1024, helper * 1024)
""")


def _peaks(path, warm):
    """(outcome line, parent's growth in bytes, helper's peak in bytes) of one load in a
    fresh process, after a warm-up load of `warm`."""
    code = PEAK.format(src=SRC, path=str(path)).replace(
        f"lk.models.load_model({str(path)!r}).layers", f"lk.models.load_model({str(warm)!r})")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    grown, helper = (int(v) for v in lines[-1].split())
    return lines[-2], grown, helper


def _big_model(units):
    model = lk.Sequential([lk.Input((4, units)), lk.layers.LSTM(units), lk.layers.Dense(8)])
    model.build((None, 4, units))
    return model


def test_unreferenced_gzip_bomb_is_never_decompressed(tmp_path):
    """Failure 4: a .keras whose weights file also holds an unreferenced gzip dataset
    declaring 1 GiB (about 40x, under the 100x ratio rule) took 5.2 GB to load. The
    dataset is now never read: the load takes what the real weights take. (256 MiB
    declared here, to keep the test fast; the mechanism does not depend on the size.)"""
    model = _big_model(64)
    good = tmp_path / "good.keras"
    model.save(good)
    with zipfile.ZipFile(good) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    weights = tmp_path / "w.h5"
    weights.write_bytes(members["model.weights.h5"])
    with h5py.File(weights, "a") as f:
        junk = f.create_dataset("junk/vars/0", shape=(2 ** 26,), dtype="f4",
                                chunks=(2 ** 22,), compression="gzip", compression_opts=1)
        rng = np.random.default_rng(0)
        block = (rng.random(2 ** 22) < 0.02).astype("f4")  # compresses ~40x, not 1000x
        for i in range(0, 2 ** 26, 2 ** 22):
            junk[i:i + 2 ** 22] = block
    members["model.weights.h5"] = weights.read_bytes()
    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(bomb, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    size = bomb.stat().st_size
    assert 2 ** 28 / size > 10  # a small file declaring 256 MiB
    outcome, grown, helper = _peaks(bomb, good)
    assert outcome == "loaded"  # the model itself is fine; the junk is ignored
    assert grown < 100e6 and helper < 300e6, (grown, helper)


def test_legitimate_model_peak_is_near_its_weights(tmp_path):
    """A ~20 MB model loads with the parent growing by about its weights, not 6x."""
    model = _big_model(768)  # LSTM(768) on 768 features: 4.7M weights, 19 MB float32
    nbytes = sum(w.nbytes for w in model.get_weights())
    path = tmp_path / "big.keras"
    model.save(path)
    small = tmp_path / "small.keras"
    _big_model(8).save(small)
    outcome, grown, helper = _peaks(path, small)
    assert outcome == "loaded"
    assert grown < 1.5 * nbytes, (grown / nbytes)
    assert helper < 2.5 * nbytes + 150e6, (helper / nbytes)


def test_helper_is_reused_and_restarted(tmp_path):
    """One helper serves every load; a crash or an overrun stops it and the next load
    starts a new one. Its address space is capped per request."""
    if not _sandbox.enabled():
        pytest.skip("the reading helper is off (LSTMKIT_IO_SANDBOX=0, or not POSIX)")
    path = os.path.join(os.path.dirname(__file__), "data", "keras_files",
                        "keras3_classifier.keras")
    lk.models.load_model(path)
    pid = _sandbox._HELPER["proc"].pid
    t = time.perf_counter()
    for _ in range(5):
        lk.models.load_model(path)
    assert _sandbox._HELPER["proc"].pid == pid
    assert (time.perf_counter() - t) / 5 < 1.0
    with pytest.raises(ValueError, match="crashed"):
        _sandbox.run_isolated(os.abort, what="crash")
    assert lk.models.load_model(path).output_shape == (None, 3)
    assert _sandbox._HELPER["proc"].pid != pid
    # A request that allocates past its cap gets a ValueError, and the helper lives on.
    with pytest.raises(ValueError, match="memory"):
        _sandbox.run_isolated("numpy:ones", 2 ** 33, what="greedy", memory=1 << 20)
    assert _sandbox.run_isolated("math:hypot", 3.0, 4.0) == 5.0


def test_config_sizes_bound_what_is_read(tmp_path):
    """A referenced dataset whose shape differs from what the config implies is refused
    from the file's index, before its data is read."""
    model = _big_model(8)
    path = tmp_path / "m.keras"
    model.save(path)
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    config = json.loads(members["config.json"])
    weights = tmp_path / "w.h5"
    weights.write_bytes(members["model.weights.h5"])
    with h5py.File(weights, "a") as f:
        del f["layers/dense/vars/0"]
        f.create_dataset("layers/dense/vars/0", shape=(2 ** 26, 8), dtype="f4",
                         compression="gzip")
    members["model.weights.h5"] = weights.read_bytes()
    members["config.json"] = json.dumps(config).encode()
    bad = tmp_path / "bad.keras"
    with zipfile.ZipFile(bad, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    t = time.monotonic()
    with pytest.raises(ValueError, match="shape"):
        lk.models.load_model(bad)
    assert time.monotonic() - t < 10


def test_relative_paths_follow_the_callers_directory(tmp_path, monkeypatch):
    """The helper is started once and reused; a relative path still means the caller's
    current directory at the time of the load (tests/compat's scripts save and load
    `model_checkpoint.weights.h5` from their own folder)."""
    model = lk.Sequential([lk.Input((4, 3)), lk.layers.LSTM(2)])
    lk.models.load_model(os.path.join(os.path.dirname(__file__), "data", "keras_files",
                                      "keras3_classifier.keras"))  # the helper starts here
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        monkeypatch.chdir(tmp_path / folder)
        weights = [np.full(w.shape, len(folder) + ord(folder), "float32")
                   for w in model.get_weights()]
        model.set_weights(weights)
        model.save_weights("relative.weights.h5")
        model.set_weights([np.zeros_like(w) for w in weights])
        model.load_weights("relative.weights.h5")
        for got, want in zip(model.get_weights(), weights):
            np.testing.assert_array_equal(got, want)
