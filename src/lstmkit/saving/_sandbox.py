"""Run a file parser in a forked child with a time limit: a corrupt file cannot hang or
crash the caller.

The HDF5 C library can loop or crash on some corrupted files (a fuzzed `.h5` made
an attribute read spin forever). So on Linux the HDF5 reading runs in a forked
child that sends back plain data -- JSON with NumPy arrays as raw bytes, never a
pickle -- and is killed when it overruns. Elsewhere (no cheap `fork`), or with
`LSTMKIT_IO_SANDBOX=0`, the parser runs in-process.

Example:
    >>> from lstmkit.saving._sandbox import run_isolated
    >>> run_isolated(lambda: {"answer": 42}, what="demo")
    {'answer': 42}
"""

from __future__ import annotations

import json
import os
import select
import signal
import struct
import sys
import time
import warnings

import numpy as np

from .. import _config

#: Seconds a parse may take, plus one second per 50 MB of input.
BASE_TIMEOUT = 20.0


def enabled() -> bool:
    return sys.platform.startswith("linux") and _config.io_sandbox()


def _encode(value) -> bytes:
    arrays = []

    def enc(v):
        if isinstance(v, np.ndarray):
            arrays.append(np.ascontiguousarray(v))
            return {"__array__": len(arrays) - 1, "dtype": v.dtype.str, "shape": list(v.shape)}
        if isinstance(v, dict):
            return {"__dict__": [[k, enc(x)] for k, x in v.items()]}
        if isinstance(v, (list, tuple)):
            return [enc(x) for x in v]
        return v

    header = json.dumps(enc(value)).encode()
    parts = [struct.pack("<Q", len(header)), header]
    for a in arrays:
        parts += [struct.pack("<Q", a.nbytes), a.tobytes()]
    return b"".join(parts)


def _decode(data: bytes):
    (n,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + n])
    offset, buffers = 8 + n, []
    while offset < len(data):
        (size,) = struct.unpack_from("<Q", data, offset)
        buffers.append(data[offset + 8:offset + 8 + size])
        offset += 8 + size

    def dec(v):
        if isinstance(v, dict) and "__array__" in v:
            dtype = np.dtype(v["dtype"])
            if dtype.kind not in "fiub":
                raise ValueError(f"unexpected dtype {dtype} from the parser")
            return np.frombuffer(buffers[v["__array__"]], dtype).reshape(v["shape"]).copy()
        if isinstance(v, dict) and "__dict__" in v:
            return {k: dec(x) for k, x in v["__dict__"]}
        if isinstance(v, list):
            return [dec(x) for x in v]
        return v

    return dec(header)


def _child(fn, args, write_fd):
    try:
        try:
            payload = b"R" + _encode(fn(*args))
        except (ValueError, OSError) as err:
            payload = b"E" + json.dumps([type(err).__name__, str(err)]).encode()
        except BaseException as err:  # noqa: BLE001 - reported to the parent as a ValueError
            payload = b"E" + json.dumps(["ValueError",
                                         f"unreadable file ({type(err).__name__}: {err})"]).encode()
        view = memoryview(payload)
        while view:
            view = view[os.write(write_fd, view):]
    finally:
        os._exit(0)


def run_isolated(fn, *args, what: str = "file", size: int = 0):
    """`fn(*args)` in a forked child (Linux), its result copied back; errors re-raised.

    Raises:
        ValueError: the parser failed, overran its time, or crashed (a corrupt file).
        OSError: the parser raised an OSError (e.g. the file cannot be read).
    """
    if not enabled():
        return fn(*args)
    timeout = BASE_TIMEOUT + size / 50e6
    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads (3.12+)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read_fd)
        _child(fn, args, write_fd)
    os.close(write_fd)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                raise ValueError(f"{what}: reading did not finish within {timeout:.0f} s; the "
                                 "file is likely corrupt")
            ready, _, _ = select.select([read_fd], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(read_fd, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.close(read_fd)
        _, status = os.waitpid(pid, 0)
    data = b"".join(chunks)
    if not data:
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        raise ValueError(f"{what}: the HDF5 reader crashed (signal {sig}); the file is corrupt")
    if data[:1] == b"E":
        kind, message = json.loads(data[1:])
        raise (OSError if kind in ("OSError", "FileNotFoundError", "PermissionError")
               else ValueError)(message)
    return _decode(data[1:])
