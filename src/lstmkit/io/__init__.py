"""Deprecated: `lstmkit.io` is now `lstmkit.saving` (Keras's name for it).

The old path keeps working for one release and warns once, on its first import.

Example:
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     from lstmkit.io import load_model
    >>> import lstmkit.saving
    >>> load_model is lstmkit.saving.load_model
    True
"""

import warnings

from ..saving import *  # noqa: F403
from ..saving import __all__  # noqa: F401

warnings.warn("lstmkit.io is deprecated and will be removed in the next release; "
              "use lstmkit.saving (Keras's name) instead", DeprecationWarning, stacklevel=2)
