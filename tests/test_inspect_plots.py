"""Plots draw the traced numbers (checked against the figure's own data) and save PNGs."""

import sys

import numpy as np
import pytest

import lstmkit as lk

pytest.importorskip("matplotlib")
from lstmkit.inspection import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def traced():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 9, 4)).astype("float32")
    mask = np.ones((3, 9), bool)
    mask[1, 6:] = False
    layer = lk.layers.LSTM(5, return_sequences=True, go_backwards=True)
    layer.build((None, None, 4))
    layer.set_weights([rng.normal(scale=0.8, size=w.shape) for w in layer.get_weights()])
    bi = lk.layers.Bidirectional(lk.layers.LSTM(5, return_sequences=True))
    return lk.trace(layer, x, mask=mask), lk.trace(bi, x, mask=mask)


def _images(fig):
    return [ax.images[0] for ax in fig.axes if ax.images]


def test_heatmaps_show_the_trace_in_input_order(traced, tmp_path):
    tr, _ = traced
    path = tmp_path / "heat.png"
    fig = plots.heatmaps(tr, sample=1, units=[0, 3, 4], path=str(path))
    images = _images(fig)
    assert len(images) == 6
    for im, name in zip(images, "ifgoch"):
        expected = tr.h[1] if name == "h" else tr[name][1]
        expected = expected[::-1][:, [0, 3, 4]].T  # go_backwards: flipped to input order
        np.testing.assert_array_equal(np.asarray(im.get_array()), expected)
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert "read right to left" in fig._suptitle.get_text()


def test_trajectories_draw_c_and_h(traced):
    tr, _ = traced
    fig = plots.trajectories(tr, sample=0, units=[1, 2])
    ax_c, ax_h = fig.axes[:2]
    np.testing.assert_array_equal(ax_c.lines[1].get_ydata(), tr.input_order("c")[0, :, 2])
    np.testing.assert_array_equal(ax_h.lines[0].get_ydata(), tr.input_order("h")[0, :, 1])


def test_saturation_dots_are_the_fractions(traced, tmp_path):
    _, bi = traced
    fig = plots.saturation(bi, path=str(tmp_path / "sat.png"))
    forget = fig.axes[1]
    fwd, bwd = forget.collections[:2]
    left, right = bi.forward.saturation()["f"]
    np.testing.assert_allclose(fwd.get_offsets(), np.stack([left, right], axis=1))
    left, right = bi.backward.saturation()["f"]
    np.testing.assert_allclose(bwd.get_offsets(), np.stack([left, right], axis=1))
    assert (tmp_path / "sat.png").read_bytes()[:8] == PNG_MAGIC


def test_token_activations(traced):
    _, bi = traced
    tokens = [[f"w{t}" for t in range(9)] for _ in range(3)]
    fig = plots.token_activations(bi, tokens, sample=2, units=[0, 1], array="c",
                                  direction="backward")
    heat = _images(fig)[0]
    np.testing.assert_allclose(np.asarray(heat.get_array()),
                               np.tanh(bi.backward.input_order("c")[2][:, [0, 1]]).T)
    labels = [t.get_text() for t in fig.axes[1].get_xticklabels()]
    assert labels == tokens[2]
    with pytest.raises(ValueError, match="9 tokens"):
        plots.token_activations(bi, ["a", "b"])


def test_bad_arguments(traced):
    tr, bi = traced
    with pytest.raises(ValueError, match="sample"):
        plots.heatmaps(tr, sample=3)
    with pytest.raises(ValueError, match="units"):
        plots.heatmaps(tr, units=[5])
    with pytest.raises(ValueError, match="direction"):
        plots.heatmaps(bi, direction="up")
    with pytest.raises(TypeError, match="Trace"):
        plots.trajectories(np.zeros((2, 3, 4)))


def test_missing_matplotlib_names_the_extra(traced, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r'pip install "lstmkit\[viz\]"'):
        plots.heatmaps(traced[0])
