"""A Mamba-style selective state-space layer (pure torch reference scan).

Symbols (B, T, D, Di = expand * D, Ns = d_state, Kc the conv taps, Delta_t = Δt the step size):
docs/synthetic/glossary.md. Local: R = ceil(D / 16), the rank of the step-size projection; b_t, c_t
the input-dependent input and output vectors (Mamba's B_t, C_t); D_skip the skip weights.

    [u, g] = W_in x_t                                  u, g in R^Di
    u_t    = silu(causal depthwise conv_Kc(u)_t)
    [dt_low, b_t, c_t] = W_x u_t                       dt_low in R^R, b_t, c_t in R^Ns (input-dependent)
    Delta_t = softplus(W_dt dt_low + b_dt)             in R^Di
    h_t    = exp(Delta_t A) ⊙ h_{t-1} + (Delta_t ⊙ u_t) b_t^T      h in R^{Di x Ns}, A = -exp(A_log)
    o_t    = h_t c_t + D_skip ⊙ u_t
    y_t    = W_out (o_t ⊙ silu(g_t))

The scan is a plain loop over time (clear, not fast); the parallel form and the recurrent step run
the same per-token update, so they agree exactly up to floating-point associativity.

Recurrent state: :class:`SSMState` ``(conv [B, Kc-1, Di], h [B, Di, Ns])`` — ``(Kc-1) * Di + Di * Ns`` values.
Zoology counts only the SSM state, ``Di * Ns`` (= ``2 * D * Ns`` at expand 2; :meth:`paper_state_size`).
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from synthetic.layers.base import Mixer, MixerConfigBase, causal_depthwise_conv, per_row
from synthetic.layers.init import init_short_conv_


class SSMConfig(MixerConfigBase):
    """Selective SSM. ``d_state`` Ns, ``expand`` (Di = expand * D), ``conv_kernel`` Kc."""

    kind: Literal["ssm"] = "ssm"
    d_state: int = Field(16, ge=1)
    expand: int = Field(2, ge=1)
    conv_kernel: int = Field(4, ge=1)

    def build(self, d_model: int) -> SelectiveSSM:
        return SelectiveSSM(d_model, d_state=self.d_state, expand=self.expand, conv_kernel=self.conv_kernel)


class SSMState(NamedTuple):
    """The convolution's last Kc-1 inputs, conv [B, Kc-1, Di] (oldest first), and the SSM state
    h [B, Di, Ns]."""

    conv: torch.Tensor
    h: torch.Tensor


class SelectiveSSM(Mixer[SSMState]):
    """Mamba-style selective SSM; see the module docstring."""

    causal = True

    def __init__(self, d_model: int, d_state: int = 16, expand: int = 2, conv_kernel: int = 4) -> None:
        super().__init__(d_model)
        for name, value in (("d_state", d_state), ("expand", expand), ("conv_kernel", conv_kernel)):
            if value < 1:
                raise ValueError(f"{name}={value} must be >= 1")
        self.d_state = d_state
        self.d_inner = expand * d_model
        self.dt_rank = math.ceil(d_model / 16)
        self.conv_kernel = conv_kernel
        di, n = self.d_inner, d_state
        self.in_proj = nn.Linear(d_model, 2 * di, bias=False)
        self.conv_weight = nn.Parameter(torch.zeros(di, conv_kernel))  # [Di, Kc]; tap s multiplies u_{t-s}
        self.conv_bias = nn.Parameter(torch.zeros(di))
        self.x_proj = nn.Linear(di, self.dt_rank + 2 * n, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, di, bias=True)
        self.A_log = nn.Parameter(torch.zeros(di, n))
        self.D_skip = nn.Parameter(torch.ones(di))
        self.out_proj = nn.Linear(di, d_model, bias=False)

    def reset_own_parameters_(self, generator: torch.Generator) -> None:
        """Mamba's rules (under both init schemes): A = -[1..Ns] per channel, Delta's bias so that
        softplus(b) is log-uniform in [1e-3, 1e-1], D_skip = 1; the short convolution as
        PyTorch's ``Conv1d`` default."""
        with torch.no_grad():
            n = self.d_state
            self.A_log.copy_(torch.log(torch.arange(1, n + 1, dtype=torch.float64)).expand(self.d_inner, n))
            u = torch.rand(self.d_inner, generator=generator, dtype=torch.float64)
            dt = torch.exp(u * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus
            self.D_skip.fill_(1.0)
        init_short_conv_(self.conv_weight, self.conv_bias, generator)

    def _ssm_inputs(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """u [..., Di] (after conv + silu) -> Delta [..., Di], b [..., Ns], c [..., Ns]."""
        dt_low, b, c = self.x_proj(u).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        return F.softplus(self.dt_proj(dt_low)), b, c

    def _update(
        self, h: torch.Tensor, u: torch.Tensor, delta: torch.Tensor, b: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One scan step: h [B, Di, Ns]; u, delta [B, Di]; b, c [B, Ns] -> (o [B, Di], new h)."""
        rows = h.shape[0]
        a = -torch.exp(per_row(self.A_log, 2, rows).to(h.dtype))  # [Di, Ns] (or [B, Di, Ns] for members)
        h = torch.exp(delta.unsqueeze(-1) * a) * h + (delta * u).unsqueeze(-1) * b.unsqueeze(-2)
        o = torch.einsum("bdn,bn->bd", h, c) + per_row(self.D_skip, 1, rows).to(h.dtype) * u
        return o, h

    def _scan(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x [B, T, D], initial h -> (y [B, T, D], final h, u_pre [B, T, Di] (conv input))."""
        u_pre, g = self.in_proj(x).chunk(2, dim=-1)
        u = F.silu(causal_depthwise_conv(u_pre, self.conv_weight, self.conv_bias))  # [B, T, Di]
        delta, b, c = self._ssm_inputs(u)
        state_dtype = h.dtype
        outs = []
        for t in range(x.shape[1]):
            o, h = self._update(
                h,
                u[:, t].to(state_dtype),
                delta[:, t].to(state_dtype),
                b[:, t].to(state_dtype),
                c[:, t].to(state_dtype),
            )
            outs.append(o)
        o = torch.stack(outs, dim=1).to(x.dtype) if outs else u.new_zeros(u.shape)
        return self.out_proj(o * F.silu(g)), h, u_pre

    def forward(self, x: torch.Tensor, prefix_len: torch.Tensor | None = None) -> torch.Tensor:
        self._check_input(x)
        h0 = torch.zeros(x.shape[0], self.d_inner, self.d_state, device=x.device, dtype=x.dtype)
        return self._scan(x, h0)[0]

    def init_state(
        self,
        batch: int,
        *,
        seq_len: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> SSMState:
        state_dtype = self._state_dtype(dtype)
        return SSMState(
            conv=torch.zeros(batch, self.conv_kernel - 1, self.d_inner, device=device, dtype=state_dtype),
            h=torch.zeros(batch, self.d_inner, self.d_state, device=device, dtype=state_dtype),
        )

    def step(self, x_t: torch.Tensor, state: SSMState) -> tuple[torch.Tensor, SSMState]:
        self._check_step_input(x_t)
        u_pre, g = self.in_proj(x_t).chunk(2, dim=-1)  # [B, Di]
        window = torch.cat([state.conv.to(x_t.dtype), u_pre.unsqueeze(1)], dim=1)  # [B, Kc, Di]
        u = F.silu(torch.einsum("bkd,dk->bd", window, self.conv_weight.flip(-1)) + self.conv_bias)
        delta, b, c = self._ssm_inputs(u)
        state_dtype = state.h.dtype
        o, h = self._update(
            state.h, u.to(state_dtype), delta.to(state_dtype), b.to(state_dtype), c.to(state_dtype)
        )
        y = self.out_proj(o.to(x_t.dtype) * F.silu(g))
        return y, SSMState(conv=window[:, 1:].to(state.conv.dtype), h=h)

    def prefill(
        self, x: torch.Tensor, prefix_len: torch.Tensor | None = None, *, seq_len: int | None = None
    ) -> tuple[torch.Tensor, SSMState]:
        self._check_input(x)
        state = self.init_state(x.shape[0], device=x.device, dtype=x.dtype)
        y, h, u_pre = self._scan(x, state.h)
        keep = self.conv_kernel - 1
        tail = u_pre[:, max(0, x.shape[1] - keep) :].to(state.conv.dtype)
        if tail.shape[1] < keep:
            tail = F.pad(tail, (0, 0, keep - tail.shape[1], 0))
        return y, SSMState(conv=tail, h=h)

    def state_size(self, seq_len: int | None = None) -> int:
        return (self.conv_kernel - 1) * self.d_inner + self.d_inner * self.d_state

    def paper_state_size(self, seq_len: int | None = None) -> int:
        """Zoology's count: the SSM state only, ``Di * N``."""
        return self.d_inner * self.d_state
