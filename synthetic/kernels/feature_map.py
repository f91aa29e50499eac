"""The 2nd-order Taylor feature map of Based linear attention.

Symbols (F feature dim per head, before expansion; E = 1 + F + F^2): docs/synthetic/glossary.md.

phi(x) = [1, x / F**(1/4), vec(x x^T) / (sqrt(2) * sqrt(F))]  in R^E, so that

    phi(q) . phi(k) = 1 + s + s^2 / 2,   s = (q . k) / sqrt(F),

the Taylor expansion of exp(s) to second order. It is always >= 1/2, so the running normaliser of
linear attention is positive. The kernels never materialise phi; the references do.
"""

from __future__ import annotations

import math

import torch


def expanded_dim(feature_dim: int) -> int:
    """E = 1 + F + F^2: length of phi(x) for x in R^F (values)."""
    if feature_dim < 1:
        raise ValueError(f"feature_dim={feature_dim} must be >= 1")
    return 1 + feature_dim + feature_dim * feature_dim


def symmetric_expanded_dim(feature_dim: int) -> int:
    """1 + F + F(F+1)/2: the expanded size counting each symmetric 2nd-order term once (the
    paper's state-size convention)."""
    if feature_dim < 1:
        raise ValueError(f"feature_dim={feature_dim} must be >= 1")
    return 1 + feature_dim + feature_dim * (feature_dim + 1) // 2


def taylor_feature_map(x: torch.Tensor) -> torch.Tensor:
    """phi(x) for x of shape [..., F]; returns [..., E] in x's dtype."""
    f = x.shape[-1]
    ones = torch.ones_like(x[..., :1])
    first = x * f**-0.25
    second = (x.unsqueeze(-1) * x.unsqueeze(-2)).flatten(-2) / math.sqrt(2.0 * f)
    return torch.cat([ones, first, second], dim=-1)


def taylor_kernel(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """phi(q_i) . phi(k_j) without materialising phi.

    q [B, Tq, H, F], k [B, Tk, H, F] -> [B, H, Tq, Tk].
    """
    s = torch.einsum("bihf,bjhf->bhij", q, k) / math.sqrt(q.shape[-1])
    return 1.0 + s + 0.5 * s * s
