"""`SimpleRNNCell` and `SimpleRNN`, as keras/src/layers/rnn/simple_rnn.py.

Weights: kernel (D, H), recurrent_kernel (H, H), bias (H,); the step is
`reference_simple_rnn.simple_rnn_step`: h_t = activation(x @ K + b + h @ R). One state:
`return_state=True` gives `(output, h)`.

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> x = np.random.normal(size=(32, 10, 8)).astype("float32")
    >>> lk.layers.SimpleRNN(4)(x).shape
    (32, 4)
"""

from __future__ import annotations

from .. import activations as _activations
from .. import reference_rnn as _rr
from .base import Layer
from .cell_rnn import CellRNN, cell_kwargs
from .gru import _CON_KEYS, _INIT_KEYS, _REG_KEYS, _ser
from .recurrent_cell import RecurrentCell, cell_config

CELL_KEYS = ("units", "activation", "use_bias", *_INIT_KEYS, *_REG_KEYS, *_CON_KEYS, "dropout",
             "recurrent_dropout", "seed")


class SimpleRNNCell(RecurrentCell, Layer):
    """One step: `(x_t (B, D), [h (B, H)]) -> (h_t, [h_t])`; Keras's `SimpleRNNCell` arguments."""

    #: the fused kernel (`kernels.cells`) that runs this cell's sequences
    kernel_kind = "SimpleRNN"

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        keras2 = kwargs.pop("_keras2_activations", False)
        super().__init__(**kwargs)
        self._set_weight_args(
            units, use_bias, (kernel_initializer, recurrent_initializer, bias_initializer),
            (kernel_regularizer, recurrent_regularizer, bias_regularizer),
            (kernel_constraint, recurrent_constraint, bias_constraint), dropout,
            recurrent_dropout, seed)
        self.activation = _activations.get(activation, keras2=keras2)

    def build(self, input_shape):
        self._build_weights(input_shape, self.units, (self.units,))

    def _applies_rate(self, rate) -> bool:
        return rate > 0  # SimpleRNNCell.call applies any rate above 0 (a rate of 1 drops all)

    def step_fns(self, masks) -> _rr.StepFns:
        return _rr.simple_rnn_step_fns(
            self.kernel.value, self.recurrent_kernel.value,
            None if self.bias is None else self.bias.value, self.activation, *masks)

    def get_config(self):
        config = {**Layer.get_config(self), "units": self.units,
                  "activation": _activations.serialize(self.activation),
                  "use_bias": self.use_bias}
        for key in (*_INIT_KEYS, *_REG_KEYS, *_CON_KEYS):
            config[key] = _ser(key, getattr(self, key))
        config.update(dropout=self.dropout, recurrent_dropout=self.recurrent_dropout,
                      seed=self.seed)
        return config


class SimpleRNN(CellRNN):
    """Fully-connected RNN whose output is fed back as input; Keras 3's arguments.

    Args: as `SimpleRNNCell`, plus activity_regularizer and `RNN`'s (return_sequences,
    return_state, go_backwards, stateful, unroll, zero_output_for_mask, backend).

    Call: `layer(inputs (B, T, D), initial_state=[h0], mask=(B, T) bool, training=False)`.
    """

    cell_keys = CELL_KEYS

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, seed=None,
                 zero_output_for_mask=False, backend=None, **kwargs):
        cell = SimpleRNNCell(
            units, activation=activation, use_bias=use_bias,
            kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint, dropout=dropout,
            recurrent_dropout=recurrent_dropout, seed=seed, name="simple_rnn_cell",
            **cell_kwargs(kwargs, cell_only=("_keras2_activations",)))
        super().__init__(cell, activity_regularizer, return_sequences=return_sequences,
                         return_state=return_state, go_backwards=go_backwards,
                         stateful=stateful, unroll=unroll,
                         zero_output_for_mask=zero_output_for_mask, backend=backend, **kwargs)

    def get_config(self):
        # Keras's SimpleRNN.get_config leaves out the seed (its cell's config has it)
        return cell_config(self, CELL_KEYS[:-1], "kernel_constraint")
