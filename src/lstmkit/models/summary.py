"""`model.summary()`: Keras's table of layers, output shapes and parameter counts.

Like keras/src/utils/summary_utils.py, with box-drawing borders; a functional
model adds the "Connected to" column. lstmkit adds one line: the backend
("kernel" or "reference") each LSTM ran on its last call.
"""

from __future__ import annotations

import textwrap

import numpy as np

from ..layers.input_layer import InputLayer


def _shape_text(layer, model):
    nodes = [n for n in layer._inbound_nodes if n in model._run_order] if not isinstance(
        layer, InputLayer) else layer._inbound_nodes[:1]
    if not nodes:
        return "?"
    outs = nodes[0].outputs
    if isinstance(outs, list):
        return "[" + ", ".join(_fmt(t.shape) for t in outs) + "]"
    return _fmt(outs.shape)


def _built_shape_text(layer):
    """A layer outside any graph (in a subclassed model): the output shape for the shape it
    was built with, as Keras's summary shows it (keras/src/utils/summary_utils.py); "?"
    when it was never built or cannot tell its output shape."""
    shape = getattr(layer, "_build_input_shape", None)
    if not layer.built or shape is None:
        return "?"
    try:
        out = layer.compute_output_shape(shape)
    except NotImplementedError:
        return "?"
    if _is_shape(out):
        return _fmt(out)
    text = ", ".join(_fmt(s) for s in out)
    return f"[{text}]" if isinstance(out, list) else f"({text})"


def _is_shape(value) -> bool:
    return all(d is None or isinstance(d, (int, np.integer)) for d in value)


def _fmt(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + (
        ",)" if len(shape) == 1 else ")")


def _connected(layer, model):
    if isinstance(layer, InputLayer):
        return "-"
    parts = []
    for node in layer._inbound_nodes:
        if node not in model._run_order:
            continue
        for t in node.input_tensors:
            src, ni, ti = t._keras_history
            parts.append(f"{src.name}[{ni}][{ti}]")
    return ", ".join(parts) or "-"


def _params(layer):
    return sum(w.value.size for w in layer.weights) if layer.built else 0


def _size(n_params, model):
    nbytes = sum(w.value.nbytes for w in model.weights) if n_params else 0
    return nbytes


def _human(nbytes):
    for unit in ("B", "KB", "MB", "GB"):
        if nbytes < 1024 or unit == "GB":
            return f"{nbytes:.2f} {unit}"
        nbytes /= 1024


def _sequential_like(model) -> bool:
    """Keras prints a functional model that is one chain of single-input calls (no
    branches, no shared layers) as it prints a Sequential: no "Connected to" column."""
    if len(model.inputs) != 1:
        return False
    parent = model.inputs[0]._keras_history[0]._inbound_nodes[0]
    seen = set()
    for node in model._run_order:
        if len(node.input_tensors) != 1 or node.parent_nodes != [parent] or node.layer in seen:
            return False
        seen.add(node.layer)
        parent = node
    return True


def summary_text(model, line_length=None) -> str:
    from .model import Functional
    from .sequential import Sequential
    sequential = isinstance(model, Sequential)
    # a subclass of lk.Model with its own `call`: no graph, the layers its `call` uses
    subclassed = not sequential and not isinstance(model, Functional)
    # An unbuilt Sequential (no Input, not called yet): Keras prints "?" and "0 (unbuilt)".
    unbuilt = sequential and not model.built and model._input_layer is None
    if sequential and not unbuilt:
        model._ensure_built()
    chain = sequential or subclassed or _sequential_like(model)
    rows = []
    layers = model.layers
    for layer in layers:
        if unbuilt or subclassed:
            shape = _built_shape_text(layer) if subclassed else "?"
            params = f"{_params(layer):,}" if layer.built else "0 (unbuilt)"
        else:
            shape, params = _shape_text(layer, model), f"{_params(layer):,}"
        row = [f"{layer.name} ({type(layer).__name__})", shape, params]
        if not chain:
            row.append(_connected(layer, model))
        rows.append(row)
    widths = [31, 22, 13] if chain else [19, 17, 10, 17]
    if line_length:
        scale = line_length / (sum(widths) + 3 * len(widths) + 1)
        widths = [max(8, int(w * scale)) for w in widths]
    headers = ["Layer (type)", "Output Shape", "Param #"] + ([] if chain else
                                                             ["Connected to"])
    right = {2}

    def line(cells):
        # "Connected to" wraps between connections and cuts a longer one with an ellipsis,
        # as Keras's rich table does; the other cells wrap.
        wrapped = [[ln if len(ln) <= w else ln[:w - 1] + "…"
                    for ln in textwrap.wrap(c, w, break_long_words=False)]
                   if j == 3 else textwrap.wrap(c, w) or [""]
                   for j, (c, w) in enumerate(zip(cells, widths))]
        height = max(len(w) for w in wrapped)
        out = []
        for i in range(height):
            parts = []
            for j, (w, width) in enumerate(zip(wrapped, widths)):
                text = w[i] if i < len(w) else ""
                parts.append(text.rjust(width) if j in right else text.ljust(width))
            out.append("│ " + " │ ".join(parts) + " │")
        return out

    def border(left, mid, right_, fill):
        return left + mid.join(fill * (w + 2) for w in widths) + right_

    out = [f'Model: "{model.name}"', border("┏", "┳", "┓", "━")]
    head = [h.rjust(w) if j in right else h.ljust(w)
            for j, (h, w) in enumerate(zip(headers, widths))]
    out.append("┃ " + " ┃ ".join(head) + " ┃")
    out.append(border("┡", "╇", "┩", "━"))
    for i, row in enumerate(rows):
        out += line(row)
        out.append(border("├", "┼", "┤", "─") if i < len(rows) - 1 else
                   border("└", "┴", "┘", "─"))
    if unbuilt or subclassed:
        weights = [w for layer in layers if layer.built for w in layer.weights]
        trainable_weights = [w for w in weights if w.trainable]
    else:
        weights, trainable_weights = model.weights, model.trainable_weights
    total = sum(w.value.size for w in weights)
    trainable = sum(w.value.size for w in trainable_weights)
    tb = sum(w.value.nbytes for w in trainable_weights)
    nb = sum(w.value.nbytes for w in weights) - tb
    # A compiled model whose optimizer has run adds its variables (keras summary_utils.py).
    optimizer = getattr(model, "optimizer", None) if getattr(model, "compiled", False) else None
    opt_vars = optimizer.variables if getattr(optimizer, "built", False) else []
    n_opt = sum(np.size(v.value) for v in opt_vars)
    b_opt = sum(np.asarray(v.value).nbytes for v in opt_vars)
    out.append(f" Total params: {total + n_opt:,} ({_human(tb + nb + b_opt)})")
    out.append(f" Trainable params: {trainable:,} ({_human(tb)})")
    out.append(f" Non-trainable params: {total - trainable:,} ({_human(nb)})")
    if opt_vars:
        out.append(f" Optimizer params: {n_opt:,} ({_human(b_opt)})")
    backends = [(layer.name, getattr(layer, "backend_", None)) for layer in layers
                if type(layer).__name__ in ("LSTM", "Bidirectional")]
    if backends:
        out.append(" LSTM backend (last run): " + ", ".join(
            f"{name}={b or 'not run yet'}" for name, b in backends))
    return "\n".join(out)
