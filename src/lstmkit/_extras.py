"""Optional packages and the extra that installs each: one message for every entry point.

Example:
    >>> from lstmkit._extras import extra_needed
    >>> try:
    ...     with extra_needed("lstmkit.convert.to_torch"):
    ...         raise ModuleNotFoundError("No module named 'torch'", name="torch")
    ... except ImportError as err:
    ...     print(err)
    lstmkit.convert.to_torch needs torch: pip install "lstmkit[torch]"
"""

from __future__ import annotations

import contextlib

# The top-level package -> the extra of pyproject.toml that installs it.
EXTRAS = {"torch": "torch", "onnx": "onnx", "onnxruntime": "onnx", "matplotlib": "viz"}


def message(package: str, what: str) -> str:
    """`"{what} needs {package}: pip install "lstmkit[extra]""`."""
    return f'{what} needs {package}: pip install "lstmkit[{EXTRAS[package]}]"'


@contextlib.contextmanager
def extra_needed(what: str):
    """Turn a missing optional package inside the block into an ImportError naming its extra.

    Any other ModuleNotFoundError (a bug, a broken install) passes through unchanged.
    """
    try:
        yield
    except ModuleNotFoundError as err:
        package = (err.name or "").split(".")[0]
        if package not in EXTRAS:
            raise
        raise ImportError(message(package, what), name=package) from err
