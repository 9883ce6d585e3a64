"""Pictures of a `Trace`: gate and state heatmaps, trajectories, saturation, tokens.

matplotlib is the `viz` extra (`pip install lstmkit[viz]`); it is imported on the
first call. Figures are made with `matplotlib.figure.Figure` on the Agg canvas,
so no GUI and no global pyplot state is touched. Every function returns the
Figure and, given `path`, also saves a PNG there.

Time runs left to right in *input* order (position t is input x[:, t]), so the
backward direction of a Bidirectional lines up with the forward one and with
the tokens; the title says when the layer read the inputs right to left.

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> t = lk.trace(lk.layers.LSTM(4, return_sequences=True), np.ones((2, 6, 3), "float32"))
    >>> fig = lk.inspection.plots.heatmaps(t, sample=0)
    >>> len(fig.axes) >= 6
    True
"""

from __future__ import annotations

import os

import numpy as np

from .. import _files
from .._extras import extra_needed
from .trace import ARRAYS, GATES, NAMES, BidirectionalTrace

MAX_UNITS = 32  # default number of units drawn; pass `units=` for others


def _mpl():
    with extra_needed("lstmkit.inspection.plots"):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    return Figure, FigureCanvasAgg


def _figure(width, height):
    Figure, Canvas = _mpl()
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    Canvas(fig)
    return fig


def _direction(tr, direction):
    if isinstance(tr, BidirectionalTrace):
        if direction not in ("forward", "backward"):
            raise ValueError(f"direction must be 'forward' or 'backward', got {direction!r}")
        return getattr(tr, direction)
    if not hasattr(tr, "input_order"):
        raise TypeError(f"expected a Trace from lk.trace, got {type(tr).__name__}")
    return tr


def _units(tr, units):
    H = tr.h.shape[-1]
    if units is None:
        return list(range(min(H, MAX_UNITS)))
    units = [int(u) for u in np.atleast_1d(units)]
    bad = [u for u in units if not 0 <= u < H]
    if bad:
        raise ValueError(f"units must be in [0, {H}), got {bad}")
    return units


def _sample(tr, sample):
    B = tr.h.shape[0]
    if not isinstance(sample, (int, np.integer)) or not 0 <= sample < B:
        raise ValueError(f"sample must be an int in [0, {B}), got {sample!r}")
    return int(sample)


def _title(tr, what, sample):
    way = " (read right to left)" if tr.go_backwards else ""
    return f"{tr.layer_name} [{tr.direction}{way}], sample {sample}: {what}"


def _finish(fig, path, dpi=100):
    if path is not None:
        with _files.atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format=os.path.splitext(os.fspath(path))[1][1:] or None)
    return fig


def _shade_masked(ax, valid):
    """Grey bands over masked input positions."""
    for t in np.flatnonzero(~valid):
        ax.axvspan(t - 0.5, t + 0.5, color="0.6", alpha=0.35, lw=0)


def heatmaps(tr, sample=0, units=None, arrays=ARRAYS, direction="forward", path=None):
    """One heatmap per array (units x time) for one sample: the gates, c and h.

    Args:
        tr: a `Trace` or `BidirectionalTrace` (then `direction` picks one).
        sample: which sample of the batch.
        units: unit indices to show (default: the first 32).
        arrays: which of "i", "f", "g", "o", "c", "h" to draw, top to bottom.
        path: save a PNG here too.

    Returns:
        The matplotlib Figure.
    """
    tr = _direction(tr, direction)
    s, us = _sample(tr, sample), _units(tr, units)
    T = tr.h.shape[1]
    valid = tr.mask[s] if tr.mask is not None else np.ones(T, bool)
    fig = _figure(min(3.0 + 0.28 * T, 16), 0.9 + len(arrays) * (0.55 + 0.13 * len(us)))
    axes = fig.subplots(len(arrays), 1, sharex=True, squeeze=False)[:, 0]
    c_max = float(np.abs(tr.c[s][:, us]).max()) or 1.0
    for ax, name in zip(axes, arrays):
        data = tr.input_order(name)[s][:, us].T  # (units, T)
        if name in GATES:
            kw = {"cmap": "viridis", "vmin": 0.0, "vmax": 1.0}
        elif name == "c":
            kw = {"cmap": "RdBu_r", "vmin": -c_max, "vmax": c_max}
        else:
            kw = {"cmap": "RdBu_r", "vmin": -1.0, "vmax": 1.0}
        im = ax.imshow(data, aspect="auto", interpolation="nearest", **kw)
        _shade_masked(ax, valid)
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=11)
        ax.set_yticks(range(len(us)), [str(u) for u in us] if len(us) <= 16 else
                      [str(u) if k % 4 == 0 else "" for k, u in enumerate(us)], fontsize=7)
        cb = fig.colorbar(im, ax=ax, pad=0.01, fraction=0.03)
        cb.ax.tick_params(labelsize=7)
        cb.set_label(NAMES[name], fontsize=7)
    axes[-1].set_xlabel("input position t (grey: masked)" if tr.mask is not None
                        else "input position t")
    axes[-1].set_xticks(range(T) if T <= 40 else np.linspace(0, T - 1, 9).astype(int))
    fig.suptitle(_title(tr, "gates and states per unit (rows) over time", s), fontsize=10)
    return _finish(fig, path)


def trajectories(tr, sample=0, units=None, direction="forward", path=None):
    """The carry state c_t and memory state h_t of chosen units over time, as lines.

    c is unbounded (it integrates i * g while f stays near 1); h = o * tanh(c) stays
    in (-1, 1).
    """
    tr = _direction(tr, direction)
    s = _sample(tr, sample)
    us = _units(tr, units if units is not None else range(min(tr.h.shape[-1], 8)))
    T = tr.h.shape[1]
    valid = tr.mask[s] if tr.mask is not None else np.ones(T, bool)
    fig = _figure(8.0, 5.0)
    ax_c, ax_h = fig.subplots(2, 1, sharex=True)
    t = np.arange(T)
    colors = _colors(len(us))
    for k, u in enumerate(us):
        ax_c.plot(t, tr.input_order("c")[s, :, u], marker=".", color=colors[k], label=f"unit {u}")
        ax_h.plot(t, tr.input_order("h")[s, :, u], marker=".", color=colors[k])
    for ax, name in ((ax_c, "c"), (ax_h, "h")):
        _shade_masked(ax, valid)
        ax.axhline(0, color="0.5", lw=0.6)
        ax.set_ylabel(NAMES[name])
        ax.grid(alpha=0.3)
    ax_h.set_ylim(-1.05, 1.05)
    ax_h.set_xlabel("input position t (grey: masked)" if tr.mask is not None
                    else "input position t")
    ax_h.xaxis.set_major_locator(_int_locator())
    ax_c.legend(fontsize=7, ncol=min(len(us), 4), loc="best")
    fig.suptitle(_title(tr, "carry state c and memory state h over time", s), fontsize=10)
    return _finish(fig, path)


def _int_locator():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _colors(n):
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(k % cmap.N) for k in range(n)]


def saturation(tr, low=0.1, high=0.9, path=None):
    """Gate saturation per unit, as in Karpathy, Johnson & Fei-Fei 2015 (Fig. 3).

    One panel per gate (input, forget, output); each dot is a unit: x = fraction of
    valid steps with the gate below `low`, y = fraction above `high`. Units near the
    top-left are almost always open (a forget gate there keeps its memory); near the
    bottom-right almost always closed; near the origin the gate is used dynamically.
    """
    traces = tr.directions if isinstance(tr, BidirectionalTrace) else [(tr.direction, tr)]
    fig = _figure(10.5, 4.2)
    axes = fig.subplots(1, 3, sharey=True)
    markers = {"forward": "o", "backward": "^"}
    for name, one in traces:
        stats = one.saturation(low, high)
        for ax, gate in zip(axes, GATES):
            left, right = stats[gate]
            ax.scatter(left, right, s=22, alpha=0.75, marker=markers.get(name, "o"),
                       label=name if len(traces) > 1 else None)
    for ax, gate in zip(axes, GATES):
        ax.plot([0, 1], [1, 0], color="0.6", lw=0.8, ls="--")
        ax.set_xlim(-0.03, 1.03)
        ax.set_ylim(-0.03, 1.03)
        ax.set_title(f"{NAMES[gate]} ({gate})", fontsize=10)
        ax.set_xlabel(f"fraction of steps < {low}")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"fraction of steps > {high}")
    if len(traces) > 1:
        axes[0].legend(fontsize=8)
    fig.suptitle(f"{tr.layer_name}: gate saturation, one dot per unit "
                 "(Karpathy et al. 2015)", fontsize=10)
    return _finish(fig, path)


def token_activations(tr, tokens, sample=0, units=None, array="h", direction="forward",
                      path=None):
    """Per-unit activation over the tokens of one sample (in the manner of LSTMVis).

    Top: each chosen unit's activation as a line over the token positions (LSTMVis's
    select view). Bottom: units x tokens heatmap with the tokens written underneath,
    so a unit that turns on inside quotes or brackets shows as a band.

    Args:
        tokens: the sample's T tokens (strings), or a (B, T) array of token ids / strings
            (then `sample` picks the row).
        array: "h" (default), "c" (shown as tanh(c), as Karpathy et al. colour cells) or a gate.
    """
    tr = _direction(tr, direction)
    s = _sample(tr, sample)
    T = tr.h.shape[1]
    toks = np.asarray(tokens, dtype=object)
    if toks.ndim == 2:
        toks = toks[s]
    if toks.shape != (T,):
        raise ValueError(f"tokens must be {T} tokens for the sample (or (batch, {T})), "
                         f"got shape {np.asarray(tokens, dtype=object).shape}")
    if array not in ARRAYS:
        raise ValueError(f"array must be one of {ARRAYS}, got {array!r}")
    us = _units(tr, units if units is not None else range(min(tr.h.shape[-1], 16)))
    data = tr.input_order(array)[s][:, us]  # (T, units)
    label = NAMES[array]
    if array == "c":
        data, label = np.tanh(data), "tanh(c), the squashed carry state"
    lo, hi = (0.0, 1.0) if array in GATES else (-1.0, 1.0)
    fig = _figure(min(3.0 + 0.38 * T, 18), 3.2 + 0.22 * len(us))
    ax_line, ax_map = fig.subplots(2, 1, sharex=True,
                                   gridspec_kw={"height_ratios": [1.0, 0.25 + 0.1 * len(us)]})
    colors = _colors(len(us))
    for k, u in enumerate(us):
        ax_line.plot(range(T), data[:, k], color=colors[k], lw=1.2, label=f"unit {u}")
    if tr.mask is not None:
        _shade_masked(ax_line, tr.mask[s])
        _shade_masked(ax_map, tr.mask[s])
    ax_line.set_ylim(lo - 0.05, hi + 0.05)
    ax_line.set_ylabel(array)
    ax_line.grid(alpha=0.3)
    if len(us) <= 10:
        ax_line.legend(fontsize=7, ncol=min(len(us), 5), loc="upper left")
    im = ax_map.imshow(data.T, aspect="auto", interpolation="nearest",
                       cmap="viridis" if array in GATES else "RdBu_r", vmin=lo, vmax=hi)
    ax_map.set_yticks(range(len(us)), [str(u) for u in us], fontsize=7)
    ax_map.set_ylabel("unit")
    ax_map.set_xticks(range(T), [str(x) for x in toks], rotation=90 if T > 12 else 0,
                      fontsize=9, family="monospace")
    fig.colorbar(im, ax=ax_map, pad=0.01, fraction=0.03).set_label(label, fontsize=7)
    fig.suptitle(_title(tr, f"{label} per unit over the tokens", s), fontsize=10)
    return _finish(fig, path)


def to_png(fig, dpi=100) -> bytes:
    """The figure as PNG bytes (for embedding in HTML)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
