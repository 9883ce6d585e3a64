"""The fused forward loop (numba): per step one matrix product and one elementwise pass.

Everything here is time-major and in processing order (already reversed for
`go_backwards`): step t reads `Z[t]` (B, 4H), which holds `x_t @ kernel` for
every step, computed by one GEMM before the loop (`forward_call`; for large steps
`forward_loop` computes Z[t] = [x_t | h] @ [kernel; recurrent_kernel] per step
instead, and zr is zero). Per step:

    zr = h @ recurrent_kernel                      # packed GEMM (`_gemm`) or BLAS
    z  = (Z[t] + zr) + bias                        # Keras implementation 2's order
    i, f, g, o = sigma(z_i), sigma(z_f), phi(z_g), sigma(z_o)
    c' = f * c + i * g;  h' = o * phi(c')          # then the mask selects old or new

all in one pass over (B, H); at inference, where the gates are not kept, i * g and
o * phi(c') take one division each (`_math.sigmoid_tanh`). Inference keeps two (B, H)
state buffers; training
(`train=True`) keeps the states of every step, S and C (T+1, B, H) with S[0] = h0,
and overwrites Z[t] with the activations i, f, g, o that backward needs: the
gate buffer is the pre-activation buffer, so training stores 4 + 2 arrays of
(T, B, H) and nothing else.

Masked steps follow Keras's `rnn()` (keras/src/backend/tensorflow/rnn.py): the
state stays, the output repeats the previous output (zeros before the first
valid step) or is zeros with `zero_output_for_mask`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import _gemm
from ._math import sigmoid, sigmoid_tanh, tanh

#: Below this many units the gates are computed 4H wide, not H wide (see `_small_pass`).
SMALL_H = 16


@njit(cache=True, error_model="numpy", nogil=True)
def _fused_pass(Z, zr, bias, C, S, arow, t, cur, nxt, train, nb):
    """One pass over rows [0, nb) of (B, H): the four gates, c and h of step t (H >= SMALL_H).

    Direct 2-D/3-D indexing, no per-row views: a view costs reference counting.
    """
    H = S.shape[2]
    for b in range(nb):
        for j in range(H):
            i = sigmoid((Z[t, b, j] + zr[b, j]) + bias[j])
            f = sigmoid((Z[t, b, H + j] + zr[b, H + j]) + bias[H + j])
            g = tanh((Z[t, b, 2 * H + j] + zr[b, 2 * H + j]) + bias[2 * H + j])
            o = sigmoid((Z[t, b, 3 * H + j] + zr[b, 3 * H + j]) + bias[3 * H + j])
            arow[j] = i  # not into Z: a store where the loop reads stops LLVM
            arow[H + j] = f  # from vectorizing it
            arow[2 * H + j] = g
            arow[3 * H + j] = o
            C[nxt, b, j] = f * C[cur, b, j] + i * g
        for j in range(H):  # h in a loop of its own: a fifth activation inlined above costs more
            S[nxt, b, j] = arow[3 * H + j] * tanh(C[nxt, b, j])
        if train:
            for j in range(4 * H):
                Z[t, b, j] = arow[j]


@njit(cache=True, error_model="numpy", nogil=True)
def _infer_pass(Z, zr, bias, C, S, t, cur, nxt, nb):
    """`_fused_pass` for inference, where the gates are not kept: i * g and o * tanh(c')
    take one division each (`sigmoid_tanh`), 3 a unit instead of 5."""
    H = S.shape[2]
    for b in range(nb):
        for j in range(H):
            f = sigmoid((Z[t, b, H + j] + zr[b, H + j]) + bias[H + j])
            ig = sigmoid_tanh((Z[t, b, j] + zr[b, j]) + bias[j],
                              (Z[t, b, 2 * H + j] + zr[b, 2 * H + j]) + bias[2 * H + j])
            C[nxt, b, j] = f * C[cur, b, j] + ig
        for j in range(H):  # h in a loop of its own: in the loop above it stops vectorizing
            S[nxt, b, j] = sigmoid_tanh((Z[t, b, 3 * H + j] + zr[b, 3 * H + j]) + bias[3 * H + j],
                                        C[nxt, b, j])


@njit(cache=True, error_model="numpy", nogil=True)
def _small_pass(Z, zr, bias, C, S, act, t, cur, nxt, gs, gm, ga, tc, train, nb):
    """The same for small H, where an H-wide loop would not fill a vector register:
    the gates 4H wide (one sigmoid form for all four), then tanh(c) over all nb*H."""
    B, H = S.shape[1], S.shape[2]
    G4 = 4 * H
    for b in range(nb):
        for j in range(G4):
            act[b, j] = gm[j] * sigmoid(gs[j] * ((Z[t, b, j] + zr[b, j]) + bias[j])) + ga[j]
        for j in range(H):
            C[nxt, b, j] = act[b, H + j] * C[cur, b, j] + act[b, j] * act[b, 2 * H + j]
    cn = C[nxt].reshape(B * H)
    for n in range(nb * H):
        tc[n] = tanh(cn[n])
    for b in range(nb):
        for j in range(H):
            S[nxt, b, j] = act[b, 3 * H + j] * tc[b * H + j]
    if train:
        for b in range(nb):
            for j in range(G4):
                Z[t, b, j] = act[b, j]


#: Padded inference skips the rows past each step's last unmasked row when that spares at
#: least this fraction of the row-steps (sorting the rows costs a copy of x and outputs).
RAGGED_SAVING = 0.125


@njit(cache=True, nogil=True)
def active_rows(mask):
    """(T,) int: per step of mask (T, B) uint8, 1 + the last row that is not masked (0 if
    none). Rows from there on hold their state at that step, so a step computes rows
    [0, active_rows[t]) only; sorting the batch longest first (`_ragged`) makes that the
    rows still running."""
    T, B = mask.shape
    nbs = np.zeros(T, np.int64)
    for t in range(T):
        for b in range(B - 1, -1, -1):
            if mask[t, b] != 0:
                nbs[t] = b + 1
                break
    return nbs


@njit(cache=True, nogil=True)
def rows_per_step(mask, T, B, skip):
    """(T,) int: the rows [0, n) each step computes: all B, or with `skip` (a masked
    inference call whose step products run packed) `active_rows`, when that spares
    RAGGED_SAVING of the row-steps. Packed products compute each row on its own, so the
    rows computed get the bits they get in a call that computes every row (training,
    `lk.trace`). mask (T, B) uint8 (size 0 without a mask: then skip is False)."""
    if skip:
        counted = active_rows(mask)
        if counted.sum() <= (1 - RAGGED_SAVING) * T * B:
            return counted
    return np.full(T, B, np.int64)


@njit(cache=True, error_model="numpy", nogil=True)
def forward_loop(X, K, Z, z_ready, joint, Wp, R, Rg, bias, h0, c0, mask, rdrop, rmode, S, C,
                 out, last, train, zero_output, return_sequences):
    """Run the recurrence. Arrays (time-major, processing order):

    X (T, B, D) inputs, K (D, 4H) kernel: unless `z_ready`, one GEMM fills Z with X @ K.
    Z (T, B, 4H): x_t @ kernel per step; overwritten with i, f, g, o when `train`.
        With `joint` (large products, rmode 0 or 1), each step computes
        Z[t] = [x_t | h] @ [kernel; recurrent_kernel] as ONE packed product instead
        (deeper, so faster, and no input GEMM result for all steps), with Wp
        ((D + H) * 4H,) the buffer that receives the packed weights; Z may then be
        (1, B, 4H) for inference.
    R (H, 4H) recurrent kernel; Rg (4, H, H) its gate blocks (used when rmode == 2).
    bias (4H,) (zeros when there is none or it is already in Z). h0, c0 (B, H) or size 0
        for zeros.
    mask (T, B) uint8, or size 0 for no mask.
    rdrop: recurrent dropout, (1, B, H) shared (rmode 1) or (4, B, H) per gate (rmode 2).
    S, C: states; (T+1, B, H) when `train` (S[t] is the state step t starts from),
        else (2, B, H) used alternately.
    out (B, T, H) outputs (written when `return_sequences`); last (B, H) the last output.

    Masked inference computes each step's product and gates for rows [0, nbs[t]) only,
    the rows after them holding their state (`rows_per_step`).
    """
    T, B, D = X.shape
    H, G4 = R.shape
    has_mask = mask.size > 0
    if joint:  # [kernel; recurrent_kernel] (D + H, 4H), packed once for all steps
        _gemm.pack_rows(K, Wp, D + H, 0)
        _gemm.pack_rows(R, Wp, D + H, D)
        XH = _gemm.aligned_empty(B * (D + H), Z).reshape((B, D + H))  # the step's [x_t | h]
    elif not z_ready:  # all steps' input projections in one GEMM, (T*B, D) @ (D, 4H)
        _gemm.product(X.reshape((T * B, D)), K, Z.reshape((T * B, G4)))
    # The recurrent kernel packed once for all steps' products (see `_gemm`), or size 0.
    Rp = _gemm.packed_for(R, B, T) if rmode != 2 and not joint else np.empty(0, Z.dtype)
    nbs = rows_per_step(mask, T, B, has_mask and not train and rmode == 0 and not z_ready
                        and (joint or Rp.size > 0))
    # Scratch buffers; one size-0 array stands in for those this call does not use (a
    # small call pays for every allocation, and for its reference counting).
    small = H < SMALL_H
    unused = np.empty(0, Z.dtype)
    unused2 = unused.reshape((0, H))
    zr = _gemm.aligned_empty(B * G4, Z).reshape((B, G4))
    hm = np.empty((B, H), Z.dtype) if rmode > 0 else unused2
    zk = np.empty((B, H), Z.dtype) if rmode == 2 else unused2
    act = np.empty((B, G4), Z.dtype) if small else unused2  # the step's activations
    arow = unused if small else np.empty(G4, Z.dtype)  # one row's activations (H >= SMALL_H)
    # For small H: per-column scales so that one sigmoid pass gives all four gates,
    # tanh(z) = 2 sigmoid(2z) - 1 on the candidate block (absolute error ~1e-7).
    gs = gm = ga = tc = unused
    if small:
        gs = np.ones(G4, Z.dtype)
        gm = np.ones(G4, Z.dtype)
        ga = np.zeros(G4, Z.dtype)
        gs[2 * H:3 * H] = 2
        gm[2 * H:3 * H] = 2
        ga[2 * H:3 * H] = -1
        tc = np.empty(B * H, Z.dtype)
    if h0.size == 0:
        S[0] = 0
    else:
        S[0] = h0
    if c0.size == 0:
        C[0] = 0
    else:
        C[0] = c0
    last[:] = 0  # the carried output starts at zeros (TF/torch `rnn()`)
    if joint:
        zr[:] = 0  # Z[t] receives the whole product
    for t in range(T):
        cur = t if train else t % 2
        nxt = t + 1 if train else (t + 1) % 2
        tz = t if Z.shape[0] == T else 0
        nb = nbs[t]
        if joint or rmode > 0 or Rp.size == 0:
            h = S[cur]
        if nb == 0:
            pass  # every row holds its state (the mask below)
        elif nb < B and not joint:  # rmode 0 and Rp packed (`rows_per_step`): rows [0, nb)
            _gemm.matmul(S[cur, :nb], Rp, zr[:nb], t % 2 == 1)
        elif joint:
            for b in range(nb):
                for j in range(D):
                    XH[b, j] = X[t, b, j]
                if rmode == 1:
                    for j in range(H):
                        XH[b, D + j] = h[b, j] * rdrop[0, b, j]
                else:
                    for j in range(H):
                        XH[b, D + j] = h[b, j]
            _gemm.matmul(XH[:nb], Wp, Z[tz, :nb], t % 2 == 1)
        elif rmode == 0 and Rp.size > 0:  # S[cur] @ R, panels zig-zag (no view of S[cur])
            _gemm.matmul_at(S, cur, Rp, zr, t % 2 == 1)
        elif rmode == 0:
            _gemm.step_product(h, R, Rp, zr)  # (B, 4H) by BLAS
        elif rmode == 1:
            for b in range(B):
                for j in range(H):
                    hm[b, j] = h[b, j] * rdrop[0, b, j]
            _gemm.step_product(hm, R, Rp, zr, t % 2 == 1)
        else:  # implementation 1: one recurrent dropout mask per gate
            for k in range(4):
                for b in range(B):
                    for j in range(H):
                        hm[b, j] = h[b, j] * rdrop[k, b, j]
                np.dot(hm, Rg[k], zk)
                for b in range(B):
                    for j in range(H):
                        zr[b, k * H + j] = zk[b, j]
        if H < SMALL_H:
            _small_pass(Z, zr, bias, C, S, act, tz, cur, nxt, gs, gm, ga, tc, train, nb)
        elif train:
            _fused_pass(Z, zr, bias, C, S, arow, tz, cur, nxt, train, nb)
        else:
            _infer_pass(Z, zr, bias, C, S, tz, cur, nxt, nb)
        if not has_mask:  # the output is the new state; `last` is set after the loop
            if return_sequences:
                for b in range(B):
                    for j in range(H):
                        out[b, t, j] = S[nxt, b, j]
            continue
        for b in range(B):
            # The mask is applied after the pass, so that the pass has no branch.
            if mask[t, b] != 0:
                for j in range(H):
                    last[b, j] = S[nxt, b, j]
            else:  # a masked step keeps the state; the output repeats or is zero
                for j in range(H):
                    S[nxt, b, j] = S[cur, b, j]
                    C[nxt, b, j] = C[cur, b, j]
                if zero_output:
                    for j in range(H):
                        last[b, j] = 0
            if return_sequences:
                for j in range(H):
                    out[b, t, j] = last[b, j]
    if not has_mask and T > 0:
        last[:] = S[T if train else T % 2]


@njit(cache=True, nogil=True)
def forward_call(x, kernel, R, bias, h0, c0, mask, dm, rm, go_backwards, zero_output,
                 return_sequences, train, joint, Wp, X, Z, S, C, mask_tm, out, last, h, c):
    """A whole forward call: the processing-order buffers, the input GEMM, the loop.

    One compiled call, so that a small LSTM call pays the Python-to-numba crossing once.
    Parameters, in order: `_run.Inputs` (x (B, T, D), kernel (D, 4H), R (H, 4H), ...),
    `_run.Buffers` (Wp, X, Z, S, C, mask_tm) and `_run.Outputs` (out, last, h, c); their
    docstrings give the shapes. The large buffers come from NumPy (huge pages); for a
    small inference call all six buffers are size-0 stand-ins (S with no steps) and the
    call allocates them itself, which costs less than six NumPy arrays and arguments.
    Fills out, last, h, c and mask_tm (the time-major mask backward needs). Returns
    nothing: returning arrays costs a Python object each.
    """
    B, T, D = x.shape
    H, G4 = R.shape
    dtype = x.dtype
    if S.shape[0] == 0:  # a small inference call: scratch of its own (S has >= 2 steps)
        Wp = _gemm.aligned_empty((D + H) * G4 if joint else 0, x)
        X = _gemm.aligned_empty(T * B * D, x).reshape((T, B, D))
        TZ = 1 if joint else T
        Z = _gemm.aligned_empty(TZ * B * G4, x).reshape((TZ, B, G4))
        S = _gemm.aligned_empty(2 * B * H, x).reshape((2, B, H))
        C = _gemm.aligned_empty(2 * B * H, x).reshape((2, B, H))
        mask_tm = np.empty((T if mask.size > 0 else 0, B), np.uint8)
    shared_dm = dm.size > 0 and dm.shape[0] == 1
    per_gate = (dm.size > 0 and dm.shape[0] == 4) or (rm.size > 0 and rm.shape[0] == 4)
    # X: time-major, processing order, times a shared mask
    for t in range(T):
        src = T - 1 - t if go_backwards else t
        for b in range(B):
            for d in range(D):
                X[t, b, d] = x[b, src, d] * dm[0, b, d] if shared_dm else x[b, src, d]
    if dm.size > 0 and dm.shape[0] == 4:  # implementation 1: each gate's own masked input
        Xk = np.empty((T, B, D), dtype)
        zk = np.empty((T * B, H), dtype)
        for k in range(4):
            for t in range(T):
                for b in range(B):
                    for d in range(D):
                        Xk[t, b, d] = X[t, b, d] * dm[k, b, d]
            np.dot(Xk.reshape((T * B, D)), np.ascontiguousarray(kernel[:, k * H:(k + 1) * H]), zk)
            Z[:, :, k * H:(k + 1) * H] = zk.reshape((T, B, H))
    elif per_gate:  # implementation 1 without input dropout: Z is needed before the bias
        _gemm.product(X.reshape((T * B, D)), kernel, Z.reshape((T * B, G4)))
    bias_arg = _gemm.aligned_empty(G4, x)
    bias_arg[:] = 0
    if bias.size > 0:
        if per_gate:  # implementation 1 adds the bias to x @ kernel, before h @ R
            for t in range(T):
                for b in range(B):
                    for j in range(G4):
                        Z[t, b, j] += bias[j]
        else:  # implementation 2: (x @ K + h @ R) + b, added inside the loop
            bias_arg[:] = bias
    if mask.size > 0:
        for t in range(T):
            src = T - 1 - t if go_backwards else t
            for b in range(B):
                mask_tm[t, b] = mask[b, src]
    rmode = 0 if rm.size == 0 else (2 if rm.shape[0] == 4 else 1)
    Rg = np.empty((0, 0, 0), dtype)
    if rmode == 2:  # (4, H, H): one block per gate i, f, c, o
        Rg = np.ascontiguousarray(R.reshape((H, 4, H)).transpose((1, 0, 2)))
    forward_loop(X, kernel, Z, per_gate, joint, Wp, R, Rg, bias_arg, h0, c0, mask_tm, rm, rmode,
                 S, C, out, last, train, zero_output, return_sequences)
    end = T if train else T % 2
    h[:] = S[end]
    c[:] = C[end]
