"""Softmax multi-head attention (causal), via torch's scaled_dot_product_attention.

Symbols (B, T, T_max the KV-cache capacity, D, H, Dh = D / H): docs/synthetic/glossary.md.

    o_t = sum_{j<=t} softmax_j(q_t . k_j / sqrt(Dh)) v_j   per head;   y_t = W_o concat_h(o_t)

No positional encoding: in this package attention sits beside short convolutions, which carry
position (as in Zoology's hybrids).

Recurrent state: the :class:`KVCache` ``(k [B, H, T_max, Dh], v [B, H, T_max, Dh], pos int64 [])``
(``pos`` counts the tokens read; bookkeeping, not model values). It grows with the sequence:
``state_size(T_max) = 2 * T_max * D`` values, Zoology's convention too.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from synthetic.layers.base import Mixer, MixerConfigBase, check_heads


class KVCache(NamedTuple):
    """Keys and values of the tokens read: k, v [B, H, C, Dh] (C slots) and the tokens read so
    far, pos int64 [] (attention: slot j holds token j; a sliding window: token j mod W)."""

    k: torch.Tensor
    v: torch.Tensor
    pos: torch.Tensor

    @classmethod
    def empty(
        cls,
        shape: tuple[int, int, int, int],
        *,
        device: torch.device | str | None,
        dtype: torch.dtype,
    ) -> KVCache:
        """No token read yet: zero k, v of ``shape`` [B, H, C, Dh] and pos 0."""
        k = torch.zeros(shape, device=device, dtype=dtype)
        return cls(k=k, v=torch.zeros_like(k), pos=torch.zeros((), device=device, dtype=torch.int64))


class AttentionConfig(MixerConfigBase):
    """Causal softmax attention with ``num_heads`` heads (must divide d_model)."""

    kind: Literal["attention"] = "attention"
    num_heads: int = Field(2, ge=1)

    def build(self, d_model: int) -> Attention:
        return Attention(d_model, num_heads=self.num_heads)


class Attention(Mixer[KVCache]):
    """Causal multi-head softmax attention; see the module docstring."""

    causal = True

    def __init__(self, d_model: int, num_heads: int = 2) -> None:
        super().__init__(d_model)
        self.head_dim = check_heads(d_model, num_heads)
        self.num_heads = num_heads
        self.proj_qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.out_proj = nn.Linear(d_model, d_model, bias=False)

    def _qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x [..., D] -> q, k, v, each [..., H, Dh]."""
        qkv = self.proj_qkv(x).view(*x.shape[:-1], 3, self.num_heads, self.head_dim)
        return qkv.unbind(-3)

    def forward(self, x: torch.Tensor, prefix_len: torch.Tensor | None = None) -> torch.Tensor:
        self._check_input(x)
        q, k, v = (t.transpose(1, 2) for t in self._qkv(x))  # [B, H, T, Dh]
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out_proj(o.transpose(1, 2).reshape(x.shape))

    def init_state(
        self,
        batch: int,
        *,
        seq_len: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> KVCache:
        if seq_len is None or seq_len < 1:
            raise ValueError(f"Attention.init_state needs seq_len >= 1 (KV-cache capacity); got {seq_len}")
        shape = (batch, self.num_heads, seq_len, self.head_dim)
        return KVCache.empty(shape, device=device, dtype=self._state_dtype(dtype))

    def step(self, x_t: torch.Tensor, state: KVCache) -> tuple[torch.Tensor, KVCache]:
        self._check_step_input(x_t)
        pos = int(state.pos)
        cap = state.k.shape[2]
        if pos >= cap:
            raise ValueError(f"Attention KV cache is full: capacity seq_len={cap}, token index {pos}")
        q, k, v = self._qkv(x_t.to(state.k.dtype))  # [B, H, Dh]
        k_cache, v_cache = state.k.clone(), state.v.clone()
        k_cache[:, :, pos] = k
        v_cache[:, :, pos] = v
        scores = torch.einsum("bhd,bhjd->bhj", q, k_cache[:, :, : pos + 1]) / math.sqrt(self.head_dim)
        o = torch.einsum("bhj,bhjd->bhd", scores.softmax(-1), v_cache[:, :, : pos + 1])
        y = self.out_proj(o.reshape(x_t.shape[0], self.d_model).to(x_t.dtype))
        return y, KVCache(k_cache, v_cache, state.pos + 1)

    def prefill(
        self, x: torch.Tensor, prefix_len: torch.Tensor | None = None, *, seq_len: int | None = None
    ) -> tuple[torch.Tensor, KVCache]:
        self._check_input(x)
        m = x.shape[1]
        cap = m if seq_len is None else seq_len
        if cap < m:
            raise ValueError(f"seq_len={seq_len} is shorter than the prompt ({m} tokens)")
        y = self.forward(x)
        state = self.init_state(x.shape[0], seq_len=cap, device=x.device, dtype=x.dtype)
        _, k, v = self._qkv(x)
        state.k[:, :, :m] = k.transpose(1, 2)
        state.v[:, :, :m] = v.transpose(1, 2)
        return y, state._replace(pos=torch.tensor(m, device=x.device, dtype=torch.int64))

    def state_size(self, seq_len: int | None = None) -> int:
        if seq_len is None or seq_len < 1:
            raise ValueError(f"Attention.state_size needs seq_len >= 1 (its KV cache grows); got {seq_len}")
        return 2 * seq_len * self.d_model
