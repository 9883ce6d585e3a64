"""The runnable examples in the docstrings of the model, training and core-layer modules."""

import doctest
import importlib

import pytest

MODULES = [
    "lstmkit.layers.node", "lstmkit.layers.input_layer", "lstmkit.layers.activation",
    "lstmkit.layers.core", "lstmkit.layers.regularization", "lstmkit.layers.reshaping",
    "lstmkit.layers.merging", "lstmkit.layers.wrappers", "lstmkit.layers.base",
    "lstmkit.layers.pooling", "lstmkit.layers.normalization", "lstmkit.layers.convolutional",
    "lstmkit.models", "lstmkit.models.model", "lstmkit.models.sequential",
    "lstmkit.training.losses", "lstmkit.training.metrics", "lstmkit.training.optimizers",
    "lstmkit.training.schedules", "lstmkit.training.callbacks", "lstmkit.utils._sequences",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
