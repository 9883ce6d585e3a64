"""Large batches split by rows over the cores: each shard runs the whole sequence alone.

The recurrences of different batch rows never meet, so a batch of B rows is cut
into n shards of about B/n rows, and each shard runs the compiled forward
(`_forward.forward_call`) or `_run.backward` on its own thread with single-threaded
BLAS; the threads meet once per call, not once per step. Equal inference shards
(no dropout masks) are handed to workers that wait in compiled code (`_handoff`: a
few microseconds between back-to-back calls), or launched on OpenMP where the
application allows its spinning threads (`_parallel`); training (forward and
backward), and inference shards neither takes, use a thread pool, slower to wake
(~45 us a call on a quiet VM). Workers are woken off the caller's core (`_placement`).
Splitting every step's GEMM over threads instead (what BLAS threading does) needs a
handshake per step, and on a busy machine a handshake waits for a descheduled thread.
The measurements are in benchmarks/README.md.

Only the weight gradients cross shards: each shard's dK, dR, d_bias are summed.
Shards are used when the per-step product is large (`_config.kernel_shard_macs`); small calls run
as one shard on the calling thread.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np

from .. import _config
from .. import reference as _ref
from . import _gemm, _handoff, _parallel, _placement, _ragged, _run
from ._blas import restore_threads, single_thread_if_small
from ._forward import forward_call
from ._run import KernelCall  # noqa: F401  (what `forward` takes; kernels builds it from here)

_POOL: ThreadPoolExecutor | None = None
_POOL_THREADS: list = []  # the pool's threads' native ids (for `_placement`)


class ShardedCache(NamedTuple):
    """One `_run.KernelCache` per shard, and the batch rows [start, stop) of each."""

    parts: list
    bounds: list

    @property
    def inputs(self) -> dict:
        """The call's arguments as `KernelCache.inputs`, masks joined over the batch."""
        first = self.parts[0].inputs
        for name in ("dropout_mask", "recurrent_dropout_mask"):
            if first[name] is not None:
                axis = first[name].ndim - 2
                first[name] = np.concatenate([p.inputs[name] for p in self.parts], axis=axis)
        return first


class _Scope(threading.local):
    """A thread's own limit on the cores a call may use (`one_core`), else None (a class
    default: read without the AttributeError a bare `threading.local` raises)."""

    cores = None


_SCOPE = _Scope()


def _cores() -> int:
    """Cores to use: the calling thread's `one_core` scope, else `LSTMKIT_NUM_THREADS`,
    else the cores this process may run on (asked once: not a system call per LSTM call)."""
    return _SCOPE.cores or _config.kernel_threads() or _affinity()


@contextlib.contextmanager
def one_core():
    """Within the block, this thread's kernel calls run as one shard (see `side_by_side`)."""
    saved = _SCOPE.cores
    _SCOPE.cores = 1
    try:
        yield
    finally:
        _SCOPE.cores = saved


def side_by_side(jobs: list, B: int, H: int) -> list:
    """[job() for job in jobs], the jobs (independent recurrent calls of B rows and H
    units, such as the two directions of a `Bidirectional`) run at once on their own
    cores when the batch would be split over that many cores anyway (`n_shards`): a
    whole batch per core beats each call's rows split over the cores (fuller register
    blocks, one hand-off instead of one per call). Each job then runs as one shard."""
    if len(jobs) < 2 or n_shards(B, H) < len(jobs):
        return [job() for job in jobs]

    def alone(job):
        with one_core():
            return job()
    return _run_shards(alone, [(job,) for job in jobs])


@functools.cache
def _affinity() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def n_shards(B: int, H: int) -> int:
    """How many shards a batch of B rows with H units runs as (one below
    `LSTMKIT_SHARD_MACS` multiply-adds per step)."""
    if B * H * 4 * H < _config.kernel_shard_macs():
        return 1
    return max(1, min(_cores(), B, 8))


def _forget_pool():
    """In a forked child: the parent's pool threads do not exist there (a job submitted
    to them would wait forever), so the child makes its own pool."""
    global _POOL, _POOL_THREADS
    _POOL, _POOL_THREADS = None, []


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _pool(n):
    global _POOL, _POOL_THREADS
    if _POOL is None or _POOL._max_workers < n:
        _POOL_THREADS = []
        _POOL = ThreadPoolExecutor(max_workers=n, thread_name_prefix="lstmkit",
                                   initializer=_register, initargs=(_POOL_THREADS,))
    return _POOL


def _register(ids):
    ids.append(threading.get_native_id())


def _bounds(B, n):
    """n nearly equal blocks of rows [start, stop) (integer arithmetic, cheaper than NumPy's)."""
    edges = [(B * k + n // 2) // n for k in range(n + 1)]
    return list(itertools.pairwise(edges))


#: A thread keeps at most this much scratch for its next call (`_kept`).
SCRATCH_CACHE_BYTES = 64 << 20


class _Kept(threading.local):
    """This thread's scratch kept for its next call, by name (`_kept`)."""

    def __init__(self):
        self.by_name = {}


_KEPT = _Kept()


def _kept(name: str, key: tuple, make):
    """make() (an array or a tuple of arrays), or what it made for this thread's previous
    call with the same name and key: scratch of one call, which the caller gets no part
    of. Kept while all the thread keeps totals at most SCRATCH_CACHE_BYTES.

    Why: fresh buffers are cold in cache and TLB on every call (~15 us of a 32,50,32,64
    call); and a large array freed at the end of every call can end up on top of the C
    heap, whose pages glibc then returns to the system (`M_TRIM_THRESHOLD`) and faults
    in again on the next call, in some processes and not others, by the heap's history
    (a masked Bidirectional call: 2.1 ms in one process, 4.4 in the next, a third of it
    in page faults; benchmarks/README.md)."""
    by_name = _KEPT.by_name
    kept = by_name.get(name)
    if kept is not None and kept[0] == key:
        return kept[1]
    by_name.pop(name, None)  # another key's scratch under this name: replaced
    made = make()
    if _nbytes(made) + sum(_nbytes(other) for _, other in by_name.values()) \
            <= SCRATCH_CACHE_BYTES:
        by_name[name] = (key, made)
    return made


def _nbytes(arrays) -> int:
    return sum(a.nbytes for a in (arrays if isinstance(arrays, tuple) else (arrays,)))


def inference_scratch(n, T, rows, D, H, train, joint, has_mask, dtype) -> _run.Buffers:
    """`_run.make_buffers` for inference (n shards, or n = 0: one call), kept for this
    thread's next call of the same sizes (`_kept`): inference returns none of them."""
    key = (n, T, rows, D, H, joint, has_mask, np.dtype(dtype))
    return _kept("buffers", key, lambda: _run.make_buffers(n, T, rows, D, H, train, joint,
                                                           has_mask, dtype))


def _scratch_array(name: str, shape: tuple, dtype) -> np.ndarray:
    """An empty array kept for this thread's next call (`_kept`)."""
    return _kept(name, (shape, np.dtype(dtype)), lambda: np.empty(shape, dtype))


def _rows(a, b0, b1):
    return None if a is None else a[b0:b1]


def _run_shards(fn, arg_lists):
    """fn(*args) for each shard; the first on this thread, the rest on the pool."""
    pool = _pool(len(arg_lists))
    changed = single_thread_if_small(0)  # one BLAS thread per shard
    moved = _placement.keep_off_this_core(_POOL_THREADS)  # the workers off this core
    try:
        futures = [pool.submit(fn, *args) for args in arg_lists[1:]]
        first = fn(*arg_lists[0])
        return [first] + [f.result() for f in futures]
    finally:
        _placement.give_back(moved)
        restore_threads(changed)


def _launch_equal_shards(call, n, outputs, compiling) -> bool:
    """n equal inference shards of `call` into `outputs` in one launch: OpenMP's where
    the application allows it (`_parallel`), else `_handoff`'s workers (no dropout masks);
    False (nothing run) when neither can take them now."""
    B, T, D = call.x.shape
    H = call.recurrent_kernel.shape[0]
    way = equal_launch(compiling, dropout=call.dropout_mask is not None
                       or call.recurrent_dropout_mask is not None)
    if way is None:
        return False
    inputs = _run.convert(call, B // n)
    buffers = inference_scratch(n, T, B // n, D, H, False, inputs.joint,
                                call.mask is not None, call.x.dtype)
    # one BLAS thread per shard, when BLAS could use more
    changed = _run.blas_may_thread(B // n, inputs) and single_thread_if_small(0)
    try:
        return launch_shards(inputs, buffers, outputs, way == "openmp")
    finally:
        restore_threads(changed)


def equal_launch(compiling: bool = False, dropout: bool = False) -> str | None:
    """How equal inference shards launch at once now: "openmp" where the application
    allows it (`_parallel`), else "handoff" (`_handoff`'s workers; no dropout masks),
    or None: neither can take them, and the pool serves. `compiling` as in `forward`."""
    if _parallel.available(compiling):
        return "openmp"
    if not dropout and _handoff.ready(compiling):
        return "handoff"
    return None


def launch_shards(inputs: _run.Inputs, buffers: _run.Buffers, outputs: _run.Outputs,
                  openmp: bool) -> bool:
    """The shards of `inputs` (whole batch; `buffers` with a leading shard axis) in one
    launch, on OpenMP or else the hand-off's workers; False when those are busy."""
    if openmp:
        _parallel.forward_shards(*inputs, *buffers, *outputs)
        return True
    return _handoff.forward_shards(*inputs, *buffers, *outputs)


def forward(call: _run.KernelCall, shards: int | None = None, compiling: bool = False) -> tuple:
    """`_run.forward`, split over shards of batch rows when that pays (`n_shards`), or
    over `shards` shards when given; `compiling`: use the OpenMP launch even before it is
    compiled (`_warm.warmup` compiles every path that way). Padded inference runs its
    rows longest first (`_ragged`)."""
    B = call.x.shape[0]
    H = call.recurrent_kernel.shape[0]
    n = n_shards(B, H) if shards is None else shards
    rows = None
    if call.mask is not None and not call.train:  # padded inference: the kernel may skip rows
        T, D = call.x.shape[1:]
        if _gemm.steps_packed(B // n, T, D, H, call.x.dtype):
            rows = _ragged.order(call.mask, n)
    if rows is None:
        return _forward_shards(call, n, _bounds(B, n), compiling)
    # The sorted copy of x and the sorted outputs are scratch (`_kept`): only the outputs
    # in the caller's order are new.
    T, H, dtype = call.x.shape[1], call.recurrent_kernel.shape[0], call.x.dtype
    x = np.take(call.x, rows, axis=0, out=_scratch_array("sorted x", call.x.shape, dtype),
                mode="clip")  # (rows are in range; "raise" would copy through a buffer)
    outputs = _run.Outputs(
        _scratch_array("sorted out", (B, T, H), dtype) if call.return_sequences
        else _run.empties(dtype)[2],
        *(_scratch_array(f"sorted {name}", (B, H), dtype) for name in ("last", "h", "c")))
    out, last, h, c, _ = _forward_shards(call.take(rows, x=x), n, _ragged.shard_bounds(B, n),
                                         compiling, outputs)
    return (*_ragged.restore(rows, out, last, h, c), None)


def _forward_shards(call, n, bounds, compiling, outputs=None):
    """`forward` of `call`'s rows as they come, in n shards of rows [start, stop) `bounds`,
    into `outputs` (`_run.Outputs`) or new ones."""
    if n == 1:  # inference scratch reused, as for shards (`inference_scratch`)
        return _run.forward(call, outputs, None if call.train else inference_scratch)
    B, T, D = call.x.shape
    H = call.recurrent_kernel.shape[0]
    call = call._replace(kernel=np.ascontiguousarray(call.kernel),
                         recurrent_kernel=np.ascontiguousarray(call.recurrent_kernel))
    # The outputs are made whole and each shard fills its rows (batch-major, so a shard's
    # rows are one contiguous block); each shard's time-major buffers are its own.
    if outputs is None:
        outputs = _run.outputs_for(B, T, H, call.x.dtype, call.return_sequences)
    if B % n == 0 and not call.train and _launch_equal_shards(call, n, outputs, compiling):
        return (outputs.out if call.return_sequences else None), *outputs[1:], None
    jobs = []
    for b0, b1 in bounds:
        part = _run.Outputs(outputs.out[b0:b1] if call.return_sequences else outputs.out,
                            *(a[b0:b1] for a in outputs[1:]))
        inputs, buffers, cache = _run.prepare(call.rows(b0, b1))
        jobs.append(((*inputs, *buffers, *part), cache))
    _run_shards(forward_call, [args for args, _ in jobs])
    cache = ShardedCache([part for _, part in jobs], bounds) if call.train else None
    return (outputs.out if call.return_sequences else None), *outputs[1:], cache


def backward(cache, d_outputs=None, d_h=None, d_c=None, input_grad=True) -> _ref.Gradients:
    """`_run.backward`, per shard when the forward ran in shards."""
    if not isinstance(cache, ShardedCache):
        return _run.backward(cache, d_outputs, d_h, d_c, input_grad)
    args = [(part, _rows(d_outputs, b0, b1), _rows(d_h, b0, b1), _rows(d_c, b0, b1), input_grad)
            for part, (b0, b1) in zip(cache.parts, cache.bounds)]
    grads = _run_shards(_run.backward, args)
    total = lambda name: sum(getattr(g, name) for g in grads)
    d_bias = None if grads[0].bias is None else total("bias")
    rows = lambda name: np.concatenate([getattr(g, name) for g in grads])
    dx = rows("x") if grads[0].x is not None else None
    return _ref.Gradients(dx, total("kernel"), total("recurrent_kernel"), d_bias,
                          rows("h0"), rows("c0"))
