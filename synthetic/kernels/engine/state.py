"""The state pass: the state contributed by segments of a sequence, summed in parallel.

The state is a plain sum over tokens, so any stretch of tokens can be summed independently.
:func:`based_state_kernel` gives every (segment, batch x head, D-block) its own program; the
launcher (launch.state_pass) combines the partial sums. It computes

* the encoder sum of prefix linear attention (the first prefix_len[b] tokens of (k_enc, v_enc)),
  and the whole-sequence state of non-causal Based;
* the segment starts of a sequence-parallel causal walk: each decoder segment starts from the
  (exclusive prefix) sum of all earlier segments, so S segments give S times as many programs.

The autotuner (autotune.state_pass_configs) picks between two variants: plain, and KT=1, which
builds the key features transposed so that the feature width is the M side of its dots.

The kernel writes the kernel layout (R = 1 + W1 + W2 rows, blocks.py); :func:`public_to_rows`
converts a public [E, D] state (an initial state) to it in torch.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from synthetic.kernels.engine.blocks import (
    accumulate,
    feature_widths,
    features,
    load_cols,
    load_rows,
    query_features_t,
    selectors,
    store_kernel_state,
    zero_state,
)


@triton.jit
def based_state_kernel(
    K,
    V,
    LEN,
    PA,
    PB,  # inputs
    P,
    PZ,  # outputs: [BH, NSEG, R, D], [BH, NSEG, R] fp32
    T,
    H,
    SEG,
    NSEG,
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
    HAS_LEN: tl.constexpr,
    PRECISION: tl.constexpr,
    SEL_PRECISION: tl.constexpr,
    KT: tl.constexpr = False,
):
    """Sum of the state contributions of tokens [seg * SEG, min((seg + 1) * SEG, n)) of one
    (batch, head), n = LEN[b] (HAS_LEN) or T. K [B, T, H, F], V [B, T, H, D].

    KT=True builds the key features transposed, phi(k)^T [W, BT] = selection^T . k^T, so that
    both dots have the feature width on their M side (>= 64 for w) and the update
    S [W, DB] += phi(k)^T . v takes its A operand straight from the registers of the feature
    dots (faster on Hopper)."""
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
    fcols = tl.arange(0, FP)
    dcols = pid_d * DB + tl.arange(0, DB)
    sel_u, sel_a, sel_b = selectors(PA, PB, F, FP, W1, W2, K.dtype.element_ty)
    if HAS_LEN:
        n = tl.load(LEN + b)
    else:
        n = T
    seg_start = pid_s * SEG
    seg_end = tl.minimum(seg_start + SEG, n)
    bh_qk = (b.to(tl.int64) * T * H + h) * F
    bh_v = (b.to(tl.int64) * T * H + h) * D

    s0, su, sw, z0, zu, zw = zero_state(DB, W1, W2)
    for start in range(seg_start, seg_end, BT):
        if KT:
            kt = load_cols(K + bh_qk, start, seg_end, H * F, fcols, F, BT)
            v = load_rows(V + bh_v, start, seg_end, H * D, dcols, D, BT)
            ut, wt = query_features_t(kt, sel_u, sel_a, sel_b, scale1, scale_d, scale_w, F, W1, SEL_PRECISION)
            s0 += tl.sum(v.to(tl.float32), axis=0)
            su += tl.dot(ut.to(v.dtype), v, input_precision=PRECISION)
            sw += tl.dot(wt.to(v.dtype), v, input_precision=PRECISION)
            z0 += tl.minimum(seg_end - start, BT).to(tl.float32)
            zu += tl.sum(ut, axis=1)
            zw += tl.sum(wt, axis=1)
        else:
            k = load_rows(K + bh_qk, start, seg_end, H * F, fcols, F, BT)
            v = load_rows(V + bh_v, start, seg_end, H * D, dcols, D, BT)
            u, w, _, _, _ = features(k, sel_u, sel_a, sel_b, scale1, scale_d, scale_w, F, W1, SEL_PRECISION)
            s0, su, sw, z0, zu, zw = accumulate(
                u, w, v, s0, su, sw, z0, zu, zw, tl.minimum(seg_end - start, BT), PRECISION
            )

    base = (pid_bh.to(tl.int64) * NSEG + pid_s) * R
    store_kernel_state(P, PZ, base, s0, su, sw, z0, zu, zw, dcols, pid_d == 0, W1, W2, D)


def state_rows(f: int) -> int:
    """R = 1 + W1 + W2: rows of the kernel-layout state for feature dim ``f``."""
    _, w1, w2 = feature_widths(f)
    return 1 + w1 + w2


_ROW_INDEX: dict[tuple[int, str], tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = {}


def _row_index(f: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Public rows behind the kernel rows: (u_rows [2F] -> public index), (w kernel rows [P],
    public (a, b) index [P], public (b, a) index [P]) for the P = F(F-1)/2 pairs a < b."""
    key = (f, str(device))
    if key not in _ROW_INDEX:
        _, w1, _ = feature_widths(f)
        u_pub = [1 + a for a in range(f)] + [1 + f + a * f + a for a in range(f)]
        pairs = [(a, b) for a in range(f) for b in range(a + 1, f)]
        w_rows = [1 + w1 + p for p in range(len(pairs))]
        ab = [1 + f + a * f + b for a, b in pairs]
        ba = [1 + f + b * f + a for a, b in pairs]
        u_pub_t, w_rows_t, ab_t, ba_t = (
            torch.tensor(x, dtype=torch.long, device=device) for x in (u_pub, w_rows, ab, ba)
        )
        _ROW_INDEX[key] = (u_pub_t, w_rows_t, ab_t, ba_t)
    return _ROW_INDEX[key]


def public_to_rows(kv: torch.Tensor, f: int) -> torch.Tensor:
    """Public state kv [..., E, X] (E = 1 + F + F^2) -> kernel rows [..., R, X] (fp32).

    A pair's w-row is (kv[a, b] + kv[b, a]) / sqrt(2), exact for any (also non-symmetric) state;
    padding rows are zero. Use X = 1 (``z[..., None]``) for the normaliser.
    """
    u_pub, w_rows, ab, ba = _row_index(f, kv.device)
    kvf = kv.float()
    out = kvf.new_zeros(*kv.shape[:-2], state_rows(f), kv.shape[-1])
    out[..., 0, :] = kvf[..., 0, :]
    out[..., 1 : 1 + 2 * f, :] = kvf[..., u_pub, :]
    if w_rows.numel():
        out[..., w_rows, :] = (kvf[..., ab, :] + kvf[..., ba, :]) * math.sqrt(0.5)
    return out
