"""Prefix linear attention (JRT-RNN), the public op: the Triton engine on CUDA, the torch reference
(:mod:`synthetic.kernels.prefix_linear_attention.reference`, beside this file) elsewhere."""

from __future__ import annotations

import torch

from synthetic.kernels.dispatch import resolve
from synthetic.kernels.prefix_linear_attention.reference import (
    check_prefix_inputs,
    prefix_linear_attention_reference,
)
from synthetic.kernels.short import records_grad, short_attention, takes_short_path
from synthetic.kernels.state import LinearAttentionState


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
) -> tuple[torch.Tensor, LinearAttentionState | None]:
    r"""Prefix linear attention: a non-causal encoder term over the first ``prefix_len[b]`` tokens
    of (k_enc, v_enc) plus a causal Based term over (k, v), with one shared normaliser (JRT-RNN,
    paper eqs. 3-4; phi is the Taylor map of :mod:`synthetic.kernels.feature_map`):

        y_i = phi(q_i) (S_enc + S_i) / (phi(q_i) . (z_enc + z_i) + eps),
        S_enc = sum_{j < prefix_len[b]} phi(k_enc_j) v_enc_j^T,   S_i = sum_{j <= i} phi(k_j) v_j^T

    Args:
        q (torch.Tensor):
            queries of shape `[B, T, H, F]`. On the Triton path float32, float16 or bfloat16 with
            F <= 32; the reference takes any floating dtype.
        k (torch.Tensor):
            decoder keys of shape `[B, T, H, F]`, q's dtype.
        v (torch.Tensor):
            decoder values of shape `[B, T, H, Dh]`, q's dtype (Triton: Dh <= 256).
        k_enc (torch.Tensor):
            encoder keys of shape `[B, Te, H, F]`, q's dtype.
        v_enc (torch.Tensor):
            encoder values of shape `[B, Te, H, Dh]`, q's dtype.
        prefix_len (torch.Tensor):
            int32 or int64 of shape `[B]`, 0 <= prefix_len <= Te: encoder tokens example b reads
            (on the GPU the range is checked by a device-side assertion).
        eps (float):
            added to the normaliser. Default: `1e-6`.
        impl (str | None):
            `"triton"`, `"reference"` or `"auto"`; None: :func:`synthetic.kernels.dispatch.resolve`
            decides (Triton for CUDA tensors). Default: `None`.
        need_state (bool):
            return the decode state; False (training) returns None for it. Default: `True`.

    Returns:
        y (torch.Tensor):
            outputs of shape `[B, T, H, Dh]` in q's dtype.
        final_state (LinearAttentionState | None):
            decode state after prefill, `(kv [B, H, E, Dh], z [B, H, E])` = S_enc + S_T,
            z_enc + z_T, E = 1 + F + F^2: float32 on the Triton path (not differentiable there),
            q's dtype on the reference path; None with ``need_state=False``.

    On the Triton path a call without state out (``need_state=False``) under the crossover (with
    or without autograd) takes the fused short-sequence kernels of :mod:`synthetic.kernels.short`
    (same values up to rounding).

    Gradients flow to q, k, v, k_enc and v_enc on both paths. The batch dimension may fold
    anything (e.g. ensemble members x batch): every row is independent.
    """
    if resolve(impl, q, k, v, k_enc, v_enc) == "triton":
        t = max(q.shape[1], k_enc.shape[1])
        with_grad = records_grad(q, k, v, k_enc, v_enc)
        if takes_short_path(
            t, q.shape[-1], v.shape[-1], need_state=need_state, has_initial_state=False, with_grad=with_grad
        ):
            check_prefix_inputs(q, k_enc, v_enc, prefix_len)
            return short_attention(q, k, v, k_enc=k_enc, v_enc=v_enc, lengths=prefix_len, eps=eps), None
        y, state = pla_triton(q, k, v, k_enc, v_enc, prefix_len, eps=eps)
        return y, (state if need_state else None)
    return prefix_linear_attention_reference(
        q, k, v, k_enc, v_enc, prefix_len, eps=eps, need_state=need_state
    )


def pla_triton(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    k_enc: torch.Tensor,
    v_enc: torch.Tensor,
    prefix_len: torch.Tensor,
    *,
    eps: float = 1e-6,
) -> tuple[torch.Tensor, LinearAttentionState]:
    """The Triton path of :func:`prefix_linear_attention` (same arguments, always returns the
    state): the engine's causal walk with the encoder sum added to its state."""
    from synthetic.kernels.engine import Encoder, Options, check_inputs, linear_attention

    check_inputs(q, k, v)
    check_prefix_inputs(q, k_enc, v_enc, prefix_len)
    if k_enc.dtype != q.dtype or v_enc.dtype != q.dtype:
        raise TypeError(f"k_enc, v_enc must have q's dtype {q.dtype}; got {k_enc.dtype}, {v_enc.dtype}")
    if v_enc.shape[-1] != v.shape[-1]:
        raise ValueError(f"v_enc head dim {v_enc.shape[-1]} != v head dim {v.shape[-1]}")
    encoder = Encoder(k=k_enc, v=v_enc, lengths=prefix_len)
    return linear_attention(q, k, v, options=Options(causal=True, eps=eps), encoder=encoder)
