"""The README's table of refusals is true: each call raises the error it names."""

import builtins
import pathlib
import re

import numpy as np
import pytest

import lstmkit as lk

README = pathlib.Path(__file__).parent.parent / "README.md"


def _rows():
    text = README.read_text()
    table = text[text.index("<!-- refusals -->"):text.index("<!-- /refusals -->")]
    rows = re.findall(r"^\| `([^`]+)`[^|]*\| `(\w+)`: (.+) \|$", table, flags=re.M)
    assert len(rows) >= 10
    return rows


@pytest.mark.parametrize("code,error,message", _rows())
def test_refusal_row_is_true(code, error, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # get_file's cache stays in tmp_path
    with pytest.raises(getattr(builtins, error)) as info:
        eval(code, {"lk": lk, "np": np})  # noqa: S307
    assert type(info.value).__name__ == error
    assert str(info.value).startswith(message), (str(info.value), message)
