"""`explain`: what an LSTM returns, for this exact configuration, in plain words.

`str(lk.explain(layer, x))` names every returned array in Keras's words and the
textbook's (whole sequence / final memory state h / final carry state c), gives
its shape for these inputs, says which arrays are equal and why, and, given
inputs, checks each equality on a real call (see `claims.py`). It ends with the
step math and the weight shapes in Keras's gate order i, f, c, o.

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> inputs = np.random.default_rng(0).normal(size=(32, 10, 8)).astype("float32")
    >>> lstm = lk.layers.LSTM(4, return_sequences=True, return_state=True)
    >>> text = str(lk.explain(lstm, inputs))
    >>> "whole_seq_output[:, -1] == final_memory_state" in text
    True
"""

from __future__ import annotations

import html

import numpy as np

from ..layers.bidirectional import Bidirectional
from ..layers.lstm import LSTM
from ..layers.lstm_cell import LSTMCell
from ..layers.rnn import RNN
from . import claims as _claims
from . import explain_rnn as _explain_rnn
from .trace import _is_model, resolve, trace, traceable

_SEQ = "the output at every step: h_1 ... h_T, the memory state after each step"
_LAST = "the last step's output: h_T, the final memory (hidden) state"
_H = "h_T: the final memory (hidden) state (the same h as the output)"
_C = "c_T: the final carry (cell) state; never part of the output"


def _dims(shape, H, rs):
    B, T = (shape[0], shape[1]) if shape else ("batch", "timesteps")
    return ((B, T, H) if rs else (B, H)), (B, H)


def _fmt(shape):
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def lstm_outputs(layer, shape=None):
    """[(Keras name, shape, meaning)] for what `layer(x)` returns, in order."""
    H, rs = layer.units, layer.return_sequences
    out, state = _dims(shape, H, rs)
    # Keras's docstring: `output = lstm(inputs)`; with return_state,
    # `whole_seq_output, final_memory_state, final_carry_state = lstm(inputs)`.
    seq_name = "whole_seq_output" if layer.return_state else "output"
    first = (seq_name, out, _SEQ) if rs else ("output", out, _LAST)
    if not layer.return_state:
        return [first]
    return [first, ("final_memory_state", state, _H), ("final_carry_state", state, _C)]


def bidirectional_outputs(layer, shape=None):
    """[(name, shape, meaning)] for what a `Bidirectional` returns, in order."""
    H, rs, mode = layer.forward_layer.units, layer.return_sequences, layer.merge_mode
    out, state = _dims(shape, H, rs)
    what = "both directions at every step" if rs else "each direction's last output"
    if mode is None:
        rows = [("y_fwd", out, f"forward layer's {'sequence' if rs else 'h_T'}"),
                ("y_bwd", out, "backward layer's " + ("sequence, flipped back to input order"
                                                      if rs else "h_T (after reading x[:, 0])"))]
    else:
        merged = (*out[:-1], 2 * H) if mode == "concat" else out
        how = {"concat": "forward then backward along the last axis",
               "sum": "y_fwd + y_bwd", "mul": "y_fwd * y_bwd", "ave": "(y_fwd + y_bwd) / 2"}
        rows = [("output", merged, f"{what}, merged with {mode}: {how[mode]}")]
    if layer.return_state:
        rows += [("h_fwd", state, "forward final memory state h_T"),
                 ("c_fwd", state, "forward final carry state c_T"),
                 ("h_bwd", state, "backward final memory state (after reading x[:, 0])"),
                 ("c_bwd", state, "backward final carry state")]
    return rows


def _notes(layer, mask):
    """Plain sentences for the arguments that change the picture."""
    notes = []
    if not layer.return_state:
        notes.append("The carry state c is not returned (return_state=False); "
                     "return_state=True returns h_T and c_T, and lk.trace shows c at every step.")
    if layer.go_backwards:
        notes.append("go_backwards=True: the layer reads x[:, T-1] first. The sequence it "
                     "returns is in that processing order and is NOT flipped back: position t "
                     "came from x[:, T-1-t]; use [:, ::-1] to align it with the inputs. The "
                     "final states are those after reading x[:, 0].")
    if mask is not None:
        zero = layer.zero_output_for_mask
        notes.append("Mask: at a masked step the states h and c keep their previous values; "
                     + ("the output there is zeros (zero_output_for_mask=True), so the last "
                        "output can differ from h_T when the last step is masked."
                        if zero else "the output repeats the previous output (zeros before "
                        "the first valid step), so the last output is the h of the last valid "
                        "step."))
    if layer.stateful:
        notes.append("stateful=True: each call starts from the states the previous call ended "
                     "with; reset_state() sets them to zeros.")
    for cell in getattr(layer.cell, "cells", [layer.cell]):
        if cell.dropout or cell.recurrent_dropout:
            notes.append(f"{cell.name}: dropout={cell.dropout}, recurrent_dropout="
                         f"{cell.recurrent_dropout}: applied only with training=True, one mask "
                         "per call, the same at every step.")
    return notes


def _weights(cell, D):
    H = cell.units
    Dn = D if D is not None else "input_dim"
    cols = ", ".join(f"{k * H}:{(k + 1) * H} {g}" for k, g in enumerate("ifco"))
    rows = [("kernel", (Dn, 4 * H), f"x_t -> gates; columns {cols}"),
            ("recurrent_kernel", (H, 4 * H), "h_{t-1} -> gates; same column order")]
    if cell.use_bias:
        note = "one bias per gate, same order"
        if cell.unit_forget_bias:
            note += f"; unit_forget_bias: the f slice {H}:{2 * H} starts at 1"
        rows.append(("bias", (4 * H,), note))
    n = None if D is None else 4 * H * (D + H + int(cell.use_bias))
    return rows, n


def _step_math(layer):
    s, p = layer.recurrent_activation.name, layer.activation.name
    return (f"z       = x_t @ kernel + h_(t-1) @ recurrent_kernel + bias  (split: i, f, c, o)\n"
            f"i, f, o = {s}(z_i), {s}(z_f), {s}(z_o)   gates\n"
            f"g       = {p}(z_c)   the candidate (Keras's gate c)\n"
            f"c_t     = f * c_(t-1) + i * g   carry (cell) state\n"
            f"h_t     = o * {p}(c_t)   memory (hidden) state = the step's output")


class Explanation:
    """A plain explanation; `str()` for text, `_repr_html_()` for notebooks.

    Attributes:
        title: one line naming the layer and its configuration.
        outputs: [(name, shape, meaning)] in the order the layer returns them.
        claims: the `claims.Claim`s, checked when inputs were given (`verified`).
        children: explanations of the layers of a model.
    """

    def __init__(self, title, outputs=(), claims=(), notes=(), math="", weights=(),
                 n_params=None, children=(), intro="", cell="LSTMCell", gate_order="i, f, c, o"):
        self.cell, self.gate_order = cell, gate_order
        self.title, self.outputs, self.claims = title, list(outputs), list(claims)
        self.notes, self.math, self.weights = list(notes), math, list(weights)
        self.n_params, self.children, self.intro = n_params, list(children), intro

    @property
    def verified(self):
        """True if every claim was checked and held as predicted; None if not checked."""
        all_claims = self.claims + [c for ch in self.children for c in ch.claims]
        if not all_claims or any(c.verified is None for c in all_claims):
            return None
        return all(c.verified for c in all_claims)

    def __str__(self):
        lines = [self.title, "=" * min(len(self.title), 88)]
        if self.intro:
            lines += [self.intro]
        if self.outputs:
            n = len(self.outputs)
            lines += ["", "Returns " + ("one array:" if n == 1 else f"a tuple of {n} arrays, in "
                                         "this order:")]
            w = max(len(o[0]) for o in self.outputs)
            for k, (name, shape, meaning) in enumerate(self.outputs):
                lines.append(f"  [{k}] {name:<{w}}  {_fmt(shape):<14} {meaning}")
        if self.claims:
            lines += ["", "How they relate:"]
            for c in self.claims:
                lines += [f"  - {c.statement}", f"      because {c.reason}."]
                if c.verified is not None:
                    lines.append(f"      {'ok' if c.verified else 'FAILED'}: {c.result}.")
        for note in self.notes:
            lines += ["", note]
        if self.math:
            lines += ["", f"One step (Keras's {self.cell}):"]
            lines += ["  " + m for m in self.math.split("\n")]
        if self.weights:
            lines += ["", f"Weights (gate order {self.gate_order} along the last axis):"
                      if self.gate_order else "Weights:"]
            w = max(len(n) for n, _, _ in self.weights)
            for name, shape, note in self.weights:
                lines.append(f"  {name:<{w}} {_fmt(shape):<15} {note}")
            if self.n_params is not None:
                lines.append(f"  parameters: {self.n_params}")
        for child in self.children:
            lines += ["", str(child)]
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self):
        e = html.escape
        parts = [f"<div class='lk-explain'><h3>{e(self.title)}</h3>"]
        if self.intro:
            parts.append(f"<p>{e(self.intro)}</p>")
        if self.outputs:
            rows = "".join(f"<tr><td>[{k}]</td><td><code>{e(n)}</code></td><td><code>{e(_fmt(s))}"
                           f"</code></td><td>{e(m)}</td></tr>"
                           for k, (n, s, m) in enumerate(self.outputs))
            parts.append("<table><tr><th></th><th>returned</th><th>shape</th><th>what it is"
                         f"</th></tr>{rows}</table>")
        if self.claims:
            items = []
            for c in self.claims:
                mark = {None: "", True: "<span class='ok'>&#10003;</span> ",
                        False: "<span class='bad'>&#10007;</span> "}[c.verified]
                res = f"<br><small>{e(c.result)}</small>" if c.result else ""
                items.append(f"<li>{mark}<code>{e(c.statement)}</code><br>because "
                             f"{e(c.reason)}.{res}</li>")
            parts.append("<p>How they relate:</p><ul>" + "".join(items) + "</ul>")
        parts += [f"<p>{e(n)}</p>" for n in self.notes]
        if self.math:
            parts.append(f"<pre>{e(self.math)}</pre>")
        if self.weights:
            rows = "".join(f"<tr><td><code>{e(n)}</code></td><td><code>{e(_fmt(s))}</code></td>"
                           f"<td>{e(t)}</td></tr>" for n, s, t in self.weights)
            total = "" if self.n_params is None else f"<p>parameters: {self.n_params}</p>"
            parts.append(f"<table><tr><th>weight</th><th>shape</th><th>gate order "
                         f"{e(self.gate_order or '-')}</th></tr>{rows}</table>{total}")
        parts += [c._repr_html_() for c in self.children]
        return "".join(parts) + "</div>"


def _config_line(layer):
    bits = [f"units={layer.units}"]
    for key in ("return_sequences", "return_state", "go_backwards", "stateful",
                "zero_output_for_mask"):
        if getattr(layer, key):
            bits.append(f"{key}=True")
    return ", ".join(bits)


def explain_layer(layer, inputs=None, mask=None, initial_state=None, model=None, shape=None,
                  tr=None):
    """The `Explanation` of one `LSTM` or `Bidirectional` (see `explain`); `tr`: its trace."""
    if tr is not None:
        shape, mask = tr.inputs.shape, tr.mask
    elif inputs is not None:
        tr = trace(layer, inputs, mask=mask, initial_state=initial_state, model=model)
        shape, mask = tr.inputs.shape, tr.mask
    one = layer if isinstance(layer, RNN) else layer.forward_layer
    D = shape[-1] if shape else (one.cell.input_dim if one.built else None)
    shape_txt = (f"Inputs {_fmt(shape)} = (batch, timesteps, features)." if shape else
                 "No inputs given: shapes are symbolic and nothing was checked numerically.")
    if hasattr(one.cell, "cells"):
        return _explain_stacked(layer, tr, shape, mask, D, shape_txt)
    if not isinstance(one.cell, LSTMCell):
        return _explain_cell_layer(layer, one, tr, shape, mask, D, shape_txt)
    if isinstance(layer, RNN):
        title = f"{type(layer).__name__} {layer.name!r}: {_config_line(layer)}"
        if not isinstance(layer, LSTM):
            title = title.replace(": ", ": LSTMCell, ", 1)
        claims = _claims.lstm_claims(layer)
        outputs = lstm_outputs(layer, shape)
        notes, cell = _notes(layer, mask), layer.cell
    else:
        fl = layer.forward_layer
        title = (f"Bidirectional {layer.name!r}: merge_mode={layer.merge_mode!r}, "
                 f"wrapping LSTM({_config_line(fl)})")
        claims = _claims.bidirectional_claims(layer)
        outputs = bidirectional_outputs(layer, shape)
        bl = layer.backward_layer

        def reads(sub):
            return "x[:, T-1] first (go_backwards)" if sub.go_backwards else "x[:, 0] first"

        notes = [(f"Two LSTMs with their own weights: {fl.name!r} reads {reads(fl)}, "
                  f"{bl.name!r} reads {reads(bl)}. "
                  + ("The backward sequence is flipped back before merging, so position t "
                     "of both halves refers to input t. Masked steps output zeros in both "
                     "directions (Bidirectional sets zero_output_for_mask=return_sequences)."
                     if layer.return_sequences else "")).strip()]
        notes += [n for n in _notes(fl, mask) if not n.startswith("go_backwards")]
        cell = fl.cell
    if tr is not None:
        for c in claims:
            c.check(tr)
        starts = [one.initial_state for _, one in getattr(tr, "directions", [(None, tr)])]
        if any(np.any(s) for pair in starts for s in pair):
            notes.append("This call started from non-zero states h_0, c_0 (an initial_state "
                         "argument, e.g. an encoder's final states, or a stateful layer's "
                         "stored states) instead of zeros.")
    weights, n = _weights(cell, D)
    if isinstance(layer, Bidirectional):
        weights = [(f"{d}/{w}", s, t) for d in ("forward", "backward") for w, s, t in weights]
        n = None if n is None else 2 * n
    return Explanation(title, outputs, claims, notes, _step_math(cell), weights, n,
                       intro=shape_txt)


def explain(layer_or_model, inputs=None, mask=None, initial_state=None, *, model=None,
            layer=None):
    """Explain what `layer_or_model` returns, for this configuration and these inputs.

    Args:
        layer_or_model: an `LSTM` or `Bidirectional`, or a model (every recurrent layer
            is explained, fed what the model feeds it; `layer=` picks one).
        inputs: optional (B, T, D) array (a model's inputs for a model); with inputs the
            shapes are concrete and every stated equality is checked on a real call.
        mask, initial_state: as for the layer's call.
        model, layer: as for `lk.trace`.

    Returns:
        An `Explanation`: `str()` is the text, `_repr_html_()` the notebook view.

    Example:
        >>> import lstmkit as lk
        >>> print(str(lk.explain(lk.layers.LSTM(4, name="encoder"))).splitlines()[0])
        LSTM 'encoder': units=4
    """
    if _is_model(layer_or_model) and layer is None:
        return _explain_model(layer_or_model, inputs)
    if inputs is None:
        target = layer_or_model
        if _is_model(target):
            target = target.get_layer(layer) if isinstance(layer, str) else layer
        if not isinstance(target, (RNN, Bidirectional)):
            raise TypeError(f"explain expects an lstmkit LSTM, Bidirectional or model, got "
                            f"{type(target).__name__}: {target!r}")
        return explain_layer(target)
    target, *_ = resolve(layer_or_model, inputs, mask, initial_state, model, layer)
    if _is_model(layer_or_model):
        model = layer_or_model
    return explain_layer(target, inputs, mask, initial_state, model=model)


def recurrent_layers(model):
    """The recurrent layers of a model that `trace` reads (LSTM, GRU, SimpleRNN, RNN of one
    cell or of stacked cells, Bidirectional over one), in its order."""
    return [lay for lay in model.layers if traceable(lay)]


def _explain_cell_layer(layer, one, tr, shape, mask, D, shape_txt):
    """The `Explanation` of a GRU / SimpleRNN (or a Bidirectional over one)."""
    kind = type(one.cell).__name__.removesuffix("Cell")
    config = _config_line(one)
    if isinstance(layer, RNN):
        title = f"{type(layer).__name__} {layer.name!r}: {config}"
        claims = _explain_rnn.cell_claims(layer)
        outputs = _explain_rnn.cell_outputs(layer, shape, kind)
    else:
        title = (f"Bidirectional {layer.name!r}: merge_mode={layer.merge_mode!r}, wrapping "
                 f"{type(one).__name__}({config})")
        claims = []
        for direction, sub in (("forward", layer.forward_layer),
                               ("backward", layer.backward_layer)):
            for c in _explain_rnn.cell_claims(sub, lambda tr, d=direction: getattr(tr, d)):
                c.statement = f"{direction} {type(sub).__name__}: {c.statement}"
                claims.append(c)
        rows = bidirectional_outputs(layer, shape)
        outputs = [r for r in rows if not r[0].startswith(("h_", "c_"))]
        if layer.return_state:
            state = _dims(shape, one.units, False)[1]
            outputs += [("h_fwd", state, "forward final state h_T"),
                        ("h_bwd", state, "backward final state (after reading x[:, 0])")]
    notes = [n.replace("states h and c keep", "state h keeps") for n in _notes(one, mask)
             if not n.startswith("The carry state c")]
    if tr is not None:
        for c in claims:
            c.check(tr)
    weights, n = _explain_rnn.cell_weights(one.cell, D)
    if isinstance(layer, Bidirectional):
        weights = [(f"{d}/{w}", s, t) for d in ("forward", "backward") for w, s, t in weights]
        n = None if n is None else 2 * n
    return Explanation(title, outputs, claims, notes, _explain_rnn.step_math(one.cell), weights, n,
                       intro=shape_txt, cell=type(one.cell).__name__,
                       gate_order="z, r, h" if kind == "GRU" else "")


def _explain_stacked(layer, tr, shape, mask, D, shape_txt):
    """The `Explanation` of an RNN over stacked cells (`tr`: its `StackedTrace`)."""
    cells = layer.cell.cells
    title = (f"RNN {layer.name!r}: {_config_line(layer)}, stacked cells "
             + " -> ".join(type(c).__name__ for c in cells))
    claims = _explain_rnn.stacked_claims(layer)
    notes = [_explain_rnn.STACK_NOTE] + [
        n.replace("the states h and c keep", "every cell's states keep")
        for n in _notes(layer, mask) if not n.startswith("The carry state c")]
    if tr is not None:
        for c in claims:
            c.check(tr)
    math, weights, n = [], [], 0
    for k, cell in enumerate(cells):
        if isinstance(cell, LSTMCell):
            rows, count = _weights(cell, D)
            step = _step_math(cell)
        else:
            rows, count = _explain_rnn.cell_weights(cell, D)
            step = _explain_rnn.step_math(cell)
        math.append(f"cell {k} ({type(cell).__name__}):\n" + "\n".join(
            "  " + line for line in step.split("\n")))
        weights += [(f"{cell.name}/{w}", s, t) for w, s, t in rows]
        n = None if n is None or count is None else n + count
        D = cell.units  # the next cell reads this one's output
    return Explanation(title, _explain_rnn.stacked_outputs(layer, shape), claims, notes,
                       "\n".join(math), weights, n, intro=shape_txt, cell="cells",
                       gate_order="per cell: LSTM i, f, c, o; GRU z, r, h")


def _explain_model(model, inputs):
    layers = recurrent_layers(model)
    name = getattr(model, "name", type(model).__name__)
    intro = (f"{len(layers)} recurrent layer(s): " + ", ".join(repr(lay.name) for lay in layers)
             if layers else "This model has no LSTM or Bidirectional layer.")
    children = [explain_layer(lay, inputs, model=model) if inputs is not None
                else explain_layer(lay) for lay in layers]
    return Explanation(f"Model {name!r}", children=children, intro=intro)
