"""`lk.utils.to_categorical` / `pad_sequences` against keras.utils; `set_random_seed`."""

import numpy as np
import pytest

import lstmkit as lk
from _oracle import keras as _keras


@pytest.mark.parametrize("kwargs", [{}, {"maxlen": 3}, {"padding": "post"},
                                    {"truncating": "post", "maxlen": 2},
                                    {"value": -1, "dtype": "float32", "padding": "post"}])
def test_pad_sequences_matches_keras(kwargs):
    keras = _keras()
    seqs = [[1, 2, 3, 4], [5], [], [6, 7]]
    np.testing.assert_array_equal(lk.utils.pad_sequences(seqs, **kwargs),
                                  keras.utils.pad_sequences(seqs, **kwargs))
    vectors = [np.ones((3, 2)), np.zeros((1, 2))]
    np.testing.assert_array_equal(lk.utils.pad_sequences(vectors, dtype="float32", **{
        k: v for k, v in kwargs.items() if k != "dtype"}),
        keras.utils.pad_sequences(vectors, dtype="float32", **{
            k: v for k, v in kwargs.items() if k != "dtype"}))


def test_to_categorical_matches_keras():
    keras = _keras()
    for x, n in [([0, 2, 1], None), ([[1], [0]], 3), (np.array([[0, 1], [2, 2]]), 4)]:
        ours, theirs = lk.utils.to_categorical(x, n), keras.utils.to_categorical(x, n)
        np.testing.assert_array_equal(ours, theirs)
        assert ours.shape == theirs.shape
    with pytest.raises(ValueError, match="out of range"):
        lk.utils.to_categorical([3], num_classes=2)


def test_bad_arguments():
    with pytest.raises(ValueError, match="non-iterable"):
        lk.utils.pad_sequences([1, 2])
    with pytest.raises(ValueError, match="Padding type"):
        lk.utils.pad_sequences([[1]], padding="middle")
    with pytest.raises(TypeError, match="seed must be an int"):
        lk.utils.set_random_seed(1.5)
