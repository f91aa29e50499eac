"""Triton forward kernel shared by causal Based, non-causal Based and prefix linear attention.

Glossary: B batch, T time, Te encoder length, H heads, F feature dim (FP: F padded to a power of
two >= 16), D value head dim (DB: the block of D one program holds), BT chunk length,
E = 1 + F + F^2 (public state layout, see reference.py).

Feature split used inside the kernels (never materialised in memory). With scale1 = F^(-1/4),
scale_d = 1/sqrt(2F), scale_w = 1/sqrt(F):
    u(x) = [x_a * scale1 (a < F), x_a^2 * scale_d (a < F)]     width 2F, padded to W1
    w(x) = [x_a x_b * scale_w (a < b)]                          width F(F-1)/2, padded to W2
so that phi(q) . phi(k) = 1 + u(q).u(k) + w(q).w(k) = 1 + s + s^2/2 with s = q.k/sqrt(F): the
symmetric second-order terms are counted once (136 instead of 256 columns at F = 16). u and w
are gathered from x with one-hot selection matrices on the tensor cores.

One program of the output kernel owns one (segment, batch, head, D-block) and walks its segment
chunk by chunk, holding the state in registers:
    s0 [DB] = sum v,  su [W1, DB] = sum u(k) v^T,  sw [W2, DB] = sum w(k) v^T
    z0 = number of tokens,  zu [W1] = sum u(k),  zw [W2] = sum w(k).
Its start state (initial state + encoder sum + earlier segments, in the kernel layout of
triton_state.py) is computed before the launch by the parallel state pass. Per chunk:
y_i = (intra-chunk causal part + phi(q_i) . state) / (the same with v -> 1, + eps); the chunk then
joins the state. With CAUSAL=False the state is fixed (non-causal Based: the state pass read the
whole sequence).
The final state (public layout) and the normaliser den [B, T, H] (for backward) are written out.

One forward kernel computes this in two layouts; the autotuner picks per shape
(launch.candidate_configs):
* :func:`based_fwd_kernel` with TS=0 holds the state as rows [W, DB];
* with TS=1 it holds the state transposed, [DB, W], so that the value block is the
  M side of every big dot (Hopper's warpgroup MMA needs M >= 64; the chunk has 32 rows). It is
  the faster one on Hopper (H100: 3.56 ms at N = 32k, B = 16; see bench/NOTES-kernels.md).
"""

from __future__ import annotations

import triton
import triton.language as tl

SQRT1_2 = tl.constexpr(0.7071067811865476)


@triton.jit
def selectors(PA, PB, F: tl.constexpr, FP: tl.constexpr, W1: tl.constexpr, W2: tl.constexpr, dtype):
    """One-hot selection matrices: sel_u [FP, W1] picks x_a for u's columns, sel_a / sel_b
    [FP, W2] pick the pair (a, b) of each w column (PA/PB: int32 [W2], -1 for padding)."""
    fidx = tl.arange(0, FP)
    ucol = tl.arange(0, W1)
    ua = tl.where(ucol < F, ucol, ucol - F)
    sel_u = ((fidx[:, None] == ua[None, :]) & (ucol[None, :] < 2 * F)).to(dtype)
    pcol = tl.arange(0, W2)
    pa = tl.load(PA + pcol)
    pb = tl.load(PB + pcol)
    sel_a = (fidx[:, None] == pa[None, :]).to(dtype)
    sel_b = (fidx[:, None] == pb[None, :]).to(dtype)
    return sel_u, sel_a, sel_b


@triton.jit
def features(
    x,
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
    """u(x) [BT, W1] and w(x) [BT, W2] in fp32, plus the gathered columns (xu, xa, xb) that the
    backward pass needs."""
    xu = tl.dot(x, sel_u, input_precision=SEL_PRECISION)
    xa = tl.dot(x, sel_a, input_precision=SEL_PRECISION)
    xb = tl.dot(x, sel_b, input_precision=SEL_PRECISION)
    ucol = tl.arange(0, W1)
    u = tl.where(ucol[None, :] < F, xu * scale1, xu * xu * scale_d)
    w = xa * xb * scale_w
    return u, w, xu, xa, xb


@triton.jit
def accumulate(u, w, v, s0, su, sw, z0, zu, zw, n_valid, PRECISION: tl.constexpr):
    """Add a chunk to the state: features u [BT, W1], w [BT, W2] (fp32), values v [BT, DB]
    (zero beyond n_valid rows, so padded rows add nothing but their constant 1 is not counted)."""
    s0 += tl.sum(v.to(tl.float32), axis=0)
    su += tl.dot(tl.trans(u.to(v.dtype)), v, input_precision=PRECISION)
    sw += tl.dot(tl.trans(w.to(v.dtype)), v, input_precision=PRECISION)
    z0 += n_valid.to(tl.float32)
    zu += tl.sum(u, axis=0)
    zw += tl.sum(w, axis=0)
    return s0, su, sw, z0, zu, zw


@triton.jit
def load_rows(ptr, row0, n_rows, row_stride, cols, n_cols, BT: tl.constexpr):
    """Load rows [row0, row0+BT) (masked at n_rows) and columns `cols` (masked at n_cols)."""
    rows = row0 + tl.arange(0, BT)
    mask = (rows[:, None] < n_rows) & (cols[None, :] < n_cols)
    return tl.load(ptr + rows[:, None].to(tl.int64) * row_stride + cols[None, :], mask=mask, other=0.0)


@triton.jit
def _public_index(PA, PB, F: tl.constexpr, W1: tl.constexpr, W2: tl.constexpr):
    """Rows of the public [E, D] state for u's columns (idx_u, valid_u) and for w's columns
    (idx_ab, idx_ba, valid_w): diagonal terms sit at 1+F+a*F+a, the pair (a,b) at both
    1+F+a*F+b and 1+F+b*F+a."""
    ucol = tl.arange(0, W1)
    ua = tl.where(ucol < F, ucol, ucol - F)
    idx_u = tl.where(ucol < F, 1 + ucol, 1 + F + ua * F + ua)
    valid_u = ucol < 2 * F
    pcol = tl.arange(0, W2)
    pa = tl.load(PA + pcol)
    pb = tl.load(PB + pcol)
    valid_w = pa >= 0
    idx_ab = 1 + F + pa * F + pb
    idx_ba = 1 + F + pb * F + pa
    return idx_u, valid_u, idx_ab, idx_ba, valid_w


@triton.jit
def store_state(
    S_PTR,
    Z_PTR,
    PA,
    PB,
    s0,
    su,
    sw,
    z0,
    zu,
    zw,
    dcols,
    store_z,
    F: tl.constexpr,
    D: tl.constexpr,
    W1: tl.constexpr,
    W2: tl.constexpr,
):
    """Write the kernel-layout state in the public layout (each pair's entry split equally
    between (a,b) and (b,a)); z only where ``store_z`` (one D-block writes it)."""
    idx_u, valid_u, idx_ab, idx_ba, valid_w = _public_index(PA, PB, F, W1, W2)
    dmask = dcols < D
    tl.store(S_PTR + dcols, s0, mask=dmask)
    tl.store(S_PTR + idx_u[:, None] * D + dcols[None, :], su, mask=valid_u[:, None] & dmask[None, :])
    m_w = valid_w[:, None] & dmask[None, :]
    tl.store(S_PTR + idx_ab[:, None] * D + dcols[None, :], sw * SQRT1_2, mask=m_w)
    tl.store(S_PTR + idx_ba[:, None] * D + dcols[None, :], sw * SQRT1_2, mask=m_w)
    if store_z:
        tl.store(Z_PTR + tl.zeros((1,), dtype=tl.int32), z0)
        tl.store(Z_PTR + idx_u, zu, mask=valid_u)
        tl.store(Z_PTR + idx_ab, zw * SQRT1_2, mask=valid_w)
        tl.store(Z_PTR + idx_ba, zw * SQRT1_2, mask=valid_w)


@triton.jit
def zero_state(DB: tl.constexpr, W1: tl.constexpr, W2: tl.constexpr):
    """An empty state in the kernel layout: s0 [DB], su [W1, DB], sw [W2, DB], z0 [1], zu [W1],
    zw [W2] (fp32 zeros)."""
    return (
        tl.zeros((DB,), dtype=tl.float32),
        tl.zeros((W1, DB), dtype=tl.float32),
        tl.zeros((W2, DB), dtype=tl.float32),
        tl.zeros((1,), dtype=tl.float32),
        tl.zeros((W1,), dtype=tl.float32),
        tl.zeros((W2,), dtype=tl.float32),
    )


@triton.jit
def store_kernel_state(
    P, PZ, base, s0, su, sw, z0, zu, zw, dcols, store_z, W1: tl.constexpr, W2: tl.constexpr, D: tl.constexpr
):
    """Store a state in the kernel layout at rows ``base`` .. ``base + R`` of P [.., R, D] and
    PZ [.., R] (the inverse of :func:`load_kernel_state`); the normaliser only where ``store_z``."""
    dmask = dcols < D
    ur = 1 + tl.arange(0, W1)
    wr = 1 + W1 + tl.arange(0, W2)
    tl.store(P + base * D + dcols, s0, mask=dmask)
    tl.store(P + (base + ur[:, None]) * D + dcols[None, :], su, mask=dmask[None, :])
    tl.store(P + (base + wr[:, None]) * D + dcols[None, :], sw, mask=dmask[None, :])
    if store_z:
        tl.store(PZ + base + tl.zeros((1,), dtype=tl.int32), z0)
        tl.store(PZ + base + ur, zu)
        tl.store(PZ + base + wr, zw)


@triton.jit
def load_kernel_state(START, ZSTART, base, dcols, W1: tl.constexpr, W2: tl.constexpr, D: tl.constexpr):
    """Load a kernel-layout state (rows ``base`` .. ``base + R`` of START [.., R, D], ZSTART [.., R],
    see triton_state.py) as s0 [DB], su [W1, DB], sw [W2, DB], z0 [1], zu [W1], zw [W2]."""
    dmask = dcols < D
    ur = 1 + tl.arange(0, W1)
    wr = 1 + W1 + tl.arange(0, W2)
    s0 = tl.load(START + base * D + dcols, mask=dmask, other=0.0)
    su = tl.load(START + (base + ur[:, None]) * D + dcols[None, :], mask=dmask[None, :], other=0.0)
    sw = tl.load(START + (base + wr[:, None]) * D + dcols[None, :], mask=dmask[None, :], other=0.0)
    z0 = tl.load(ZSTART + base + tl.zeros((1,), dtype=tl.int32))
    zu = tl.load(ZSTART + base + ur)
    zw = tl.load(ZSTART + base + wr)
    return s0, su, sw, z0, zu, zw


@triton.jit
def start_state(
    START,
    ZSTART,
    pid_bh,
    pid_s,
    NSTART,
    dcols,
    HAS_START: tl.constexpr,
    DB: tl.constexpr,
    W1: tl.constexpr,
    W2: tl.constexpr,
    D: tl.constexpr,
):
    """The state segment ``pid_s`` of (batch x head) ``pid_bh`` starts from: START[bh, min(seg,
    NSTART - 1)] in the kernel layout (see triton_state.py), or zero without HAS_START."""
    if HAS_START:
        R: tl.constexpr = 1 + W1 + W2
        base = (pid_bh.to(tl.int64) * NSTART + tl.minimum(pid_s, NSTART - 1)) * R
        state = load_kernel_state(START, ZSTART, base, dcols, W1, W2, D)
    else:
        state = zero_state(DB, W1, W2)
    return state


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
            dt = Q.dtype.element_ty
            num = s0[:, None] + tl.dot(sut.to(dt), qut.to(dt), input_precision=PRECISION)
            num += tl.dot(swt.to(dt), qwt.to(dt), input_precision=PRECISION)
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


def next_pow2(x: int, minimum: int = 16) -> int:
    """Smallest power of two >= max(x, minimum)."""
    return max(minimum, triton.next_power_of_2(x))


def feature_widths(f: int) -> tuple[int, int, int]:
    """(FP, W1, W2): padded widths of x, u(x) and w(x) for feature dim f."""
    return next_pow2(f), next_pow2(2 * f), next_pow2(f * (f - 1) // 2)


@triton.jit
def load_cols(ptr, row0, n_rows, row_stride, cols, n_cols, BT: tl.constexpr):
    """Rows [row0, row0+BT) and columns ``cols`` of a row-major tile, loaded transposed:
    [len(cols), BT] (masked at n_rows / n_cols)."""
    rows = row0 + tl.arange(0, BT)
    mask = (cols[:, None] < n_cols) & (rows[None, :] < n_rows)
    return tl.load(ptr + rows[None, :].to(tl.int64) * row_stride + cols[:, None], mask=mask, other=0.0)


@triton.jit
def query_features_t(
    xt,
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
    """u(x)^T [W1, BT] and w(x)^T [W2, BT] (fp32) from x^T [FP, BT]: the transposed layout of
    :func:`features`, gathered by (selection^T . x^T)."""
    xu = tl.dot(tl.trans(sel_u), xt, input_precision=SEL_PRECISION)
    xa = tl.dot(tl.trans(sel_a), xt, input_precision=SEL_PRECISION)
    xb = tl.dot(tl.trans(sel_b), xt, input_precision=SEL_PRECISION)
    urow = tl.arange(0, W1)
    u = tl.where(urow[:, None] < F, xu * scale1, xu * xu * scale_d)
    return u, xa * xb * scale_w
