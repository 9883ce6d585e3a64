"""`LSTMCell`: one LSTM step, as `LSTMCell` in keras/src/layers/rnn/lstm.py.

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> cell = lk.layers.LSTMCell(4)
    >>> x_t = np.ones((2, 3), "float32")
    >>> h, (h_again, c) = cell(x_t, cell.get_initial_state(2))
    >>> h.shape, c.shape
    ((2, 4), (2, 4))
"""

from __future__ import annotations

import numpy as np

from .. import activations as _activations
from .. import constraints as _constraints
from .. import initializers as _initializers
from .. import reference as _ref
from .. import regularizers as _regularizers
from ..ops import _tape
from ..utils import SeedGenerator
from . import _custom, _traced
from .base import Layer, check_array


def _rate(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(min(1.0, max(0.0, value)))  # Keras clips the rate


def _units(units):
    if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
        raise ValueError(
            f"Received an invalid value for argument `units`, expected a positive integer, "
            f"got {units!r}."
        )
    return int(units)


def dropout_mask(rng, shape, rate, dtype):
    """Inverted dropout on ones: kept units are 1 / (1 - rate), dropped are 0."""
    if rate >= 1.0:
        return np.zeros(shape, dtype)
    keep = rng.random(shape) >= rate
    return (keep / (1.0 - rate)).astype(dtype)


class LSTMCell(Layer):
    """One LSTM step: `(x_t (B, D), [h (B, H), c (B, H)]) -> (h_t, [h_t, c_t])`.

    Weights: kernel (D, 4H), recurrent_kernel (H, 4H), bias (4H,), gates i, f, c, o.
    `unit_forget_bias=True` sets the forget slice of the bias to ones.
    """

    supports_masking = False  # as Keras 3 sets it

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, **kwargs):
        implementation = kwargs.pop("implementation", 2)
        keras2 = kwargs.pop("_keras2_activations", False)
        super().__init__(**kwargs)
        self.units = _units(units)
        self.activation = _activations.get(activation, keras2=keras2)
        self.recurrent_activation = _activations.get(recurrent_activation, keras2=keras2)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.recurrent_initializer = _initializers.get(recurrent_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.kernel_regularizer = _regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = _regularizers.get(recurrent_regularizer)
        self.bias_regularizer = _regularizers.get(bias_regularizer)
        self.kernel_constraint = _constraints.get(kernel_constraint)
        self.recurrent_constraint = _constraints.get(recurrent_constraint)
        self.bias_constraint = _constraints.get(bias_constraint)
        self.dropout = _rate(dropout, "dropout")
        self.recurrent_dropout = _rate(recurrent_dropout, "recurrent_dropout")
        self.seed = seed
        self.seed_generator = SeedGenerator(seed)
        # Keras forces implementation 1 (and one dropout mask per gate) with recurrent dropout.
        self.implementation = 1 if self.recurrent_dropout > 0 else implementation
        self.state_size = [self.units, self.units]
        self.output_size = self.units
        self.kernel = self.recurrent_kernel = self.bias = None

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(f"The last dimension of the inputs to {self.name!r} must be known")
        H = self.units
        prefix = self.name if not hasattr(self, "_path_prefix") else self._path_prefix
        self._weights = []  # building again makes new weights, never a second set
        self.kernel = self.add_weight(
            "kernel", (input_dim, 4 * H), self.kernel_initializer, self.kernel_regularizer,
            self.kernel_constraint, path=f"{prefix}/kernel")
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", (H, 4 * H), self.recurrent_initializer,
            self.recurrent_regularizer, self.recurrent_constraint,
            path=f"{prefix}/recurrent_kernel")
        if self.use_bias:
            if self.unit_forget_bias:
                init = self.bias_initializer
                value = np.concatenate([
                    init((H,), dtype=self.dtype), np.ones(H, self.dtype),
                    init((2 * H,), dtype=self.dtype),
                ])
            else:
                value = self.bias_initializer((4 * H,), dtype=self.dtype)
            self.bias = self.add_weight("bias", (4 * H,), value, self.bias_regularizer,
                                        self.bias_constraint, path=f"{prefix}/bias")
        self.input_dim = int(input_dim)
        self.built = True

    # -- dropout masks: drawn once per call, shared across time (Keras's DropoutRNNCell)
    def make_dropout_masks(self, batch_size, training):
        """(dropout_mask, recurrent_dropout_mask) for one call; None where unused.

        Implementation 2 (no recurrent dropout): one input mask (B, D) for all gates.
        Implementation 1: one mask per gate, (4, B, D) and (4, B, H).
        """
        # LSTMCell.call applies a mask only when `0 < rate < 1`: a rate of 1.0 drops nothing.
        use_dm = 0.0 < self.dropout < 1.0
        use_rm = 0.0 < self.recurrent_dropout < 1.0
        if not training or not (use_dm or use_rm):
            return None, None
        rng = self.seed_generator.next()
        per_gate = (4,) if self.implementation == 1 else ()
        dm = rm = None
        if use_dm:
            dm = dropout_mask(rng, per_gate + (batch_size, self.input_dim), self.dropout,
                              self.dtype)
        if use_rm:
            rm = dropout_mask(rng, per_gate + (batch_size, self.units), self.recurrent_dropout,
                              self.dtype)
        return dm, rm

    def get_initial_state(self, batch_size=None):
        return [np.zeros((batch_size, self.units), self.dtype) for _ in range(2)]

    def __call__(self, inputs, states, training=None):
        if _tape.current() is not None:  # inside a traced call: one op on the tape
            return _traced.record_layer(self, inputs, {"states": states, "training": training})
        if training is None:  # inside a custom call: its training flag
            training = _custom.context_training()
        inputs = check_array(inputs, self.dtype)
        if inputs.ndim != 2:
            raise ValueError(
                f"Input 0 of layer {self.name!r} is incompatible with the layer: expected "
                f"ndim=2 (batch, features), found ndim={inputs.ndim}. "
                f"Full shape received: {inputs.shape}"
            )
        if not self.built:
            self.build(inputs.shape)
        return self.call(inputs, states, training=training)

    def call(self, inputs, states, training=False):
        """One step: returns (h, [h, c])."""
        (h, (_, c)), _ = self.forward(inputs, training=training, states=states,
                                      keep_cache=False)
        return h, [h, c]

    def forward(self, inputs, training=False, mask=None, states=None, keep_cache=True):
        """One step: `((h, [h, c]), cache)`; the cache feeds `backward`."""
        inputs = check_array(inputs, self.dtype)
        if not self.built:
            self.build(inputs.shape)
        B, D = inputs.shape
        if D != self.input_dim:
            raise ValueError(
                f"Input 0 of layer {self.name!r} is incompatible with the layer: expected "
                f"axis -1 of input shape to have value {self.input_dim}, but received input "
                f"with shape {inputs.shape}"
            )
        if not isinstance(states, (list, tuple)) or len(states) != 2:
            n = len(states) if isinstance(states, (list, tuple)) else 1
            raise ValueError(
                f"Layer {self.name!r} expects states as a list of 2 arrays [h, c], each "
                f"(batch, {self.units}); got {n}"
            )
        h, c = (check_array(s, self.dtype, "states") for s in states)
        for name, s in (("h", h), ("c", c)):
            if s.shape != (B, self.units):  # nothing is silently broadcast
                raise ValueError(
                    f"State {name} of layer {self.name!r} must have shape (batch, units) = "
                    f"{(B, self.units)}, got {s.shape}"
                )
        dm, rm = self.make_dropout_masks(inputs.shape[0], training)
        step = _ref.lstm_step(inputs, h, c, self.kernel.value, self.recurrent_kernel.value,
                              None if self.bias is None else self.bias.value, self.activation,
                              self.recurrent_activation, dm, rm)
        cache = (inputs, h, c, step, dm, rm) if keep_cache else None
        return (step.h, [step.h, step.c]), cache

    def backward(self, cache, d_outputs):
        """Gradients of one step: `((dx, [dh, dc]), [d_kernel, d_recurrent_kernel, d_bias])`.

        `d_outputs` is `(d_h_out, [d_h_state, d_c_state])`, entries may be None.
        """
        x, h, c, step, dm, rm = cache
        d_out, (d_h, d_c) = d_outputs
        grads = _ref.lstm_step_backward(
            step, x, h, c, self.kernel.value, self.recurrent_kernel.value, self.activation,
            self.recurrent_activation, d_out, d_h, d_c, dm, rm)
        d_weights = [grads.kernel, grads.recurrent_kernel] + (
            [grads.bias] if self.bias is not None else [])
        return (grads.x, [grads.h0, grads.c0]), (d_weights if self.trainable else [])

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": _activations.serialize(self.activation),
            "recurrent_activation": _activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            "unit_forget_bias": self.unit_forget_bias,
            "kernel_initializer": _initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": _initializers.serialize(self.recurrent_initializer),
            "bias_initializer": _initializers.serialize(self.bias_initializer),
            "kernel_regularizer": _regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": _regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": _regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": _constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": _constraints.serialize(self.recurrent_constraint),
            "bias_constraint": _constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }

    # -- the cell in an `RNN` layer: the sequence on the fused kernels, the step in a stack
    def step_fns(self, masks):
        """This cell's step for `reference_rnn` (used inside `StackedRNNCells`)."""
        from .. import reference_rnn as _rr

        return _rr.lstm_step_fns(
            self.kernel.value, self.recurrent_kernel.value,
            None if self.bias is None else self.bias.value, self.activation,
            self.recurrent_activation, *masks)

    def run_sequence(self, x, states, *, mask=None, go_backwards=False,
                     zero_output_for_mask=False, training=False, return_sequences=True,
                     keep_cache=False, backend=None):
        """Run over x (B, T, D) from states [h0, c0] (or None) on `kernels.lstm_forward`."""
        from .. import kernels as _kernels
        from .rnn import RunResult

        dm, rm = self.make_dropout_masks(x.shape[0], training)
        h0, c0 = (None, None) if states is None else states
        result = _kernels.lstm_forward(
            x, self.kernel.value, self.recurrent_kernel.value,
            None if self.bias is None else self.bias.value, h0, c0, mask=mask,
            go_backwards=go_backwards, activation=self.activation,
            recurrent_activation=self.recurrent_activation,
            zero_output_for_mask=zero_output_for_mask, dropout_mask=dm,
            recurrent_dropout_mask=rm, return_sequences=return_sequences,
            keep_cache=keep_cache, backend=backend)
        return RunResult(result.outputs, result.last_output, [result.h, result.c],
                         result if keep_cache else None, result.backend)

    def run_sequence_backward(self, result, d_seq, d_states, input_grad=True):
        """(dx, [d_h0, d_c0], [d_kernel, d_recurrent_kernel(, d_bias)]) on the path that ran."""
        from .. import kernels as _kernels

        d_h, d_c = d_states
        grads = _kernels.lstm_backward(result.cache, d_seq, d_h, d_c, input_grad=input_grad)
        d_weights = [grads.kernel, grads.recurrent_kernel]
        if grads.bias is not None:
            d_weights.append(grads.bias)
        return grads.x, [grads.h0, grads.c0], d_weights
