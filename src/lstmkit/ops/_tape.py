"""The tape: reverse-mode differentiation through `lk.ops`.

While a `Tape` records, every `lk.ops` function that gets a `Tensor` (a watched
array, or a result of a recorded op) appends one entry `(outputs, parents, vjp)`
to the tape. Each op passes its forward and, beside it, a `vjp_maker(out,
*args) -> (g -> gradients of the args)`: the shape of HIPS autograd's
`defvjp(fun, vjpmaker)`, written at the op's definition as micrograd writes
`_backward` beside each operator (tinygrad keeps the pair as a `Function` class
with `forward`/`backward`). There is no registry of primitives and no graph to
sort: `Tape.gradients` walks the entries in reverse (a Wengert list; autograd
toposorts from the end node instead) and calls each `vjp`. Outside a tape the ops
take and return plain NumPy arrays and record nothing.

Variables (a layer's weights) are leaves: inside a tape an op given a `Variable`
watches it once, and its gradient is collected by `id(variable)`.

Example:
    >>> import numpy as np
    >>> from lstmkit import ops
    >>> with ops.Tape() as tape:
    ...     x = tape.watch(np.array([1.0, 2.0, 3.0]))
    ...     y = ops.sum(ops.square(x))
    >>> tape.gradients([y], [np.array(1.0)])[id(x)].tolist()
    [2.0, 4.0, 6.0]
"""

from __future__ import annotations

import threading

import numpy as np


class _State(threading.local):
    """This thread's recording tapes, innermost last (`__init__` runs once per thread:
    a default found without an AttributeError, which costs 0.3 µs a layer call)."""

    def __init__(self):
        self.stack = []


_state = _State()


def current():
    """The innermost recording tape of this thread, or None."""
    stack = _state.stack
    return stack[-1] if stack else None


class ArrayOperators:
    """Python's operators as `lk.ops` calls, for `Tensor` and for a layer's `Variable`."""

    __array_priority__ = 100  # ndarray (+) Tensor defers to the Tensor's operators

    def __add__(self, other):
        return _math.add(self, other)

    def __radd__(self, other):
        return _math.add(other, self)

    def __sub__(self, other):
        return _math.subtract(self, other)

    def __rsub__(self, other):
        return _math.subtract(other, self)

    def __mul__(self, other):
        return _math.multiply(self, other)

    def __rmul__(self, other):
        return _math.multiply(other, self)

    def __truediv__(self, other):
        return _math.divide(self, other)

    def __rtruediv__(self, other):
        return _math.divide(other, self)

    def __pow__(self, other):
        return _math.power(self, other)

    def __rpow__(self, other):
        return _math.power(other, self)

    def __matmul__(self, other):
        return _linalg.matmul(self, other)

    def __rmatmul__(self, other):
        return _linalg.matmul(other, self)

    def __neg__(self):
        return _math.negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _math.absolute(self)

    def __lt__(self, other):
        return _math.less(self, other)

    def __le__(self, other):
        return _math.less_equal(self, other)

    def __gt__(self, other):
        return _math.greater(self, other)

    def __ge__(self, other):
        return _math.greater_equal(self, other)

    def __getitem__(self, key):
        return _shape.getitem(self, key)

    def __len__(self):
        return len(value_of(self))

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    @property
    def T(self):  # noqa: N802 (NumPy's name)
        return _shape.transpose(self)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """NumPy ufuncs on a Tensor run the `lk.ops` function of the same math."""
        if current() is None:  # nothing records: plain NumPy on the values
            values = tuple(value_of(i) for i in inputs)
            return getattr(ufunc, method)(*values, **kwargs)
        name = {"true_divide": "divide"}.get(ufunc.__name__, ufunc.__name__)
        fn = None
        if method == "__call__" and not kwargs:
            fn = getattr(_math, name, None) or getattr(_linalg, name, None)
        if fn is None:
            raise TypeError(
                f"np.{ufunc.__name__} ({method}) is not differentiable by lstmkit's tape: "
                f"use the lk.ops function instead (lk.ops.{ufunc.__name__} where it exists)")
        return fn(*inputs)


    def __array_function__(self, func, types, args, kwargs):
        """NumPy functions on a Tensor run the `lk.ops` function of the same name."""
        if current() is None:  # nothing records: plain NumPy on the values
            return func(*_values(args), **_values(kwargs))
        for module in (_math, _shape, _linalg, _reduce, _creation):
            fn = getattr(module, func.__name__, None)
            if fn is not None:
                return fn(*args, **kwargs)
        raise TypeError(f"np.{func.__name__} is not differentiable by lstmkit's tape: use "
                        f"lk.ops functions inside a layer's call")


def _values(structure):
    if isinstance(structure, (list, tuple)):
        return type(structure)(_values(s) for s in structure)
    if isinstance(structure, dict):
        return {k: _values(v) for k, v in structure.items()}
    return value_of(structure)


class Tensor(ArrayOperators):
    """An array on a tape: `value` (a NumPy array) and the mask Keras may attach.

    Tensors appear only inside a recording tape (a layer's `call` in training);
    `np.asarray(t)` gives the value, without gradient.
    """

    __slots__ = ("value", "_keras_mask")

    def __init__(self, value):
        self.value = value
        self._keras_mask = None

    shape = property(lambda self: self.value.shape)
    dtype = property(lambda self: self.value.dtype)
    ndim = property(lambda self: self.value.ndim)
    size = property(lambda self: self.value.size)

    def numpy(self):
        return self.value

    def __array__(self, dtype=None, copy=None):
        return self.value if dtype is None else self.value.astype(dtype)

    def __repr__(self):
        return f"<Tensor shape={self.shape} dtype={self.dtype}>"


def is_variable(x) -> bool:
    """A layer's weight (`lstmkit.layers.Variable`): array operators, a value, no tape."""
    return isinstance(x, ArrayOperators) and not isinstance(x, Tensor)


def value_of(x):
    """The NumPy value of a Tensor or Variable; anything else as given."""
    if isinstance(x, ArrayOperators):
        return x.value
    return x


class Tape:
    """Records the ops run on watched arrays; `gradients` replays them backwards.

    Use as a context manager: `with Tape() as tape: ...`. Tapes nest (an inner
    tape records only what its own Tensors feed).
    """

    def __init__(self):
        self.entries: list = []  # (outputs tuple, parents tuple, vjp), in run order
        self.variables: dict = {}  # id(Variable) -> (Variable, its leaf Tensor)
        self.activity: list = []  # (Tensor, regularizer): layers' activity penalties

    def __enter__(self):
        _state.stack.append(self)
        return self

    def __exit__(self, *exc):
        _state.stack.pop()

    def watch(self, array) -> Tensor:
        """A leaf Tensor for `array`; its gradient is keyed by the Tensor's id."""
        return Tensor(np.asarray(value_of(array)))

    def watch_variable(self, variable) -> Tensor:
        found = self.variables.get(id(variable))
        if found is None:
            found = (variable, Tensor(variable.value))
            self.variables[id(variable)] = found
        return found[1]

    def lift(self, x):
        """What an op computes with: a Tensor, or a plain array for constants."""
        if isinstance(x, Tensor):
            return x
        if is_variable(x):
            return self.watch_variable(x)
        return x

    def gradients(self, outputs, d_outputs) -> dict:
        """Backpropagate `d_outputs` (aligned with `outputs`) through the tape.

        Returns:
            {id(Tensor): gradient} for every Tensor that received one (leaves included);
            a Variable's gradient is under the id of `watch_variable(variable)`.
        """
        grads: dict = {}
        for t, d in zip(outputs, d_outputs):
            if isinstance(t, Tensor) and d is not None:
                _accumulate(grads, t, d)
        for outs, parents, vjp in reversed(self.entries):
            gs = [grads.pop(id(o), None) for o in outs]
            if all(g is None for g in gs):
                continue
            d_parents = vjp(gs[0] if len(outs) == 1 and not isinstance(outs, list) else gs)
            for p, g in zip(parents, d_parents):
                if g is not None and isinstance(p, Tensor):
                    _accumulate(grads, p, g)
        return grads

    def variable_gradients(self, grads, variables) -> list:
        """Gradients aligned with `variables` (zeros for one the call did not use)."""
        out = []
        for v in variables:
            found = self.variables.get(id(v))
            g = None if found is None else grads.get(id(found[1]))
            out.append(np.zeros_like(v.value) if g is None else g)
        return out


def _accumulate(grads, tensor, g):
    g = np.asarray(g)
    if g.dtype != tensor.value.dtype and tensor.value.dtype.kind == "f":
        g = g.astype(tensor.value.dtype)
    key = id(tensor)
    grads[key] = grads[key] + g if key in grads else g


def record(fn, args, vjp_maker):
    """Run one op and, if a tape records and an argument is on it, record it.

    Args:
        fn: the forward on NumPy values, `fn(*values) -> array`.
        args: the op's array arguments (Tensors, Variables, arrays, scalars).
        vjp_maker: `vjp_maker(out, *values) -> vjp`, where `vjp(g)` returns one gradient
            (or None) per argument. Called only when recording.

    Returns:
        A Tensor when recorded, else the plain array.
    """
    tape = current()
    if tape is None:
        return fn(*(value_of(a) for a in args))
    parents = tuple(tape.lift(a) for a in args)
    values = [value_of(p) for p in parents]
    out = fn(*values)
    if not any(isinstance(p, Tensor) for p in parents):
        return out
    result = Tensor(out)
    tape.entries.append(((result,), parents, vjp_maker(out, *values)))
    return result


def record_multi(fn, args, vjp_maker):
    """`record` for an op with several outputs: `fn` returns a list; `vjp(gs)` gets one
    gradient or None per output."""
    tape = current()
    if tape is None:
        return fn(*(value_of(a) for a in args))
    parents = tuple(tape.lift(a) for a in args)
    values = [value_of(p) for p in parents]
    outs = fn(*values)
    if not any(isinstance(p, Tensor) for p in parents):
        return outs
    results = [Tensor(o) for o in outs]
    tape.entries.append((results, parents, vjp_maker(outs, *values)))
    return results


def unbroadcast(g, shape):
    """Sum `g` down to `shape` (the VJP of NumPy broadcasting)."""
    g = np.asarray(g)
    if g.shape == tuple(shape):
        return g
    extra = g.ndim - len(shape)
    if extra:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


# The operators above call the ops, and the ops record on this tape: imported last.
from . import _creation, _linalg, _math, _reduce, _shape  # noqa: E402
