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
from . import _custom, _traced
from .base import Layer, check_array
from .recurrent_cell import RecurrentCell


class LSTMCell(RecurrentCell, Layer):
    """One LSTM step: `(x_t (B, D), [h (B, H), c (B, H)]) -> (h_t, [h_t, c_t])`.

    Weights: kernel (D, 4H), recurrent_kernel (H, 4H), bias (4H,), gates i, f, c, o.
    `unit_forget_bias=True` sets the forget slice of the bias to ones.
    """

    dropout_gates = 4  # i, f, c, o: one mask each in implementation 1

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, **kwargs):
        implementation = kwargs.pop("implementation", 2)
        keras2 = kwargs.pop("_keras2_activations", False)
        super().__init__(**kwargs)
        self._set_weight_args(
            units, use_bias, (kernel_initializer, recurrent_initializer, bias_initializer),
            (kernel_regularizer, recurrent_regularizer, bias_regularizer),
            (kernel_constraint, recurrent_constraint, bias_constraint), dropout,
            recurrent_dropout, seed)
        self.activation = _activations.get(activation, keras2=keras2)
        self.recurrent_activation = _activations.get(recurrent_activation, keras2=keras2)
        self.unit_forget_bias = bool(unit_forget_bias)
        # Keras forces implementation 1 (and one dropout mask per gate) with recurrent dropout.
        self.implementation = 1 if self.recurrent_dropout > 0 else implementation
        self.state_size = [self.units, self.units]

    def build(self, input_shape):
        H = self.units
        bias = self.bias_initializer
        if self.unit_forget_bias:  # the forget slice starts at one (Jozefowicz et al., 2015)
            bias = np.concatenate([bias((H,), dtype=self.dtype), np.ones(H, self.dtype),
                                   bias((2 * H,), dtype=self.dtype)])  # (4H,) i, f, c, o
        self._build_weights(input_shape, 4 * H, (4 * H,), bias)

    def __call__(self, inputs, states, training=None):
        if _tape.current() is not None:  # inside a traced call: one op on the tape
            return _traced.record_layer(self, inputs, {"states": states, "training": training})
        if training is None:  # inside a custom call: its training flag
            training = _custom.context_training()
        return super().__call__(inputs, states, training=training)

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
        h, c = self._check_step(inputs, states)
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
