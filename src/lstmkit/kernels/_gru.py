"""Fused GRU and SimpleRNN loops (numba), forward and backward, float32 and float64.

The shape of the LSTM kernels (`_forward.py`), on their GEMM (`_gemm.py`): one compiled
call (`forward_call`) copies x to time-major processing order and computes the input
projection of every step in one product (X @ kernel + input bias, as XZ (T, B, nH));
each step then does one product with the recurrent kernel, packed once per call
(`_pack_for_steps`: `_gemm.packed_for`'s thresholds, and small products padded to whole
vectors), and one elementwise pass; training keeps the activations backward needs;
backward keeps per-step gradients of the projections, so that the weight gradients are
single GEMMs over all steps after the loop (`cells.py`, through `_run._weight_grad`).
Everything is time-major, in processing order.

GRU step (`reference_gru.gru_step`, gates z, r, h), with rz = h @ R + b_rec:

    z = sigmoid(XZ_z + rz_z);  r = sigmoid(XZ_r + rz_r)
    reset_after=True:  hh = tanh(XZ_h + r * rz_h)          (RH[t] keeps rz_h)
    reset_after=False: hh = tanh(XZ_h + (r * h) @ R_h)     (a second product; RH[t] = r * h)
    h' = z * h + (1 - z) * hh

SimpleRNN step: h' = tanh(XZ + h @ R). Masked steps keep the state and repeat the
previous output (zeros before the first valid step), or output zeros with
`zero_output`, as Keras's `rnn()`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import _gemm
from ._math import sigmoid, tanh

#: Below this many multiply-adds a step's product is a plain loop: a BLAS call costs more.
SMALL_MACS = 1 << 16


@njit(cache=True, error_model="numpy", nogil=True)
def _dot(a, b, out):
    """out = a @ b; small products as a loop that LLVM vectorizes over out's columns."""
    M, K = a.shape
    N = b.shape[1]
    if M * K * N >= SMALL_MACS:
        np.dot(a, b, out)
        return
    for i in range(M):
        for j in range(N):
            out[i, j] = 0
        for k in range(K):
            aik = a[i, k]
            for j in range(N):
                out[i, j] += aik * b[k, j]


@njit(cache=True, nogil=True)
def _pack_for_steps(w, M, steps):
    """w (K, N) packed for `steps` products of M rows (`_gemm.packed_for`); a small product
    (< SMALL_MACS) is packed too on an ISA with measured thresholds, its columns padded with
    zeros to whole vectors: there the register blocks beat `_dot`'s loop, whose short rows
    do not fill vectors. Returns (packed, or size 0 for `_dot`; the columns of the result
    buffer the products write, N or N padded)."""
    K, N = w.shape
    if steps == 0:  # not used
        return np.empty(0, w.dtype), N
    packed = _gemm.packed_for(w, M, steps)
    if packed.size > 0 or M * K * N >= SMALL_MACS or _gemm.PACKED_MACS >= _gemm._NEVER:
        return packed, N
    lanes = _gemm.LANES32 * 4 // w.itemsize
    padded_n = (N + lanes - 1) // lanes * lanes
    padded = np.zeros((K, padded_n), w.dtype)
    padded[:, :N] = w
    packed = _gemm.aligned_empty(K * padded_n, w)
    _gemm.pack(padded, packed)
    return packed, padded_n


@njit(cache=True, error_model="numpy", nogil=True)
def _product(a, w, packed, out, reverse):
    """out = a @ w: through `packed` (`_pack_for_steps`) when it is not empty, else `_dot`;
    out has the columns `_pack_for_steps` gave (those past w's are zeros). `reverse`
    alternates the panels' order step by step (see `_gemm.matmul`)."""
    if packed.size > 0:
        _gemm.matmul(a, packed, out, reverse)
    else:
        _dot(a, w, out)


@njit(cache=True, error_model="numpy", nogil=True)
def gru_forward_loop(XZ, R, b_rec, S, out, Zs, Rs, HHs, RH, mask, reset_after, train,
                     zero_output):
    """XZ (T, B, 3H), R (H, 3H), b_rec (3H,) (zeros without a recurrent bias), S (T+1, B, H)
    with S[0] = h0 when `train`, else (2, B, H); out (T, B, H), or (2, B, H) used alternately
    when only the last output is wanted (it is out[(T-1) % 2]); Zs, Rs, HHs, RH (T, B, H)
    kept when `train` (else size 0); mask (T, B) uint8 or size 0.

    The recurrent kernel is packed once for all steps when that pays (`_gemm.packed_for`).
    The activations run over flat buffers of all rows (B * 2H sigmoids, B * H tanh), so
    that they fill vector registers whatever H; each pass writes buffers it does not read:
    a store into an array the loop reads would stop LLVM from vectorizing it.
    """
    T, B, H3 = XZ.shape
    H = H3 // 3
    H2 = 2 * H
    dt = XZ.dtype
    pre = np.empty(B * H2, dt)  # z and r pre-activations, row after row
    act = np.empty((B, H2), dt)  # z (act[:, :H]) and r (act[:, H:])
    act_flat = act.reshape(B * H2)
    pre_h = np.empty(B * H, dt)  # the candidate's pre-activation
    hh = np.empty((B, H), dt)
    hh_flat = hh.reshape(B * H)
    rh = _gemm.aligned_empty(B * H, XZ).reshape((B, H))
    rec = _gemm.aligned_empty(B * H, XZ).reshape((B, H))
    # reset_after: one product per step, h @ R; else h @ R[:, :2H], then (r * h) @ R[:, 2H:]
    Rzr = R if reset_after else np.ascontiguousarray(R[:, :H2])
    Rh = np.ascontiguousarray(R[:, H2:])
    Rp, width = _pack_for_steps(Rzr, B, T)  # packed once for all steps, or size 0
    rz = _gemm.aligned_empty(B * width, XZ).reshape((B, width))  # h @ Rzr
    Rhp, width_h = _pack_for_steps(Rh, B, T if not reset_after else 0)
    rec_p = _gemm.aligned_empty(B * width_h, XZ).reshape((B, width_h))  # (r * h) @ Rh
    has_mask = mask.size > 0
    n_out = out.shape[0]
    for t in range(T):
        cur = t if train else t % 2
        nxt = t + 1 if train else (t + 1) % 2
        h = S[cur]
        if reset_after:
            _product(h, Rzr, Rp, rz, t % 2 == 1)
            for b in range(B):
                for j in range(H2):
                    pre[b * H2 + j] = XZ[t, b, j] + (rz[b, j] + b_rec[j])
        else:
            _product(h, Rzr, Rp, rz, t % 2 == 1)
            for b in range(B):
                for j in range(H2):
                    pre[b * H2 + j] = XZ[t, b, j] + rz[b, j]
        for n in range(B * H2):
            act_flat[n] = sigmoid(pre[n])
        if reset_after:
            for b in range(B):
                for j in range(H):
                    rec[b, j] = rz[b, H2 + j] + b_rec[H2 + j]
                    pre_h[b * H + j] = XZ[t, b, H2 + j] + act[b, H + j] * rec[b, j]
        else:
            for b in range(B):
                for j in range(H):
                    rh[b, j] = act[b, H + j] * h[b, j]
            _product(rh, Rh, Rhp, rec_p, t % 2 == 1)
            for b in range(B):
                for j in range(H):
                    rec[b, j] = rec_p[b, j]
                    pre_h[b * H + j] = XZ[t, b, H2 + j] + rec_p[b, j]
        for n in range(B * H):
            hh_flat[n] = tanh(pre_h[n])
        o, prev = t % n_out, (t - 1) % n_out
        for b in range(B):
            if (not has_mask) or mask[t, b] != 0:
                for j in range(H):
                    h_new = hh[b, j] + act[b, j] * (h[b, j] - hh[b, j])  # z h + (1 - z) hh
                    S[nxt, b, j] = h_new
                    out[o, b, j] = h_new
            else:
                for j in range(H):
                    S[nxt, b, j] = h[b, j]
                    out[o, b, j] = 0 if (zero_output or t == 0) else out[prev, b, j]
        if train:
            for b in range(B):
                for j in range(H):
                    Zs[t, b, j] = act[b, j]
                    Rs[t, b, j] = act[b, H + j]
                    HHs[t, b, j] = hh[b, j]
                    RH[t, b, j] = rec[b, j] if reset_after else rh[b, j]


@njit(cache=True, error_model="numpy", nogil=True)
def _masked_grads(t, mask, d_out, dh, d_next, dnew, keep_grad, zero_output):
    """Split the state gradient at step t: dnew (into the step), keep_grad (past a masked
    step); d_next carries the output gradient of a masked step to the step before."""
    B, H = dh.shape
    has_mask, has_dout = mask.size > 0, d_out.size > 0
    for b in range(B):
        m = (not has_mask) or mask[t, b] != 0
        for j in range(H):
            g = d_next[b, j] + (d_out[t, b, j] if has_dout else 0)
            if m:
                dnew[b, j] = dh[b, j] + g
                keep_grad[b, j] = 0
                d_next[b, j] = 0
            else:
                dnew[b, j] = 0
                keep_grad[b, j] = dh[b, j]
                d_next[b, j] = 0 if zero_output else g


@njit(cache=True, error_model="numpy", nogil=True)
def gru_backward_loop(S, Zs, Rs, HHs, RH, R, mask, d_out, dh, reset_after, zero_output, dA,
                      dRec):
    """Backward through time. d_out (T, B, H) or size 0; dh (B, H): the gradient of the
    final state, overwritten with that of h0. Fills dA (T, B, 3H), the gradients of the
    input projections (z, r, h), and dRec (T, B, 3H), those of the recurrent products:
    [z, r, h @ R_h + b'_h] (reset_after) or [z, r, (r * h) @ R_h]."""
    T, B, H = Zs.shape
    dt = Zs.dtype
    RT = np.ascontiguousarray(R.T)  # (3H, H)
    RzrT = np.ascontiguousarray(R[:, :2 * H].T)  # (2H, H)
    RhT = np.ascontiguousarray(R[:, 2 * H:].T)  # (H, H)
    # packed once for all steps when that pays (`_gemm.packed_for`), else size 0
    RTp, width = _pack_for_steps(RT if reset_after else RzrT, B, T)
    RhTp, width_h = _pack_for_steps(RhT, B, 0 if reset_after else T)
    d_next = np.zeros((B, H), dt)  # gradient reaching out[t] through out[t+1] = out[t]
    dnew = np.empty((B, H), dt)
    keep_grad = np.empty((B, H), dt)
    dah = np.empty((B, H), dt)  # gradient of the candidate's pre-activation
    dzr = np.empty((B, 2 * H), dt)
    d_rh = _gemm.aligned_empty(B * width_h, Zs).reshape((B, width_h))
    back = _gemm.aligned_empty(B * width, Zs).reshape((B, width))
    for t in range(T - 1, -1, -1):
        _masked_grads(t, mask, d_out, dh, d_next, dnew, keep_grad, zero_output)
        for b in range(B):
            for j in range(H):
                z, hh, h = Zs[t, b, j], HHs[t, b, j], S[t, b, j]
                dn = dnew[b, j]
                dah[b, j] = dn * (1 - z) * (1 - hh * hh)
                dzr[b, j] = dn * (h - hh) * z * (1 - z)
                dh[b, j] = dn * z + keep_grad[b, j]
        if reset_after:
            for b in range(B):
                for j in range(H):
                    r = Rs[t, b, j]
                    dzr[b, H + j] = dah[b, j] * RH[t, b, j] * r * (1 - r)
                    dRec[t, b, 2 * H + j] = dah[b, j] * r
        else:
            _product(dah, RhT, RhTp, d_rh, t % 2 == 1)  # the gradient of r * h
            for b in range(B):
                for j in range(H):
                    r = Rs[t, b, j]
                    dzr[b, H + j] = d_rh[b, j] * S[t, b, j] * r * (1 - r)
                    dh[b, j] += d_rh[b, j] * r
                    dRec[t, b, 2 * H + j] = dah[b, j]
        for b in range(B):
            for j in range(2 * H):
                dA[t, b, j] = dzr[b, j]
                dRec[t, b, j] = dzr[b, j]
            for j in range(H):
                dA[t, b, 2 * H + j] = dah[b, j]
        if reset_after:
            _product(dRec[t], RT, RTp, back, t % 2 == 0)
        else:
            _product(dzr, RzrT, RTp, back, t % 2 == 0)
        for b in range(B):
            for j in range(H):
                dh[b, j] += back[b, j]


@njit(cache=True, error_model="numpy", nogil=True)
def simple_rnn_forward_loop(XZ, R, S, out, mask, train, zero_output):
    """XZ (T, B, H) = x @ kernel + bias; S (T+1, B, H) with S[0] = h0 when `train`, else
    (2, B, H); out (T, B, H), or (2, B, H) used alternately (as in `gru_forward_loop`)."""
    T, B, H = XZ.shape
    Rp, width = _pack_for_steps(R, B, T)  # packed once for all steps, or size 0
    a = _gemm.aligned_empty(B * width, XZ).reshape((B, width))  # h @ R
    pre = np.empty(B * H, XZ.dtype)
    hn = np.empty((B, H), XZ.dtype)  # the step's new states
    hn_flat = hn.reshape(B * H)
    has_mask = mask.size > 0
    n_out = out.shape[0]
    for t in range(T):
        cur = t if train else t % 2
        nxt = t + 1 if train else (t + 1) % 2
        h = S[cur]
        _product(h, R, Rp, a, t % 2 == 1)
        for b in range(B):
            for j in range(H):
                pre[b * H + j] = XZ[t, b, j] + a[b, j]
        for n in range(B * H):  # flat over all rows, so that it fills vectors whatever H
            hn_flat[n] = tanh(pre[n])
        o, prev = t % n_out, (t - 1) % n_out
        for b in range(B):
            if (not has_mask) or mask[t, b] != 0:
                for j in range(H):
                    S[nxt, b, j] = hn[b, j]
                    out[o, b, j] = hn[b, j]
            else:
                for j in range(H):
                    S[nxt, b, j] = h[b, j]
                    out[o, b, j] = 0 if (zero_output or t == 0) else out[prev, b, j]


@njit(cache=True, error_model="numpy", nogil=True)
def simple_rnn_backward_loop(S, R, mask, d_out, dh, zero_output, dA):
    """S (T+1, B, H) the states (S[t+1] is the step's tanh output at a valid step); fills
    dA (T, B, H) with the gradients of the pre-activations; dh ends as that of h0."""
    T, B, H = dA.shape
    dt = dA.dtype
    RT = np.ascontiguousarray(R.T)
    RTp, width = _pack_for_steps(RT, B, T)  # packed once for all steps, or size 0
    d_next = np.zeros((B, H), dt)
    dnew = np.empty((B, H), dt)
    keep_grad = np.empty((B, H), dt)
    back = _gemm.aligned_empty(B * width, dA).reshape((B, width))
    for t in range(T - 1, -1, -1):
        _masked_grads(t, mask, d_out, dh, d_next, dnew, keep_grad, zero_output)
        for b in range(B):
            for j in range(H):
                y = S[t + 1, b, j]
                dA[t, b, j] = dnew[b, j] * (1 - y * y)
        _product(dA[t], RT, RTp, back, t % 2 == 0)
        for b in range(B):
            for j in range(H):
                dh[b, j] = back[b, j] + keep_grad[b, j]


@njit(cache=True, error_model="numpy", nogil=True)
def forward_call(x, K, R, b_in, b_rec, h0, mask, dm, z_ready, go_backwards, gru, reset_after,
                 train, zero_output, X, XZ, S, out, Zs, Rs, HHs, RH, mask_tm, seq, last, h_T):
    """One GRU (`gru`) or SimpleRNN forward call, so that a small call crosses into
    compiled code once: x (B, T, D) to time-major processing order X (T, B, D) (times a
    shared input dropout mask dm (B, D), or size 0), XZ = X @ K + b_in in one product
    (`_gemm.product`; unless `z_ready`: per-gate dropout, computed by the caller), the
    loop, then the outputs.

    K (D, nH), R (H, nH), b_in (nH,) or size 0, b_rec (3H,) (zeros when absent), h0 (B, H)
    or size 0, mask (B, T) uint8 or size 0. Buffers: X, XZ, S, out as the loops take them,
    gates Zs, Rs, HHs, RH, mask_tm (T, B) or size 0; all size 0 for a small inference call,
    which allocates its own (less than NumPy arrays and arguments cost). Fills seq
    (B, T, H) in processing order (unless size 0), last (B, H) the last output and h_T
    (B, H) the final state.
    """
    B, T, D = x.shape
    H, G = R.shape
    if S.shape[0] == 0:  # a small inference call: scratch of its own (S has >= 2 steps)
        X = _gemm.aligned_empty(T * B * D, x).reshape((T, B, D))
        XZ = _gemm.aligned_empty(T * B * G, x).reshape((T, B, G))
        S = _gemm.aligned_empty(2 * B * H, x).reshape((2, B, H))
        n_out = T if seq.size > 0 else 2
        out = _gemm.aligned_empty(n_out * B * H, x).reshape((n_out, B, H))
        mask_tm = np.empty((T if mask.size > 0 else 0, B), np.uint8)
    shared_dm = dm.size > 0
    for t in range(T):
        src = T - 1 - t if go_backwards else t
        for b in range(B):
            for d in range(D):
                X[t, b, d] = x[b, src, d] * dm[b, d] if shared_dm else x[b, src, d]
    if not z_ready:
        _gemm.product(X.reshape((T * B, D)), K, XZ.reshape((T * B, G)))
        if b_in.size > 0:
            for t in range(T):
                for b in range(B):
                    for j in range(G):
                        XZ[t, b, j] += b_in[j]
    if mask.size > 0:
        for t in range(T):
            src = T - 1 - t if go_backwards else t
            for b in range(B):
                mask_tm[t, b] = mask[b, src]
    if h0.size == 0:
        S[0] = 0
    else:
        S[0] = h0
    if gru:
        gru_forward_loop(XZ, R, b_rec, S, out, Zs, Rs, HHs, RH, mask_tm, reset_after, train,
                         zero_output)
    else:
        simple_rnn_forward_loop(XZ, R, S, out, mask_tm, train, zero_output)
    if seq.size > 0:
        for b in range(B):
            for t in range(T):
                for j in range(H):
                    seq[b, t, j] = out[t, b, j]
    last[:] = 0
    if T > 0:
        last[:] = out[(T - 1) % out.shape[0]]
    h_T[:] = S[T if train else T % 2]
