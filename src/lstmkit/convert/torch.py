"""lstmkit <-> PyTorch: `to_torch`, `from_torch`, `load_torch_weights`.

`to_torch(layer_or_model)` returns a `torch.nn.Module` that computes what the
lstmkit object computes (same outputs, same order, within float rounding):
`LSTM` (or `RNN(LSTMCell)`) -> `KerasLSTM`, `GRU` / `SimpleRNN` (or `RNN` of their
cells) -> `KerasGRU` / `KerasSimpleRNN`, `RNN([cell, ...])` -> `KerasStackedRNN` (one
module per cell, run in order), `Bidirectional` -> `KerasBidirectional`, models -> a
module over the converted layers (see `_torch_models`). Each holds a `torch.nn.LSTM`,
`nn.GRU` or `nn.RNN` and runs it where PyTorch's semantics are Keras's.

`from_torch(module)` goes back: an `nn.LSTM` (any `num_layers`, `bidirectional`,
`batch_first`) becomes lstmkit layers; a module made by `to_torch` becomes the
lstmkit object it came from. `load_torch_weights(target, module)` copies trained
weights from a converted module (or a DistributedDataParallel wrapper) back
into the lstmkit object in place.

Example:
    >>> import numpy as np, torch
    >>> import lstmkit as lk
    >>> layer = lk.layers.LSTM(4, return_sequences=True)
    >>> x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    >>> y = layer(x)
    >>> module = lk.convert.to_torch(layer)
    >>> bool(np.allclose(module(torch.from_numpy(x)).detach().numpy(), y, atol=1e-5))
    True
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .. import activations as _activations
from ..layers import LSTM, Bidirectional
from ..layers.rnn import RNN
from . import _gates, _torch_gru, _torch_stacked
from ._torch_modules import ACTIVATIONS, KerasBidirectional, KerasLSTM, freeze_hidden_bias

_TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def activation_name(activation) -> str:
    """The `ACTIVATIONS` key of an lstmkit activation (Keras 2's hard_sigmoid is its own)."""
    if activation is _activations.hard_sigmoid_keras2:
        return "hard_sigmoid_keras2"
    name = activation.name
    if name not in ACTIVATIONS:
        raise ValueError(f"Activation {name!r} has no PyTorch equivalent in lstmkit.convert")
    return name


def _require_built(layer):
    if not layer.built:
        raise ValueError(
            f"Layer {layer.name!r} is not built, so it has no weights to convert; call it on "
            f"an input or build((batch, timesteps, features)) first"
        )


def _set_param(param: nn.Parameter, value: np.ndarray) -> None:
    with torch.no_grad():
        param.copy_(torch.as_tensor(np.asarray(value), dtype=param.dtype))


# -- LSTM ------------------------------------------------------------------------------
def lstm_to_torch(layer: LSTM) -> KerasLSTM:
    """An lstmkit `LSTM` (or `RNN(LSTMCell)`) -> `KerasLSTM` with the same weights and
    semantics."""
    _require_built(layer)
    if layer.stateful:
        raise ValueError(
            f"Layer {layer.name!r} is stateful: PyTorch modules keep no state between calls "
            f"in lstmkit.convert. Convert a stateful=False copy and pass initial_state=[h, c] "
            f"yourself (the states a stateful layer would carry)."
        )
    cell = layer.cell
    module = KerasLSTM(
        cell.input_dim, layer.units, activation=activation_name(cell.activation),
        recurrent_activation=activation_name(cell.recurrent_activation),
        use_bias=cell.use_bias, return_sequences=layer.return_sequences,
        return_state=layer.return_state, go_backwards=layer.go_backwards,
        zero_output_for_mask=layer.zero_output_for_mask, dropout=cell.dropout,
        recurrent_dropout=cell.recurrent_dropout, implementation=cell.implementation,
    ).to(_TORCH_DTYPES[layer.dtype])
    if isinstance(layer, LSTM):
        module.keras_config = layer.get_config()  # so from_torch rebuilds the same layer
    else:
        module.keras_entry = {"class_name": type(layer).__name__, "config": layer.get_config()}
    load_lstm_weights_into_torch(module, layer.get_weights())
    module.requires_grad_(layer.trainable)  # a frozen Keras layer stays frozen in torch
    return freeze_hidden_bias(module).eval()


def load_lstm_weights_into_torch(module: KerasLSTM, weights) -> None:
    """Set a `KerasLSTM`'s parameters from Keras weights [kernel, recurrent_kernel, (bias)]."""
    w_ih, w_hh, b_ih, b_hh = _gates.keras_to_torch(*weights)
    lstm = module.lstm
    _set_param(lstm.weight_ih_l0, w_ih)
    _set_param(lstm.weight_hh_l0, w_hh)
    if b_ih is not None:
        _set_param(lstm.bias_ih_l0, b_ih)
        _set_param(lstm.bias_hh_l0, b_hh)


def _lstm_weights(lstm: nn.LSTM, suffix: str) -> list:
    """Keras weights [kernel, recurrent_kernel, (bias)] of one layer/direction of an nn.LSTM."""
    def get(name):
        p = getattr(lstm, name + suffix, None)
        return None if p is None else p.detach().cpu().numpy()

    kernel, recurrent_kernel, bias = _gates.torch_to_keras(
        get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh"))
    return [kernel, recurrent_kernel] + ([] if bias is None else [bias])


def _keras_lstm_weights(module: KerasLSTM) -> list:
    return _lstm_weights(module.lstm, "_l0")


# -- Bidirectional ------------------------------------------------------------------------
def bidirectional_to_torch(layer: Bidirectional) -> KerasBidirectional:
    """An lstmkit `Bidirectional` -> `KerasBidirectional`."""
    _require_built(layer)
    module = KerasBidirectional(_rnn_to_torch(layer.forward_layer),
                                _rnn_to_torch(layer.backward_layer), layer.merge_mode)
    module.keras_config = layer.get_config()
    return module.eval()


# -- dispatch -----------------------------------------------------------------------------
def to_torch(obj) -> nn.Module:
    """Convert an lstmkit layer or model to an equivalent `torch.nn.Module`.

    Args:
        obj: a built `LSTM`, `GRU`, `SimpleRNN`, `RNN` (of one cell or a list of cells),
            `Bidirectional`, `Sequential` or functional `Model` made of supported layers.

    Returns:
        A module in eval mode whose call takes torch tensors as the lstmkit object
        takes arrays (`initial_state=`, `mask=` for layers) and returns Keras's outputs.

    Raises:
        ValueError: for a configuration PyTorch cannot express here (stateful layers,
            unsupported layers), naming the layer.
    """
    if isinstance(obj, Bidirectional):
        return bidirectional_to_torch(obj)
    if isinstance(obj, (LSTM, RNN)):
        return _rnn_to_torch(obj)
    from . import _torch_models

    return _torch_models.model_to_torch(obj)


def _rnn_to_torch(layer):
    """An LSTM (or RNN of an LSTMCell) -> KerasLSTM; a GRU / SimpleRNN (or RNN of one such
    cell) -> KerasGRU / KerasSimpleRNN; an RNN of stacked cells -> KerasStackedRNN."""
    kind = type(layer.cell).__name__
    if kind == "LSTMCell":
        return lstm_to_torch(layer)
    if kind == "GRUCell":
        return _torch_gru.gru_to_torch(layer)
    if kind == "SimpleRNNCell":
        return _torch_gru.simple_rnn_to_torch(layer)
    if kind == "StackedRNNCells":
        _require_built(layer)
        if layer.stateful:
            raise ValueError(f"Layer {layer.name!r} is stateful: PyTorch modules keep no state "
                             f"between calls; convert a stateful=False copy")
        return _torch_stacked.stacked_to_torch(
            layer, lambda cell, go_backwards, zero_output_for_mask: _rnn_to_torch(
                _cell_view(layer, cell, go_backwards, zero_output_for_mask)))
    raise ValueError(f"to_torch converts LSTM, GRU, SimpleRNN and RNN of LSTM, GRU or "
                     f"SimpleRNN cells (one, or a list); layer {layer.name!r} runs a {kind}")


def _cell_view(layer, cell, go_backwards, zero_output_for_mask):
    """A built `RNN(cell)` over one cell of `layer`'s stack (the same cell and weights),
    returning its sequence and states, for the per-cell conversion."""
    view = RNN(cell, return_sequences=True, return_state=True, go_backwards=go_backwards,
               zero_output_for_mask=zero_output_for_mask, name=f"{layer.name}/{cell.name}",
               dtype=layer.dtype, trainable=layer.trainable)
    view.built = True  # the cell is built; RNN.build would only rename its weight paths
    return view


def _module_weights(module) -> list:
    if isinstance(module, (_torch_gru.KerasGRU, _torch_gru.KerasSimpleRNN)):
        return _torch_gru.module_weights(module)
    if isinstance(module, _torch_stacked.KerasStackedRNN):
        return [w for cell in module.cells for w in _module_weights(cell)]
    return _keras_lstm_weights(module)


def _unwrap(module):
    # DistributedDataParallel and DataParallel keep the real module in `.module`.
    while isinstance(module, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
        module = module.module
    return module


def torch_weights(module) -> list:
    """Keras-ordered weights (list of arrays) of a module made by `to_torch`."""
    module = _unwrap(module)
    if isinstance(module, (KerasLSTM, _torch_gru.KerasGRU, _torch_gru.KerasSimpleRNN,
                           _torch_stacked.KerasStackedRNN)):
        return _module_weights(module)
    if isinstance(module, KerasBidirectional):
        return _module_weights(module.forward_layer) + _module_weights(module.backward_layer)
    from . import _torch_models

    return _torch_models.model_torch_weights(module)


def load_torch_weights(target, module) -> None:
    """Copy the weights of `module` (made by `to_torch(target)`, maybe trained) into `target`.

    Args:
        target: the lstmkit layer or model that `module` was converted from.
        module: the converted module, or a DistributedDataParallel wrapping it.
    """
    module = _unwrap(module)
    if isinstance(target, (LSTM, RNN, Bidirectional)):
        target.set_weights(torch_weights(module))
        return
    from . import _torch_models

    _torch_models.load_model_weights(target, module)


def from_torch(module, return_sequences=True, as_sequential=False):
    """Convert a PyTorch module to lstmkit.

    Args:
        module: a `torch.nn.LSTM`, or a module made by `to_torch`.
        return_sequences: for an `nn.LSTM`, whether the last lstmkit layer returns the
            whole sequence (what `nn.LSTM` returns as `output`) or only the last step.
        as_sequential: for an `nn.LSTM`, return an `lk.Sequential` (input (None, None, D))
            instead of the list of layers.

    Returns:
        For an `nn.LSTM`: a list of lstmkit layers, one per PyTorch layer (an `LSTM`, or a
        `Bidirectional(LSTM, merge_mode="concat")`), built and holding the weights;
        apply them in order to batch-major input (B, T, D) (transpose `batch_first=False`
        input first). An `nn.LSTM(dropout=p)` also gets `Dropout(p)` layers between its
        layers (active in training only, as in PyTorch). For a `to_torch` module: the
        lstmkit layer or model it came from.

    Raises:
        ValueError: `proj_size > 0` (LSTMP has no Keras equivalent) or an unknown module.
    """
    module = _unwrap(module)
    if isinstance(module, nn.LSTM):
        layers = _from_nn_lstm(module, return_sequences)
        if not as_sequential:
            return layers
        from ..layers import Input
        from ..models import Sequential

        return Sequential([Input((None, module.input_size), dtype=layers[0].dtype), *layers])
    if isinstance(module, (nn.GRU, nn.RNN)):
        layers = _torch_gru.from_nn_rnn(module, return_sequences)
        if not as_sequential:
            return layers
        from ..layers import Input
        from ..models import Sequential

        return Sequential([Input((None, module.input_size), dtype=layers[0].dtype), *layers])
    if isinstance(module, (_torch_gru.KerasGRU, _torch_gru.KerasSimpleRNN)):
        return _torch_gru.module_to_layer(module)
    if hasattr(module, "keras_entry"):  # RNN(LSTMCell), RNN of stacked cells
        from ..layers import deserialize

        layer = deserialize(dict(module.keras_entry))
        first = module.cells[0] if hasattr(module, "cells") else module
        layer.build((None, None, first.lstm.input_size if hasattr(first, "lstm") else (
            first.rnn.input_size if hasattr(first, "rnn") else first.kernel.shape[0])))
        layer.set_weights(torch_weights(module))
        return layer
    if isinstance(module, KerasLSTM):
        layer = LSTM.from_config(dict(getattr(module, "keras_config", None)
                                      or _keras_lstm_config(module)))
        layer.build((None, None, module.lstm.input_size))
        layer.set_weights(_keras_lstm_weights(module))
        return layer
    if isinstance(module, KerasBidirectional):
        config = getattr(module, "keras_config", None)
        if config is None:
            config = {"merge_mode": module.merge_mode,
                      "layer": {"class_name": "LSTM",
                                "config": _keras_lstm_config(module.forward_layer)},
                      "backward_layer": {"class_name": "LSTM",
                                         "config": _keras_lstm_config(module.backward_layer)}}
        layer = Bidirectional.from_config(dict(config))
        fwd = module.forward_layer
        size = fwd.lstm.input_size if hasattr(fwd, "lstm") else (
            fwd.rnn.input_size if hasattr(fwd, "rnn") else fwd.kernel.shape[0])
        layer.build((None, None, size))
        layer.set_weights(torch_weights(module))
        return layer
    from . import _torch_models

    if isinstance(module, _torch_models.KerasModel):
        return _torch_models.model_from_torch(module)
    raise ValueError(
        f"from_torch converts torch.nn.LSTM, nn.GRU, nn.RNN and modules made by "
        f"lstmkit.convert.to_torch; "
        f"got {type(module).__name__}"
    )


def _keras_lstm_config(module: KerasLSTM) -> dict:
    keras2 = module.activation == "hard_sigmoid_keras2" or (
        module.recurrent_activation == "hard_sigmoid_keras2")
    config = {
        "units": module.units,
        "activation": module.activation.replace("_keras2", ""),
        "recurrent_activation": module.recurrent_activation.replace("_keras2", ""),
        "use_bias": bool(module.lstm.bias), "return_sequences": module.return_sequences,
        "return_state": module.return_state, "go_backwards": module.go_backwards,
        "zero_output_for_mask": module.zero_output_for_mask, "dropout": module.dropout,
        "recurrent_dropout": module.recurrent_dropout,
        "dtype": str(module.lstm.weight_ih_l0.dtype).replace("torch.", ""),
    }
    if keras2:
        config["_keras2_activations"] = True
    return config


def _from_nn_lstm(lstm: nn.LSTM, return_sequences: bool) -> list:
    if lstm.proj_size:
        raise ValueError(
            f"torch.nn.LSTM with proj_size={lstm.proj_size} (LSTM with projections, LSTMP) "
            f"has no Keras LSTM equivalent: Keras's h is the full (units,) state"
        )
    if lstm.mode != "LSTM":
        raise ValueError(f"Expected an LSTM, got a torch RNN of mode {lstm.mode!r}")
    dtype = str(lstm.weight_ih_l0.dtype).replace("torch.", "")
    if dtype not in _TORCH_DTYPES:
        raise ValueError(f"lstmkit layers are float32 or float64; this nn.LSTM is {dtype}")
    H, layers = lstm.hidden_size, []
    size = lstm.input_size
    for k in range(lstm.num_layers):
        last = k == lstm.num_layers - 1
        config = {"units": H, "use_bias": bool(lstm.bias), "dtype": dtype,
                      "return_sequences": return_sequences or not last}
        weights = _lstm_weights(lstm, f"_l{k}")
        if lstm.bidirectional:
            layer = Bidirectional(LSTM(**config), merge_mode="concat")
            weights += _lstm_weights(lstm, f"_l{k}_reverse")
        else:
            layer = LSTM(**config)
        layer.build((None, None, size))
        layer.set_weights(weights)
        layers.append(layer)
        size = H * (2 if lstm.bidirectional else 1)
        if lstm.dropout and not last:
            # nn.LSTM's inter-layer dropout: elementwise on each layer's output sequence
            # in training, as Keras's Dropout layer does on (B, T, H).
            from ..layers import Dropout

            layers.append(Dropout(float(lstm.dropout)))
    return layers
