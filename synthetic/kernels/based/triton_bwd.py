"""Triton backward kernels for Based / prefix linear attention (see triton_fwd.py for the state
layout and glossary).

With y_i = num_i / (den_i + eps), the upstream gradient dy enters through
    g_i = dy_i / (den_i + eps)   [D]        h_i = -(dy_i . y_i) / (den_i + eps)   (scalar)
and every pair (i, j) with j visible from i contributes dP_ij = g_i . v_j + h_i to the kernel
value P_ij = 1 + s + s^2/2 (s = q_i . k_j / sqrt(F)), whose derivative in s is 1 + s.

- :func:`based_bwd_dq_kernel` walks the chunks forward with the forward state (recomputed, starting
  from the initial + encoder state) and writes dq.
- :func:`based_bwd_dkv_kernel` walks the chunks backward with the reverse state
  R = sum_{later i} phi(q_i) g_i^T, Rz = sum_{later i} phi(q_i) h_i, writes dk and dv; at the end R
  is the gradient of the initial state, from which it also writes d(k_enc), d(v_enc).

dq and dk contract over the whole value dim D, so programs that own one D-block write partial sums
into a [NDB, ...] fp32 buffer that the wrapper sums (deterministic; no atomics). The h-terms are
added by D-block 0 only.
"""

from __future__ import annotations

import triton
import triton.language as tl

from synthetic.kernels.based.triton_fwd import accumulate, features, load_rows, load_state, store_state


@triton.jit
def _feature_vjp(u1, u2, x, scale1, scale2, BT: tl.constexpr, FP: tl.constexpr):
    """Given u = dL/dphi(x) split as u1 [BT, FP] (first order) and u2 [BT, FP*FP] (second
    order), return dL/dx [BT, FP] (fp32): u1/F^(1/4) + (U2 + U2^T) x / sqrt(2F)."""
    u2r = tl.reshape(u2, (BT, FP, FP))
    xf = x.to(tl.float32)
    sym = tl.sum(u2r * xf[:, None, :], axis=2) + tl.sum(u2r * xf[:, :, None], axis=1)
    return u1 * scale1 + sym * scale2


@triton.jit
def based_bwd_dq_kernel(
    Q,
    K,
    V,
    KE,
    VE,
    PREFIX,
    S_INIT,
    Z_INIT,
    G,
    HH,  # inputs (G = g [B,T,H,D], HH = h [B,T,H])
    DQ,  # output: partial dq [NDB, B, T, H, F] fp32
    B,
    T,
    TE,
    H,
    scale1,
    scale2,
    F: tl.constexpr,
    FP: tl.constexpr,
    D: tl.constexpr,
    DB: tl.constexpr,
    BT: tl.constexpr,
    HAS_INIT: tl.constexpr,
    HAS_ENC: tl.constexpr,
    CAUSAL: tl.constexpr,
    PRECISION: tl.constexpr,
):
    pid_d = tl.program_id(0)
    pid_bh = tl.program_id(1)
    b = pid_bh // H
    h = pid_bh % H
    E: tl.constexpr = 1 + F + F * F
    fcols = tl.arange(0, FP)
    dcols = pid_d * DB + tl.arange(0, DB)
    first_block = pid_d == 0
    hscale = first_block.to(tl.float32)  # h-terms counted once, by D-block 0

    bh_qk = (b.to(tl.int64) * T * H + h) * F
    bh_v = (b.to(tl.int64) * T * H + h) * D
    bh_h = b.to(tl.int64) * T * H + h
    row_qk = H * F
    row_v = H * D
    dq_base = ((pid_d.to(tl.int64) * B + b) * T * H + h) * F

    s0 = tl.zeros((DB,), dtype=tl.float32)
    s1 = tl.zeros((FP, DB), dtype=tl.float32)
    s2 = tl.zeros((FP * FP, DB), dtype=tl.float32)
    z0 = tl.zeros((1,), dtype=tl.float32)
    z1 = tl.zeros((FP,), dtype=tl.float32)
    z2 = tl.zeros((FP * FP,), dtype=tl.float32)
    if HAS_INIT:
        s0, s1, s2, z0, z1, z2 = load_state(
            S_INIT + pid_bh.to(tl.int64) * E * D, Z_INIT + pid_bh.to(tl.int64) * E, dcols, F, FP, D
        )
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
        rows = start + rows_local
        rmask = rows < T
        q = load_rows(Q + bh_qk, start, T, row_qk, fcols, F, BT)
        g = load_rows(G + bh_v, start, T, row_v, dcols, D, BT)
        hh = tl.load(HH + bh_h + rows.to(tl.int64) * H, mask=rmask, other=0.0) * hscale
        # inter-chunk: d/dq of phi(q) . (S g + z h)
        u1 = tl.dot(g, tl.trans(s1.to(g.dtype)), input_precision=PRECISION) + hh[:, None] * z1[None, :]
        u2 = tl.dot(g, tl.trans(s2.to(g.dtype)), input_precision=PRECISION) + hh[:, None] * z2[None, :]
        dq = _feature_vjp(u1, u2, q, scale1, scale2, BT, FP)
        if CAUSAL:
            k = load_rows(K + bh_qk, start, T, row_qk, fcols, F, BT)
            v = load_rows(V + bh_v, start, T, row_v, dcols, D, BT)
            s = tl.dot(q, tl.trans(k), input_precision=PRECISION) * (scale1 * scale1)
            dp = tl.dot(g, tl.trans(v), input_precision=PRECISION) + hh[:, None]
            ds = tl.where(causal_mask, dp * (1.0 + s), 0.0) * (scale1 * scale1)
            dq += tl.dot(ds.to(k.dtype), k, input_precision=PRECISION)
            s0, s1, s2, z0, z1, z2 = accumulate(
                k, v, s0, s1, s2, z0, z1, z2, tl.minimum(T - start, BT), scale1, scale2, BT, FP, PRECISION
            )
        tl.store(
            DQ + dq_base + rows[:, None].to(tl.int64) * row_qk + fcols[None, :],
            dq,
            mask=rmask[:, None] & (fcols[None, :] < F),
        )


@triton.jit
def based_bwd_dkv_kernel(
    Q,
    K,
    V,
    KE,
    VE,
    PREFIX,
    G,
    HH,  # inputs
    DK,
    DV,
    DKE,
    DVE,
    DS_INIT,
    DZ_INIT,  # outputs: DK/DKE partial [NDB, B, T(e), H, F] fp32
    B,
    T,
    TE,
    H,
    scale1,
    scale2,
    F: tl.constexpr,
    FP: tl.constexpr,
    D: tl.constexpr,
    DB: tl.constexpr,
    BT: tl.constexpr,
    HAS_ENC: tl.constexpr,
    CAUSAL: tl.constexpr,
    STORE_DINIT: tl.constexpr,
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
    first_block = pid_d == 0
    hscale = first_block.to(tl.float32)

    bh_qk = (b.to(tl.int64) * T * H + h) * F
    bh_v = (b.to(tl.int64) * T * H + h) * D
    bh_h = b.to(tl.int64) * T * H + h
    row_qk = H * F
    row_v = H * D
    dk_base = ((pid_d.to(tl.int64) * B + b) * T * H + h) * F

    # reverse state: R = sum phi(q_i) g_i^T (D-block), Rz = sum phi(q_i) h_i
    r0 = tl.zeros((DB,), dtype=tl.float32)
    r1 = tl.zeros((FP, DB), dtype=tl.float32)
    r2 = tl.zeros((FP * FP, DB), dtype=tl.float32)
    rz0 = tl.zeros((1,), dtype=tl.float32)
    rz1 = tl.zeros((FP,), dtype=tl.float32)
    rz2 = tl.zeros((FP * FP,), dtype=tl.float32)

    rows_local = tl.arange(0, BT)
    # transposed causal mask: row j (key), column i (query), visible when j <= i
    causal_t = rows_local[:, None] <= rows_local[None, :]
    n_chunks = tl.cdiv(T, BT)
    for c in range(0, n_chunks):
        start = (n_chunks - 1 - c) * BT
        rows = start + rows_local
        rmask = rows < T
        q = load_rows(Q + bh_qk, start, T, row_qk, fcols, F, BT)
        g = load_rows(G + bh_v, start, T, row_v, dcols, D, BT)
        hh = tl.load(HH + bh_h + rows.to(tl.int64) * H, mask=rmask, other=0.0) * hscale
        if CAUSAL:
            k = load_rows(K + bh_qk, start, T, row_qk, fcols, F, BT)
            v = load_rows(V + bh_v, start, T, row_v, dcols, D, BT)
            # intra-chunk
            st = tl.dot(k, tl.trans(q), input_precision=PRECISION) * (scale1 * scale1)  # [j, i]
            pt = tl.where(causal_t, 1.0 + st + 0.5 * st * st, 0.0)
            dv = tl.dot(pt.to(g.dtype), g, input_precision=PRECISION)
            dpt = tl.dot(v, tl.trans(g), input_precision=PRECISION) + hh[None, :]
            dst = tl.where(causal_t, dpt * (1.0 + st), 0.0) * (scale1 * scale1)
            dk = tl.dot(dst.to(q.dtype), q, input_precision=PRECISION)
            # inter-chunk (queries in later chunks)
            k1, k2 = features(k, scale1, scale2, BT, FP)
            dv += r0[None, :] + tl.dot(k1, r1.to(k.dtype), input_precision=PRECISION)
            dv += tl.dot(k2, r2.to(k.dtype), input_precision=PRECISION)
            u1 = tl.dot(v, tl.trans(r1.to(v.dtype)), input_precision=PRECISION) + rz1[None, :] * hscale
            u2 = tl.dot(v, tl.trans(r2.to(v.dtype)), input_precision=PRECISION) + rz2[None, :] * hscale
            dk += _feature_vjp(u1, u2, k, scale1, scale2, BT, FP)
            tl.store(
                DV + bh_v + rows[:, None].to(tl.int64) * row_v + dcols[None, :],
                dv.to(DV.dtype.element_ty),
                mask=rmask[:, None] & dmask[None, :],
            )
            tl.store(
                DK + dk_base + rows[:, None].to(tl.int64) * row_qk + fcols[None, :],
                dk,
                mask=rmask[:, None] & (fcols[None, :] < F),
            )
        # add this chunk's queries to the reverse state
        q1, q2 = features(q, scale1, scale2, BT, FP)
        r0 += tl.sum(g.to(tl.float32), axis=0)
        r1 += tl.dot(tl.trans(q1), g, input_precision=PRECISION)
        r2 += tl.dot(tl.trans(q2), g, input_precision=PRECISION)
        rz0 += tl.sum(hh, axis=0)
        rz1 += tl.sum(q1.to(tl.float32) * hh[:, None], axis=0)
        rz2 += tl.sum(q2.to(tl.float32) * hh[:, None], axis=0)

    if STORE_DINIT:
        store_state(
            DS_INIT + pid_bh.to(tl.int64) * E * D,
            DZ_INIT + pid_bh.to(tl.int64) * E,
            r0,
            r1,
            r2,
            rz0,
            rz1,
            rz2,
            dcols,
            first_block,
            F,
            FP,
            D,
        )
    if HAS_ENC:
        n_enc = tl.load(PREFIX + b)
        be_qk = (b.to(tl.int64) * TE * H + h) * F
        be_v = (b.to(tl.int64) * TE * H + h) * D
        dke_base = ((pid_d.to(tl.int64) * B + b) * TE * H + h) * F
        for start in range(0, n_enc, BT):
            rows = start + rows_local
            emask = rows < n_enc
            ke = load_rows(KE + be_qk, start, n_enc, row_qk, fcols, F, BT)
            ve = load_rows(VE + be_v, start, n_enc, row_v, dcols, D, BT)
            k1, k2 = features(ke, scale1, scale2, BT, FP)
            dve = r0[None, :] + tl.dot(k1, r1.to(ke.dtype), input_precision=PRECISION)
            dve += tl.dot(k2, r2.to(ke.dtype), input_precision=PRECISION)
            u1 = tl.dot(ve, tl.trans(r1.to(ve.dtype)), input_precision=PRECISION) + rz1[None, :] * hscale
            u2 = tl.dot(ve, tl.trans(r2.to(ve.dtype)), input_precision=PRECISION) + rz2[None, :] * hscale
            dke = _feature_vjp(u1, u2, ke, scale1, scale2, BT, FP)
            tl.store(
                DVE + be_v + rows[:, None].to(tl.int64) * row_v + dcols[None, :],
                dve.to(DVE.dtype.element_ty),
                mask=emask[:, None] & dmask[None, :],
            )
            tl.store(
                DKE + dke_base + rows[:, None].to(tl.int64) * row_qk + fcols[None, :],
                dke,
                mask=emask[:, None] & (fcols[None, :] < F),
            )


__all__ = ["based_bwd_dkv_kernel", "based_bwd_dq_kernel", "triton"]
