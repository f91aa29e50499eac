"""The kernel-matrix part of Taylor linear attention, with a hand-written backward.

Symbols: docs/synthetic/glossary.md; here Tq queries and Tk keys (Tq = Tk = T when causal).

    s_ij = q_i . k_j / sqrt(F),   a_ij = phi(q_i) . phi(k_j) = 1 + s_ij + s_ij^2 / 2,
    num_i = sum_j m_ij a_ij v_j,  den_i = sum_j m_ij a_ij

with a 0/1 mask m (causal: j <= i; and/or a per-example set of keys). On a CPU the cost of short
training sequences is in the elementwise passes over the [Tq, Tk] matrices, not in the matrix
products; autograd of the plain formula makes about 17 such passes per call, this Function 8,
all but one in place (forward: a, mask, row sum; backward: add the row-sum gradient, mask,
(1 + s), product). The tests
check it against autograd of the plain formula in float64 (outputs and every gradient).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.autograd.function import once_differentiable


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
        s = torch.matmul(q, k.transpose(-1, -2))  # [B, H, Tq, Tk]
        a = torch.addcmul(s, s, s, value=0.5).add_(1.0)
        if causal:
            a.tril_()
        if keys is not None:
            a.mul_(keys)
        ctx.causal = causal
        ctx.save_for_backward(q, k, v, s, a, keys)
        return torch.matmul(a, v), a.sum(-1)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, d_num: torch.Tensor, d_den: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        q, k, v, s, a, keys = ctx.saved_tensors
        dv = torch.matmul(a.transpose(-1, -2), d_num)
        da = torch.matmul(d_num, v.transpose(-1, -2)).add_(d_den.unsqueeze(-1))
        if ctx.causal:
            da.tril_()
        if keys is not None:
            da.mul_(keys)
        ds = da.mul_(s.add_(1.0))  # d a / d s = 1 + s (s is not needed after this)
        return torch.matmul(ds, k), torch.matmul(ds.transpose(-1, -2), q), dv, None, None


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
    # one copy each into the head-major layout: batched matrix products on contiguous operands
    qh = (q * q.shape[-1] ** -0.5).transpose(1, 2).contiguous()
    kh, vh = (x.transpose(1, 2).contiguous() for x in (k, v))
    num, den = _KernelMatrixRead.apply(qh, kh, vh, causal, mask)
    return num.transpose(1, 2), den.transpose(1, 2)
