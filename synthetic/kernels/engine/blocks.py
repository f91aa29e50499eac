"""Triton building blocks shared by every kernel of the engine: feature maps, tile loads, state
loads and stores.

Symbols (B, T, Te, H, F, Dh, E = 1 + F + F^2): docs/synthetic/glossary.md. The engine writes shapes
with the kernels' constant names, which Triton compiles by name: D = Dh the value dim per head (DB:
the block of D one program holds, "a D-block"), FP = F padded to a power of two >= 16, BT chunk
length, TE = Te; W1, W2 and R are defined below. The public state layout [E, D] is that of
synthetic/kernels/based/reference.py.

Feature split used inside the kernels (never materialised in memory). With scale1 = F^(-1/4),
scale_d = 1/sqrt(2F), scale_w = 1/sqrt(F):
    u(x) = [x_a * scale1 (a < F), x_a^2 * scale_d (a < F)]     width 2F, padded to W1
    w(x) = [x_a x_b * scale_w (a < b)]                          width F(F-1)/2, padded to W2
so that phi(q) . phi(k) = 1 + u(q).u(k) + w(q).w(k) = 1 + s + s^2/2 with s = q.k/sqrt(F): the
symmetric second-order terms are counted once (136 instead of 256 columns at F = 16). u and w
are gathered from x with one-hot selection matrices on the tensor cores.

Kernel layout of a state (fp32): s0 [DB] = sum v, su [W1, DB] = sum u(k) v^T,
sw [W2, DB] = sum w(k) v^T, and the normaliser z0 = number of tokens, zu [W1] = sum u(k),
zw [W2] = sum w(k). In memory (state pass, segment starts) it is R = 1 + W1 + W2 rows [R, D]
and [R]: row 0 = s0, rows 1..W1 = su, rows 1+W1.. = sw. The public layout [E, D] keeps each
symmetric pair (a, b), (b, a) twice; :func:`store_state` writes it, state.public_to_rows reads it.
"""

from __future__ import annotations

import triton
import triton.language as tl

SQRT1_2 = tl.constexpr(0.7071067811865476)


def next_pow2(x: int, minimum: int = 16) -> int:
    """Smallest power of two >= max(x, minimum)."""
    return max(minimum, triton.next_power_of_2(x))


def feature_widths(f: int) -> tuple[int, int, int]:
    """(FP, W1, W2): padded widths of x, u(x) and w(x) for feature dim f."""
    return next_pow2(f), next_pow2(2 * f), next_pow2(f * (f - 1) // 2)


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
    """Load a kernel-layout state (rows ``base`` .. ``base + R`` of START [.., R, D], ZSTART [.., R];
    layout in the module docstring) as s0 [DB], su [W1, DB], sw [W2, DB], z0 [1], zu [W1], zw [W2]."""
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
    NSTART - 1)] in the kernel layout (module docstring), or zero without HAS_START."""
    if HAS_START:
        R: tl.constexpr = 1 + W1 + W2
        base = (pid_bh.to(tl.int64) * NSTART + tl.minimum(pid_s, NSTART - 1)) * R
        state = load_kernel_state(START, ZSTART, base, dcols, W1, W2, D)
    else:
        state = zero_state(DB, W1, W2)
    return state


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
