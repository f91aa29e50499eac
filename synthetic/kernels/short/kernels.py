"""Triton kernels of the short-sequence path: normalised Taylor attention computed from q . k on
the fly, one [BM, BN] tile of the kernel matrix at a time (symbols: docs/synthetic/glossary.md).

    s_ij = q_i . k_j / sqrt(F),   a_ij = 1 + s_ij + s_ij^2 / 2   (= phi(q_i) . phi(k_j))
    y_i  = sum_j m_ij a_ij v_j / (sum_j m_ij a_ij + eps)

The keys come from up to two sources, each a (k, v) pair with its own mask m:
* OWN: the queries' own sequence, read causally (j <= i);
* ENC: an encoder, read whole up to a per-example length (j < lengths[b], or all of it).
Causal Based reads OWN; non-causal Based reads ENC = its own (k, v) whole; prefix linear attention
(JRT-RNN) reads both with one shared normaliser. The 1 + F + F^2 features of the chunked engine
are never formed: the work per query-key pair is O(F + D), which wins while T is short.

Forward: one program per (query block, batch x head); outputs y and r = 1 / (den + eps) (fp32,
[B, H, T], for the backward). Backward (delta_i = dy_i . y_i, computed by the caller):

    da_ij = r_i (dy_i . v_j - delta_i),   ds_ij = m_ij da_ij (1 + s_ij)
    dq_i = sum_j ds_ij k_j / sqrt(F),   dk_j = sum_i ds_ij q_i / sqrt(F),   dv_j = sum_i m_ij a_ij r_i dy_i

one program per (query block, b x h) for dq (over both sources) and one per (key block, b x h)
of a source for its dk, dv. Layouts: q, k [B, T, H, F], v, y [B, T, H, D] contiguous (row
stride H * F or H * D elements); F is padded to FP >= 16 and D to DP >= 16 inside the kernels
(tl.dot needs K >= 16), with masked loads.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _rows(PTR, b, h, offs_t, offs_c, T, H, C: tl.constexpr):
    """Load rows ``offs_t`` of head h of example b from a [B, T, H, C] tensor: [len(offs_t), CP]
    (zeros outside T and C)."""
    ptrs = PTR + ((b * T + offs_t[:, None]) * H + h) * C + offs_c[None, :]
    return tl.load(ptrs, mask=(offs_t[:, None] < T) & (offs_c[None, :] < C), other=0.0)


@triton.jit
def _taylor(q, k, scale, PRECISION: tl.constexpr):
    """(s, a) of the module docstring for a tile: q [BM, FP], k [BN, FP] -> [BM, BN] fp32."""
    s = tl.dot(q, tl.trans(k), input_precision=PRECISION) * scale
    return s, 1.0 + s + 0.5 * s * s


@triton.jit
def _mask(offs_m, offs_n, limit, CAUSAL: tl.constexpr):
    """[BM, BN] keys a query may read: j <= i (and j < limit) when CAUSAL, else j < limit."""
    visible = offs_n[None, :] < limit
    if CAUSAL:
        visible = visible & (offs_n[None, :] <= offs_m[:, None])
    return visible


@triton.jit
def _source_length(LENS, b, TK, HAS_LENS: tl.constexpr):
    """How many keys of an encoder source example b reads: lengths[b], or all TK."""
    if HAS_LENS:
        return tl.load(LENS + b).to(tl.int32)
    return tl.cast(TK, tl.int32)  # an int argument may arrive as i64 (torch.compile's launcher)


@triton.jit
def _key_block(
    K, V, b, h, start, TK, H,
    F: tl.constexpr, D: tl.constexpr, FP: tl.constexpr, DP: tl.constexpr, BN: tl.constexpr,
):  # fmt: skip
    """Key columns ``offs_n`` [BN] from ``start`` and their k [BN, FP], v [BN, DP] (zeros past TK)."""
    offs_n = start + tl.arange(0, BN)
    k = _rows(K, b, h, offs_n, tl.arange(0, FP), TK, H, F)
    v = _rows(V, b, h, offs_n, tl.arange(0, DP), TK, H, D)
    return offs_n, k, v


@triton.jit
def _fwd_source(
    acc, den, q, b, h, offs_m, K, V, limit, hi, TK, H, scale,
    F: tl.constexpr, D: tl.constexpr, FP: tl.constexpr, DP: tl.constexpr, BN: tl.constexpr,
    CAUSAL: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    """Add one source's keys [0, hi) to (acc [BM, DP], den [BM]) of a query block."""
    for start in range(0, hi, BN):
        offs_n, k, v = _key_block(K, V, b, h, start, TK, H, F, D, FP, DP, BN)
        _, a = _taylor(q, k, scale, PRECISION)
        a = tl.where(_mask(offs_m, offs_n, limit, CAUSAL), a, 0.0)
        acc += tl.dot(a.to(v.dtype), v, input_precision=PRECISION)
        den += tl.sum(a, axis=1)
    return acc, den


@triton.jit
def short_fwd_kernel(
    Q, K, V, KE, VE, LENS,  # inputs
    Y, R,  # outputs
    T, TE, H, scale, eps,
    F: tl.constexpr, D: tl.constexpr, FP: tl.constexpr, DP: tl.constexpr,
    BM: tl.constexpr, BN: tl.constexpr,
    HAS_OWN: tl.constexpr, HAS_ENC: tl.constexpr, HAS_LENS: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    """y [B, T, H, D] (Y's dtype) and r = 1 / (den + eps) fp32 [B, H, T] of one query block."""
    scale = tl.cast(scale, tl.float32)  # a float argument may arrive as fp64 (torch.compile's launcher)
    eps = tl.cast(eps, tl.float32)
    pid_m = tl.program_id(0)
    bh = tl.program_id(1)
    b = bh // H
    h = bh % H
    offs_m = pid_m * BM + tl.arange(0, BM)
    offs_d = tl.arange(0, DP)
    q = _rows(Q, b, h, offs_m, tl.arange(0, FP), T, H, F)
    acc = tl.zeros([BM, DP], dtype=tl.float32)
    den = tl.zeros([BM], dtype=tl.float32)
    if HAS_OWN:
        hi = tl.minimum((pid_m + 1) * BM, T)
        acc, den = _fwd_source(acc, den, q, b, h, offs_m, K, V, T, hi, T, H, scale,
                               F, D, FP, DP, BN, True, PRECISION)  # fmt: skip
    if HAS_ENC:
        length = _source_length(LENS, b, TE, HAS_LENS)
        acc, den = _fwd_source(acc, den, q, b, h, offs_m, KE, VE, length, length, TE, H, scale,
                               F, D, FP, DP, BN, False, PRECISION)  # fmt: skip
    r = 1.0 / (den + eps)
    y = acc * r[:, None]
    rows = offs_m < T
    y_ptrs = Y + ((b * T + offs_m[:, None]) * H + h) * D + offs_d[None, :]
    tl.store(y_ptrs, y.to(Y.dtype.element_ty), mask=rows[:, None] & (offs_d[None, :] < D))
    tl.store(R + bh * T + offs_m, r, mask=rows)


@triton.jit
def _dq_source(
    dq, q, dy, r, delta, b, h, offs_m, K, V, limit, hi, TK, H, scale,
    F: tl.constexpr, D: tl.constexpr, FP: tl.constexpr, DP: tl.constexpr, BN: tl.constexpr,
    CAUSAL: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    """Add one source's keys [0, hi) to dq [BM, FP] (unscaled) of a query block."""
    for start in range(0, hi, BN):
        offs_n, k, v = _key_block(K, V, b, h, start, TK, H, F, D, FP, DP, BN)
        s, _ = _taylor(q, k, scale, PRECISION)
        dp = tl.dot(dy, tl.trans(v), input_precision=PRECISION)  # [BM, BN]: dy_i . v_j
        ds = (dp - delta[:, None]) * r[:, None] * (1.0 + s)
        ds = tl.where(_mask(offs_m, offs_n, limit, CAUSAL), ds, 0.0)
        dq += tl.dot(ds.to(k.dtype), k, input_precision=PRECISION)
    return dq


@triton.jit
def short_bwd_dq_kernel(
    Q, K, V, KE, VE, LENS, DY, R, DELTA,  # inputs
    DQ,  # output
    T, TE, H, scale,
    F: tl.constexpr, D: tl.constexpr, FP: tl.constexpr, DP: tl.constexpr,
    BM: tl.constexpr, BN: tl.constexpr,
    HAS_OWN: tl.constexpr, HAS_ENC: tl.constexpr, HAS_LENS: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    """dq [B, T, H, F] (DQ's dtype) of one query block, over both sources."""
    scale = tl.cast(scale, tl.float32)  # a float argument may arrive as fp64 (torch.compile's launcher)
    pid_m = tl.program_id(0)
    bh = tl.program_id(1)
    b = bh // H
    h = bh % H
    offs_m = pid_m * BM + tl.arange(0, BM)
    offs_f = tl.arange(0, FP)
    rows = offs_m < T
    q = _rows(Q, b, h, offs_m, offs_f, T, H, F)
    dy = _rows(DY, b, h, offs_m, tl.arange(0, DP), T, H, D)
    r = tl.load(R + bh * T + offs_m, mask=rows, other=0.0)
    delta = tl.load(DELTA + bh * T + offs_m, mask=rows, other=0.0)
    dq = tl.zeros([BM, FP], dtype=tl.float32)
    if HAS_OWN:
        hi = tl.minimum((pid_m + 1) * BM, T)
        dq = _dq_source(dq, q, dy, r, delta, b, h, offs_m, K, V, T, hi, T, H, scale,
                        F, D, FP, DP, BN, True, PRECISION)  # fmt: skip
    if HAS_ENC:
        length = _source_length(LENS, b, TE, HAS_LENS)
        dq = _dq_source(dq, q, dy, r, delta, b, h, offs_m, KE, VE, length, length, TE, H, scale,
                        F, D, FP, DP, BN, False, PRECISION)  # fmt: skip
    ptrs = DQ + ((b * T + offs_m[:, None]) * H + h) * F + offs_f[None, :]
    tl.store(ptrs, (dq * scale).to(DQ.dtype.element_ty), mask=rows[:, None] & (offs_f[None, :] < F))


@triton.jit
def short_bwd_dkv_kernel(
    Q, K, V, LENS, DY, R, DELTA,  # inputs (K, V: one source)
    DK, DV,  # outputs
    T, TK, H, scale,
    F: tl.constexpr, D: tl.constexpr, FP: tl.constexpr, DP: tl.constexpr,
    BM: tl.constexpr, BN: tl.constexpr,
    CAUSAL: tl.constexpr, HAS_LENS: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    """dk [B, TK, H, F], dv [B, TK, H, D] of one key block of one source: the OWN source when
    CAUSAL (TK == T), else an encoder read whole up to its length (keys past it get zeros).

    Works on transposed tiles ([BN, BM]: keys on the rows) so the sums over queries are dots."""
    scale = tl.cast(scale, tl.float32)  # a float argument may arrive as fp64 (torch.compile's launcher)
    pid_n = tl.program_id(0)
    bh = tl.program_id(1)
    b = bh // H
    h = bh % H
    offs_n = pid_n * BN + tl.arange(0, BN)
    offs_f = tl.arange(0, FP)
    offs_d = tl.arange(0, DP)
    limit = TK
    if not CAUSAL:
        limit = _source_length(LENS, b, TK, HAS_LENS)
    k = _rows(K, b, h, offs_n, offs_f, TK, H, F)
    v = _rows(V, b, h, offs_n, offs_d, TK, H, D)
    dk = tl.zeros([BN, FP], dtype=tl.float32)
    dv = tl.zeros([BN, DP], dtype=tl.float32)
    lo = 0
    if CAUSAL:
        lo = (pid_n * BN // BM) * BM
    if pid_n * BN < limit:
        for start in range(lo, T, BM):
            offs_m = start + tl.arange(0, BM)
            rows = offs_m < T
            q = _rows(Q, b, h, offs_m, offs_f, T, H, F)
            dy = _rows(DY, b, h, offs_m, offs_d, T, H, D)
            r = tl.load(R + bh * T + offs_m, mask=rows, other=0.0)
            delta = tl.load(DELTA + bh * T + offs_m, mask=rows, other=0.0)
            st = tl.dot(k, tl.trans(q), input_precision=PRECISION) * scale  # [BN, BM]
            at = 1.0 + st + 0.5 * st * st
            visible = (offs_n[:, None] < limit) & rows[None, :]
            if CAUSAL:
                visible = visible & (offs_n[:, None] <= offs_m[None, :])
            at = tl.where(visible, at, 0.0)
            dpt = tl.dot(v, tl.trans(dy), input_precision=PRECISION)  # [BN, BM]: v_j . dy_i
            dst = tl.where(visible, (dpt - delta[None, :]) * r[None, :] * (1.0 + st), 0.0)
            dv += tl.dot((at * r[None, :]).to(dy.dtype), dy, input_precision=PRECISION)
            dk += tl.dot(dst.to(q.dtype), q, input_precision=PRECISION)
    keys = offs_n < TK
    dk_ptrs = DK + ((b * TK + offs_n[:, None]) * H + h) * F + offs_f[None, :]
    tl.store(dk_ptrs, (dk * scale).to(DK.dtype.element_ty), mask=keys[:, None] & (offs_f[None, :] < F))
    dv_ptrs = DV + ((b * TK + offs_n[:, None]) * H + h) * D + offs_d[None, :]
    tl.store(dv_ptrs, dv.to(DV.dtype.element_ty), mask=keys[:, None] & (offs_d[None, :] < D))
