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

import importlib

from . import activations, constraints, initializers, layers, reference, regularizers, utils
from ._config import floatx, set_floatx

__version__ = "0.1.0"

# Imported on first use, so `import lstmkit` stays light: name -> (module, attribute or None).
_LAZY = {
    "models": ("lstmkit.models", None),
    "Sequential": ("lstmkit.models", "Sequential"),
    "Model": ("lstmkit.models", "Model"),
    "Input": ("lstmkit.layers", "Input"),
    "optimizers": ("lstmkit.training.optimizers", None),
    "losses": ("lstmkit.training.losses", None),
    "metrics": ("lstmkit.training.metrics", None),
    "callbacks": ("lstmkit.training.callbacks", None),
    "trace": ("lstmkit.inspection", "trace"),
    "explain": ("lstmkit.inspection", "explain"),
    "inspection": ("lstmkit.inspection", None),
    "convert": ("lstmkit.convert", None),
    "datasets": ("lstmkit.datasets", None),
    "data": ("lstmkit.data", None),
    "saving": ("lstmkit.saving", None),
    "kernels": ("lstmkit.kernels", None),
    "ops": ("lstmkit.ops", None),
}


# Old names, kept for one release: `lk.io` is `lk.saving` (Keras's name), `lk.inspect` is
# `lk.inspection` (neither shadows a standard-library module any more).
_DEPRECATED = {"io": "lstmkit.io", "inspect": "lstmkit.inspect"}


def __getattr__(name):
    if name in _DEPRECATED:
        return importlib.import_module(_DEPRECATED[name])  # warns once, on its first import
    if name not in _LAZY:
        raise AttributeError(f"module 'lstmkit' has no attribute {name!r}")
    module_name, attr = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["activations", "constraints", "initializers", "layers", "reference",
           "regularizers", "utils", "floatx", "set_floatx", "__version__", *_LAZY]
