"""Progress output fits where it goes: a real pipe, a pseudo-terminal, NO_COLOR, TERM=dumb."""

import io
import os
import pty
import re
import subprocess
import sys
import tty

import pytest

from lstmkit.training import _progbar

FIT = """
import numpy as np, lstmkit as lk
rng = np.random.default_rng(0)
x, y = rng.normal(size=(40, 5, 2)).astype("float32"), rng.normal(size=(40, 1)).astype("float32")
model = lk.Sequential([lk.Input((5, 2)), lk.layers.LSTM(3), lk.layers.Dense(1)])
model.compile("adam", "mse", metrics=["mae"])
model.fit(x, y, batch_size=8, epochs=3, validation_split=0.2)  # verbose="auto"
"""
PLAIN = re.compile(r"Epoch (\d)/3 - 4/4 - \d+s - \d+(us|ms|s)/step - loss: \S+ - mae: \S+ "
                   r"- val_loss: \S+ - val_mae: \S+")


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
    src = os.path.join(os.path.dirname(__file__), "..", "src")
    env["PYTHONPATH"] = os.pathsep.join([os.path.abspath(src), env.get("PYTHONPATH", "")])
    return {**env, **extra}


def _through_pty(code, **env):
    """stdout of `code` run on a raw pseudo-terminal (no "\\n" -> "\\r\\n" translation)."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=slave,
                            stderr=subprocess.PIPE, env=_env(**env))
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()
    proc.stderr.close()
    return b"".join(chunks).decode()


def _check_plain(out):
    assert "\r" not in out and "\x1b" not in out, repr(out)
    lines = out.splitlines()
    assert [PLAIN.fullmatch(line).group(1) for line in lines] == ["1", "2", "3"], lines


def test_fit_auto_through_a_pipe_is_one_plain_line_per_epoch():
    result = subprocess.run([sys.executable, "-c", FIT], capture_output=True, text=True,
                            env=_env(), timeout=300)
    assert result.returncode == 0, result.stderr
    _check_plain(result.stdout)


def test_fit_auto_on_a_terminal_draws_keras_bar():
    out = _through_pty(FIT, TERM="xterm")
    assert out.count("Epoch ") == 3 and "Epoch 1/3\n" in out
    assert "\x1b[32m" in out and "━" in out
    # each epoch ends on its finished bar: "\r4/4 <bar> ... - val_mae: ...\n"
    finals = re.findall(r"\r4/4 (?:\x1b\[32m)?━{20}(?:\x1b\[0m)? \d+s \d+\w+/step - loss: \S+ "
                        r"- mae: \S+ - val_loss: \S+ - val_mae: \S+ *\n", out)
    assert len(finals) == 3, repr(out)


def test_no_color_keeps_the_redraw_without_escape_codes():
    out = _through_pty(FIT, TERM="xterm", NO_COLOR="1")
    assert "\x1b" not in out and "\r4/4 ━" in out


def test_term_dumb_is_plain():
    _check_plain(_through_pty(FIT, TERM="dumb"))


# evaluate and predict with Keras's default verbose="auto", in lstmkit or in Keras (`lib`)
EVALUATE_PREDICT = """
import numpy as np, {lib} as lib
rng = np.random.default_rng(0)
x, y = rng.normal(size=(40, 5, 2)).astype("float32"), rng.normal(size=(40, 1)).astype("float32")
model = lib.Sequential([lib.Input((5, 2)), lib.layers.LSTM(3), lib.layers.Dense(1)])
model.compile("adam", "mse", metrics=["mae"])
for verbose in {verboses}:
    print("evaluate", flush=True)
    model.evaluate(x, y, batch_size=8, **verbose)
    print("predict", flush=True)
    model.predict(x, batch_size=8, **verbose)
"""


def _shown(out):
    """The lines a reader sees at the end (each after its last redraw), with the numbers
    that differ between runs (times, losses) as placeholders."""
    out = re.sub(r"\x1b\[\d+m", "", out).replace("\b", "")
    lines = [line.split("\r")[-1].rstrip() for line in out.split("\n")]
    lines = [re.sub(r"\d+(us|ms|s)/step", "T/step", line) for line in lines if line]
    return [re.sub(r": \d+\.\d+(e[-+]\d+)?", ": V", re.sub(r" \d+s ", " Ns ", line))
            for line in lines]


@pytest.fixture(scope="module")
def keras_on_a_terminal():
    """Keras 3's output on a pseudo-terminal: verbose="auto" (its bar), then verbose=2."""
    pytest.importorskip("keras")
    code = EVALUATE_PREDICT.format(lib="keras", verboses="({}, {'verbose': 2})")
    return _shown(_through_pty(code, TERM="xterm", KERAS_BACKEND="torch"))


def test_evaluate_predict_auto_through_a_pipe_is_kerass_verbose_2_line(keras_on_a_terminal):
    code = EVALUATE_PREDICT.format(lib="lstmkit", verboses="({},)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=_env(), timeout=300)
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stdout and "\x1b" not in result.stdout, repr(result.stdout)
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"5/5 - \d+s - \d+(us|ms|s)/step - loss: \S+ - mae: \S+", lines[1])
    assert _shown(result.stdout) == keras_on_a_terminal[4:] == [
        "evaluate", "5/5 - Ns - T/step - loss: V - mae: V", "predict", "5/5 - Ns - T/step"]


def test_evaluate_predict_auto_on_a_terminal_draws_kerass_bar(keras_on_a_terminal):
    out = _through_pty(EVALUATE_PREDICT.format(lib="lstmkit", verboses="({},)"), TERM="xterm")
    assert "\x1b[32m" in out and out.count("\r") >= 2, repr(out)
    assert _shown(out) == keras_on_a_terminal[:4] == [
        "evaluate", "5/5 ━━━━━━━━━━━━━━━━━━━━ Ns T/step - loss: V - mae: V",
        "predict", "5/5 ━━━━━━━━━━━━━━━━━━━━ Ns T/step"]


class _Terminal(io.StringIO):
    def isatty(self):
        return True


class _Notebook(io.StringIO):
    pass


_Notebook.__module__ = "ipykernel.iostream"  # what Jupyter's stdout is


@pytest.mark.parametrize("stream, expected", [(io.StringIO(), 2), (_Terminal(), 1),
                                              (_Notebook(), 1)])
def test_auto_is_1_on_a_terminal_or_notebook_else_2(stream, expected, monkeypatch):
    monkeypatch.delenv("TERM", raising=False)
    assert _progbar.resolve_verbose("auto", stream) == expected
    assert _progbar.resolve_verbose(0, stream) == 0
    with pytest.raises(ValueError, match="0, 1, 2 or 'auto'"):
        _progbar.resolve_verbose("loud", stream)


def test_verbose_1_into_a_file_writes_only_the_final_line():
    stream = io.StringIO()
    bar = _progbar.Progbar(50, verbose=1, stream=stream, prefix="Epoch 1/1 - ")
    for step in range(1, 51):
        bar.update(step, {"loss": 0.25})
    assert re.fullmatch(r"Epoch 1/1 - 50/50 - 0s - \d+us/step - loss: 0.2500\n",
                        stream.getvalue())


def test_a_redraw_blanks_the_rest_of_a_longer_line():
    stream = _Terminal()
    bar = _progbar.Progbar(2, verbose=1, stream=stream)
    bar.update(1, {"loss": 1.0, "mae": 2.0}, finalize=True)
    bar.update(2, {"loss": 1.0}, finalize=True)
    first, second = stream.getvalue().split("\r")[1:]
    assert len(second.rstrip("\n")) >= len(first.rstrip("\n"))


def test_demo_quick_through_a_pipe_reads_cleanly(tmp_path):
    pytest.importorskip("matplotlib")
    result = subprocess.run([sys.executable, "-m", "lstmkit", "demo", "--quick", "--out",
                             str(tmp_path)], capture_output=True, text=True, env=_env(),
                            timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stdout and "\x1b" not in result.stdout
    epochs = [line for line in result.stdout.splitlines() if line.startswith("Epoch ")]
    assert len(epochs) == 3 and all(" - val_loss: " in line for line in epochs), epochs
