"""`lstmkit convert MODEL --to onnx|torch --out PATH`, and loading the results without lstmkit."""

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

import lstmkit as lk
from lstmkit.cli import main


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    model = lk.Sequential([
        lk.Input((4,), dtype="int32"), lk.layers.Embedding(12, 3, mask_zero=True),
        lk.layers.Bidirectional(lk.layers.LSTM(3, return_sequences=True)),
        lk.layers.LSTM(2), lk.layers.Dense(2, activation="softmax")])
    path = tmp_path_factory.mktemp("cli") / "model.keras"
    model.save(str(path))
    return path, model


def _ids():
    ids = np.array([[3, 5, 1, 7], [2, 9, 0, 0], [0, 0, 0, 0]], "int32")  # right-padded
    return ids


def test_convert_to_onnx(model_file, tmp_path, capsys):
    path, model = model_file
    out = tmp_path / "model.onnx"
    assert main(["convert", str(path), "--to", "onnx", "--out", str(out)]) == 0
    assert "(ok)" in capsys.readouterr().out
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: _ids()})[0]
    np.testing.assert_allclose(got, model.predict(_ids(), verbose=0), atol=1e-5)


def test_convert_to_torch_loads_without_lstmkit(model_file, tmp_path, capsys):
    path, model = model_file
    out = tmp_path / "model.pt2"
    assert main(["convert", str(path), "--to", "torch", "--out", str(out)]) == 0
    assert "(ok)" in capsys.readouterr().out
    np.save(tmp_path / "ids.npy", _ids())
    # A fresh interpreter where importing lstmkit fails: only torch reads the file.
    code = (
        "import sys; sys.modules['lstmkit'] = None\n"
        "import numpy as np, torch\n"
        f"m = torch.export.load({str(out)!r}).module()\n"
        f"y = m(torch.from_numpy(np.load({str(tmp_path / 'ids.npy')!r})))\n"
        f"np.save({str(tmp_path / 'y.npy')!r}, y.detach().numpy())\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), model.predict(_ids(), verbose=0),
                               atol=1e-5)


def test_convert_errors(model_file, tmp_path, capsys):
    path, _ = model_file
    gelu = lk.Sequential([lk.Input((3, 2)), lk.layers.LSTM(2, activation="gelu")])
    gelu_path = tmp_path / "gelu.keras"
    gelu.save(str(gelu_path))
    assert main(["convert", str(gelu_path), "--to", "onnx", "--out",
                 str(tmp_path / "g.onnx")]) == 2
    assert "cannot express activation 'gelu'" in capsys.readouterr().err
    free = lk.Sequential([lk.Input((None, 2)), lk.layers.LSTM(2)])
    free_path = tmp_path / "free.keras"
    free.save(str(free_path))
    assert main(["convert", str(free_path), "--to", "torch", "--out",
                 str(tmp_path / "f.pt2")]) == 2
    assert "--timesteps" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["convert", str(path), "--to", "tflite", "--out", "x"])
