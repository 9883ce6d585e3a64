"""Weights that change atomically: each call sees one consistent set of weights.

Thread safety, as lstmkit promises it:
- Calling a layer or a model (`layer(x)`, `model(x)`, `predict`, `predict_on_batch`,
  `evaluate`) from many threads at once is safe. Each call reads one snapshot of the
  weights it uses, taken when it starts, so a `set_weights` (or `load_weights`, or an
  optimizer step) in another thread is seen by a call wholly or not at all, never a
  kernel of one set with a bias of another.
- `set_weights` on a model publishes all its layers' weights at once.
- `fit` (and `train_on_batch`) on one model from two threads at once is refused with a
  RuntimeError: training keeps per-model state (optimizer slots, callbacks, history).

How: weight arrays are never changed in place; a write replaces a Variable's array.
Writers publish under one lock, and mark the publishing with a generation counter
(odd while a publish is under way, seqlock style). A call collects the arrays of its
variables (a few attribute reads, no lock) and keeps them only if the generation was
even and did not change meanwhile; otherwise it waits for the writer and tries again.
Inside the call, `Variable.value` returns the snapshot's array (a thread-local dict),
so every layer of a model sees the same set.

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> layer = lk.layers.Dense(2)
    >>> layer.build((None, 3))
    >>> publish(layer.weights, [np.ones((3, 2)), np.zeros(2)])
    >>> with reading(layer.weights):
    ...     float(layer.kernel.value.sum())
    6.0
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np

_WRITE = threading.RLock()
_STATE = {"generation": 0, "depth": 0}


class _Local(threading.local):
    values = None  # {Variable: array} while this thread is inside a call


_LOCAL = _Local()


@contextlib.contextmanager
def publishing():
    """Writers: every Variable assignment inside appears to calls at once (re-entrant)."""
    with _WRITE:
        if _STATE["depth"] == 0:
            _STATE["generation"] += 1  # odd: readers wait
        _STATE["depth"] += 1
        try:
            yield
        finally:
            _STATE["depth"] -= 1
            if _STATE["depth"] == 0:
                _STATE["generation"] += 1


def publish(variables, values, copy: bool = True) -> None:
    """Set `variables` to `values` (cast to each variable's dtype, C order), all at once.

    The arrays are prepared before publishing, so readers wait only for the swap. With
    `copy=False` (the loaders, which hand over fresh arrays) an array that already has
    the variable's dtype and layout and owns its memory is taken as it is.
    """
    variables = list(variables)
    prepared = []
    for var, value in zip(variables, values):
        value = np.asarray(value)
        if value.shape != var.shape:
            raise ValueError(f"Variable {var.path!r} has shape {var.shape}, got a value of "
                             f"shape {value.shape}")
        owned = value.base is None and value.flags.c_contiguous and value.flags.writeable
        if copy or not (owned and value.dtype == var.dtype):
            value = value.astype(var.dtype, order="C", copy=True)
        prepared.append(value)
    with publishing():
        for var, value in zip(variables, prepared):
            var.value = value


def _published(variables) -> list:
    """The arrays of one published state of `variables` (None stays None), read without a
    lock unless a writer is publishing (the seqlock above)."""
    while True:
        generation = _STATE["generation"]
        if not generation & 1:
            out = [None if var is None else var._value for var in variables]
            if _STATE["generation"] == generation:
                return out
        with _WRITE:  # wait for the publish under way
            pass


def current_values(variables) -> dict:
    """{Variable: array} of one published state of `variables`."""
    return dict(zip(variables, _published(variables)))


def arrays(variables) -> list:
    """The arrays a call sees for `variables` (None stays None): the calling thread's
    snapshot inside a call, else one published state."""
    values = _LOCAL.values
    if values is not None:
        return [None if var is None else read(var) for var in variables]
    return _published(variables)


class reading:
    """Inside `with reading(variables):`, `Variable.value` of `variables` is one snapshot
    (nested calls keep the outer snapshot). `variables` may be a callable, called only
    for the outermost. A class, not a generator: it runs on every call."""

    __slots__ = ("variables", "outer")

    def __init__(self, variables):
        self.variables = variables

    def __enter__(self):
        self.outer = _LOCAL.values is not None
        if not self.outer:
            variables = self.variables
            _LOCAL.values = current_values(variables() if callable(variables) else variables)

    def __exit__(self, *exc):
        if not self.outer:
            _LOCAL.values = None


def model_variables(model) -> list:
    """Every Variable of a model's layers, nested models included (repeats are harmless)."""
    out = []
    for layer in model.layers:
        if isinstance(getattr(layer, "layers", None), list):
            out += model_variables(layer)
        else:
            out += layer._all_weights()
    return out


def read(var):
    """The array a call sees for `var` (Variable.value's getter)."""
    values = _LOCAL.values
    if values is not None:
        value = values.get(var)
        if value is not None:
            return value
    return var._value


def write(var, value) -> None:
    """Replace `var`'s array (Variable.value's setter); this thread's snapshot follows."""
    with publishing():
        var._value = value
    values = _LOCAL.values
    if values is not None and var in values:
        values[var] = value
