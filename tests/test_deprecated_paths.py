"""The old import paths `lstmkit.io` and `lstmkit.inspect` still work and warn (one release)."""

import subprocess
import sys

import pytest

CHECKS = {
    "lstmkit.io": ("import lstmkit.io, lstmkit.saving\n"
                   "assert lstmkit.io.load_model is lstmkit.saving.load_model\n"),
    "lstmkit.inspect": ("import lstmkit.inspect, lstmkit.inspection\n"
                        "assert lstmkit.inspect.trace is lstmkit.inspection.trace\n"
                        "assert lstmkit.inspect.plots is lstmkit.inspection.plots\n"),
    "lk.io": "import lstmkit as lk\nassert lk.io.save_model is lk.saving.save_model\n",
    "lk.inspect": "import lstmkit as lk\nassert lk.inspect.explain is lk.explain\n",
}


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_old_path_works_and_warns_once(name):
    # A fresh interpreter: the warning is given on the module's first import only.
    code = CHECKS[name] * 2
    result = subprocess.run([sys.executable, "-W", "always::DeprecationWarning", "-c", code],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    new = "lstmkit.saving" if "io" in name else "lstmkit.inspection"
    assert result.stderr.count("DeprecationWarning") == 1, result.stderr
    assert f"use {new}" in result.stderr


def test_new_paths_do_not_warn():
    code = ("import warnings; warnings.simplefilter('error')\n"
            "import lstmkit as lk, lstmkit.saving, lstmkit.inspection\n"
            "lk.saving.load_model; lk.inspection.trace; lk.trace\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
