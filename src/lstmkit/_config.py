"""Configuration read in one place: float type, environment variables, warn-once.

Every `LSTMKIT_*` environment variable is read here and nowhere else, when it is used (not at
import), so a process may change it between calls. The README lists them all with defaults.

Environment:
    LSTMKIT_BACKEND     "auto" (default), "kernel" or "reference": which path the
                        recurrent layers run (see `lstmkit.kernels`).
    LSTMKIT_IO_SANDBOX  "1" (default): HDF5 files are parsed in a separate helper
                        process on Linux; "0" parses them in this process.
    LSTMKIT_TF_PYTHON   unset (default): a python with TensorFlow, for `lstmkit bench`
                        to time TF-Keras too.
    NO_COLOR, TERM      NO_COLOR set (not empty) or TERM=dumb: no colours in progress
                        bars; TERM=dumb also means plain lines (see training/_progbar.py).

Example:
    >>> from lstmkit import _config
    >>> _config.backend() in _config.BACKENDS
    True
"""

from __future__ import annotations

import contextlib
import os
import warnings

import numpy as np

_FLOATX = "float32"
_WARNED: set[str] = set()

BACKENDS = ("auto", "kernel", "reference")


def getenv(name: str, default: str | None = "") -> str | None:
    """`os.environ.get(name, default)`: the variable as it is now (a process may change it).

    The recurrent layers read several variables on every call, and for an unset name
    `os.environ.get` raises and catches two KeyErrors: 0.5 µs a variable, a tenth of a
    one-step stream call. CPython's `os.environ` (an `os._Environ`) keeps its values in
    a dict of encoded names, where a look-up costs 0.1 µs and raises nothing; any other
    mapping (another Python, or an application's replacement) is asked directly.

    Example:
        >>> getenv("LSTMKIT_NO_SUCH_VARIABLE", "unset")
        'unset'
    """
    environ = os.environ
    if type(environ) is not os._Environ:
        return environ.get(name, default)
    value = environ._data.get(_KEYS.get(name) or _KEYS.setdefault(name, environ.encodekey(name)))
    return default if value is None else environ.decodevalue(value)


_KEYS: dict = {}  # name -> os.environ.encodekey(name)


def floatx() -> str:
    """Keras's default float type, "float32"."""
    return _FLOATX


def set_floatx(value: str) -> None:
    """Set the default float type ("float32" or "float64"), like `keras.config.set_floatx`."""
    global _FLOATX
    if value not in ("float32", "float64"):
        raise ValueError(f"floatx must be 'float32' or 'float64', got {value!r}")
    _FLOATX = value


def backend() -> str:
    """The backend the environment asks for (`LSTMKIT_BACKEND`), validated."""
    value = getenv("LSTMKIT_BACKEND", "auto").strip().lower() or "auto"
    if value not in BACKENDS:
        raise ValueError(f"LSTMKIT_BACKEND must be one of {BACKENDS}, got {value!r}")
    return value


def io_sandbox() -> bool:
    """Whether HDF5 files are parsed in a helper process (`LSTMKIT_IO_SANDBOX`, default "1")."""
    return getenv("LSTMKIT_IO_SANDBOX", "1").strip() != "0"


def tf_python() -> str | None:
    """A python with TensorFlow for `lstmkit bench` (`LSTMKIT_TF_PYTHON`), or None."""
    return getenv("LSTMKIT_TF_PYTHON") or None


def no_color() -> bool:
    """True when `NO_COLOR` is set to anything but "" (https://no-color.org) or `TERM=dumb`."""
    return bool(getenv("NO_COLOR")) or dumb_terminal()


def dumb_terminal() -> bool:
    """True when `TERM=dumb`: progress is written as plain lines, without colours."""
    return getenv("TERM") == "dumb"


def warn_once(key: str, message: str, category: type[Warning] = UserWarning,
              stacklevel: int = 3) -> None:
    """Issue `message` once per process for `key`."""
    if key in _WARNED:
        return
    _WARNED.add(key)
    warnings.warn(message, category, stacklevel=stacklevel)


def warn_no_effect(call: str, name: str, value, why: str, stacklevel: int = 2) -> None:
    """Warn once that a Keras argument lstmkit accepts has no effect here, and why.

    `stacklevel` as in `warnings.warn`, seen from the caller: 2 points at its caller.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     warn_no_effect("doc.compile", "jit_compile", True, "no XLA")
        >>> str(caught[0].message)
        '`doc.compile(jit_compile=True)` has no effect in lstmkit: no XLA'
    """
    warn_once(f"{call}({name})", f"`{call}({name}={value!r})` has no effect in lstmkit: {why}",
              UserWarning, stacklevel=stacklevel + 2)


def standardize_dtype(dtype) -> str:
    """Return "float32" / "float64" for a float dtype request (None means floatx)."""
    if dtype is None:
        return floatx()
    if isinstance(dtype, dict):  # a serialized Keras DTypePolicy
        dtype = dtype.get("config", {}).get("name", floatx())
    name = getattr(dtype, "name", dtype)
    if name in ("mixed_float16", "mixed_bfloat16", "float16", "bfloat16"):
        name = "float32"  # lstmkit computes these in float32, as Keras's mixed policies do
    try:
        name = np.dtype(name).name
    except TypeError as err:
        raise TypeError(f"dtype must be a float type name like 'float32', got {dtype!r}") from err
    if name not in ("float32", "float64"):
        raise TypeError(f"lstmkit layers compute in float32 or float64, got dtype {dtype!r}")
    return name


# -- The kernels' settings (lstmkit.kernels), read at call time ----------------------------------
# LSTMKIT_NUM_THREADS       cores a large batch is split over (default: the cores this
#                           process may run on).
# LSTMKIT_SHARD_MACS        per-step multiply-adds (B * H * 4H) from which a batch is split
#                           over the cores (default 2**19).
# LSTMKIT_PARALLEL          "1": equal inference shards start on numba's OpenMP layer; "0": on
#                           the thread pool; "auto" (default): OpenMP when the application has
#                           set how idle OpenMP threads wait (GOMP_SPINCOUNT, OMP_WAIT_POLICY),
#                           else the pool.
# LSTMKIT_PARALLEL_MACS     BLAS products from this many multiply-adds may use BLAS's threads;
#                           smaller ones run under a scoped one-thread limit (default 2**24).
# LSTMKIT_BACKGROUND_COMPILE "0": with an empty numba cache, the first kernel call compiles
#                           in-process (~30-60 s) instead of answering with the NumPy reference
#                           while a child process compiles (see `lstmkit.kernels._warm`).


def _env_int(name: str, default: int, minimum: int = 0) -> int:
    raw = getenv(name).strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def kernel_threads() -> int | None:
    """`LSTMKIT_NUM_THREADS`: the cores the kernels split a batch over, or None (all)."""
    raw = getenv("LSTMKIT_NUM_THREADS").strip()
    return _env_int("LSTMKIT_NUM_THREADS", 0, 1) if raw else None


@contextlib.contextmanager
def kernel_threads_set(n: int):
    """`LSTMKIT_NUM_THREADS=n` for a block, restored after: `lstmkit bench` runs lstmkit's
    batch shards on its --threads that way (an application's choice, not the library's)."""
    saved = os.environ.get("LSTMKIT_NUM_THREADS")
    os.environ["LSTMKIT_NUM_THREADS"] = str(n)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("LSTMKIT_NUM_THREADS", None)
        else:
            os.environ["LSTMKIT_NUM_THREADS"] = saved


def kernel_shard_macs() -> int:
    """`LSTMKIT_SHARD_MACS`: per-step multiply-adds from which a batch is split."""
    return _env_int("LSTMKIT_SHARD_MACS", 1 << 19)


def kernel_parallel() -> bool:
    """`LSTMKIT_PARALLEL`: whether inference shards may launch on numba's OpenMP layer.

    "auto" (the default) says yes only when the application has set how idle OpenMP
    threads wait: with GNU OpenMP's default (spin 300,000 rounds) the launch measured 17 ms
    against the thread pool's 3 ms for a 3 ms forward on a busy 2-core machine, and
    lstmkit does not set OpenMP's variables for the application (benchmarks/README.md).
    """
    value = getenv("LSTMKIT_PARALLEL", "auto").strip().lower() or "auto"
    if value not in ("auto", "0", "1"):
        raise ValueError(f"LSTMKIT_PARALLEL must be 'auto', '0' or '1', got {value!r}")
    if value == "auto":
        return any(getenv(name, None) is not None for name in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY"))
    return value == "1"


def kernel_parallel_macs() -> int:
    """`LSTMKIT_PARALLEL_MACS`: BLAS products from this size may use BLAS's threads."""
    return _env_int("LSTMKIT_PARALLEL_MACS", 1 << 24)


def kernel_background_compile() -> bool:
    """`LSTMKIT_BACKGROUND_COMPILE`: whether a cold numba cache is filled by a child process
    while the NumPy reference answers (default), rather than by the calling process."""
    return getenv("LSTMKIT_BACKGROUND_COMPILE", "1").strip() != "0"
