"""`lk.ops`: every op's VJP against central finite differences (hypothesis over shapes and
broadcasting, float64), and results against keras.ops on the torch backend (float32)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import _oracle
from lstmkit import ops


def _loss_grads(fn, arrays, seed=0):
    """Tape gradients of sum(out * g) and the same by central differences."""
    rng = np.random.default_rng(seed)
    with ops.Tape() as tape:
        watched = [tape.watch(a) for a in arrays]
        out = fn(*watched)
    outs = out if isinstance(out, list) else [out]
    gs = [rng.normal(size=np.shape(o.value)) for o in outs]
    grads = tape.gradients(outs, gs)

    def loss(values):
        res = fn(*values)
        res = res if isinstance(res, list) else [res]
        return sum(float(np.sum(np.asarray(r) * g)) for r, g in zip(res, gs))

    eps = 1e-6
    for i, (t, a) in enumerate(zip(watched, arrays)):
        numeric = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            plus, minus = [v.copy() for v in arrays], [v.copy() for v in arrays]
            plus[i][idx] += eps
            minus[i][idx] -= eps
            numeric[idx] = (loss(plus) - loss(minus)) / (2 * eps)
        got = grads.get(id(t), np.zeros_like(a))
        assert got.shape == a.shape
        np.testing.assert_allclose(got, numeric, rtol=1e-5, atol=1e-6)


def _away(a, lo):
    """Values pushed away from non-differentiable points (|a| >= lo)."""
    return np.where(a >= 0, a + lo, a - lo)


UNARY = {
    "negative": ops.negative, "absolute": lambda x: ops.absolute(_away_t(x)),
    "square": ops.square, "sqrt": lambda x: ops.sqrt(ops.exp(x)),
    "reciprocal": lambda x: ops.reciprocal(_away_t(x, 0.5)),
    "rsqrt": lambda x: ops.rsqrt(ops.exp(x)), "norm": lambda x: ops.norm(x + 0.5, axis=-1),
    "norm_all": lambda x: ops.norm(x + 0.5), "exp": ops.exp, "expm1": ops.expm1,
    "log": lambda x: ops.log(ops.exp(x)), "log1p": lambda x: ops.log1p(ops.square(x)),
    "tanh": ops.tanh, "sin": ops.sin, "cos": ops.cos, "relu": lambda x: ops.relu(_away_t(x)),
    "relu6": lambda x: ops.relu6(_away_t(x) * 2), "sigmoid": ops.sigmoid,
    "hard_sigmoid": lambda x: ops.hard_sigmoid(_away_t(x)), "softplus": ops.softplus,
    "softsign": ops.softsign, "silu": ops.silu, "elu": lambda x: ops.elu(_away_t(x)),
    "selu": lambda x: ops.selu(_away_t(x)),
    "leaky_relu": lambda x: ops.leaky_relu(_away_t(x)), "gelu": ops.gelu,
    "gelu_exact": lambda x: ops.gelu(x, approximate=False), "softmax": ops.softmax,
    "log_softmax": lambda x: ops.log_softmax(x, axis=0), "cumsum": lambda x: ops.cumsum(x, 0),
    "cumsum_flat": ops.cumsum, "cumprod": lambda x: ops.cumprod(ops.exp(x), axis=-1),
    "sum": lambda x: ops.sum(x, axis=-1, keepdims=True), "sum_all": ops.sum,
    "mean": lambda x: ops.mean(x, axis=0), "max": lambda x: ops.max(x, axis=-1),
    "min": ops.min, "prod": lambda x: ops.prod(ops.exp(x), axis=0), "var": ops.var,
    "std": lambda x: ops.std(ops.concatenate([x, x + 1], axis=-1), axis=-1),
    "logsumexp": lambda x: ops.logsumexp(x, axis=-1),
    "transpose": ops.transpose, "reshape": lambda x: ops.reshape(x, (-1,)),
    "expand_dims": lambda x: ops.expand_dims(x, 1), "squeeze": lambda x: ops.squeeze(
        ops.expand_dims(x, 0)), "flip": lambda x: ops.flip(x, -1), "tile": lambda x: ops.tile(
        x, (2, 1)), "repeat": lambda x: ops.repeat(x, 2, axis=-1),
    "repeat_flat": lambda x: ops.repeat(x, 3), "pad": lambda x: ops.pad(x, [(1, 0)] * x.ndim),
    "getitem": lambda x: x[..., ::2] * 3, "getitem_fancy": lambda x: ops.reshape(x, (-1,))[
        np.array([0, 0, -1])], "take": lambda x: ops.take(x, np.array([[0, 0], [-1, 0]]), -1),
    "take_flat": lambda x: ops.take(x, np.array([0, -1, 0])),
    "take_along_axis": lambda x: ops.take_along_axis(
        x, np.zeros((1,) * x.ndim, int), axis=-1), "broadcast_to": lambda x: ops.broadcast_to(
        x, (2, *x.shape)), "clip": lambda x: ops.clip(_away_t(x), -0.5, 0.5),
    "cast": lambda x: ops.cast(x, "float64"), "copy": ops.copy,
    "swapaxes": lambda x: ops.swapaxes(x, 0, -1), "moveaxis": lambda x: ops.moveaxis(x, 0, -1),
    "split": lambda x: ops.split(ops.concatenate([x, x], axis=0), 2, axis=0),
    "unstack": lambda x: ops.unstack(x, axis=-1), "numpy_ufunc": lambda x: np.tanh(x) * x,
    "operators": lambda x: (2 - x) / (1 + x * x) ** 2 - (-x) @ ops.transpose(x)[..., :1],
}


def _away_t(x, margin=0.05):
    return ops.where(ops.convert_to_numpy(x) >= 0, x + margin, x - margin)


shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3)


@pytest.mark.parametrize("name", sorted(UNARY))
@settings(max_examples=6, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2 ** 16))
def test_unary_vjp(name, shape, seed):
    if name == "operators":
        shape = (*shape[:1], 2)
    a = np.random.default_rng(seed).normal(size=shape)
    _loss_grads(UNARY[name], [a], seed)


BINARY = {
    "add": ops.add, "subtract": ops.subtract, "multiply": ops.multiply, "divide": lambda a, b:
    ops.divide(a, _away_t(b, 0.5)), "power": lambda a, b: ops.power(ops.exp(a), b),
    "maximum": ops.maximum, "minimum": ops.minimum,
    "where": lambda a, b: ops.where(ops.convert_to_numpy(a) > 0, a, b),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@settings(max_examples=8, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
       seed=st.integers(0, 2 ** 16))
def test_broadcasting_vjp(name, shapes, seed):
    rng = np.random.default_rng(seed)
    a, b = (rng.normal(size=s) for s in shapes.input_shapes)
    _loss_grads(BINARY[name], [a, b], seed)


@settings(max_examples=10, deadline=None)
@given(batch=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3),
       m=st.integers(1, 3), k=st.integers(1, 3), n=st.integers(1, 3),
       vector=st.sampled_from(["", "a", "b"]), seed=st.integers(0, 2 ** 16))
def test_matmul_vjp(batch, m, k, n, vector, seed):
    rng = np.random.default_rng(seed)
    a_shape = (k,) if vector == "a" else (*batch.input_shapes[0], m, k)
    b_shape = (k,) if vector == "b" else (*batch.input_shapes[1], k, n)
    _loss_grads(ops.matmul, [rng.normal(size=a_shape), rng.normal(size=b_shape)], seed)


@pytest.mark.parametrize("spec, shapes", [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
    ("i,i->", [(3,), (3,)]), ("ij->ji", [(2, 3)]), ("...ij,jk", [(2, 2, 3), (3, 2)]),
    ("bi,j->bij", [(2, 3), (2,)]), ("ij,kj->i", [(2, 3), (4, 3)]),
])
def test_einsum_vjp(spec, shapes):
    rng = np.random.default_rng(0)
    _loss_grads(lambda *xs: ops.einsum(spec, *xs), [rng.normal(size=s) for s in shapes])


@settings(max_examples=8, deadline=None)
@given(shape=shapes, n=st.integers(1, 3), axis=st.integers(0, 3), seed=st.integers(0, 2 ** 16))
def test_stack_concatenate_vjp(shape, n, axis, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.normal(size=shape) for _ in range(n)]
    _loss_grads(lambda *xs: ops.stack(list(xs), axis=axis % (len(shape) + 1)), arrays, seed)
    _loss_grads(lambda *xs: ops.concatenate(list(xs), axis=axis % len(shape)), arrays, seed)


def test_outside_a_tape_ops_are_plain_numpy():
    x = np.ones((2, 3), "float32")
    out = ops.softmax(ops.matmul(x, ops.transpose(x)))
    assert type(out) is np.ndarray and out.dtype == np.float32
    assert ops.divide(np.array([1, 2]), 2).dtype == np.float32  # keras: ints divide to floatx
    assert ops.mean(np.array([1, 2])).dtype == np.float32


def test_unknown_numpy_function_on_a_tensor_is_a_clear_error():
    with ops.Tape() as tape, pytest.raises(TypeError, match="lk.ops"):
        np.arctan2(tape.watch(np.ones(2)), 1.0)
    with ops.Tape() as tape, pytest.raises(TypeError, match="lk.ops"):
        np.sort(tape.watch(np.ones(2)))


def test_numpy_functions_on_tensors_record_their_gradient():
    with ops.Tape() as tape:
        x = tape.watch(np.array([1.0, 2.0]))
        y = np.sum(np.stack([x, np.square(x)]), axis=0)
    np.testing.assert_array_equal(tape.gradients([y], [np.ones(2)])[id(x)], [3.0, 5.0])


# -- against keras.ops (torch backend), float32 -----------------------------------------------
def _r(*shape, positive=False, seed=0):
    a = np.random.default_rng(seed).normal(size=shape).astype("float32")
    return np.abs(a) + 0.1 if positive else a


KERAS_CASES = [
    ("add", (_r(2, 3), _r(3)), {}), ("subtract", (_r(2, 1), _r(3)), {}),
    ("multiply", (_r(2, 3), _r(2, 3)), {}), ("divide", (_r(2, 3), _r(3, positive=True)), {}),
    ("power", (_r(2, 3, positive=True), _r(2, 3)), {}), ("negative", (_r(4),), {}),
    ("absolute", (_r(4),), {}), ("square", (_r(4),), {}), ("sqrt", (_r(4, positive=True),), {}),
    ("exp", (_r(4),), {}), ("expm1", (_r(4),), {}), ("log", (_r(4, positive=True),), {}),
    ("log1p", (_r(4, positive=True),), {}), ("tanh", (_r(4),), {}), ("sin", (_r(4),), {}),
    ("cos", (_r(4),), {}), ("rsqrt", (_r(4, positive=True),), {}),
    ("norm", (_r(2, 3),), {"axis": -1}), ("norm", (_r(2, 3),), {}),
    ("floor_divide", (_r(4) * 5, 2.0), {}), ("mod", (np.array([5, -3, 7]), 3), {}),
    ("maximum", (_r(2, 3), _r(3)), {}), ("minimum", (_r(2, 3), _r(3)), {}),
    ("clip", (_r(5), -0.5, 0.5), {}), ("relu", (_r(5),), {}), ("relu6", (_r(5) * 5,), {}),
    ("sigmoid", (_r(5) * 4,), {}), ("hard_sigmoid", (_r(5) * 4,), {}),
    ("softplus", (_r(5) * 4,), {}), ("softsign", (_r(5),), {}), ("silu", (_r(5),), {}),
    ("elu", (_r(5),), {}), ("selu", (_r(5),), {}), ("leaky_relu", (_r(5),), {}),
    ("gelu", (_r(5),), {}), ("gelu", (_r(5),), {"approximate": False}),
    ("softmax", (_r(2, 4),), {}), ("softmax", (_r(2, 4),), {"axis": 0}),
    ("log_softmax", (_r(2, 4),), {}), ("sum", (_r(2, 3),), {"axis": 1}),
    ("mean", (_r(2, 3),), {"axis": 0, "keepdims": True}), ("max", (_r(2, 3),), {"axis": -1}),
    ("min", (_r(2, 3),), {}), ("prod", (_r(2, 3),), {"axis": 0}), ("var", (_r(2, 3),), {}),
    ("std", (_r(2, 3),), {"axis": 1}), ("logsumexp", (_r(2, 3),), {"axis": 1}),
    ("cumsum", (_r(2, 3),), {"axis": 1}), ("cumprod", (_r(2, 3),), {"axis": 0}),
    ("transpose", (_r(2, 3, 4),), {"axes": (2, 0, 1)}), ("reshape", (_r(2, 3),), {}),
    ("expand_dims", (_r(2, 3),), {"axis": -1}), ("squeeze", (_r(2, 1, 3),), {"axis": 1}),
    ("flip", (_r(2, 3),), {"axis": 1}), ("tile", (_r(2, 3), (2, 2)), {}),
    ("repeat", (_r(2, 3), 2), {"axis": 1}), ("matmul", (_r(2, 2, 3), _r(3, 4)), {}),
    ("take", (_r(5, 3), np.array([[0, 4], [2, 2]])), {"axis": 0}),
    ("take", (_r(5, 3), np.array([1, 7])), {}),
    ("take_along_axis", (_r(3, 4), np.array([[0], [3], [1]])), {"axis": 1}),
    ("where", (_r(2, 3) > 0, _r(2, 3), _r(3)), {}), ("cast", (_r(3) * 4, "int32"), {}),
    ("equal", (_r(3), _r(3)), {}), ("not_equal", (np.array([0, 1, 2]), 0), {}),
    ("any", (_r(2, 3) > 1,), {"axis": 1}), ("all", (_r(2, 3) > -1,), {}),
    ("argmax", (_r(2, 3),), {"axis": 1}), ("one_hot", (np.array([0, 2, 1]), 3), {}),
    ("zeros_like", (_r(2),), {}), ("arange", (5,), {}), ("eye", (3,), {}),
    ("broadcast_to", (_r(3), (2, 3)), {}), ("swapaxes", (_r(2, 3), 0, 1), {}),
    ("moveaxis", (_r(2, 3, 4), 0, -1), {}), ("pad", (_r(2, 3), [(1, 0), (0, 2)]), {}),
    ("slice", (_r(4, 5), (1, 2), (2, 3)), {}),
    ("einsum", ("bij,jk->bik", _r(2, 2, 3), _r(3, 4)), {}),
]


@pytest.mark.parametrize("name, args, kwargs", KERAS_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(KERAS_CASES)])
def test_matches_keras_ops(name, args, kwargs):
    keras = _oracle.keras()
    torch = _oracle.torch()
    if name == "reshape":
        args, kwargs = (args[0], (3, 2)), {}
    k_args = [torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in args]
    with _oracle.quiet():
        expected = getattr(keras.ops, name)(*k_args, **kwargs)
    expected = expected.detach().cpu().numpy() if hasattr(expected, "detach") else expected
    got = getattr(ops, name)(*args, **kwargs)
    assert np.shape(got) == np.shape(expected)
    assert np.asarray(got).dtype == np.asarray(expected).dtype or name in ("arange",)
    np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(expected, np.float64),
                               rtol=1e-6, atol=1e-6)


def test_split_unstack_match_keras():
    keras = _oracle.keras()
    torch = _oracle.torch()
    x = _r(4, 6)
    with _oracle.quiet():
        for got, exp in zip(ops.split(x, 3, axis=1), keras.ops.split(torch.from_numpy(x), 3,
                                                                        axis=1)):
            np.testing.assert_array_equal(got, exp.numpy())
        for got, exp in zip(ops.unstack(x), keras.ops.unstack(torch.from_numpy(x))):
            np.testing.assert_array_equal(got, exp.numpy())
        np.testing.assert_array_equal(
            ops.stack([x, x], axis=1), keras.ops.stack([torch.from_numpy(x)] * 2, axis=1).numpy())


@pytest.mark.parametrize("name", [
    "lstmkit.ops", "lstmkit.ops._tape", "lstmkit.ops._math", "lstmkit.ops._reduce",
    "lstmkit.ops._shape", "lstmkit.ops._linalg", "lstmkit.ops._nn", "lstmkit.ops._creation",
    "lstmkit.layers._custom", "lstmkit.layers._masks", "lstmkit.layers._traced",
    "lstmkit.layers._probe", "lstmkit.models._subclassed", "lstmkit._registration"])
def test_doctests(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
