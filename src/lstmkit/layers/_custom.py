"""Custom layers and subclassed models: calling, tracing, training through the tape.

A layer whose class writes its own `call` (and not `forward`/`backward`) is
*traced*: it trains by running `call` under an `lk.ops.Tape` (its inputs and
weights are watched) and replaying the tape backwards. A built-in layer called
inside a traced `call` keeps its fused forward/backward: it is recorded on the
tape as one op. Calls follow keras/src/layers/layer.py `__call__`: `training`
and `mask` are passed only if `call` takes them, the mask of the first input
(`_keras_mask`) is passed on, and a layer that supports masking sets
`_keras_mask` on its outputs.

In a functional graph, a traced layer without `compute_output_shape` gets its
output shapes by running `call` on two small zero batches: sizes that differ
between the runs are unknown (None), as Keras's symbolic trace leaves them.

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

import functools
import inspect
import threading
from typing import NamedTuple

import numpy as np

from ..ops import _tape
from ..ops._tape import Tape, Tensor, value_of
from . import node as _node

_context = threading.local()
_PARAMS: dict = {}
#: Sizes a probe run gives to unknown dimensions (divisible by 2, 3 and 4).
PROBE_SIZES = (12, 24)


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
    return getattr(_context, "training", None)


class _Training:
    def __init__(self, training):
        self.training = training

    def __enter__(self):
        self.previous = getattr(_context, "training", None)
        _context.training = self.training

    def __exit__(self, *exc):
        _context.training = self.previous


def supports_masking(layer) -> bool:
    """Keras's `supports_masking`: set on the layer, or implied by a custom compute_mask."""
    from .base import Layer
    flag = getattr(layer, "supports_masking", None)
    if flag is not None:
        return bool(flag)
    return type(layer).compute_mask is not Layer.compute_mask


# -- tracked sublayers and weights ----------------------------------------------------------
def tracked_children(layer):
    """[(attribute, Layer or list of Layers)] in assignment order (Keras tracks attributes)."""
    from .base import Layer
    out = []
    for name, value in vars(layer).items():
        if name.startswith("_") and name != "_layers":
            continue
        if isinstance(value, Layer):
            out.append((name, value))
        elif isinstance(value, (list, tuple)) and value and all(
                isinstance(v, Layer) for v in value):
            out.append((name, list(value)))
        elif isinstance(value, dict) and value and all(
                isinstance(v, Layer) for v in value.values()):
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


def _first_mask(inputs):
    first = inputs[0] if isinstance(inputs, (list, tuple)) and inputs else inputs
    return getattr(first, "_keras_mask", None)


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
    previous = _first_mask(inputs)
    if "mask" not in kwargs and previous is not None and ("mask" in names or var_kw):
        kwargs["mask"] = previous
    if kwargs.get("training") is None:
        kwargs.pop("training", None)
        training = context_training() if training is None else training
        if training is not None and ("training" in names or var_kw):
            kwargs["training"] = training
    mask = kwargs.get("mask", previous)
    if "mask" in kwargs and "mask" not in names and not var_kw:
        del kwargs["mask"]  # Keras passes a mask only to a call that takes one
    outputs = layer.call(inputs, *args, **kwargs)
    if supports_masking(layer):
        set_masks(outputs, layer.compute_mask(inputs, mask))
    return outputs


class MaskedArray(np.ndarray):
    """An eager output carrying Keras's `_keras_mask`; arithmetic on it gives plain arrays."""

    def __array_finalize__(self, obj):
        self._keras_mask = None

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        inputs = tuple(i.view(np.ndarray) if isinstance(i, MaskedArray) else i for i in inputs)
        return getattr(ufunc, method)(*inputs, **kwargs)


def with_mask(array, mask):
    """`array` carrying `_keras_mask = mask` (Tensors take the attribute directly)."""
    if isinstance(array, Tensor):
        array._keras_mask = mask
        return array
    out = np.asarray(array).view(MaskedArray)
    out._keras_mask = mask
    return out


def set_masks(outputs, masks):
    """Attach masks to outputs in place where possible (Tensors, MaskedArrays)."""
    if masks is None:
        return
    outs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    ms = masks if isinstance(masks, (list, tuple)) else [masks]
    for o, m in zip(outs, ms):
        if m is not None and isinstance(o, (Tensor, MaskedArray)):
            o._keras_mask = m


def eager_call(layer, inputs, args, kwargs):
    """`layer(...)` on arrays: traced layers run `call`; built-ins on a tape become one op."""
    if _tape.current() is not None and not layer._traced:
        return record_layer(layer, inputs, kwargs, args)
    inputs = convert_inputs(layer, inputs)
    outputs = run_call(layer, inputs, args, kwargs)
    if supports_masking(layer):
        mask = kwargs.get("mask", _first_mask(inputs))
        outputs = attach_masks(outputs, layer.compute_mask(inputs, mask))
    return outputs


def attach_masks(outputs, masks):
    """Eager outputs with `_keras_mask` attached (one mask per output, or one for one)."""
    if masks is None:
        return outputs
    if isinstance(outputs, (list, tuple)):
        if not isinstance(masks, (list, tuple)):
            return outputs
        return type(outputs)(attach_masks(o, m) for o, m in zip(outputs, masks))
    if isinstance(masks, (list, tuple)) or isinstance(outputs, Tensor):
        set_masks(outputs, masks)
        return outputs
    return with_mask(outputs, np.asarray(value_of(masks)))


# -- a built-in layer as one op on the tape --------------------------------------------------
def record_layer(layer, inputs, kwargs, args=()):
    """Run a built-in layer's fused `forward` and record its `backward` as the VJP.

    State arguments (`initial_state` for LSTM, `states` for LSTMCell) are parents too; the
    layer's trainable weights are leaves of the tape.
    """
    if args:
        raise TypeError(f"Layer {layer.name!r}: pass arguments other than the inputs by "
                        f"keyword inside a traced call, got {len(args)} positional")
    tape = _tape.current()
    kwargs = dict(kwargs)
    training = kwargs.pop("training", None)
    training = context_training() if training is None else training
    mask = kwargs.pop("mask", None)
    if mask is None:
        mask = _first_mask(inputs)
    state_key = next((k for k in ("initial_state", "states") if kwargs.get(k) is not None), None)
    states = kwargs.pop(state_key) if state_key else None
    kwargs.pop("initial_state", None)
    if kwargs:
        raise TypeError(f"Layer {layer.name!r} got unexpected keywords {sorted(kwargs)}")
    values = layer._convert_inputs(_node.map_structure(value_of, inputs))
    extra = {}
    if states is not None:
        extra[state_key] = [np.asarray(value_of(s)) for s in states]
    mask_value = None if mask is None else _node.map_structure(
        lambda m: None if m is None else np.asarray(value_of(m)), mask)
    out, cache = layer.forward(values, training=bool(training), mask=mask_value,
                               keep_cache=True, **extra)
    flat_in = _node.flatten(inputs)
    flat_states = [] if states is None else list(states)
    weights = layer.trainable_weights
    parents = tuple(tape.lift(p) for p in flat_in + flat_states) + tuple(
        tape.watch_variable(w) for w in weights)
    multi = isinstance(out, (list, tuple))
    flat_out = _node.flatten(out) if multi else [out]
    skip_dx = not any(isinstance(p, Tensor) for p in parents[:len(flat_in)]) and getattr(
        layer, "can_skip_input_grad", False)

    def vjp(gs):
        d_out = _node.map_structure(lambda _: gs.pop(0), out) if multi else gs[0]
        if multi:
            d_out = _fill(d_out, out)
        if skip_dx:
            d_in, d_w = layer.backward(cache, d_out, input_grad=False)
        else:
            d_in, d_w = layer.backward(cache, d_out)
        d_states = []
        if states is not None:
            d_in, d_states = d_in
        d_flat = [None] * len(flat_in) if d_in is None else (
            _node.flatten(d_in) if isinstance(d_in, (list, tuple)) else [d_in])
        return tuple(d_flat) + tuple(d_states) + tuple(d_w)

    results = [Tensor(o) for o in flat_out]
    tape.entries.append((results, parents, vjp))
    packed = _pack_like(out, iter(results)) if multi else results[0]
    if supports_masking(layer):
        set_masks(packed, layer.compute_mask(values, mask_value))
    return packed


def _fill(d_out, out):
    """Keep None gradients except inside lists of states, which backward wants whole."""
    if isinstance(out, tuple):
        return tuple(_fill(d, o) for d, o in zip(d_out, out))
    if isinstance(out, list):
        return [np.zeros_like(o) if d is None else d for d, o in zip(d_out, out)]
    return d_out


def _pack_like(structure, it):
    if isinstance(structure, (list, tuple)):
        return type(structure)(_pack_like(s, it) for s in structure)
    return next(it)


# -- training a traced layer or model ----------------------------------------------------------
class TracedCache(NamedTuple):
    """What a traced forward leaves for backward: the tape, watched inputs, outputs, masks."""

    tape: Tape | None
    inputs: object
    outputs: object
    masks: list
    activity_loss: float = 0.0  # the trainer adds it; sublayers' activity penalties are not kept


def _output_masks(outputs) -> list:
    flat = _node.flatten(outputs)
    return [None if getattr(o, "_keras_mask", None) is None
            else np.asarray(value_of(o._keras_mask), bool) for o in flat]


def traced_forward(layer, inputs, training=False, mask=None, keep_cache=True, **kwargs):
    """`(outputs as arrays, TracedCache)`: `call` run under a tape when `keep_cache`."""
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if mask is not None:
        kwargs["mask"] = mask
    inputs = convert_inputs(layer, inputs)
    if not keep_cache:
        with _Training(training):
            outputs = run_call(layer, inputs, (), kwargs, training=training)
        masks = _output_masks(outputs)
        return _node.map_structure(value_of, outputs), TracedCache(None, None, None, masks)
    with Tape() as tape, _Training(training):
        watched = _node.map_structure(
            lambda a: tape.watch(a) if a is not None and np.asarray(a).dtype.kind == "f" else a,
            inputs)
        outputs = run_call(layer, watched, (), kwargs, training=training)
    masks = _output_masks(outputs)
    return (_node.map_structure(lambda o: np.asarray(value_of(o)), outputs),
            TracedCache(tape, watched, outputs, masks))


def traced_backward(layer, cache: TracedCache, d_outputs):
    """`(d_inputs in the inputs' structure, d_weights aligned with trainable_weights)`."""
    flat_out = _node.flatten(cache.outputs)
    d_flat = _node.flatten(d_outputs) if isinstance(cache.outputs, (list, tuple)) \
        else [d_outputs]
    grads = cache.tape.gradients(flat_out, d_flat)
    d_inputs = _node.map_structure(
        lambda t: grads.get(id(t)) if isinstance(t, Tensor) else None, cache.inputs)
    return d_inputs, cache.tape.variable_gradients(grads, layer.trainable_weights)


# -- symbolic calls: shapes by probing ------------------------------------------------------
def _probe(spec, size):
    if spec is None:
        return None
    shape = tuple(size if d is None else d for d in spec.shape)
    return np.zeros(shape, spec.dtype)


def _probe_mask(spec, size):
    return None if spec is None else np.ones(
        tuple(size if d is None else d for d in spec.shape), bool)


def symbolic_outputs(layer, inputs, kwargs):
    """Output KerasTensors of a traced layer called on KerasTensors (two probe runs)."""
    runs = []
    for size in PROBE_SIZES:
        arrays = _node.map_structure(lambda t, n=size: _probe(t, n), inputs)
        kw = {}
        for key, value in kwargs.items():
            if key == "mask":
                kw[key] = _node.map_structure(lambda t, n=size: _probe_mask(t, n), value)
            elif key == "initial_state":
                kw[key] = _node.map_structure(lambda t, n=size: _probe(t, n), value)
            elif key == "training":
                kw[key] = value
        if "mask" not in kw:
            first = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
            mask_spec = getattr(first, "_keras_mask", None)
            if mask_spec is not None:
                kw["mask"] = _probe_mask(mask_spec, size)
        with np.errstate(all="ignore"):
            try:
                out = run_call(layer, arrays, (), kw, training=False)
            except Exception as err:
                raise ValueError(
                    f"Layer {layer.name!r} ({type(layer).__name__}) could not be run on a "
                    f"zero batch of its input shapes to infer its output shape "
                    f"({type(err).__name__}: {err}); define compute_output_shape") from err
        runs.append(out)
    first, second = runs

    def spec(a, b):
        a, b = np.asarray(value_of(a)), np.asarray(value_of(b))
        if a.ndim != b.ndim:
            raise ValueError(f"Layer {layer.name!r}: its output rank depends on the input "
                             f"size; define compute_output_shape")
        shape = tuple(x if x == y else None for x, y in zip(a.shape, b.shape))
        return _node.KerasTensor(shape, a.dtype.name)

    flat = [spec(a, b) for a, b in zip(_node.flatten(first), _node.flatten(second))]
    return flat if isinstance(first, (list, tuple)) else flat[0]


def set_symbolic_masks(layer, inputs, kwargs, outputs):
    """Set `_keras_mask` (a KerasTensor) on symbolic outputs where Keras would."""
    if not supports_masking(layer) or hasattr(layer, "_run_order"):
        return
    first = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
    previous = kwargs.get("mask")
    if previous is None and kwargs.get("initial_state") is None:
        previous = getattr(first, "_keras_mask", None)
    size = PROBE_SIZES[0]
    arrays = layer._convert_inputs(_node.map_structure(lambda t: _probe(t, size), inputs)) \
        if not layer._traced else _node.map_structure(lambda t: _probe(t, size), inputs)
    prev = _node.map_structure(lambda t: _probe_mask(t, size), previous) \
        if previous is not None else None
    with np.errstate(all="ignore"):
        masks = layer.compute_mask(arrays, prev)
    if masks is None:
        return
    outs = outputs if isinstance(outputs, list) else [outputs]
    ms = masks if isinstance(masks, (list, tuple)) else [masks]
    for o, m in zip(outs, ms):
        if m is not None:
            o._keras_mask = _node.KerasTensor(o.shape[:np.ndim(value_of(m))], "bool")
