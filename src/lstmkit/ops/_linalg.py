"""Products: `matmul`, `dot`, `einsum`, broadcast like NumPy.

`matmul`'s VJP is the two transposed products, summed over broadcast batch
axes; `einsum`'s VJP is one einsum per operand with the output's subscripts
swapped in (so any contraction differentiates the same way).

Example:
    >>> import numpy as np
    >>> from lstmkit import ops
    >>> ops.einsum("bi,ij->bj", np.ones((2, 3)), np.ones((3, 4))).shape
    (2, 4)
"""

from __future__ import annotations

import string

import numpy as np

from ._tape import record, unbroadcast


def _float_pair(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "biu" and b.dtype.kind == "f":
        a = a.astype(b.dtype)
    elif b.dtype.kind in "biu" and a.dtype.kind == "f":
        b = b.astype(a.dtype)
    return a, b


def matmul(x1, x2):
    """`x1 @ x2` (NumPy's rules for 1-D arguments and batch broadcasting)."""
    def vjp(out, a, b):
        def grads(g):
            a2 = a[None, :] if a.ndim == 1 else a  # (..., M, K)
            b2 = b[:, None] if b.ndim == 1 else b  # (..., K, N)
            batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
            g2 = np.reshape(g, batch + (a2.shape[-2], b2.shape[-1]))  # (..., M, N)
            da = unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
            db = unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)
            return da, db
        return grads
    return record(lambda a, b: np.matmul(*_float_pair(a, b)), (x1, x2), vjp)


def dot(x1, x2):
    """`np.dot` for arrays of rank 1 or 2 (a matrix product)."""
    if np.ndim(x1) > 2 or np.ndim(x2) > 2:
        raise ValueError("lk.ops.dot takes arrays of rank 1 or 2; use matmul or einsum")
    if np.ndim(x1) == 0 or np.ndim(x2) == 0:
        return record(np.multiply, (x1, x2), lambda out, a, b: lambda g: (
            unbroadcast(g * b, np.shape(a)), unbroadcast(g * a, np.shape(b))))
    return matmul(x1, x2)


def _explicit(subscripts, shapes):
    """Operand and output subscripts with '...' written out as letters."""
    subscripts = subscripts.replace(" ", "")
    inputs, arrow, output = subscripts.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: {len(terms)} operand subscripts for {len(shapes)} operands")
    free = [c for c in string.ascii_letters if c not in subscripts]
    n_ell = max([len(s) - len(t.replace("...", "")) for t, s in zip(terms, shapes)
                 if "..." in t] or [0])
    ell = "".join(free[:n_ell])
    terms = [t.replace("...", ell[n_ell - (len(s) - len(t.replace("...", ""))):])
             for t, s in zip(terms, shapes)]
    if not arrow:  # implicit output: the ellipsis, then letters used once, sorted
        letters = "".join(terms)
        output = ell + "".join(sorted(c for c in set(letters) - set(ell)
                                      if letters.count(c) == 1))
    else:
        output = output.replace("...", ell)
    return terms, output


def einsum(subscripts, *operands):
    """Einstein summation, as `np.einsum` (and keras.ops.einsum)."""
    def vjp(out, *values):
        terms, output = _explicit(subscripts, [v.shape for v in values])
        for t in terms:
            if len(set(t)) != len(t):
                raise ValueError(f"einsum: the gradient of a repeated index ({t!r}, a "
                                 f"diagonal) is not supported")

        def grads(g):
            result = []
            for i, (t, v) in enumerate(zip(terms, values)):
                others = [terms[j] for j in range(len(terms)) if j != i]
                known = set(output).union(*others)
                target = "".join(c for c in t if c in known)
                spec = ",".join(others + [output]) + "->" + target
                d = np.einsum(spec, *[values[j] for j in range(len(values)) if j != i], g)
                # letters only this operand has: the gradient is constant along them
                d = np.reshape(d, [d.shape[target.index(c)] if c in known else 1 for c in t])
                axes = tuple(k for k, n in enumerate(v.shape) if n == 1 and d.shape[k] != 1)
                d = d.sum(axis=axes, keepdims=True) if axes else d
                result.append(np.broadcast_to(d, v.shape))
            return tuple(result)
        return grads
    return record(lambda *values: np.einsum(subscripts, *values), operands, vjp)
