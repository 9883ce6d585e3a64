"""Output shapes of a custom layer in a functional graph, found by running it.

Keras traces `call` on symbolic tensors; lstmkit runs it on two small zero
batches (unknown sizes become PROBE_SIZES) and keeps the sizes that agree, so a
custom layer needs no `compute_output_shape`. Symbolic outputs also get
`_keras_mask` (a KerasTensor) where the layer produces a mask.

Example:
    >>> import lstmkit as lk
    >>> class Halves(lk.layers.Layer):
    ...     def call(self, inputs):
    ...         return lk.ops.split(inputs, 2, axis=1)
    >>> [t.shape for t in Halves()(lk.Input((None, 3)))]
    [(None, None, 3), (None, None, 3)]
"""

from __future__ import annotations

import numpy as np

from ..ops._tape import value_of
from . import node as _node
from ._custom import run_call
from ._masks import first_mask, supports_masking

#: Sizes a probe run gives to unknown dimensions (divisible by 2, 3 and 4).
PROBE_SIZES = (12, 24)


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
            mask_spec = first_mask(inputs)
            if mask_spec is not None:
                kw["mask"] = _node.map_structure(lambda t, n=size: _probe_mask(t, n), mask_spec)
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
    previous = kwargs.get("mask")
    if previous is None and kwargs.get("initial_state") is None:
        previous = first_mask(inputs)
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
