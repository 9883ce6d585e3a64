"""`LSTM`: the Keras LSTM layer over a whole sequence (keras/src/layers/rnn/lstm.py, rnn.py).

`LSTM(units, return_sequences=False, return_state=False)` called on x (B, T, D):

| return_sequences | return_state | result                       |
| ---------------- | ------------ | ---------------------------- |
| False            | False        | h_T (B, H)                   |
| True             | False        | whole sequence (B, T, H)     |
| False            | True         | (h_T, h_T, c_T)              |
| True             | True         | (whole sequence, h_T, c_T)   |

h is the memory (hidden) state, which is also the output; c is the carry (cell) state.

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> inputs = np.random.normal(size=(32, 10, 8)).astype("float32")
    >>> lk.layers.LSTM(4)(inputs).shape
    (32, 4)
    >>> seq, h, c = lk.layers.LSTM(4, return_sequences=True, return_state=True)(inputs)
    >>> seq.shape, h.shape, c.shape
    ((32, 10, 4), (32, 4), (32, 4))
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import kernels as _kernels
from .. import regularizers as _regularizers
from ..ops import _tape
from . import _custom, _masks, _traced
from .base import Layer, check_array
from .lstm_cell import LSTMCell

_CELL_ARGS = (
    "activation", "recurrent_activation", "use_bias", "kernel_initializer",
    "recurrent_initializer", "bias_initializer", "unit_forget_bias", "kernel_regularizer",
    "recurrent_regularizer", "bias_regularizer", "kernel_constraint", "recurrent_constraint",
    "bias_constraint", "dropout", "recurrent_dropout", "seed", "implementation",
    "_keras2_activations",
)


class LSTMCache(NamedTuple):
    """What `LSTM.backward` needs from `LSTM.forward`."""

    result: object  # kernels.ForwardResult
    has_initial_state: bool
    return_sequences: bool
    dtype: str


class SequenceCall:
    """`layer(inputs, initial_state=None, mask=None, training=None)` for LSTM and Bidirectional.

    Symbolic inputs (`lk.Input`) record a node; arrays run `forward` without keeping a cache.
    """

    def __call__(self, inputs, initial_state=None, mask=None, training=None):
        # lk.Input: record a Node (an array with no other argument is answered first)
        if (type(inputs) is not np.ndarray or initial_state is not None or mask is not None) \
                and self._is_symbolic_call(inputs, initial_state, mask):
            return self._symbolic_call(inputs, initial_state=initial_state, mask=mask)
        if _tape.current() is not None:  # inside a traced call: one op on the tape
            return _traced.record_layer(self, inputs, {
                "initial_state": initial_state, "mask": mask, "training": training})
        if mask is None:  # Keras passes the mask an earlier layer attached
            mask = getattr(inputs, "_keras_mask", None)
        if training is None:  # inside a custom call: its training flag
            training = _custom.context_training()
        outputs, _ = self.forward(inputs, training=bool(training), mask=mask,
                                  initial_state=initial_state, keep_cache=False)
        if mask is not None:  # Keras attaches the output masks (return_sequences)
            outputs = _masks.attach_masks(outputs, self.compute_mask(inputs, mask))
        return outputs

    def call(self, inputs, initial_state=None, mask=None, training=False):
        return self(inputs, initial_state=initial_state, mask=mask, training=training)


class LSTM(SequenceCall, Layer):
    """Long Short-Term Memory layer (Hochreiter & Schmidhuber, 1997), Keras 3's arguments.

    Args:
        units: positive int, the size of h and c.
        activation, recurrent_activation, use_bias, *_initializer, unit_forget_bias,
        *_regularizer, *_constraint, dropout, recurrent_dropout, seed: as `LSTMCell`.
        activity_regularizer: a regularizer on the layer's output (applied in training).
        return_sequences: return the whole sequence (B, T, H) instead of h_T (B, H).
        return_state: also return the final states h_T and c_T.
        go_backwards: process the sequence in reverse; outputs stay in processing order.
        stateful: the final states of a call are the initial states of the next.
        unroll: accepted for Keras compatibility; the result is the same.
        use_cudnn: "auto", True or False. True demands the fused kernel (error if it
            cannot run this configuration); False always runs the reference loop.
        zero_output_for_mask: masked steps output zeros instead of the previous output.
        backend: lstmkit's own: "auto", "kernel" or "reference" (default: the
            `LSTMKIT_BACKEND` environment variable, else "auto"). Not serialized.

    Call: `layer(inputs (B, T, D), initial_state=[h0, c0], mask=(B, T) bool, training=False)`.
    """

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, unroll=False,
                 use_cudnn="auto", zero_output_for_mask=False, backend=None, **kwargs):
        cell_kwargs = {k: kwargs.pop(k) for k in ("implementation", "_keras2_activations")
                       if k in kwargs}
        super().__init__(**kwargs)
        if use_cudnn not in ("auto", True, False):
            raise ValueError(
                f"Invalid value received for argument `use_cudnn`. Expected one of "
                f"{{'auto', True, False}}. Received: use_cudnn={use_cudnn!r}"
            )
        self.cell = LSTMCell(
            units, activation=activation, recurrent_activation=recurrent_activation,
            use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            unit_forget_bias=unit_forget_bias, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint, dropout=dropout,
            recurrent_dropout=recurrent_dropout, seed=seed, name="lstm_cell", dtype=self.dtype,
            trainable=self.trainable, **cell_kwargs,
        )
        self.activity_regularizer = _regularizers.get(activity_regularizer)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.use_cudnn = use_cudnn
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.backend = _kernels.resolve_backend(backend) if backend is not None else None
        self.backend_ = None  # which path the last call ran: "kernel" or "reference"
        self.states = None  # [h, c] when stateful
        self._path_prefix = self.name

    # Keras exposes the cell's arguments on the layer.
    def __getattr__(self, name):
        if name in _CELL_ARGS + ("units", "kernel", "recurrent_kernel", "bias", "input_dim"):
            return getattr(self.__dict__["cell"], name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _all_weights(self):
        return self.cell._all_weights()

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
        self.cell._path_prefix = f"{self._path_prefix}/lstm_cell"
        self.cell.build(input_shape)
        if self.stateful:  # RNN.build creates the zero states (and fixes the batch size)
            self.states = self.get_initial_state(input_shape[0])
        self.built = True

    def compute_output_shape(self, input_shape):
        B, T = input_shape[0], input_shape[1]
        out = (B, T, self.units) if self.return_sequences else (B, self.units)
        if self.return_state:
            return (out, (B, self.units), (B, self.units))
        return out

    def compute_mask(self, inputs, mask=None):
        # Keras <= 3.15: the mask passes on with return_sequences; states get None.
        out_mask = mask if self.return_sequences else None
        return [out_mask, None, None] if self.return_state else out_mask

    def get_initial_state(self, batch_size):
        return self.cell.get_initial_state(batch_size)

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
        H = self.cell.units
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
        if not isinstance(initial_state, (list, tuple)) or len(initial_state) != 2:
            n = len(initial_state) if isinstance(initial_state, (list, tuple)) else 1
            raise ValueError(
                f"Layer {self.name!r} expects initial_state as a list of 2 arrays [h, c], "
                f"each (batch, {H}); got {n}"
            )
        states = [check_array(s, self.dtype, "initial_state") for s in initial_state]
        for name, s in zip(("h", "c"), states):
            if s.shape != (B, H):
                raise ValueError(
                    f"initial_state {name} of layer {self.name!r} must have shape "
                    f"(batch, units) = {(B, H)}, got {s.shape}"
                )
        return states

    def _backend_for_call(self):
        if self.use_cudnn is False:
            return "reference"
        if self.use_cudnn is True:
            return "kernel"
        return self.backend

    def forward(self, inputs, training=False, mask=None, initial_state=None, keep_cache=True):
        """Run the layer; returns `(outputs in Keras's order, LSTMCache or None)`."""
        x, mask, states = self._check_inputs(inputs, mask, initial_state)
        cell = self.cell
        dm, rm = cell.make_dropout_masks(x.shape[0], training)
        h0, c0 = (None, None) if states is None else states
        result = _kernels.lstm_forward(
            x, cell.kernel.value, cell.recurrent_kernel.value,
            None if cell.bias is None else cell.bias.value, h0, c0, mask=mask,
            go_backwards=self.go_backwards, activation=cell.activation,
            recurrent_activation=cell.recurrent_activation,
            zero_output_for_mask=self.zero_output_for_mask, dropout_mask=dm,
            recurrent_dropout_mask=rm, return_sequences=self.return_sequences or keep_cache,
            keep_cache=keep_cache, backend=self._backend_for_call(),
        )
        self.backend_ = result.backend
        if self.stateful:
            self.states = [result.h, result.c]
        output = result.outputs if self.return_sequences else result.last_output
        outputs = (output, result.h, result.c) if self.return_state else output
        cache = None
        if keep_cache:
            cache = LSTMCache(result, initial_state is not None, self.return_sequences,
                              self.dtype)
        return outputs, cache

    #: `backward(..., input_grad=False)` skips dx (a model's first layer needs none).
    can_skip_input_grad = True

    def backward(self, cache: LSTMCache, d_outputs, input_grad=True):
        """Gradients for `forward`.

        Args:
            d_outputs: gradient of the output, or with `return_state` a tuple
                (d_output, d_h, d_c); any entry may be None.

        Returns:
            `(d_inputs, [d_kernel, d_recurrent_kernel, d_bias])`; d_inputs is dx (B, T, D),
            or `(dx, [d_h0, d_c0])` when the call had an initial_state.
        """
        d_h = d_c = None
        if self.return_state:
            d_out, d_h, d_c = d_outputs
        else:
            d_out = d_outputs
        res = cache.result
        d_seq = None
        if d_out is not None:
            d_out = np.asarray(d_out, cache.dtype)
            if cache.return_sequences:
                d_seq = d_out
            else:
                d_seq = np.zeros_like(res.outputs)
                d_seq[:, -1] = d_out
        grads = _kernels.lstm_backward(res, d_seq, d_h, d_c, input_grad=input_grad)
        d_weights = [grads.kernel, grads.recurrent_kernel]
        if grads.bias is not None:
            d_weights.append(grads.bias)
        if not self.trainable:
            d_weights = []
        d_inputs = (grads.x, [grads.h0, grads.c0]) if cache.has_initial_state else grads.x
        return d_inputs, d_weights

    # -- config ----------------------------------------------------------------------
    def get_config(self):
        cell = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell.pop(key)
        config = {
            **super().get_config(),
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
        }
        config.update(cell)
        config["activity_regularizer"] = _regularizers.serialize(self.activity_regularizer)
        # Keras's key order (LSTM.get_config, not the cell's): unit_forget_bias follows the
        # initializers; activity_regularizer sits between the regularizers and constraints
        # when None, else right after dtype (Layer.get_config puts it there first).
        order = list(config)
        after_dtype = "return_sequences" if self.activity_regularizer else "kernel_constraint"
        for key, before in (("activity_regularizer", after_dtype),
                            ("unit_forget_bias", "kernel_regularizer")):
            order.remove(key)
            order.insert(order.index(before), key)
        return {k: config[k] for k in order}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
