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

Recurrent state: ``{"kv": [B, H, E, Dh], "z": [B, H, E]}`` — ``H * E * (Dh + 1)`` values.
The paper / Zoology count ``H * E_sym * (Dh + 1) = E_sym * (D + H)`` (each symmetric 2nd-order
term once; :meth:`Based.paper_state_size`).

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

from synthetic.kernels import based_linear_attention, expanded_dim, symmetric_expanded_dim
from synthetic.kernels.based.kernel_matrix import kernel_attention
from synthetic.kernels.based.reference import based_step, empty_state
from synthetic.kernels.feature_map import taylor_feature_map
from synthetic.layers.base import Mixer, MixerConfigBase, State, full_precision, gather_positions, widened


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


def check_heads(d_model: int, num_heads: int) -> int:
    """Return the head dim ``d_model // num_heads``; ValueError if it does not divide."""
    if num_heads < 1 or d_model % num_heads:
        raise ValueError(f"num_heads={num_heads} must be >= 1 and divide d_model={d_model}")
    return d_model // num_heads


class Based(Mixer):
    """Taylor linear attention; see the module docstring. ``causal`` is set per instance."""

    def __init__(
        self, d_model: int, feature_dim: int = 16, num_heads: int = 2, causal: bool = True, eps: float = 1e-6
    ) -> None:
        super().__init__(d_model)
        if feature_dim < 1:
            raise ValueError(f"feature_dim={feature_dim} must be >= 1")
        self.head_dim = check_heads(d_model, num_heads)
        self.feature_dim = feature_dim
        self.num_heads = num_heads
        self.causal = causal  # instance attribute shadows the class default
        self.eps = eps
        self.proj_q = nn.Linear(d_model, num_heads * feature_dim, bias=False)
        self.proj_k = nn.Linear(d_model, num_heads * feature_dim, bias=False)
        self.proj_v = nn.Linear(d_model, d_model, bias=False)
        self.out_proj = nn.Linear(d_model, d_model, bias=False)

    # ---- projections ---------------------------------------------------------------------------
    def _qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x [..., D] -> q, k [..., H, F], v [..., H, Dh]."""
        lead = x.shape[:-1]
        q = self.proj_q(x).view(*lead, self.num_heads, self.feature_dim)
        k = self.proj_k(x).view(*lead, self.num_heads, self.feature_dim)
        v = self.proj_v(x).view(*lead, self.num_heads, self.head_dim)
        return q, k, v

    def _out(self, o: torch.Tensor) -> torch.Tensor:
        """o [..., H, Dh] -> y [..., D]."""
        return self.out_proj(o.reshape(*o.shape[:-2], self.d_model))

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
        lead = x.shape[:-1]
        q = self.proj_q(gather_positions(x, cols)).view(*cols.shape, self.num_heads, self.feature_dim)
        k = self.proj_k(x).view(*lead, self.num_heads, self.feature_dim)
        v = self.proj_v(x).view(*lead, self.num_heads, self.head_dim)
        with full_precision(x):
            o = kernel_attention(
                *widened(q, k, v), eps=self.eps,
                causal_cols=x.shape[1] if self.causal else 0, query_pos=cols if self.causal else None,
            )  # fmt: skip
        return self._out(o.to(x.dtype))

    # ---- recurrent form ------------------------------------------------------------------------
    def init_state(
        self,
        batch: int,
        *,
        seq_len: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        return empty_state(
            batch,
            self.num_heads,
            self.feature_dim,
            self.head_dim,
            device=device,
            dtype=self._state_dtype(dtype),
        )

    def step(self, x_t: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """One causal step (also after a non-causal prefill): add token t, then read."""
        self._check_step_input(x_t)
        q, k, v = self._qkv(x_t)  # [B, H, F], [B, H, F], [B, H, Dh]
        state_dtype = state["kv"].dtype
        q, k, v = q.to(state_dtype), k.to(state_dtype), v.to(state_dtype)
        o, (kv, z) = based_step(q, k, v, (state["kv"], state["z"]), eps=self.eps)
        return self._out(o.to(x_t.dtype)), {"kv": kv, "z": z}

    def prefill(
        self, x: torch.Tensor, prefix_len: torch.Tensor | None = None, *, seq_len: int | None = None
    ) -> tuple[torch.Tensor, State]:
        """Read the prompt x [B, M, D] at once. Causal: the usual causal outputs. Non-causal: the
        first pass sums the prompt into the state, the second reads every output from it."""
        self._check_input(x)
        q, k, v = self._qkv(x)
        o, state = based_linear_attention(q, k, v, causal=self.causal, eps=self.eps)
        assert state is not None  # need_state defaults to True
        state_dtype = self._state_dtype(x.dtype)
        return self._out(o), {"kv": state[0].to(state_dtype), "z": state[1].to(state_dtype)}

    def read(self, x: torch.Tensor, state: State) -> torch.Tensor:
        """Outputs for x [B, T, D] read from a fixed state (no update): the second pass of the
        non-causal recurrence. Returns y [B, T, D]."""
        self._check_input(x)
        q, _, _ = self._qkv(x)
        state_dtype = state["kv"].dtype
        phi_q = taylor_feature_map(q.to(state_dtype))
        num = torch.einsum("bthe,bhed->bthd", phi_q, state["kv"])
        den = torch.einsum("bthe,bhe->bth", phi_q, state["z"])
        return self._out((num / (den.unsqueeze(-1) + self.eps)).to(x.dtype))

    # ---- sizes ---------------------------------------------------------------------------------
    def state_size(self, seq_len: int | None = None) -> int:
        return self.num_heads * expanded_dim(self.feature_dim) * (self.head_dim + 1)

    def paper_state_size(self, seq_len: int | None = None) -> int:
        """``E_sym * (D + H)`` with the symmetric Taylor count (Zoology's ``state_size``)."""
        return symmetric_expanded_dim(self.feature_dim) * (self.d_model + self.num_heads)
