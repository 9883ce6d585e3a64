"""GRU and SimpleRNN <-> `torch.nn.GRU` / `torch.nn.RNN`, with Keras's semantics.

PyTorch's GRU is Keras's `reset_after=True` GRU (cuDNN's form) with the gates in the
order r, z, n instead of Keras's z, r, h, weights transposed, and Keras's (2, 3H)
bias as `bias_ih` (row 0) and `bias_hh` (row 1):

    n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),   h' = (1 - z) * n + z * h

`nn.RNN` is Keras's SimpleRNN (tanh or relu) with two biases (summed for Keras).

`KerasGRU` / `KerasSimpleRNN` hold the `nn.GRU` / `nn.RNN` and run it where PyTorch's
semantics are Keras's (no mask, tanh/sigmoid, reset_after=True for the GRU, no dropout in
training); otherwise they run Keras's loop (masks, go_backwards, other activations,
reset_after=False, and in training Keras's dropout: one input and one recurrent mask
per call, the same at every step; one per gate for a GRU with recurrent dropout), as
`KerasLSTM` does.

Example:
    >>> import numpy as np, torch
    >>> import lstmkit as lk
    >>> layer = lk.layers.GRU(4, return_sequences=True)
    >>> x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    >>> y = layer(x)
    >>> module = lk.convert.to_torch(layer)
    >>> bool(np.allclose(module(torch.from_numpy(x)).detach().numpy(), y, atol=1e-5))
    True
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._torch_modules import ACTIVATIONS

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


# -- weight layouts ----------------------------------------------------------------------
def _swap_zr(a, axis):
    """Keras z, r, h <-> PyTorch r, z, n (swapping the first two blocks is its own inverse)."""
    z, r, h = np.split(np.asarray(a), 3, axis=axis)
    return np.concatenate([r, z, h], axis=axis)


def gru_keras_to_torch(kernel, recurrent_kernel, bias=None):
    """Keras GRU(reset_after=True) weights -> (weight_ih (3H, D), weight_hh (3H, H),
    bias_ih (3H,) or None, bias_hh (3H,) or None) in PyTorch's gate order r, z, n."""
    w_ih = np.ascontiguousarray(_swap_zr(kernel, -1).T)
    w_hh = np.ascontiguousarray(_swap_zr(recurrent_kernel, -1).T)
    if bias is None:
        return w_ih, w_hh, None, None
    bias = np.asarray(bias)
    if bias.ndim != 2:
        raise ValueError(f"PyTorch's GRU is Keras's reset_after=True GRU with a (2, 3H) bias; "
                         f"got a bias of shape {bias.shape} (reset_after=False)")
    return w_ih, w_hh, _swap_zr(bias[0], -1), _swap_zr(bias[1], -1)


def gru_torch_to_keras(weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """PyTorch GRU weights -> Keras GRU(reset_after=True) [kernel, recurrent_kernel, (bias)]."""
    out = [_swap_zr(np.asarray(weight_ih).T, -1), _swap_zr(np.asarray(weight_hh).T, -1)]
    if bias_ih is not None:
        out.append(np.stack([_swap_zr(bias_ih, -1), _swap_zr(bias_hh, -1)]))
    return out


# -- modules -----------------------------------------------------------------------------
class _KerasCellModule(nn.Module):
    """What KerasGRU and KerasSimpleRNN share: outputs, go_backwards, masks, the loop."""

    def forward(self, x, initial_state=None, mask=None):
        B = x.shape[0]
        h = x.new_zeros(B, self.units) if initial_state is None else initial_state[0]
        if mask is not None:
            mask = torch.as_tensor(mask, device=x.device).to(torch.bool)  # (B, T)
        if self.go_backwards:
            x = torch.flip(x, (1,))  # outputs stay in processing order, as in Keras
            mask = None if mask is None else torch.flip(mask, (1,))
        if mask is None and self.native() and not self._dropping():
            y, h_n = self.rnn(x, h[None])  # (B, T, H), (1, B, H)
            h = h_n[0]
        else:
            y, h = self._loop(x, h, mask)
        out = y if self.return_sequences else y[:, -1]
        return (out, h) if self.return_state else out

    def compute_mask(self, inputs, mask=None):
        """Keras <= 3.15: the mask passes on with return_sequences; the state gets None."""
        out = mask if self.return_sequences else None
        return [out, None] if self.return_state else out

    def _dropping(self) -> bool:
        return self.training and (self._rate_used(self.dropout)
                                  or self._rate_used(self.recurrent_dropout))

    def _dropout_masks(self, x):
        """Keras's DropoutRNNCell masks: drawn once per call, the same at every step;
        (3, B, .) per gate for a GRU with implementation 1, else (B, .)."""
        B, _, D = x.shape
        lead = (3,) if getattr(self, "implementation", 2) == 1 else ()
        dm = rm = None
        if self.training and self._rate_used(self.dropout):
            dm = F.dropout(x.new_ones(*lead, B, D), self.dropout, True)
        if self.training and self._rate_used(self.recurrent_dropout):
            rm = F.dropout(x.new_ones(*lead, B, self.units), self.recurrent_dropout, True)
        return dm, rm

    def _loop(self, x, h, mask):
        prev_out = x.new_zeros(x.shape[0], self.units)
        outputs = []
        dm, rm = self._dropout_masks(x)
        for t in range(x.shape[1]):
            h_new = self.step(x[:, t], h, dm, rm)
            if mask is None:
                h, out = h_new, h_new
            else:
                m = mask[:, t, None]  # (B, 1)
                h = torch.where(m, h_new, h)
                out = torch.where(m, h_new, torch.zeros_like(h_new)
                                  if self.zero_output_for_mask else prev_out)
            outputs.append(out)
            prev_out = out
        return torch.stack(outputs, 1), h


class KerasGRU(_KerasCellModule):
    """Keras's `GRU` layer in PyTorch; call as `module(x, initial_state=[h0], mask=None)`.

    With reset_after=False (no PyTorch equivalent) the weights live in Keras's own layout
    as parameters `kernel`, `recurrent_kernel`, `bias` and the loop always runs.
    """

    def __init__(self, input_size, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, reset_after=True, return_sequences=False, return_state=False,
                 go_backwards=False, zero_output_for_mask=False, dropout=0.0,
                 recurrent_dropout=0.0, implementation=2):
        super().__init__()
        self.units, self.reset_after = units, reset_after
        self.dropout, self.recurrent_dropout = float(dropout), float(recurrent_dropout)
        self.implementation = 1 if recurrent_dropout > 0 else implementation
        self.activation, self.recurrent_activation = activation, recurrent_activation
        self.return_sequences, self.return_state = return_sequences, return_state
        self.go_backwards, self.zero_output_for_mask = go_backwards, zero_output_for_mask
        if reset_after:
            self.rnn = nn.GRU(input_size, units, bias=use_bias, batch_first=True)
        else:
            self.kernel = nn.Parameter(torch.zeros(input_size, 3 * units))
            self.recurrent_kernel = nn.Parameter(torch.zeros(units, 3 * units))
            self.bias = nn.Parameter(torch.zeros(3 * units)) if use_bias else None

    def native(self):
        return self.reset_after and (self.activation, self.recurrent_activation) == (
            "tanh", "sigmoid")

    @staticmethod
    def _rate_used(rate):
        return 0 < rate < 1  # GRUCell.call applies a mask only then

    def step(self, x_t, h, dm=None, rm=None):
        sigma, phi, H = ACTIVATIONS[self.recurrent_activation], ACTIVATIONS[self.activation], \
            self.units
        # the inputs and states that meet gates z, r, h (Keras's order), dropout applied
        xs = [x_t if dm is None else x_t * (dm[k] if dm.dim() == 3 else dm) for k in range(3)]
        hs = [h if rm is None else h * (rm[k] if rm.dim() == 3 else rm) for k in range(3)]
        if self.reset_after:  # PyTorch's layout: rows r, z, n
            rows = [slice(H, 2 * H), slice(0, H), slice(2 * H, 3 * H)]  # Keras's z, r, h
            gi = [xs[k] @ self.rnn.weight_ih_l0[rows[k]].T for k in range(3)]  # 3 x (B, H)
            gh = [hs[k] @ self.rnn.weight_hh_l0[rows[k]].T for k in range(3)]
            if self.rnn.bias:
                gi = [gi[k] + self.rnn.bias_ih_l0[rows[k]] for k in range(3)]
                gh = [gh[k] + self.rnn.bias_hh_l0[rows[k]] for k in range(3)]
            z, r = sigma(gi[0] + gh[0]), sigma(gi[1] + gh[1])
            hh = phi(gi[2] + r * gh[2])
        else:  # Keras's layout: columns z, r, h
            cols = [slice(k * H, (k + 1) * H) for k in range(3)]
            gi = [xs[k] @ self.kernel[:, cols[k]] for k in range(3)]  # 3 x (B, H)
            if self.bias is not None:
                gi = [gi[k] + self.bias[cols[k]] for k in range(3)]
            z = sigma(gi[0] + hs[0] @ self.recurrent_kernel[:, cols[0]])
            r = sigma(gi[1] + hs[1] @ self.recurrent_kernel[:, cols[1]])
            hh = phi(gi[2] + (r * hs[2]) @ self.recurrent_kernel[:, cols[2]])
        return z * h + (1 - z) * hh


class KerasSimpleRNN(_KerasCellModule):
    """Keras's `SimpleRNN` in PyTorch (an `nn.RNN` inside); `module(x, initial_state, mask)`."""

    def __init__(self, input_size, units, activation="tanh", use_bias=True,
                 return_sequences=False, return_state=False, go_backwards=False,
                 zero_output_for_mask=False, dropout=0.0, recurrent_dropout=0.0):
        super().__init__()
        self.units, self.activation = units, activation
        self.dropout, self.recurrent_dropout = float(dropout), float(recurrent_dropout)
        self.return_sequences, self.return_state = return_sequences, return_state
        self.go_backwards, self.zero_output_for_mask = go_backwards, zero_output_for_mask
        nonlinearity = activation if activation in ("tanh", "relu") else "tanh"
        self.rnn = nn.RNN(input_size, units, nonlinearity=nonlinearity, bias=use_bias,
                          batch_first=True)
        if use_bias:  # Keras has one bias: bias_ih is it, bias_hh stays zero (and frozen)
            with torch.no_grad():
                self.rnn.bias_hh_l0.zero_()
            self.rnn.bias_hh_l0.requires_grad_(False)

    def native(self):
        return self.activation in ("tanh", "relu")

    @staticmethod
    def _rate_used(rate):
        return rate > 0  # SimpleRNNCell.call applies a mask whenever its rate is above 0

    def step(self, x_t, h, dm=None, rm=None):
        x_t = x_t if dm is None else x_t * dm
        h = h if rm is None else h * rm
        a = x_t @ self.rnn.weight_ih_l0.T + h @ self.rnn.weight_hh_l0.T
        if self.rnn.bias:
            a = a + self.rnn.bias_ih_l0 + self.rnn.bias_hh_l0
        return ACTIVATIONS[self.activation](a)


# -- lstmkit <-> modules ------------------------------------------------------------------
def _set(param, value):
    with torch.no_grad():
        param.copy_(torch.as_tensor(np.asarray(value), dtype=param.dtype))


def _check(layer):
    if not layer.built:
        raise ValueError(f"Layer {layer.name!r} is not built, so it has no weights to convert; "
                         f"call it on an input first")
    if layer.stateful:
        raise ValueError(f"Layer {layer.name!r} is stateful: PyTorch modules keep no state "
                         f"between calls; convert a stateful=False copy")
    for act in (layer.cell.activation, getattr(layer.cell, "recurrent_activation", None)):
        if act is not None and act.name not in ACTIVATIONS:
            raise ValueError(f"Activation {act.name!r} has no PyTorch equivalent here")


def gru_to_torch(layer) -> KerasGRU:
    """An lstmkit `GRU` (or `RNN(GRUCell)`) -> `KerasGRU` with the same weights."""
    _check(layer)
    cell = layer.cell
    module = KerasGRU(cell.input_dim, cell.units, cell.activation.name,
                      cell.recurrent_activation.name, cell.use_bias, cell.reset_after,
                      layer.return_sequences, layer.return_state, layer.go_backwards,
                      layer.zero_output_for_mask, cell.dropout, cell.recurrent_dropout,
                      cell.implementation).to(_DTYPES[layer.dtype])
    module.keras_entry = {"class_name": type(layer).__name__, "config": layer.get_config()}
    weights = layer.get_weights()
    if cell.reset_after:
        w_ih, w_hh, b_ih, b_hh = gru_keras_to_torch(*weights)
        _set(module.rnn.weight_ih_l0, w_ih)
        _set(module.rnn.weight_hh_l0, w_hh)
        if b_ih is not None:
            _set(module.rnn.bias_ih_l0, b_ih)
            _set(module.rnn.bias_hh_l0, b_hh)
    else:
        for param, value in zip((module.kernel, module.recurrent_kernel, module.bias), weights):
            _set(param, value)
    return module.requires_grad_(layer.trainable).eval()


def simple_rnn_to_torch(layer) -> KerasSimpleRNN:
    """An lstmkit `SimpleRNN` (or `RNN(SimpleRNNCell)`) -> `KerasSimpleRNN`."""
    _check(layer)
    cell = layer.cell
    module = KerasSimpleRNN(cell.input_dim, cell.units, cell.activation.name, cell.use_bias,
                            layer.return_sequences, layer.return_state, layer.go_backwards,
                            layer.zero_output_for_mask, cell.dropout,
                            cell.recurrent_dropout).to(_DTYPES[layer.dtype])
    module.keras_entry = {"class_name": type(layer).__name__, "config": layer.get_config()}
    kernel, recurrent_kernel, *bias = layer.get_weights()
    _set(module.rnn.weight_ih_l0, kernel.T)
    _set(module.rnn.weight_hh_l0, recurrent_kernel.T)
    if bias:
        _set(module.rnn.bias_ih_l0, bias[0])
    module.requires_grad_(layer.trainable)
    if cell.use_bias:
        module.rnn.bias_hh_l0.requires_grad_(False)
    return module.eval()


def module_weights(module) -> list:
    """Keras-ordered weights of a `KerasGRU` / `KerasSimpleRNN`."""
    def get(name):
        p = getattr(module.rnn, name, None)
        return None if p is None else p.detach().cpu().numpy()

    if isinstance(module, KerasGRU):
        if not module.reset_after:
            return [p.detach().cpu().numpy() for p in
                    (module.kernel, module.recurrent_kernel, module.bias) if p is not None]
        return gru_torch_to_keras(get("weight_ih_l0"), get("weight_hh_l0"), get("bias_ih_l0"),
                                  get("bias_hh_l0"))
    out = [get("weight_ih_l0").T, get("weight_hh_l0").T]
    if module.rnn.bias:
        out.append(get("bias_ih_l0") + get("bias_hh_l0"))
    return out


def module_to_layer(module):
    """The lstmkit layer a `KerasGRU` / `KerasSimpleRNN` came from, with its weights."""
    from .. import layers

    layer = layers.deserialize(dict(module.keras_entry))
    input_size = module.rnn.input_size if hasattr(module, "rnn") else module.kernel.shape[0]
    layer.build((None, None, input_size))
    layer.set_weights(module_weights(module))
    return layer


def _keras_weights(rnn, suffix) -> list:
    """Keras weights of one layer/direction (`suffix` "_l0", "_l0_reverse", ...)."""
    def get(name):
        p = getattr(rnn, name + suffix, None)
        return None if p is None else p.detach().cpu().numpy()

    if isinstance(rnn, nn.GRU):
        return gru_torch_to_keras(get("weight_ih"), get("weight_hh"), get("bias_ih"),
                                  get("bias_hh"))
    out = [get("weight_ih").T, get("weight_hh").T]
    return out + ([get("bias_ih") + get("bias_hh")] if rnn.bias else [])


def from_nn_rnn(rnn, return_sequences=True) -> list:
    """lstmkit layers for an `nn.GRU` (-> GRU(reset_after=True)) or `nn.RNN` (-> SimpleRNN):
    one per PyTorch layer, `Bidirectional(..., merge_mode="concat")` when bidirectional."""
    from ..layers import GRU, Bidirectional, SimpleRNN

    dtype = str(rnn.weight_ih_l0.dtype).replace("torch.", "")
    if dtype not in _DTYPES:
        raise ValueError(f"lstmkit layers are float32 or float64; this module is {dtype}")
    if rnn.dropout:
        raise ValueError(f"{type(rnn).__name__}(dropout={rnn.dropout}) between layers is not "
                         f"converted; set dropout=0 or add Dropout layers yourself")
    layers, size = [], rnn.input_size
    for k in range(rnn.num_layers):
        config = {"units": rnn.hidden_size, "use_bias": bool(rnn.bias), "dtype": dtype,
                  "return_sequences": return_sequences or k < rnn.num_layers - 1}
        if isinstance(rnn, nn.GRU):
            config["reset_after"] = True
        else:
            config["activation"] = rnn.nonlinearity
        cls = GRU if isinstance(rnn, nn.GRU) else SimpleRNN
        weights = []
        for suffix in [f"_l{k}"] + ([f"_l{k}_reverse"] if rnn.bidirectional else []):
            weights += _keras_weights(rnn, suffix)
        layer = Bidirectional(cls(**config), merge_mode="concat") if rnn.bidirectional \
            else cls(**config)
        layer.build((None, None, size))
        layer.set_weights(weights)
        layers.append(layer)
        size = rnn.hidden_size * (2 if rnn.bidirectional else 1)
    return layers
