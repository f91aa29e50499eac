"""BaseConv: a gated short convolution (Zoology's BaseConv; paper Def G.1 with a short filter).

Symbols (B, T, D, Kc the filter taps): docs/synthetic/glossary.md.

    y_t = (W_proj x_t + b) ⊙ (sum_{s=0}^{Kc-1} h_s ⊙ x_{t-s} + c)      (x_{t'} = 0 for t' < 0)

with a depthwise (per-channel) filter h [D, Kc]. It is causal in every variant of this package.
The JRT reference code's "non-causal circular convolution" only differs by a wrap-around at the
first Kc-1 positions, i.e. it is effectively causal too; we do not reproduce the wrap-around.

Recurrent state: :class:`ConvState` ``(window [B, Kc-1, D],)`` — the last Kc-1 inputs (oldest first), so
``state_size() = (Kc-1) * D`` values. The paper / Zoology count ``Kc * D`` (:meth:`paper_state_size`).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from synthetic.layers.base import Mixer, MixerConfigBase, causal_depthwise_conv
from synthetic.layers.init import init_short_conv_


class ConvState(NamedTuple):
    """The last Kc-1 inputs of a short convolution, oldest first: window [B, Kc-1, C]."""

    window: torch.Tensor


class BaseConvConfig(MixerConfigBase):
    """Gated short convolution. ``kernel_size``: filter taps Kc (>= 1)."""

    kind: Literal["base_conv"] = "base_conv"
    kernel_size: int = Field(3, ge=1)

    def build(self, d_model: int) -> BaseConv:
        return BaseConv(d_model, kernel_size=self.kernel_size)


class BaseConv(Mixer[ConvState]):
    """Gated depthwise causal convolution: ``(W_proj x + b) ⊙ (h * x + c)``."""

    causal = True

    def __init__(self, d_model: int, kernel_size: int = 3) -> None:
        super().__init__(d_model)
        if kernel_size < 1:
            raise ValueError(f"kernel_size={kernel_size} must be >= 1")
        self.kernel_size = kernel_size
        self.projection = nn.Linear(d_model, d_model)
        # filter[d, s] multiplies x_{t-s}; conv_bias is c
        self.filter = nn.Parameter(torch.zeros(d_model, kernel_size))
        self.conv_bias = nn.Parameter(torch.zeros(d_model))

    def reset_own_parameters_(self, generator: torch.Generator) -> None:
        """Taps and bias as PyTorch's ``Conv1d`` default, U(-1/sqrt(Kc), 1/sqrt(Kc)) (both schemes)."""
        init_short_conv_(self.filter, self.conv_bias, generator)

    def forward(self, x: torch.Tensor, prefix_len: torch.Tensor | None = None) -> torch.Tensor:
        self._check_input(x)
        return self.projection(x) * causal_depthwise_conv(x, self.filter, self.conv_bias)

    def init_state(
        self,
        batch: int,
        *,
        seq_len: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> ConvState:
        return ConvState(
            torch.zeros(
                batch, self.kernel_size - 1, self.d_model, device=device, dtype=self._state_dtype(dtype)
            )
        )

    def step(self, x_t: torch.Tensor, state: ConvState) -> tuple[torch.Tensor, ConvState]:
        self._check_step_input(x_t)
        window = torch.cat([state.window.to(x_t.dtype), x_t.unsqueeze(1)], dim=1)  # [B, Kc, D], oldest first
        conv = torch.einsum("bkd,dk->bd", window, self.filter.flip(-1)) + self.conv_bias
        y = self.projection(x_t) * conv
        return y, ConvState(window[:, 1:].to(state.window.dtype))

    def prefill(
        self, x: torch.Tensor, prefix_len: torch.Tensor | None = None, *, seq_len: int | None = None
    ) -> tuple[torch.Tensor, ConvState]:
        self._check_input(x)
        y = self.forward(x)
        keep = self.kernel_size - 1
        dtype = self._state_dtype(x.dtype)
        tail = x[:, max(0, x.shape[1] - keep) :].to(dtype)
        pad = keep - tail.shape[1]
        window = F.pad(tail, (0, 0, pad, 0)) if pad > 0 else tail
        return y, ConvState(window)

    def state_size(self, seq_len: int | None = None) -> int:
        return (self.kernel_size - 1) * self.d_model

    def paper_state_size(self, seq_len: int | None = None) -> int:
        """Zoology's count: ``Kc * D`` (the window including the current token)."""
        return self.kernel_size * self.d_model
