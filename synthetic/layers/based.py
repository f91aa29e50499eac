"""Based: linear attention with the 2nd-order Taylor feature map (causal or non-causal).

Glossary: B batch, T time, D model width, H heads, F feature dim per head (q/k projection width),
E = 1 + F + F^2 expanded feature dim, Dh = D / H value head dim, E_sym = 1 + F + F(F+1)/2.

    q_t = W_q x_t [H, F],  k_t = W_k x_t [H, F],  v_t = W_v x_t [H, Dh]
    causal:     o_t = phi(q_t) S_t / (phi(q_t) . z_t + eps),  S_t = sum_{j<=t} phi(k_j) v_j^T,
                                                               z_t = sum_{j<=t} phi(k_j)
    non-causal: the same with the sums over the whole sequence (j < T)
    y_t = W_o concat_h(o_t)

phi is the Taylor map of :mod:`synthetic.kernels.feature_map`; the sums are computed by
:func:`synthetic.kernels.based_linear_attention` (Triton on CUDA, torch reference elsewhere).

Recurrent state: the kernels' ``LinearAttentionState`` (kv [B, H, E, Dh], z [B, H, E]) —
``H * E * (Dh + 1)`` values. The paper / Zoology count ``H * E_sym * (Dh + 1) = E_sym * (D + H)``
(each symmetric 2nd-order term once; :meth:`Based.paper_state_size`). Projections, state, step and
sizes: :mod:`synthetic.layers.linear_attention`.

Non-causal mode (the paper's "Based non-causal"): every position reads the whole input, so it is
not a one-token-at-a-time recurrence. Its recurrent form reads the input twice with the same
state: :meth:`Based.prefill` sums the whole prompt into the state, then produces each output from
that state. Tokens read with :meth:`Based.step` after a prefill are handled causally.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from synthetic.kernels import based_linear_attention
from synthetic.kernels.based.kernel_matrix import kernel_attention
from synthetic.kernels.based.reference import state_read
from synthetic.kernels.feature_map import taylor_feature_map
from synthetic.kernels.state import LinearAttentionState
from synthetic.layers.base import MixerConfigBase, full_precision, gather_positions, widened
from synthetic.layers.linear_attention import TaylorLinearAttention


class BasedConfig(MixerConfigBase):
    """Taylor linear attention. ``feature_dim`` F per head, ``num_heads`` H (must divide d_model),
    ``causal`` False for the non-causal (sum over the whole sequence) variant, ``eps`` added to the
    normaliser."""

    kind: Literal["based"] = "based"
    feature_dim: int = Field(16, ge=1)
    num_heads: int = Field(2, ge=1)
    causal: bool = True
    eps: float = Field(1e-6, gt=0)

    def build(self, d_model: int) -> Based:
        return Based(
            d_model, feature_dim=self.feature_dim, num_heads=self.num_heads, causal=self.causal, eps=self.eps
        )


class Based(TaylorLinearAttention):
    """Taylor linear attention; see the module docstring. ``causal`` is set per instance."""

    def __init__(
        self, d_model: int, feature_dim: int = 16, num_heads: int = 2, causal: bool = True, eps: float = 1e-6
    ) -> None:
        super().__init__(d_model, feature_dim, num_heads, eps)
        self.causal = causal  # instance attribute shadows the class default
        self.out_proj = nn.Linear(d_model, d_model, bias=False)

    # ---- parallel form -------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, prefix_len: torch.Tensor | None = None) -> torch.Tensor:
        self._check_input(x)
        q, k, v = self._qkv(x)
        o, _ = based_linear_attention(q, k, v, causal=self.causal, eps=self.eps, need_state=False)
        return self._out(o)

    def forward_at(
        self, x: torch.Tensor, prefix_len: torch.Tensor | None, cols: torch.Tensor
    ) -> torch.Tensor:
        """Queries at ``cols`` [B, Q] only, read through the kernel matrix (Q x T instead of
        T x T): the same values as ``forward(x)[b, cols[b]]`` -> [B, Q, D]."""
        self._check_input(x)
        f, dh = self.feature_dim, self.head_dim
        q = self._heads(self.proj_q(gather_positions(x, cols)), f)
        k, v = self._heads(self.proj_k(x), f), self._heads(self.proj_v(x), dh)
        with full_precision(x):
            o = kernel_attention(
                *widened(q, k, v), eps=self.eps,
                causal_cols=x.shape[1] if self.causal else 0, query_pos=cols if self.causal else None,
            )  # fmt: skip
        return self._out(o.to(x.dtype))

    # ---- recurrent form ------------------------------------------------------------------------
    def prefill(
        self, x: torch.Tensor, prefix_len: torch.Tensor | None = None, *, seq_len: int | None = None
    ) -> tuple[torch.Tensor, LinearAttentionState]:
        """Read the prompt x [B, M, D] at once. Causal: the usual causal outputs. Non-causal: the
        first pass sums the prompt into the state, the second reads every output from it."""
        self._check_input(x)
        q, k, v = self._qkv(x)
        o, state = based_linear_attention(q, k, v, causal=self.causal, eps=self.eps)
        return self._out(o), self._decode_state(state, x)

    def read(self, x: torch.Tensor, state: LinearAttentionState) -> torch.Tensor:
        """Outputs for x [B, T, D] read from a fixed state (no update): the second pass of the
        non-causal recurrence. Returns y [B, T, D]."""
        self._check_input(x)
        q, _, _ = self._qkv(x)
        phi_q = taylor_feature_map(q.to(state.kv.dtype))
        num, den = state_read(phi_q, state.kv, state.z)
        return self._out((num / (den.unsqueeze(-1) + self.eps)).to(x.dtype))
