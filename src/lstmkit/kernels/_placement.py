"""Keeping woken worker threads off their caller's core for the length of one launch.

When a thread wakes another, Linux puts the wakee on the core it last ran on if that
core is idle; else it searches the cache domain for an idle core, but on a small machine
under some load (2 cores, above ~30% busy: `SIS_UTIL`) it skips that search and takes
the waker's core. A shard worker that lands on its caller's core waits there, runnable,
while the caller computes its own shard, and the other core idles: the shards run one
after the other. Once that has happened the worker's "last core" is the caller's, so
it happens again at the next call. Seen on a 2-core VM with `perf sched`: a masked
Bidirectional took 3.7 ms a call in that state and 2.1 ms out of it (benchmarks/README.md).

So a caller about to wake workers narrows each worker's CPU affinity to the process's
cores minus the caller's own, and gives each its affinity back when the launch is over.
Only lstmkit's own worker threads are touched, never the caller's thread, and each gets
back the affinity it had. Where the platform has no `sched_setaffinity` /
`sched_getcpu` (macOS, Windows) nothing is done.

Example:
    >>> import threading
    >>> from lstmkit.kernels import _placement
    >>> done = threading.Event()
    >>> worker = threading.Thread(target=done.wait)
    >>> worker.start()
    >>> changed = _placement.keep_off_this_core([worker.native_id])  # before waking it
    >>> _placement.give_back(changed)  # after the launch: its affinity as it was
    >>> done.set()
    >>> worker.join()
"""

from __future__ import annotations

import ctypes
import os
import threading


def _sched_getcpu():
    """libc's `sched_getcpu` (the core the calling thread runs on), or None."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    try:
        getcpu = ctypes.CDLL(None).sched_getcpu
    except (OSError, AttributeError):
        return None
    getcpu.restype, getcpu.argtypes = ctypes.c_int, []
    return getcpu


_GETCPU = _sched_getcpu()


def current_core() -> int | None:
    """The core the calling thread runs on now, or None where that cannot be asked."""
    if _GETCPU is None:
        return None
    core = _GETCPU()
    return core if core >= 0 else None


#: Held from `keep_off_this_core` to `give_back`: one launch at a time narrows the
#: workers (another, at once, would save the narrowed affinity as the one to give back).
_LOCK = threading.Lock()


def keep_off_this_core(worker_ids) -> list | None:
    """Narrow each worker's (native thread id) affinity to exclude the calling thread's
    core, where it had more cores than that one. Returns [(id, affinity it had)] for
    `give_back` (which must follow), or None when nothing was done: no workers, no way
    to ask the core, or another launch is narrowing them now."""
    core = current_core() if worker_ids else None
    if core is None or not _LOCK.acquire(blocking=False):
        return None
    changed = []
    for tid in worker_ids:
        try:
            cores = os.sched_getaffinity(tid)
            if core in cores and len(cores) > 1:
                os.sched_setaffinity(tid, cores - {core})
                changed.append((tid, cores))
        except OSError:  # a worker that has exited, or a platform that refuses
            continue
    return changed


def give_back(changed: list | None) -> None:
    """Restore what `keep_off_this_core` changed (None: it did nothing)."""
    if changed is None:
        return
    try:
        for tid, cores in changed:
            try:
                os.sched_setaffinity(tid, cores)
            except OSError:
                continue
    finally:
        _LOCK.release()
