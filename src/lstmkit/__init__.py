"""lstmkit: the Keras LSTM as a library of its own, exact, fast on the CPU and transparent.

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> inputs = np.random.normal(size=(32, 10, 8)).astype("float32")
    >>> whole_seq_output, final_memory_state, final_carry_state = lk.layers.LSTM(
    ...     4, return_sequences=True, return_state=True)(inputs)
    >>> whole_seq_output.shape, final_memory_state.shape, final_carry_state.shape
    ((32, 10, 4), (32, 4), (32, 4))
"""

from . import activations, constraints, initializers, layers, reference, regularizers, utils
from ._config import floatx, set_floatx

__version__ = "0.1.0"

__all__ = ["activations", "constraints", "initializers", "layers", "reference",
           "regularizers", "utils", "floatx", "set_floatx", "__version__"]
