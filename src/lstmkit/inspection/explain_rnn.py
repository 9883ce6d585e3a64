"""`explain` for a GRU or SimpleRNN (and a Bidirectional over one), and for stacked cells
(`RNN([cell, ...])`): what it returns, in words.

A GRU and a SimpleRNN have one state, h, which is also the output: `return_state=True`
gives `(output, final_state)`, not the LSTM's three arrays. Given inputs, every stated
equality is checked on a real call (`claims.Claim`), and for a GRU the update rule
h_t = z * h_(t-1) + (1 - z) * h~ is checked on the traced gates.

A stack with `return_state=True` returns the last cell's output, then one list of
final states per cell, in cell order: `(output, [h0, c0], [h1])` for an LSTMCell
then a GRUCell (Keras 3). Its rows name them flat: h0, c0, h1.

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


def step_math(cell):
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


def cell_weights(cell, D):
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


# -- stacked cells (StackedRNNCells) -----------------------------------------------------------
def _state_rows(cell, k):
    """[(name, meaning)] of cell k's states, in Keras's order."""
    what = f"cell {k} ({type(cell).__name__} {cell.name!r})"
    if type(cell).__name__ == "LSTMCell":
        return [(f"h{k}", f"h_T of {what}: its final memory state"),
                (f"c{k}", f"c_T of {what}: its final carry state")]
    return [(f"h{k}", f"h_T of {what}: its final state")]


def stacked_outputs(layer, shape=None):
    """[(name, shape, meaning)] for what an RNN over stacked cells returns, flat, in order."""
    cells = layer.cell.cells
    out, _ = _dims(shape, layer.cell.output_size, layer.return_sequences)
    last = f"the last cell's ({type(cells[-1]).__name__})"
    if layer.return_sequences:
        rows = [("whole_seq_output" if layer.return_state else "output", out,
                 f"{last} output at every step")]
    else:
        rows = [("output", out, f"{last} output at the last step: its h_T")]
    if layer.return_state:
        B = shape[0] if shape else "batch"
        for k, cell in enumerate(cells):
            rows += [(name, (B, cell.units), f"{meaning}; result[{k + 1}][{j}]")
                     for j, (name, meaning) in enumerate(_state_rows(cell, k))]
    return rows


def stacked_claims(layer):
    """The equalities between a stack's outputs and its `StackedTrace` (`.cells[k]`)."""
    rs, rst, cells = layer.return_sequences, layer.return_state, layer.cell.cells
    n = len(cells) - 1
    claims = []
    if rs:
        claims.append(Claim(
            f"output[:, t] == h of the last cell after step t (lk.trace(...).cells[{n}].h), at "
            "every valid step t", "the stack's output is its last cell's output, its state h",
            lambda tr: np.where(_valid_steps(tr.cells[-1])[..., None], tr.sequence, 0),
            lambda tr: np.where(_valid_steps(tr.cells[-1])[..., None], tr.cells[-1].h, 0)))
    else:
        claims.append(Claim(
            f"output == h_T of the last cell (lk.trace(...).cells[{n}].h[:, -1])",
            "the stack's output is its last cell's output at the last step",
            lambda tr: tr.outputs[0] if rst else tr.outputs, lambda tr: tr.cells[-1].h[:, -1],
            lambda tr: _last_step_kept(tr.cells[-1])))
    if rst:
        for k, cell in enumerate(cells):
            for j, (name, _) in enumerate(_state_rows(cell, k)):
                claims.append(Claim(
                    f"{name} == lk.trace(...).cells[{k}].{name[0]}[:, -1]",
                    f"cell {k}'s final state is its state after the last step (a masked step "
                    "keeps every cell's states)",
                    lambda tr, k=k, j=j: tr.outputs[k + 1][j],
                    lambda tr, k=k, a=name[0]: tr.cells[k][a][:, -1]))
    for k, cell in enumerate(cells):
        if type(cell).__name__ == "GRUCell":
            claims.append(Claim(
                f"cell {k}: h_t == z_t * h_(t-1) + (1 - z_t) * h~_t at every valid step",
                "the update gate z mixes the previous state with the candidate h~ (GRUCell)",
                lambda tr, k=k: np.where(_valid_steps(tr.cells[k])[..., None], tr.cells[k].h, 0),
                lambda tr, k=k: np.where(_valid_steps(tr.cells[k])[..., None],
                                         _gru_mix(tr.cells[k]), 0), tol=1e-5))
        elif type(cell).__name__ == "LSTMCell":
            claims.append(Claim(
                f"cell {k}: h_t == o_t * {cell.activation.name}(c_t) at every valid step",
                "the memory state is the output gate times the squashed carry state (LSTMCell)",
                lambda tr, k=k: np.where(_valid_steps(tr.cells[k])[..., None], tr.cells[k].h, 0),
                lambda tr, k=k, act=cell.activation: np.where(
                    _valid_steps(tr.cells[k])[..., None], tr.cells[k].o * act(tr.cells[k].c), 0),
                tol=1e-5))
    return claims


STACK_NOTE = ("The cells run one after another at each step: cell k reads cell k - 1's output "
              "(its state h) at the same step. At a masked step every cell keeps its states.")
