"""What the Taylor linear-attention mixers share: Based (:mod:`synthetic.layers.based`) and prefix
linear attention (:mod:`synthetic.layers.prefix_linear_attention`).

Glossary: B batch, T time, D model width, H heads, F feature dim per head (q/k projection width),
E = 1 + F + F^2 expanded feature dim, Dh = D / H value head dim, E_sym = 1 + F + F(F+1)/2,
Q positions read per row.

Both project ``q_t = W_q x_t [H, F]``, ``k_t = W_k x_t [H, F]``, ``v_t = W_v x_t [H, Dh]`` and
write ``y_t = W_o concat_h(o_t)``; both decode causally, one token at a time, with
:func:`synthetic.kernels.based.reference.based_step`:

    S_t = S_{t-1} + phi(k_t) v_t^T,   z_t = z_{t-1} + phi(k_t),   o_t = phi(q_t) S_t / (phi(q_t) . z_t + eps)

State: the kernels' :class:`~synthetic.kernels.state.LinearAttentionState`, kv [B, H, E, Dh] and
z [B, H, E], carried as the ops return it — ``H * E * (Dh + 1)`` values. The paper / Zoology count
``H * E_sym * (Dh + 1) = E_sym * (D + H)`` (each symmetric 2nd-order term once).
"""

from __future__ import annotations

import torch
from torch import nn

from synthetic.kernels import expanded_dim, symmetric_expanded_dim
from synthetic.kernels.based.reference import based_step, based_step_each
from synthetic.kernels.state import LinearAttentionState
from synthetic.layers.base import Mixer, check_heads


def empty_state(
    batch: int,
    num_heads: int,
    feature_dim: int,
    head_dim: int,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> LinearAttentionState:
    """The decode state of an empty prompt: zeros kv [B, H, E, Dh] and z [B, H, E]."""
    e = expanded_dim(feature_dim)
    return LinearAttentionState(
        torch.zeros(batch, num_heads, e, head_dim, device=device, dtype=dtype),
        torch.zeros(batch, num_heads, e, device=device, dtype=dtype),
    )


class TaylorLinearAttention(Mixer[LinearAttentionState]):
    """The part Based and prefix linear attention share (see the module docstring): the q, k, v
    projections, the recurrent state and its causal step, the state sizes. A subclass registers
    its own further projections, then ``out_proj`` (D -> D), and gives the parallel form."""

    def __init__(self, d_model: int, feature_dim: int, num_heads: int, eps: float) -> None:
        super().__init__(d_model)
        if feature_dim < 1:
            raise ValueError(f"feature_dim={feature_dim} must be >= 1")
        self.head_dim = check_heads(d_model, num_heads)
        self.feature_dim = feature_dim
        self.num_heads = num_heads
        self.eps = eps
        self.proj_q = nn.Linear(d_model, num_heads * feature_dim, bias=False)
        self.proj_k = nn.Linear(d_model, num_heads * feature_dim, bias=False)
        self.proj_v = nn.Linear(d_model, d_model, bias=False)

    out_proj: nn.Linear

    # ---- projections ---------------------------------------------------------------------------
    def _heads(self, t: torch.Tensor, width: int) -> torch.Tensor:
        """[..., H * width] -> [..., H, width]."""
        return t.view(*t.shape[:-1], self.num_heads, width)

    def _qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x [..., D] -> q, k [..., H, F], v [..., H, Dh]."""
        f, dh = self.feature_dim, self.head_dim
        return self._heads(self.proj_q(x), f), self._heads(self.proj_k(x), f), self._heads(self.proj_v(x), dh)

    def _out(self, o: torch.Tensor) -> torch.Tensor:
        """o [..., H, Dh] -> y [..., D]."""
        return self.out_proj(o.reshape(*o.shape[:-2], self.d_model))

    # ---- recurrent form ------------------------------------------------------------------------
    def init_state(
        self,
        batch: int,
        *,
        seq_len: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> LinearAttentionState:
        """The state of an empty prompt (zero): decoding from it is causal Based."""
        return empty_state(
            batch,
            self.num_heads,
            self.feature_dim,
            self.head_dim,
            device=device,
            dtype=self._state_dtype(dtype),
        )

    def step(
        self, x_t: torch.Tensor, state: LinearAttentionState
    ) -> tuple[torch.Tensor, LinearAttentionState]:
        """One causal step (also after a non-causal or prefix prefill): add token t, then read."""
        self._check_step_input(x_t)
        q, k, v = (t.to(state.kv.dtype) for t in self._qkv(x_t))  # [B, H, F], [B, H, F], [B, H, Dh]
        o, state = based_step(q, k, v, state, eps=self.eps)
        return self._out(o.to(x_t.dtype)), state

    def step_each(self, x: torch.Tensor, state: LinearAttentionState) -> torch.Tensor:
        """C alternative steps per example, x [R, C, D], from the R states -> y [R, C, D],
        without the new states (:func:`~synthetic.kernels.based.reference.based_step_each`)."""
        self._check_each_input(x, state)
        q, k, v = (t.to(state.kv.dtype) for t in self._qkv(x))  # [R, C, H, F], [R, C, H, F], [R, C, H, Dh]
        return self._out(based_step_each(q, k, v, state, eps=self.eps).to(x.dtype))

    def step_each_bytes(self, state: LinearAttentionState) -> int:
        """Bytes a candidate takes in :meth:`step_each`: its features phi(q), phi(k) and their
        product (3 x [H, E]), its q, k, v, output and read (about 5 x [H, max(F, Dh)])."""
        size = state.kv.element_size()
        e = expanded_dim(self.feature_dim)
        return size * self.num_heads * (3 * e + 5 * max(self.feature_dim, self.head_dim))

    def _decode_state(self, state: LinearAttentionState | None, x: torch.Tensor) -> LinearAttentionState:
        """A prefill's state (from the op) in the state dtype of inputs like ``x``."""
        assert state is not None  # the ops build it unless asked not to
        return state.to(self._state_dtype(x.dtype))

    # ---- sizes ---------------------------------------------------------------------------------
    def state_size(self, seq_len: int | None = None) -> int:
        return self.num_heads * expanded_dim(self.feature_dim) * (self.head_dim + 1)

    def paper_state_size(self, seq_len: int | None = None) -> int:
        """``E_sym * (D + H)`` with the symmetric Taylor count (Zoology's ``state_size``)."""
        return symmetric_expanded_dim(self.feature_dim) * (self.d_model + self.num_heads)
