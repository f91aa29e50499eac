"""Sequence-mixing kernels: Based linear attention and prefix linear attention (JRT-RNN).

Public entry points take ``[B, T, H, *]`` tensors and return ``(y, state)``; see each op's
``reference.py`` for the exact definition. :mod:`synthetic.kernels.dispatch` picks Triton on CUDA
and the torch reference elsewhere.
"""

from __future__ import annotations

import torch

from synthetic.kernels.based.reference import State, based_chunked
from synthetic.kernels.dispatch import resolve, use_impl
from synthetic.kernels.feature_map import expanded_dim, symmetric_expanded_dim, taylor_feature_map
from synthetic.kernels.prefix_linear_attention.reference import prefix_linear_attention_reference

__all__ = [
    "State",
    "based_linear_attention",
    "expanded_dim",
    "prefix_linear_attention",
    "symmetric_expanded_dim",
    "taylor_feature_map",
    "use_impl",
]


def based_linear_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = True,
    eps: float = 1e-6,
    initial_state: State | None = None,
    impl: str | None = None,
    need_state: bool = True,
) -> tuple[torch.Tensor, State | None]:
    """Based linear attention with the Taylor feature map computed from raw q, k.

    q, k [B, T, H, F]; v [B, T, H, D]; initial_state (kv [B,H,E,D], z [B,H,E]) or None.
    Returns (y [B, T, H, D], final state (kv [B,H,E,D], z [B,H,E])), E = 1 + F + F^2; with
    ``need_state=False`` (training) the state is None and the CPU reference skips building it.
    """
    if resolve(impl, q, k, v) == "triton":
        from synthetic.kernels.based.triton_based import based_triton

        y, state = based_triton(q, k, v, causal=causal, eps=eps, initial_state=initial_state)
        return y, (state if need_state else None)
    return based_chunked(q, k, v, causal=causal, eps=eps, initial_state=initial_state, need_state=need_state)


def prefix_linear_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    k_enc: torch.Tensor,
    v_enc: torch.Tensor,
    prefix_len: torch.Tensor,
    *,
    eps: float = 1e-6,
    impl: str | None = None,
    need_state: bool = True,
) -> tuple[torch.Tensor, State | None]:
    """Prefix linear attention: non-causal encoder term over the first prefix_len[b] tokens of
    (k_enc, v_enc) plus a causal decoder term over (k, v), one shared normaliser.

    q, k [B, T, H, F]; v [B, T, H, D]; k_enc [B, Te, H, F]; v_enc [B, Te, H, D]; prefix_len int [B].
    Returns (y [B, T, H, D], decode state after prefill (kv [B,H,E,D], z [B,H,E])), or None for
    the state with ``need_state=False``.
    """
    if resolve(impl, q, k, v, k_enc, v_enc) == "triton":
        from synthetic.kernels.prefix_linear_attention.triton_pla import pla_triton

        y, state = pla_triton(q, k, v, k_enc, v_enc, prefix_len, eps=eps)
        return y, (state if need_state else None)
    return prefix_linear_attention_reference(
        q, k, v, k_enc, v_enc, prefix_len, eps=eps, need_state=need_state
    )
