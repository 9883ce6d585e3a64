"""`report`: one self-contained HTML page that shows everything a recurrent model computes.

The page holds the model summary, the explanation of every recurrent layer (what
each returned array is, with its equalities checked on these inputs), pictures
(PNG, base64) and an interactive view: pick a direction, sample and unit and see
i, f, g, o, c, h (an LSTM), z, r, h~, h (a GRU) or h (a SimpleRNN) over time; a
layer of stacked cells gets one view per cell. Styles, script and data are inline: the file opens
offline and fetches nothing (report.css, report.js ship with the package).

Example:
    >>> import numpy as np, os, tempfile
    >>> import lstmkit as lk
    >>> x = np.random.default_rng(0).normal(size=(4, 10, 8)).astype("float32")
    >>> path = os.path.join(tempfile.mkdtemp(), "report.html")
    >>> html = lk.inspection.report(lk.layers.LSTM(4, return_sequences=True), x, path)
    >>> html.startswith("<!DOCTYPE html>") and os.path.exists(path)
    True
"""

from __future__ import annotations

import base64
import html as _html
import json
from importlib import resources

import numpy as np

from .. import _files
from ..layers.bidirectional import Bidirectional
from ..layers.lstm import LSTM
from ..layers.rnn import RNN
from .explain import explain_layer, recurrent_layers
from .trace import ARRAYS, NAMES, Trace, _is_model, trace
from .trace_rnn import StackedTrace

e = _html.escape


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _json_array(arr, digits=4):
    arr = np.round(np.asarray(arr, dtype="float64"), digits)
    if not np.isfinite(arr).all():
        return np.where(np.isfinite(arr), arr, None).tolist()
    return arr.tolist()


MAX_VALUES = 300_000  # numbers embedded per layer (about 2 MB of JSON)


def _layer_data(name, tr, max_samples, max_units, max_steps, max_values=MAX_VALUES):
    """The JSON the page's script draws from: arrays in input order, cut to the limits.

    Beyond the limits, fewer samples are embedded first, then fewer steps, so that one
    layer embeds at most `max_values` numbers.
    """
    dirs = tr.directions if hasattr(tr, "directions") else [(tr.direction, tr)]
    first = dirs[0][1]
    B, T, H = first.h.shape
    arrays, names = getattr(first, "ARRAYS", ARRAYS), getattr(first, "NAMES", NAMES)
    S, U, Tn = min(B, max_samples), min(H, max_units), min(T, max_steps)
    per_step = U * len(arrays) * len(dirs)
    while S > 1 and S * Tn * per_step > max_values:
        S = max(1, S // 2)
    Tn = max(1, min(Tn, max_values // (S * per_step)))
    out = {"name": name, "samples": S, "units": U, "timesteps": Tn,
           "labels": {k: names[k] for k in arrays}, "arrays": list(arrays), "directions": [],
           "mask": None if first.mask is None else first.mask[:S, :Tn].astype(int).tolist()}
    for dname, one in dirs:
        d = {"name": dname}
        for k in arrays:
            d[k] = _json_array(one.input_order(k)[:S, :Tn, :U])
        out["directions"].append(d)
    cut = (S, Tn, U) != (B, T, H)
    return out, (f"The interactive view shows the first {S} of {B} samples, {Tn} of {T} steps "
                 f"and {U} of {H} units." if cut else "")


def _png_tag(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{e(alt)}" src="data:image/png;base64,{data}">'


def _figure_png(fig) -> bytes:
    if isinstance(fig, (bytes, bytearray)):
        return bytes(fig)
    from .plots import to_png

    return to_png(fig)


def _pictures(tr, tokens, dpi):
    """[(caption, png)] for one traced layer; empty without matplotlib."""
    try:
        from . import plots

        plots._mpl()
    except ImportError:
        return None
    out = []
    dirs = tr.directions if hasattr(tr, "directions") else [(tr.direction, tr)]
    if not isinstance(dirs[0][1], Trace):  # a GRU / SimpleRNN: the interactive view only
        return out
    for dname, one in dirs:
        fig = plots.heatmaps(one)
        out.append(((f"Gates and states of sample 0, {dname} direction: rows are units, "
                    "columns input positions."), plots.to_png(fig, dpi)))
        fig = plots.trajectories(one)
        out.append((f"Carry state c and memory state h of sample 0, {dname} direction.",
                    plots.to_png(fig, dpi)))
        if tokens is not None and len(tokens) == one.h.shape[1]:
            fig = plots.token_activations(one, tokens)
            out.append((f"Memory state h per unit over the tokens, {dname} direction.",
                        plots.to_png(fig, dpi)))
    out.append((("Gate saturation (Karpathy et al. 2015): for each unit, the fraction of "
                "steps its gate spends below 0.1 and above 0.9."),
                plots.to_png(plots.saturation(tr), dpi)))
    return out


def _default_tokens(x, vocab):
    """Sample 0's token ids (or words) when the inputs are (B, T) integer token ids."""
    arr = np.asarray(x) if isinstance(x, np.ndarray) else None
    if arr is None or arr.ndim != 2 or arr.dtype.kind not in "iu":
        return None
    if vocab is None:
        return [str(int(v)) for v in arr[0]]
    return [str(vocab[int(v)]) if int(v) in (vocab if isinstance(vocab, dict) else
                                             range(len(vocab))) else str(int(v))
            for v in arr[0]]


def _summary_html(obj, traced):
    if _is_model(obj) and hasattr(obj, "summary"):
        lines = []
        try:
            obj.summary(print_fn=lambda s, *a, **k: lines.append(str(s)))
        except (ValueError, TypeError, AttributeError, KeyError, IndexError,
                NotImplementedError) as err:  # an undrawable summary must not lose the report
            lines = [f"(model.summary() failed: {type(err).__name__}: {err})"]
        return f"<pre>{e(chr(10).join(lines))}</pre>"
    rows = []
    for layer, tr in traced:
        out = tr.outputs if isinstance(tr.outputs, tuple) else (tr.outputs,)
        shapes = ", ".join(str([tuple(s.shape) for s in o]) if isinstance(o, list)
                           else str(tuple(o.shape)) for o in out)
        rows.append(f"<tr><td>{e(layer.name)}</td><td>{type(layer).__name__}</td>"
                    f"<td>{e(str(tr.inputs.shape))}</td><td>{e(shapes)}</td>"
                    f"<td>{layer.count_params()}</td></tr>")
    return ("<table><tr><th>layer</th><th>type</th><th>input shape</th><th>output shapes"
            "</th><th>parameters</th></tr>" + "".join(rows) + "</table>")


def report(model_or_layer, x, path=None, *, mask=None, initial_state=None, title=None,
           tokens=None, vocab=None, extra_figures=None, max_samples=16, max_units=64,
           max_steps=400, dpi=80, pictures=True):
    """Write (and return) a self-contained HTML report of a model or layer on inputs `x`.

    Args:
        model_or_layer: a recurrent layer (`LSTM`, `GRU`, `SimpleRNN`, `RNN` of one cell or
            of stacked cells, `Bidirectional`) or a model (each of its recurrent layers is
            traced with what the model feeds it).
        x: the inputs: (B, T, D) for a layer; what the model takes for a model.
        path: where to write the HTML file (None: only return it).
        mask, initial_state: for a bare layer, as in its call.
        title: the page title.
        tokens: the T tokens of sample 0 (strings), for the per-token picture of each
            layer that reads T steps. By default, when `x` is a (B, T) array of token ids,
            the ids of sample 0 (or their words, with `vocab`).
        vocab: token id -> word (a list or dict), for the default tokens.
        extra_figures: {caption: matplotlib Figure or PNG bytes} added at the end.
        max_samples, max_units, max_steps: how much of each trace the interactive view embeds.
        dpi: resolution of the pictures.
        pictures: False leaves out the matplotlib pictures (faster; the interactive view
            stays).

    Returns:
        The HTML text.
    """
    if _is_model(model_or_layer):
        layers = recurrent_layers(model_or_layer)
        traced = [(lay, trace(lay, x, model=model_or_layer)) for lay in layers]
        name = getattr(model_or_layer, "name", "model")
    elif isinstance(model_or_layer, (LSTM, RNN, Bidirectional)):
        traced = [(model_or_layer, trace(model_or_layer, x, mask=mask,
                                         initial_state=initial_state))]
        name = model_or_layer.name
    else:
        raise TypeError(f"report expects a model, an LSTM or a Bidirectional, got "
                        f"{type(model_or_layer).__name__}: {model_or_layer!r}")
    from .. import __version__

    if tokens is None:
        tokens = _default_tokens(x, vocab)
    title = title or f"lstmkit report: {name}"
    data, sections, nav = {"layers": []}, [], []
    for k, (layer, tr) in enumerate(traced):
        # one interactive view per cell of a stack, else one per layer
        views = [(f"{layer.name} cell {j}: {type(c).__name__} {c.name}", t)
                 for j, (c, t) in enumerate(zip(layer.cell.cells, tr.cells))] \
            if isinstance(tr, StackedTrace) else [(layer.name, tr)]
        panels, cut_notes, pics = [], [], []
        for view_name, view in views:
            layer_json, cut_note = _layer_data(view_name, view, max_samples, max_units,
                                               max_steps)
            panels.append(f"<h4>{e(view_name)}</h4>" if len(views) > 1 else "")
            panels[-1] += f'<div class="lk-panel" id="lk-panel-{len(data["layers"])}"></div>'
            data["layers"].append(layer_json)
            cut_notes.append(cut_note)
            view_pics = _pictures(view, tokens, dpi) if pictures else []
            pics = None if view_pics is None or pics is None else pics + view_pics
        expl = explain_layer(layer, tr=tr)
        if pics is None:
            pic_html = ("<p class='lk-meta'>Pictures need matplotlib: "
                        "<code>pip install lstmkit[viz]</code>.</p>")
        else:
            pic_html = "".join(f"<figure>{_png_tag(png, cap)}<figcaption>{e(cap)}</figcaption>"
                               f"</figure>" for cap, png in pics)
        nav.append(f'<a href="#layer-{k}">{e(layer.name)}</a>')
        sections.append(
            f'<h2 id="layer-{k}">{e(type(layer).__name__)} {e(layer.name)!s}</h2>'
            f"{expl._repr_html_()}"
            f"<h3>Interactive: gates and states over time</h3>"
            f"<p class='lk-meta'>Heatmap rows are units; gates (i, f, o; z, r) in [0, 1] "
            f"(viridis), candidates and states blue (negative) to red (positive); grey columns "
            f"are masked steps. Time is the input position t. "
            f"{e(' '.join(n for n in cut_notes if n))}</p>"
            + "".join(panels) +
            f"<h3>Pictures</h3>{pic_html}")
    extras = ""
    if extra_figures:
        extras = "<h2 id='more'>More pictures</h2>" + "".join(
            f"<figure>{_png_tag(_figure_png(fig), cap)}<figcaption>{e(cap)}</figcaption></figure>"
            for cap, fig in extra_figures.items())
        nav.append('<a href="#more">more pictures</a>')
    if not traced:
        sections.append("<p>This model has no LSTM or Bidirectional layer to trace.</p>")
    if isinstance(x, (list, tuple)):
        x_text = ", ".join(str(tuple(np.shape(a))) for a in x)
    elif isinstance(x, dict):
        x_text = ", ".join(f"{k}: {tuple(np.shape(a))}" for k, a in x.items())
    else:
        x_text = str(tuple(np.shape(x)))
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    page = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{e(title)}</title><style>{_asset('report.css')}</style></head><body>"
        f"<h1>{e(title)}</h1>"
        f"<p class='lk-meta'>lstmkit {e(__version__)}; inputs "
        f"{e(x_text)}; "
        f"{len(traced)} recurrent layer(s). This file is self-contained and works offline.</p>"
        f"<nav>{''.join(nav)}</nav>"
        f"<h2>Summary</h2>{_summary_html(model_or_layer, traced)}"
        + "".join(sections) + extras
        + f"<script type='application/json' id='lk-data'>{payload}</script>"
        f"<script>{_asset('report.js')}</script></body></html>\n"
    )
    if path is not None:
        _files.atomic_write(path, page.encode("utf-8"))
    return page
