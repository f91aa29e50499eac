"""Sliding-window causal softmax attention.

Symbols (B, T, W the window: tokens each position reads, itself included; D, H, Dh = D / H):
docs/synthetic/glossary.md.

    o_t = sum_{t-W < j <= t} softmax_j(q_t . k_j / sqrt(Dh)) v_j   per head;   y_t = W_o concat_h(o_t)

Recurrent state: a ring buffer of the last W keys and values, the
:class:`~synthetic.layers.attention.KVCache` ``(k [B, H, W, Dh], v [B, H, W, Dh], pos int64 [])``
(token j lives in slot j mod W; ``pos`` counts the tokens read). ``state_size() = 2 * W * D``
values (Zoology's convention too).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from synthetic.layers.attention import KVCache
from synthetic.layers.base import Mixer, MixerConfigBase, check_heads


class SlidingWindowConfig(MixerConfigBase):
    """Causal softmax attention over the last ``window`` tokens (the current one included)."""

    kind: Literal["sliding_window"] = "sliding_window"
    num_heads: int = Field(2, ge=1)
    window: int = Field(64, ge=1)

    def build(self, d_model: int) -> SlidingWindowAttention:
        return SlidingWindowAttention(d_model, num_heads=self.num_heads, window=self.window)


class SlidingWindowAttention(Mixer[KVCache]):
    """Windowed causal attention; see the module docstring."""

    causal = True

    def __init__(self, d_model: int, num_heads: int = 2, window: int = 64) -> None:
        super().__init__(d_model)
        if window < 1:
            raise ValueError(f"window={window} must be >= 1")
        self.head_dim = check_heads(d_model, num_heads)
        self.num_heads = num_heads
        self.window = window
        self.proj_qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.out_proj = nn.Linear(d_model, d_model, bias=False)

    def _qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        qkv = self.proj_qkv(x).view(*x.shape[:-1], 3, self.num_heads, self.head_dim)
        return qkv.unbind(-3)

    def band_mask(self, t: int, device: torch.device | str | None = None) -> torch.Tensor:
        """[T, T] bool, True where query i may read key j: i - W < j <= i."""
        i = torch.arange(t, device=device)[:, None]
        j = torch.arange(t, device=device)[None, :]
        return (j <= i) & (j > i - self.window)

    def forward(self, x: torch.Tensor, prefix_len: torch.Tensor | None = None) -> torch.Tensor:
        self._check_input(x)
        q, k, v = (t.transpose(1, 2) for t in self._qkv(x))  # [B, H, T, Dh]
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=self.band_mask(x.shape[1], x.device))
        return self.out_proj(o.transpose(1, 2).reshape(x.shape))

    def init_state(
        self,
        batch: int,
        *,
        seq_len: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> KVCache:
        shape = (batch, self.num_heads, self.window, self.head_dim)
        return KVCache.empty(shape, device=device, dtype=self._state_dtype(dtype))

    def step(self, x_t: torch.Tensor, state: KVCache) -> tuple[torch.Tensor, KVCache]:
        self._check_step_input(x_t)
        pos = int(state.pos)
        slot = pos % self.window
        q, k, v = self._qkv(x_t.to(state.k.dtype))  # [B, H, Dh]
        k_cache, v_cache = state.k.clone(), state.v.clone()
        k_cache[:, :, slot] = k
        v_cache[:, :, slot] = v
        filled = min(pos + 1, self.window)  # slots 0..filled-1 hold the last `filled` tokens
        scores = torch.einsum("bhd,bhjd->bhj", q, k_cache[:, :, :filled]) / math.sqrt(self.head_dim)
        o = torch.einsum("bhj,bhjd->bhd", scores.softmax(-1), v_cache[:, :, :filled])
        y = self.out_proj(o.reshape(x_t.shape[0], self.d_model).to(x_t.dtype))
        return y, KVCache(k_cache, v_cache, state.pos + 1)

    def prefill(
        self, x: torch.Tensor, prefix_len: torch.Tensor | None = None, *, seq_len: int | None = None
    ) -> tuple[torch.Tensor, KVCache]:
        self._check_input(x)
        m = x.shape[1]
        y = self.forward(x)
        state = self.init_state(x.shape[0], device=x.device, dtype=x.dtype)
        _, k, v = self._qkv(x)
        for j in range(max(0, m - self.window), m):  # the last W tokens, each in slot j mod W
            state.k[:, :, j % self.window] = k[:, j]
            state.v[:, :, j % self.window] = v[:, j]
        return y, state._replace(pos=torch.tensor(m, device=x.device, dtype=torch.int64))

    def state_size(self, seq_len: int | None = None) -> int:
        return 2 * self.window * self.d_model
