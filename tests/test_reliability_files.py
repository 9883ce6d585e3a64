"""Files (issue 18): saves are atomic (disk full, a kill mid-write), paths that are not
regular files are refused before opening, and every bad input ends in one CLI line."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import stat
import zipfile

import numpy as np
import pytest

import lstmkit as lk
from lstmkit import _files
from lstmkit.cli import main

DATA = os.path.join(os.path.dirname(__file__), "data", "keras_files")
MODEL = os.path.join(DATA, "keras3_classifier.keras")  # input (None, 6, 3)


def _model(units=4):
    model = lk.Sequential([lk.Input((6, 3)), lk.layers.LSTM(units), lk.layers.Dense(2)])
    model.build((None, 6, 3))
    return model


# -- atomic writes ----------------------------------------------------------------------------
def _save_with_small_file_limit(path, kind):  # runs in a spawned child
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
    model = _model(units=64)  # ~70 KB of weights: past the limit
    try:
        if kind == "weights":
            model.save_weights(path)
        elif kind == "checkpoint":
            cb = lk.callbacks.ModelCheckpoint(path)
            cb.set_model(model)
            cb.on_epoch_end(0, {"loss": 1.0})
        else:
            model.save(path)
    except OSError:
        os._exit(3)  # the save failed, as on a full disk
    os._exit(0)


def _killed_while_saving(path):  # runs in a spawned child
    def die(fd):
        os.kill(os.getpid(), signal.SIGKILL)  # after the bytes, before the rename

    os.fsync = die
    _model(units=64).save(path)


def _spawn(target, *args):
    process = multiprocessing.get_context("spawn").Process(target=target, args=args)
    process.start()
    process.join(120)
    return process.exitcode


@pytest.mark.parametrize("kind, name", [("model", "m.keras"), ("legacy", "m.h5"),
                                        ("weights", "m.weights.h5"),
                                        ("checkpoint", "ckpt.keras")])
def test_disk_full_keeps_the_old_file(tmp_path, kind, name):
    """Failure 1: a save that runs out of space (RLIMIT_FSIZE, SIGXFSZ ignored) leaves the
    previous file loadable and no temporary file behind."""
    path = tmp_path / name
    model = _model()
    model.save_weights(path) if kind == "weights" else model.save(path)
    before = path.read_bytes()
    assert _spawn(_save_with_small_file_limit, str(path), kind) == 3
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    if kind == "weights":
        _model().load_weights(path)
    else:
        assert lk.models.load_model(path).output_shape == (None, 2)


def test_kill_mid_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "m.keras"
    _model().save(path)
    before = path.read_bytes()
    assert _spawn(_killed_while_saving, str(path)) == -signal.SIGKILL
    assert path.read_bytes() == before
    lk.models.load_model(path)


def test_atomic_write_cleans_up_and_keeps_modes(tmp_path):
    path = tmp_path / "r.txt"
    _files.atomic_write(path, b"old")
    os.chmod(path, 0o640)

    def fail(f):
        f.write(b"half")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        _files.atomic_write(path, write=fail)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["r.txt"]
    _files.atomic_write(path, b"new")
    assert path.read_bytes() == b"new" and stat.S_IMODE(os.stat(path).st_mode) == 0o640
    with pytest.raises(FileExistsError):
        _files.atomic_write(path, b"x", overwrite=False)


def test_cli_outputs_are_atomic(tmp_path, monkeypatch):
    """`predict --output` and `inspect --out` replace their file only when complete."""
    np.save(tmp_path / "x.npy", np.zeros((2, 6, 3), "float32"))
    out = tmp_path / "y.npy"
    out.write_bytes(b"previous")
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    assert main(["predict", MODEL, "-i", str(tmp_path / "x.npy"), "-o", str(out)]) == 2
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy", "y.npy"]


# -- paths that are not regular files ---------------------------------------------------------
@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "f.keras"
    os.mkfifo(path)
    return str(path)


@pytest.mark.parametrize("argv", [
    ["info", "{fifo}"], ["inspect", "{fifo}", "-i", "{x}"], ["predict", "{fifo}", "-i", "{x}",
                                                              "-o", "{tmp}/y.npy"],
    ["explain", "{fifo}"], ["convert", "{fifo}", "--to", "onnx", "--out", "{tmp}/m.onnx"],
    ["predict", MODEL, "-i", "{fifo_npy}", "-o", "{tmp}/y.npy"],
    ["train", "--csv", "{fifo_csv}", "--target", "a"]])
def test_fifo_paths_are_refused(capsys, tmp_path, fifo, argv):
    """Failure 5: a FIFO given as a path used to block forever; now one line, exit 2."""
    os.mkfifo(tmp_path / "f.npy")
    os.mkfifo(tmp_path / "f.csv")
    np.save(tmp_path / "x.npy", np.zeros((2, 6, 3), "float32"))
    names = {"fifo": fifo, "x": str(tmp_path / "x.npy"), "tmp": str(tmp_path),
             "fifo_npy": str(tmp_path / "f.npy"), "fifo_csv": str(tmp_path / "f.csv")}
    assert main([a.format(**names) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "FIFO" in err, err


def test_load_model_refuses_devices_and_fifos(fifo):
    with pytest.raises(ValueError, match="FIFO"):
        lk.models.load_model(fifo)
    if os.path.exists("/dev/zero"):
        with pytest.raises(ValueError, match="device"):
            lk.models.load_model("/dev/zero")


# -- one-line errors from the CLI ---------------------------------------------------------------
def _cli(capsys, *argv):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) <= 1, err
    return code, err


def _npy_with_header(path, shape):
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f4", "fortran_order": False, "shape": shape})
        f.write(b"\0" * 64)


def test_npy_inputs_with_bad_headers(capsys, tmp_path):
    """Failure 7: a header claiming 60 TB, an empty file, a file that is not NumPy."""
    _npy_with_header(tmp_path / "huge.npy", (10 ** 7, 6, 10 ** 6))
    (tmp_path / "empty.npy").write_bytes(b"")
    (tmp_path / "text.npy").write_bytes(b"1,2,3\n4,5,6\n")
    for name, words in (("huge", "declares"), ("empty", "is empty"),
                        ("text", "not a NumPy .npy")):
        code, err = _cli(capsys, "predict", MODEL, "-i", tmp_path / f"{name}.npy", "-o",
                         tmp_path / "y.npy")
        assert code == 2 and f"{name}.npy" in err and words in err, err


def test_budget_is_checked_before_allocating(capsys, tmp_path):
    """Failure 6: a small .npz that expands to 2 GiB, and --window 30000 on 60k rows, are
    refused from their declared sizes (no MemoryError, no time spent)."""
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, \
            zf.open("x.npy", "w", force_zip64=True) as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f4", "fortran_order": False, "shape": (2 ** 29 // 18, 6, 3)})
        f.write(b"\0" * (1 << 20))  # the header declares 2 GiB; refused from it alone
    assert path.stat().st_size < 5_000_000
    code, err = _cli(capsys, "predict", MODEL, "-i", path, "-o", tmp_path / "y.npy")
    assert code == 2 and "bomb.npz" in err and "--max-input-mb" in err, err
    rows = tmp_path / "rows.csv"
    rows.write_text("a\n" + "\n".join(str(i % 7) for i in range(60_000)) + "\n")
    code, err = _cli(capsys, "train", "--csv", rows, "--target", "a", "--window", 30000,
                     "--out", tmp_path / "m.keras")
    assert code == 2 and "--window 30000" in err and "--max-input-mb" in err, err
    small = tmp_path / "x.npy"
    np.save(small, np.zeros((2, 6, 3), "float32"))
    code, err = _cli(capsys, "predict", MODEL, "-i", small, "-o", tmp_path / "y.npy",
                     "--max-input-mb", "0.0001")
    assert code == 2 and "input budget" in err


def test_csv_messages(capsys, tmp_path):
    """Failure 9: a BOM in the header, and a header-only CSV in predict."""
    bom = tmp_path / "bom.csv"
    bom.write_text("\ufefftime,value\n" + "\n".join(f"{i},{i % 5}" for i in range(60)) + "\n",
                   encoding="utf-8")
    code, err = _cli(capsys, "train", "--csv", bom, "--target", "time", "--epochs", 1,
                     "--quiet", "--window", 4, "--out", tmp_path / "m.keras")
    assert code == 0 and "\\ufeff" not in err, err
    header = tmp_path / "header.csv"
    header.write_text("a,b,c\n")
    code, err = _cli(capsys, "predict", MODEL, "-i", header, "-o", tmp_path / "y.npy")
    assert code == 2 and "no data rows" in err, err


def test_train_refuses_to_save_a_non_finite_model(capsys, tmp_path):
    """Failure 8: values near +-1e308 used to train into NaN weights and exit 0."""
    path = tmp_path / "big.csv"
    path.write_text("v\n" + "\n".join(f"{(-1) ** i * 1.7e308:.6e}" for i in range(80)) + "\n")
    code, err = _cli(capsys, "train", "--csv", path, "--target", "v", "--epochs", 2,
                     "--quiet", "--window", 4, "--out", tmp_path / "m.keras")
    assert code == 1 and "big.csv" in err and "not finite" in err, err
    assert not (tmp_path / "m.keras").exists()


def _keras_file(path, edit_config=None, edit_weights=None):
    import h5py

    with zipfile.ZipFile(MODEL) as zf:
        config = json.loads(zf.read("config.json"))
        metadata = zf.read("metadata.json")
        weights = zf.read("model.weights.h5")
    if edit_config:
        config = edit_config(config)
    if edit_weights:
        import io

        buf = io.BytesIO(weights)
        with h5py.File(buf, "a") as f:
            edit_weights(f)
        weights = buf.getvalue()
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", metadata)
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("model.weights.h5", weights)
    return path


def test_deep_config_is_one_line(capsys, tmp_path):
    """Failure 7: a layer config nested 500-900 deep used to end in a RecursionError."""
    for depth in (500, 900):
        def nest(config):
            config["config"]["layers"][-1] = "NESTED"
            return config

        path = _keras_file(tmp_path / f"deep{depth}.keras", nest)
        # json.dumps itself recurses: write the nesting as text
        nested = ('{"class_name": "TimeDistributed", "config": {"layer": ' * depth
                  + '{"class_name": "Dense", "config": {"units": 2}}' + "}}" * depth)
        with zipfile.ZipFile(path) as zf:
            members = {n: zf.read(n) for n in zf.namelist()}
        members["config.json"] = members["config.json"].replace(b'"NESTED"', nested.encode())
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in members.items():
                zf.writestr(name, data)
        code, err = _cli(capsys, "info", path)
        assert code == 2 and f"deep{depth}.keras" in err, err


@pytest.mark.parametrize("value, words", [(np.inf, "inf"), (np.nan, "nan")])
def test_non_finite_optimizer_iterations(capsys, tmp_path, value, words):
    """Failure 7 and 9: inf iterations gave an OverflowError, NaN ones no file name."""
    model = lk.Sequential([lk.Input((6, 3)), lk.layers.LSTM(4), lk.layers.Dense(2)])
    model.compile("adam", "mse")
    model.fit(np.zeros((4, 6, 3), "float32"), np.zeros((4, 2), "float32"), verbose=0)
    good = tmp_path / "good.keras"
    model.save(good)
    bad = tmp_path / "bad.keras"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        import io

        import h5py

        for info in src.infolist():
            data = src.read(info)
            if info.filename == "model.weights.h5":
                buf = io.BytesIO(data)
                with h5py.File(buf, "a") as f:
                    del f["optimizer/vars/0"]
                    f["optimizer/vars/0"] = np.float64(value)
                data = buf.getvalue()
            dst.writestr(info, data)
    with pytest.raises(ValueError, match="bad.keras") as info:
        lk.models.load_model(bad)
    assert words in str(info.value)
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 6, 3), "float32"))
    code, err = _cli(capsys, "predict", bad, "-i", x, "-o", tmp_path / "y.npy")
    assert code == 2 and "bad.keras" in err and words in err, err


def test_train_refuses_to_save_non_finite_weights(capsys, tmp_path, monkeypatch):
    """Weights that training made NaN are an error (exit 1), not a saved model."""
    from lstmkit.training import trainer

    original = trainer._fit

    def diverging(model, *args, **kwargs):
        history = original(model, *args, **kwargs)
        weights = model.get_weights()
        weights[0] = np.full_like(weights[0], np.nan)
        model.set_weights(weights)
        return history

    monkeypatch.setattr(trainer, "_fit", diverging)
    path = tmp_path / "s.csv"
    path.write_text("v\n" + "\n".join(str(i % 9) for i in range(60)) + "\n")
    code, err = _cli(capsys, "train", "--csv", path, "--target", "v", "--epochs", 1,
                     "--quiet", "--window", 4, "--out", tmp_path / "m.keras")
    assert code == 1 and "not finite" in err and "no model saved" in err, err
    assert not (tmp_path / "m.keras").exists()
