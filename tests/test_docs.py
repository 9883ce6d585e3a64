"""The README's seed example runs as written, and the docstring examples run (doctest)."""

from __future__ import annotations

import doctest
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def seed_example() -> str:
    """The first python block after the "seed example" heading of the README."""
    text = README.read_text()
    start = text.index("## The seed example")
    match = re.search(r"```python\n(.*?)```", text[start:], re.DOTALL)
    assert match, "README has no python block after '## The seed example'"
    return match.group(1)


def test_readme_seed_example_runs_as_written():
    code = seed_example()
    assert "import lstmkit as lk" in code
    check = (
        "\nassert output.shape == (32, 4), output.shape"
        "\nassert whole_seq_output.shape == (32, 10, 4), whole_seq_output.shape"
        "\nassert final_memory_state.shape == (32, 4)"
        "\nassert final_carry_state.shape == (32, 4)"
        "\nimport numpy as np"
        "\nnp.testing.assert_array_equal(whole_seq_output[:, -1], final_memory_state)"
        "\nprint('ok')"
    )
    # A fresh interpreter, as a reader would run it.
    result = subprocess.run([sys.executable, "-c", code + check], capture_output=True, check=False,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")


def test_readme_shape_comments_match():
    code = seed_example()
    assert "# (32, 4)" in code and "# (32, 10, 4), (32, 4), (32, 4)" in code


MODULES = ["lstmkit", "lstmkit.reference", "lstmkit.activations", "lstmkit.initializers",
           "lstmkit.regularizers", "lstmkit.constraints", "lstmkit.layers.lstm",
           "lstmkit.layers.lstm_cell", "lstmkit.layers.bidirectional", "lstmkit.layers.base",
           "lstmkit.kernels", "lstmkit.kernels._gemm", "lstmkit.kernels._parallel"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             verbose=False, report=True)
    assert result.attempted > 0, f"{name} has no runnable example"
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
