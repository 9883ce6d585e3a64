"""The docstring examples of the recurrent family's modules run (doctest)."""

import doctest
import importlib

import pytest

MODULES = ["lstmkit.reference_gru", "lstmkit.reference_simple_rnn", "lstmkit.reference_rnn",
           "lstmkit.layers.rnn", "lstmkit.layers.gru", "lstmkit.layers.simple_rnn",
           "lstmkit.layers.stacked_rnn_cells", "lstmkit.layers.recurrent_cell",
           "lstmkit.kernels.cells", "lstmkit.saving._cudnn", "lstmkit.inspection.trace_rnn",
           "lstmkit.inspection.explain_rnn"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             verbose=False, report=True)
    assert result.attempted > 0, f"{name} has no runnable example"
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"


def test_torch_gru_doctest():
    pytest.importorskip("torch")
    module = importlib.import_module("lstmkit.convert._torch_gru")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False, report=True)
    assert result.attempted > 0 and result.failed == 0
