"""`Dropout` and `Masking` (keras/src/layers/regularization/dropout.py, core/masking.py).

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> x = np.ones((2, 4), "float32")
    >>> bool((lk.layers.Dropout(0.5)(x) == x).all())  # inactive outside training
    True
"""

from __future__ import annotations

import numpy as np

from ..utils import SeedGenerator
from .base import Layer


class Dropout(Layer):
    """Inverted dropout: in training, zero a fraction `rate` and scale the rest by 1/(1-rate).

    Args:
        rate: float in [0, 1).
        noise_shape: shape of the keep mask, None entries taken from the input
            (e.g. (None, 1, D) drops the same features at every step).
        seed: int for a repeatable mask stream.

    Shapes: any -> same. The mask passes on.
    """

    supports_masking = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise ValueError(
                f"Invalid value received for argument `rate`. Expected a float value between "
                f"0 and 1. Received: rate={rate!r}"
            )
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        self.seed_generator = SeedGenerator(seed)

    def compute_output_shape(self, input_shape):
        return input_shape

    def call(self, inputs, training=False, mask=None):
        return self.forward(inputs, training=training)[0]

    def forward(self, inputs, training=False, mask=None, **kwargs):
        if not training or self.rate == 0:
            return inputs, None
        shape = inputs.shape
        if self.noise_shape is not None:
            shape = tuple(s if n is None else n for s, n in zip(inputs.shape, self.noise_shape))
        if self.rate >= 1:
            keep = np.zeros(shape, inputs.dtype)
        else:
            rng = self.seed_generator.next()
            keep = ((rng.random(shape) >= self.rate) / (1.0 - self.rate)).astype(inputs.dtype)
        return inputs * keep, keep

    def backward(self, cache, d_outputs):
        return (d_outputs if cache is None else d_outputs * cache), []

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed,
                "noise_shape": self.noise_shape}


class Masking(Layer):
    """Masks time steps whose features all equal `mask_value`; those steps become zeros.

    Args:
        mask_value: the padding value (default 0.0).

    Shapes: (B, T, D) -> (B, T, D); mask (B, T) = any(x != mask_value, axis=-1).
    """

    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = mask_value

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_mask(self, inputs, mask=None):
        return np.any(np.asarray(inputs) != self.mask_value, axis=-1)

    def call(self, inputs, training=False, mask=None):
        return self.forward(inputs)[0]

    def forward(self, inputs, training=False, mask=None, **kwargs):
        keep = np.any(inputs != self.mask_value, axis=-1, keepdims=True)  # (B, T, 1)
        return np.where(keep, inputs, 0).astype(inputs.dtype), keep

    def backward(self, cache, d_outputs):
        return d_outputs * cache, []

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}
