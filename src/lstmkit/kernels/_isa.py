"""The instruction set the kernels are compiled for: what numba's JIT targets, not the host.

numba compiles for `NUMBA_CPU_NAME` / `NUMBA_CPU_FEATURES` (read once into
`numba.core.config.CPU_NAME` / `CPU_FEATURES`) and falls back to the host's CPU name and
features for whichever is unset. Mind the consequence: `NUMBA_CPU_NAME=haswell` alone on
an AVX-512 host still passes the host's feature string, so the code is AVX-512. To
compile AVX2 code there, set the features too (`NUMBA_CPU_FEATURES=""` takes the CPU's
defaults, or an explicit list such as "+avx2,+fma,-avx512f"). `NUMBA_CPU_NAME=generic`
implies empty features (SSE2 on x86-64).

Rather than interpret feature strings, `isa()` asks LLVM: it compiles a one-instruction
vector multiply-add for the same triple, CPU and features as numba's JIT and reads the
assembly (zmm / ymm / xmm registers, a fused multiply-add or not). The register blocks
of the GEMM (`_gemm`) are chosen from the result.

Example:
    >>> from lstmkit.kernels._isa import isa
    >>> isa().name in ("avx512", "avx2", "sse", "neon", "generic")
    True
    >>> isa().lanes(4) * 32 >= isa().vector_bits  # float32 lanes of one register
    True
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

import llvmlite.binding as llvm
from llvmlite import ir
from numba.core import config


class Isa(NamedTuple):
    """The vector unit numba's code runs on.

    name: "avx512", "avx2" (256-bit with FMA), "sse" (x86-64 with 128-bit vectors), "neon"
        (aarch64) or "generic" (anything else, such as AVX without FMA: the other fields
        still say what it has).
    cpu: the LLVM CPU name compiled for.
    vector_bits: the widest float vector one instruction works on (512, 256 or 128).
    vector_registers: how many of those registers there are (32 with AVX-512 or on
        aarch64, 16 on other x86-64).
    fma: whether a multiply-add is one fused instruction.
    features: the LLVM feature string compiled for ("" means the CPU's defaults).
    """

    name: str
    cpu: str
    vector_bits: int
    vector_registers: int
    fma: bool
    features: str

    def lanes(self, itemsize: int) -> int:
        """Elements of `itemsize` bytes per vector register (16 float32 with AVX-512)."""
        return max(self.vector_bits // (8 * itemsize), 1)


def _host_features() -> str:
    # as numba does when NUMBA_CPU_FEATURES is unset (numba.core.codegen.get_host_cpu_features)
    try:
        features = llvm.get_host_cpu_features()
    except RuntimeError:
        return ""
    if not config.ENABLE_AVX:
        for name in features:
            if name.startswith("avx"):
                features[name] = False
    return features.flatten()


def isa(cpu: str | None = None, features: str | None = None) -> Isa:
    """The ISA numba compiles for, or for `cpu` / `features` when given (for tests and
    for naming another target; numba itself is not changed)."""
    if cpu is None:
        cpu = config.CPU_NAME or llvm.get_host_cpu_name()
    if features is None:
        features = config.CPU_FEATURES if config.CPU_FEATURES is not None else _host_features()
    return _probe(cpu, features)


@functools.cache
def _probe(cpu: str, features: str) -> Isa:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    triple = llvm.get_process_triple()
    asm = _assembly(triple, cpu, features)
    arch = triple.split("-")[0]
    if arch in ("x86_64", "i386", "i686"):
        bits = 512 if "zmm" in asm else 256 if "ymm" in asm else 128
        fma = "vfmadd" in asm
        # AVX-512 also doubles the register file (zmm0-31); LLVM may still prefer 256-bit
        # vectors on some AVX-512 CPUs, which then have ymm0-31.
        avx512 = bits == 512 or "+avx512f" in features.split(",")
        registers = 32 if avx512 else 16
        name = ("avx512" if bits == 512 else "avx2" if bits == 256 and fma
                else "sse" if bits == 128 and arch == "x86_64" else "generic")
        return Isa(name, cpu, bits, registers, fma, features)
    if arch in ("aarch64", "arm64"):
        return Isa("neon", cpu, 128, 32, bool(re.search(r"\bfmla\b", asm)), features)
    return Isa("generic", cpu, 128, 16, False, features)


def _assembly(triple: str, cpu: str, features: str) -> str:
    """Assembly of `p[0] = p[0] * p[1] + p[2]` on 16 float32 (`llvm.fmuladd`: fused where
    the target has FMA, else a multiply and an add), compiled as numba's JIT would (same
    triple, CPU and features)."""
    vec = ir.VectorType(ir.FloatType(), 16)
    module = ir.Module(name="lstmkit_isa_probe")
    module.triple = triple
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [vec.as_pointer()]), "probe")
    fma = ir.Function(module, ir.FunctionType(vec, [vec, vec, vec]), "llvm.fmuladd.v16f32")
    builder = ir.IRBuilder(fn.append_basic_block())
    p = fn.args[0]
    a, b, c = (builder.load(builder.gep(p, [ir.Constant(ir.IntType(64), i)])) for i in range(3))
    builder.store(builder.call(fma, [a, b, c]), p)
    builder.ret_void()
    parsed = llvm.parse_assembly(str(module))
    parsed.verify()
    target = llvm.Target.from_triple(triple)
    machine = target.create_target_machine(cpu=cpu, features=features, opt=2)
    return machine.emit_assembly(parsed)
