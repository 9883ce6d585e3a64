"""No waiting on the compiler: the kernels' numba cache, filled ahead or in the background.

numba compiles the kernels on their first call and keeps the machine code in its cache
(`cache=True`), so only the first use after an install or an upgrade pays the compile,
about a minute on two cores. That first use should not look like a hang. So:

- `warmup()` (`lstmkit warmup`, run by `lstmkit demo` when needed) compiles every
  specialization the kernels use, with a progress message, and writes a stamp file per
  dtype (float32 first, so float32 calls switch to the kernels before float64 compiles),
  then one for the OpenMP launch of inference shards (until then, the thread pool).
- Without the stamp, the first kernel call under `backend="auto"` starts ONE child
  process that runs `warmup()` (`background()`) and returns at once; the NumPy reference
  (`lstmkit.reference`) answers every call until the stamp of its dtype appears, then
  the kernels do.
  The child is started with `subprocess` (fork and exec, safe from a threaded process),
  keeps running if this process ends (so the next process finds the cache full), and
  writes only numba's cache and the stamp. `LSTMKIT_BACKGROUND_COMPILE=0` turns it off:
  the first call then compiles in the calling process, as `backend="kernel"` always does.

The stamp lives beside numba's cache (`NUMBA_CACHE_DIR`, else the kernels' `__pycache__`
when writable, else the user's cache folder) and its name hashes what numba's cache depends
on: numba's and Python's versions, the kernel sources' sizes and times, the machine, and
`NUMBA_CPU_NAME` / `NUMBA_CPU_FEATURES`. Checking it costs a few `stat` calls and does not
import numba. If numba's cache was removed but the stamp was not, the kernels compile
in-process on their first call: slow once, still correct.

Example:
    >>> from lstmkit.kernels import _warm
    >>> _warm.stamp_path("float32").endswith("-float32.warm")
    True
"""

from __future__ import annotations

import contextlib
import functools
import glob
import hashlib
import importlib.util
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
#: A lock file older than this is from a child that died: another child may start.
STALE_LOCK_SECONDS = 20 * 60
_CHILD: dict = {}  # this process's background child: "proc", "log", "failed"


def _cache_dir() -> str:
    """Where numba keeps the kernels' cache (its locators' order), for the stamp."""
    configured = os.environ.get("NUMBA_CACHE_DIR")
    if configured:
        return configured
    in_tree = os.path.join(_HERE, "__pycache__")
    if os.access(in_tree if os.path.isdir(in_tree) else _HERE, os.W_OK):
        return in_tree
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "lstmkit")


DTYPES = ("float32", "float64")
#: One stamp per dtype, then one for the OpenMP launch of inference shards (`_parallel`),
#: compiled last: the slowest to compile, and the thread pool serves meanwhile.
STAMPS = DTYPES + ("openmp",)


@functools.cache
def stamp_path(stamp: str = "float32") -> str:
    """The file that says numba's cache holds the kernels of `stamp` (`STAMPS`) for this
    configuration (one per dtype: float32 calls need not wait for float64's compile)."""
    return os.path.join(_cache_dir(), f"lstmkit-kernels-{_key()}-{stamp}.warm")


@functools.cache
def _key() -> str:
    """A hash of what numba's cache of the kernels depends on (once per process: a child
    compiling while the sources change writes the stamps its parent looks for)."""
    parts = [sys.version.split()[0], platform.machine(), os.environ.get("NUMBA_CPU_NAME", ""),
             os.environ.get("NUMBA_CPU_FEATURES", "")]
    numba_spec = importlib.util.find_spec("numba")  # finds it, imports nothing
    sources = sorted(glob.glob(os.path.join(_HERE, "*.py")))
    if numba_spec is not None and numba_spec.origin:
        sources.append(numba_spec.origin)  # numba's __init__.py: changes with its version
    for path in sources:
        st = os.stat(path)
        parts.append(f"{path}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:16]


def is_warm(stamp: str | None = None) -> bool:
    """Whether `warmup()` compiled the kernels of `stamp` (a dtype name or "openmp"; None:
    all of them)."""
    return all(os.path.exists(stamp_path(s)) for s in ([stamp] if stamp else STAMPS))


def _write_stamp(stamp: str) -> None:
    """Write `stamp`, and remove the same stamp of earlier sources (an upgrade)."""
    try:
        for old in glob.glob(os.path.join(_cache_dir(), f"lstmkit-kernels-*-{stamp}.warm")):
            if not old.startswith(os.path.join(_cache_dir(), f"lstmkit-kernels-{_key()}-")):
                os.remove(old)
        os.makedirs(os.path.dirname(stamp_path(stamp)), exist_ok=True)
        with open(stamp_path(stamp), "w") as f:
            f.write(f"lstmkit kernels compiled {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
    except OSError:  # a read-only cache: numba could not keep the kernels either
        pass


# -- compiling ahead -------------------------------------------------------------------------------

def _steps():
    """(stamp, label, sizes B, T, D, H, training, shards) whose calls reach every compiled
    function, in the order they are compiled; a stamp is written after its last step.

    numba compiles per argument types, not values, so one call per signature suffices:
    a small call compiles the forward and backward loops with all their branches; a larger
    one the packed weight-gradient products (`_run._packed_pays`); forced shards the
    thread pool (training) and the OpenMP launch (inference, `_parallel`). The hand-off
    of inference shards (`_handoff.warm`, both dtypes) comes with the float64 stamp."""
    cases = [("small inference", (2, 3, 4, 5), False, 1),
             ("small training", (2, 3, 4, 5), True, 1),
             ("packed gradients", (16, 16, 64, 64), True, 1),
             ("sharded training", (4, 3, 4, 8), True, 2)]
    return ([(dtype, dtype, *case) for dtype in DTYPES for case in cases]
            + [("openmp", dtype, "sharded inference", (4, 3, 4, 8), False, 2)
               for dtype in DTYPES])


def warmup(progress=None) -> float:
    """Compile (or load from numba's cache) every kernel specialization, then write the stamp.

    Args:
        progress: called with one line of text per step (e.g. `print`), or None.

    Returns:
        the seconds it took.
    """
    from . import _shard
    from ._run import KernelCall

    say = progress or (lambda _line: None)
    started = time.perf_counter()
    steps = _steps()
    for n, (stamp, dtype, label, (B, T, D, H), train, shards) in enumerate(steps, 1):
        say(f"[{n}/{len(steps)}] {dtype} {label} ({time.perf_counter() - started:.0f} s)")
        rng = np.random.default_rng(n)
        call = KernelCall.of(
            rng.normal(size=(B, T, D)).astype(dtype), rng.normal(size=(D, 4 * H)).astype(dtype),
            rng.normal(size=(H, 4 * H)).astype(dtype), np.zeros(4 * H, dtype),
            mask=rng.random((B, T)) < 0.8, dropout_mask=np.ones((B, D), dtype),
            recurrent_dropout_mask=np.ones((B, H), dtype), return_sequences=True, train=train)
        result = _shard.forward(call, shards=shards, compiling=True)
        if train:
            _shard.backward(result[4], np.ones((B, T, H), dtype))
            no_dropout = call._replace(dropout_mask=None, recurrent_dropout_mask=None)
            _shard.backward(_shard.forward(no_dropout, shards=shards)[4],
                            np.ones((B, T, H), dtype))
        if label == "small training":  # the GRU and SimpleRNN kernels of this dtype too
            from . import cells

            cells.warm(dtype)
        if stamp == "float64" and label == "sharded training":  # both dtypes' hand-off
            from . import _handoff

            _handoff.warm()
        if n == len(steps) or steps[n][0] != stamp:  # the last step of this stamp
            _write_stamp(stamp)
    seconds = time.perf_counter() - started
    say(f"lstmkit kernels ready ({seconds:.0f} s)")
    return seconds


# -- compiling in the background ------------------------------------------------------------------

def _lock_path() -> str:
    return os.path.join(_cache_dir(), f"lstmkit-kernels-{_key()}.compiling")


def _take_lock() -> bool:
    """Create the lock file, unless a live child of any process holds it."""
    lock = _lock_path()
    try:
        os.makedirs(os.path.dirname(lock), exist_ok=True)
        if os.path.exists(lock) and time.time() - os.path.getmtime(lock) > STALE_LOCK_SECONDS:
            os.remove(lock)
        os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except OSError:  # held, or a read-only folder
        return False


def background(dtype: str) -> str | None:
    """While the cache is cold: make sure a child process is compiling the kernels.

    Returns None when the kernels of `dtype` are ready (their stamp exists), else why the
    reference answers this call (compiling, or the child failed: then its last error line).
    """
    if is_warm(dtype) or not _numba_installed():  # ready, or never (then the import fails)
        return None
    proc = _CHILD.get("proc")
    if proc is not None and proc.poll() is not None:  # ours ended without the stamp
        if "failed" not in _CHILD:
            with contextlib.suppress(OSError):  # the child was killed before removing it
                os.remove(_lock_path())
            _CHILD["log"].seek(0)
            lines = _CHILD["log"].read().decode(errors="replace").strip().splitlines()
            _CHILD["failed"] = lines[-1] if lines else f"exit status {proc.returncode}"
        return (f"compiling the kernels in the background failed ({_CHILD['failed']}); "
                "run `lstmkit warmup` to see why")
    if proc is None and _take_lock():
        _CHILD["log"] = tempfile.TemporaryFile()
        # A new session: Ctrl-C in this terminal does not stop the compile half-way.
        _CHILD["proc"] = subprocess.Popen(
            _child_command(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=_CHILD["log"], start_new_session=True)
        with contextlib.suppress(OSError), open(_lock_path(), "w") as f:
            f.write(str(_CHILD["proc"].pid))  # who holds the lock (`lstmkit bench` stops it)
    return ("the kernels are compiling in a background process (first use after an install "
            "or upgrade; about a minute); the NumPy reference answers until they are ready. "
            "`lstmkit warmup` compiles them ahead; LSTMKIT_BACKGROUND_COMPILE=0 makes the "
            "first call wait for them")


@functools.cache
def _numba_installed() -> bool:
    return importlib.util.find_spec("numba") is not None


def _child_command() -> list:
    """The background child: this Python running `main()` from this copy of lstmkit."""
    root = os.path.dirname(os.path.dirname(_HERE))  # the folder holding `lstmkit`
    code = (f"import sys; sys.path.insert(0, {root!r}); "
            "from lstmkit.kernels import _warm; sys.exit(_warm.main())")
    return [sys.executable, "-c", code]


def child_pid() -> int | None:
    """The process id of this process's background compile, if it started one."""
    proc = _CHILD.get("proc")
    return None if proc is None else proc.pid


def main() -> int:
    """The background child: `warmup()`, then the lock is released."""
    try:
        warmup()
        return 0
    finally:
        with contextlib.suppress(OSError):
            os.remove(_lock_path())
