"""What `LSTM`, `GRU` and `SimpleRNN` share as layers: each is an `RNN` over the cell it
builds from its own arguments (as keras/src/layers/rnn/lstm.py builds its `LSTMCell`), and
Keras exposes that cell's arguments on the layer (`layer.units`, `layer.dropout`, ...).

Example:
    >>> import lstmkit as lk
    >>> layer = lk.layers.GRU(4, dropout=0.25)
    >>> layer.dropout, layer.cell.dropout
    (0.25, 0.25)
"""

from __future__ import annotations

from .. import regularizers as _regularizers
from .rnn import RNN


def cell_kwargs(kwargs: dict, cell_only=("implementation", "_keras2_activations")) -> dict:
    """The keyword arguments a layer gives its cell besides the cell's own: `cell_only`
    (popped from the layer's `kwargs`) and the layer's dtype and trainable."""
    out = {key: kwargs.pop(key) for key in cell_only if key in kwargs}
    return {**out, "dtype": kwargs.get("dtype"), "trainable": kwargs.get("trainable", True)}


def check_use_cudnn(use_cudnn):
    """Keras's `use_cudnn` values: "auto", True or False."""
    if use_cudnn not in ("auto", True, False):
        raise ValueError(
            f"Invalid value received for argument `use_cudnn`. Expected one of "
            f"{{'auto', True, False}}. Received: use_cudnn={use_cudnn!r}")
    return use_cudnn


def _cell_property(key):
    return property(lambda self: getattr(self.cell, key),
                    doc=f"The cell's `{key}` (Keras exposes the cell's arguments on the layer).")


class CellRNN(RNN):
    """An `RNN` over a cell made from the layer's arguments, with an activity regularizer.

    A subclass names the cell's arguments in `cell_keys`: each becomes a read-only
    property of the layer, as do the cell's weights and `input_dim`.
    """

    cell_keys: tuple = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "cell_keys" in vars(cls):  # the class that declares them (not its subclasses)
            for key in (*cls.cell_keys, "kernel", "recurrent_kernel", "bias", "input_dim"):
                if key != "units":  # RNN.units: the cell's output size
                    setattr(cls, key, _cell_property(key))

    def __init__(self, cell, activity_regularizer=None, **kwargs):
        super().__init__(cell, **kwargs)
        self.activity_regularizer = _regularizers.get(activity_regularizer)

    @classmethod
    def from_config(cls, config):
        return cls(**config)
