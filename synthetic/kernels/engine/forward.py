"""The forward kernel: outputs, normaliser and final state of causal Based, non-causal Based and
prefix linear attention (symbols: docs/synthetic/glossary.md; the kernels' names, feature split
and state layout: blocks.py).

One program owns one (segment, batch x head, D-block) and walks its segment chunk by chunk,
holding the state in registers. It starts from the state its segment starts from (initial state
+ encoder sum + earlier segments, summed before the launch by the parallel state pass, state.py).
Per chunk: y_i = (intra-chunk causal part + phi(q_i) . state) / (the same with v -> 1, + eps);
the chunk then joins the state. With CAUSAL=False the state is fixed (non-causal Based: the state
pass read the whole sequence). The final state (public layout) and the normaliser den [B, T, H]
(for the backward) are written out.

The state is held in one of two layouts; the autotuner picks per shape (autotune.candidate_configs):
* TS=0: rows [W, DB], the chunk's BT rows on the M side of every big dot;
* TS=1: transposed, [DB, W], the value block on the M side (Hopper's warpgroup MMA needs
  M >= 64; the chunk has 32 rows). The faster one on Hopper (bench/NOTES-kernels.md).
"""

from __future__ import annotations

import triton
import triton.language as tl

from synthetic.kernels.engine.blocks import (
    accumulate,
    features,
    load_cols,
    load_rows,
    query_features_t,
    selectors,
    start_state,
    store_state,
)


@triton.jit
def based_fwd_kernel(
    Q,
    K,
    V,
    START,
    ZSTART,
    PA,
    PB,  # inputs
    O,
    DEN,
    S_OUT,
    Z_OUT,  # outputs
    T,
    H,
    SEG,
    NSEG,
    NSTART,
    scale1,
    scale_d,
    scale_w,
    eps,
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
    TS: tl.constexpr = False,
):
    """Outputs of tokens [seg * SEG, (seg + 1) * SEG) of one (batch, head, D-block), starting from
    START[bh, min(seg, NSTART - 1)] (kernel layout; zero without HAS_START). The last segment's
    programs write the final state in the public layout.

    TS (state transposed) holds the state as [DB, W] instead of [W, DB] and writes every big dot
    with the value dimension as its M side:
        y^T [DB, BT] = S^T . phi(q)^T + v^T . P^T,     S^T += v^T . phi(k).
    The state is then the accumulator of the update and the A operand of the read-out, and
    M = DB >= 64 lets Hopper's warpgroup MMA take both (with BT rows on the M side, as without TS,
    they need M = BT >= 64)."""
    # float arguments may arrive as fp64 (torch.compile's launcher): keep the arithmetic fp32
    scale1, scale_d, scale_w, eps = (
        tl.cast(scale1, tl.float32),
        tl.cast(scale_d, tl.float32),
        tl.cast(scale_w, tl.float32),
        tl.cast(eps, tl.float32),
    )
    pid_d = tl.program_id(0)
    pid_s = tl.program_id(1)
    pid_bh = tl.program_id(2)
    b = pid_bh // H
    h = pid_bh % H
    E: tl.constexpr = 1 + F + F * F

    fcols = tl.arange(0, FP)
    dcols = pid_d * DB + tl.arange(0, DB)
    dmask = dcols < D
    sel_u, sel_a, sel_b = selectors(PA, PB, F, FP, W1, W2, Q.dtype.element_ty)

    # per-(b, h) base pointers; rows are time steps with stride H * F (or H * D)
    bh_qk = (b.to(tl.int64) * T * H + h) * F
    bh_v = (b.to(tl.int64) * T * H + h) * D
    row_qk = H * F
    row_v = H * D

    s0, su, sw, z0, zu, zw = start_state(
        START, ZSTART, pid_bh, pid_s, NSTART, dcols, HAS_START, DB, W1, W2, D
    )

    if TS:
        sut = tl.trans(su)
        swt = tl.trans(sw)

        rows_local = tl.arange(0, BT)
        causal_t = rows_local[:, None] <= rows_local[None, :]  # [j, i]: key j visible to query i
        seg_start = pid_s * SEG
        for start in range(seg_start, tl.minimum(seg_start + SEG, T), BT):
            qt = load_cols(Q + bh_qk, start, T, row_qk, fcols, F, BT)
            qut, qwt = query_features_t(
                qt, sel_u, sel_a, sel_b, scale1, scale_d, scale_w, F, W1, SEL_PRECISION
            )
            in_ty = Q.dtype.element_ty
            num = s0[:, None] + tl.dot(sut.to(in_ty), qut.to(in_ty), input_precision=PRECISION)
            num += tl.dot(swt.to(in_ty), qwt.to(in_ty), input_precision=PRECISION)
            den = z0 + tl.sum(qut * zu[:, None], axis=0) + tl.sum(qwt * zw[:, None], axis=0)
            if CAUSAL:
                k = load_rows(K + bh_qk, start, T, row_qk, fcols, F, BT)
                vt = load_cols(V + bh_v, start, T, row_v, dcols, D, BT)
                st = tl.dot(k, qt, input_precision=PRECISION) * (scale1 * scale1)
                pt = tl.where(causal_t, 1.0 + st + 0.5 * st * st, 0.0)
                num += tl.dot(vt, pt.to(vt.dtype), input_precision=PRECISION)
                den += tl.sum(pt, axis=0)
                ku, kw, _, _, _ = features(
                    k, sel_u, sel_a, sel_b, scale1, scale_d, scale_w, F, W1, SEL_PRECISION
                )
                s0 += tl.sum(vt.to(tl.float32), axis=1)
                sut += tl.dot(vt, ku.to(vt.dtype), input_precision=PRECISION)
                swt += tl.dot(vt, kw.to(vt.dtype), input_precision=PRECISION)
                z0 += tl.minimum(T - start, BT).to(tl.float32)
                zu += tl.sum(ku, axis=0)
                zw += tl.sum(kw, axis=0)
            y = num / (den[None, :] + eps)
            rows = start + rows_local
            rmask = rows < T
            tl.store(
                O + bh_v + rows[None, :].to(tl.int64) * row_v + dcols[:, None],
                y.to(O.dtype.element_ty),
                mask=dmask[:, None] & rmask[None, :],
            )
            if pid_d == 0:
                tl.store(DEN + (b.to(tl.int64) * T + rows) * H + h, den, mask=rmask)

        su = tl.trans(sut)
        sw = tl.trans(swt)
    else:
        rows_local = tl.arange(0, BT)
        causal_mask = rows_local[:, None] >= rows_local[None, :]
        seg_start = pid_s * SEG
        for start in range(seg_start, tl.minimum(seg_start + SEG, T), BT):
            q = load_rows(Q + bh_qk, start, T, row_qk, fcols, F, BT)
            qu, qw, _, _, _ = features(q, sel_u, sel_a, sel_b, scale1, scale_d, scale_w, F, W1, SEL_PRECISION)
            # inter-chunk part: phi(q) . state
            num = s0[None, :] + tl.dot(qu.to(q.dtype), su.to(q.dtype), input_precision=PRECISION)
            num += tl.dot(qw.to(q.dtype), sw.to(q.dtype), input_precision=PRECISION)
            den = z0 + tl.sum(qu * zu[None, :], axis=1) + tl.sum(qw * zw[None, :], axis=1)
            if CAUSAL:
                k = load_rows(K + bh_qk, start, T, row_qk, fcols, F, BT)
                v = load_rows(V + bh_v, start, T, row_v, dcols, D, BT)
                s = tl.dot(q, tl.trans(k), input_precision=PRECISION) * (scale1 * scale1)
                p = tl.where(causal_mask, 1.0 + s + 0.5 * s * s, 0.0)
                num += tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
                den += tl.sum(p, axis=1)
                ku, kw, _, _, _ = features(
                    k, sel_u, sel_a, sel_b, scale1, scale_d, scale_w, F, W1, SEL_PRECISION
                )
                s0, su, sw, z0, zu, zw = accumulate(
                    ku, kw, v, s0, su, sw, z0, zu, zw, tl.minimum(T - start, BT), PRECISION
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

    if pid_s == NSEG - 1:
        store_state(
            S_OUT + pid_bh.to(tl.int64) * E * D,
            Z_OUT + pid_bh.to(tl.int64) * E,
            PA,
            PB,
            s0,
            su,
            sw,
            z0,
            zu,
            zw,
            dcols,
            pid_d == 0,
            F,
            D,
            W1,
            W2,
        )
