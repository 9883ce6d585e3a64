"""Make the pictures in docs/images/ (run from the repository root; needs matplotlib + chromium).

    python docs/images/make_images.py

A small LSTM learns to report the nesting depth of brackets in a token stream, as
in Karpathy et al. 2015's bracket-counting cells; the pictures show its gates and
states on one sequence, and the HTML report of the model as Chromium renders it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

import lstmkit as lk
from lstmkit.inspection import plots

OUT = Path(__file__).resolve().parent
TOKENS = {1: "(", 2: ")", 3: "a"}


def bracket_data(n, T, rng):
    """Token ids (n, T) and the depth after each token (n, T, 1)."""
    X = np.zeros((n, T), int)
    Y = np.zeros((n, T, 1), "float32")
    for b in range(n):
        depth = 0
        for t in range(T):
            r = rng.random()
            if r < 0.3 and depth < 4:
                tok, depth = 1, depth + 1
            elif r < 0.6 and depth > 0:
                tok, depth = 2, depth - 1
            else:
                tok = 3
            X[b, t], Y[b, t, 0] = tok, depth
    return X, Y


def trained_model(rng):
    X, Y = bracket_data(512, 30, rng)
    model = lk.Sequential([
        lk.Input(shape=(None,), dtype="int32"),
        lk.layers.Embedding(4, 8, name="embedding"),
        lk.layers.LSTM(8, return_sequences=True, name="lstm", seed=1),
        lk.layers.TimeDistributed(lk.layers.Dense(1), name="depth"),
    ], name="bracket_depth")
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(X, Y, epochs=30, batch_size=32, verbose=0)
    return model, history.history["loss"][-1]


def small_png(src: Path, dst: Path, width=None):
    """Downscale (optional) and quantize to 256 colours: a few dozen KB per picture."""
    from PIL import Image

    img = Image.open(src).convert("RGB")
    if width and img.width > width:
        img = img.resize((width, round(img.height * width / img.width)), Image.LANCZOS)
    img.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(dst, optimize=True)


FOCUS = """<script>
(function () {
  var keep = document.getElementById("lk-panel-0");
  Array.prototype.forEach.call(document.body.children, function (el) {
    var isTitle = el.tagName === "H1" || (el.tagName === "H3" && el.nextElementSibling &&
                  el.nextElementSibling.nextElementSibling === keep);
    if (el !== keep && !isTitle && el.tagName !== "SCRIPT") { el.style.display = "none"; }
  });
  var unit = keep.querySelectorAll("select")[1];
  unit.value = "UNIT";
  unit.dispatchEvent(new Event("change"));
})();
</script>"""


def screenshot(chromium, page, png, width, height, tmp):
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp / 'profile'}", f"--window-size={width},{height}",
                    f"--screenshot={png}", page.as_uri()], check=True, capture_output=True)


def main():
    lk.utils.set_random_seed(0)  # the same weights, data order and pictures on every run
    rng = np.random.default_rng(0)
    model, loss = trained_model(rng)
    print(f"trained: final MSE {loss:.4f}")
    X, Y = bracket_data(4, 24, np.random.default_rng(7))
    tr = lk.trace(model, X, layer="lstm")
    # each token with the depth after it, so the pictures can be read against the truth
    words = [f"{TOKENS[int(t)]} {int(d)}" for t, d in zip(X[0], Y[0, :, 0])]
    # the unit whose carry state follows the depth most closely
    c = tr.c[0]  # (T, H)
    corr = [abs(np.corrcoef(c[:, u], Y[0, :, 0])[0, 1]) for u in range(c.shape[1])]
    best = int(np.argmax(corr))
    print(f"unit {best}: |corr(c, depth)| = {corr[best]:.3f}")
    tmp = Path(tempfile.mkdtemp())
    figures = {
        "heatmaps.png": plots.heatmaps(tr, sample=0),
        "tokens.png": plots.token_activations(tr, words, sample=0, array="c",
                                              units=[best, (best + 1) % 8, (best + 2) % 8]),
        "trajectories.png": plots.trajectories(tr, sample=0, units=[best, (best + 1) % 8]),
        "saturation.png": plots.saturation(tr),
    }
    for name, fig in figures.items():
        fig.savefig(tmp / name, dpi=80)
        small_png(tmp / name, OUT / name)
    html = tmp / "report.html"
    page = lk.inspection.report(model, X, str(html), tokens=words,
                             title="lstmkit report: bracket depth")
    # a copy that shows only the interactive view, with the depth unit selected
    focus = tmp / "interactive.html"
    focus.write_text(page.replace("</body>", FOCUS.replace("UNIT", str(best)) + "</body>"),
                     encoding="utf-8")
    chromium = shutil.which("chromium")
    if chromium:
        screenshot(chromium, html, tmp / "top.png", 1100, 1450, tmp)
        screenshot(chromium, focus, tmp / "interactive.png", 1100, 1130, tmp)
        small_png(tmp / "top.png", OUT / "report-top.png", width=900)
        small_png(tmp / "interactive.png", OUT / "report-interactive.png", width=900)
    for p in sorted(OUT.glob("*.png")):
        print(f"{p.name}: {p.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
