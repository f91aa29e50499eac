"""Triton forward kernel shared by causal Based, non-causal Based and prefix linear attention.

Glossary: B batch, T time, Te encoder length, H heads, F feature dim (FP: F padded to a power of
two >= 16), D value head dim (DP: padded, DB: the block of D one program holds), BT chunk length,
E = 1 + F + F^2.

One program owns one (batch, head, D-block) and walks the sequence chunk by chunk, holding the
linear-attention state in registers in the Taylor basis, never materialising phi in memory:

    s0 [DB]        = sum_j v_j                      z0 (scalar) = number of tokens
    s1 [FP, DB]    = sum_j k1_j v_j^T               z1 [FP]     = sum_j k1_j,   k1 = k / F^(1/4)
    s2 [FP*FP, DB] = sum_j k2_j v_j^T               z2 [FP*FP]  = sum_j k2_j,   k2 = vec(k k^T) / sqrt(2F)

so that phi(q) . state = s0 + q1 s1 + q2 s2 and phi(q) . phi(k) = 1 + s + s^2 / 2, s = q.k/sqrt(F).

Passes inside one launch:
1. optional encoder pass (HAS_ENC): add the first prefix_len[b] tokens of (ke, ve) to the state
   (non-causal: no outputs);
2. output pass over q (and k, v when CAUSAL): y_i = (intra-chunk causal part + phi(q_i) . state) /
   (same with v -> 1 + eps), then the chunk is added to the state. With CAUSAL=False the state is
   fixed (non-causal Based: the encoder pass has read the whole sequence).
The final state and the normaliser den [B, T, H] (for the backward pass) are written out.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _outer(x, BT: tl.constexpr, FP: tl.constexpr):
    """[BT, FP] -> [BT, FP*FP]: row-wise vec(x x^T) (a-major: index a*FP + b)."""
    return tl.reshape(x[:, :, None] * x[:, None, :], (BT, FP * FP))


@triton.jit
def features(x, scale1, scale2, BT: tl.constexpr, FP: tl.constexpr):
    """First- and second-order Taylor features of x [BT, FP], in x's dtype:
    x1 = x / F^(1/4) [BT, FP], x2 = vec(x x^T) / sqrt(2F) [BT, FP*FP]."""
    xf = x.to(tl.float32)
    return (xf * scale1).to(x.dtype), (_outer(xf, BT, FP) * scale2).to(x.dtype)


@triton.jit
def accumulate(
    k,
    v,
    s0,
    s1,
    s2,
    z0,
    z1,
    z2,
    n_valid,
    scale1,
    scale2,
    BT: tl.constexpr,
    FP: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """Add a chunk (k [BT, FP], v [BT, DB], zero beyond n_valid rows) to the state."""
    k1, k2 = features(k, scale1, scale2, BT, FP)
    s0 += tl.sum(v.to(tl.float32), axis=0)
    s1 += tl.dot(tl.trans(k1), v, input_precision=PRECISION)
    s2 += tl.dot(tl.trans(k2), v, input_precision=PRECISION)
    z0 += n_valid.to(tl.float32)
    z1 += tl.sum(k1.to(tl.float32), axis=0)
    z2 += tl.sum(k2.to(tl.float32), axis=0)
    return s0, s1, s2, z0, z1, z2


@triton.jit
def load_rows(ptr, row0, n_rows, row_stride, cols, n_cols, BT: tl.constexpr):
    """Load rows [row0, row0+BT) (masked at n_rows) and columns `cols` (masked at n_cols)."""
    rows = row0 + tl.arange(0, BT)
    mask = (rows[:, None] < n_rows) & (cols[None, :] < n_cols)
    return tl.load(ptr + rows[:, None].to(tl.int64) * row_stride + cols[None, :], mask=mask, other=0.0)


@triton.jit
def load_state(S_PTR, Z_PTR, dcols, F: tl.constexpr, FP: tl.constexpr, D: tl.constexpr):
    """Load one (batch, head)'s state from the expanded layout kv [E, D], z [E] (fp32) into the
    register layout s0 [DB], s1 [FP, DB], s2 [FP*FP, DB], z0 [1], z1 [FP], z2 [FP*FP]."""
    fcols = tl.arange(0, FP)
    ffcols = tl.arange(0, FP * FP)
    fa = ffcols // FP
    fb = ffcols % FP
    ffmask = (fa < F) & (fb < F)
    dmask = dcols < D
    s0 = tl.load(S_PTR + dcols, mask=dmask, other=0.0)
    s1 = tl.load(
        S_PTR + (1 + fcols[:, None]) * D + dcols[None, :],
        mask=(fcols[:, None] < F) & dmask[None, :],
        other=0.0,
    )
    s2 = tl.load(
        S_PTR + (1 + F + fa * F + fb)[:, None] * D + dcols[None, :],
        mask=ffmask[:, None] & dmask[None, :],
        other=0.0,
    )
    z0 = tl.load(Z_PTR + tl.zeros((1,), dtype=tl.int32))
    z1 = tl.load(Z_PTR + 1 + fcols, mask=fcols < F, other=0.0)
    z2 = tl.load(Z_PTR + 1 + F + fa * F + fb, mask=ffmask, other=0.0)
    return s0, s1, s2, z0, z1, z2


@triton.jit
def store_state(
    S_PTR, Z_PTR, s0, s1, s2, z0, z1, z2, dcols, store_z, F: tl.constexpr, FP: tl.constexpr, D: tl.constexpr
):
    """Inverse of :func:`load_state` (z only where ``store_z``: one D-block writes it)."""
    fcols = tl.arange(0, FP)
    ffcols = tl.arange(0, FP * FP)
    fa = ffcols // FP
    fb = ffcols % FP
    ffmask = (fa < F) & (fb < F)
    dmask = dcols < D
    tl.store(S_PTR + dcols, s0, mask=dmask)
    tl.store(
        S_PTR + (1 + fcols[:, None]) * D + dcols[None, :], s1, mask=(fcols[:, None] < F) & dmask[None, :]
    )
    tl.store(
        S_PTR + (1 + F + fa * F + fb)[:, None] * D + dcols[None, :], s2, mask=ffmask[:, None] & dmask[None, :]
    )
    if store_z:
        tl.store(Z_PTR + tl.zeros((1,), dtype=tl.int32), z0)
        tl.store(Z_PTR + 1 + fcols, z1, mask=fcols < F)
        tl.store(Z_PTR + 1 + F + fa * F + fb, z2, mask=ffmask)


@triton.jit
def based_fwd_kernel(
    Q,
    K,
    V,
    KE,
    VE,
    PREFIX,
    S_INIT,
    Z_INIT,  # inputs
    O,
    DEN,
    S_OUT,
    Z_OUT,  # outputs
    T,
    TE,
    H,
    scale1,
    scale2,
    eps,
    F: tl.constexpr,
    FP: tl.constexpr,
    D: tl.constexpr,
    DB: tl.constexpr,
    BT: tl.constexpr,
    HAS_INIT: tl.constexpr,
    HAS_ENC: tl.constexpr,
    CAUSAL: tl.constexpr,
    STORE_STATE: tl.constexpr,
    PRECISION: tl.constexpr,
):
    pid_d = tl.program_id(0)
    pid_bh = tl.program_id(1)
    b = pid_bh // H
    h = pid_bh % H
    E: tl.constexpr = 1 + F + F * F

    fcols = tl.arange(0, FP)
    dcols = pid_d * DB + tl.arange(0, DB)
    dmask = dcols < D

    # per-(b, h) base pointers; rows are time steps with stride H * F (or H * D)
    bh_qk = (b.to(tl.int64) * T * H + h) * F
    bh_v = (b.to(tl.int64) * T * H + h) * D
    row_qk = H * F
    row_v = H * D

    st_base = pid_bh.to(tl.int64) * E * D
    zt_base = pid_bh.to(tl.int64) * E
    s0 = tl.zeros((DB,), dtype=tl.float32)
    s1 = tl.zeros((FP, DB), dtype=tl.float32)
    s2 = tl.zeros((FP * FP, DB), dtype=tl.float32)
    z0 = tl.zeros((1,), dtype=tl.float32)
    z1 = tl.zeros((FP,), dtype=tl.float32)
    z2 = tl.zeros((FP * FP,), dtype=tl.float32)
    if HAS_INIT:
        s0, s1, s2, z0, z1, z2 = load_state(S_INIT + st_base, Z_INIT + zt_base, dcols, F, FP, D)

    if HAS_ENC:
        n_enc = tl.load(PREFIX + b)
        be_qk = (b.to(tl.int64) * TE * H + h) * F
        be_v = (b.to(tl.int64) * TE * H + h) * D
        for start in range(0, n_enc, BT):
            ke = load_rows(KE + be_qk, start, n_enc, row_qk, fcols, F, BT)
            ve = load_rows(VE + be_v, start, n_enc, row_v, dcols, D, BT)
            s0, s1, s2, z0, z1, z2 = accumulate(
                ke,
                ve,
                s0,
                s1,
                s2,
                z0,
                z1,
                z2,
                tl.minimum(n_enc - start, BT),
                scale1,
                scale2,
                BT,
                FP,
                PRECISION,
            )

    rows_local = tl.arange(0, BT)
    causal_mask = rows_local[:, None] >= rows_local[None, :]
    for start in range(0, T, BT):
        q = load_rows(Q + bh_qk, start, T, row_qk, fcols, F, BT)
        q1, q2 = features(q, scale1, scale2, BT, FP)
        # inter-chunk part: phi(q) . state
        num = s0[None, :] + tl.dot(q1, s1.to(q.dtype), input_precision=PRECISION)
        num += tl.dot(q2, s2.to(q.dtype), input_precision=PRECISION)
        den = z0 + tl.sum(q1.to(tl.float32) * z1[None, :], axis=1)
        den += tl.sum(q2.to(tl.float32) * z2[None, :], axis=1)
        if CAUSAL:
            k = load_rows(K + bh_qk, start, T, row_qk, fcols, F, BT)
            v = load_rows(V + bh_v, start, T, row_v, dcols, D, BT)
            s = tl.dot(q, tl.trans(k), input_precision=PRECISION) * (scale1 * scale1)
            p = tl.where(causal_mask, 1.0 + s + 0.5 * s * s, 0.0)
            num += tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
            den += tl.sum(p, axis=1)
            s0, s1, s2, z0, z1, z2 = accumulate(
                k, v, s0, s1, s2, z0, z1, z2, tl.minimum(T - start, BT), scale1, scale2, BT, FP, PRECISION
            )
        y = num / (den[:, None] + eps)
        rows = start + rows_local
        rmask = rows < T
        tl.store(
            O + bh_v + rows[:, None].to(tl.int64) * row_v + dcols[None, :],
            y.to(O.dtype.element_ty),
            mask=rmask[:, None] & dmask[None, :],
        )
        if pid_d == 0:
            tl.store(DEN + (b.to(tl.int64) * T + rows) * H + h, den, mask=rmask)

    if STORE_STATE:
        store_state(S_OUT + st_base, Z_OUT + zt_base, s0, s1, s2, z0, z1, z2, dcols, pid_d == 0, F, FP, D)


def next_pow2(x: int, minimum: int = 16) -> int:
    """Smallest power of two >= max(x, minimum)."""
    return max(minimum, triton.next_power_of_2(x))
