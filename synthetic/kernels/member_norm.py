"""LayerNorm of K ensemble members in one Triton kernel each way: normalise over the last dim, then
each member's own affine (weight, bias [K, D]), forward and backward fused.

The eager :class:`synthetic.members.MemberLayerNorm` is ``F.layer_norm`` (under bf16 autocast in
fp32, after a cast of its bf16 input), then a multiply and an add over the whole [K*B, T, D]
tensor, and the same in reverse for the gradients: at the paper's widths (D = 36-128) about five
full passes over memory each way, and the largest GPU items of a step (bench/NOTES-training.md).
This kernel reads x once and writes y once (in x's dtype, or bf16 under bf16 autocast, which is
what the next matmul reads), keeping the per-row mean and 1 / std (fp32) for the backward, which
reads x and dy once and writes dx, plus per-(member, row block) partial sums of dy * x_hat and dy
that torch adds up to the weight and bias gradients.

    x_hat = (x - mean) / sqrt(var + eps),   y = x_hat * w[k] + b[k]            (k = row // rows_per_member)
    dx = rstd * (g - mean(g) - x_hat * mean(g * x_hat)),   g = dy * w[k]
    dw[k] = sum over member k's rows of dy * x_hat,   db[k] = sum of dy

Used by :class:`~synthetic.members.MemberLayerNorm` on CUDA tensors unless READTWICE_FUSED_NORM=0
(the default since it measured 1.26-1.33x the graphed ensembles' training throughput on an H100,
figures/data/train_throughput_cuda_paper_fused_norm.csv); its reference is the eager path, which the
tests compare it with (under TRITON_INTERPRET=1 on the CPU, and on a GPU under bf16 autocast).
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl

from synthetic.kernels.dispatch import env_flag

__all__ = ["FUSED_NORM_ENV", "fused_norm_enabled", "member_layer_norm"]

FUSED_NORM_ENV = "READTWICE_FUSED_NORM"
BLOCK_ROWS = 16  # rows per program


def fused_norm_enabled() -> bool:
    """READTWICE_FUSED_NORM: ``1`` (default) uses the fused kernel on CUDA tensors, ``0`` the eager
    norm (CPU tensors always take the eager norm)."""
    return env_flag(FUSED_NORM_ENV, default=True)


@triton.jit
def _block(k, chunk, rows_per_member, D, BLOCK_R: tl.constexpr, DP: tl.constexpr):
    """This program's tile: member k's rows ``chunk * BLOCK_R ...`` (a block never straddles two
    members) -> (global row indices [BLOCK_R], column offsets [DP], row mask, column mask, tile
    mask [BLOCK_R, DP])."""
    offs_r = chunk * BLOCK_R + tl.arange(0, BLOCK_R)
    offs_d = tl.arange(0, DP)
    row_ok = offs_r < rows_per_member
    col_ok = offs_d < D
    return k * rows_per_member + offs_r, offs_d, row_ok, col_ok, row_ok[:, None] & col_ok[None, :]


@triton.jit
def _member_norm_fwd_kernel(
    X, W, B, Y, MEAN, RSTD, rows_per_member, D, eps, BLOCK_R: tl.constexpr, DP: tl.constexpr
):
    eps = tl.cast(eps, tl.float32)  # a float argument may arrive as fp64 (torch.compile's launcher)
    k = tl.program_id(0)
    chunk = tl.program_id(1)
    rows, offs_d, row_ok, col_ok, mask = _block(k, chunk, rows_per_member, D, BLOCK_R, DP)
    x = tl.load(X + rows[:, None] * D + offs_d[None, :], mask=mask, other=0.0).to(tl.float32)
    mean = tl.sum(x, axis=1) / D
    xc = tl.where(mask, x - mean[:, None], 0.0)
    var = tl.sum(xc * xc, axis=1) / D
    rstd = 1.0 / tl.sqrt(var + eps)
    w = tl.load(W + k * D + offs_d, mask=col_ok, other=0.0).to(tl.float32)
    b = tl.load(B + k * D + offs_d, mask=col_ok, other=0.0).to(tl.float32)
    y = xc * rstd[:, None] * w[None, :] + b[None, :]
    tl.store(Y + rows[:, None] * D + offs_d[None, :], y.to(Y.dtype.element_ty), mask=mask)
    tl.store(MEAN + rows, mean, mask=row_ok)
    tl.store(RSTD + rows, rstd, mask=row_ok)


@triton.jit
def _member_norm_bwd_kernel(
    X, W, DY, MEAN, RSTD, DX, DW_PART, DB_PART, rows_per_member, chunks, D,
    BLOCK_R: tl.constexpr, DP: tl.constexpr,
):  # fmt: skip
    k = tl.program_id(0)
    chunk = tl.program_id(1)
    rows, offs_d, row_ok, col_ok, mask = _block(k, chunk, rows_per_member, D, BLOCK_R, DP)
    x = tl.load(X + rows[:, None] * D + offs_d[None, :], mask=mask, other=0.0).to(tl.float32)
    dy = tl.load(DY + rows[:, None] * D + offs_d[None, :], mask=mask, other=0.0).to(tl.float32)
    mean = tl.load(MEAN + rows, mask=row_ok, other=0.0)
    rstd = tl.load(RSTD + rows, mask=row_ok, other=0.0)
    w = tl.load(W + k * D + offs_d, mask=col_ok, other=0.0).to(tl.float32)
    x_hat = tl.where(mask, (x - mean[:, None]) * rstd[:, None], 0.0)
    g = dy * w[None, :]
    mean_g = tl.sum(g, axis=1) / D
    mean_gx = tl.sum(g * x_hat, axis=1) / D
    dx = rstd[:, None] * (g - mean_g[:, None] - x_hat * mean_gx[:, None])
    tl.store(DX + rows[:, None] * D + offs_d[None, :], dx.to(DX.dtype.element_ty), mask=mask)
    part = (k * chunks + chunk) * D + offs_d
    tl.store(DW_PART + part, tl.sum(dy * x_hat, axis=0), mask=col_ok)
    tl.store(DB_PART + part, tl.sum(dy, axis=0), mask=col_ok)


def _launch_shape(rows: int, members: int, d: int) -> tuple[int, int, int]:
    if rows % members:
        raise ValueError(f"a batch of {rows} rows is not divisible among {members} members")
    per = rows // members
    return per, triton.cdiv(per, BLOCK_ROWS), max(16, triton.next_power_of_2(d))


class _MemberLayerNorm(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor,
        eps: float,
        out_dtype: torch.dtype,
    ) -> torch.Tensor:
        k, d = weight.shape
        x2 = x.reshape(-1, d).contiguous()
        per, chunks, dp = _launch_shape(x2.shape[0], k, d)
        y = torch.empty(x2.shape, dtype=out_dtype, device=x.device)
        mean = torch.empty(x2.shape[0], dtype=torch.float32, device=x.device)
        rstd = torch.empty_like(mean)
        if per:
            _member_norm_fwd_kernel[(k, chunks)](
                X=x2, W=weight.contiguous(), B=bias.contiguous(), Y=y, MEAN=mean, RSTD=rstd,
                rows_per_member=per, D=d, eps=eps, BLOCK_R=BLOCK_ROWS, DP=dp,
            )  # fmt: skip
        ctx.save_for_backward(x, weight, mean, rstd)
        ctx.shape, ctx.x_dtype = x.shape, x.dtype
        return y.view(x.shape)

    @staticmethod
    def backward(ctx: Any, dy: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight, mean, rstd = ctx.saved_tensors
        k, d = weight.shape
        x2 = x.reshape(-1, d).contiguous()
        per, chunks, dp = _launch_shape(x2.shape[0], k, d)
        dy2 = dy.reshape(-1, d).contiguous()
        dx = torch.empty(x2.shape, dtype=ctx.x_dtype, device=x2.device)
        dw_part = torch.zeros(k, chunks, d, dtype=torch.float32, device=x2.device)
        db_part = torch.zeros_like(dw_part)
        if per:
            _member_norm_bwd_kernel[(k, chunks)](
                X=x2, W=weight.contiguous(), DY=dy2, MEAN=mean, RSTD=rstd, DX=dx, DW_PART=dw_part,
                DB_PART=db_part, rows_per_member=per, chunks=chunks, D=d, BLOCK_R=BLOCK_ROWS, DP=dp,
            )  # fmt: skip
        dw = dw_part.sum(1).to(weight.dtype)
        db = db_part.sum(1).to(weight.dtype)
        return dx.view(ctx.shape), dw, db, None, None


def member_layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float) -> torch.Tensor:
    """x [K*B, ..., D] (member k's rows contiguous), weight and bias [K, D] -> y of x's shape: each
    member's LayerNorm (see the module docstring). y is bf16 under bf16 autocast, else x's dtype."""
    if weight.shape != bias.shape or weight.dim() != 2 or x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"weight and bias must be [K, D] with D = x's last dim; got {tuple(weight.shape)}, "
            f"{tuple(bias.shape)} for x {tuple(x.shape)}"
        )
    out_dtype = x.dtype
    if torch.is_autocast_enabled(x.device.type):
        out_dtype = torch.get_autocast_dtype(x.device.type)
    with torch.autocast(x.device.type, enabled=False):
        return _MemberLayerNorm.apply(x, weight, bias, eps, out_dtype)
