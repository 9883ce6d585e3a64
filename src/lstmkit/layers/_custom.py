"""Custom layers and subclassed models: which classes trace, what they track, how they run.

A layer whose class writes its own `call` (and not `forward`/`backward`) is
*traced*: it trains by running `call` under an `lk.ops.Tape` (`_traced`). Its
sublayers are the layers assigned to its attributes (also in lists and dicts),
its config defaults to its constructor's arguments, and `run_call` calls it as
keras/src/layers/layer.py `__call__` does: `training` and `mask` are passed only
if `call` takes them, the mask of the first input (`_keras_mask`) is passed on,
and a layer that supports masking sets `_keras_mask` on its outputs.

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> class Scale(lk.layers.Layer):
    ...     def build(self, input_shape):
    ...         self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")
    ...     def call(self, inputs):
    ...         return inputs * self.w
    >>> Scale()(np.ones((2, 3), "float32")).tolist()
    [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import threading

import numpy as np

from ..ops._tape import Tensor, value_of
from . import node as _node
from ._masks import first_mask, set_masks, supports_masking


class _Context(threading.local):
    """This thread's enclosing call: its `training` flag and the `losses` collected (class
    defaults: read without the AttributeError a bare `threading.local` raises, 0.3 µs)."""

    training = None
    losses = None


_context = _Context()
_PARAMS: dict = {}


def uses_tape(cls, base) -> bool:
    """Whether `cls` writes its own `call` below the class that defines `forward` (`base`
    is `Layer`, whose `call` is abstract)."""
    call_owner = next(k for k in cls.__mro__ if "call" in vars(k))
    forward_owner = next(k for k in cls.__mro__ if "forward" in vars(k))
    return call_owner is not base and not issubclass(forward_owner, call_owner)


def marks_built(build):
    """`build` that sets `built = True` afterwards, as Keras's build wrapper does."""
    @functools.wraps(build)
    def wrapper(self, *args, **kwargs):
        result = build(self, *args, **kwargs)
        self.built = True
        after = getattr(self, "_after_build", None)  # a subclassed model builds its layers
        if after is not None:
            after(args[0] if args else kwargs.get("input_shape"))
        return result
    return wrapper


def records_build_shape(build):
    """`build` that keeps the shape it was given as `layer._build_input_shape`: the
    summary of a subclassed model shows `compute_output_shape` of it, as Keras's build
    wrapper keeps `_build_shapes_dict` for its summary."""
    @functools.wraps(build)
    def wrapper(self, *args, **kwargs):
        shape = args[0] if args else kwargs.get("input_shape")
        if shape is not None:
            self._build_input_shape = shape
        return build(self, *args, **kwargs)
    return wrapper


def call_params(cls):
    """(names of `call`'s parameters, whether it takes **kwargs), cached per class."""
    found = _PARAMS.get(cls)
    if found is None:
        params = inspect.signature(cls.call).parameters
        found = (frozenset(params), any(p.kind is p.VAR_KEYWORD for p in params.values()))
        _PARAMS[cls] = found
    return found


def context_training():
    """The `training` flag of the enclosing traced call (None outside one)."""
    return _context.training


@contextlib.contextmanager
def training_context(training):
    """Within it, nested calls without `training` get this flag (Keras's call context)."""
    previous = _context.training
    _context.training = training
    try:
        yield
    finally:
        _context.training = previous


@contextlib.contextmanager
def collecting_losses():
    """Collect what `add_loss` receives within it (a traced call's extra losses)."""
    previous = _context.losses
    _context.losses = collected = []
    try:
        yield collected
    finally:
        _context.losses = previous


def add_loss(layer, loss):
    """Keras's `Layer.add_loss`: inside a traced call the loss joins the model's loss."""
    collected = _context.losses
    if collected is None:
        return  # an eager call outside training: nothing adds it up (as a Keras eager call)
    collected.append(loss)


# -- tracked sublayers and weights ----------------------------------------------------------
def is_layer(value) -> bool:
    """A Layer (or model): it has weights and records calls (duck-typed: base imports us)."""
    return callable(getattr(value, "_all_weights", None)) and hasattr(value, "_inbound_nodes")


def tracked_children(layer):
    """[(attribute, Layer or list of Layers)] in assignment order (Keras tracks attributes)."""
    out = []
    for name, value in vars(layer).items():
        if name.startswith("_") and name != "_layers":
            continue
        if is_layer(value):
            out.append((name, value))
        elif isinstance(value, (list, tuple)) and value and all(
                is_layer(v) for v in value):
            out.append((name, list(value)))
        elif isinstance(value, dict) and value and all(
                is_layer(v) for v in value.values()):
            out.append((name, list(value.values())))
    return out


def tracked_layers(layer) -> list:
    """The sublayers, flattened, each once, in assignment order (Keras's `Model.layers`)."""
    seen, out = set(), []
    for _, child in tracked_children(layer):
        for sub in child if isinstance(child, list) else [child]:
            if id(sub) not in seen:
                seen.add(id(sub))
                out.append(sub)
    return out


def all_weights(layer) -> list:
    """Own weights, then the sublayers' (each once), as Keras lists a custom layer's."""
    seen, out = set(), []
    for w in list(layer._weights) + [w for sub in tracked_layers(layer)
                                     for w in sub._all_weights()]:
        if id(w) not in seen:
            seen.add(id(w))
            out.append(w)
    return out


# -- Keras's automatic config (keras/src/ops/operation.py `__new__`, `get_config`) ------------
_SIMPLE = (str, int, float, bool, type(None))


def auto_config(cls, args, kwargs):
    """The constructor's arguments (defaults applied) if all are simple values, else None."""
    try:
        bound = inspect.signature(cls.__init__).bind(None, *args, **kwargs)
    except TypeError:
        return None  # __init__ itself will say what is wrong
    bound.apply_defaults()
    params = inspect.signature(cls.__init__).parameters
    config = {}
    for i, (key, value) in enumerate(bound.arguments.items()):
        kind = params[key].kind
        if i == 0:
            continue  # self
        if kind is inspect.Parameter.VAR_POSITIONAL:
            if value:
                return None
        elif kind is inspect.Parameter.VAR_KEYWORD:
            config.update(value)
        else:
            config[key] = value
    config.pop("name", None)
    if not all(isinstance(v, _SIMPLE) for v in _node.flatten(config)):
        return None
    return config


def auto_get_config(layer, auto) -> dict:
    """name (when __init__ can take it back), the constructor's arguments, trainable, dtype."""
    params = inspect.signature(type(layer).__init__).parameters
    takes_name = "name" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
    config = ({"name": layer.name} if takes_name else {}) | dict(auto)
    config["trainable"] = layer.trainable
    config["dtype"] = {"module": "keras", "class_name": "DTypePolicy",
                       "config": {"name": layer.dtype}, "registered_name": None}
    return config


# -- eager calls ------------------------------------------------------------------------------
def convert_inputs(layer, inputs):
    """Keras's autocast: float inputs become the layer's dtype; ints and bools stay."""
    def convert(x):
        if x is None or isinstance(x, Tensor):
            return x
        if hasattr(x, "detach") and hasattr(x, "numpy"):  # a torch tensor
            x = x.detach().cpu().numpy()
        arr = np.asarray(x)
        if arr.dtype.kind == "f" and arr.dtype != np.dtype(layer.dtype):
            return arr.astype(layer.dtype)
        return x if isinstance(x, np.ndarray) else arr
    return _node.map_structure(convert, inputs)


def _shapes(inputs):
    shapes = _node.map_structure(lambda x: tuple(np.shape(value_of(x))), inputs)
    return list(shapes) if isinstance(shapes, tuple) else shapes


def run_call(layer, inputs, args=(), kwargs=None, training=None):
    """Build if needed, then `layer.call` with the arguments Keras would pass."""
    kwargs = dict(kwargs or {})
    if not layer.built:
        layer.build(_shapes(inputs))
        layer.built = True
    names, var_kw = call_params(type(layer))
    previous = first_mask(inputs)
    if "mask" not in kwargs and previous is not None and ("mask" in names or var_kw):
        kwargs["mask"] = previous
    explicit = kwargs.pop("training", None)
    if explicit is not None:
        training = explicit
    elif training is None:
        training = context_training()
    if training is not None and ("training" in names or var_kw):
        kwargs["training"] = training  # Keras passes training only to a call that takes it
    mask = kwargs.get("mask", previous)
    if "mask" in kwargs and "mask" not in names and not var_kw:
        del kwargs["mask"]  # and a mask only to a call that takes one
    with training_context(training):  # nested calls without `training` inherit it
        outputs = layer.call(inputs, *args, **kwargs)
    if supports_masking(layer):
        set_masks(outputs, layer.compute_mask(inputs, mask))
    return outputs
