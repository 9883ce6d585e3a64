"""`to_categorical` and `pad_sequences`, as keras.utils has them (numerical_utils.py,
sequence_utils.py): the two helpers nearly every LSTM script calls.

Example:
    >>> from lstmkit.utils import pad_sequences, to_categorical
    >>> pad_sequences([[1, 2], [3]], maxlen=3).tolist()
    [[0, 1, 2], [0, 0, 3]]
    >>> to_categorical([0, 2], num_classes=3).tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
"""

from __future__ import annotations

import numpy as np


def to_categorical(x, num_classes=None):
    """One-hot rows for integer class ids: (...,) or (..., 1) -> (..., num_classes), float64."""
    x = np.array(x, dtype="int64")
    input_shape = x.shape
    if len(input_shape) > 1 and input_shape[-1] == 1:
        input_shape = tuple(input_shape[:-1])
    x = x.reshape(-1)
    if x.size and x.min() < 0:
        raise ValueError(f"to_categorical needs class ids >= 0, got {x.min()}")
    if not num_classes:
        num_classes = int(np.max(x)) + 1 if x.size else 0
    elif x.size and x.max() >= num_classes:
        raise ValueError(f"Class id {x.max()} is out of range for num_classes={num_classes}")
    categorical = np.zeros((x.shape[0], num_classes))
    categorical[np.arange(x.shape[0]), x] = 1
    return categorical.reshape(input_shape + (num_classes,))


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre",
                  value=0.0):
    """Pad (or cut) a list of sequences to one length: (num_samples, maxlen, ...).

    Args:
        sequences: a list of sequences (lists or arrays, each (length, ...)).
        maxlen: the length; default the longest sequence.
        dtype: the output dtype (default "int32", as Keras).
        padding: "pre" or "post": where the padding goes.
        truncating: "pre" or "post": which end of a too-long sequence is dropped.
        value: the padding value.
    """
    if not hasattr(sequences, "__len__"):
        raise ValueError("`sequences` must be iterable.")
    if padding not in ("pre", "post"):
        raise ValueError(f'Padding type "{padding}" not understood')
    if truncating not in ("pre", "post"):
        raise ValueError(f'Truncating type "{truncating}" not understood')
    lengths, sample_shape = [], ()
    for seq in sequences:
        try:
            lengths.append(len(seq))
        except TypeError as err:
            raise ValueError(
                f"`sequences` must be a list of iterables. Found non-iterable: {seq!r}"
            ) from err
        if not sample_shape and len(seq):
            sample_shape = np.asarray(seq).shape[1:]
    if maxlen is None:
        maxlen = max(lengths) if lengths else 0
    out = np.full((len(sequences), maxlen, *sample_shape), value, dtype=dtype)
    for i, seq in enumerate(sequences):
        if not len(seq) or maxlen == 0:
            continue
        seq = np.asarray(seq, dtype=dtype)
        trunc = seq[-maxlen:] if truncating == "pre" else seq[:maxlen]
        if trunc.shape[1:] != tuple(sample_shape):
            raise ValueError(
                f"Shape of sample {trunc.shape[1:]} of sequence at position {i} is different "
                f"from expected shape {tuple(sample_shape)}"
            )
        if padding == "post":
            out[i, :len(trunc)] = trunc
        else:
            out[i, -len(trunc):] = trunc
    return out
