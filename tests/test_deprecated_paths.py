"""Old import paths (`lstmkit.io`, `lstmkit.inspect`, `lstmkit.training.data`) work and warn."""

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
    "lstmkit.training.data": ("import lstmkit.training.data as d\n"
                              "import lstmkit.training._adapters as a\n"
                              "assert d.ArraySource is a.ArraySource\n"),
}
NEW = {"lstmkit.io": "lstmkit.saving", "lk.io": "lstmkit.saving",
       "lstmkit.inspect": "lstmkit.inspection", "lk.inspect": "lstmkit.inspection",
       "lstmkit.training.data": "lstmkit.data"}


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_old_path_works_and_warns_once(name):
    # A fresh interpreter: the warning is given on the module's first import only.
    code = CHECKS[name] * 2
    result = subprocess.run([sys.executable, "-W", "always::DeprecationWarning", "-c", code],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("DeprecationWarning") == 1, result.stderr
    assert NEW[name] in result.stderr


def test_new_paths_do_not_warn():
    code = ("import warnings; warnings.simplefilter('error')\n"
            "import lstmkit as lk, lstmkit.saving, lstmkit.inspection\n"
            "lk.saving.load_model; lk.inspection.trace; lk.trace\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
