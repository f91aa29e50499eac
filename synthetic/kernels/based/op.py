"""Based linear attention, the public op: the Triton engine on CUDA, the torch reference
(:mod:`synthetic.kernels.based.reference`, beside this file) elsewhere."""

from __future__ import annotations

import torch

from synthetic.kernels.based.reference import based_chunked
from synthetic.kernels.dispatch import resolve
from synthetic.kernels.short import records_grad, short_attention, takes_short_path
from synthetic.kernels.state import LinearAttentionState


def based_linear_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = True,
    eps: float = 1e-6,
    initial_state: LinearAttentionState | None = None,
    impl: str | None = None,
    need_state: bool = True,
) -> tuple[torch.Tensor, LinearAttentionState | None]:
    r"""Based linear attention with the 2nd-order Taylor feature map phi computed from raw q, k
    (:mod:`synthetic.kernels.feature_map`; phi(q) . phi(k) = 1 + s + s^2 / 2, s = q . k / sqrt(F)):

        y_i = phi(q_i) S_i / (phi(q_i) . z_i + eps),
        S_i = S_0 + sum_{j <= i} phi(k_j) v_j^T,   z_i = z_0 + sum_{j <= i} phi(k_j)

    (with ``causal=False`` the sums run over the whole sequence).

    Args:
        q (torch.Tensor):
            queries of shape `[B, T, H, F]`. On the Triton path float32, float16 or bfloat16 with
            F <= 32; the reference takes any floating dtype.
        k (torch.Tensor):
            keys of shape `[B, T, H, F]`, q's dtype.
        v (torch.Tensor):
            values of shape `[B, T, H, Dh]`, q's dtype (Triton: Dh <= 256).
        causal (bool):
            each position reads the keys up to itself; False: the whole sequence. Default: `True`.
        eps (float):
            added to the normaliser. Default: `1e-6`.
        initial_state (LinearAttentionState | None):
            `(kv [B, H, E, Dh], z [B, H, E])`, E = 1 + F + F^2, any float dtype; causal only.
            Default: `None` (zero).
        impl (str | None):
            `"triton"`, `"reference"` or `"auto"`; None: :func:`synthetic.kernels.dispatch.resolve`
            decides (Triton for CUDA tensors). Default: `None`.
        need_state (bool):
            return the final state; False (training) returns None for it. Default: `True`.

    Returns:
        y (torch.Tensor):
            outputs of shape `[B, T, H, Dh]` in q's dtype.
        final_state (LinearAttentionState | None):
            `(kv [B, H, E, Dh], z [B, H, E])` after the last token: float32 on the Triton path (not
            differentiable there), q's dtype on the reference path; None with ``need_state=False``.

    On the Triton path a call without state in or out (``need_state=False``, no initial state)
    of a sequence under the crossover (with or without autograd) takes the fused short-sequence
    kernels of :mod:`synthetic.kernels.short` instead of the chunked engine (same values up to
    rounding).

    Gradients flow to q, k, v and the initial state on both paths. The batch dimension may fold
    anything (e.g. ensemble members x batch): every row is independent.
    """
    if resolve(impl, q, k, v) == "triton":
        if takes_short_path(
            q.shape[1],
            q.shape[-1],
            v.shape[-1],
            need_state=need_state,
            has_initial_state=initial_state is not None,
            with_grad=records_grad(q, k, v),
        ):
            if causal:
                return short_attention(q, k, v, eps=eps), None
            return short_attention(q, None, None, k_enc=k, v_enc=v, eps=eps), None
        y, state = based_triton(q, k, v, causal=causal, eps=eps, initial_state=initial_state)
        return y, (state if need_state else None)
    return based_chunked(q, k, v, causal=causal, eps=eps, initial_state=initial_state, need_state=need_state)


def based_triton(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = True,
    eps: float = 1e-6,
    initial_state: LinearAttentionState | None = None,
) -> tuple[torch.Tensor, LinearAttentionState]:
    """The Triton path of :func:`based_linear_attention` (same arguments, always returns the state).

    Non-causal Based is the engine's encoder sum over the whole sequence with no causal part."""
    from synthetic.kernels.engine import Encoder, Options, check_inputs, linear_attention

    check_inputs(q, k, v)
    if causal:
        return linear_attention(q, k, v, options=Options(causal=True, eps=eps), initial_state=initial_state)
    if initial_state is not None:
        raise ValueError("initial_state is not supported with causal=False (the state is the whole sequence)")
    b, t = q.shape[:2]
    whole = Encoder(k=k, v=v, lengths=torch.full((b,), t, dtype=torch.int32, device=q.device))
    return linear_attention(q, k, v, options=Options(causal=False, eps=eps), encoder=whole)
