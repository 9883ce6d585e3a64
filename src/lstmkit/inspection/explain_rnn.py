"""`explain` for a GRU or SimpleRNN (and a Bidirectional over one): what it returns, in words.

A GRU and a SimpleRNN have one state, h, which is also the output: `return_state=True`
gives `(output, final_state)`, not the LSTM's three arrays. Given inputs, every stated
equality is checked on a real call (`claims.Claim`), and for a GRU the update rule
h_t = z * h_(t-1) + (1 - z) * h~ is checked on the traced gates.

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    >>> text = str(lk.explain(lk.layers.GRU(4, return_state=True), x))
    >>> "output == final_state" in text and "FAILED" not in text
    True
"""

from __future__ import annotations

import numpy as np

from .claims import Claim, _last_step_kept, _valid_steps

_STATE = "h_T: the final state (a {kind} has one state, h, which is also its output)"


def _dims(shape, H, rs):
    B, T = (shape[0], shape[1]) if shape else ("batch", "timesteps")
    return ((B, T, H) if rs else (B, H)), (B, H)


def cell_outputs(layer, shape=None, kind="GRU"):
    """[(name, shape, meaning)] for what a GRU/SimpleRNN returns, in order."""
    out, state = _dims(shape, layer.units, layer.return_sequences)
    if layer.return_sequences:
        first = ("whole_seq_output" if layer.return_state else "output", out,
                 "the output at every step: h_1 ... h_T, the state after each step")
    else:
        first = ("output", out, "the last step's output: h_T, the final state")
    if not layer.return_state:
        return [first]
    return [first, ("final_state", state, _STATE.format(kind=kind))]


def cell_claims(layer, tr_of=lambda tr: tr):
    """The equalities between a GRU/SimpleRNN's outputs and its trace."""
    rs, rst = layer.return_sequences, layer.return_state
    claims = []
    if rst:
        lhs = "whole_seq_output[:, -1]" if rs else "output"
        claims.append(Claim(
            f"{lhs} == final_state",
            "each step outputs its state h, and the last output is the last step processed's",
            lambda tr: (tr_of(tr).outputs[0][:, -1] if rs else tr_of(tr).outputs[0]),
            lambda tr: tr_of(tr).outputs[1], lambda tr: _last_step_kept(tr_of(tr))))
    else:
        claims.append(Claim(
            ("output[:, -1]" if rs else "output") + " == h_T (lk.trace(...).h[:, -1])",
            "the last step's output is its state; return_state=True would return it again",
            lambda tr: (tr_of(tr).outputs[:, -1] if rs else tr_of(tr).outputs),
            lambda tr: tr_of(tr).h[:, -1], lambda tr: _last_step_kept(tr_of(tr))))
    if rs:
        claims.append(Claim(
            "output[:, t] == h after step t (lk.trace(...).h), at every valid step t",
            "the output of a step is its state; the sequence is in processing order",
            lambda tr: np.where(_valid_steps(tr_of(tr))[..., None], tr_of(tr).sequence, 0),
            lambda tr: np.where(_valid_steps(tr_of(tr))[..., None], tr_of(tr).h, 0)))
    if type(layer.cell).__name__ == "GRUCell":
        claims.append(Claim(
            "h_t == z_t * h_(t-1) + (1 - z_t) * h~_t at every valid step (lk.trace: z, hh, h)",
            "the update gate z mixes the previous state with the candidate h~ (GRUCell.call)",
            lambda tr: np.where(_valid_steps(tr_of(tr))[..., None], tr_of(tr).h, 0),
            lambda tr: np.where(_valid_steps(tr_of(tr))[..., None], _gru_mix(tr_of(tr)), 0),
            tol=1e-5))
    return claims


def _gru_mix(tr):
    h_prev = np.concatenate([tr.initial_state[0][:, None], tr.h[:, :-1]], axis=1)  # (B, T, H)
    return tr.z * h_prev + (1 - tr.z) * tr.hh


def step_math(layer):
    cell = layer.cell
    p = cell.activation.name
    if type(cell).__name__ == "SimpleRNNCell":
        return f"h_t = {p}(x_t @ kernel + bias + h_(t-1) @ recurrent_kernel)   the state = output"
    s = cell.recurrent_activation.name
    if cell.reset_after:
        cand = f"h~  = {p}(x_t @ K_h + b_h + r * (h_(t-1) @ R_h + b'_h))   reset_after=True"
    else:
        cand = f"h~  = {p}(x_t @ K_h + b_h + (r * h_(t-1)) @ R_h)   reset_after=False"
    return (f"z   = {s}(x_t @ K_z + h_(t-1) @ R_z + biases)   update gate\n"
            f"r   = {s}(x_t @ K_r + h_(t-1) @ R_r + biases)   reset gate\n"
            f"{cand}\n"
            f"h_t = z * h_(t-1) + (1 - z) * h~   the state = the step's output")


def cell_weights(layer, D):
    cell = layer.cell
    H = cell.units
    Dn = D if D is not None else "input_dim"
    if type(cell).__name__ == "SimpleRNNCell":
        rows = [("kernel", (Dn, H), "x_t -> h"), ("recurrent_kernel", (H, H), "h_(t-1) -> h")]
        if cell.use_bias:
            rows.append(("bias", (H,), ""))
        return rows, None if D is None else H * (D + H + int(cell.use_bias))
    cols = ", ".join(f"{k * H}:{(k + 1) * H} {g}" for k, g in enumerate("zrh"))
    rows = [("kernel", (Dn, 3 * H), f"x_t -> gates; columns {cols}"),
            ("recurrent_kernel", (H, 3 * H), "h_(t-1) -> gates; same column order")]
    nb = 0
    if cell.use_bias:
        nb = 6 * H if cell.reset_after else 3 * H
        rows.append(("bias", (2, 3 * H) if cell.reset_after else (3 * H,),
                     "row 0 input bias, row 1 recurrent bias" if cell.reset_after
                     else "one bias per gate"))
    return rows, None if D is None else 3 * H * (D + H) + nb
