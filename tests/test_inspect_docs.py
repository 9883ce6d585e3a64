"""docs/what-an-lstm-returns.md says what lstmkit really does: its code runs, its output is real."""

import contextlib
import io
import re
from pathlib import Path

from lstmkit.cli import main

DOC = Path(__file__).resolve().parents[1] / "docs" / "what-an-lstm-returns.md"


def _blocks(lang):
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


def test_python_blocks_run_and_print_what_the_comments_say():
    namespace, out = {}, io.StringIO()
    with contextlib.redirect_stdout(out):
        for block in _blocks("python"):
            exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - our own docs
    printed = out.getvalue().splitlines()
    assert printed == ["(32, 4)", "(32, 10, 4) (32, 4) (32, 4)", "True"]
    t = namespace["t"]
    assert t.c.shape == (32, 10, 4)
    assert "# (32, 10, 4) (32, 4) (32, 4)" in _blocks("python")[0]  # the comment shown


def test_explain_excerpt_is_the_real_output(capsys):
    (block,) = _blocks("text")
    lines = block.splitlines()
    assert lines[0] == "$ lstmkit explain"
    assert main(["explain"]) == 0
    real = capsys.readouterr().out.splitlines()
    # every shown line appears in the real output, in the same order ("..." skips lines)
    k = 0
    for line in lines[1:]:
        if line.strip() in ("", "..."):
            continue
        while k < len(real) and real[k] != line:
            k += 1
        assert k < len(real), f"not in `lstmkit explain` output (in order): {line!r}"


def test_quoted_mask_result_is_real(capsys):
    assert main(["explain", "--mask-last", "3", "--zero-output-for-mask"]) == 0
    out = capsys.readouterr().out
    assert ("equal bit for bit for the 16 samples the rule predicts; differs, as predicted, "
            "for samples [0, 2, 4") in out
    assert main(["explain", "--bidirectional", "concat"]) == 0
    out = capsys.readouterr().out
    assert "output[:, -1, :4] == h_fwd" in out and "output[:, 0, 4:] == h_bwd" in out


def test_images_exist_and_are_small():
    text = DOC.read_text(encoding="utf-8")
    for rel in re.findall(r"\]\((images/[^)]+)\)", text):
        path = DOC.parent / rel
        assert path.exists(), rel
        assert path.stat().st_size < 200_000, f"{rel} is {path.stat().st_size} bytes"
