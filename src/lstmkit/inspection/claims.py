"""The equalities between an LSTM's returned arrays, stated and checked on real numbers.

Each `Claim` says which arrays are equal, why (the rule in Keras's rnn loop,
keras/src/backend/*/rnn.py, and bidirectional.py), and for which samples the rule
predicts it. `check` compares on a real call and confirms that the samples where
the equality holds are exactly the predicted ones.

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> layer = lk.layers.LSTM(4, return_sequences=True, return_state=True)
    >>> t = lk.trace(layer, np.ones((2, 3, 5), "float32"))
    >>> [c.check(t).verified for c in lstm_claims(layer)]
    [True, True, True]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# ctx: the trace of one call (Trace or BidirectionalTrace).


@dataclass
class Claim:
    """`statement` holds (exactly, or to `tol` for recomputed math) where `expected` says."""

    statement: str
    reason: str
    lhs: Callable
    rhs: Callable
    expected: Callable | None = None  # trace -> (B,) bool; None = every sample
    tol: float = 0.0  # 0: bitwise; else max |lhs - rhs| allowed (recomputed math)
    verified: bool | None = None
    result: str = ""

    def check(self, tr) -> Claim:
        """Compare on a trace; sets `verified` and `result` and returns self."""
        lhs, rhs = np.asarray(self.lhs(tr)), np.asarray(self.rhs(tr))
        B = lhs.shape[0]
        axes = tuple(range(1, lhs.ndim))
        diff = np.abs(lhs.astype("float64") - rhs.astype("float64"))
        equal = (diff <= self.tol).all(axis=axes) if axes else diff <= self.tol
        want = np.ones(B, bool) if self.expected is None else np.asarray(self.expected(tr))
        self.verified = bool((equal == want).all())
        how = "bit for bit" if self.tol == 0 else f"to {self.tol:g}"
        n_eq = int(equal.sum())
        if self.verified and want.all():
            self.result = f"checked on these inputs: equal {how} for all {B} samples"
        elif self.verified:
            rows = np.flatnonzero(~want)
            self.result = (f"checked on these inputs: equal {how} for the {n_eq} samples the rule "
                           f"predicts; differs, as predicted, for samples {_rows(rows)}")
        else:
            bad = np.flatnonzero(equal != want)
            self.result = (f"NOT as predicted on these inputs: samples {_rows(bad)} "
                           f"(max |difference| {diff.max():.3g})")
        return self


def _rows(rows, limit=8):
    shown = ", ".join(str(int(r)) for r in rows[:limit])
    return f"[{shown}{', ...' if len(rows) > limit else ''}] ({len(rows)} in all)"


# -- which samples a rule covers ---------------------------------------------------
def _last_step_kept(tr):
    """(B,) the output at the last processed step is that step's h (or h is unchanged)."""
    pm = tr.processing_mask
    if tr.zero_output_for_mask:
        # a masked last step outputs zeros; equal to h only if h is zero too
        return pm[:, -1] | (~pm.any(axis=1) & ~tr.initial_state[0].any(axis=1))
    # the last output repeats the last valid step's output; with no valid step it stays zeros
    return pm.any(axis=1) | ~tr.initial_state[0].any(axis=1)


def _valid_steps(tr):
    return tr.processing_mask


# -- LSTM --------------------------------------------------------------------------
def lstm_claims(layer, prefix="", tr_of=lambda tr: tr):
    """Claims for an `LSTM`'s outputs; `tr_of` picks its Trace out of the ctx."""
    rs, rst = layer.return_sequences, layer.return_state
    claims = []
    if rs and rst:
        claims.append(Claim(
            "whole_seq_output[:, -1] == final_memory_state",
            "each step outputs its memory state h, and the last position of the sequence is "
            "the last step processed" + (" (with go_backwards that step consumed x[:, 0])"
                                         if layer.go_backwards else ""),
            lambda tr: tr_of(tr).outputs[0][:, -1], lambda tr: tr_of(tr).outputs[1],
            lambda tr: _last_step_kept(tr_of(tr))))
    if not rs and rst:
        claims.append(Claim(
            "output == final_memory_state",
            "without return_sequences the output is the last step's memory state h, "
            "returned a second time as the state",
            lambda tr: tr_of(tr).outputs[0], lambda tr: tr_of(tr).outputs[1],
            lambda tr: _last_step_kept(tr_of(tr))))
    if not rst:
        claims.append(Claim(
            ("output[:, -1]" if rs else "output") + " == h_T, the final memory state "
            "(lk.trace(...).h[:, -1])",
            "the last step's output is its memory state; return_state=True would also return "
            "it, with the carry state c_T",
            lambda tr: (tr_of(tr).outputs[:, -1] if rs else tr_of(tr).outputs),
            lambda tr: tr_of(tr).h[:, -1], lambda tr: _last_step_kept(tr_of(tr))))
    if rs:
        name = "whole_seq_output" if rst else "output"
        claims.append(Claim(
            f"{name}[:, t] == h after step t (lk.trace(...).h), at every valid step t",
            "the output of a step is its memory state; the sequence is in processing order"
            + (", so with go_backwards position t came from x[:, T-1-t]" if layer.go_backwards
               else ""),
            lambda tr: np.where(_valid_steps(tr_of(tr))[..., None], tr_of(tr).sequence, 0),
            lambda tr: np.where(_valid_steps(tr_of(tr))[..., None], tr_of(tr).h, 0)))
    claims.append(Claim(
        "h_t == o_t * " + layer.cell.activation.name + "(c_t) (lk.trace(...).h, .o, .c)",
        "the memory state is the output gate times the squashed carry state (Keras LSTMCell)",
        lambda tr: np.where(_valid_steps(tr_of(tr))[..., None], tr_of(tr).h, 0),
        lambda tr: np.where(_valid_steps(tr_of(tr))[..., None],
                            tr_of(tr).o * layer.cell.activation(tr_of(tr).c), 0),
        tol=1e-6 if layer.dtype == "float32" else 1e-12))
    for c in claims:
        c.statement = prefix + c.statement
    return claims


# -- Bidirectional -------------------------------------------------------------------
_OPS = {"sum": ("+", lambda a, b: a + b), "mul": ("*", lambda a, b: a * b),
        "ave": ("+ ... / 2", lambda a, b: (a + b) / 2)}


def bidirectional_claims(layer):
    """Claims for a `Bidirectional` layer's outputs (keras/src/layers/rnn/bidirectional.py)."""
    rs, rst, mode = layer.return_sequences, layer.return_state, layer.merge_mode
    H = layer.forward_layer.units
    n_out = 2 if mode is None else 1
    claims = []

    def h_fwd(tr):
        return tr.outputs[n_out] if rst else tr.forward.h[:, -1]

    def h_bwd(tr):
        return tr.outputs[n_out + 2] if rst else tr.backward.h[:, -1]

    fw = "h_fwd" if rst else "lk.trace(...).forward.h[:, -1]"
    bw = "h_bwd" if rst else "lk.trace(...).backward.h[:, -1]"

    def out(tr, k=0):
        return tr.outputs[k] if (rst or mode is None) else tr.outputs

    def last_kept(which):
        return lambda tr: _last_step_kept(getattr(tr, which))

    if mode in ("concat", None):
        first = (lambda tr: out(tr)[..., :H]) if mode == "concat" else (lambda tr: out(tr, 0))
        second = (lambda tr: out(tr)[..., H:]) if mode == "concat" else (lambda tr: out(tr, 1))
        names = (f"output[..., :{H}]", f"output[..., {H}:]") if mode == "concat" else (
            "y_fwd[...]", "y_bwd[...]")
        if rs:
            claims.append(Claim(
                f"{names[0].replace('...', ':, -1')} == {fw}",
                "the forward half at the last position is the forward layer's last step; "
                "masked steps output zeros (Bidirectional forces zero_output_for_mask)",
                lambda tr: first(tr)[:, -1], h_fwd, last_kept("forward")))
            claims.append(Claim(
                f"{names[1].replace('...', ':, 0')} == {bw}",
                "the backward layer reads the sequence from the end, and its outputs are "
                "flipped back, so its final state sits at position 0",
                lambda tr: second(tr)[:, 0], h_bwd, last_kept("backward")))
        else:
            names = tuple(n.replace("[...]", "").replace("...", ":") for n in names)
            claims.append(Claim(f"{names[0]} == {fw}", "each half is its direction's last "
                                "output, which is its final memory state",
                                first, h_fwd, last_kept("forward")))
            claims.append(Claim(f"{names[1]} == {bw}", "the backward half ended at x[:, 0]",
                                second, h_bwd, last_kept("backward")))
    else:
        sym, op = _OPS[mode]
        if rs:
            claims.append(Claim(
                f"output == merge(y_fwd, y_bwd flipped back) with {mode} ({sym})",
                "both sequences are aligned with the inputs, then merged elementwise; the "
                "final states are not a slice of the merged output",
                lambda tr: out(tr), lambda tr: op(tr.forward.sequence,
                                                  tr.backward.sequence[:, ::-1])))
        else:
            claims.append(Claim(
                f"output == {mode}({fw}, {bw})",
                "without return_sequences each direction returns its last output, and the "
                "two are merged elementwise",
                lambda tr: out(tr), lambda tr: op(h_fwd(tr), h_bwd(tr)),
                lambda tr: last_kept("forward")(tr) & last_kept("backward")(tr)))
    for which in ("forward", "backward"):
        sub = getattr(layer, f"{which}_layer")
        for c in lstm_claims(sub, prefix=f"{which}: ", tr_of=lambda tr, w=which: getattr(tr, w)):
            if c.statement.startswith(f"{which}: h_t =="):
                claims.append(c)
    return claims
