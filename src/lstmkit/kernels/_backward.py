"""The fused backward loop (numba): backpropagation through time, step by step.

Mirrors `reference.lstm_sequence_backward`, time-major and in processing order.
Per step (reversed): one elementwise pass computes the pre-activation gradient
dz (B, 4H) from the stored activations A[t] = (i, f, g, o), the carry states
C[t] (before) and C[t+1] (after), and the incoming gradients; then one product
`dz @ recurrent_kernel.T` (packed once, see `_gemm`) carries the gradient to the previous state.
The weight gradients are not summed per step: `dZ` keeps dz for every step and
`lstmkit.kernels._run` turns it into dK, dR and d_bias with single GEMMs.

With sigma = sigmoid and phi = tanh, written with the outputs only:

    dc_tot = dc + dh * o * (1 - tanh(c')^2)
    dz_i = dc_tot * g * i (1 - i)        dz_f = dc_tot * c * f (1 - f)
    dz_g = dc_tot * i * (1 - g^2)        dz_o = dh * tanh(c') * o (1 - o)
    dh_prev = dz @ R.T,  dc_prev = dc_tot * f

Masked steps pass dh and dc through unchanged (the state was frozen) and, unless
`zero_output_for_mask`, pass the output's gradient to the previous output.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import _gemm
from ._math import tanh


@njit(cache=True, error_model="numpy", nogil=True)
def backward_loop(A, C, RT, RgT, mask, rdrop, rmode, d_out, dh, dc, dZ, zero_output):
    """Fill dZ (T, B, 4H); dh, dc (B, H) enter as the final-state gradients and leave
    as the gradients of h0, c0.

    A (T, B, 4H) activations i, f, g, o; C (T+1, B, H) carry states (C[0] = c0).
    RT (4H, H) = recurrent_kernel.T (contiguous); RgT (4, H, H) its gate blocks
        transposed (used when rmode == 2).
    mask (T, B) uint8 or size 0. rdrop: (1, B, H) (rmode 1) or (4, B, H) (rmode 2).
    d_out (B, T, H) gradient of the outputs (processing order), or size 0.
    """
    T, B, G4 = A.shape
    H = G4 // 4
    has_mask = mask.size > 0
    has_dout = d_out.size > 0
    d_next = np.zeros((B, H), A.dtype)  # gradient reaching out_t through out_{t+1}
    dhr = np.empty((B, H), A.dtype)
    dzk = np.empty((B, H), A.dtype)
    drow = np.empty(G4, A.dtype)  # one row's dz
    tcb = np.empty(H, A.dtype)  # one row's tanh(c')
    one = np.ones(1, A.dtype)[0]  # a typed 1: a literal 1 would promote float32 to float64
    RTp = _gemm.packed_for(RT, B) if rmode != 2 else np.empty(0, A.dtype)
    for t in range(T - 1, -1, -1):
        dZt = dZ[t]
        # Direct indexing, no per-row views: a view costs reference counting per row.
        for b in range(B):
            if has_dout:  # d_next becomes the output's whole gradient g_out
                for j in range(H):
                    d_next[b, j] += d_out[b, t, j]
            if has_mask and mask[t, b] == 0:  # frozen state: dh, dc pass through; dz = 0
                for j in range(G4):
                    dZ[t, b, j] = 0
                if zero_output:
                    for j in range(H):
                        d_next[b, j] = 0
                continue
            for j in range(H):  # tanh(c') first: inlined in the loop below it costs 3x more
                tcb[j] = tanh(C[t + 1, b, j])
            for j in range(H):  # no branch inside, so that LLVM vectorizes it
                dh_new = dh[b, j] + d_next[b, j]
                i, f = A[t, b, j], A[t, b, H + j]
                g, o = A[t, b, 2 * H + j], A[t, b, 3 * H + j]
                tc = tcb[j]
                dct = dc[b, j] + dh_new * o * (one - tc * tc)
                drow[j] = dct * g * (i * (one - i))  # into a row buffer: stores into dZ
                drow[H + j] = dct * C[t, b, j] * (f * (one - f))  # would alias the loads
                drow[2 * H + j] = dct * i * (one - g * g)
                drow[3 * H + j] = dh_new * tc * (o * (one - o))
                dc[b, j] = dct * f
            for j in range(H):
                dh[b, j] = 0
                d_next[b, j] = 0
            for j in range(G4):
                dZ[t, b, j] = drow[j]
        # dh_prev = dz @ R.T (+ the passed-through part already in dh)
        if rmode == 2:
            for k in range(4):
                for b in range(B):
                    for j in range(H):
                        dzk[b, j] = dZt[b, k * H + j]
                np.dot(dzk, RgT[k], dhr)
                for b in range(B):
                    for j in range(H):
                        dh[b, j] += dhr[b, j] * rdrop[k, b, j]
        else:
            _gemm.step_product(dZt, RT, RTp, dhr)
            if rmode == 1:
                for b in range(B):
                    for j in range(H):
                        dh[b, j] += dhr[b, j] * rdrop[0, b, j]
            else:
                for b in range(B):
                    for j in range(H):
                        dh[b, j] += dhr[b, j]
