"""The fused forward loop (numba): per step one BLAS product and one elementwise pass.

Everything here is time-major and in processing order (already reversed for
`go_backwards`): step t reads `Z[t]` (B, 4H), which holds `x_t @ kernel` for
every step, computed by one GEMM before the loop (see `lstmkit.kernels._run`).
Per step:

    zr = h @ recurrent_kernel                      # BLAS (np.dot into a buffer)
    z  = (Z[t] + zr) + bias                        # Keras implementation 2's order
    i, f, g, o = sigma(z_i), sigma(z_f), phi(z_g), sigma(z_o)
    c' = f * c + i * g;  h' = o * phi(c')          # then the mask selects old or new

all in one pass over (B, H). Inference keeps two (B, H) state buffers; training
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

from ._math import sigmoid, tanh


@njit(cache=True, error_model="numpy")
def forward_loop(Z, R, Rg, bias, h0, c0, mask, rdrop, rmode, S, C, out, last, train,
                 zero_output, return_sequences):
    """Run the recurrence. Arrays (time-major, processing order):

    Z (T, B, 4H): x_t @ kernel per step (+ bias already, when bias has size 0);
        overwritten with i, f, g, o when `train`.
    R (H, 4H) recurrent kernel; Rg (4, H, H) its gate blocks (used when rmode == 2).
    bias (4H,) or size 0 (already in Z). h0, c0 (B, H).
    mask (T, B) uint8, or size 0 for no mask.
    rdrop: recurrent dropout, (1, B, H) shared (rmode 1) or (4, B, H) per gate (rmode 2).
    S, C: states; (T+1, B, H) when `train` (S[t] is the state step t starts from),
        else (2, B, H) used alternately.
    out (B, T, H) outputs (written when `return_sequences`); last (B, H) the last output.
    """
    T, B, G4 = Z.shape
    H = G4 // 4
    has_mask = mask.size > 0
    has_bias = bias.size > 0
    zr = np.empty((B, G4), Z.dtype)
    hm = np.empty((B, H), Z.dtype)
    zk = np.empty((B, H), Z.dtype)
    act = np.empty(G4, Z.dtype)  # one row's activations; stored into Z[t] when training
    S[0] = h0
    C[0] = c0
    last[:] = 0  # the carried output starts at zeros (TF/torch `rnn()`)
    for t in range(T):
        cur = t if train else t % 2
        nxt = t + 1 if train else (t + 1) % 2
        h, c = S[cur], C[cur]
        h_new, c_new = S[nxt], C[nxt]
        if rmode == 0:
            np.dot(h, R, zr)  # (B, 4H)
        elif rmode == 1:
            for b in range(B):
                for j in range(H):
                    hm[b, j] = h[b, j] * rdrop[0, b, j]
            np.dot(hm, R, zr)
        else:  # implementation 1: one recurrent dropout mask per gate
            for k in range(4):
                for b in range(B):
                    for j in range(H):
                        hm[b, j] = h[b, j] * rdrop[k, b, j]
                np.dot(hm, Rg[k], zk)
                for b in range(B):
                    for j in range(H):
                        zr[b, k * H + j] = zk[b, j]
        zt = Z[t]
        for b in range(B):
            valid = (not has_mask) or mask[t, b] != 0
            zb, rb = zt[b], zr[b]
            hb, cb, hn, cn, lb = h[b], c[b], h_new[b], c_new[b], last[b]
            for j in range(H):
                zi = zb[j] + rb[j]
                zf = zb[H + j] + rb[H + j]
                zg = zb[2 * H + j] + rb[2 * H + j]
                zo = zb[3 * H + j] + rb[3 * H + j]
                if has_bias:
                    zi += bias[j]
                    zf += bias[H + j]
                    zg += bias[2 * H + j]
                    zo += bias[3 * H + j]
                i = sigmoid(zi)
                f = sigmoid(zf)
                g = tanh(zg)
                o = sigmoid(zo)
                act[j] = i  # not into zb: a store where the loop reads stops LLVM
                act[H + j] = f  # from vectorizing it
                act[2 * H + j] = g
                act[3 * H + j] = o
                c2 = f * cb[j] + i * g
                cn[j] = c2
                hn[j] = o * tanh(c2)
            # The mask is applied after the pass, so that the pass has no branch.
            if valid:
                lb[:] = hn
            else:  # a masked step keeps the state; the output repeats or is zero
                hn[:] = hb
                cn[:] = cb
                if zero_output:
                    lb[:] = 0
            if train:
                zb[:] = act
            if return_sequences:
                for j in range(H):
                    out[b, t, j] = lb[j]
