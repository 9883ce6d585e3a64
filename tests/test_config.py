"""Every `LSTMKIT_*` variable is read in `_config.py` only, at call time, and is in the README."""

import ast
import pathlib
import re

import pytest

from lstmkit import _config

SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "lstmkit"
README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _is_environ(node) -> bool:
    """`os.environ`, `environ`, `os.getenv`, `getenv`, `os.environb`."""
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)
    return name in ("environ", "environb", "getenv")


def _env_reads(tree):
    """{(line, variable)} for the expressions that read an `LSTMKIT_*` environment variable."""
    return set(_env_read_nodes(tree))


def _env_read_nodes(tree):
    writes = {id(t) for node in ast.walk(tree) if isinstance(node, (ast.Assign, ast.AugAssign))
              for t in (node.targets if isinstance(node, ast.Assign) else [node.target])}
    for node in ast.walk(tree):
        if id(node) in writes or not isinstance(node, (ast.Call, ast.Subscript, ast.Compare)):
            continue
        if not any(_is_environ(n) for n in ast.walk(node)):
            continue
        for n in ast.walk(node):
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and \
                    n.value.startswith("LSTMKIT_"):
                yield node.lineno, n.value


def test_the_scan_finds_reads():
    code = ("import os\nfrom os import environ, getenv\n"
            "a = os.environ.get('LSTMKIT_A', '1')\nb = os.environ['LSTMKIT_B']\n"
            "c = 'LSTMKIT_C' in os.environ\nd = getenv('LSTMKIT_D')\n"
            "e = int(environ.get('LSTMKIT_E') or 3)\nos.environ['LSTMKIT_W'] = '1'\n")
    assert sorted(v for _, v in _env_reads(ast.parse(code))) == [
        "LSTMKIT_A", "LSTMKIT_B", "LSTMKIT_C", "LSTMKIT_D", "LSTMKIT_E"]


def test_no_module_but_config_reads_lstmkit_variables():
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "_config.py" and path.parent == SRC:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        found += [f"{path.relative_to(SRC)}:{line}: {name}" for line, name in _env_reads(tree)]
    assert not found, "read these through lstmkit._config instead:\n" + "\n".join(found)


def test_every_variable_is_in_the_readme_with_its_default():
    tree = ast.parse((SRC / "_config.py").read_text(encoding="utf-8"))
    names = {name for _, name in _env_reads(tree)}
    assert {"LSTMKIT_BACKEND", "LSTMKIT_IO_SANDBOX", "LSTMKIT_TF_PYTHON"} <= names
    readme = README.read_text(encoding="utf-8")
    for name in sorted(names):
        row = re.search(rf"^\| `{name}` \| ([^|]+) \|", readme, re.M)
        assert row and row.group(1).strip(), f"{name} needs a README row with its default"


def test_variables_are_read_at_call_time(monkeypatch):
    monkeypatch.setenv("LSTMKIT_BACKEND", "reference")
    assert _config.backend() == "reference"
    monkeypatch.setenv("LSTMKIT_BACKEND", "Kernel ")
    assert _config.backend() == "kernel"
    monkeypatch.setenv("LSTMKIT_BACKEND", "gpu")
    with pytest.raises(ValueError, match="LSTMKIT_BACKEND must be one of"):
        _config.backend()
    monkeypatch.setenv("LSTMKIT_IO_SANDBOX", "0")
    assert _config.io_sandbox() is False
    monkeypatch.delenv("LSTMKIT_IO_SANDBOX")
    assert _config.io_sandbox() is True
    monkeypatch.setenv("LSTMKIT_TF_PYTHON", "/opt/tf/bin/python")
    assert _config.tf_python() == "/opt/tf/bin/python"


@pytest.mark.parametrize("env, no_color, dumb", [
    ({}, False, False), ({"NO_COLOR": "1"}, True, False), ({"NO_COLOR": ""}, False, False),
    ({"TERM": "dumb"}, True, True), ({"TERM": "xterm-256color"}, False, False)])
def test_no_color_and_dumb_terminal(env, no_color, dumb, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TERM", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert _config.no_color() is no_color and _config.dumb_terminal() is dumb
