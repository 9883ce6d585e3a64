"""Entry points that need an extra say which one to install, in one line, without a traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "tests" / "data" / "keras_files" / "keras3_classifier.keras"


def _without(packages, code, *args):
    """Run `code` in a fresh interpreter where `packages` cannot be imported."""
    block = "import sys\n" + "".join(f"sys.modules[{p!r}] = None\n" for p in packages)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"),
                                                       os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-c", block + code, *args], capture_output=True,
                          text=True, timeout=300, env=env, cwd=ROOT)


def test_ddp_example_without_torch_names_the_extra():
    result = _without(["torch"], "import runpy; sys.argv = sys.argv[1:]\n"
                      "runpy.run_path(sys.argv[0], run_name='__main__')",
                      str(ROOT / "examples" / "ddp_train.py"), "--world-size", "1")
    assert result.returncode == 1
    assert 'needs torch: pip install "lstmkit[torch]"' in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("to, missing, extra", [("torch", ["torch"], "torch"),
                                                ("onnx", ["onnx", "onnxruntime"], "onnx")])
def test_cli_convert_without_the_extra_is_one_line(to, missing, extra, tmp_path):
    result = _without(missing, "from lstmkit.cli import main; sys.exit(main(sys.argv[1:]))",
                      "convert", str(MODEL), "--to", to, "--out", str(tmp_path / "m"))
    assert result.returncode == 2
    assert result.stderr.strip() == (f"lstmkit convert: error: lstmkit convert --to {to} needs "
                                     f'{missing[0]}: pip install "lstmkit[{extra}]"')


def test_library_calls_without_the_extra_name_it():
    code = ("import numpy as np, lstmkit as lk\n"
            "for call in (lambda: lk.convert.to_torch, lambda: lk.convert.train_distributed,\n"
            "             lambda: lk.convert.to_onnx,\n"
            "             lambda: lk.inspection.plots.heatmaps(lk.trace(lk.layers.LSTM(2),\n"
            "                                                  np.ones((1, 3, 2), 'float32')))):\n"
            "    try:\n        call()\n    except ImportError as err:\n        print(err)\n")
    result = _without(["torch", "onnx", "matplotlib"], code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        'lstmkit.convert.to_torch needs torch: pip install "lstmkit[torch]"',
        'lstmkit.convert.train_distributed needs torch: pip install "lstmkit[torch]"',
        'lstmkit.convert.to_onnx needs onnx: pip install "lstmkit[onnx]"',
        'lstmkit.inspection.plots needs matplotlib: pip install "lstmkit[viz]"']


def test_other_missing_modules_are_not_disguised():
    from lstmkit._extras import extra_needed

    with pytest.raises(ModuleNotFoundError, match="nothing_like_this"):
        with extra_needed("x"):
            import nothing_like_this  # noqa: F401
