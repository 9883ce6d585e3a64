"""Run a file parser in a helper process with a time and a memory limit: a corrupt file
cannot hang, crash or exhaust the caller.

The HDF5 C library can loop or crash on some corrupted files (a fuzzed `.h5` made an
attribute read spin forever), so HDF5 reading runs in a helper process that sends
back plain data: JSON with NumPy arrays as raw bytes, never a pickle. The helper is
started with `os.posix_spawn` (nothing of the caller runs in it), never with
a bare `fork()`: a forked child of a threaded process inherits locks that other
threads held (OpenBLAS, OpenMP, malloc) and can deadlock on them. It starts on the
first load and is reused (one request at a time); each request has a deadline, after
which the helper is killed (and started again on the next load), and an address-space
limit (`RLIMIT_AS`) sized from what the request may read. With
`LSTMKIT_IO_SANDBOX=0`, or where there is no `select` on pipes (Windows), the parser
runs in-process.

Example:
    >>> from lstmkit.saving._sandbox import run_isolated
    >>> run_isolated("math:hypot", 3.0, 4.0, what="demo")
    5.0
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import struct
import sys
import threading
import time
from typing import NamedTuple

import numpy as np

from .. import _config

#: Seconds a parse may take, plus one second per 50 MB of input.
BASE_TIMEOUT = 20.0
#: Address space the helper may grow by for a request, beyond twice the bytes it reads.
MEMORY_SLACK = 512 << 20
#: Seconds the helper may take to start (Python, NumPy and h5py imports).
START_TIMEOUT = 60.0

_LOCK = threading.Lock()  # one request at a time; also guards _HELPER
_HELPER: dict = {"proc": None}


def enabled() -> bool:
    return os.name == "posix" and _config.io_sandbox()


# -- the wire format: a kind byte, a JSON header, then each array's raw bytes -------------
def _plain(value, buffers):
    if isinstance(value, np.ndarray):
        buffers.append(np.ascontiguousarray(value))
        return {"__array__": len(buffers) - 1}
    if isinstance(value, (bytes, bytearray, memoryview)):
        buffers.append(np.frombuffer(value, np.uint8))
        return {"__bytes__": len(buffers) - 1}
    if isinstance(value, dict):
        return {"__dict__": [[k, _plain(x, buffers)] for k, x in value.items()]}
    if isinstance(value, (list, tuple)):
        return [_plain(x, buffers) for x in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _write_all(fd: int, data) -> None:
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(fd, view):]


def send(fd: int, kind: bytes, value) -> None:
    """Write one message: arrays go out from their own memory, never joined into a copy."""
    buffers: list = []
    header = json.dumps({"value": _plain(value, buffers),
                         "buffers": [[b.dtype.str, list(b.shape)] for b in buffers]}).encode()
    _write_all(fd, kind + struct.pack("<Q", len(header)) + header)
    for b in buffers:
        if b.nbytes:
            _write_all(fd, b.reshape(-1).view(np.uint8))


class _Reader:
    """Reads exactly n bytes from a pipe before a deadline (None: no deadline)."""

    def __init__(self, fd: int, deadline: float | None = None):
        self.fd, self.deadline = fd, deadline

    def into(self, view: memoryview) -> None:
        while view:
            if self.deadline is not None:
                left = self.deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                if not select.select([self.fd], [], [], min(left, 1.0))[0]:
                    continue
            n = os.readv(self.fd, [view])
            if n == 0:
                raise EOFError
            view = view[n:]

    def exactly(self, n: int) -> bytearray:
        data = bytearray(n)
        self.into(memoryview(data))
        return data


def receive(reader: _Reader, max_bytes: int | None = None):
    """(kind, value) of one message; each array is read straight into its final memory."""
    kind = bytes(reader.exactly(1))
    (n,) = struct.unpack("<Q", reader.exactly(8))
    if max_bytes is not None and n > max_bytes:
        raise ValueError(f"a header of {n} bytes from the reader")
    header = json.loads(reader.exactly(n))
    buffers, total = [], 0
    for dtype, shape in header["buffers"]:
        dtype = np.dtype(dtype)
        if dtype.kind not in "fiub" or dtype.hasobject or any(int(d) < 0 for d in shape):
            raise ValueError(f"unexpected array {dtype} {shape} from the reader")
        array = np.empty([int(d) for d in shape], dtype)  # (*shape,)
        total += array.nbytes
        if max_bytes is not None and total > max_bytes:
            raise ValueError(f"the reader sent more than the {max_bytes} bytes expected")
        if array.nbytes:
            reader.into(memoryview(array.reshape(-1).view(np.uint8)))
        buffers.append(array)

    def dec(v):
        if isinstance(v, dict) and "__array__" in v:
            return buffers[v["__array__"]]
        if isinstance(v, dict) and "__bytes__" in v:
            return buffers[v["__bytes__"]].tobytes()
        if isinstance(v, dict) and "__dict__" in v:
            return {k: dec(x) for k, x in v["__dict__"]}
        if isinstance(v, list):
            return [dec(x) for x in v]
        return v

    return kind, dec(header["value"])


# -- the helper process ----------------------------------------------------------------------
def _function(name: str):
    module, _, attr = name.partition(":")
    return getattr(importlib.import_module(module), attr)


def _address_space() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _limit_memory(nbytes):
    """Cap the helper's address space for one request (Linux); None lifts the cap."""
    try:
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        soft = hard if nbytes is None else _address_space() + 2 * nbytes + MEMORY_SLACK
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    except (ImportError, OSError, ValueError):
        pass


def serve() -> None:  # pragma: no cover - runs in the helper process
    """The helper's loop: read a request, run it, send the result or the error."""
    # The protocol gets its own descriptors; anything a library prints goes to stderr.
    reader, out = _Reader(os.dup(0)), os.dup(1)
    os.dup2(2, 1)
    send(out, b"H", os.getpid())
    while True:
        try:
            _, (name, args, memory, cwd) = receive(reader)
        except EOFError:
            return
        _limit_memory(memory)
        try:
            os.chdir(cwd)  # relative paths mean what they mean to the caller, now
            kind, value = b"R", _function(name)(*args)
        except (ValueError, OSError) as err:
            kind, value = b"E", [type(err).__name__, str(err)]
        except MemoryError:
            kind, value = b"E", ["ValueError", "reading it needs more memory than the limit "
                                 f"of about {2 * (memory or 0) >> 20} MiB its size implies"]
        except BaseException as err:  # noqa: BLE001 - reported to the caller as a ValueError
            kind, value = b"E", ["ValueError", f"unreadable file ({type(err).__name__}: {err})"]
        finally:
            _limit_memory(None)
        try:
            send(out, kind, value)
        except MemoryError:
            send(out, b"E", ["ValueError", "the result does not fit the memory limit"])
        del value


class _Helper(NamedTuple):
    """The helper process as plain numbers: its pid and our ends of its stdin and stdout.

    Plain fds and a pid, not a `Popen`: nothing to close or wait for at interpreter exit
    (no atexit hook, no ResourceWarning). When this process ends, the helper's stdin
    closes and `serve` returns at the end of its input.
    """

    pid: int
    stdin: int
    stdout: int

    def exit_code(self, timeout: float = 0.0) -> int | None:
        """The helper's exit code (negative: killed by that signal), None if it still runs
        after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # already reaped
                return 0
            if pid:
                return os.waitstatus_to_exitcode(status)
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.01)


def _start() -> _Helper:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = (f"import sys; sys.path.insert(0, {root!r}); "
            "from lstmkit.saving._sandbox import serve; serve()")
    # One BLAS thread: the helper only copies arrays, and each OpenBLAS thread reserves
    # address space that RLIMIT_AS would count.
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    child_in, to_child = os.pipe()
    from_child, child_out = os.pipe()
    # posix_spawn (fork + exec, or vfork): nothing of this process runs in the child, and
    # only fds 0-2 are inherited (os.pipe's fds are non-inheritable).
    actions = [(os.POSIX_SPAWN_DUP2, child_in, 0), (os.POSIX_SPAWN_DUP2, child_out, 1),
               (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)]
    try:
        pid = os.posix_spawn(sys.executable, [sys.executable, "-I", "-c", code], env,
                             file_actions=actions)
    finally:
        os.close(child_in)
        os.close(child_out)
    helper = _HELPER["proc"] = _Helper(pid, to_child, from_child)
    try:
        kind, _ = receive(_Reader(helper.stdout, time.monotonic() + START_TIMEOUT))
    except (TimeoutError, EOFError, ValueError) as err:
        _stop(kill=True)
        raise OSError(f"the file-reading helper process did not start ({type(err).__name__})"
                      "; set LSTMKIT_IO_SANDBOX=0 to read files in-process") from None
    if kind != b"H":
        _stop(kill=True)
        raise OSError("the file-reading helper process did not start")
    return helper


def _stop(kill: bool = False) -> None:
    helper, _HELPER["proc"] = _HELPER["proc"], None
    if helper is None:
        return
    if kill:
        with contextlib.suppress(ProcessLookupError):
            os.kill(helper.pid, signal.SIGKILL)
    for fd in (helper.stdin, helper.stdout):  # closing its stdin ends `serve`
        with contextlib.suppress(OSError):
            os.close(fd)
    if helper.exit_code(timeout=0 if kill else 5) is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(helper.pid, signal.SIGKILL)
        helper.exit_code(timeout=5)


def _name(fn) -> str:
    return fn if isinstance(fn, str) else f"{fn.__module__}:{fn.__qualname__}"


def run_isolated(fn, *args, what: str = "file", size: int = 0, memory: int | None = None):
    """`fn(*args)` in the helper process, its result copied back; errors re-raised.

    Args:
        fn: a module-level function, or its name as "module:function"; args are plain
            data (str, numbers, bytes, arrays, lists, dicts).
        what: the file's name, for the messages.
        size: bytes the request reads (sets the deadline: BASE_TIMEOUT + 1 s per 50 MB).
        memory: bytes the request may need; the helper's address space is capped at its
            current size plus twice this plus MEMORY_SLACK. None: no cap.

    Raises:
        ValueError: the parser failed, overran its time or memory, or crashed.
        OSError: the parser raised an OSError (e.g. the file cannot be read).
    """
    if not enabled():
        return _function(_name(fn))(*args) if isinstance(fn, str) else fn(*args)
    timeout = BASE_TIMEOUT + size / 50e6
    with _LOCK:
        helper = _HELPER["proc"]
        if helper is None or helper.exit_code() is not None:
            _stop()
            helper = _start()
        deadline = time.monotonic() + timeout
        try:
            send(helper.stdin, b"Q", [_name(fn), list(args), memory, os.getcwd()])
            kind, value = receive(_Reader(helper.stdout, deadline))
        except TimeoutError:
            _stop(kill=True)
            raise ValueError(f"{what}: reading did not finish within {timeout:.0f} s; the "
                             "file is likely corrupt") from None
        except (EOFError, BrokenPipeError, ValueError, MemoryError) as err:
            code = helper.exit_code(timeout=2)
            _stop(kill=True)
            if isinstance(err, ValueError):
                raise ValueError(f"{what}: the reader sent bad data ({err})") from None
            if isinstance(err, MemoryError):
                raise ValueError(f"{what}: the weights do not fit in memory") from None
            died = f"signal {-code}" if code is not None and code < 0 else "no result"
            raise ValueError(f"{what}: the HDF5 reader crashed ({died}); the file is "
                             "corrupt") from None
        except BaseException:  # e.g. KeyboardInterrupt: the helper's answer is now unread
            _stop(kill=True)
            raise
    if kind == b"E":
        error, message = value
        raise (OSError if error in ("OSError", "FileNotFoundError", "PermissionError",
                                    "IsADirectoryError") else ValueError)(message)
    return value
