"""`RNN`: the layer that runs a cell over a sequence (keras/src/layers/rnn/rnn.py).

`RNN(cell)` takes an `LSTMCell`, `GRUCell`, `SimpleRNNCell`, a `StackedRNNCells`, or
a list of cells (made into a `StackedRNNCells`). `LSTM`, `GRU` and `SimpleRNN` are
this layer with their cell built in. Called on x (B, T, D):

| return_sequences | return_state | result                                   |
| ---------------- | ------------ | ---------------------------------------- |
| False            | False        | the last output (B, H)                   |
| True             | False        | the whole sequence (B, T, H)             |
| any              | True         | (output, *states): h for a GRU/SimpleRNN, |
|                  |              | h, c for an LSTM, one list per cell for a stack |

Masks, `go_backwards`, `stateful`, `initial_state`, dropout and
`zero_output_for_mask` follow `reference_rnn` (the LSTM's rules). Internally the
states are one flat list: [h, c] for an LSTM cell, [h] for a GRU or SimpleRNN
cell, the cells' states in order for a stack.

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> x = np.zeros((2, 5, 3), "float32")
    >>> out, h = lk.layers.RNN(lk.layers.GRUCell(4), return_state=True)(x)
    >>> out.shape, h.shape
    ((2, 4), (2, 4))
    >>> lk.layers.RNN([lk.layers.LSTMCell(4), lk.layers.SimpleRNNCell(2)])(x).shape
    (2, 2)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import kernels as _kernels
from ..ops import _tape
from . import _custom, _inference_plan, _masks, _snapshot, _traced
from .base import Layer, check_array


class SequenceCall:
    """`layer(inputs, initial_state=None, mask=None, training=None)` for the recurrent layers.

    Symbolic inputs (`lk.Input`) record a node; arrays run `forward` without keeping a cache,
    or the layer's plan for a repeated inference call (`_inference_plan`; RNN layers only).
    """

    _plan = None

    def __call__(self, inputs, initial_state=None, mask=None, training=None):
        # lk.Input: record a Node (an array with no other argument is answered first)
        if (type(inputs) is not np.ndarray or initial_state is not None or mask is not None) \
                and self._is_symbolic_call(inputs, initial_state, mask):
            return self._symbolic_call(inputs, initial_state=initial_state, mask=mask)
        if _tape.current() is not None:  # inside a traced call: one op on the tape
            return _traced.record_layer(self, inputs, {
                "initial_state": initial_state, "mask": mask, "training": training})
        if training is None:  # inside a custom call: its training flag
            training = _custom.context_training()
        if self._plan is not None and not training and initial_state is None and mask is None:
            outputs = _inference_plan.run(self, inputs)  # a repeated inference call (here,
            if outputs is not None:  # not only in `forward`: a call less, 0.4 us of ~7)
                return outputs
        if mask is None and type(inputs) is not np.ndarray:  # Keras passes the mask an
            mask = getattr(inputs, "_keras_mask", None)  # earlier layer attached
        outputs, _ = self.forward(inputs, training=bool(training), mask=mask,
                                  initial_state=initial_state, keep_cache=False)
        if mask is not None:  # Keras attaches the output masks (return_sequences)
            outputs = _masks.attach_masks(outputs, self.compute_mask(inputs, mask))
        return outputs

    def call(self, inputs, initial_state=None, mask=None, training=False):
        return self(inputs, initial_state=initial_state, mask=mask, training=training)


class RunResult(NamedTuple):
    """What a cell's `run_sequence` returns (arrays in processing order)."""

    outputs: np.ndarray | None  # (B, T, H), or None when not needed (LSTM kernel)
    last_output: np.ndarray  # (B, H)
    states: list  # final states, flat
    cache: object  # what `run_sequence_backward` needs (None unless training)
    backend: str  # "kernel" or "reference"


class RNNCache(NamedTuple):
    """What `RNN.backward` needs from `RNN.forward`."""

    result: RunResult
    has_initial_state: bool
    nested_initial_state: bool
    return_sequences: bool
    dtype: str


def state_counts(cell) -> list:
    """States per cell: [2] for an LSTM cell, [1] for GRU/SimpleRNN, one entry per stacked cell."""
    if hasattr(cell, "cells"):
        return [n for c in cell.cells for n in state_counts(c)]
    size = cell.state_size
    return [len(size)] if isinstance(size, (list, tuple)) else [1]


def state_sizes(cell) -> list:
    """Flat list of the state widths."""
    if hasattr(cell, "cells"):
        return [s for c in cell.cells for s in state_sizes(c)]
    size = cell.state_size
    return list(size) if isinstance(size, (list, tuple)) else [size]


def _state_names(cell) -> list:
    """"h", "c" for an LSTM cell's states, "h" for the others; numbered in a stack."""
    if hasattr(cell, "cells"):
        return [f"{name}{k}" for k, c in enumerate(cell.cells) for name in _state_names(c)]
    return ["h", "c"] if state_counts(cell) == [2] else ["h"]


def _flatten(states):
    out = []
    for s in states:
        out.extend(_flatten(s) if isinstance(s, (list, tuple)) else [s])
    return out


class RNN(SequenceCall, Layer):
    """Base class for recurrent layers, and Keras's `RNN(cell)`.

    Args:
        cell: a cell (`LSTMCell`, `GRUCell`, `SimpleRNNCell`, `StackedRNNCells`) or a list
            of cells.
        return_sequences: return the whole sequence (B, T, H) instead of the last output.
        return_state: also return the final states.
        go_backwards: process the sequence in reverse; outputs stay in processing order.
        stateful: the final states of a call are the initial states of the next.
        unroll: accepted for Keras compatibility; the result is the same.
        zero_output_for_mask: masked steps output zeros instead of the previous output.
        backend: lstmkit's own: "auto", "kernel" or "reference". Not serialized.

    Call: `layer(inputs (B, T, D), initial_state=[...], mask=(B, T) bool, training=False)`.
    """

    supports_masking = True  # as Keras 3 sets it (on RNN, so on LSTM, GRU and SimpleRNN)

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, zero_output_for_mask=False, backend=None,
                 **kwargs):
        if isinstance(cell, (list, tuple)):
            from .stacked_rnn_cells import StackedRNNCells

            cell = StackedRNNCells(list(cell))
        if not hasattr(cell, "state_size") or not hasattr(cell, "run_sequence"):
            raise ValueError(
                f"Argument `cell` should be an lstmkit RNN cell (LSTMCell, GRUCell, "
                f"SimpleRNNCell, StackedRNNCells) or a list of them. Received: cell={cell!r}"
            )
        super().__init__(**kwargs)
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.backend = _kernels.resolve_backend(backend) if backend is not None else None
        self.backend_ = None  # which path the last call ran: "kernel" or "reference"
        self.states = None  # the flat states when stateful
        self._path_prefix = self.name
        self._plan = None  # the last inference call's kind, prepared (`_inference_plan`)

    def _all_weights(self):
        return self.cell._all_weights()

    @property
    def units(self):
        return self.cell.output_size

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            raise ValueError(
                f"Input 0 of layer {self.name!r} is incompatible with the layer: expected "
                f"ndim=3 (batch, timesteps, features), found ndim={len(input_shape)}. "
                f"Full shape received: {input_shape}"
            )
        if self.stateful and input_shape[0] is None:
            raise ValueError(
                "When using `stateful=True` in a RNN, the batch size must be static. "
                "Call the layer on an array, or build it with a known batch size."
            )
        self.cell._path_prefix = f"{self._path_prefix}/{self.cell.name}"
        # A built cell keeps its weights (Keras); one built for other inputs is built again.
        if not self.cell.built or self.cell.input_dim != input_shape[2]:
            self.cell.build((input_shape[0], input_shape[2]))
        if self.stateful:  # RNN.build creates the zero states (and fixes the batch size)
            self.states = self.get_initial_state(input_shape[0])
        self.built = True

    def _nest(self, flat):
        """Flat states -> what Keras returns: a list per cell for a stack, else flat."""
        if not hasattr(self.cell, "cells"):
            return list(flat)
        out, i = [], 0
        for n in state_counts(self.cell):
            out.append(list(flat[i:i + n]))
            i += n
        return out

    def _symbolic_call(self, inputs, *args, **kwargs):
        if self.return_state and hasattr(self.cell, "cells"):
            # Keras returns one list of states per cell; lstmkit's graphs hold flat tensors.
            raise ValueError(
                f"Layer {self.name!r}: RNN over StackedRNNCells with return_state=True is not "
                f"supported in functional models yet (its states are nested lists). Call it on "
                f"arrays, or use one RNN layer per cell to pass states on.")
        return super()._symbolic_call(inputs, *args, **kwargs)

    def compute_output_shape(self, input_shape):
        B, T = input_shape[0], input_shape[1]
        H = self.cell.output_size
        out = (B, T, H) if self.return_sequences else (B, H)
        if self.return_state:
            return (out, *self._nest([(B, s) for s in state_sizes(self.cell)]))
        return out

    def compute_mask(self, inputs, mask=None):
        # Keras <= 3.15: the mask passes on with return_sequences; states get None.
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        out_mask = mask if self.return_sequences else None
        if self.return_state:
            return [out_mask] + [None] * len(self._nest(state_sizes(self.cell)))
        return out_mask

    def get_initial_state(self, batch_size):
        return [np.zeros((batch_size, s), self.cell.dtype) for s in state_sizes(self.cell)]

    def reset_state(self):
        """Set the stored states of a stateful layer to zeros."""
        if self.states is not None:
            self.states = [np.zeros_like(s) for s in self.states]

    reset_states = reset_state

    # -- calling: `SequenceCall.__call__`, then `forward` ------------------------------
    def _check_inputs(self, inputs, mask, initial_state):
        x = check_array(inputs, self.dtype)
        if x.ndim != 3:
            raise ValueError(
                f"Input 0 of layer {self.name!r} is incompatible with the layer: expected "
                f"ndim=3 (batch, timesteps, features), found ndim={x.ndim}. "
                f"Full shape received: {x.shape}"
            )
        if not self.built:
            self.build(x.shape)
        B, T, D = x.shape
        if D != self.cell.input_dim:
            raise ValueError(
                f"Input 0 of layer {self.name!r} is incompatible with the layer: expected "
                f"axis -1 of input shape to have value {self.cell.input_dim}, but received "
                f"input with shape {x.shape}"
            )
        if T == 0:
            raise ValueError(f"Layer {self.name!r} received a sequence with 0 timesteps")
        if mask is not None:
            if isinstance(mask, (list, tuple)):
                mask = mask[0]
            mask = np.asarray(mask)
            if mask.dtype.kind not in "biu":
                raise TypeError(f"mask must be boolean (B, T), got dtype {mask.dtype}")
            if mask.shape != (B, T):
                raise ValueError(
                    f"mask must have shape (batch, timesteps) = {(B, T)}, got {mask.shape}"
                )
            mask = mask.astype(bool)
        states = self._initial_states(B, initial_state)
        return x, mask, states

    def _initial_states(self, B, initial_state):
        if initial_state is None and not self.stateful:
            return None
        sizes = state_sizes(self.cell)
        if self.stateful:  # Keras checks the batch size even when initial_state is given
            if self.states is None:
                self.states = self.get_initial_state(B)
            if self.states[0].shape[0] != B:
                raise ValueError(
                    f"Layer {self.name!r} is stateful with batch size "
                    f"{self.states[0].shape[0]}: the batch size of the input sequences "
                    f"must be the same as the batch size of the initial state, got {B}. "
                    f"Call reset_state() is not enough; use the same batch size."
                )
        if initial_state is None:
            return self.states if self.stateful else None
        flat = _flatten(initial_state) if isinstance(initial_state, (list, tuple)) \
            else [initial_state]
        if len(flat) != len(sizes):
            names = ", ".join(_state_names(self.cell))
            each = f"(batch, {sizes[0]})" if len(set(sizes)) == 1 else f"(batch, {sizes})"
            raise ValueError(
                f"Layer {self.name!r} expects initial_state as a list of {len(sizes)} arrays "
                f"[{names}], each {each}; got {len(flat)}"
            )
        states = [check_array(s, self.dtype, "initial_state") for s in flat]
        names = _state_names(self.cell)
        for k, (s, size) in enumerate(zip(states, sizes)):
            if s.shape != (B, size):
                raise ValueError(
                    f"initial_state {names[k]} of layer {self.name!r} must have shape "
                    f"(batch, units) = {(B, size)}, got {s.shape}"
                )
        return states

    def _backend_for_call(self):
        use_cudnn = getattr(self, "use_cudnn", "auto")
        if use_cudnn is False:
            return "reference"
        if use_cudnn is True:
            return "kernel"
        return self.backend

    def forward(self, inputs, training=False, mask=None, initial_state=None, keep_cache=True):
        """Run the layer; returns `(outputs in Keras's order, RNNCache or None)`."""
        plain = not (keep_cache or training) and mask is None and initial_state is None
        if plain and self._plan is not None:  # a repeated inference call: its plan
            outputs = _inference_plan.run(self, inputs)
            if outputs is not None:
                return outputs, None
        x, mask, states = self._check_inputs(inputs, mask, initial_state)
        with _snapshot.reading(self._all_weights):  # one set, whatever other threads publish
            result = self.cell.run_sequence(
                x, states, mask=mask, go_backwards=self.go_backwards,
                zero_output_for_mask=self.zero_output_for_mask, training=training,
                return_sequences=self.return_sequences or keep_cache, keep_cache=keep_cache,
                backend=self._backend_for_call())
            if plain and result.backend == "kernel":  # the plan for the next such call
                self._plan = _inference_plan.make(self, x, states)
        self.backend_ = result.backend
        if self.stateful:
            self.states = list(result.states)
        output = result.outputs if self.return_sequences else result.last_output
        outputs = (output, *self._nest(result.states)) if self.return_state else output
        cache = None
        if keep_cache:
            nested = isinstance(initial_state, (list, tuple)) and any(
                isinstance(s, (list, tuple)) for s in initial_state)
            cache = RNNCache(result, initial_state is not None, nested, self.return_sequences,
                             self.dtype)
        return outputs, cache

    #: `backward(..., input_grad=False)` skips dx (a model's first layer needs none).
    can_skip_input_grad = True

    def backward(self, cache: RNNCache, d_outputs, input_grad=True):
        """Gradients for `forward`.

        Args:
            d_outputs: gradient of the output, or with `return_state` a tuple
                (d_output, *d_states) in the returned structure; any entry may be None.

        Returns:
            `(d_inputs, d_weights)`; d_inputs is dx (B, T, D), or `(dx, d_initial_states)`
            when the call had an initial_state. d_weights follow `trainable_weights`.
        """
        res = cache.result
        n = len(res.states)
        d_states = [None] * n
        if self.return_state:
            d_out, *rest = d_outputs
            if hasattr(self.cell, "cells"):
                flat = []
                for group, k in zip(rest, state_counts(self.cell)):
                    flat += [None] * k if group is None else list(group)
                rest = flat
            d_states = list(rest)
        else:
            d_out = d_outputs
        d_seq = None
        if d_out is not None:
            d_out = np.asarray(d_out, cache.dtype)
            if cache.return_sequences:
                d_seq = d_out
            else:
                T = res.outputs.shape[1]
                d_seq = np.zeros((d_out.shape[0], T, d_out.shape[-1]), cache.dtype)
                d_seq[:, -1] = d_out
        dx, d_states0, d_weights = self.cell.run_sequence_backward(
            res, d_seq, d_states, input_grad=input_grad)
        if not self.trainable:
            d_weights = []
        if not cache.has_initial_state:
            return dx, d_weights
        d_init = self._nest(d_states0) if cache.nested_initial_state else list(d_states0)
        return (dx, d_init), d_weights

    # -- config ----------------------------------------------------------------------
    def get_config(self):
        from . import serialize

        config = {
            **super().get_config(),
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
        }
        config["cell"] = serialize(self.cell)
        return config

    @classmethod
    def from_config(cls, config):
        from . import deserialize

        config = dict(config)
        cell = config.pop("cell")
        if isinstance(cell, dict):
            cell = deserialize(cell)
        return cls(cell, **config)
