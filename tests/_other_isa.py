"""Run pytest in a subprocess whose numba compiles for another x86-64 CPU (AVX2 as
`haswell`, SSE2 as `generic`), from an empty numba cache of its own: every register block
and threshold set runs, whatever this machine's ISA."""

import os
import re
import subprocess
import sys

import pytest

#: (NUMBA_CPU_NAME, the `lk.kernels.isa()` name it gives)
CPUS = [("haswell", "avx2"), ("generic", "sse")]

needs_x86_64 = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.uname().machine != "x86_64",
    reason="NUMBA_CPU_NAME=haswell/generic are x86-64 CPUs")


def run_pytest(cpu, isa_name, cache_dir, args, timeout=1200):
    """pytest.main(args) compiled for `cpu`; asserts it printed `isa_name`, passed some tests
    and skipped none."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env.update(NUMBA_CPU_NAME=cpu, NUMBA_CPU_FEATURES="", NUMBA_CACHE_DIR=str(cache_dir),
               PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    code = ("import sys, pytest; from lstmkit import kernels; print('isa', kernels.isa().name);"
            f"sys.exit(pytest.main({['-p', 'no:cacheprovider', '-rs'] + args!r}))")
    run = subprocess.run([sys.executable, "-c", code], env=env, cwd=os.path.dirname(__file__),
                         capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert run.stdout.startswith(f"isa {isa_name}\n")
    summary = run.stdout.strip().splitlines()[-1]
    assert re.search(r"\b\d+ passed\b", summary) and "skipped" not in summary, summary
