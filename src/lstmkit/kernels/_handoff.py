"""Inference shards handed to worker threads that wait in compiled code, without the GIL.

`_shard` runs the shards of a large inference batch on several cores. A thread-pool
worker sleeps between calls: waking it, and its taking the GIL back to run Python,
costs ~45 us a call on a quiet 2-core VM, a sixth of a 32,50,32,64 forward. OpenMP's
workers avoid that by spinning for a long while after each launch, which then slows
whatever runs next (numbers in benchmarks/README.md). Here a worker runs its shard
entirely in compiled code: the caller writes the shard's arrays (addresses and shapes)
and options into the worker's mailbox, and the worker, spinning on the mailbox's
state with no GIL, rebuilds the arrays (`numba.carray`) and runs `forward_call` on
them. After each job it spins for `SPIN_CYCLES` more (tens of microseconds), so that
back-to-back calls find it awake; then it returns to Python and sleeps on an Event,
which the next caller sets (that call then pays one wake-up, as the pool does).

The mailbox's state, changed only by atomic compare-and-swap or release stores:

    SPINNING --caller--> CLAIMED --caller--> POSTED --worker--> DONE --caller--> SPINNING
    SPINNING --worker, after SPIN_CYCLES idle--> SLEEPING --caller--> CLAIMED ...
    SLEEPING --worker, woken--> SPINNING

One caller at a time owns the workers (a lock; a second caller at once uses the pool).
The caller keeps the arrays alive until the worker is DONE. A forked child makes its
own workers.

Example:
    >>> from lstmkit.kernels import _handoff
    >>> _handoff.SPINNING, _handoff.POSTED, _handoff.DONE
    (0, 2, 3)
"""

from __future__ import annotations

import os
import threading

import numpy as np
from llvmlite import ir
from numba import carray, njit, types
from numba.extending import intrinsic

from .. import _config
from . import _placement, _warm
from ._forward import forward_call
from ._microkernel import data_pointer

#: How long a thread spins before it sleeps or yields, in the processor's cycle counter's
#: ticks (`llvm.readcyclecounter`: the TSC on x86, 2-4 GHz): 50-100 us, a few calls' gap.
SPIN_CYCLES = 200_000

SPINNING, CLAIMED, POSTED, DONE, SLEEPING = 0, 1, 2, 3, 4

#: The mailbox (int64): 4 slots per parameter of `forward_call`, by its position: an
#: array's address and 3 dimensions (1 for the missing ones); the 5 flags after them
#: (`_FLAG_AT`); then the dtype's itemsize.
PARAMETERS = 24
FLAGS = 5
_FLAG_AT = 4 * PARAMETERS
_DTYPE_AT = _FLAG_AT + FLAGS
BOX_SIZE = _DTYPE_AT + 1
_FLOAT64 = 8  # the dtype slot holds the itemsize: 4 float32, 8 float64


# -- atomics and addresses (LLVM instructions, through numba's public extension API) --------

@intrinsic
def _load(typingctx, state):
    """state[0], an atomic acquire load (never hoisted out of a loop)."""
    if not (isinstance(state, types.Array) and state.dtype == types.int64):
        return None

    def codegen(context, builder, signature, args):
        return builder.load_atomic(data_pointer(context, builder, signature.args[0], args[0]),
                                   "acquire", 8)

    return types.int64(state), codegen


@intrinsic
def _store(typingctx, state, value):
    """state[0] = value, an atomic release store (what was written before is seen first)."""
    if not (isinstance(state, types.Array) and state.dtype == types.int64
            and isinstance(value, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        value = context.cast(builder, args[1], signature.args[1], types.int64)
        builder.store_atomic(value, data_pointer(context, builder, signature.args[0], args[0]),
                             "release", 8)
        return context.get_dummy_value()

    return types.void(state, value), codegen


@intrinsic
def _swap(typingctx, state, expected, new):
    """Atomically state[0] = new if it is `expected`; returns whether it was."""
    if not (isinstance(state, types.Array) and state.dtype == types.int64):
        return None

    def codegen(context, builder, signature, args):
        ptr = data_pointer(context, builder, signature.args[0], args[0])
        old = context.cast(builder, args[1], signature.args[1], types.int64)
        new = context.cast(builder, args[2], signature.args[2], types.int64)
        pair = builder.cmpxchg(ptr, old, new, "acq_rel", "acquire")
        return builder.extract_value(pair, 1)

    return types.boolean(state, expected, new), codegen


@intrinsic
def _cycles(typingctx):
    """The processor's cycle counter (`llvm.readcyclecounter`). A call with side effects:
    the atomic loads of a spin loop around it are not merged into one."""
    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.IntType(64), [])
        return builder.call(builder.module.declare_intrinsic("llvm.readcyclecounter", (), fnty),
                            [])

    return types.int64(), codegen


@intrinsic
def _pointer(typingctx, address, like):
    """The int64 `address` as a pointer to `like`'s dtype (for `numba.carray`)."""
    if not (isinstance(address, types.Integer) and isinstance(like, types.Array)):
        return None
    result = types.CPointer(like.dtype)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(result))

    return result(address, like), codegen


# -- the compiled halves ----------------------------------------------------------------------

@njit(cache=True, nogil=True, inline="always")
def _put(box, k, a):
    """Array k's address and dimensions into the box."""
    box[4 * k] = a.ctypes.data
    for d in range(3):
        box[4 * k + 1 + d] = 1
    for d in range(a.ndim):
        box[4 * k + 1 + d] = a.shape[d]


@njit(cache=True, nogil=True)
def _post(state, box, x, kernel, R, bias, h0, c0, mask, dm, rm, go_backwards, zero_output,
          return_sequences, train, joint, Wp, X, Z, S, C, mask_tm, out, last, h, c):
    """Give a worker (its `state`, `box`) one `forward_call` (these arguments, each
    C-contiguous). Returns the state the worker was in, SPINNING or SLEEPING (then the
    caller must wake it), or CLAIMED when it was busy and nothing was given."""
    if _swap(state, SPINNING, CLAIMED):
        was = SPINNING
    elif _swap(state, SLEEPING, CLAIMED):
        was = SLEEPING
    else:
        return CLAIMED
    _put(box, 0, x)
    _put(box, 1, kernel)
    _put(box, 2, R)
    _put(box, 3, bias)
    _put(box, 4, h0)
    _put(box, 5, c0)
    _put(box, 6, mask)
    _put(box, 7, dm)
    _put(box, 8, rm)
    _put(box, 14, Wp)
    _put(box, 15, X)
    _put(box, 16, Z)
    _put(box, 17, S)
    _put(box, 18, C)
    _put(box, 19, mask_tm)
    _put(box, 20, out)
    _put(box, 21, last)
    _put(box, 22, h)
    _put(box, 23, c)
    flags = (go_backwards, zero_output, return_sequences, train, joint)
    for k in range(FLAGS):
        box[_FLAG_AT + k] = flags[k]
    box[_DTYPE_AT] = x.itemsize
    _store(state, POSTED)
    return was


@njit(cache=True, nogil=True)
def _shard(s, x, kernel, R, bias, h0, c0, mask, dm, rm, go_backwards, zero_output,
           return_sequences, train, joint, Wp, X, Z, S, C, mask_tm, out, last, h, c):
    """`forward_call`'s arguments for shard s of equal shards (as `_parallel.forward_shards`)."""
    rows = X.shape[2]
    b0, b1 = s * rows, (s + 1) * rows
    return (x[b0:b1], kernel, R, bias, h0[b0:b1] if h0.size > 0 else h0,
            c0[b0:b1] if c0.size > 0 else c0, mask[b0:b1] if mask.size > 0 else mask, dm, rm,
            go_backwards, zero_output, return_sequences, train, joint, Wp[s], X[s], Z[s], S[s],
            C[s], mask_tm[s], out[b0:b1] if out.size > 0 else out, last[b0:b1], h[b0:b1],
            c[b0:b1])


@njit(cache=True, nogil=True)
def launch(states, boxes, x, kernel, R, bias, h0, c0, mask, dm, rm, go_backwards,
           zero_output, return_sequences, train, joint, Wp, X, Z, S, C, mask_tm, out, last, h,
           c):
    """`_parallel.forward_shards` (same parameters, no dropout masks: dm and rm size 0),
    shard s > 0 given to worker s - 1 (states (n - 1, 1), boxes (n - 1, BOX_SIZE)). Runs
    shard 0, and any shard whose worker was busy, here. Returns per worker what `_post`
    did (`wait` for those given a shard; wake those that were SLEEPING first)."""
    n = X.shape[0]
    given = np.empty(n - 1, np.int64)
    for s in range(1, n):
        given[s - 1] = _post(states[s - 1], boxes[s - 1], *_shard(
            s, x, kernel, R, bias, h0, c0, mask, dm, rm, go_backwards, zero_output,
            return_sequences, train, joint, Wp, X, Z, S, C, mask_tm, out, last, h, c))
    for s in range(n):
        if s == 0 or given[s - 1] == CLAIMED:
            forward_call(*_shard(s, x, kernel, R, bias, h0, c0, mask, dm, rm, go_backwards,
                                 zero_output, return_sequences, train, joint, Wp, X, Z, S, C,
                                 mask_tm, out, last, h, c))
    return given


@njit(cache=True, nogil=True)
def wait(state):
    """Spin until the worker is DONE, then mark it idle; False if it was not done within
    SPIN_CYCLES (the caller then yields its core and waits again)."""
    start = _cycles()
    while _cycles() - start < SPIN_CYCLES:
        if _load(state) == DONE:
            _store(state, SPINNING)
            return True
    return False


@njit(cache=True, nogil=True, inline="always")
def _get1(box, k, like):
    """Array k of the box: 1-D of `like`'s dtype."""
    return carray(_pointer(box[4 * k], like), (box[4 * k + 1],))


@njit(cache=True, nogil=True, inline="always")
def _get2(box, k, like):
    """Array k of the box: 2-D (C order) of `like`'s dtype."""
    return carray(_pointer(box[4 * k], like), (box[4 * k + 1], box[4 * k + 2]))


@njit(cache=True, nogil=True, inline="always")
def _get3(box, k, like):
    """Array k of the box: 3-D (C order) of `like`'s dtype."""
    return carray(_pointer(box[4 * k], like), (box[4 * k + 1], box[4 * k + 2], box[4 * k + 3]))


@njit(cache=True, nogil=True)
def _run(box, f, u8):
    """The posted `forward_call`, for the box's dtype (f: a size-0 array of it)."""
    g = _FLAG_AT
    forward_call(_get3(box, 0, f), _get2(box, 1, f), _get2(box, 2, f), _get1(box, 3, f),
                 _get2(box, 4, f), _get2(box, 5, f), _get2(box, 6, u8), _get3(box, 7, f),
                 _get3(box, 8, f), box[g] != 0, box[g + 1] != 0, box[g + 2] != 0,
                 box[g + 3] != 0, box[g + 4] != 0, _get1(box, 14, f), _get3(box, 15, f),
                 _get3(box, 16, f), _get3(box, 17, f), _get3(box, 18, f), _get2(box, 19, u8),
                 _get3(box, 20, f), _get2(box, 21, f), _get2(box, 22, f), _get2(box, 23, f))


@njit(cache=True, nogil=True)
def serve(state, box):
    """The worker's loop: run posted jobs; return after SPIN_CYCLES idle (SLEEPING)."""
    _swap(state, SLEEPING, SPINNING)  # woken (a caller may have claimed it already)
    f32, f64 = np.empty(0, np.float32), np.empty(0, np.float64)
    u8 = np.empty(0, np.uint8)
    idle_since = _cycles()
    while True:
        s = _load(state)
        if s == POSTED:
            if box[_DTYPE_AT] == _FLOAT64:
                _run(box, f64, u8)
            else:
                _run(box, f32, u8)
            _store(state, DONE)
            idle_since = _cycles()
        elif s == SPINNING and _cycles() - idle_since > SPIN_CYCLES \
                and _swap(state, SPINNING, SLEEPING):
            return


# -- the workers --------------------------------------------------------------------------------

class Worker:
    """A daemon thread that serves one mailbox (`serve`), asleep on `wake` between bursts.
    Its `state` (1,) and `box` (BOX_SIZE,) are rows of the arrays `_workers` keeps."""

    def __init__(self, state, box):
        self.state, self.box = state, box
        self.wake = threading.Event()
        self.error = None  # what stopped a job (e.g. MemoryError), for the caller to raise
        self.tid = None  # its thread's native id, once running (for `_placement`)
        threading.Thread(target=self._main, name="lstmkit-shard", daemon=True).start()

    def _main(self):
        self.tid = threading.get_native_id()
        while True:
            self.wake.wait()
            self.wake.clear()
            try:
                serve(self.state, self.box)
            except BaseException as err:  # noqa: BLE001 - raised in the caller's thread
                self.error = err
                self.state[0] = DONE  # the caller stops waiting, and raises it


#: Workers at most (`_shard.n_shards` makes at most 8 shards).
MAX_WORKERS = 7
_STATE = {"workers": [], "states": None, "boxes": None, "lock": threading.Lock(),
          "compiled": False}


def _forget():
    """In a forked child: the parent's worker threads do not exist there."""
    _STATE.update(workers=[], states=None, boxes=None, lock=threading.Lock())  # (compiled stays)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget)


def _workers(n):
    """The states (n, 1) and boxes (n, BOX_SIZE) of the first n workers, started on first
    use (each serves its row of the arrays, which never move)."""
    if _STATE["states"] is None:
        _STATE.update(states=np.full((MAX_WORKERS, 1), SLEEPING, np.int64),
                      boxes=np.zeros((MAX_WORKERS, BOX_SIZE), np.int64))
    workers, states, boxes = _STATE["workers"], _STATE["states"], _STATE["boxes"]
    while len(workers) < n:
        workers.append(Worker(states[len(workers)], boxes[len(workers)]))
    return states[:n], boxes[:n]


def ready(compiling: bool = False) -> bool:
    """Whether the hand-off may run: compiled (`warm`, under `_warm`'s float64 stamp: it
    compiles both dtypes' paths), or `compiling` here. Until then the pool serves."""
    if _STATE["compiled"] or compiling:
        return True
    if _config.kernel_background_compile() and not _warm.is_warm("float64"):
        return False
    _STATE["compiled"] = True
    return True


def warm() -> None:
    """Compile (or load from numba's cache) the hand-off: a 2-shard call of each dtype."""
    from . import _run

    for dtype in ("float32", "float64"):
        B, T, D, H = 4, 3, 4, 8
        call = _run.KernelCall.of(np.ones((B, T, D), dtype), np.ones((D, 4 * H), dtype),
                                  np.ones((H, 4 * H), dtype), np.zeros(4 * H, dtype),
                                  mask=np.ones((B, T), bool), return_sequences=True)
        inputs = _run.convert(call, B // 2)
        buffers = _run.make_buffers(2, T, B // 2, D, H, False, inputs.joint, True, call.x.dtype)
        forward_shards(*inputs, *buffers, *_run.outputs_for(B, T, H, call.x.dtype, True))


def forward_shards(x, kernel, R, bias, h0, c0, mask, dm, rm, go_backwards, zero_output,
                   return_sequences, train, joint, Wp, X, Z, S, C, mask_tm, out, last, h,
                   c) -> bool:
    """`_parallel.forward_shards` on this thread and the workers (no dropout masks); False
    (nothing run) when another thread is using the workers."""
    lock = _STATE["lock"]
    if not lock.acquire(blocking=False):
        return False
    try:
        n = X.shape[0] - 1
        states, boxes = _workers(n)
        workers = _STATE["workers"]
        # workers asleep are woken off this core (`_placement`); spinning ones stay put
        moved = _placement.keep_off_this_core(
            [w.tid for w, s in zip(workers, states[:, 0]) if s == SLEEPING and w.tid])
        try:
            _launch(n, states, boxes, workers, x, kernel, R, bias, h0, c0, mask, dm, rm,
                    go_backwards, zero_output, return_sequences, train, joint, Wp, X, Z, S,
                    C, mask_tm, out, last, h, c)
        finally:
            _placement.give_back(moved)
        return True
    finally:
        lock.release()


def _launch(n, states, boxes, workers, *arguments):
    """`forward_shards`'s launch with the workers' lock held: wake, post, run, wait."""
    for k in range(n):
        if states[k, 0] == SLEEPING:  # woken now, it finds its shard posted or spins
            workers[k].wake.set()  # until it is
    given = launch(states, boxes, *arguments).tolist()
    for k in range(n):
        if given[k] == SLEEPING:  # asleep when posted (perhaps again): wake it
            workers[k].wake.set()
        if given[k] != CLAIMED:
            while not wait(states[k]):  # a descheduled worker: let it have the core
                os.sched_yield()
    for k in range(n):
        if workers[k].error is not None:
            error, workers[k].error = workers[k].error, None
            states[k, 0] = SLEEPING  # as it is: waiting on its Event again
            raise error
