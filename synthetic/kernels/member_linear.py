"""K ensemble members' linear layers (``MemberLinear``) as Triton kernels: y = x W^T + b per member,
with the weight gradient summed over rows by many programs.

Why: at d_model 36 a third of an ensemble step's GPU time on an H100 went to cuBLAS's sm80
``wmma`` GEMMs (8 calls of 168 us a step; bench/NOTES-training.md), for matrices that are tiny:
member k's ``[M, 36] x [36, 36]`` moves about 5 MB at M = 35,200 rows (128 examples of 275
tokens) and needs a few microseconds at memory speed. The weight gradient ``dW = dY^T X`` is the
worst case for a library GEMM: a 36 x 36 output (one tile a member) summed over 35,200 rows. Here
each of the three products is a memory-bound pass:

- forward ``y[k] = x[k] @ W[k]^T + b[k]`` and input gradient ``dx[k] = dy[k] @ W[k]`` are one kernel
  (:func:`_rows_kernel`, the weight read through strides): a program owns ``[BLOCK_M, BLOCK_N]`` of
  one member's output and loops over the reduced width;
- weight and bias gradients (:func:`_wgrad_kernel`): a program sums ``dy^T x`` (and ``dy``) over a
  chunk of one member's rows into fp32 partials ``[K, chunks, out, in]`` that torch adds up (no
  atomics: the same result on every run, which the graphed training step relies on).

Shapes: x [K, M, in] (rows of member k contiguous in M; last stride 1), weight [K, out, in], bias
[K, out] or None. Dtypes: the products run in ``compute`` (bf16 / fp16 under autocast, else x's
dtype, fp32; fp32 products use IEEE fp32, not TF32), summed in fp32. Loads cast in registers, so
an fp32 x (a LayerNorm's output under autocast) and the fp32 master weights need no bf16 copies in
memory. y is in ``compute``; dx in x's dtype; dW and db in the parameters' dtypes (fp32 sums of the
bf16 products, where autocast's bmm would round dW to bf16 before its cast back).

Used by :class:`synthetic.members.MemberLinear` on CUDA tensors when READTWICE_MEMBER_GEMM=1 (off by
default until timed on a GPU: ``bench/member_linear.py``). Its reference is ``torch.baddbmm``; the
tests compare with it under TRITON_INTERPRET=1 on the CPU and on a GPU under bf16 autocast.
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl

from synthetic.kernels.dispatch import env_flag

__all__ = ["COMPUTE_DTYPES", "MEMBER_GEMM_ENV", "member_gemm_enabled", "member_linear"]

MEMBER_GEMM_ENV = "READTWICE_MEMBER_GEMM"
COMPUTE_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
BLOCK_M = 64  # output rows a program of the row kernel owns
BLOCK_M_WGRAD = 64  # rows a step of the weight-gradient loop reads
MAX_BLOCK = 64  # widest block of a width (out, in); wider widths loop or take more programs
WGRAD_PROGRAMS = 1024  # about how many programs the weight gradient runs (fewer if there are fewer rows)
NUM_WARPS = 4

_TL_DTYPES = {torch.float32: tl.float32, torch.bfloat16: tl.bfloat16, torch.float16: tl.float16}


def member_gemm_enabled() -> bool:
    """READTWICE_MEMBER_GEMM: ``1`` runs MemberLinear's products in these kernels on CUDA tensors,
    ``0`` (default) in ``torch.baddbmm``; anything else is a ValueError naming the variable."""
    return env_flag(MEMBER_GEMM_ENV, default=False)


def _block(width: int) -> int:
    """A power-of-two block of at least 16 (tl.dot's smallest) and at most MAX_BLOCK for a width."""
    return max(16, min(MAX_BLOCK, triton.next_power_of_2(width)))


@triton.jit
def _rows_kernel(
    A, W, BIAS, Y, M, N, R, n_mb,
    stride_ak, stride_am, stride_wk, stride_wn, stride_wr, stride_yk, stride_ym,
    HAS_BIAS: tl.constexpr, COMPUTE: tl.constexpr, PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_R: tl.constexpr,
):  # fmt: skip
    """Y[k, m, n] = sum_r A[k, m, r] * W[k, n, r] (+ BIAS[k, n]): A's last stride is 1, W's strides
    free (the forward reads W [out, in] as (n, r); the input gradient reads it as (r, n))."""
    pid = tl.program_id(0)
    nb = tl.program_id(1)
    k = pid // n_mb
    offs_m = (pid % n_mb) * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = nb * BLOCK_N + tl.arange(0, BLOCK_N)
    m_ok = offs_m < M
    n_ok = offs_n < N
    a_rows = A + k.to(tl.int64) * stride_ak + offs_m.to(tl.int64)[:, None] * stride_am
    w_base = W + k.to(tl.int64) * stride_wk + offs_n[None, :] * stride_wn
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for r0 in range(0, R, BLOCK_R):
        offs_r = r0 + tl.arange(0, BLOCK_R)
        r_ok = offs_r < R
        a = tl.load(a_rows + offs_r[None, :], mask=m_ok[:, None] & r_ok[None, :], other=0.0)
        w = tl.load(w_base + offs_r[:, None] * stride_wr, mask=r_ok[:, None] & n_ok[None, :], other=0.0)
        acc = tl.dot(a.to(COMPUTE), w.to(COMPUTE), acc, input_precision=PRECISION)  # [BM, BR] @ [BR, BN]
    if HAS_BIAS:
        acc += tl.load(BIAS + k * N + offs_n, mask=n_ok, other=0.0).to(tl.float32)[None, :]
    y = Y + k.to(tl.int64) * stride_yk + offs_m.to(tl.int64)[:, None] * stride_ym + offs_n[None, :]
    tl.store(y, acc.to(Y.dtype.element_ty), mask=m_ok[:, None] & n_ok[None, :])


@triton.jit
def _wgrad_kernel(
    DY, X, DW_PART, DB_PART, M, N, R, chunks, rows_per_chunk,
    stride_dk, stride_dm, stride_xk, stride_xm,
    HAS_BIAS: tl.constexpr, COMPUTE: tl.constexpr, PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_R: tl.constexpr,
):  # fmt: skip
    """DW_PART[k, c, n, r] = sum over member k's rows m of chunk c of DY[k, m, n] * X[k, m, r], and
    DB_PART[k, c, n] = sum of DY[k, m, n] over the same rows (the bias part only at r block 0)."""
    pid = tl.program_id(0)
    nb = tl.program_id(1)
    rb = tl.program_id(2)
    k = pid // chunks
    chunk = pid % chunks
    offs_n = nb * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_r = rb * BLOCK_R + tl.arange(0, BLOCK_R)
    n_ok = offs_n < N
    r_ok = offs_r < R
    dy_base = DY + k.to(tl.int64) * stride_dk
    x_base = X + k.to(tl.int64) * stride_xk
    acc = tl.zeros((BLOCK_N, BLOCK_R), dtype=tl.float32)
    db = tl.zeros((BLOCK_N,), dtype=tl.float32)
    start = chunk * rows_per_chunk
    end = tl.minimum(start + rows_per_chunk, M)
    for m0 in range(start, end, BLOCK_M):
        offs_m = m0 + tl.arange(0, BLOCK_M)
        m_ok = offs_m < end
        rows = offs_m.to(tl.int64)[:, None]
        dy = tl.load(
            dy_base + rows * stride_dm + offs_n[None, :], mask=m_ok[:, None] & n_ok[None, :], other=0.0
        )
        x = tl.load(
            x_base + rows * stride_xm + offs_r[None, :], mask=m_ok[:, None] & r_ok[None, :], other=0.0
        )
        acc = tl.dot(tl.trans(dy.to(COMPUTE)), x.to(COMPUTE), acc, input_precision=PRECISION)
        if HAS_BIAS:
            db += tl.sum(dy.to(COMPUTE).to(tl.float32), axis=0)
    part = (k * chunks + chunk).to(tl.int64) * N + offs_n  # row (k, chunk, n) of the partials
    tl.store(DW_PART + part[:, None] * R + offs_r[None, :], acc, mask=n_ok[:, None] & r_ok[None, :])
    if HAS_BIAS:
        if rb == 0:
            tl.store(DB_PART + part, db, mask=n_ok)


def _precision(compute: torch.dtype) -> str:
    return "ieee" if compute == torch.float32 else "tf32"  # tf32 is ignored for 16-bit inputs


def _rows(
    a: torch.Tensor, w: torch.Tensor, w_strides: tuple[int, int, int], n: int, bias: torch.Tensor | None,
    out_dtype: torch.dtype, compute: torch.dtype,
) -> torch.Tensor:  # fmt: skip
    """y [K, M, n] = a [K, M, R] times w (member, n, r strides) plus bias [K, n]."""
    members, m, r = a.shape
    y = torch.empty(members, m, n, dtype=out_dtype, device=a.device)
    if not y.numel():
        return y
    if r == 0:  # an empty sum: the bias alone
        y.zero_()
        return y if bias is None else y.add_(bias.unsqueeze(1))
    block_n, block_r = _block(n), _block(r)
    n_mb = triton.cdiv(m, BLOCK_M)
    _rows_kernel[(members * n_mb, triton.cdiv(n, block_n))](
        A=a, W=w, BIAS=bias if bias is not None else a, Y=y, M=m, N=n, R=r, n_mb=n_mb,
        stride_ak=a.stride(0), stride_am=a.stride(1), stride_wk=w_strides[0], stride_wn=w_strides[1],
        stride_wr=w_strides[2], stride_yk=y.stride(0), stride_ym=y.stride(1), HAS_BIAS=bias is not None,
        COMPUTE=_TL_DTYPES[compute], PRECISION=_precision(compute), BLOCK_M=BLOCK_M, BLOCK_N=block_n,
        BLOCK_R=block_r, num_warps=NUM_WARPS,
    )  # fmt: skip
    return y


def _last_stride_one(t: torch.Tensor) -> torch.Tensor:
    return t if t.stride(-1) == 1 else t.contiguous()


class _MemberLinear(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, compute: torch.dtype
    ) -> torch.Tensor:
        x = _last_stride_one(x)
        ctx.save_for_backward(x, weight)
        ctx.compute, ctx.has_bias = compute, bias is not None
        ctx.bias_dtype = None if bias is None else bias.dtype
        s = weight.stride()
        return _rows(x, weight, (s[0], s[1], s[2]), weight.shape[1], bias, compute, compute)

    @staticmethod
    def backward(ctx: Any, dy: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        members, out, inp = weight.shape
        m = x.shape[1]
        dy = _last_stride_one(dy)
        dx = None
        if ctx.needs_input_grad[0]:  # dx = dy @ W: W read as (member, n = in, r = out)
            s = weight.stride()
            dx = _rows(dy, weight, (s[0], s[2], s[1]), inp, None, x.dtype, ctx.compute)
        block_n, block_r = _block(out), _block(inp)
        n_nb, n_rb = triton.cdiv(out, block_n), triton.cdiv(inp, block_r)
        chunks = max(1, min(triton.cdiv(m, BLOCK_M_WGRAD), WGRAD_PROGRAMS // max(1, members * n_nb * n_rb)))
        rows_per_chunk = max(1, triton.cdiv(triton.cdiv(m, chunks), BLOCK_M_WGRAD)) * BLOCK_M_WGRAD
        chunks = max(1, triton.cdiv(m, rows_per_chunk))  # each chunk has at least one row (if any)
        dw_part = torch.zeros(members, chunks, out, inp, dtype=torch.float32, device=x.device)
        db_part = torch.zeros(members, chunks, out, dtype=torch.float32, device=x.device)
        if m and out and inp:
            _wgrad_kernel[(members * chunks, n_nb, n_rb)](
                DY=dy, X=x, DW_PART=dw_part, DB_PART=db_part, M=m, N=out, R=inp, chunks=chunks,
                rows_per_chunk=rows_per_chunk, stride_dk=dy.stride(0), stride_dm=dy.stride(1),
                stride_xk=x.stride(0), stride_xm=x.stride(1), HAS_BIAS=ctx.has_bias,
                COMPUTE=_TL_DTYPES[ctx.compute], PRECISION=_precision(ctx.compute), BLOCK_M=BLOCK_M_WGRAD,
                BLOCK_N=block_n, BLOCK_R=block_r, num_warps=NUM_WARPS,
            )  # fmt: skip
        elif m and out and ctx.has_bias:  # no input width: only the bias has a gradient
            db_part[:, 0] = dy.to(ctx.compute).float().sum(1)
        dw = dw_part.sum(1).to(weight.dtype)
        db = db_part.sum(1).to(ctx.bias_dtype) if ctx.has_bias else None
        return dx, dw, db, None


def member_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """x [K, M, in] (last stride 1 or copied), weight [K, out, in], bias [K, out] or None -> y
    [K, M, out] = x W^T + b per member, in the autocast dtype under autocast (as ``baddbmm``'s), else
    in x's dtype (fp32, bf16 or fp16; weight and bias may be fp32 with 16-bit x)."""
    if x.dim() != 3 or weight.dim() != 3 or x.shape[0] != weight.shape[0] or x.shape[2] != weight.shape[2]:
        raise ValueError(
            f"x must be [K, M, in] and weight [K, out, in] with the same K and in; got x "
            f"{tuple(x.shape)}, weight {tuple(weight.shape)}"
        )
    if bias is not None and bias.shape != weight.shape[:2]:
        raise ValueError(f"bias must be [K, out] = {tuple(weight.shape[:2])}; got {tuple(bias.shape)}")
    compute = x.dtype
    if torch.is_autocast_enabled(x.device.type):
        compute = torch.get_autocast_dtype(x.device.type)
    if compute not in COMPUTE_DTYPES:
        raise ValueError(
            f"member_linear computes in {', '.join(map(str, COMPUTE_DTYPES))}; got {compute} "
            "(take torch.baddbmm for other dtypes)"
        )
    with torch.autocast(x.device.type, enabled=False):
        y: torch.Tensor = _MemberLinear.apply(x, weight, bias, compute)
    return y
