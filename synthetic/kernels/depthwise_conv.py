"""Causal depthwise convolution of K ensemble members in the ``[rows, T, C]`` layout: one Triton
kernel forward, one backward, no permutes.

The eager :func:`synthetic.layers.base.causal_depthwise_conv` feeds ``F.conv1d`` (groups = channels),
which wants channels before time: for K stacked members it permutes ``[K*B, T, C] -> [B, K*C, T]``,
pads, convolves (``conv_depthwise2d``) and permutes back, and the backward runs the same copies in
reverse around two more ``conv_depthwise2d`` kernels (input and weight gradient): about eight full
passes over memory each way. This kernel reads x once and writes y once (the Kc - 1 earlier time
steps a tile also needs come from the cache); the backward reads x and dy once, writes dx, plus
per-(member, chunk of rows and time blocks) fp32 partial sums of the tap and bias gradients that
torch adds up (no atomics: the result is the same on every run, which the graphed training step
relies on).

Shapes: x [rows, T, C] (C channels, last stride 1; member k owns rows ``k*B .. k*B + B - 1``,
B = rows / K), taps [K, C, Kc], bias [K, C] (one model: taps [C, Kc] and bias [C], i.e. K = 1).

    y[r, t, c] = sum_{s<Kc} taps[k, c, s] * x[r, t-s, c] + bias[k, c]   (k = r // B; x[r, t', c] = 0, t' < 0)
    dx[r, t, c] = sum_{s<Kc, t+s<T} taps[k, c, s] * dy[r, t+s, c]
    dtaps[k, c, s] = sum over member k's rows r and t >= s of dy[r, t, c] * x[r, t-s, c]
    dbias[k, c] = sum over member k's rows r and all t of dy[r, t, c]

Everything is computed in fp32 (fp64 for fp64 x); y is in x's dtype, or the autocast dtype under
autocast (what ``F.conv1d`` returns there and the next multiply reads); dx in x's dtype, dtaps and
dbias in the parameters' dtypes.

Tiles: a program of the forward owns ``[BLOCK_T, BLOCK_C]`` of one row; one of the backward loops
over a run of (row, time block) tiles of one member (chunks of about equal size, so that about
:data:`BWD_PROGRAMS` programs run) and keeps its tap and bias sums in registers.

Used by :func:`~synthetic.layers.base.causal_depthwise_conv` on CUDA tensors (on by default;
READTWICE_FUSED_CONV=0 takes the eager path). Its GPU tests passed on an H100 (commit 03fb032), and
training ensembles of 8 at the paper's shapes ran 1.08-1.23x faster with it than with PyTorch's
convolution in the same call (``bash bench/gpu_session.sh fused-conv``; bench/NOTES-training.md).
Its reference is the eager path, which the tests compare it with (under TRITON_INTERPRET=1 on the
CPU, and on a GPU under bf16 autocast).
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl

from synthetic.kernels.dispatch import env_flag

__all__ = ["FUSED_CONV_ENV", "fused_conv_enabled", "member_causal_conv"]

FUSED_CONV_ENV = "READTWICE_FUSED_CONV"
# Tiles: 2048 elements over 4 warps keep the backward under ~170 registers a thread with no spills
# for Kc <= 8 (compiled for sm_90 and read off cuobjdump; the tile sizes themselves not tuned).
TILE_ELEMENTS = 2048  # elements of a [BLOCK_T, BLOCK_C] tile
BLOCK_C_CHOICES = (128, 64, 32)  # channel block widths, the one that pads C least (ties: wider)
BWD_PROGRAMS = 1024  # about how many programs the backward runs (fewer if there are fewer tiles)
NUM_WARPS = 4


def fused_conv_enabled() -> bool:
    """READTWICE_FUSED_CONV: ``1`` (default) uses the Triton kernels on CUDA tensors, ``0`` the
    eager ``F.conv1d`` path (CPU tensors always take the eager path)."""
    return env_flag(FUSED_CONV_ENV, default=True)


@triton.jit
def _tile(row, tb, offs_c, T, C, BLOCK_T: tl.constexpr):
    """Time block tb of a row, channels offs_c [BLOCK_C] -> (time offsets [BLOCK_T], tile mask
    [BLOCK_T, BLOCK_C], int64 offset of the row in the (contiguous) output)."""
    offs_t = tb * BLOCK_T + tl.arange(0, BLOCK_T)
    mask = (offs_t < T)[:, None] & (offs_c < C)[None, :]
    return offs_t, mask, row.to(tl.int64) * T * C


@triton.jit
def _conv_fwd_kernel(
    X, TAPS, BIAS, Y, T, C, n_tb, rows_per_member, stride_xr, stride_xt,
    KC: tl.constexpr, BLOCK_T: tl.constexpr, BLOCK_C: tl.constexpr, ACC: tl.constexpr,
):  # fmt: skip
    pid = tl.program_id(0)
    cb = tl.program_id(1)
    row = pid // n_tb
    k = row // rows_per_member
    offs_c = cb * BLOCK_C + tl.arange(0, BLOCK_C)
    c_ok = offs_c < C
    offs_t, mask, y_row = _tile(row, pid % n_tb, offs_c, T, C, BLOCK_T)
    x_row = X + row.to(tl.int64) * stride_xr
    acc = tl.zeros((BLOCK_T, BLOCK_C), dtype=ACC)
    acc += tl.load(BIAS + k * C + offs_c, mask=c_ok, other=0.0).to(ACC)[None, :]
    for s in tl.static_range(KC):
        w = tl.load(TAPS + (k * C + offs_c) * KC + s, mask=c_ok, other=0.0).to(ACC)
        ts = offs_t - s
        xs = tl.load(
            x_row + ts[:, None] * stride_xt + offs_c[None, :], mask=mask & (ts >= 0)[:, None], other=0.0
        ).to(ACC)
        acc += w[None, :] * xs
    tl.store(Y + y_row + offs_t[:, None] * C + offs_c[None, :], acc.to(Y.dtype.element_ty), mask=mask)


@triton.jit
def _conv_bwd_kernel(
    X, TAPS, DY, DX, DTAPS_PART, DBIAS_PART, T, C, n_tb, rows_per_member, chunks, items_per_chunk,
    stride_xr, stride_xt, stride_dr, stride_dt,
    KC: tl.constexpr, KCP: tl.constexpr, BLOCK_T: tl.constexpr, BLOCK_C: tl.constexpr, ACC: tl.constexpr,
):  # fmt: skip
    pid = tl.program_id(0)
    cb = tl.program_id(1)
    k = pid // chunks
    chunk = pid % chunks
    offs_c = cb * BLOCK_C + tl.arange(0, BLOCK_C)
    c_ok = offs_c < C
    offs_s = tl.arange(0, KCP)
    dtaps = tl.zeros((BLOCK_C, KCP), dtype=ACC)  # [c, s]
    dbias = tl.zeros((BLOCK_C,), dtype=ACC)
    start = chunk * items_per_chunk
    end = tl.minimum(start + items_per_chunk, rows_per_member * n_tb)
    for item in range(start, end):  # item = (row of member k, time block), time blocks fastest
        row = k * rows_per_member + item // n_tb
        offs_t, mask, dx_row = _tile(row, item % n_tb, offs_c, T, C, BLOCK_T)
        x_row = X + row.to(tl.int64) * stride_xr
        dy_row = DY + row.to(tl.int64) * stride_dr
        dy = tl.load(dy_row + offs_t[:, None] * stride_dt + offs_c[None, :], mask=mask, other=0.0)
        dy = dy.to(ACC)
        dx = tl.zeros((BLOCK_T, BLOCK_C), dtype=ACC)
        for s in tl.static_range(KC):
            w = tl.load(TAPS + (k * C + offs_c) * KC + s, mask=c_ok, other=0.0).to(ACC)
            ts = offs_t - s  # x[t - s] for dtaps
            xs = tl.load(
                x_row + ts[:, None] * stride_xt + offs_c[None, :], mask=mask & (ts >= 0)[:, None], other=0.0
            ).to(ACC)
            dtaps += tl.where(offs_s[None, :] == s, tl.sum(dy * xs, axis=0)[:, None], 0.0)
            if s == 0:
                dx += w[None, :] * dy
            else:
                tp = offs_t + s  # dy[t + s] for dx
                dys = tl.load(
                    dy_row + tp[:, None] * stride_dt + offs_c[None, :],
                    mask=mask & (tp < T)[:, None],
                    other=0.0,
                ).to(ACC)
                dx += w[None, :] * dys
        dbias += tl.sum(dy, axis=0)
        tl.store(DX + dx_row + offs_t[:, None] * C + offs_c[None, :], dx.to(DX.dtype.element_ty), mask=mask)
    part = (k * chunks + chunk) * C + offs_c  # [K, chunks, C] and [K, chunks, C, KC]
    tl.store(DBIAS_PART + part, dbias, mask=c_ok)
    tl.store(
        DTAPS_PART + part[:, None] * KC + offs_s[None, :], dtaps, mask=c_ok[:, None] & (offs_s < KC)[None, :]
    )


def _blocks(t: int, c: int) -> tuple[int, int, int, int]:
    """T, C -> (BLOCK_T, BLOCK_C, time blocks, channel blocks)."""
    block_c = min(BLOCK_C_CHOICES, key=lambda b: (triton.cdiv(c, b) * b, -b))
    block_t = min(max(1, TILE_ELEMENTS // block_c), max(16, triton.next_power_of_2(t)))
    return block_t, block_c, triton.cdiv(t, block_t), triton.cdiv(c, block_c)


def _last_stride_one(t: torch.Tensor) -> torch.Tensor:
    return t if t.stride(-1) == 1 else t.contiguous()


def _acc_dtype(x: torch.Tensor) -> tuple[Any, torch.dtype]:
    """What the kernels compute in, as a Triton and a torch dtype: fp64 for fp64 x, else fp32."""
    return (tl.float64, torch.float64) if x.dtype == torch.float64 else (tl.float32, torch.float32)


class _MemberCausalConv(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, taps: torch.Tensor, bias: torch.Tensor, out_dtype: torch.dtype
    ) -> torch.Tensor:
        members, c, kc = taps.shape
        rows, t = x.shape[0], x.shape[1]
        x = _last_stride_one(x)
        y = torch.empty(rows, t, c, dtype=out_dtype, device=x.device)
        block_t, block_c, n_tb, n_cb = _blocks(t, c)
        if y.numel():
            _conv_fwd_kernel[(rows * n_tb, n_cb)](
                X=x, TAPS=taps.contiguous(), BIAS=bias.contiguous(), Y=y, T=t, C=c, n_tb=n_tb,
                rows_per_member=rows // members, stride_xr=x.stride(0), stride_xt=x.stride(1),
                KC=kc, BLOCK_T=block_t, BLOCK_C=block_c, ACC=_acc_dtype(x)[0], num_warps=NUM_WARPS,
            )  # fmt: skip
        ctx.save_for_backward(x, taps)
        ctx.bias_dtype = bias.dtype
        return y

    @staticmethod
    def backward(ctx: Any, dy: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, taps = ctx.saved_tensors
        members, c, kc = taps.shape
        rows, t = x.shape[0], x.shape[1]
        per = rows // members
        dy = _last_stride_one(dy)
        block_t, block_c, n_tb, n_cb = _blocks(t, c)
        items = per * n_tb  # (row, time block) tiles of one member
        acc, part_dtype = _acc_dtype(x)
        dx = torch.empty(rows, t, c, dtype=x.dtype, device=x.device)
        if not (items and c):  # no tiles: nothing to launch
            dtaps_sum = torch.zeros(members, c, kc, dtype=part_dtype, device=x.device)
            return dx, dtaps_sum.to(taps.dtype), dtaps_sum[..., 0].to(ctx.bias_dtype), None
        chunks = max(1, min(items, BWD_PROGRAMS // (members * n_cb)))
        items_per_chunk = triton.cdiv(items, chunks)
        chunks = triton.cdiv(items, items_per_chunk)  # each chunk has at least one tile
        dtaps_part = torch.empty(members, chunks, c, kc, dtype=part_dtype, device=x.device)
        dbias_part = torch.empty(members, chunks, c, dtype=part_dtype, device=x.device)
        _conv_bwd_kernel[(members * chunks, n_cb)](
            X=x, TAPS=taps.contiguous(), DY=dy, DX=dx, DTAPS_PART=dtaps_part, DBIAS_PART=dbias_part,
            T=t, C=c, n_tb=n_tb, rows_per_member=per, chunks=chunks, items_per_chunk=items_per_chunk,
            stride_xr=x.stride(0), stride_xt=x.stride(1), stride_dr=dy.stride(0), stride_dt=dy.stride(1),
            KC=kc, KCP=max(2, triton.next_power_of_2(kc)), BLOCK_T=block_t, BLOCK_C=block_c, ACC=acc,
            num_warps=NUM_WARPS,
        )  # fmt: skip
        dtaps = dtaps_part.sum(1).to(taps.dtype)
        dbias = dbias_part.sum(1).to(ctx.bias_dtype)
        return dx, dtaps, dbias, None


def member_causal_conv(x: torch.Tensor, taps: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """x [rows, T, C] (member k's B = rows / K rows contiguous), taps [K, C, Kc] and bias [K, C] (or
    one model's [C, Kc] and [C]) -> y [rows, T, C]: each member's causal depthwise convolution (see
    the module docstring). y is in the autocast dtype under autocast, else in x's dtype."""
    if x.dim() != 3 or taps.dim() not in (2, 3):
        raise ValueError(
            f"x must be [rows, T, C] and taps [C, Kc] or [K, C, Kc]; got x {tuple(x.shape)}, "
            f"taps {tuple(taps.shape)}"
        )
    if bias.shape != taps.shape[:-1] or taps.shape[-2] != x.shape[-1] or taps.shape[-1] < 1:
        raise ValueError(
            f"taps must be [..., C, Kc] with C = x's last dim ({x.shape[-1]}) and Kc >= 1, and bias "
            f"taps' shape less Kc; got taps {tuple(taps.shape)}, bias {tuple(bias.shape)}"
        )
    if taps.dim() == 2:
        taps, bias = taps.unsqueeze(0), bias.unsqueeze(0)
    if x.shape[0] % taps.shape[0]:
        raise ValueError(f"a batch of {x.shape[0]} rows is not divisible among {taps.shape[0]} members")
    out_dtype = x.dtype
    if torch.is_autocast_enabled(x.device.type):
        out_dtype = torch.get_autocast_dtype(x.device.type)
    with torch.autocast(x.device.type, enabled=False):
        y: torch.Tensor = _MemberCausalConv.apply(x, taps, bias, out_dtype)
    return y
