"""Dispatch of the LSTM sequence computation: the fused kernels or the reference.

`lstm_forward` and `lstm_backward` are the one contract the layers call. The
backend is "kernel" (fused compiled kernels, `lstmkit.kernels._run`), "reference"
(`lstmkit.reference`), or "auto": the kernel whenever it supports the call, else
the reference. The choice comes from the `backend` argument, else the
`LSTMKIT_BACKEND` environment variable, else "auto".

What the kernel supports: float32 or float64 arrays of one dtype, activation
"tanh" and recurrent_activation "sigmoid" (Keras's defaults), and everything
else `reference.lstm_sequence` takes (masks, go_backwards, initial states,
zero_output_for_mask, dropout masks shared or per gate, return_sequences).

Cold start: on the first use after an install, the kernels compile in a background
process while the reference answers calls under "auto" (`_warm`; `warmup()` or
`lstmkit warmup` compiles them ahead).

Fallback policy: under "auto" an unsupported call runs the reference without a
warning (tests run with warnings as errors, and falling back is correct, only
slower); the reason is in `ForwardResult.reason` and logged once at INFO level
on the "lstmkit.kernels" logger. Forcing "kernel" on an unsupported call raises
`ValueError` naming the reason and the fix.

Example:
    >>> import numpy as np
    >>> from lstmkit import kernels
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(2, 3, 4)).astype("float32")
    >>> K = rng.normal(size=(4, 20)).astype("float32")
    >>> R = rng.normal(size=(5, 20)).astype("float32")
    >>> res = kernels.lstm_forward(x, K, R, None, None, None, keep_cache=True)
    >>> res.backend, res.outputs.shape, sorted(kernels.gates_from_cache(res))
    ('kernel', (2, 3, 5), ['c', 'f', 'g', 'h', 'i', 'o'])
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import _config
from .. import reference as _ref

_LOGGED: set[str] = set()


class ForwardResult(NamedTuple):
    """What a forward run returns to the layer (arrays in processing order)."""

    outputs: np.ndarray | None  # (B, T, H), or None when not needed
    last_output: np.ndarray  # (B, H) = outputs[:, -1]
    h: np.ndarray  # (B, H) final memory state
    c: np.ndarray  # (B, H) final carry state
    cache: object  # what lstm_backward needs (None unless training)
    backend: str  # "kernel" or "reference": which path ran
    reason: str | None = None  # why "auto" ran the reference, else None


def cache_is_warm() -> bool:
    """Whether the kernels are compiled for this machine and configuration (`warmup()` or a
    background compile completed): False on the first run after an install or upgrade."""
    from . import _warm

    return _warm.is_warm()


def warmup(progress=None) -> float:
    """Compile every kernel ahead (or load them from numba's cache); returns the seconds.

    `progress` is called with one line per step (e.g. `print`). `lstmkit warmup` runs this.
    """
    from . import _warm

    return _warm.warmup(progress)


def isa():
    """The instruction set the kernels are compiled for (`_isa.Isa`: name, cpu,
    vector_bits, vector_registers, fma, features): numba's target, not the host's."""
    from ._isa import isa as _target

    return _target()


def resolve_backend(backend: str | None) -> str:
    """The backend asked for: the argument, else `LSTMKIT_BACKEND`, else "auto"."""
    if backend is None:
        return _config.backend()
    if backend not in _config.BACKENDS:
        raise ValueError(f"backend must be one of {_config.BACKENDS}, got {backend!r}")
    return backend


_RUN = None  # the loaded kernels (`_shard`), once numba has them
#: The scalar types (np.float32, np.float64) whose kernels run from now on (compiled, or
#: compiling in this process). Types, not names: `dtype.name` costs microseconds a call.
_READY: set = set()


def _kernels(wait: bool, dtype: np.dtype):
    """(the kernel module, None), or (None, why not yet) while a background process compiles
    the kernels of `dtype` (`_warm.background`). `wait`: use them now, compiling in-process
    if needed."""
    global _RUN
    if dtype.type not in _READY:
        if not wait and _config.kernel_background_compile():
            from . import _warm

            reason = _warm.background(dtype.name)
            if reason is not None:
                return None, reason
        _READY.add(dtype.type)
    if _RUN is None:
        from . import _shard

        _RUN = _shard
    return _RUN, None


def side_by_side(jobs: list, B: int, H: int) -> list:
    """[job() for job in jobs] for independent recurrent calls of B rows and H units (the
    two directions of a `Bidirectional`), run at once on cores of their own when the
    kernels are loaded and the batch is large enough to be split anyway (`_shard`).

    Example:
        >>> side_by_side([lambda: 1, lambda: 2], B=1, H=4)
        [1, 2]
    """
    if _RUN is None:  # no kernel has run yet: nothing to share the cores with
        return [job() for job in jobs]
    return _RUN.side_by_side(jobs, B, H)


def unsupported_reason(x, kernel, recurrent_kernel, bias=None, h0=None, c0=None, *,
                       activation=_ref.TANH, recurrent_activation=_ref.SIGMOID,
                       dropout_mask=None, recurrent_dropout_mask=None,
                       wait=True) -> str | None:
    """Why the fused kernel cannot run this call, or None when it can.

    `wait=False` (backend "auto"): while the kernels compile in a background process, that
    is the reason (see `_warm`); with `wait=True` a cold cache compiles in this process.
    """
    if activation is not _ref.TANH or recurrent_activation is not _ref.SIGMOID:
        return (f"the fused kernel computes activation='tanh' with "
                f"recurrent_activation='sigmoid', got {activation.name!r} and "
                f"{recurrent_activation.name!r}")
    dtype = getattr(x, "dtype", None)
    if getattr(dtype, "type", None) not in (np.float32, np.float64):
        return f"the fused kernel computes float32 or float64 inputs, got {dtype}"
    arrays = (kernel, recurrent_kernel, bias, h0, c0, dropout_mask, recurrent_dropout_mask)
    for name, a in zip(_ARRAY_NAMES, arrays):
        if a is not None and getattr(a, "dtype", None) != dtype:
            return (f"the fused kernel needs every array in the inputs' dtype {dtype}, "
                    f"got {name} of dtype {getattr(a, 'dtype', type(a).__name__)}")
    if _RUN is None or dtype.type not in _READY:
        try:
            return _kernels(wait, dtype)[1]
        except ImportError as err:  # numba missing or broken
            return f"the fused kernel could not be loaded ({err})"
    return None


_ARRAY_NAMES = ("kernel", "recurrent_kernel", "bias", "h0", "c0", "dropout_mask",
                "recurrent_dropout_mask")


def lstm_forward(x, kernel, recurrent_kernel, bias, h0, c0, *, mask=None, go_backwards=False,
                 activation=_ref.TANH, recurrent_activation=_ref.SIGMOID,
                 zero_output_for_mask=False, dropout_mask=None, recurrent_dropout_mask=None,
                 return_sequences=True, keep_cache=False, backend=None) -> ForwardResult:
    """Run an LSTM over `x` (B, T, D); see `reference.lstm_sequence` for the arguments.

    `keep_cache=True` keeps what `lstm_backward` needs (training).
    `return_sequences=False` lets the kernel skip the (B, T, H) outputs (then
    `outputs` is None; the reference computes them anyway).
    """
    backend = resolve_backend(backend)
    reason = None
    if backend != "reference":
        reason = unsupported_reason(
            x, kernel, recurrent_kernel, bias, h0, c0, activation=activation,
            recurrent_activation=recurrent_activation, dropout_mask=dropout_mask,
            recurrent_dropout_mask=recurrent_dropout_mask, wait=backend == "kernel")
        if reason is not None and backend == "kernel":
            raise ValueError(f"backend='kernel' cannot run this call: {reason}. "
                             f"Use backend='auto' or 'reference' (or LSTMKIT_BACKEND=auto).")
        if reason is not None and reason not in _LOGGED:
            _LOGGED.add(reason)
            import logging  # here, not at import: `import lstmkit` stays light

            logging.getLogger(__name__).info("lstmkit runs the reference LSTM loop: %s", reason)
    if backend == "reference" or reason is not None:
        seq = _ref.lstm_sequence(
            x, kernel, recurrent_kernel, bias, h0, c0, mask=mask, go_backwards=go_backwards,
            activation=activation, recurrent_activation=recurrent_activation,
            zero_output_for_mask=zero_output_for_mask, dropout_mask=dropout_mask,
            recurrent_dropout_mask=recurrent_dropout_mask, keep_steps=keep_cache,
        )
        return ForwardResult(seq.outputs, seq.outputs[:, -1], seq.h, seq.c,
                             seq if keep_cache else None, "reference", reason)
    call = _RUN.KernelCall(x, kernel, recurrent_kernel, bias, h0, c0, mask, go_backwards,
                           zero_output_for_mask, dropout_mask, recurrent_dropout_mask,
                           return_sequences or keep_cache, keep_cache)
    outputs, last, h, c, cache = _RUN.forward(call)
    return ForwardResult(outputs, last, h, c, cache, "kernel", None)


def inference_plan(x, kernel, recurrent_kernel, bias=None, h0=None, c0=None, *,
                   go_backwards=False, return_sequences=True, activation=_ref.TANH,
                   recurrent_activation=_ref.SIGMOID):
    """A plan for inference calls like this one (`_plan.InferencePlan`), or None.

    `plan(x, h0, c0)` returns `(outputs or None, last, h, c)`: what `lstm_forward` on the
    kernel returns for x, h0, c0 of these shapes and dtype with these weights and options
    (no mask, no dropout), bit for bit, without the Python around the compiled call. None
    where the kernel does not run such calls as one small compiled call or one launch of
    equal shards: unsupported, not compiled yet (no waiting here), shards on the thread
    pool, or large for one call. The plan holds the weight arrays: it stands for these
    weights only.

    Example:
        >>> import numpy as np
        >>> from lstmkit import kernels
        >>> x = np.ones((1, 1, 4), "float32")
        >>> K, R = np.ones((4, 20), "float32"), np.ones((5, 20), "float32")
        >>> kernels.lstm_forward(x, K, R, None, None, None, backend="kernel").backend
        'kernel'
        >>> plan = kernels.inference_plan(x, K, R)
        >>> out, last, h, c = plan(x)
        >>> bool((h == kernels.lstm_forward(x, K, R, None, None, None).h).all())
        True
    """
    dtype = getattr(x, "dtype", None)
    if _RUN is None or getattr(dtype, "type", None) not in _READY:
        return None
    if unsupported_reason(x, kernel, recurrent_kernel, bias, h0, c0, activation=activation,
                          recurrent_activation=recurrent_activation) is not None:
        return None
    from . import _plan

    return _plan.plan_inference(_RUN.KernelCall(
        x, kernel, recurrent_kernel, bias, h0, c0, go_backwards=go_backwards,
        return_sequences=return_sequences))


def lstm_backward(result: ForwardResult, d_outputs=None, d_h=None, d_c=None, *,
                  input_grad=True) -> _ref.Gradients:
    """Gradients for a `lstm_forward(..., keep_cache=True)` run, on the path that ran it.

    d_outputs: (B, T, H) in processing order, or None; d_h, d_c: (B, H) or None.
    input_grad=False: the kernel skips dx (e.g. a model's first layer; PyTorch skips it
    when the input needs no gradient) and returns `x=None`; the reference computes it anyway.
    """
    if result.cache is None:
        raise ValueError("lstm_backward needs a forward run with keep_cache=True")
    if isinstance(result.cache, _ref.Sequence):
        return _ref.lstm_sequence_backward(result.cache, d_outputs, d_h, d_c)
    return _RUN.backward(result.cache, d_outputs, d_h, d_c, input_grad)


def gates_from_cache(result: ForwardResult) -> dict:
    """The gates and states a training forward computed, per step, from either path.

    Returns:
        dict with "i", "f", "g" (the candidate, Keras's gate "c"), "o", "c", "h", each
        (B, T, H) in processing order (reversed input order under go_backwards).
        "c" and "h" are the carry and memory states after each step: at a masked step
        they repeat the previous state (not the output, which may be zeros).
    """
    cache = getattr(result, "cache", None)
    if cache is None:
        raise ValueError("gates_from_cache needs a lstm_forward(..., keep_cache=True) result")
    if isinstance(cache, _ref.Sequence):
        steps, before = cache.steps, cache.inputs["before"]
        after = before[1:] + [(cache.h, cache.c)]
        out = {k: np.stack([getattr(s, k) for s in steps], axis=1) for k in "ifgo"}
        out["c"] = np.stack([c for _, c in after], axis=1)
        out["h"] = np.stack([h for h, _ in after], axis=1)
        return out
    if hasattr(cache, "parts"):  # run in shards of batch rows
        parts = [gates_from_cache(ForwardResult(None, None, None, None, p, "kernel"))
                 for p in cache.parts]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    H = cache.recurrent_kernel.shape[0]
    out = {k: np.ascontiguousarray(cache.A[:, :, n * H:(n + 1) * H].transpose(1, 0, 2))
           for n, k in enumerate("ifgo")}
    out["c"] = np.ascontiguousarray(cache.C[1:].transpose(1, 0, 2))
    out["h"] = np.ascontiguousarray(cache.S[1:].transpose(1, 0, 2))
    return out


__all__ = [
    "ForwardResult",
    "cache_is_warm",
    "gates_from_cache",
    "inference_plan",
    "isa",
    "lstm_backward",
    "lstm_forward",
    "resolve_backend",
    "side_by_side",
    "unsupported_reason",
    "warmup",
]
