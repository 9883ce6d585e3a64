"""Keras's masks on eager values: `_keras_mask` on outputs, and `supports_masking`.

Keras attaches a layer's output mask to its output tensor (`_keras_mask`) and
passes the mask of a call's first input on to the next call
(keras/src/layers/layer.py `__call__`). NumPy arrays take no attributes, so an
eager output carrying a mask is a `MaskedArray` view; arithmetic on it gives
plain arrays again, as a new Keras tensor has no mask.

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> out = lk.layers.Embedding(5, 2, mask_zero=True)(np.array([[1, 0]]))
    >>> out._keras_mask.tolist()
    [[True, False]]
"""

from __future__ import annotations

import numpy as np

from ..ops._tape import Tensor, value_of
from . import node as _node


def supports_masking(layer) -> bool:
    """Keras's `supports_masking`: set on the layer, or implied by a custom compute_mask."""
    flag = getattr(layer, "supports_masking", None)
    if flag is not None:
        return bool(flag)
    return not getattr(type(layer).compute_mask, "is_default", False)


def default(method):
    """Mark the base class's method (Keras's `python_utils.default`)."""
    method.is_default = True
    return method



def first_mask(inputs):
    """The masks the first call argument carries, in its structure (None when it has none),
    as Keras passes `previous_mask`: one mask for a tensor, a list for a list of tensors."""
    if isinstance(inputs, (list, tuple)):
        masks = [getattr(x, "_keras_mask", None) for x in inputs]
        return None if all(m is None for m in masks) else masks
    return getattr(inputs, "_keras_mask", None)


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



def attach_masks(outputs, masks):
    """Eager outputs with `_keras_mask` attached (one mask per output, or one for one)."""
    if masks is None:
        return outputs
    if isinstance(outputs, (list, tuple)):
        if not isinstance(masks, (list, tuple)):
            return outputs
        # Outputs past the masks (e.g. the nested states of stacked cells) keep no mask.
        masks = list(masks) + [None] * (len(outputs) - len(masks))
        return type(outputs)(attach_masks(o, m) for o, m in zip(outputs, masks))
    if isinstance(masks, (list, tuple)) or isinstance(outputs, Tensor):
        set_masks(outputs, masks)
        return outputs
    return with_mask(outputs, np.asarray(value_of(masks)))


def output_masks(outputs) -> list:
    flat = _node.flatten(outputs)
    return [None if getattr(o, "_keras_mask", None) is None
            else np.asarray(value_of(o._keras_mask), bool) for o in flat]
