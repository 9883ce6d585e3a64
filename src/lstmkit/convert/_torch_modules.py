"""PyTorch modules with Keras's LSTM semantics (what `lk.convert.to_torch` returns).

`KerasLSTM` holds a `torch.nn.LSTM` (one layer, batch_first) for its weights
and runs it directly where PyTorch's semantics are Keras's: tanh/sigmoid, no
mask, no dropout in training. Otherwise it runs a loop over time that follows
Keras's generic `rnn()` (keras/src/backend/torch/rnn.py): masked steps keep h
and c and repeat the previous output (or zeros with `zero_output_for_mask`),
any Keras activation, Keras's variational dropout masks. `go_backwards`
returns the sequence in processing (reversed) order, as Keras does.

This module imports only torch, so the classes work without the rest of lstmkit.

Example:
    >>> import torch
    >>> from lstmkit.convert._torch_modules import KerasLSTM
    >>> m = KerasLSTM(3, 4, return_sequences=True, return_state=True)
    >>> y, h, c = m(torch.zeros(2, 5, 3))
    >>> tuple(y.shape), tuple(h.shape), tuple(c.shape)
    ((2, 5, 4), (2, 4), (2, 4))
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _hard_sigmoid_keras2(x):
    return torch.clamp(0.2 * x + 0.5, 0.0, 1.0)  # tf_keras/backend.py


#: Keras activation name -> the same formula in torch ("hard_sigmoid" is Keras 3's).
ACTIVATIONS = {
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "hard_sigmoid": F.hardsigmoid,  # relu6(x + 3) / 6
    "hard_sigmoid_keras2": _hard_sigmoid_keras2,
    "relu": F.relu,
    "linear": lambda x: x,
    "softsign": F.softsign,
    "softplus": F.softplus,
    "elu": F.elu,
    "selu": F.selu,
    "gelu": F.gelu,  # exact (erf), as Keras's approximate=False
    "silu": F.silu,
    "exponential": torch.exp,
    "relu6": F.relu6,
    "hard_tanh": F.hardtanh,
    "softmax": lambda x: F.softmax(x, -1),  # Dense/Activation outputs; not for LSTM gates
    "log_softmax": lambda x: F.log_softmax(x, -1),
}


def freeze_hidden_bias(module: nn.Module) -> nn.Module:
    """Keep `bias_hh` of every `KerasLSTM` in `module` out of training (see KerasLSTM)."""
    for sub in module.modules():
        if isinstance(sub, KerasLSTM) and sub.lstm.bias:
            sub.lstm.bias_hh_l0.requires_grad_(False)
    return module


class KerasLSTM(nn.Module):
    """Keras's `LSTM` layer in PyTorch.

    Args:
        input_size: D, features per step.
        units: H.
        activation, recurrent_activation: Keras names (keys of `ACTIVATIONS`).
        use_bias, return_sequences, return_state, go_backwards, zero_output_for_mask,
        dropout, recurrent_dropout, implementation: as Keras's `LSTM`.

    Call: `module(x (B, T, D), initial_state=[h0, c0] or None, mask=(B, T) bool or None)`
    returns what Keras returns: `y`, or `(y, h, c)` with `return_state`; y is (B, T, H)
    with `return_sequences`, else (B, H).
    """

    def __init__(self, input_size, units, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, return_sequences=False, return_state=False,
                 go_backwards=False, zero_output_for_mask=False, dropout=0.0,
                 recurrent_dropout=0.0, implementation=2):
        super().__init__()
        for name in (activation, recurrent_activation):
            if name not in ACTIVATIONS:
                raise ValueError(
                    f"Unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}")
        self.lstm = nn.LSTM(input_size, units, bias=use_bias, batch_first=True)
        if use_bias:
            # Keras has one bias. Training both of nn.LSTM's would move their sum twice as
            # fast as Keras moves its bias, so bias_ih is Keras's bias and bias_hh stays 0.
            with torch.no_grad():
                self.lstm.bias_hh_l0.zero_()
        freeze_hidden_bias(self)
        self.units = units
        self.activation = activation
        self.recurrent_activation = recurrent_activation
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.zero_output_for_mask = zero_output_for_mask
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.implementation = 1 if recurrent_dropout > 0 else implementation

    def uses_torch_lstm(self, mask=None) -> bool:
        """Whether a call runs `torch.nn.LSTM` itself (else Keras's loop)."""
        dropping = self.training and (0 < self.dropout < 1 or 0 < self.recurrent_dropout < 1)
        return (self.activation == "tanh" and self.recurrent_activation == "sigmoid"
                and mask is None and not dropping)

    def forward(self, x, initial_state=None, mask=None):
        B = x.shape[0]
        if initial_state is None:
            h0 = x.new_zeros(B, self.units)
            c0 = x.new_zeros(B, self.units)
        else:
            h0, c0 = initial_state
        if mask is not None:
            mask = torch.as_tensor(mask, device=x.device).to(torch.bool)  # (B, T)
        if self.go_backwards:
            x = torch.flip(x, (1,))  # outputs stay in this processing order, as in Keras
            mask = None if mask is None else torch.flip(mask, (1,))
        if self.uses_torch_lstm(mask):
            y, (h, c) = self.lstm(x, (h0[None], c0[None]))  # (B, T, H), (1, B, H)
            h, c = h[0], c[0]
        else:
            y, h, c = self._loop(x, h0, c0, mask)
        out = y if self.return_sequences else y[:, -1]
        return (out, h, c) if self.return_state else out

    def compute_mask(self, inputs, mask=None):
        """Keras <= 3.15: the mask passes on with return_sequences; states get None."""
        out = mask if self.return_sequences else None
        return [out, None, None] if self.return_state else out

    def _dropout_masks(self, x):
        """Keras's DropoutRNNCell masks: drawn once per call, the same at every step."""
        B, _, D = x.shape
        lead = (4,) if self.implementation == 1 else ()
        dm = rm = None
        # LSTMCell.call applies a mask only when 0 < rate < 1: a rate of 1.0 drops nothing.
        if self.training and 0 < self.dropout < 1:
            dm = F.dropout(x.new_ones(*lead, B, D), self.dropout, True)
        if self.training and 0 < self.recurrent_dropout < 1:
            rm = F.dropout(x.new_ones(*lead, B, self.units), self.recurrent_dropout, True)
        return dm, rm

    def _loop(self, x, h, c, mask):
        sigma = ACTIVATIONS[self.recurrent_activation]
        phi = ACTIVATIONS[self.activation]
        w_ih, w_hh = self.lstm.weight_ih_l0, self.lstm.weight_hh_l0  # (4H, D), (4H, H)
        bias = None
        if self.lstm.bias:
            bias = self.lstm.bias_ih_l0 + self.lstm.bias_hh_l0  # (4H,)
        H = self.units
        dm, rm = self._dropout_masks(x)
        per_gate = self.implementation == 1 and (dm is not None or rm is not None)
        if not per_gate:
            xz = (x if dm is None else x * dm[:, None]) @ w_ih.T  # (B, T, 4H)
        prev_out = x.new_zeros(x.shape[0], H)  # TF/torch start the carried output at zeros
        outputs = []
        for t in range(x.shape[1]):
            if per_gate:  # Keras implementation 1: (x_k @ K_k + b_k) + h_k @ R_k
                parts = []
                for k in range(4):
                    x_k = x[:, t] if dm is None else x[:, t] * dm[k]
                    h_k = h if rm is None else h * rm[k]
                    z_k = x_k @ w_ih[k * H:(k + 1) * H].T
                    if bias is not None:
                        z_k = z_k + bias[k * H:(k + 1) * H]
                    parts.append(z_k + h_k @ w_hh[k * H:(k + 1) * H].T)
                z = torch.cat(parts, -1)  # (B, 4H)
            else:  # implementation 2: (x @ K + h @ R) + b
                z = xz[:, t] + (h if rm is None else h * rm) @ w_hh.T
                if bias is not None:
                    z = z + bias
            z_i, z_f, z_g, z_o = torch.chunk(z, 4, -1)
            c_new = sigma(z_f) * c + sigma(z_i) * phi(z_g)
            h_new = sigma(z_o) * phi(c_new)
            if mask is None:
                h, c, out = h_new, c_new, h_new
            else:
                m = mask[:, t, None]  # (B, 1)
                h = torch.where(m, h_new, h)
                c = torch.where(m, c_new, c)
                out = torch.where(m, h_new, torch.zeros_like(h_new) if self.zero_output_for_mask
                                  else prev_out)
            outputs.append(out)
            prev_out = out
        return torch.stack(outputs, 1), h, c  # (B, T, H)


class KerasBidirectional(nn.Module):
    """Keras's `Bidirectional` in PyTorch: two `KerasLSTM`s, the backward one flipped back.

    Call: `module(x, initial_state=[h_f, c_f, h_b, c_b] or None, mask=None)` returns
    what Keras returns: merged (or `y_fwd, y_bwd` with merge_mode None), then with
    `return_state` `h_fwd, c_fwd, h_bwd, c_bwd`.
    """

    def __init__(self, forward_layer: KerasLSTM, backward_layer: KerasLSTM, merge_mode="concat"):
        super().__init__()
        if merge_mode not in ("concat", "sum", "mul", "ave", None):
            raise ValueError(f"Unknown merge_mode {merge_mode!r}")
        self.forward_layer = forward_layer
        self.backward_layer = backward_layer
        self.merge_mode = merge_mode
        self.return_sequences = forward_layer.return_sequences
        self.return_state = forward_layer.return_state

    def compute_mask(self, inputs, mask=None):
        out = mask if self.return_sequences else None
        n = 2 if self.merge_mode is None else 1
        if self.return_state:
            return [out] * n + [None] * 4
        return [out] * n if n == 2 else out

    def forward(self, x, initial_state=None, mask=None):
        s_f = s_b = None
        if initial_state is not None:  # half to each direction ([h, c] each for an LSTM)
            n = len(initial_state) // 2
            s_f, s_b = list(initial_state[:n]), list(initial_state[n:])
        y_f = self.forward_layer(x, s_f, mask)
        y_b = self.backward_layer(x, s_b, mask)
        states = []
        if self.return_state:
            y_f, *s_f = y_f
            y_b, *s_b = y_b
            states = s_f + s_b
        if self.return_sequences:
            y_b = torch.flip(y_b, (1,))  # back into input order (Keras's ops.flip)
        if self.merge_mode == "concat":
            merged = [torch.cat([y_f, y_b], -1)]
        elif self.merge_mode == "sum":
            merged = [y_f + y_b]
        elif self.merge_mode == "mul":
            merged = [y_f * y_b]
        elif self.merge_mode == "ave":
            merged = [(y_f + y_b) / 2]
        else:
            merged = [y_f, y_b]
        outs = merged + states
        return tuple(outs) if len(outs) > 1 else outs[0]
