"""Masking and padding (keras.io guide "Understanding masking & padding").

Pad word-id lists with `pad_sequences(padding="post")`, then let the LSTM skip the
padding: through `Embedding(mask_zero=True)` (in a Sequential and in a functional
model), through a `Masking` layer on float inputs, and by passing `mask=` by hand.
The guide's sections with custom layers (compute_mask, supports_masking) are left out
of this script.
"""

import numpy as np

import lstmkit as keras
from lstmkit import layers

raw_inputs = [
    [711, 632, 71],
    [73, 8, 3215, 55, 927],
    [83, 91, 1, 645, 1253, 927],
]
padded_inputs = keras.utils.pad_sequences(raw_inputs, padding="post")
print(padded_inputs)

embedding = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)
mask = embedding.compute_mask(padded_inputs)
print(np.asarray(mask).tolist())

# Masking float inputs: all-zero steps are skipped.
unmasked_embedding = np.random.default_rng(4).random((3, 6, 8)).astype("float32")
unmasked_embedding[:, 4:] = 0.0
masking_layer = layers.Masking()
print(np.asarray(masking_layer.compute_mask(unmasked_embedding)).tolist())

# Mask-generating layers: Embedding and Masking, in a Sequential ...
model = keras.Sequential([layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True),
                          layers.LSTM(8)])
print(model.predict(padded_inputs, verbose=0).shape)

# ... and in a functional model.
inputs = keras.Input(shape=(None,), dtype="int32")
x = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)(inputs)
outputs = layers.LSTM(8)(x)
functional = keras.Model(inputs, outputs)
functional.summary()

masked = keras.Sequential([keras.Input((6, 8)), layers.Masking(mask_value=0.0),
                           layers.LSTM(8, return_sequences=True)])
masked.summary()

# Passing mask tensors directly to layers.
lstm = layers.LSTM(8)
by_hand = lstm(embedding(padded_inputs), mask=mask)
print(tuple(by_hand.shape))

CHECKS = {
    "sequential": (model, padded_inputs),
    "functional": (functional, padded_inputs),
    "masked": (masked, unmasked_embedding),
}
