"""Plans for repeated inference calls: `_shard.forward`'s compiled call, arguments converted once.

A stateful stream calls its layer once per step, and a server calls it on batches of one
shape: the same kind of call again and again. `plan_inference` converts such a call's
weights and options once (`_run.convert`); the `InferencePlan` it returns then takes x, h0
and c0 straight to the compiled call `_shard.forward` would run for them, or to the one
launch of equal shards it would make, on the same scratch. So the result has the same
bits, without the Python around the call: most of a one-step stream call's time, a tenth
of a 32,50,32,64 call's (benchmarks/README.md). The layers keep one per layer
(`layers/_inference_plan.py`); `kernels.inference_plan` makes one from arrays.

Example:
    >>> import numpy as np
    >>> from lstmkit.kernels import _plan, _run
    >>> call = _run.KernelCall.of(np.ones((1, 2, 3), "float32"), np.ones((3, 16), "float32"),
    ...                           np.ones((4, 16), "float32"))
    >>> plan = _plan.plan_inference(call)
    >>> out, last, h, c = plan(np.ones((1, 2, 3), "float32"))
    >>> out.shape, h.shape, plan.shards
    ((1, 2, 4), (1, 4), 1)
"""

from __future__ import annotations

import numpy as np

from . import _run
from ._forward import forward_call
from ._shard import equal_launch, inference_scratch, launch_shards, n_shards


class InferencePlan:
    """`_shard.forward` for one kind of repeated inference call, its arguments converted once.

    Made by `plan_inference` from a call. Called with x, h0, c0 of the call's shapes and
    dtype (h0, c0 None for zeros), it runs what `_shard.forward` runs for them with the
    plan's weights and options: one compiled call on its own scratch, or equal shards in
    one launch (`_shard.launch_shards`) on this thread's kept scratch. The same arguments,
    so the same bits. Returns (outputs (B, T, H) or None, last, h, c), each (B, H); or
    None when `_shard.forward` would now split the batch otherwise (`n_shards` reads the
    environment) or the shards' workers are busy: the caller then takes the general path.

    `kernels.inference_plan` makes one from a call's arrays (its docstring has an example).
    """

    __slots__ = ("weights", "flags", "scratch", "shards", "shape", "states", "dtype",
                 "no_state", "no_outputs")

    def __init__(self, inputs: _run.Inputs, buffers: _run.Buffers | None, shards: int = 1):
        B, T, D = inputs.x.shape
        H = inputs.R.shape[0]
        self.weights = (inputs.kernel, inputs.R, inputs.bias)
        self.flags = tuple(inputs[6:])  # mask, dm, rm (size-0 stand-ins), the flags
        # one call: the scratch stand-ins; shards: `inference_scratch`'s arguments (this
        # thread's kept scratch is fetched per call: the plan may run on any thread)
        self.scratch = buffers if shards == 1 else (shards, T, B // shards, D, H, False,
                                                    inputs.joint, False, inputs.x.dtype)
        self.shards = shards
        self.shape = (B, T, H) if inputs.return_sequences else None  # of the outputs
        self.states = (B, H)
        self.dtype = inputs.x.dtype
        _, self.no_state, self.no_outputs, _ = _run.empties(self.dtype)  # size-0 stand-ins

    def __call__(self, x, h0=None, c0=None):
        B, H = self.states
        if B > 1 and n_shards(B, H) != self.shards:
            return None
        dtype = self.dtype
        if h0 is not None and not _are_states(h0, c0, self.states, dtype):
            return None
        out = np.empty(self.shape, dtype) if self.shape else self.no_outputs
        last, h, c = np.empty((B, H), dtype), np.empty((B, H), dtype), np.empty((B, H), dtype)
        h0 = self.no_state if h0 is None else h0
        c0 = self.no_state if c0 is None else c0
        if self.shards == 1:
            forward_call(x, *self.weights, h0, c0, *self.flags, *self.scratch, out, last, h, c)
        elif not self._launch(_run.Inputs(x, *self.weights, h0, c0, *self.flags),
                              _run.Outputs(out, last, h, c)):
            return None
        return (out if self.shape else None), last, h, c

    def _launch(self, inputs: _run.Inputs, outputs: _run.Outputs) -> bool:
        """The shards at once, as `_shard._launch_equal_shards` launches them."""
        way = equal_launch()
        return way is not None and launch_shards(inputs, inference_scratch(*self.scratch),
                                                 outputs, way == "openmp")


def _are_states(h0, c0, shape, dtype) -> bool:
    """Whether h0 and c0 go to an `InferencePlan`'s compiled call as they are: it is
    typed for C-contiguous arrays and trusts their shapes."""
    return (type(h0) is np.ndarray and type(c0) is np.ndarray and h0.shape == c0.shape == shape
            and h0.dtype == c0.dtype == dtype and h0.flags.c_contiguous and c0.flags.c_contiguous)


def plan_inference(call: _run.KernelCall) -> InferencePlan | None:
    """An `InferencePlan` for calls like `call`, or None where `_shard.forward` does more
    for it than one compiled call on stand-in scratch or one launch of equal shards:
    training, a mask or dropout masks, shards of unequal rows or on the pool, BLAS
    threads, or scratch from NumPy for one call (large calls, where the Python costs
    little)."""
    if call.train or call.mask is not None or call.dropout_mask is not None \
            or call.recurrent_dropout_mask is not None:
        return None
    B, H = call.x.shape[0], call.recurrent_kernel.shape[0]
    n = n_shards(B, H)
    if n > 1:
        if B % n or equal_launch() is None:
            return None
        inputs = _run.convert(call, B // n)
        return None if _run.blas_may_thread(B // n, inputs) else InferencePlan(inputs, None, n)
    inputs, buffers, _ = _run.prepare(call)
    if buffers.S.size > 0 or _run.blas_may_thread(B, inputs):
        return None
    return InferencePlan(inputs, buffers)
