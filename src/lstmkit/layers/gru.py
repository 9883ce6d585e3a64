"""`GRUCell` and `GRU`, as keras/src/layers/rnn/gru.py (Cho et al., 2014).

Weights: kernel (D, 3H), recurrent_kernel (H, 3H), gates z, r, h; bias (2, 3H) with
`reset_after=True` (Keras 3's default: input and recurrent bias, cuDNN's form) or
(3H,) with `reset_after=False`. The step is `reference_gru.gru_step`. A GRU has one
state: `return_state=True` gives `(output, h)`.

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> x = np.random.normal(size=(32, 10, 8)).astype("float32")
    >>> lk.layers.GRU(4)(x).shape
    (32, 4)
    >>> seq, h = lk.layers.GRU(4, return_sequences=True, return_state=True)(x)
    >>> seq.shape, h.shape
    ((32, 10, 4), (32, 4))
"""

from __future__ import annotations

from .. import activations as _activations
from .. import constraints as _constraints
from .. import initializers as _initializers
from .. import reference_rnn as _rr
from .. import regularizers as _regularizers
from .base import Layer
from .cell_rnn import CellRNN, cell_kwargs, check_use_cudnn
from .recurrent_cell import RecurrentCell, cell_config

_INIT_KEYS = ("kernel_initializer", "recurrent_initializer", "bias_initializer")
_REG_KEYS = ("kernel_regularizer", "recurrent_regularizer", "bias_regularizer")
_CON_KEYS = ("kernel_constraint", "recurrent_constraint", "bias_constraint")
CELL_KEYS = ("units", "activation", "recurrent_activation", "use_bias", *_INIT_KEYS, *_REG_KEYS,
             *_CON_KEYS, "dropout", "recurrent_dropout", "reset_after", "seed")


def _ser(key, value):
    if key.endswith("initializer"):
        return _initializers.serialize(value)
    if key.endswith("regularizer"):
        return _regularizers.serialize(value)
    if key.endswith("constraint"):
        return _constraints.serialize(value)
    return value


class GRUCell(RecurrentCell, Layer):
    """One GRU step: `(x_t (B, D), [h (B, H)]) -> (h_t, [h_t])`.

    Args: as Keras's `GRUCell` (units, activation, recurrent_activation, use_bias,
    initializers, regularizers, constraints, dropout, recurrent_dropout, reset_after,
    seed). Recurrent dropout makes Keras use implementation 1: one mask per gate.
    """

    #: the fused kernel (`kernels.cells`) that runs this cell's sequences
    kernel_kind = "GRU"
    dropout_gates = 3  # z, r, h: one mask each in implementation 1

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, reset_after=True,
                 seed=None, **kwargs):
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
        self.reset_after = bool(reset_after)
        self.implementation = 1 if self.recurrent_dropout != 0 else implementation

    def build(self, input_shape):
        # bias (2, 3H): the input and the recurrent bias (Keras: "intentionally different
        # from CuDNNGRU's (6H,)", so that loaders can tell them apart)
        H = self.units
        self._build_weights(input_shape, 3 * H, (2, 3 * H) if self.reset_after else (3 * H,))

    def step_fns(self, masks) -> _rr.StepFns:
        return _rr.gru_step_fns(
            self.kernel.value, self.recurrent_kernel.value,
            None if self.bias is None else self.bias.value, self.reset_after, self.activation,
            self.recurrent_activation, *masks)

    def get_config(self):
        config = {**Layer.get_config(self), "units": self.units,
                  "activation": _activations.serialize(self.activation),
                  "recurrent_activation": _activations.serialize(self.recurrent_activation),
                  "use_bias": self.use_bias}
        for key in (*_INIT_KEYS, *_REG_KEYS, *_CON_KEYS):
            config[key] = _ser(key, getattr(self, key))
        config.update(dropout=self.dropout, recurrent_dropout=self.recurrent_dropout,
                      reset_after=self.reset_after, seed=self.seed)
        return config


class GRU(CellRNN):
    """Gated Recurrent Unit layer, Keras 3's arguments (`GRUCell`'s plus `RNN`'s).

    Args:
        units, activation, recurrent_activation, use_bias, *_initializer, *_regularizer,
        *_constraint, dropout, recurrent_dropout, reset_after, seed: as `GRUCell`.
        activity_regularizer: a regularizer on the layer's output (applied in training).
        return_sequences, return_state, go_backwards, stateful, unroll,
        zero_output_for_mask, backend: as `RNN`.
        use_cudnn: "auto", True or False (True asks for a fused kernel, which lstmkit has
            for the LSTM only: an error).

    Call: `layer(inputs (B, T, D), initial_state=[h0], mask=(B, T) bool, training=False)`.
    """

    cell_keys = (*CELL_KEYS, "implementation")

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, reset_after=True,
                 use_cudnn="auto", zero_output_for_mask=False, backend=None, **kwargs):
        cell = GRUCell(
            units, activation=activation, recurrent_activation=recurrent_activation,
            use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint,
            dropout=dropout, recurrent_dropout=recurrent_dropout, reset_after=reset_after,
            seed=seed, name="gru_cell", **cell_kwargs(kwargs))
        super().__init__(cell, activity_regularizer, return_sequences=return_sequences,
                         return_state=return_state, go_backwards=go_backwards,
                         stateful=stateful, unroll=unroll,
                         zero_output_for_mask=zero_output_for_mask, backend=backend, **kwargs)
        self.use_cudnn = check_use_cudnn(use_cudnn)

    def get_config(self):
        return cell_config(self, CELL_KEYS, "kernel_constraint")
