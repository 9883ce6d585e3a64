"""`trace` for a GRU and a SimpleRNN: every gate and state at every step, from the layer's run.

As for the LSTM (`trace.py`), the layer runs once with `forward(..., keep_cache=True)`
and the arrays are read from what the run kept for backward: nothing is recomputed,
so `trace.h[:, -1]` is bitwise the layer's final state. Per-step arrays are
(B, T, H) in processing order (`input_order(name)` flips a go_backwards one).

    GRU:        z   update gate, recurrent_activation(...)                 (B, T, H)
                r   reset gate                                             (B, T, H)
                hh  the candidate h~, activation(...)                      (B, T, H)
                h   the state after the step: z * h_(t-1) + (1 - z) * hh   (B, T, H)
    SimpleRNN:  h   the state after the step: activation(x W + h_(t-1) U + b)

A GRU and a SimpleRNN have one state, h, which is also the output.

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    >>> gru = lk.layers.GRU(4, return_state=True)
    >>> t = lk.trace(gru, x)
    >>> t.z.shape, bool((t.h[:, -1] == t.outputs[1]).all())
    ((2, 5, 4), True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GRU_NAMES = {"z": "update gate z", "r": "reset gate r", "hh": "candidate h~",
             "h": "state h (the output)"}
SIMPLE_NAMES = {"h": "state h (the output)"}


@dataclass
class CellTrace:
    """One direction of a GRU or SimpleRNN run; `arrays` holds the per-step arrays by name.

    Attributes:
        arrays: {name: (B, T, H)} in processing order: z, r, hh, h (GRU) or h (SimpleRNN).
        sequence: (B, T, H) the layer's output at each step (processing order).
        inputs: (B, T, D) as given; mask: (B, T) bool or None (input order).
        initial_state: [h0] (B, H); outputs: what the layer returned.
    """

    layer_name: str
    kind: str  # "GRU" or "SimpleRNN"
    arrays: dict
    sequence: np.ndarray
    inputs: np.ndarray
    mask: np.ndarray | None
    initial_state: list
    outputs: object
    go_backwards: bool = False
    zero_output_for_mask: bool = False
    training: bool = False
    backend: str | None = None
    direction: str = "forward"

    @property
    def ARRAYS(self):  # noqa: N802 (the LSTM Trace's name for its array names)
        return tuple(self.arrays)

    @property
    def NAMES(self):  # noqa: N802
        return GRU_NAMES if self.kind == "GRU" else SIMPLE_NAMES

    def __getattr__(self, name):
        arrays = self.__dict__.get("arrays", {})
        if name in arrays:
            return arrays[name]
        raise AttributeError(f"a {self.kind} trace has arrays {tuple(arrays)}, not {name!r}")

    def __getitem__(self, name):
        if name == "sequence":
            return self.sequence
        if name not in self.arrays:
            raise KeyError(f"a {self.kind} trace has arrays {tuple(self.arrays)}, got {name!r}")
        return self.arrays[name]

    @property
    def shape(self):
        return self.arrays["h"].shape

    @property
    def processing_mask(self) -> np.ndarray:
        """(B, T) bool, True at valid steps, in processing order."""
        B, T, _ = self.shape
        if self.mask is None:
            return np.ones((B, T), bool)
        return self.mask[:, ::-1] if self.go_backwards else self.mask

    def input_order(self, name: str) -> np.ndarray:
        """A per-step array flipped, if needed, so that position t refers to input t."""
        arr = self[name]
        return arr[:, ::-1] if self.go_backwards else arr

    def as_dict(self, order: str = "processing") -> dict:
        """The per-step arrays (and inputs, mask) as plain arrays; see `Trace.as_dict`."""
        if order not in ("processing", "input"):
            raise ValueError(f"order must be 'processing' or 'input', got {order!r}")
        out = {k: (self.input_order(k) if order == "input" else self[k]) for k in self.arrays}
        out["inputs"] = self.inputs
        if self.mask is not None:
            out["mask"] = self.mask
        return out

    def save_npz(self, path, order: str = "input") -> None:
        np.savez(path, **self.as_dict(order))

    def __repr__(self):
        B, T, H = self.shape
        return (f"<{self.kind}Trace layer={self.layer_name!r} direction={self.direction!r} "
                f"batch={B} timesteps={T} units={H}; arrays {', '.join(self.arrays)}>")


def cell_trace(layer, result, start, outputs, inputs, mask, training, direction="forward"):
    """A `CellTrace` from a GRU/SimpleRNN `run_sequence` result kept for backward."""
    kind = type(layer.cell).__name__.removesuffix("Cell")
    if result.backend == "kernel":  # the fused kernel kept them (kernels.cells.KernelCache)
        arrays = result.cache.arrays()
    else:
        _step, seq = result.cache
        steps = [saved[0] for saved in seq.saved]  # (GRUStep | SimpleRNNStep, x_t, h_before)
        # the state after step t is what step t + 1 started from (a masked step kept it)
        after = [saved[2] for saved in seq.saved[1:]] + [seq.states[0]]
        arrays = {}
        if kind == "GRU":
            for name in ("z", "r", "hh"):
                arrays[name] = np.stack([getattr(s, name) for s in steps], axis=1)
        arrays["h"] = np.stack(after, axis=1)
    B, _, H = arrays["h"].shape
    h0 = np.zeros((B, H), arrays["h"].dtype) if start is None else \
        np.asarray(start[0], arrays["h"].dtype)
    return CellTrace(
        layer_name=layer.name, kind=kind, arrays=arrays, sequence=result.outputs,
        inputs=np.asarray(inputs, layer.dtype),
        mask=None if mask is None else np.asarray(mask).astype(bool), initial_state=[h0],
        outputs=outputs, go_backwards=layer.go_backwards,
        zero_output_for_mask=layer.zero_output_for_mask, training=training,
        backend=result.backend, direction=direction)


def is_cell_traceable(layer) -> bool:
    """Whether `layer` runs one GRU or SimpleRNN cell (what `cell_trace` reads)."""
    return type(getattr(layer, "cell", None)).__name__ in ("GRUCell", "SimpleRNNCell")
