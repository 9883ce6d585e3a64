"""`TimeDistributed`: apply a layer to every time step (keras/src/layers/rnn/time_distributed.py).

The inner layer sees (B*T, ...) at once, which equals Keras's per-step loop for
layers without state across the batch (Dense, Activation, Dropout, ...).

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> lk.layers.TimeDistributed(lk.layers.Dense(3))(np.ones((2, 5, 4), "float32")).shape
    (2, 5, 3)
"""

from __future__ import annotations

from .base import Layer


class TimeDistributed(Layer):
    """Wraps `layer`: (B, T, ...) -> (B, T, ...'). The mask passes on.

    Args:
        layer: an lstmkit layer taking (B, ...) (e.g. `Dense`).
    """

    supports_masking = True

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError(  # noqa: TRY004 (Keras raises ValueError)
                f"Please initialize `TimeDistributed` layer with a `keras.layers.Layer` "
                f"instance. Received: {layer!r}"
            )
        kwargs.setdefault("dtype", layer.dtype)
        super().__init__(**kwargs)
        self.layer = layer

    def _all_weights(self):
        return self.layer._all_weights()

    @property
    def trainable_weights(self):
        return self.layer.trainable_weights if self.trainable else []

    @property
    def non_trainable_weights(self):
        return (self.layer.non_trainable_weights if self.trainable
                else self.layer._all_weights())

    @property
    def activity_regularizer(self):
        return None

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) < 3:
            raise ValueError(
                f"`TimeDistributed` Layer should be passed an `input_shape` with at least 3 "
                f"dimensions, received: {input_shape}"
            )
        self.layer._path_prefix = f"{getattr(self, '_path_prefix', self.name)}/{self.layer.name}"
        self._inner_shape = (None, *input_shape[2:])
        if not self.layer.built:
            self.layer.build(self._inner_shape)
            self.layer.built = True
        self.built = True

    def compute_output_shape(self, input_shape):
        inner = self.layer.compute_output_shape((None, *tuple(input_shape)[2:]))
        return (input_shape[0], input_shape[1], *inner[1:])

    def call(self, inputs, training=False, mask=None):
        return self.forward(inputs, training=training)[0]

    def forward(self, inputs, training=False, mask=None, **kwargs):
        B, T = inputs.shape[:2]
        flat = inputs.reshape(B * T, *inputs.shape[2:])  # (B*T, ...)
        y, cache = self.layer.forward(flat, training=training)
        return y.reshape(B, T, *y.shape[1:]), (cache, inputs.shape)

    def backward(self, cache, d_outputs):
        inner_cache, shape = cache
        B, T = shape[:2]
        d_flat = d_outputs.reshape(B * T, *d_outputs.shape[2:])
        d_x, d_w = self.layer.backward(inner_cache, d_flat)
        return d_x.reshape(shape), (d_w if self.trainable else [])

    def get_config(self):
        from . import serialize
        entry = serialize(self.layer)
        if getattr(self, "_inner_shape", None) is not None and type(self.layer).__name__ not in (
                "Activation", "Dropout", "Masking"):
            entry["build_config"] = {"input_shape": list(self._inner_shape)}
        return {**super().get_config(), "layer": entry}

    @classmethod
    def from_config(cls, config):
        from . import deserialize
        config = dict(config)
        entry = dict(config.pop("layer"))
        entry.pop("build_config", None)
        return cls(deserialize(entry), **config)
