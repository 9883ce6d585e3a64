"""`lstmkit.kernels._isa.isa`: the ISA numba compiles for, from NUMBA_CPU_NAME /
NUMBA_CPU_FEATURES (set in a subprocess, never in this one) or the host."""

import json
import os
import platform
import subprocess
import sys

import llvmlite.binding as llvm
import pytest
from numba.core import config

from lstmkit.kernels._isa import Isa, isa

X86_64 = platform.machine().lower() in ("x86_64", "amd64")
HOST_FEATURES = set(llvm.get_host_cpu_features().flatten().split(","))
needs_x86_64 = pytest.mark.skipif(not X86_64, reason="x86-64 CPU names (haswell, generic)")


def _isa_in_subprocess(**env_vars):
    """isa() as a fresh process with these NUMBA_* variables (unset ones removed) sees it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CPU_")}
    env.update(env_vars)
    env["PYTHONPATH"] = os.pathsep.join([p for p in sys.path if p])
    code = "import json; from lstmkit.kernels._isa import isa; print(json.dumps(isa()))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    return Isa(*json.loads(out.stdout))


def test_isa_of_this_process_is_what_numba_targets():
    """No override: numba's CPU name and features, each falling back to the host's."""
    found = isa()
    assert found.cpu == (config.CPU_NAME or llvm.get_host_cpu_name())
    if config.CPU_FEATURES is not None:
        assert found.features == config.CPU_FEATURES
    assert isa() is found  # cached


@pytest.mark.skipif(config.CPU_NAME is not None or config.CPU_FEATURES is not None,
                    reason="this process compiles for NUMBA_CPU_NAME / NUMBA_CPU_FEATURES")
def test_host_detection():
    found = isa()
    assert found.cpu == llvm.get_host_cpu_name()
    if X86_64:
        want = ("avx512" if "+avx512f" in HOST_FEATURES
                else "avx2" if {"+avx2", "+fma"} <= HOST_FEATURES
                else "sse" if "+avx" not in HOST_FEATURES else "generic")
        assert found.name == want
        assert found.vector_registers == (32 if want == "avx512" else 16)
        assert found.fma == ("+fma" in HOST_FEATURES)
    elif platform.machine().lower() in ("aarch64", "arm64"):
        assert found == Isa("neon", found.cpu, 128, 32, True, found.features)


@needs_x86_64
@pytest.mark.parametrize("cpu, features, want", [
    ("haswell", "", Isa("avx2", "haswell", 256, 16, True, "")),
    ("haswell", "+avx2,+fma,-avx512f", Isa("avx2", "haswell", 256, 16, True,
                                            "+avx2,+fma,-avx512f")),
    ("generic", "", Isa("sse", "generic", 128, 16, False, "")),
    ("x86-64-v2", "", Isa("sse", "x86-64-v2", 128, 16, False, "")),
    ("skylake-avx512", "", Isa("avx512", "skylake-avx512", 512, 32, True, "")),
    ("sandybridge", "", Isa("generic", "sandybridge", 256, 16, False, "")),  # AVX, no FMA
])
def test_override_names_another_target(cpu, features, want):
    """isa(cpu, features) answers for another target without touching numba's config."""
    before = (config.CPU_NAME, config.CPU_FEATURES)
    assert isa(cpu, features) == want
    assert (config.CPU_NAME, config.CPU_FEATURES) == before


def test_lanes():
    avx2 = Isa("avx2", "haswell", 256, 16, True, "")
    assert (avx2.lanes(4), avx2.lanes(8)) == (8, 4)
    assert Isa("avx512", "x", 512, 32, True, "").lanes(4) == 16


@needs_x86_64
@pytest.mark.parametrize("env, name", [
    ({"NUMBA_CPU_NAME": "generic"}, "sse"),  # numba implies empty features for generic
    ({"NUMBA_CPU_NAME": "haswell", "NUMBA_CPU_FEATURES": ""}, "avx2"),
    ({"NUMBA_CPU_NAME": "haswell", "NUMBA_CPU_FEATURES": "+avx2,+fma,-avx512f"}, "avx2"),
])
def test_numba_cpu_variables_are_respected(env, name):
    found = _isa_in_subprocess(**env)
    assert (found.name, found.cpu) == (name, env["NUMBA_CPU_NAME"])


@pytest.mark.skipif("+avx512f" not in HOST_FEATURES, reason="needs an AVX-512 host")
def test_cpu_name_without_features_keeps_the_host_features():
    """numba's quirk: NUMBA_CPU_NAME=haswell alone passes the host's features to LLVM,
    so on an AVX-512 host the code (and isa()) is still AVX-512."""
    found = _isa_in_subprocess(NUMBA_CPU_NAME="haswell")
    assert (found.name, found.cpu, found.vector_bits) == ("avx512", "haswell", 512)
