"""Progress output that fits where it goes.

On a terminal or in a notebook, Keras 3's bar, redrawn in place:
`3/10 ━━━━━━━━━━━━━━━━━━━━ 0s 2ms/step - loss: 0.6931`. Anywhere else (a pipe, a file,
`TERM=dumb`), one plain line when the run ends, with no carriage returns and no escape codes:
`3/10 - 0s - 2ms/step - loss: 0.6931`, the line tf.keras 2 wrote off a terminal. `NO_COLOR`
turns the colours off and keeps the redraws.

Example:
    >>> import io
    >>> stream = io.StringIO()  # not a terminal: one plain line
    >>> bar = Progbar(3, verbose=1, stream=stream)
    >>> for step in (1, 2, 3):
    ...     bar.update(step, {"loss": 0.5})
    >>> stream.getvalue().startswith("3/3 - ") and stream.getvalue().count("\\n") == 1
    True
"""

from __future__ import annotations

import sys
import time

from .. import _config

WIDTH = 20
REDRAW_SECONDS = 0.05  # a terminal is redrawn at most this often (Keras's interval)


def _is_notebook(stream) -> bool:
    # Jupyter's stdout is an ipykernel OutStream: not a TTY, but it honours "\r".
    return type(stream).__module__.split(".")[0] == "ipykernel"


def is_dynamic(stream=None) -> bool:
    """True when `stream` (default stdout) redraws a line in place: a terminal or a notebook."""
    stream = sys.stdout if stream is None else stream
    if _is_notebook(stream):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not _config.dumb_terminal()


def uses_color(stream=None) -> bool:
    """True when the bar may be coloured: a dynamic display, no `NO_COLOR`, no `TERM=dumb`."""
    return is_dynamic(stream) and not _config.no_color()


def resolve_verbose(verbose, stream=None) -> int:
    """Keras's `verbose`: "auto" is 1 on a terminal or in a notebook and 2 anywhere else."""
    if verbose == "auto":
        return 1 if is_dynamic(stream) else 2
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return int(verbose)


def format_value(value) -> str:
    """A metric as Keras prints it: 4 decimals, or scientific below 1e-3."""
    value = float(value)
    return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.4e}"


def format_time(seconds, unit="step") -> str:
    """`2ms/step`, `1s/step` or `350us/step`, as Keras 3's Progbar."""
    if seconds >= 1:
        return f"{seconds:.0f}s/{unit}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit}"
    return f"{seconds * 1e6:.0f}us/{unit}"


class Progbar:
    """One run's progress: `update(current, values)` after each step, up to `target`.

    verbose=1 redraws Keras's bar when the stream is dynamic (`is_dynamic`) and otherwise
    writes the plain line once, at the end; verbose=2 always writes the plain line.
    `prefix` starts the plain line (e.g. "Epoch 3/10 - ").
    """

    def __init__(self, target, verbose=1, stream=None, unit="step", prefix=""):
        self.target, self.verbose, self.unit, self.prefix = target, verbose, unit, prefix
        self.stream = sys.stdout if stream is None else stream
        self.dynamic = verbose == 1 and is_dynamic(self.stream)
        self.color = self.dynamic and uses_color(self.stream)
        self.start = self._last_draw = time.perf_counter()
        self._width = 0  # of the line on screen, so a shorter redraw blanks the rest

    def update(self, current, values=None, finalize=None):
        finalize = current >= self.target if finalize is None else finalize
        now = time.perf_counter()
        if self.dynamic:
            if finalize or now - self._last_draw >= REDRAW_SECONDS:
                self._last_draw = now
                self._draw(current, values, now, finalize)
        elif finalize:
            self.write(self.prefix + self.plain_line(current, values, now) + "\n")

    def plain_line(self, current, values, now=None) -> str:
        """`3/3 - 0s - 2ms/step - loss: 0.6931` (Keras's verbose=2 line)."""
        elapsed = (time.perf_counter() if now is None else now) - self.start
        per_step = elapsed / max(current, 1)
        return (f"{current}/{self.target} - {elapsed:.0f}s - {format_time(per_step, self.unit)}"
                + _metrics(values))

    def _draw(self, current, values, now, finalize):
        elapsed = now - self.start
        per_step = elapsed / max(current, 1)
        done = min(WIDTH, int(WIDTH * current / max(self.target, 1)))
        bar, rest = _bar_char(self.stream) * done, _bar_char(self.stream) * (WIDTH - done)
        seconds = elapsed if finalize else per_step * (self.target - current)
        text = (f"{current}/{self.target} {{}} {seconds:.0f}s {format_time(per_step, self.unit)}"
                + _metrics(values))
        plain = text.format(bar + rest)
        shown = text.format(f"\x1b[32m{bar}\x1b[0m{rest}") if self.color else plain
        pad = " " * max(0, self._width - len(plain))
        self._width = len(plain)
        self.write("\r" + shown + pad + ("\n" if finalize else ""))

    def write(self, text):
        self.stream.write(text)
        self.stream.flush()


def _metrics(values) -> str:
    return "".join(f" - {k}: {format_value(v)}" for k, v in (values or {}).items())


def _bar_char(stream) -> str:
    # A stream that cannot encode the heavy line (a C-locale file) gets "=".
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        "━".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return "="
    return "━"
