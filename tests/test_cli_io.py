"""`lstmkit info` and `lstmkit predict` on real Keras files: output, predictions, errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from lstmkit.cli import main
from test_io_keras_files import DATA, keras_data


def run(capsys, *argv):
    code = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return code, out, err


def test_info_lists_layers_shapes_params_and_writer(capsys):
    code, out, _ = run(capsys, "info", DATA / "tfkeras2_encoder_decoder.h5")
    assert code == 0
    assert "legacy .h5" in out and "tf.keras 2.21.0" in out and "backend tensorflow" in out
    assert "encoder_inputs (None, 5, 3)" in out and "head (None, 4, 3)" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert lines["encoder"].split()[1] == "LSTM" and lines["encoder"].endswith(" 128")
    assert lines["decoder"].endswith(" 112") and lines["head"].endswith(" 15")
    assert "parameters: 255 (255 trainable, 0 non-trainable)" in out


def test_info_keras3_file(capsys):
    code, out, _ = run(capsys, "info", DATA / "keras3_bidirectional_state_concat.keras")
    assert code == 0 and ".keras (zip), written by Keras 3.15.1" in out
    assert "Bidirectional" in out and "parameters: 282" in out


def test_predict_npy_and_csv(capsys, tmp_path):
    x, (expected,) = keras_data("keras3_classifier.keras")
    np.save(tmp_path / "x.npy", x)
    code, out, _ = run(capsys, "predict", DATA / "keras3_classifier.keras", "--input",
                       tmp_path / "x.npy", "--output", tmp_path / "y.npy")
    assert code == 0 and "(4, 3)" in out
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, atol=1e-5, rtol=0)
    np.savetxt(tmp_path / "x.csv", x.reshape(len(x), -1), delimiter=",",
               header=",".join(f"c{i}" for i in range(18)), comments="")
    code, _, _ = run(capsys, "predict", DATA / "tfkeras2_classifier.h5", "-i",
                     tmp_path / "x.csv", "-o", tmp_path / "y2.npy")
    assert code == 0
    np.testing.assert_allclose(np.load(tmp_path / "y2.npy"), expected, atol=1e-5, rtol=0)


def test_predict_several_inputs_by_name_and_npz(capsys, tmp_path):
    x, (expected,) = keras_data("keras3_encoder_decoder.keras")
    for name, value in x.items():
        np.save(tmp_path / f"{name}.npy", value)
    code, _, _ = run(capsys, "predict", DATA / "keras3_encoder_decoder.keras",
                     "--input", f"decoder_inputs={tmp_path / 'decoder_inputs.npy'}",
                     "--input", f"encoder_inputs={tmp_path / 'encoder_inputs.npy'}",
                     "--output", tmp_path / "y.npy")
    assert code == 0
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, atol=1e-5, rtol=0)
    np.savez(tmp_path / "both.npz", **x)
    code, _, _ = run(capsys, "predict", DATA / "tfkeras2_encoder_decoder.keras", "--input",
                     tmp_path / "both.npz", "--output", tmp_path / "y2.npy")
    assert code == 0
    np.testing.assert_allclose(np.load(tmp_path / "y2.npy"), expected, atol=1e-5, rtol=0)


def test_predict_several_outputs_to_npz(capsys, tmp_path):
    x, expected = keras_data("keras3_bidirectional_state_concat.keras")
    np.save(tmp_path / "x.npy", x)
    model = DATA / "keras3_bidirectional_state_concat.keras"
    code, _, err = run(capsys, "predict", model, "-i", tmp_path / "x.npy", "-o",
                       tmp_path / "y.npy")
    assert code == 2 and "2 outputs" in err and ".npz" in err
    code, _, _ = run(capsys, "predict", model, "-i", tmp_path / "x.npy", "-o",
                     tmp_path / "y.npz")
    assert code == 0
    with np.load(tmp_path / "y.npz") as y:
        assert list(y.files) == ["head", "states"]
        for name, want in zip(y.files, expected):
            np.testing.assert_allclose(y[name], want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("argv, message", [
    (["info", "{tmp}/missing.keras"], "No such file"),
    (["info", str(DATA / "keras3_lambda.keras")], "Lambda"),
    (["info", str(DATA / "tfkeras2_lambda.h5")], "Lambda"),
    (["predict", str(DATA / "keras3_classifier.keras"), "-i", "{tmp}/x.txt", "-o",
      "{tmp}/y.npy"], "no such input file"),
    (["predict", str(DATA / "keras3_classifier.keras"), "-i", "{tmp}/bad.npy", "-o",
      "{tmp}/y.npy"], "shape (None, 6, 3)"),
    (["predict", str(DATA / "keras3_classifier.keras"), "-i", "{tmp}/bad.npy", "-o",
      "{tmp}/y.txt"], "--output must end"),
    (["predict", str(DATA / "keras3_encoder_decoder.keras"), "-i", "{tmp}/bad.npy", "-o",
      "{tmp}/y.npy"], "NAME=FILE"),
    (["predict", str(DATA / "keras3_classifier.keras"), "-i", "{tmp}/pickle.npy", "-o",
      "{tmp}/y.npy"], "allow_pickle"),
])
def test_clear_one_line_errors(capsys, tmp_path, argv, message):
    np.save(tmp_path / "bad.npy", np.zeros((2, 5)))
    np.save(tmp_path / "pickle.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    code, _, err = run(capsys, *[a.format(tmp=tmp_path) for a in argv])
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err


def test_info_as_a_command():
    result = subprocess.run([sys.executable, "-m", "lstmkit", "info",
                             str(DATA / "tfkeras2_stacked_embedding.h5")],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "Embedding" in result.stdout and "tf.keras 2.21.0" in result.stdout


def test_info_names_lstmkit_as_the_writer_of_its_files(capsys, tmp_path):
    import lstmkit as lk

    lk.models.load_model(DATA / "keras3_repeat_vector.keras").save(tmp_path / "m.keras")
    code, out, _ = run(capsys, "info", tmp_path / "m.keras")
    assert code == 0 and "written by lstmkit " in out and "(Keras 3.15.1 format)" in out
