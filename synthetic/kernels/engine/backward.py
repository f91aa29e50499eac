"""The backward kernels of the engine (symbols: docs/synthetic/glossary.md; the kernels' names,
feature split and state layout: blocks.py).

With y_i = num_i / (den_i + eps), the upstream gradient dy enters through
    g_i = dy_i / (den_i + eps)   [D]        h_i = -(dy_i . y_i) / (den_i + eps)   (scalar)
and every pair (i, j) with j visible from i contributes dP_ij = g_i . v_j + h_i to the kernel
value P_ij = 1 + s + s^2/2 (s = q_i . k_j / sqrt(F)), whose derivative in s is 1 + s.

Feature VJPs use the u / w split of blocks.py.

- :func:`based_bwd_dq_kernel` walks the chunks forward with the forward state (recomputed, starting
  from the forward's segment start states: initial + encoder state + earlier segments) and writes
  dq; segments run in parallel like the forward.
- :func:`based_bwd_dkv_kernel` walks the chunks backward with the reverse state
  R = sum_{later i} phi(q_i) g_i^T, Rz = sum_{later i} phi(q_i) h_i, writes dk and dv; at the end R
  is the gradient of the initial state, from which it also writes d(k_enc), d(v_enc).
- :func:`based_bwd_enc_kernel` (opt-in, READTWICE_EXPERIMENTAL=1): d(k_enc), d(v_enc) as a
  parallel map over encoder segments from the stored final reverse state, instead of the loop at
  the end of the reverse walk.

dq and dk contract over the whole value dim D, so programs that own one D-block write partial sums
into a [NDB, ...] fp32 buffer that the launcher sums (deterministic; no atomics). The h-terms are
added by D-block 0 only.
"""

from __future__ import annotations

import triton
import triton.language as tl

from synthetic.kernels.engine.blocks import (
    accumulate,
    features,
    load_kernel_state,
    load_rows,
    selectors,
    start_state,
    store_kernel_state,
    store_state,
)


@triton.jit
def feature_vjp(
    du,
    dw,
    x,
    xu,
    xa,
    xb,
    sel_u,
    sel_a,
    sel_b,
    scale1,
    scale_d,
    scale_w,
    F: tl.constexpr,
    W1: tl.constexpr,
    SEL_PRECISION: tl.constexpr,
):
    """Given dL/du [BT, W1] and dL/dw [BT, W2] (fp32) at x [BT, FP] (with its gathered columns
    xu, xa, xb from :func:`features`), return dL/dx [BT, FP] (fp32). The scatter back to x's
    columns is a dot with the transposed one-hot selectors."""
    ucol = tl.arange(0, W1)
    gu = du * tl.where(ucol[None, :] < F, scale1, 2.0 * xu * scale_d)
    dx = tl.dot(gu.to(x.dtype), tl.trans(sel_u), input_precision=SEL_PRECISION)
    dx += tl.dot((dw * xb * scale_w).to(x.dtype), tl.trans(sel_a), input_precision=SEL_PRECISION)
    dx += tl.dot((dw * xa * scale_w).to(x.dtype), tl.trans(sel_b), input_precision=SEL_PRECISION)
    return dx


@triton.jit
def state_grads(
    x,
    v,
    r0,
    ru,
    rw,
    rzu,
    rzw,
    sel_u,
    sel_a,
    sel_b,
    scale1,
    scale_d,
    scale_w,
    F: tl.constexpr,
    W1: tl.constexpr,
    PRECISION: tl.constexpr,
    SEL_PRECISION: tl.constexpr,
):
    """Gradients of key rows x [BT, FP] and value rows v [BT, DB] through the queries summarised in
    the reverse state (r0, ru, rw; rzu, rzw): returns (dv [BT, DB], dx [BT, FP]) in fp32."""
    xu_f, xw_f, xu, xa, xb = features(x, sel_u, sel_a, sel_b, scale1, scale_d, scale_w, F, W1, SEL_PRECISION)
    dv = r0[None, :] + tl.dot(xu_f.to(x.dtype), ru.to(x.dtype), input_precision=PRECISION)
    dv += tl.dot(xw_f.to(x.dtype), rw.to(x.dtype), input_precision=PRECISION)
    du = tl.dot(v, tl.trans(ru.to(v.dtype)), input_precision=PRECISION) + rzu[None, :]
    dw = tl.dot(v, tl.trans(rw.to(v.dtype)), input_precision=PRECISION) + rzw[None, :]
    dx = feature_vjp(
        du, dw, x, xu, xa, xb, sel_u, sel_a, sel_b, scale1, scale_d, scale_w, F, W1, SEL_PRECISION
    )
    return dv, dx


@triton.jit
def based_bwd_dq_kernel(
    Q,
    K,
    V,
    START,
    ZSTART,
    PA,
    PB,
    G,
    HH,  # inputs (G = g [B,T,H,D], HH = h [B,T,H]; START, ZSTART: the forward's segment starts)
    DQ,  # output: partial dq [NDB, B, T, H, F] fp32
    B,
    T,
    H,
    SEG,
    NSTART,
    scale1,
    scale_d,
    scale_w,
    F: tl.constexpr,
    FP: tl.constexpr,
    W1: tl.constexpr,
    W2: tl.constexpr,
    D: tl.constexpr,
    DB: tl.constexpr,
    BT: tl.constexpr,
    HAS_START: tl.constexpr,
    CAUSAL: tl.constexpr,
    PRECISION: tl.constexpr,
    SEL_PRECISION: tl.constexpr,
):
    # float arguments may arrive as fp64 (torch.compile's launcher): keep the arithmetic fp32
    scale1, scale_d, scale_w = (
        tl.cast(scale1, tl.float32),
        tl.cast(scale_d, tl.float32),
        tl.cast(scale_w, tl.float32),
    )
    pid_d = tl.program_id(0)
    pid_s = tl.program_id(1)
    pid_bh = tl.program_id(2)
    b = pid_bh // H
    h = pid_bh % H
    fcols = tl.arange(0, FP)
    dcols = pid_d * DB + tl.arange(0, DB)
    hscale = (pid_d == 0).to(tl.float32)  # h-terms counted once, by D-block 0
    sel_u, sel_a, sel_b = selectors(PA, PB, F, FP, W1, W2, Q.dtype.element_ty)

    bh_qk = (b.to(tl.int64) * T * H + h) * F
    bh_v = (b.to(tl.int64) * T * H + h) * D
    bh_h = b.to(tl.int64) * T * H + h
    row_qk = H * F
    row_v = H * D
    dq_base = ((pid_d.to(tl.int64) * B + b) * T * H + h) * F

    s0, su, sw, z0, zu, zw = start_state(
        START, ZSTART, pid_bh, pid_s, NSTART, dcols, HAS_START, DB, W1, W2, D
    )

    rows_local = tl.arange(0, BT)
    causal_mask = rows_local[:, None] >= rows_local[None, :]
    seg_start = pid_s * SEG
    for start in range(seg_start, tl.minimum(seg_start + SEG, T), BT):
        rows = start + rows_local
        rmask = rows < T
        q = load_rows(Q + bh_qk, start, T, row_qk, fcols, F, BT)
        g = load_rows(G + bh_v, start, T, row_v, dcols, D, BT)
        hh = tl.load(HH + bh_h + rows.to(tl.int64) * H, mask=rmask, other=0.0) * hscale
        # inter-chunk: d/dq of phi(q) . (S g + z h)
        _, _, xu, xa, xb = features(q, sel_u, sel_a, sel_b, scale1, scale_d, scale_w, F, W1, SEL_PRECISION)
        du = tl.dot(g, tl.trans(su.to(g.dtype)), input_precision=PRECISION) + hh[:, None] * zu[None, :]
        dw = tl.dot(g, tl.trans(sw.to(g.dtype)), input_precision=PRECISION) + hh[:, None] * zw[None, :]
        dq = feature_vjp(
            du, dw, q, xu, xa, xb, sel_u, sel_a, sel_b, scale1, scale_d, scale_w, F, W1, SEL_PRECISION
        )
        if CAUSAL:
            k = load_rows(K + bh_qk, start, T, row_qk, fcols, F, BT)
            v = load_rows(V + bh_v, start, T, row_v, dcols, D, BT)
            s = tl.dot(q, tl.trans(k), input_precision=PRECISION) * (scale1 * scale1)
            dp = tl.dot(g, tl.trans(v), input_precision=PRECISION) + hh[:, None]
            ds = tl.where(causal_mask, dp * (1.0 + s), 0.0) * (scale1 * scale1)
            dq += tl.dot(ds.to(k.dtype), k, input_precision=PRECISION)
            ku, kw, _, _, _ = features(k, sel_u, sel_a, sel_b, scale1, scale_d, scale_w, F, W1, SEL_PRECISION)
            s0, su, sw, z0, zu, zw = accumulate(
                ku, kw, v, s0, su, sw, z0, zu, zw, tl.minimum(T - start, BT), PRECISION
            )
        tl.store(
            DQ + dq_base + rows[:, None].to(tl.int64) * row_qk + fcols[None, :],
            dq,
            mask=rmask[:, None] & (fcols[None, :] < F),
        )


@triton.jit
def encoder_grads(
    KE,
    VE,
    DKE,
    DVE,
    b,
    h,
    pid_d,
    B,
    TE,
    H,
    lo,
    hi,
    r0,
    ru,
    rw,
    rzu,
    rzw,
    sel_u,
    sel_a,
    sel_b,
    scale1,
    scale_d,
    scale_w,
    dcols,
    F: tl.constexpr,
    FP: tl.constexpr,
    W1: tl.constexpr,
    D: tl.constexpr,
    BT: tl.constexpr,
    PRECISION: tl.constexpr,
    SEL_PRECISION: tl.constexpr,
):
    """Write d(v_enc) and this D-block's partial d(k_enc) for the encoder tokens [lo, hi) of one
    (batch, head) from the final reverse state (every encoder token sees all decoder queries)."""
    fcols = tl.arange(0, FP)
    dmask = dcols < D
    row_qk = H * F
    row_v = H * D
    be_qk = (b.to(tl.int64) * TE * H + h) * F
    be_v = (b.to(tl.int64) * TE * H + h) * D
    dke_base = ((pid_d.to(tl.int64) * B + b) * TE * H + h) * F
    rows_local = tl.arange(0, BT)
    for start in range(lo, hi, BT):
        rows = start + rows_local
        emask = rows < hi
        ke = load_rows(KE + be_qk, start, hi, row_qk, fcols, F, BT)
        ve = load_rows(VE + be_v, start, hi, row_v, dcols, D, BT)
        dve, dke = state_grads(
            ke,
            ve,
            r0,
            ru,
            rw,
            rzu,
            rzw,
            sel_u,
            sel_a,
            sel_b,
            scale1,
            scale_d,
            scale_w,
            F,
            W1,
            PRECISION,
            SEL_PRECISION,
        )
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


@triton.jit
def based_bwd_dkv_kernel(
    Q,
    K,
    V,
    KE,
    VE,
    PREFIX,
    PA,
    PB,
    G,
    HH,  # inputs
    DK,
    DV,
    DKE,
    DVE,
    DS_INIT,
    DZ_INIT,  # outputs: DK/DKE partial [NDB, B, T(e), H, F] fp32
    REV,
    REVZ,  # output (STORE_REV): the final reverse state, kernel layout [BH, R, D], [BH, R]
    B,
    T,
    TE,
    H,
    scale1,
    scale_d,
    scale_w,
    F: tl.constexpr,
    FP: tl.constexpr,
    W1: tl.constexpr,
    W2: tl.constexpr,
    D: tl.constexpr,
    DB: tl.constexpr,
    BT: tl.constexpr,
    HAS_ENC: tl.constexpr,
    CAUSAL: tl.constexpr,
    STORE_DINIT: tl.constexpr,
    STORE_REV: tl.constexpr,
    PRECISION: tl.constexpr,
    SEL_PRECISION: tl.constexpr,
):
    # float arguments may arrive as fp64 (torch.compile's launcher): keep the arithmetic fp32
    scale1, scale_d, scale_w = (
        tl.cast(scale1, tl.float32),
        tl.cast(scale_d, tl.float32),
        tl.cast(scale_w, tl.float32),
    )
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
    sel_u, sel_a, sel_b = selectors(PA, PB, F, FP, W1, W2, Q.dtype.element_ty)

    bh_qk = (b.to(tl.int64) * T * H + h) * F
    bh_v = (b.to(tl.int64) * T * H + h) * D
    bh_h = b.to(tl.int64) * T * H + h
    row_qk = H * F
    row_v = H * D
    dk_base = ((pid_d.to(tl.int64) * B + b) * T * H + h) * F

    # reverse state: R = sum phi(q_i) g_i^T (this D-block), Rz = sum phi(q_i) h_i
    r0 = tl.zeros((DB,), dtype=tl.float32)
    ru = tl.zeros((W1, DB), dtype=tl.float32)
    rw = tl.zeros((W2, DB), dtype=tl.float32)
    rz0 = tl.zeros((1,), dtype=tl.float32)
    rzu = tl.zeros((W1,), dtype=tl.float32)
    rzw = tl.zeros((W2,), dtype=tl.float32)

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
            dv_inter, dk_inter = state_grads(
                k,
                v,
                r0,
                ru,
                rw,
                rzu,
                rzw,
                sel_u,
                sel_a,
                sel_b,
                scale1,
                scale_d,
                scale_w,
                F,
                W1,
                PRECISION,
                SEL_PRECISION,
            )
            dv += dv_inter
            dk += dk_inter
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
        qu, qw, _, _, _ = features(q, sel_u, sel_a, sel_b, scale1, scale_d, scale_w, F, W1, SEL_PRECISION)
        r0 += tl.sum(g.to(tl.float32), axis=0)
        ru += tl.dot(tl.trans(qu.to(g.dtype)), g, input_precision=PRECISION)
        rw += tl.dot(tl.trans(qw.to(g.dtype)), g, input_precision=PRECISION)
        rz0 += tl.sum(hh, axis=0)
        rzu += tl.sum(qu * hh[:, None], axis=0)
        rzw += tl.sum(qw * hh[:, None], axis=0)

    if STORE_DINIT:
        store_state(
            DS_INIT + pid_bh.to(tl.int64) * E * D,
            DZ_INIT + pid_bh.to(tl.int64) * E,
            PA,
            PB,
            r0,
            ru,
            rw,
            rz0,
            rzu,
            rzw,
            dcols,
            first_block,
            F,
            D,
            W1,
            W2,
        )
    if STORE_REV:  # the encoder gradients then run in parallel (based_bwd_enc_kernel)
        rev_base = pid_bh.to(tl.int64) * (1 + W1 + W2)
        store_kernel_state(REV, REVZ, rev_base, r0, ru, rw, rz0, rzu, rzw, dcols, first_block, W1, W2, D)
    elif HAS_ENC:
        n_enc = tl.load(PREFIX + b)
        encoder_grads(
            KE,
            VE,
            DKE,
            DVE,
            b,
            h,
            pid_d,
            B,
            TE,
            H,
            0,
            n_enc,
            r0,
            ru,
            rw,
            rzu,
            rzw,
            sel_u,
            sel_a,
            sel_b,
            scale1,
            scale_d,
            scale_w,
            dcols,
            F,
            FP,
            W1,
            D,
            BT,
            PRECISION,
            SEL_PRECISION,
        )


@triton.jit
def based_bwd_enc_kernel(
    KE,
    VE,
    PREFIX,
    PA,
    PB,
    REV,
    REVZ,  # inputs: the final reverse state of each (batch, head), kernel layout
    DKE,
    DVE,  # outputs: partial d(k_enc) [NDB, B, TE, H, F] fp32, d(v_enc) [B, TE, H, D]
    B,
    TE,
    H,
    SEG,
    scale1,
    scale_d,
    scale_w,
    F: tl.constexpr,
    FP: tl.constexpr,
    W1: tl.constexpr,
    W2: tl.constexpr,
    D: tl.constexpr,
    DB: tl.constexpr,
    BT: tl.constexpr,
    PRECISION: tl.constexpr,
    SEL_PRECISION: tl.constexpr,
):
    """Gradients of the encoder tokens [seg * SEG, (seg + 1) * SEG) (cut at prefix_len[b]) of one
    (batch, head, D-block). Every encoder token sees the same reverse state (all decoder queries),
    so the tokens are independent: a parallel map instead of a walk after the reverse pass."""
    # float arguments may arrive as fp64 (torch.compile's launcher): keep the arithmetic fp32
    scale1, scale_d, scale_w = (
        tl.cast(scale1, tl.float32),
        tl.cast(scale_d, tl.float32),
        tl.cast(scale_w, tl.float32),
    )
    pid_d = tl.program_id(0)
    pid_s = tl.program_id(1)
    pid_bh = tl.program_id(2)
    b = pid_bh // H
    h = pid_bh % H
    R: tl.constexpr = 1 + W1 + W2
    dcols = pid_d * DB + tl.arange(0, DB)
    sel_u, sel_a, sel_b = selectors(PA, PB, F, FP, W1, W2, KE.dtype.element_ty)
    r0, ru, rw, _, rzu, rzw = load_kernel_state(REV, REVZ, pid_bh.to(tl.int64) * R, dcols, W1, W2, D)
    hscale = (pid_d == 0).to(tl.float32)  # the normaliser terms are counted once, by D-block 0
    rzu *= hscale
    rzw *= hscale

    n_enc = tl.load(PREFIX + b)
    seg_start = pid_s * SEG
    seg_end = tl.minimum(seg_start + SEG, n_enc)
    encoder_grads(
        KE,
        VE,
        DKE,
        DVE,
        b,
        h,
        pid_d,
        B,
        TE,
        H,
        seg_start,
        seg_end,
        r0,
        ru,
        rw,
        rzu,
        rzw,
        sel_u,
        sel_a,
        sel_b,
        scale1,
        scale_d,
        scale_w,
        dcols,
        F,
        FP,
        W1,
        D,
        BT,
        PRECISION,
        SEL_PRECISION,
    )
