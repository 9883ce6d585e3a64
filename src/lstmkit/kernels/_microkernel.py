"""Register blocks of the packed GEMM (`_gemm`): their shape per ISA, and their code in LLVM IR.

A register block holds an `mr` x (`nv` vectors) block of the result in vector registers.
Per step k of the depth it loads `nv` vectors of the packed right matrix, broadcasts one
element of each of the `mr` rows of the left matrix, and does `mr * nv` multiply-adds.
Its shape comes from the register file of the ISA numba compiles for (`_isa.isa()`),
not from one CPU's timings: the `mr * nv` accumulators, the `nv` right-hand vectors and
one broadcast must fit in the vector registers (plus one for the product where there is
no fused multiply-add), and among the shapes that fit, `block_for` takes the one with
the most multiply-adds per value loaded, mr * nv / (mr + nv) (the FMA units, not the
loads, then set the pace), then the most multiply-adds:

    AVX-512, NEON (32 registers): 5 x 5 vectors (25 + 5 + 1 = 31)
    AVX2 / FMA3 (16 registers):   4 x 3 vectors (12 + 3 + 1 = 16)
    SSE, no FMA (16 registers):   6 x 2 vectors (12 + 2 + 1 + 1 = 16)

A `Block` passed into compiled code has a numba type of its own (`BlockType`) that
carries the shape, so each shape compiles (and is cached) as its own specialization:
the tests run every ISA's block on any machine.

The kernels are written in LLVM IR (numba `intrinsic`s) because that is the only way to
make numba keep the accumulators in registers; `kernel` switches over every row count
1..mr and vector count 1..nv, so a caller passes the remainders at run time.

Example:
    >>> from lstmkit.kernels._isa import Isa
    >>> block_for(Isa("avx2", "haswell", 256, 16, True, ""))
    Block(lanes32=8, mr=4, nv=3)
"""

from __future__ import annotations

from dataclasses import astuple, dataclass

from llvmlite import ir
from numba import types
from numba.core.imputils import lower_constant
from numba.extending import NativeValue, intrinsic, models, register_model, typeof_impl, unbox

from ._isa import Isa

_I32, _I64 = ir.IntType(32), ir.IntType(64)


@dataclass(frozen=True)
class Block:
    """A register block: `mr` rows x `nv` vectors of `lanes32` float32 (half as many float64).

    Not a tuple: numba's dispatcher would take its type from the ints alone and reuse one
    block's compiled code for another.
    """

    lanes32: int
    mr: int
    nv: int


def block_for(isa: Isa) -> Block:
    """The register block for `isa` (see the module docstring for the rule)."""
    free = isa.vector_registers - 1 - (0 if isa.fma else 1)  # one broadcast, a product
    shapes = [((free - nv) // nv, nv) for nv in range(1, free) if (free - nv) // nv >= 1]
    mr, nv = max(shapes, key=lambda s: (s[0] * s[1] / (s[0] + s[1]), s[0] * s[1]))
    return Block(isa.lanes(4), mr, nv)


class BlockType(types.Dummy):
    """The numba type of a `Block`: the shape is in the type, the value is empty."""

    def __init__(self, block: Block):
        self.shape = astuple(block)  # ints only: what the numba cache pickles
        super().__init__(name="GemmBlock({}, {}, {})".format(*self.shape))

    @property
    def block(self) -> Block:
        return Block(*self.shape)

    @property
    def key(self):
        return self.shape


register_model(BlockType)(models.OpaqueModel)


@typeof_impl.register(Block)
def _typeof_block(value, c):
    return BlockType(value)


@unbox(BlockType)
def _unbox_block(typ, obj, c):
    return NativeValue(c.context.get_constant_null(types.voidptr))


@lower_constant(BlockType)
def _constant_block(context, builder, typ, value):
    return context.get_constant_null(types.voidptr)


def _lanes_of(block: Block, dtype) -> int:
    return block.lanes32 if dtype == types.float32 else max(block.lanes32 // 2, 1)


def data_pointer(context, builder, typ, value):
    """The data pointer of an array value (for intrinsics: here and `_handoff`)."""
    return context.make_array(typ)(context, builder, value=value).data


def _int(context, builder, value, typ):
    return context.cast(builder, value, typ, types.int64)


@intrinsic
def shape(typingctx, blk, a):
    """(lanes for a's dtype, mr, nv) of the block, as compile-time constants."""
    if not isinstance(blk, BlockType):
        return None
    sig = types.UniTuple(types.intp, 3)(blk, a)

    def codegen(context, builder, signature, args):
        block = signature.args[0].block
        values = (_lanes_of(block, signature.args[1].dtype), block.mr, block.nv)
        return context.make_tuple(builder, signature.return_type,
                                  [context.get_constant(types.intp, v) for v in values])

    return sig, codegen


@intrinsic
def copy_vector(typingctx, blk, src, s_off, dst, d_off):
    """dst[d_off : d_off + L] = src[s_off : s_off + L] for the L lanes of the dtype, one
    vector load and store (offsets count elements of the flat data): packing with it
    is several times faster than an element loop, which LLVM does not vectorize here."""
    if not (isinstance(blk, BlockType) and isinstance(src, types.Array)
            and isinstance(dst, types.Array) and src.dtype == dst.dtype
            and src.dtype in (types.float32, types.float64)):
        return None
    sig = types.void(blk, src, s_off, dst, d_off)

    def codegen(context, builder, signature, args):
        b_t, s_t, so_t, d_t, do_t = signature.args
        _, s_v, so, d_v, do = args
        vec = ir.VectorType(context.get_value_type(s_t.dtype), _lanes_of(b_t.block, s_t.dtype))

        def at(t, v, off, off_t):
            ptr = builder.gep(data_pointer(context, builder, t, v),
                              [_int(context, builder, off, off_t)])
            return builder.bitcast(ptr, vec.as_pointer())

        builder.store(builder.load(at(s_t, s_v, so, so_t), align=4), at(d_t, d_v, do, do_t),
                      align=4)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def kernel(typingctx, blk, rows, vectors, a, a_off, lda, ksa, packed, p_off, c, c_off, ldc, K,
           accumulate):
    """c[0:rows, 0:vectors*L] (+)= a[0:rows, 0:K] @ panel (K, vectors*L), L lanes of a's dtype.

    1 <= rows <= mr and 1 <= vectors <= nv of `blk` (other values do nothing). Element
    (r, k) of a is at a_off + r*lda + k*ksa (ksa = 1 for a row-major a, lda = 1 for a
    transposed one); offsets and strides count elements. The panel (vectors*L wide) is
    read row after row from p_off. `accumulate` adds to c instead of overwriting it.
    """
    arrays = (a, packed, c)
    if not (isinstance(blk, BlockType) and all(isinstance(t, types.Array) for t in arrays)
            and a.dtype in (types.float32, types.float64)
            and all(t.dtype == a.dtype for t in arrays)):
        return None
    sig = types.void(blk, rows, vectors, a, a_off, lda, ksa, packed, p_off, c, c_off, ldc, K,
                     accumulate)

    def codegen(context, builder, signature, args):
        t = signature.args
        block = t[0].block
        ints = [_int(context, builder, v, ty) if isinstance(ty, types.Integer) else v
                for v, ty in zip(args, t)]
        _, rows_v, vecs_v, a_v, a_off_v, lda_v, ksa_v, p_v, p_off_v, c_v, c_off_v, ldc_v, k_v, \
            acc_v = ints
        lanes = _lanes_of(block, t[3].dtype)
        vec = ir.VectorType(context.get_value_type(t[3].dtype), lanes)
        ptrs = (builder.gep(data_pointer(context, builder, t[3], a_v), [a_off_v]),
                builder.gep(data_pointer(context, builder, t[7], p_v), [p_off_v]),
                builder.gep(data_pointer(context, builder, t[9], c_v), [c_off_v]))
        bits = 32 if t[3].dtype == types.float32 else 64
        name = f"llvm.fmuladd.v{lanes}f{bits}"  # fused where the target has FMA
        fma = builder.module.globals.get(name) or ir.Function(
            builder.module, ir.FunctionType(vec, [vec, vec, vec]), name)
        exit_ = builder.append_basic_block("gemm.exit")
        key = builder.add(builder.mul(rows_v, ir.Constant(_I64, block.nv + 1)), vecs_v)
        switch = builder.switch(key, exit_)
        for mr in range(1, block.mr + 1):
            for nv in range(1, block.nv + 1):
                case = builder.append_basic_block(f"gemm.{mr}x{nv}")
                switch.add_case(ir.Constant(_I64, mr * (block.nv + 1) + nv), case)
                builder.position_at_end(case)
                _block(builder, vec, fma, mr, nv, ptrs, (lda_v, ksa_v, ldc_v, k_v), acc_v)
                builder.branch(exit_)
        builder.position_at_end(exit_)
        return context.get_dummy_value()

    return sig, codegen


def _block(builder, vec, fma, mr, nv, ptrs, strides, acc_v):
    """Emit one mr x nv register block (see `kernel`) at the builder's position."""
    a_ptr, p_ptr, c_ptr = ptrs
    lda_v, ksa_v, ldc_v, k_v = strides
    lanes = vec.count
    const = lambda n: ir.Constant(_I64, n)
    undef = ir.Constant(vec, ir.Undefined)
    splat = ir.Constant(ir.VectorType(_I32, lanes), [0] * lanes)
    vec_at = lambda ptr, at: builder.bitcast(builder.gep(ptr, [at]), vec.as_pointer())
    c_at = [[builder.add(builder.mul(const(r), ldc_v), const(v * lanes)) for v in range(nv)]
            for r in range(mr)]
    pairs = [(r, v) for r in range(mr) for v in range(nv)]

    # the block's starting values: c itself (read only then), or zeros
    before = builder.block
    read_c = builder.append_basic_block("gemm.read_c")
    start = builder.append_basic_block("gemm.start")
    builder.cbranch(acc_v, read_c, start)
    builder.position_at_end(read_c)
    loaded = {rv: builder.load(vec_at(c_ptr, c_at[rv[0]][rv[1]]), align=4) for rv in pairs}
    builder.branch(start)
    builder.position_at_end(start)
    init = {rv: builder.phi(vec) for rv in pairs}
    for rv in pairs:
        init[rv].add_incoming(ir.Constant(vec, None), before)
        init[rv].add_incoming(loaded[rv], read_c)
    entry = builder.block
    loop = builder.append_basic_block("gemm.loop")
    done = builder.append_basic_block("gemm.done")
    builder.cbranch(builder.icmp_signed(">", k_v, const(0)), loop, done)

    builder.position_at_end(loop)  # one k: nv panel vectors, mr broadcasts
    k = builder.phi(_I64)
    acc = {rv: builder.phi(vec) for rv in pairs}
    row = builder.mul(k, const(nv * lanes))
    b = [builder.load(vec_at(p_ptr, builder.add(row, const(v * lanes))), align=4)
         for v in range(nv)]
    a_k = builder.mul(k, ksa_v)
    new = {}
    for r in range(mr):
        s = builder.load(builder.gep(a_ptr, [builder.add(builder.mul(const(r), lda_v), a_k)]))
        s = builder.shuffle_vector(builder.insert_element(undef, s, ir.Constant(_I32, 0)),
                                   undef, splat)
        for v in range(nv):
            new[r, v] = builder.call(fma, [s, b[v], acc[r, v]])
    k_next = builder.add(k, const(1))
    end = builder.block
    k.add_incoming(const(0), entry)
    k.add_incoming(k_next, end)
    for rv in pairs:
        acc[rv].add_incoming(init[rv], entry)
        acc[rv].add_incoming(new[rv], end)
    builder.cbranch(builder.icmp_signed("<", k_next, k_v), loop, done)

    builder.position_at_end(done)  # store the block
    final = {}
    for rv in pairs:
        final[rv] = builder.phi(vec)
        final[rv].add_incoming(init[rv], entry)
        final[rv].add_incoming(new[rv], end)
    for r, v in pairs:
        builder.store(final[r, v], vec_at(c_ptr, c_at[r][v]), align=4)
