"""Prefix linear attention (PLA), JRT-RNN's mixer (paper eqs. 3-4, digest §5.1).

Glossary: B batch, T time, D model width, H heads, F feature dim per head, E = 1 + F + F^2,
Dh = D / H value head dim, M_b = prefix_len[b] (the prompt tokens example b reads non-causally).

Shared query and output projections; separate decoder (k, v) and encoder (k_enc, v_enc)
projections of the same input:

    o_t = phi(q_t) (S_enc + S_dec,t) / (phi(q_t) . (z_enc + z_dec,t) + eps)
    S_enc = sum_{j < M_b} phi(k_enc_j) v_enc_j^T     non-causal: the same at every t
    S_dec,t = sum_{j <= t} phi(k_j) v_j^T            causal over the whole sequence
    y_t = W_o concat_h(o_t)

so the prompt is read twice: once by the encoder (non-causally), once by the decoder (causally).
Computed by :func:`synthetic.kernels.prefix_linear_attention`.

Recurrent form: :meth:`PrefixLinearAttention.prefill` reads the prompt x [B, M, D] at once (with
prefix_len <= M) and folds the encoder state into the decoder state (eq. 4); :meth:`step` then
decodes exactly like causal Based. State: the kernels' ``LinearAttentionState`` (kv [B, H, E, Dh],
z [B, H, E]), the size of a Based state, ``H * E * (Dh + 1)`` values (paper convention
``E_sym * (D + H)``). Projections, state, step and sizes: :mod:`synthetic.layers.linear_attention`.

Output t may depend on tokens j <= t and on tokens j < M_b; never on tokens j > max(t, M_b - 1).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from synthetic.kernels import prefix_linear_attention
from synthetic.kernels.prefix_linear_attention.reference import prefix_kernel_attention
from synthetic.kernels.state import LinearAttentionState
from synthetic.layers.base import MixerConfigBase, full_precision, gather_positions, widened
from synthetic.layers.linear_attention import TaylorLinearAttention


class PrefixLinearAttentionConfig(MixerConfigBase):
    """JRT-RNN mixer. Same fields as Based; it always has a causal decoder and a non-causal
    encoder over the first ``prefix_len`` tokens (given per example by the data)."""

    kind: Literal["prefix_linear_attention"] = "prefix_linear_attention"
    feature_dim: int = Field(16, ge=1)
    num_heads: int = Field(2, ge=1)
    eps: float = Field(1e-6, gt=0)

    def build(self, d_model: int) -> PrefixLinearAttention:
        return PrefixLinearAttention(
            d_model, feature_dim=self.feature_dim, num_heads=self.num_heads, eps=self.eps
        )


class PrefixLinearAttention(TaylorLinearAttention):
    """Prefix linear attention; see the module docstring."""

    causal = False
    uses_prefix = True

    def __init__(self, d_model: int, feature_dim: int = 16, num_heads: int = 2, eps: float = 1e-6) -> None:
        super().__init__(d_model, feature_dim, num_heads, eps)
        self.proj_k_enc = nn.Linear(d_model, num_heads * feature_dim, bias=False)
        self.proj_v_enc = nn.Linear(d_model, d_model, bias=False)
        self.out_proj = nn.Linear(d_model, d_model, bias=False)

    def _encoder_kv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, T, D] -> the encoder's k_enc [B, T, H, F], v_enc [B, T, H, Dh]."""
        return self._heads(self.proj_k_enc(x), self.feature_dim), self._heads(
            self.proj_v_enc(x), self.head_dim
        )

    def _check_prefix(self, x: torch.Tensor, prefix_len: torch.Tensor | None) -> torch.Tensor:
        if prefix_len is None:
            raise ValueError(
                "PrefixLinearAttention needs prefix_len (int64 [B], the tokens each example reads "
                "non-causally); got None"
            )
        if not isinstance(prefix_len, torch.Tensor) or prefix_len.shape != (x.shape[0],):
            raise ValueError(
                f"prefix_len must be an integer tensor of shape [{x.shape[0]}]; got "
                f"{getattr(prefix_len, 'shape', type(prefix_len))}"
            )
        if prefix_len.dtype not in (torch.int32, torch.int64):
            raise TypeError(f"prefix_len must be int32 or int64; got {prefix_len.dtype}")
        t = x.shape[1]
        if prefix_len.is_cuda:  # checked on the device: reading the values back would stall every step
            torch._assert_async(
                ((prefix_len >= 0) & (prefix_len <= t)).all(), f"prefix_len values must lie in [0, T={t}]"
            )
        elif prefix_len.numel() and (int(prefix_len.min()) < 0 or int(prefix_len.max()) > t):
            raise ValueError(
                f"prefix_len values must lie in [0, T={t}]; got min {int(prefix_len.min())}, "
                f"max {int(prefix_len.max())}"
            )
        return prefix_len.to(device=x.device, dtype=torch.int64)

    def _parallel(
        self, x: torch.Tensor, prefix_len: torch.Tensor | None, need_state: bool = True
    ) -> tuple[torch.Tensor, LinearAttentionState | None]:
        self._check_input(x)
        prefix_len = self._check_prefix(x, prefix_len)
        q, k, v = self._qkv(x)
        k_enc, v_enc = self._encoder_kv(x)
        o, state = prefix_linear_attention(
            q, k, v, k_enc, v_enc, prefix_len, eps=self.eps, need_state=need_state
        )
        return self._out(o), state

    def forward(self, x: torch.Tensor, prefix_len: torch.Tensor | None = None) -> torch.Tensor:
        return self._parallel(x, prefix_len, need_state=False)[0]

    def forward_at(
        self, x: torch.Tensor, prefix_len: torch.Tensor | None, cols: torch.Tensor
    ) -> torch.Tensor:
        """Queries at ``cols`` [B, Q] only: one kernel matrix over the row's own keys (causal up
        to each query's position) and its first prefix_len[b] encoder keys; the same values as
        ``forward(x, prefix_len)[b, cols[b]]`` -> [B, Q, D]."""
        self._check_input(x)
        prefix_len = self._check_prefix(x, prefix_len)
        f, dh = self.feature_dim, self.head_dim
        # the projections in this order: it sets the order in which x's gradient is summed
        q = self._heads(self.proj_q(gather_positions(x, cols)), f)
        k, k_enc = self._heads(self.proj_k(x), f), self._heads(self.proj_k_enc(x), f)
        v, v_enc = self._heads(self.proj_v(x), dh), self._heads(self.proj_v_enc(x), dh)
        q, k, v, k_enc, v_enc = widened(q, k, v, k_enc, v_enc)
        with full_precision(x):
            o = prefix_kernel_attention(q, k, v, k_enc, v_enc, prefix_len, query_pos=cols, eps=self.eps)
        return self._out(o.to(x.dtype))

    def prefill(
        self, x: torch.Tensor, prefix_len: torch.Tensor | None = None, *, seq_len: int | None = None
    ) -> tuple[torch.Tensor, LinearAttentionState]:
        """Read the prompt x [B, M, D] (prefix_len[b] <= M): outputs and the decode state with the
        encoder state folded in (eq. 4)."""
        y, state = self._parallel(x, prefix_len)
        return y, self._decode_state(state, x)
