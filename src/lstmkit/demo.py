"""`lstmkit demo`: the whole of lstmkit on real data, in four parts, with nothing downloaded.

(a) the seed example and an explanation of its three outputs;
(b) an LSTM forecaster trained on the Mauna Loa CO2 record (shipped with the package),
    with a progress bar, validation and early stopping, its test error next to naive baselines;
(c) the model saved as `.keras`, reloaded, and shown to predict identically;
(d) an HTML report (forecast vs actual, loss curves, gates and states).

Every file goes into `out_dir`.
"""

from __future__ import annotations

import os
import time

import numpy as np

SEED_EXAMPLE = '''\
inputs = np.random.normal(size=(32, 10, 8)).astype("float32")
lstm = lk.layers.LSTM(4, return_sequences=True, return_state=True)
whole_seq_output, final_memory_state, final_carry_state = lstm(inputs)'''


def _say(text=""):
    print(text, flush=True)


def part_a_seed_example():
    """Run the seed example and explain its outputs."""
    import lstmkit as lk

    _say("== (a) What does an LSTM return? The seed example ==")
    _say(SEED_EXAMPLE)
    inputs = np.random.default_rng(0).normal(size=(32, 10, 8)).astype("float32")
    lstm = lk.layers.LSTM(4, return_sequences=True, return_state=True)
    _say()
    _say(str(lk.explain(lstm, inputs)))
    _say()


def part_b_train(epochs, window=24, units=32, verbose="auto"):
    """Train the CO2 forecaster; returns (model, data, history, errors, predictions)."""
    import lstmkit as lk
    from lstmkit import forecast

    _say("== (b) Train an LSTM forecaster on Mauna Loa CO2 (monthly, 1958-2001) ==")
    months, ppm = lk.datasets.co2.load_series()
    data = forecast.prepare(ppm[:, None], window=window, horizon=1, difference=True)
    _say(f"{len(months)} months; windows of {window} months of month-to-month changes predict "
         f"the next change; train {len(data.x_train)}, validation {len(data.x_val)}, "
         f"test {len(data.x_test)} (the latest, {months[-len(data.x_test)]} to {months[-1]})")
    lk.utils.set_random_seed(0)
    model = forecast.build_model(data, units=units, seed=0)
    stop = lk.callbacks.EarlyStopping(monitor="val_loss", patience=8, restore_best_weights=True)
    started = time.perf_counter()
    history = model.fit(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val),
                        epochs=epochs, batch_size=32, callbacks=[stop], verbose=verbose,
                        shuffle=True)
    _say(f"trained {len(history.history['loss'])} epochs in {time.perf_counter() - started:.1f} s")
    errors, pred = forecast.evaluate_forecaster(model, data)
    _say("test mean absolute error, ppm (next month's CO2):")
    for name, value in errors.items():
        _say(f"  {name:>15}: " + ("n/a" if value is None else f"{value:.3f}"))
    best = min((v, k) for k, v in errors.items() if v is not None)[1]
    _say(f"  best: {best}" + ("" if best == "lstm" else " (the LSTM does not beat it here)"))
    _say()
    return model, data, history, errors, pred


def part_c_save_reload(model, data, out_dir):
    """Save as .keras, reload, compare predictions; returns (path, max abs difference)."""
    import lstmkit as lk

    _say("== (c) Save as .keras, reload, predict again ==")
    path = os.path.join(out_dir, "co2_forecaster.keras")
    model.save(path)
    reloaded = lk.models.load_model(path)
    a = model.predict(data.x_test, verbose=0)
    b = reloaded.predict(data.x_test, verbose=0)
    diff = float(np.abs(a - b).max())
    _say(f"saved {path} ({os.path.getsize(path)} bytes); reloaded predictions differ by at most "
         f"{diff:.3g}" + (" (identical)" if diff == 0 else ""))
    _say()
    return path, diff


def part_d_report(model, data, history, pred, out_dir):
    """Write the HTML report with forecast and loss pictures; returns its path."""
    import lstmkit as lk

    _say("== (d) Report: forecast vs actual, loss curves, gates and states ==")
    figures = {}
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # the report still has the model, explanations and data
        plt = None
    if plt is not None:
        fig, ax = plt.subplots(figsize=(8, 3.2))
        ax.plot(data.truth_test[:, 0], label="actual", color="black")
        ax.plot(pred[:, 0], label="LSTM forecast", color="tab:blue")
        ax.plot(data.level_test, label="last value", color="tab:gray", linestyle=":")
        ax.set_xlabel("test month")
        ax.set_ylabel("CO2, ppm")
        ax.legend()
        ax.set_title("Next-month CO2 on the test part (latest months)")
        fig.tight_layout()
        figures["Forecast vs actual"] = fig
        fig, ax = plt.subplots(figsize=(8, 3.2))
        ax.plot(history.history["loss"], label="training loss")
        ax.plot(history.history["val_loss"], label="validation loss")
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("MSE")
        ax.legend()
        ax.set_title("Loss curves")
        fig.tight_layout()
        figures["Loss curves"] = fig
    path = os.path.join(out_dir, "report.html")
    lk.inspection.report(model, data.x_test[:8], path, extra_figures=figures,
                      title="lstmkit demo: CO2 forecaster")
    if plt is not None:
        for name, fig in figures.items():
            fig.savefig(os.path.join(out_dir, name.lower().replace(" ", "_") + ".png"), dpi=100)
            plt.close(fig)
    _say(f"wrote {path}")
    return path


def run(out_dir="lstmkit-demo", epochs=150, quick=False, verbose="auto"):
    """Run the four parts; returns a dict of paths and numbers."""
    out_dir = os.path.abspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    started = time.perf_counter()
    from . import kernels

    if not kernels.cache_is_warm():  # what `lstmkit warmup` does
        _say("first run on this machine: numba compiles lstmkit's kernels once (about a "
             "minute); later runs load them from its cache")
        kernels.warmup(lambda line: _say("  " + line))
    part_a_seed_example()
    model, data, history, errors, pred = part_b_train(
        epochs=3 if quick else epochs, units=8 if quick else 32, verbose=verbose)
    model_path, diff = part_c_save_reload(model, data, out_dir)
    report_path = part_d_report(model, data, history, pred, out_dir)
    _say()
    _say(f"done in {time.perf_counter() - started:.1f} s")
    _say(f"model:  {model_path}")
    _say(f"report: {report_path}")
    return {"model": model_path, "report": report_path, "errors": errors, "reload_diff": diff}
