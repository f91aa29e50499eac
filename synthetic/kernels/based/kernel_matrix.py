"""The kernel-matrix part of Taylor linear attention, with a hand-written backward.

Symbols: docs/synthetic/glossary.md; here Tq queries and Tk keys (Tq = Tk = T when causal).

    s_ij = q_i . k_j / sqrt(F),   a_ij = phi(q_i) . phi(k_j) = 1 + s_ij + s_ij^2 / 2,
    num_i = sum_j m_ij a_ij v_j,  den_i = sum_j m_ij a_ij

with a 0/1 mask m (causal: j <= i; and/or a per-example set of keys). On a CPU the cost of short
training sequences is in the elementwise passes over the [Tq, Tk] matrices, not in the matrix
products; autograd of the plain formula makes about 17 such passes per call, this Function 8,
all but one in place (forward: a, mask, row sum; backward: add the row-sum gradient, mask,
(1 + s), product).

:func:`kernel_attention` also divides, y_i = num_i / (den_i + eps), inside the Function and in the
head-major layout, where the division and its gradient are contiguous passes over [Tq, Dh] (the
division of the [B, Tq, H, Dh] view and autograd's broadcast backward were about a sixth of a
CPU training step of causal Based). The tests check both against autograd of the plain formula in
float64 (outputs and every gradient).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.autograd.function import once_differentiable


def _kernel_matrix(
    q: torch.Tensor, k: torch.Tensor, causal_cols: int, mask: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(s, a) of the module docstring, [B, H, Tq, Tk]; the first ``causal_cols`` key columns are
    masked causally (j > i), then ``mask`` multiplies every column."""
    s = torch.matmul(q, k.transpose(-1, -2))
    a = torch.addcmul(s, s, s, value=0.5).add_(1.0)
    if causal_cols:
        a[..., :causal_cols].tril_()
    if mask is not None:
        a.mul_(mask)
    return s, a


def _kernel_matrix_grads(
    ctx: Any, da: torch.Tensor, q: torch.Tensor, k: torch.Tensor, s: torch.Tensor, mask: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(dq, dk) from the gradient ``da`` of the masked kernel matrix (overwritten, as is s)."""
    if ctx.causal_cols:
        da[..., : ctx.causal_cols].tril_()
    if mask is not None:
        da.mul_(mask)
    ds = da.mul_(s.add_(1.0))  # d a / d s = 1 + s (s is not needed after this)
    return torch.matmul(ds, k), torch.matmul(ds.transpose(-1, -2), q)


class _KernelMatrixRead(torch.autograd.Function):
    """(num, den) of the module docstring; inputs in the [B, H, T, *] layout, q pre-scaled."""

    @staticmethod
    def forward(
        ctx: Any,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        causal: bool,
        keys: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        s, a = _kernel_matrix(q, k, q.shape[-2] if causal else 0, keys)  # [B, H, Tq, Tk]
        ctx.causal_cols = q.shape[-2] if causal else 0
        ctx.save_for_backward(q, k, v, s, a, keys)
        return torch.matmul(a, v), a.sum(-1)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, d_num: torch.Tensor, d_den: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        q, k, v, s, a, keys = ctx.saved_tensors
        dv = torch.matmul(a.transpose(-1, -2), d_num)
        da = torch.matmul(d_num, v.transpose(-1, -2)).add_(d_den.unsqueeze(-1))
        dq, dk = _kernel_matrix_grads(ctx, da, q, k, s, keys)
        return dq, dk, dv, None, None


class _KernelAttention(torch.autograd.Function):
    """y = num / (den + eps) of the module docstring; inputs in the [B, H, T, *] layout, q
    pre-scaled; returns y [B, H, Tq, Dh]."""

    @staticmethod
    def forward(
        ctx: Any,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        causal_cols: int,
        mask: torch.Tensor | None,
        eps: float,
    ) -> torch.Tensor:
        s, a = _kernel_matrix(q, k, causal_cols, mask)
        r = a.sum(-1).add_(eps).reciprocal_()  # [B, H, Tq]: 1 / (den + eps)
        y = torch.matmul(a, v).mul_(r.unsqueeze(-1))
        ctx.causal_cols = causal_cols
        ctx.save_for_backward(q, k, v, s, a, mask, r, y)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, dy: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        q, k, v, s, a, mask, r, y = ctx.saved_tensors
        d_num = dy * r.unsqueeze(-1)
        d_den = (d_num * y).sum(-1).neg_()  # d y / d den = -y / (den + eps)
        dv = torch.matmul(a.transpose(-1, -2), d_num)
        da = torch.matmul(d_num, v.transpose(-1, -2)).add_(d_den.unsqueeze(-1))
        dq, dk = _kernel_matrix_grads(ctx, da, q, k, s, mask)
        return dq, dk, dv, None, None, None


def _head_major(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """q (scaled by 1 / sqrt(F)), k, v copied once each into the [B, H, T, *] layout: batched
    matrix products on contiguous operands."""
    qh = (q * q.shape[-1] ** -0.5).transpose(1, 2).contiguous()
    kh, vh = (x.transpose(1, 2).contiguous() for x in (k, v))
    return qh, kh, vh


def kernel_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal_cols: int = 0,
    keys: torch.Tensor | None = None,
    query_pos: torch.Tensor | None = None,
    eps: float = 1e-6,
) -> torch.Tensor:
    """Normalised Taylor attention read through the kernel matrix (no feature map, no state).

    q [B, Tq, H, F]; k [B, Tk, H, F]; v [B, Tk, H, Dh]; the first ``causal_cols`` keys are read
    causally: key j by query i only if j <= i, or j <= query_pos[b, i] when ``query_pos`` (int64
    [B, Tq], the queries' positions among those keys) is given; the other keys by every query.
    ``keys`` (bool [B, Tk] or None) masks the keys an example may not read. Returns
    y [B, Tq, H, Dh] = num / (den + eps) in q's dtype (see the module docstring).
    """
    tq, tk = q.shape[1], k.shape[1]
    if query_pos is None and not 0 <= causal_cols <= min(tq, tk):
        raise ValueError(f"causal_cols={causal_cols} must be in [0, min(Tq, Tk)] = [0, {min(tq, tk)}]")
    if query_pos is not None and not 0 <= causal_cols <= tk:
        raise ValueError(f"causal_cols={causal_cols} must be in [0, Tk] = [0, {tk}]")
    if query_pos is not None and query_pos.shape != (q.shape[0], tq):
        raise ValueError(f"query_pos must be [B, Tq] = {[q.shape[0], tq]}; got {list(query_pos.shape)}")
    visible = None if keys is None else keys[:, None, :]  # [B, 1, Tk]
    if query_pos is not None and causal_cols:
        j = torch.arange(tk, device=q.device)
        seen = (j[None, None, :] <= query_pos[:, :, None]) | (j >= causal_cols)  # [B, Tq, Tk]
        visible, causal_cols = (seen if visible is None else seen & visible), 0
    mask = None if visible is None else visible.unsqueeze(1).to(q.dtype)  # [B, 1, Tq | 1, Tk]
    y = _KernelAttention.apply(*_head_major(q, k, v), causal_cols, mask, eps)
    return y.transpose(1, 2)


def kernel_matrix_read(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool, keys: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """q [B, Tq, H, F]; k [B, Tk, H, F]; v [B, Tk, H, Dh]; ``causal`` (needs Tq == Tk) masks j > i;
    ``keys`` (bool [B, Tk] or None) masks the keys an example may not read.

    Returns (num [B, Tq, H, Dh], den [B, Tq, H]) in q's dtype (see the module docstring).
    """
    if causal and q.shape[1] != k.shape[1]:
        raise ValueError(f"causal needs as many queries as keys; got Tq={q.shape[1]}, Tk={k.shape[1]}")
    mask = None if keys is None else keys[:, None, None, :].to(q.dtype)
    num, den = _KernelMatrixRead.apply(*_head_major(q, k, v), causal, mask)
    return num.transpose(1, 2), den.transpose(1, 2)
