"""The built wheel installs into a fresh venv and works there, outside the source tree.

The fresh venv sees this environment's packages through a `.pth` line, so installing the wheel
downloads nothing; pip resolves its requirements against what is already there.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SEED = """
import numpy as np
import lstmkit as lk
inputs = np.random.normal(size=(32, 10, 8)).astype("float32")
lstm = lk.layers.LSTM(4)
output = lstm(inputs)
lstm = lk.layers.LSTM(4, return_sequences=True, return_state=True)
whole_seq_output, final_memory_state, final_carry_state = lstm(inputs)
print(output.shape, whole_seq_output.shape, final_memory_state.shape, final_carry_state.shape)
print(lk.__file__)
"""


def _run(args, cwd, env=None, timeout=600):
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """`python -m build` on a copy of the project: (wheel, sdist)."""
    pytest.importorskip("build")
    tree = tmp_path_factory.mktemp("tree")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, tree / name)
    shutil.copytree(ROOT / "src", tree / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.nbi", "*.nbc"))
    out = tree / "dist"
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), "."], tree)
    wheel, = out.glob("lstmkit-*.whl")
    sdist, = out.glob("lstmkit-*.tar.gz")
    return wheel, sdist


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory):
    """A venv without lstmkit that sees this environment's site-packages (numpy, torch, ...)."""
    venv = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], venv)
    python = venv / "bin" / "python"
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                    "['purelib'])"], venv).strip()
    pathlib.Path(purelib, "_outer.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv, pathlib.Path(purelib)


def _pip(venv, *args):
    return [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
            "--disable-pip-version-check", *args]


def _clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return {**env, **extra}


def test_wheel_and_sdist_hold_the_package_data_and_license(dist):
    wheel, sdist = dist
    names = zipfile.ZipFile(wheel).namelist()
    for member in ("lstmkit/datasets/mauna_loa_co2_weekly.csv", "lstmkit/inspection/report.js",
                   "lstmkit/inspection/report.css", "lstmkit/cli/demo.py"):
        assert member in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    metadata = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: Apache-2.0" in metadata
    assert "Requires-Dist: llvmlite" in metadata
    assert 'Requires-Dist: torch>=2.2; extra == "torch"' in metadata  # a lower bound, no pin
    assert "apache license" in (ROOT / "LICENSE").read_text().lower()
    assert sdist.stat().st_size > 0


def test_a_newer_torch_already_installed_is_kept(dist, fresh_venv, tmp_path):
    wheel, _ = dist
    venv, purelib = fresh_venv
    # Fake a newer torch: its metadata, earlier on the path than the real one.
    fake = purelib / "torch-2.99.0.dist-info"
    fake.mkdir()
    (fake / "METADATA").write_text("Metadata-Version: 2.1\nName: torch\nVersion: 2.99.0\n")
    try:
        report = tmp_path / "report.json"
        # No pip config files: this machine's own cap on torch is no user's.
        _run(_pip(venv, "install", "--dry-run", "--quiet", "--report", str(report),
                  f"{wheel}[torch]"), tmp_path, _clean_env(PIP_CONFIG_FILE=os.devnull))
    finally:
        shutil.rmtree(fake)
    installs = {item["metadata"]["name"]: item["metadata"]["version"]
                for item in json.loads(report.read_text())["install"]}
    assert installs == {"lstmkit": "0.1.0"}, installs  # torch 2.99 stays


def test_installed_wheel_runs_the_seed_example_version_and_demo(dist, fresh_venv, tmp_path):
    wheel, _ = dist
    venv, purelib = fresh_venv
    _run(_pip(venv, "install", "--quiet", "--no-deps", str(wheel)), tmp_path, _clean_env())
    env = _clean_env(MPLBACKEND="Agg")
    out = _run([str(venv / "bin" / "python"), "-c", SEED], tmp_path, env)
    shapes, where = out.strip().splitlines()
    assert shapes == "(32, 4) (32, 10, 4) (32, 4) (32, 4)"
    assert pathlib.Path(where).is_relative_to(purelib), where  # the installed copy, not src/
    assert _run([str(venv / "bin" / "lstmkit"), "--version"], tmp_path, env).strip() == \
        "lstmkit 0.1.0"
    pytest.importorskip("matplotlib")
    out = _run([str(venv / "bin" / "lstmkit"), "demo", "--quick", "--out", "demo"], tmp_path,
               env, timeout=900)
    assert "report: " in out and (tmp_path / "demo" / "report.html").exists()
    assert "\r" not in out and "\x1b" not in out  # piped: plain lines
