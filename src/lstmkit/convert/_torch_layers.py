"""PyTorch twins of lstmkit's non-recurrent layers, with Keras's masks.

Each module's `forward(inputs, mask=None)` computes the layer; `compute_mask(inputs,
mask)` gives the output mask as the lstmkit layer does (keras/src/layers/...).
`layer_to_torch(layer)` converts one layer and `layer_weights(module)` returns
its weights in Keras's order. Recurrent layers are in `_torch_modules`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._torch_modules import ACTIVATIONS, KerasBidirectional, KerasLSTM


def _param(value, dtype):
    return nn.Parameter(torch.as_tensor(np.array(value), dtype=dtype))


class PassMask(nn.Module):
    """Base: the mask passes on unchanged (Keras's default for supports_masking layers)."""

    def compute_mask(self, inputs, mask=None):
        return mask


class KDense(PassMask):
    def __init__(self, kernel, bias, activation, dtype):
        super().__init__()
        self.kernel = _param(kernel, dtype)  # (D, U), Keras's layout
        self.bias = None if bias is None else _param(bias, dtype)
        self.activation = activation

    def forward(self, x, mask=None):
        z = x @ self.kernel  # (..., U)
        if self.bias is not None:
            z = z + self.bias
        return ACTIVATIONS[self.activation](z)

    def weights(self):
        return [self.kernel] + ([] if self.bias is None else [self.bias])


class KEmbedding(nn.Module):
    def __init__(self, embeddings, mask_zero, dtype):
        super().__init__()
        self.embeddings = _param(embeddings, dtype)  # (V, E)
        self.mask_zero = mask_zero

    def forward(self, ids, mask=None):
        return F.embedding(ids.long(), self.embeddings)

    def compute_mask(self, ids, mask=None):
        return ids != 0 if self.mask_zero else None

    def weights(self):
        return [self.embeddings]


class KActivation(PassMask):
    def __init__(self, activation):
        super().__init__()
        self.activation = activation

    def forward(self, x, mask=None):
        return ACTIVATIONS[self.activation](x)


class KDropout(PassMask):
    def __init__(self, rate, noise_shape):
        super().__init__()
        self.rate = rate
        self.noise_shape = noise_shape

    def forward(self, x, mask=None):
        if not self.training or self.rate == 0:
            return x
        shape = x.shape if self.noise_shape is None else [
            s if n is None else n for s, n in zip(x.shape, self.noise_shape)]
        return x * F.dropout(x.new_ones(shape), self.rate, True)


class KMasking(nn.Module):
    def __init__(self, mask_value):
        super().__init__()
        self.mask_value = float(mask_value)

    def forward(self, x, mask=None):
        keep = (x != self.mask_value).any(-1, keepdim=True)  # (B, T, 1)
        return torch.where(keep, x, torch.zeros_like(x))

    def compute_mask(self, x, mask=None):
        return (x != self.mask_value).any(-1)


class KFlatten(nn.Module):
    def forward(self, x, mask=None):
        return x.reshape(x.shape[0], -1)

    def compute_mask(self, x, mask=None):
        return None


class KRepeatVector(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.n = n

    def forward(self, x, mask=None):
        return x[:, None].expand(x.shape[0], self.n, x.shape[1])

    def compute_mask(self, x, mask=None):
        return None


class KNormalization(PassMask):
    def __init__(self, mean, scale, invert, dtype):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=dtype))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=dtype))
        self.invert = invert

    def forward(self, x, mask=None):
        return self.mean + x * self.scale if self.invert else (x - self.mean) / self.scale


def _or_masks(masks):
    masks = [m for m in masks if m is not None]
    if not masks:
        return None
    out = masks[0]
    for m in masks[1:]:
        out = out | m
    return out


class KAdd(nn.Module):
    def forward(self, xs, mask=None):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out

    def compute_mask(self, xs, mask=None):
        return None if mask is None else _or_masks(mask)


class KConcatenate(nn.Module):
    def __init__(self, axis):
        super().__init__()
        self.axis = axis

    def forward(self, xs, mask=None):
        return torch.cat(list(xs), self.axis)

    def compute_mask(self, xs, mask=None):
        # A None mask counts as all True, so one None makes the OR all True (= no mask).
        if mask is None or any(m is None for m in mask):
            return None
        return _or_masks(mask)


class KTimeDistributed(PassMask):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x, mask=None):
        B, T = x.shape[:2]
        y = self.inner(x.reshape(B * T, *x.shape[2:]))
        return y.reshape(B, T, *y.shape[1:])

    def weights(self):
        return self.inner.weights()


def layer_to_torch(layer, torch_dtype):
    """Convert one non-recurrent lstmkit layer; ValueError for one without a twin here."""
    from .torch import activation_name

    kind = type(layer).__name__
    if kind == "Dense":
        return KDense(layer.kernel.value, None if layer.bias is None else layer.bias.value,
                      activation_name(layer.activation), torch_dtype)
    if kind == "Embedding":
        return KEmbedding(layer.embeddings.value, layer.mask_zero, torch_dtype)
    if kind == "Activation":
        return KActivation(activation_name(layer.activation))
    if kind == "Dropout":
        return KDropout(layer.rate, layer.noise_shape)
    if kind == "Masking":
        return KMasking(layer.mask_value)
    if kind == "Flatten":
        return KFlatten()
    if kind == "RepeatVector":
        return KRepeatVector(layer.n)
    if kind == "Add":
        return KAdd()
    if kind == "Concatenate":
        return KConcatenate(layer.axis)
    if kind == "Normalization":
        if layer.axis not in ((), (-1,)):
            raise ValueError(f"to_torch converts Normalization on the last axis only; "
                             f"{layer.name!r} has axis={layer.axis}")
        mean, scale = layer._stats(1 if not layer.axis else 2)
        return KNormalization(np.ravel(mean) if layer.axis else mean,
                              np.ravel(scale) if layer.axis else scale, layer.invert,
                              torch_dtype)
    if kind == "TimeDistributed":
        inner = layer_to_torch(layer.layer, torch_dtype)
        if not hasattr(inner, "weights") and any(True for _ in inner.parameters()):
            raise ValueError(f"TimeDistributed({type(layer.layer).__name__}) is not supported")
        return KTimeDistributed(inner)
    raise ValueError(
        f"to_torch cannot convert layer {layer.name!r} of type {kind}; supported: LSTM, "
        f"Bidirectional, Dense, Embedding, Activation, Dropout, Masking, Flatten, "
        f"RepeatVector, Add, Concatenate, Normalization, TimeDistributed"
    )


def layer_weights(module) -> list:
    """Keras-ordered weights (arrays) of a converted layer module."""
    from ._torch_gru import KerasGRU, KerasSimpleRNN
    from ._torch_stacked import KerasStackedRNN
    from .torch import torch_weights

    if isinstance(module, (KerasLSTM, KerasBidirectional, KerasGRU, KerasSimpleRNN,
                           KerasStackedRNN)):
        return torch_weights(module)
    if hasattr(module, "weights"):
        return [p.detach().cpu().numpy() for p in module.weights()]
    return []


def keras_param_groups(module) -> list:
    """The torch parameters behind each Keras weight of a converted layer, in Keras's order.

    Each entry is a list whose sum is the Keras weight up to layout: an LSTM's bias is
    `bias_ih + bias_hh`; kernels are transposed (which sums of |w| and w**2 ignore).
    """
    if isinstance(module, KerasLSTM):
        lstm = module.lstm
        groups = [[lstm.weight_ih_l0], [lstm.weight_hh_l0]]
        if lstm.bias:
            groups.append([lstm.bias_ih_l0, lstm.bias_hh_l0])
        return groups
    if isinstance(module, KerasBidirectional):
        return keras_param_groups(module.forward_layer) + keras_param_groups(
            module.backward_layer)
    if hasattr(module, "cells"):  # KerasStackedRNN: the cells' groups in order
        return [g for cell in module.cells for g in keras_param_groups(cell)]
    if hasattr(module, "weights"):
        return [[p] for p in module.weights()]
    return []
