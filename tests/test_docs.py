"""The README's seed example runs as written; pytest collects every docstring example."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


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


def test_every_module_with_an_example_is_collected_by_doctest():
    # The examples are collected by pytest (--doctest-modules over src/lstmkit, set up by
    # conftest.py), not from a list kept by hand: every module with one is collected.
    src = ROOT / "src"
    with_examples = {
        ".".join(p.relative_to(src).with_suffix("").parts).removesuffix(".__init__")
        for p in (src / "lstmkit").rglob("*.py")
        if re.search(r"^\s*>>> ", p.read_text(encoding="utf-8"), re.M)
        and p.name != "__main__.py"}
    assert len(with_examples) > 50
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-qq",
                             "-p", "no:cacheprovider", str(src / "lstmkit")],
                            capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    collected = {_module_of(line) for line in result.stdout.splitlines()
                 if line.startswith("src/") and line.endswith(tuple("0123456789"))}
    assert with_examples <= collected, sorted(with_examples - collected)


def _module_of(line):
    """`src/lstmkit/x/y.py: 3` (file: examples collected) -> "lstmkit.x.y"."""
    path = line.split(":")[0]
    return ".".join(Path(path).with_suffix("").parts[1:]).removesuffix(".__init__")


def test_the_api_reference_has_a_page_per_public_module():
    pytest.importorskip("mkdocs")
    spec = importlib.util.spec_from_file_location("api_hook", ROOT / "docs" / "_hooks" / "api.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    import lstmkit as lk

    documented = {module for _, module in hook.PAGES.values()}
    public_modules = {getattr(lk, name).__name__ for name in lk.__all__
                      if isinstance(getattr(lk, name), types.ModuleType)}
    assert public_modules <= documented, sorted(public_modules - documented)
    homes = hook._homes()
    layers = hook.render("layers", homes)
    assert "::: lstmkit.layers.lstm.LSTM\n" in layers and 'heading: "lstmkit.layers.LSTM"' in layers
    assert "::: lstmkit.models.sequential.Sequential\n" in hook.render("models", homes)
    assert "::: lstmkit.inspection.trace.trace\n" in hook.render("inspection", homes)
    top = hook.render("lstmkit", homes)  # links to where lk.Sequential is documented
    assert "[lstmkit.models.Sequential][lstmkit.models.sequential.Sequential]" in top
