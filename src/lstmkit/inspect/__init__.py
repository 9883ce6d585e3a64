"""Deprecated: `lstmkit.inspect` is now `lstmkit.inspection` (no clash with the stdlib's).

The old path keeps working for one release and warns once, on its first import.

Example:
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     from lstmkit.inspect import trace
    >>> import lstmkit.inspection
    >>> trace is lstmkit.inspection.trace
    True
"""

import warnings

from ..inspection import *  # noqa: F403
from ..inspection import __all__  # noqa: F401

warnings.warn("lstmkit.inspect is deprecated and will be removed in the next release; "
              "use lstmkit.inspection instead", DeprecationWarning, stacklevel=2)
