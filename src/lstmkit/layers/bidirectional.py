"""`Bidirectional`: a forward and a backward RNN, merged (keras/src/layers/rnn/bidirectional.py).

It wraps any recurrent layer: `LSTM`, `GRU`, `SimpleRNN` or `RNN(cell)`.

The backward layer runs the reversed sequence (`go_backwards=True`); with
`return_sequences` its output is flipped back so position t of both halves
refers to input t. Masked steps give zeros in both directions.

Outputs: `merged`, or with `return_state` `(merged, *forward states, *backward states)`,
e.g. `(merged, h_fwd, c_fwd, h_bwd, c_bwd)` for an LSTM, `(merged, h_fwd, h_bwd)` for a GRU;
with `merge_mode=None` the merged output is replaced by the two outputs `y_fwd, y_bwd`.

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> x = np.zeros((2, 5, 3), "float32")
    >>> lk.layers.Bidirectional(lk.layers.LSTM(4))(x).shape
    (2, 8)
"""

from __future__ import annotations

import numpy as np

from .. import kernels
from .base import Layer, check_array
from .rnn import RNN, SequenceCall

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _copy_layer(layer, name, **overrides):
    config = {**layer.get_config(), "name": name, **overrides}
    copy = type(layer).from_config(config)
    copy.backend = getattr(layer, "backend", None)
    # The config names activations only; keep the objects (Keras 2's hard_sigmoid is not
    # Keras 3's, and both serialize as "hard_sigmoid").
    for new, old in zip(_cells(copy.cell), _cells(layer.cell)):
        for attr in ("activation", "recurrent_activation"):
            if hasattr(old, attr):
                setattr(new, attr, getattr(old, attr))
    return copy


def _cells(cell):
    return [c for sub in cell.cells for c in _cells(sub)] if hasattr(cell, "cells") else [cell]


class Bidirectional(SequenceCall, Layer):
    """Bidirectional wrapper for a recurrent layer (`LSTM`, `GRU`, `SimpleRNN`, `RNN`).

    Args:
        layer: the recurrent layer (its config is copied; its weights are not reused, as in
            Keras).
        merge_mode: "concat" (default), "sum", "mul", "ave" or None (a tuple of both).
        weights: optional initial weights, forward layer's first, then backward's.
        backward_layer: optional recurrent layer with `go_backwards` opposite to `layer`'s
            and the same `stateful`, `return_sequences`, `return_state`; used as given, like
            Keras.
    """

    supports_masking = True  # as Keras 3 sets it

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        if not isinstance(layer, RNN):
            raise ValueError(
                f"Bidirectional expects an lstmkit LSTM layer (or GRU, SimpleRNN, RNN), "
                f"got {type(layer).__name__}: {layer!r}"
            )
        if merge_mode not in MERGE_MODES:
            raise ValueError(
                f'Invalid merge mode. Received: {merge_mode!r}. Merge mode should be one of '
                f'{{"sum", "mul", "ave", "concat", None}}'
            )
        # The wrapper's dtype is its own (floatx unless given), as in Keras: the merged
        # outputs are cast to it, the states keep the wrapped layers' dtype.
        super().__init__(**kwargs)
        rs = layer.return_sequences
        # Names and directions as keras/src/layers/rnn/bidirectional.py: the backward copy
        # always gets go_backwards=True, so wrapping a go_backwards layer is an error.
        fwd_name = "forward_" + layer.name.removeprefix("forward_")
        self.forward_layer = _copy_layer(layer, fwd_name, zero_output_for_mask=rs)
        if backward_layer is None:
            bwd_name = "backward_" + layer.name.removeprefix("backward_")
            self.backward_layer = _copy_layer(layer, bwd_name, go_backwards=True,
                                              zero_output_for_mask=rs)
        else:
            if not isinstance(backward_layer, RNN):
                raise ValueError(f"backward_layer must be a recurrent layer, got "
                                 f"{backward_layer!r}")
            self.backward_layer = backward_layer  # used as given (weights kept), as Keras does
            backward_layer.zero_output_for_mask = rs
        # use_cudnn is not serialized: Keras copies the wrapped layer's onto both (#21534).
        if hasattr(layer, "use_cudnn"):
            self.forward_layer.use_cudnn = self.backward_layer.use_cudnn = layer.use_cudnn
        if self.forward_layer.go_backwards == self.backward_layer.go_backwards:
            raise ValueError(
                "Forward layer and backward layer should have different `go_backwards` value. "
                f"Received: forward_layer.go_backwards {self.forward_layer.go_backwards}, "
                f"backward_layer.go_backwards={self.backward_layer.go_backwards}"
            )
        for attr in ("stateful", "return_sequences", "return_state"):
            if getattr(self.backward_layer, attr) != getattr(layer, attr):
                raise ValueError(
                    f"Forward layer and backward layer are expected to have the same value "
                    f"for attribute {attr!r}, got {getattr(layer, attr)} for forward layer "
                    f"and {getattr(self.backward_layer, attr)} for backward layer"
                )
        self.merge_mode = merge_mode
        self.return_sequences = rs
        self.return_state = layer.return_state
        self.stateful = layer.stateful
        self._initial_weights = weights
        self._path_prefix = self.name

    @property
    def backend_(self):
        return self.forward_layer.backend_

    def _all_weights(self):
        return self.forward_layer._all_weights() + self.backward_layer._all_weights()

    def build(self, input_shape):
        for sub in (self.forward_layer, self.backward_layer):
            if sub.built:  # a given backward_layer keeps its weights, as in Keras
                continue
            sub._path_prefix = f"{self._path_prefix}/{sub.name}"
            sub.build(input_shape)
            # serialize_keras_object(layer) writes the shape a built layer was built with.
            sub._build_config = {"input_shape": tuple(input_shape)}
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None
        self.built = True

    def compute_output_shape(self, input_shape):
        out = self.forward_layer.compute_output_shape(input_shape)
        state = None
        if self.return_state:
            out, *state = out
        if self.merge_mode == "concat":
            out = (*out[:-1], out[-1] * 2)
        outs = [out, out] if self.merge_mode is None else [out]
        return tuple(outs + state * 2) if self.return_state else (
            tuple(outs) if self.merge_mode is None else out)

    def compute_mask(self, inputs, mask=None):
        out_mask = mask if self.return_sequences else None
        n = 2 if self.merge_mode is None else 1
        if self.return_state:
            return [out_mask] * n + [None] * 4
        return [out_mask] * n if n == 2 else out_mask

    @property
    def states(self):
        if self.forward_layer.states is None:
            return None
        return list(self.forward_layer.states) + list(self.backward_layer.states)

    def reset_state(self):
        if not self.stateful:
            raise AttributeError("Layer must be stateful.")
        self.forward_layer.reset_state()
        self.backward_layer.reset_state()

    reset_states = reset_state

    def _split_states(self, initial_state):
        """Keras's rule: the first half of the list to the forward layer, the rest backward."""
        if initial_state is None:
            return None, None
        from .rnn import _state_names

        names = _state_names(self.forward_layer.cell)
        n = 2 * len(names)
        if not isinstance(initial_state, (list, tuple)) or len(initial_state) != n:
            got = len(initial_state) if isinstance(initial_state, (list, tuple)) else 1
            listed = ", ".join([f"{s}_fwd" for s in names] + [f"{s}_bwd" for s in names])
            raise ValueError(
                f"Layer {self.name!r} expects initial_state as {n} arrays [{listed}]; got {got}"
            )
        return list(initial_state[:n // 2]), list(initial_state[n // 2:])

    def forward(self, inputs, training=False, mask=None, initial_state=None, keep_cache=True):
        """Returns `(outputs in Keras's order, cache)`; see the module docstring."""
        inputs = check_array(inputs, self.dtype)  # Keras autocasts to the wrapper's dtype
        if not self.built:
            self.build(np.shape(inputs))
        fwd_state, bwd_state = self._split_states(initial_state)
        directions = [
            lambda: self.forward_layer.forward(inputs, training, mask, fwd_state, keep_cache),
            lambda: self.backward_layer.forward(inputs, training, mask, bwd_state, keep_cache)]
        units = getattr(self.forward_layer.cell, "units", None)
        if training or keep_cache or units is None:  # dropout draws and caches in order
            (y_f, cache_f), (y_b, cache_b) = [run() for run in directions]
        else:  # inference: the two directions at once, on cores of their own
            (y_f, cache_f), (y_b, cache_b) = kernels.side_by_side(directions, len(inputs), units)
        states = []
        if self.return_state:
            y_f, *s_f = y_f
            y_b, *s_b = y_b
            states = s_f + s_b
        y_f = y_f.astype(self.dtype, copy=False)  # ops.cast(y, self.compute_dtype)
        y_b = y_b.astype(self.dtype, copy=False)
        if self.return_sequences:
            y_b = y_b[:, ::-1]  # ops.flip(y_rev, axis=1): back into input order
        if self.merge_mode == "concat":
            merged = [np.concatenate([y_f, y_b], axis=-1)]
        elif self.merge_mode == "sum":
            merged = [y_f + y_b]
        elif self.merge_mode == "mul":
            merged = [y_f * y_b]
        elif self.merge_mode == "ave":
            merged = [(y_f + y_b) / 2]
        else:
            merged = [y_f, y_b]
        outs = merged + states
        outputs = tuple(outs) if len(outs) > 1 else outs[0]
        cache = (cache_f, cache_b, y_f, y_b) if keep_cache else None
        return outputs, cache

    can_skip_input_grad = True

    def backward(self, cache, d_outputs, input_grad=True):
        """Gradients: `(d_inputs, d_weights)`, forward layer's weights first."""
        cache_f, cache_b, y_f, y_b = cache
        outs = list(d_outputs) if isinstance(d_outputs, (list, tuple)) else [d_outputs]
        n = 2 if self.merge_mode is None else 1
        d_merged, d_states = outs[:n], outs[n:]
        d_f, d_b = self._merge_backward(d_merged, y_f, y_b)
        if self.return_sequences and d_b is not None:
            d_b = d_b[:, ::-1]
        if self.return_state:
            n = len(d_states) // 2
            n_own = len(self.forward_layer._nest(self.forward_layer.get_initial_state(1)))
            d_f = (d_f, *d_states[:n]) if d_states else (d_f, *[None] * n_own)
            d_b = (d_b, *d_states[n:]) if d_states else (d_b, *[None] * n_own)
        dx_f, dw_f = self.forward_layer.backward(cache_f, d_f, input_grad)
        dx_b, dw_b = self.backward_layer.backward(cache_b, d_b, input_grad)
        if cache_f.has_initial_state:
            (dx_f, s_f), (dx_b, s_b) = dx_f, dx_b
        dx = dx_f + dx_b if input_grad else None
        if cache_f.has_initial_state:
            return (dx, s_f + s_b), dw_f + dw_b
        return dx, dw_f + dw_b

    def _merge_backward(self, d_merged, y_f, y_b):
        if self.merge_mode is None:
            return d_merged[0], d_merged[1]
        d = d_merged[0]
        if d is None:
            return None, None
        if self.merge_mode == "concat":
            H = y_f.shape[-1]
            return d[..., :H], d[..., H:]
        if self.merge_mode == "sum":
            return d, d
        if self.merge_mode == "mul":
            return d * y_b, d * y_f
        return d / 2, d / 2

    def get_config(self):
        def ser(layer):
            entry = {"module": "keras.layers", "class_name": type(layer).__name__,
                     "config": layer.get_config(), "registered_name": None}
            if getattr(layer, "_build_config", None) is not None:
                entry["build_config"] = layer._build_config
            return entry

        return {**super().get_config(), "merge_mode": self.merge_mode,
                "layer": ser(self.forward_layer), "backward_layer": ser(self.backward_layer)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        layer = _inner(config.pop("layer"))
        backward = config.pop("backward_layer", None)
        if backward is not None:
            backward = _inner(backward)
        return cls(layer, backward_layer=backward, **config)


def _inner(entry):
    from . import deserialize

    layer = deserialize(entry)
    if not isinstance(layer, RNN):
        raise ValueError(
            f"lstmkit's Bidirectional wraps recurrent layers (LSTM, GRU, SimpleRNN, RNN); this "
            f"config wraps {entry.get('class_name')!r}")
    return layer
