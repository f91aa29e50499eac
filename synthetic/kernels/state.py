"""The recurrent state of Taylor linear attention, one type from the kernels up through the layers.

Symbols: docs/synthetic/glossary.md (B batch, H heads, F feature dim, E = 1 + F + F^2 the
expanded feature dim, :func:`synthetic.kernels.feature_map.expanded_dim`; Dh value head dim).

    kv = sum_j phi(k_j) v_j^T   [B, H, E, Dh]        z = sum_j phi(k_j)   [B, H, E]

H * E * (Dh + 1) values per example. The ops (:func:`synthetic.kernels.based_linear_attention`,
:func:`synthetic.kernels.prefix_linear_attention`) take it as ``initial_state`` and return it;
the Based and prefix-linear-attention layers carry it as their decode state unchanged
(:mod:`synthetic.layers.linear_attention`). Inside the Triton engine the same pair holds the
kernels' row layout ([B*H, S, R, Dh] and [B*H, S, R]: synthetic/kernels/engine/blocks.py).
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class LinearAttentionState(NamedTuple):
    """``kv`` [B, H, E, Dh] and ``z`` [B, H, E] (see the module docstring)."""

    kv: torch.Tensor
    z: torch.Tensor

    def to(self, dtype: torch.dtype) -> LinearAttentionState:
        """Both tensors in ``dtype``."""
        return LinearAttentionState(self.kv.to(dtype), self.z.to(dtype))
