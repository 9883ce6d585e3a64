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

from .. import regularizers as _regularizers
from .cell_rnn import CellRNN, cell_kwargs, check_use_cudnn
from .lstm_cell import LSTMCell
from .rnn import RNNCache

LSTMCache = RNNCache  # the name `LSTM.forward`'s cache had before RNN was factored out

CELL_KEYS = (
    "units", "activation", "recurrent_activation", "use_bias", "kernel_initializer",
    "recurrent_initializer", "bias_initializer", "unit_forget_bias", "kernel_regularizer",
    "recurrent_regularizer", "bias_regularizer", "kernel_constraint", "recurrent_constraint",
    "bias_constraint", "dropout", "recurrent_dropout", "seed",
)


class LSTM(CellRNN):
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

    cell_keys = (*CELL_KEYS, "implementation")

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, unroll=False,
                 use_cudnn="auto", zero_output_for_mask=False, backend=None, **kwargs):
        cell = LSTMCell(
            units, activation=activation, recurrent_activation=recurrent_activation,
            use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            unit_forget_bias=unit_forget_bias, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint, dropout=dropout,
            recurrent_dropout=recurrent_dropout, seed=seed, name="lstm_cell",
            **cell_kwargs(kwargs))
        super().__init__(cell, activity_regularizer, return_sequences=return_sequences,
                         return_state=return_state, go_backwards=go_backwards,
                         stateful=stateful, unroll=unroll,
                         zero_output_for_mask=zero_output_for_mask, backend=backend, **kwargs)
        self.use_cudnn = check_use_cudnn(use_cudnn)

    # -- config ----------------------------------------------------------------------
    def get_config(self):
        cell = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell.pop(key)
        config = super().get_config()  # RNN's keys
        config.pop("cell")
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
