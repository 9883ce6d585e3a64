"""`lstmkit demo` (reduced) and `lstmkit train`: the workflow end to end, and bad input."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from lstmkit.cli import main
from lstmkit.datasets import co2


def test_demo_quick_writes_model_and_report(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quick", "--quiet"]) == 0
    text = capsys.readouterr().out
    for marker in ("(a)", "(b)", "(c)", "(d)", "final_memory_state", "last value",
                   "seasonal change", "identical"):
        assert marker in text
    assert text.rstrip().splitlines()[-1] == f"report: {out / 'report.html'}"
    assert sorted(os.listdir(out)) == ["co2_forecaster.keras", "forecast_vs_actual.png",
                                      "loss_curves.png", "report.html"]


def _csv(path, rows, header="date,level,other"):
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return str(path)


def test_train_on_a_csv_then_predict_in_data_units(tmp_path, capsys):
    months, ppm = co2.load_series()
    rows = [f"{m},{v:.3f},{i % 12}" for i, (m, v) in enumerate(zip(months, ppm))]
    path = _csv(tmp_path / "co2.csv", rows)
    model_path = tmp_path / "m.keras"
    code = main(["train", "--csv", path, "--target", "level", "--features", "other",
                 "--window", "12", "--units", "4", "--epochs", "2", "--out", str(model_path),
                 "--quiet"])
    assert code == 0 and model_path.exists()
    out = capsys.readouterr().out
    assert "last value" in out and "saved" in out
    import lstmkit as lk

    model = lk.models.load_model(str(model_path))
    window = np.stack([ppm[:12], np.arange(12) % 12], axis=1)[None].astype("float32")
    pred = model.predict(window, verbose=0)
    assert pred.shape == (1, 1)
    assert 250 < float(pred[0, 0]) < 400  # scaling inside the model: ppm, not z-scores


@pytest.mark.parametrize(
    "rows, args, message",
    [
        (["1,2,3"] * 50, ["--target", "nope"], "column(s) nope not in"),
        (["1,abc,3"] + ["1,2,3"] * 50, ["--target", "level"], "line 2: column 'level' is not"),
        (["1,,3"] + ["1,2,3"] * 50, ["--target", "level"], "empty or NaN"),
        (["1,2,3"] * 10, ["--target", "level", "--window", "12"], "too few"),
        (["1,2,3"] * 50, ["--target", "level", "--window", "0"], "--window must be >= 1"),
    ],
)
def test_train_bad_input_one_line_errors(tmp_path, capsys, rows, args, message):
    path = _csv(tmp_path / "bad.csv", rows)
    code = main(["train", "--csv", path, *args, "--epochs", "1", "--out",
                 str(tmp_path / "m.keras"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m.keras").exists()


def test_missing_csv_and_version_and_help():
    assert main(["train", "--csv", "/nonexistent.csv", "--target", "x"]) == 2
    result = subprocess.run([sys.executable, "-m", "lstmkit", "--version"],
                            capture_output=True, text=True, check=True)
    assert result.stdout.startswith("lstmkit ")
    for sub in ("demo", "train"):
        result = subprocess.run([sys.executable, "-m", "lstmkit", sub, "--help"],
                                capture_output=True, text=True, check=True)
        assert "usage: lstmkit " + sub in result.stdout


def test_every_subcommand_is_there_with_help(capsys):
    from lstmkit.cli import SUBCOMMANDS, build_parser

    parser = build_parser()
    choices = parser._subparsers._group_actions[0].choices  # argparse keeps them here
    assert sorted(choices) == sorted(SUBCOMMANDS)
    for name in SUBCOMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        assert f"usage: lstmkit {name}" in capsys.readouterr().out


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_bench_runs_the_smallest_size_and_refuses_bad_sizes(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    torch = pytest.importorskip("torch")
    threadpoolctl = pytest.importorskip("threadpoolctl")
    out = tmp_path / "bench.json"
    torch_threads, blas = torch.get_num_threads(), threadpoolctl.threadpool_info()
    threads_env = os.environ.get("LSTMKIT_NUM_THREADS")
    code = main(["bench", "--sizes", "0", "--rounds", "1", "--min-time", "0.001",
                 "--no-extras", "--cases", "none", "--threads", "1", "--out", str(out)])
    assert code == 0
    # the run's thread settings are undone
    assert torch.get_num_threads() == torch_threads
    assert os.environ.get("LSTMKIT_NUM_THREADS") == threads_env
    assert [d["num_threads"] for d in threadpoolctl.threadpool_info()
            if d["filepath"] in {b["filepath"] for b in blas}] == [b["num_threads"] for b in blas]
    import json

    result = json.loads(out.read_text())
    row = result["grid"][0]
    assert row["size"] == [32, 10, 8, 4]
    for key in ("forward_ms", "seed_forward_ms", "train_ms"):
        assert set(row[key]) >= {"lstmkit", "torch"}, key
    assert set(row["forward_ms"]) >= {"lstmkit", "onnxruntime", "torch"}
    assert row["seed_ratio_vs_fastest"] > 0 and row["train_ratio_vs_torch"] > 0
    m = result["machine"]
    assert m["isa"]["name"] in ("avx512", "avx2", "sse", "neon", "generic")
    assert m["cpu"] and m["threads"] == 1 and m["versions"]["numpy"] == np.__version__
    assert any(lib["user_api"] == "blas" and lib["num_threads"] == 1 for lib in m["blas"])
    assert "| 32, 10, 8, 4 |" in capsys.readouterr().out
    assert main(["bench", "--sizes", "7"]) == 2
    assert "indices 0 to 4" in capsys.readouterr().err
    assert main(["bench", "--cases", "nope"]) == 2
    assert "bidirectional" in capsys.readouterr().err


def test_bench_cases_time_every_contender():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("torch")
    from types import SimpleNamespace

    from lstmkit import bench

    args = SimpleNamespace(threads=1, rounds=1, rounds_large=1, min_time=0.0)
    stream = bench.stream_case(args, steps=3)
    assert set(stream["us_per_call"]) == {"lstmkit", "onnxruntime", "torch"}
    bidir = bench.bidirectional_case(args, B=4, T=6, D=3, H=8)
    assert set(bidir["forward_ms"]) == {"lstmkit", "onnxruntime", "torch"}
    assert set(bidir["train_ms"]) == {"lstmkit", "torch"}


def test_bench_calibration_is_not_set_by_one_slow_call():
    # The bench's first call of a contender used to set its calls per measurement alone:
    # one slow call (peers' threads still spinning) gave a tenth of the calls.
    from lstmkit import bench

    durations = iter([0.0, 0.004])  # the warm-up, then one slow call; then 0.2 ms each

    def fn():
        end = time.perf_counter() + next(durations, 0.0002)
        while time.perf_counter() < end:
            pass

    reps = bench.calibrate(fn, 0.05)
    # ~0.05 s / 0.28 ms (the slow call spread over ~44 calls); one call's timing gave 12
    assert 50 <= reps <= 250, reps
    assert bench.calibrate(lambda: None, 0.0) == 1  # the large sizes: one call a measurement


def test_info_system_names_the_kernels_isa(capsys):
    pytest.importorskip("threadpoolctl")
    from lstmkit import kernels

    assert main(["info", "--system"]) == 0
    out = capsys.readouterr().out
    assert f"kernels:  {kernels.isa().name}" in out and "numpy" in out
    assert main(["info"]) == 2
