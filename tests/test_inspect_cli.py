"""`lstmkit explain` and `lstmkit inspect`, on the seed example and on real Keras files.

The model files in tests/data/keras_files were written by Keras 3.15 (see MANIFEST.json and
the script in scripts/); the reports must trace what lstmkit's loaded model computes.
"""

import json
import re
from pathlib import Path

import numpy as np
import pytest

import lstmkit as lk
from lstmkit.cli import main

FILES = Path(__file__).parent / "data" / "keras_files"


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_explain_default_is_the_seed_example(capsys):
    code, out, _ = _run(capsys, "explain")
    assert code == 0
    assert "lk.layers.LSTM(4, return_sequences=True, return_state=True)" in out
    assert "whole_seq_output, final_memory_state, final_carry_state = layer(inputs)" in out
    assert "[0] whole_seq_output    (32, 10, 4)" in out
    assert "[2] final_carry_state   (32, 4)" in out
    assert "whole_seq_output[:, -1] == final_memory_state" in out
    assert "FAILED" not in out and "ok: checked on these inputs" in out
    code2, out2, _ = _run(capsys, "explain", "--units", "4", "--input-shape", "32,10,8",
                          "--return-sequences", "--return-state")
    assert code2 == 0 and out2 == out


@pytest.mark.parametrize("argv,needle", [
    (["--no-return-sequences", "--no-return-state"], "[0] output  (32, 4)"),
    (["--no-return-sequences"], "output == final_memory_state"),
    (["--go-backwards"], "NOT flipped back"),
    (["--mask-last", "3", "--zero-output-for-mask"], "differs, as predicted, for samples [0, 2"),
    (["--bidirectional", "concat"], "output[:, 0, 4:] == h_bwd"),
    (["--bidirectional", "none"], "y_bwd[:, 0] == h_bwd"),
    (["--bidirectional", "ave", "--no-return-sequences"], "output == ave(h_fwd, h_bwd)"),
])
def test_explain_options(capsys, argv, needle):
    code, out, _ = _run(capsys, "explain", *argv)
    assert code == 0, out
    assert needle in out


def test_explain_bad_arguments(capsys):
    code, _, err = _run(capsys, "explain", "--input-shape", "32,10")
    assert code == 2 and "B,T,D" in err
    code, _, err = _run(capsys, "explain", "--mask-last", "11")
    assert code == 2 and "--mask-last" in err
    code, _, err = _run(capsys, "explain", "--input", "x.npy")
    assert code == 2 and "MODEL" in err


def _x(tmp_path, name, key="x"):
    with np.load(FILES / f"{name}.npz") as data:
        x = data[key]
    path = tmp_path / f"{key}.npy"
    np.save(path, x)
    return x, path


def test_explain_a_model_file(capsys, tmp_path):
    _, xpath = _x(tmp_path, "keras3_masking_backwards_dropout")
    code, out, _ = _run(capsys, "explain", str(FILES / "keras3_masking_backwards_dropout.keras"),
                        "--input", str(xpath))
    assert code == 0, out
    assert "Model 'masking_backwards_dropout'" in out
    assert out.count("How they relate") == 2  # both LSTM layers
    assert "go_backwards=True" in out and "Mask: at a masked step" in out
    assert "FAILED" not in out


def test_inspect_a_model_file(capsys, tmp_path):
    name = "keras3_stacked_embedding"
    x, xpath = _x(tmp_path, name)
    out_path = tmp_path / "report.html"
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(f"w{k}" for k in range(50)), encoding="utf-8")
    code, out, _ = _run(capsys, "inspect", str(FILES / f"{name}.keras"), "--input", str(xpath),
                        "--out", str(out_path), "--no-pictures", "--vocab", str(vocab))
    assert code == 0 and "wrote" in out
    html = out_path.read_text(encoding="utf-8")
    assert "Total params" in html  # the model summary
    data = json.loads(re.search(r"id='lk-data'>(.*?)</script>", html, re.DOTALL).group(1))
    model = lk.saving.load_model(str(FILES / f"{name}.keras"))
    layers = [lay for lay in model.layers if isinstance(lay, lk.layers.LSTM)]
    assert [entry["name"] for entry in data["layers"]] == [lay.name for lay in layers]
    # the embedded numbers are the trace of the layer inside the model (fed what it is fed)
    tr = lk.trace(model, x, layer=layers[0].name)
    np.testing.assert_allclose(data["layers"][0]["directions"][0]["c"], tr.input_order("c"),
                               atol=5e-5)
    if tr.mask is not None:
        assert data["layers"][0]["mask"] == tr.mask.astype(int).tolist()


def test_inspect_an_encoder_decoder_with_two_inputs(capsys, tmp_path):
    name = "keras3_encoder_decoder"
    _, enc = _x(tmp_path, name, "x_encoder_inputs")
    _, dec = _x(tmp_path, name, "x_decoder_inputs")
    out_path = tmp_path / "r.html"
    code, _out, err = _run(capsys, "inspect", str(FILES / f"{name}.keras"),
                          "--input", f"encoder_inputs={enc}", "--input", f"decoder_inputs={dec}",
                          "--out", str(out_path), "--no-pictures")
    assert code == 0, err
    html = out_path.read_text(encoding="utf-8")
    assert "LSTM encoder" in html and "LSTM decoder" in html
    assert "started from non-zero states" in html  # the decoder starts from the encoder's h, c


def test_inspect_bad_arguments(capsys, tmp_path):
    code, _, err = _run(capsys, "inspect", str(FILES / "keras3_classifier.keras"), "--input",
                        "x.npy", "--out", str(tmp_path / "r.txt"))
    assert code == 2 and ".html" in err
