"""The HTML report: self-contained, and it really works in a headless Chromium.

The browser is Debian's `chromium` (CI installs it in .ci/run). The page's script
counts errors into <body data-errors> and sets <body data-ready="1"> when every panel is
drawn; Chromium's console log (--enable-logging=stderr) must show no messages at all.
"""

import json
import re
import shutil
import subprocess

import numpy as np
import pytest

import lstmkit as lk

CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's `chromium` is not installed (apt-get install chromium)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]


def _chromium(tmp_path, page, *extra):
    proc = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *extra,
         page.as_uri()], capture_output=True, text=True, timeout=120, check=False)
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return proc, console


def _layer_and_inputs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 12, 5)).astype("float32")
    mask = np.ones((6, 12), bool)
    mask[0, 9:] = False
    layer = lk.layers.Bidirectional(lk.layers.LSTM(5, return_sequences=True, return_state=True))
    return layer, x, mask


def _report(tmp_path, **kw):
    layer, x, mask = _layer_and_inputs()
    path = tmp_path / "report.html"
    html = lk.inspection.report(layer, x, str(path), mask=mask, **kw)
    return layer, x, mask, path, html


@pytest.fixture(scope="module")
def full_report(tmp_path_factory):
    """One report with every picture, shared by the tests that only read it."""
    pytest.importorskip("matplotlib")
    return _report(tmp_path_factory.mktemp("report"), tokens=list("abcdefghijkl"))


def test_report_is_self_contained(full_report):
    layer, x, mask, path, html = full_report
    assert path.read_text(encoding="utf-8") == html
    # nothing is fetched: no remote src/href, no @import or url() to a server, no <link>
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.IGNORECASE)
    assert not re.search(r"@import|url\(\s*['\"]?https?:|<link\b", html, re.IGNORECASE)
    assert html.count("data:image/png;base64,") >= 5  # heatmaps, trajectories, tokens, saturation
    payload = re.search(r"<script type='application/json' id='lk-data'>(.*?)</script>", html,
                        re.DOTALL).group(1)
    data = json.loads(payload.replace("<\\/", "</"))
    (entry,) = data["layers"]
    assert [d["name"] for d in entry["directions"]] == ["forward", "backward"]
    tr = lk.trace(layer, x, mask=mask)
    np.testing.assert_allclose(entry["directions"][1]["h"], tr.backward.input_order("h"),
                               atol=5e-5)
    assert entry["mask"] == mask.astype(int).tolist()
    # the explanation is there, with its checks
    assert "output[:, -1, :5] == h_fwd" in html and "&#10003;" in html and "&#10007;" not in html


def test_report_without_matplotlib_still_has_everything_else(tmp_path, monkeypatch):
    from lstmkit.inspection import plots

    def missing():
        raise ImportError("no matplotlib")

    monkeypatch.setattr(plots, "_mpl", missing)
    _, _, _, _, html = _report(tmp_path)
    assert "pip install lstmkit[viz]" in html and "data:image/png" not in html
    assert "lk-panel-0" in html and "How they relate" in html


def test_report_limits_the_embedded_data(tmp_path):
    layer, x, mask = _layer_and_inputs()
    html = lk.inspection.report(layer, x, mask=mask, max_samples=2, max_units=3, max_steps=4,
                             pictures=False)
    payload = re.search(r"id='lk-data'>(.*?)</script>", html, re.DOTALL).group(1)
    entry = json.loads(payload)["layers"][0]
    assert (entry["samples"], entry["units"], entry["timesteps"]) == (2, 3, 4)
    assert np.asarray(entry["directions"][0]["i"]).shape == (2, 4, 3)
    assert "first 2 of 6 samples, 4 of 12 steps and 3 of 5 units" in html


def test_report_keeps_large_traces_small():
    import importlib

    report_module = importlib.import_module("lstmkit.inspection.report")  # the module, not report()

    layer = lk.layers.LSTM(64, return_sequences=True)
    x = np.zeros((40, 300, 2), "float32")
    entry, note = report_module._layer_data("big", lk.trace(layer, x), 16, 64, 400)
    n = entry["samples"] * entry["timesteps"] * entry["units"] * 6
    assert n <= report_module.MAX_VALUES and entry["samples"] >= 1
    assert np.asarray(entry["directions"][0]["h"]).shape == (
        entry["samples"], entry["timesteps"], 64)
    assert f"first {entry['samples']} of 40 samples" in note


def test_default_tokens_for_token_id_inputs():
    import importlib

    report_module = importlib.import_module("lstmkit.inspection.report")
    ids = np.array([[1, 2, 9], [3, 0, 0]])
    assert report_module._default_tokens(ids, None) == ["1", "2", "9"]
    assert report_module._default_tokens(ids, ["<pad>", "the", "cat"]) == ["the", "cat", "9"]
    assert report_module._default_tokens(ids, {1: "a", 9: "z"}) == ["a", "2", "z"]
    assert report_module._default_tokens(ids.astype("float32"), None) is None
    assert report_module._default_tokens(np.zeros((2, 3, 4), int), None) is None


def test_report_rejects_other_objects():
    with pytest.raises(TypeError, match="model, an LSTM or a Bidirectional"):
        lk.inspection.report(object(), np.ones((1, 2, 3)))


@needs_chromium
def test_report_opens_in_headless_chromium(tmp_path, full_report):
    Image = pytest.importorskip("PIL.Image")
    path = full_report[3]
    proc, console = _chromium(tmp_path, path, "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    body = re.search(r"<body[^>]*>", proc.stdout).group(0)
    assert 'data-ready="1"' in body, body
    assert 'data-errors="0"' in body, body
    assert console == [], console
    shot = tmp_path / "shot.png"
    proc, console = _chromium(tmp_path, path, f"--screenshot={shot}", "--window-size=1200,1800")
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    assert console == [], console
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (1800, 1200)
    assert (pixels < 200).mean() > 0.05  # text, tables, pictures: not a blank page
    assert pixels.std() > 20


@needs_chromium
def test_selecting_sample_and_unit_redraws(tmp_path):
    """Drive the page's selectors from a test script and compare canvas pixels."""
    _, _, _, _path, html = _report(tmp_path, pictures=False)
    probe = """<script>
    (function () {
      var panel = document.getElementById("lk-panel-0");
      var heat = panel.querySelector("canvas.lk-heat");
      var lines = panel.querySelector("canvas.lk-lines");
      var sels = panel.querySelectorAll("select");   // direction, sample, unit
      var r = {selects: sels.length, heat0: heat.toDataURL(), lines0: lines.toDataURL()};
      function pick(sel, v) { sel.value = String(v); sel.dispatchEvent(new Event("change")); }
      pick(sels[2], 3);
      r.unitLinesChanged = lines.toDataURL() !== r.lines0;
      r.unitHeatChanged = heat.toDataURL() !== r.heat0;   // the highlighted row moved
      var h1 = heat.toDataURL();
      pick(sels[1], 4);
      r.sampleChanged = heat.toDataURL() !== h1;
      var h2 = heat.toDataURL();
      pick(sels[0], 1);
      r.directionChanged = heat.toDataURL() !== h2;
      delete r.heat0; delete r.lines0;
      document.body.setAttribute("data-probe", JSON.stringify(r));
    })();
    </script></body>"""
    probed = tmp_path / "probed.html"
    probed.write_text(html.replace("</body>", probe), encoding="utf-8")
    proc, console = _chromium(tmp_path, probed, "--dump-dom")
    assert console == [], console
    found = re.search(r'data-probe="([^"]*)"', proc.stdout)
    assert found, proc.stdout[:500]
    result = json.loads(found.group(1).replace("&quot;", '"'))
    assert result == {"selects": 3, "unitLinesChanged": True, "unitHeatChanged": True,
                      "sampleChanged": True, "directionChanged": True}


@needs_chromium
def test_a_broken_page_is_detected(tmp_path):
    """The check is not vacuous: a script error shows in data-errors and the console log."""
    _, _, _, _path, html = _report(tmp_path, pictures=False)
    broken = tmp_path / "broken.html"
    broken.write_text(html.replace("</body>", "<script>undefinedFunction();</script></body>"),
                      encoding="utf-8")
    proc, console = _chromium(tmp_path, broken, "--dump-dom")
    assert 'data-errors="1"' in re.search(r"<body[^>]*>", proc.stdout).group(0)
    assert any("Uncaught" in line for line in console)


@needs_chromium
def test_report_of_a_sequential_model_with_tokens(tmp_path):
    model = lk.Sequential([
        lk.Input(shape=(None,), dtype="int32"),
        lk.layers.Embedding(30, 6, mask_zero=True),
        lk.layers.Bidirectional(lk.layers.LSTM(4, return_sequences=True), name="encoder"),
        lk.layers.LSTM(3, name="summarizer"),
        lk.layers.Dense(2),
    ])
    words = ["the", "cat", "sat", "on", "the", "mat"]
    vocab = {w: k + 1 for k, w in enumerate(sorted(set(words)))}
    x = np.array([[vocab[w] for w in words], [1, 2, 3, 0, 0, 0]])
    path = tmp_path / "model.html"
    html = lk.inspection.report(model, x, str(path), tokens=words, pictures=False)
    assert "Total params" in html and "Bidirectional encoder" in html
    assert "LSTM summarizer" in html and "&#10007;" not in html
    proc, console = _chromium(tmp_path, path, "--dump-dom")
    body = re.search(r"<body[^>]*>", proc.stdout).group(0)
    assert 'data-ready="1"' in body and 'data-errors="0"' in body, body
    assert console == [], console
