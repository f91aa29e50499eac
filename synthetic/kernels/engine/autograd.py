"""The autograd Function of the engine and its keyword-only entry point :func:`linear_attention`.

It returns ``(y, state)`` like the references: y [B, T, H, D] in the input dtype, the state
(:class:`~synthetic.kernels.state.LinearAttentionState`) kv [B, H, E, D] and z [B, H, E] in
fp32. Gradients flow to q, k, v, the encoder's k, v and the initial state; the returned state is
not differentiable through this path (asking for its gradient raises instead of returning
something wrong).

The kernels keep each symmetric second-order pair (a, b), (b, a) once, so the returned state
splits a pair's total equally between kv[1+F+a*F+b] and kv[1+F+b*F+a]. For states built from
keys (always symmetric) this is exactly the reference state; for an arbitrary initial state it is
its symmetrised version, which gives the same outputs (phi(q) . kv only sees the sum).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from synthetic.kernels.engine import launch
from synthetic.kernels.engine.launch import Encoder
from synthetic.kernels.state import LinearAttentionState

SUPPORTED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
MAX_FEATURE_DIM = 32
MAX_HEAD_DIM = 256


@dataclass(frozen=True)
class Options:
    """The non-tensor arguments of a call: ``causal`` (each query reads the keys up to itself;
    False: none, only the encoder) and ``eps`` (added to the normaliser)."""

    causal: bool = True
    eps: float = 1e-6


class LinearAttentionFunction(torch.autograd.Function):
    """Call through :func:`linear_attention` (keyword arguments, inputs made contiguous)."""

    @staticmethod
    def forward(ctx, q, k, v, k_enc, v_enc, lengths, kv_init, z_init, options: Options):
        encoder = Encoder(k=k_enc, v=v_enc, lengths=lengths) if k_enc is not None else None
        initial = LinearAttentionState(kv_init, z_init) if kv_init is not None else None
        fwd = launch.forward(
            q, k, v, causal=options.causal, eps=options.eps, encoder=encoder, initial_state=initial
        )
        starts = fwd.starts if fwd.starts is not None else (None, None)
        ctx.save_for_backward(q, k, v, k_enc, v_enc, lengths, fwd.o, fwd.den, *starts)
        ctx.options, ctx.seg, ctx.has_init = options, fwd.seg, initial is not None
        ctx.set_materialize_grads(False)
        return fwd.o, fwd.kv, fwd.z

    @staticmethod
    def backward(ctx, do, dkv_out, dz_out):
        if dkv_out is not None or dz_out is not None:
            raise NotImplementedError(
                "the Triton Based path does not backpropagate through the returned state; "
                "use impl='reference' if you need gradients of the final state"
            )
        q, k, v, k_enc, v_enc, lengths, o, den, start_kv, start_z = ctx.saved_tensors
        options: Options = ctx.options
        starts = LinearAttentionState(start_kv, start_z) if start_kv is not None else None
        fwd = launch.Forward(o=o, den=den, kv=None, z=None, starts=starts, seg=ctx.seg)
        encoder = Encoder(k=k_enc, v=v_enc, lengths=lengths) if k_enc is not None else None
        if do is None:
            do = torch.zeros_like(o)
        grads = launch.backward(
            do, q, k, v, fwd, causal=options.causal, eps=options.eps, encoder=encoder, has_init=ctx.has_init
        )
        return (
            grads.dq,
            grads.dk,
            grads.dv,
            grads.dk_enc,
            grads.dv_enc,
            None,
            grads.dkv_init,
            grads.dz_init,
            None,
        )


def check_inputs(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    """Raise ValueError / TypeError unless q, k [B, T, H, F] and v [B, T, H, D] share one
    supported dtype, F <= 32 and D <= 256."""
    if q.dim() != 4 or k.shape != q.shape or v.dim() != 4 or v.shape[:3] != q.shape[:3]:
        raise ValueError(
            "expected q, k [B, T, H, F] and v [B, T, H, D]; "
            f"got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}"
        )
    if not (q.dtype == k.dtype == v.dtype) or q.dtype not in SUPPORTED_DTYPES:
        raise TypeError(
            f"q, k, v must share one dtype among {SUPPORTED_DTYPES}; got {q.dtype}, {k.dtype}, {v.dtype}"
        )
    if q.shape[-1] > MAX_FEATURE_DIM:
        raise ValueError(
            f"feature dim F={q.shape[-1]} is not supported by the Triton kernel (F <= {MAX_FEATURE_DIM})"
        )
    if v.shape[-1] > MAX_HEAD_DIM:
        raise ValueError(
            f"value head dim D={v.shape[-1]} is not supported by the Triton kernel (D <= {MAX_HEAD_DIM})"
        )


def linear_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    options: Options,
    encoder: Encoder | None = None,
    initial_state: LinearAttentionState | None = None,
) -> tuple[torch.Tensor, LinearAttentionState]:
    """Based linear attention over (q, k, v), optionally with an encoder (prefix linear
    attention) and an initial state, differentiable in every tensor input.

    Shapes as in :func:`check_inputs` (which it does not call); encoder k, v [B, Te, H, *] in q's
    dtype with integer lengths [B]; initial_state (kv [B, H, E, D], z [B, H, E]). Returns
    (y [B, T, H, D], state: kv [B, H, E, D], z [B, H, E] fp32)."""
    kv0 = z0 = None
    if initial_state is not None:
        kv0, z0 = (x.float().contiguous() for x in initial_state)
    k_enc = v_enc = lengths = None
    if encoder is not None:
        k_enc, v_enc = encoder.k.contiguous(), encoder.v.contiguous()
        lengths = encoder.lengths.to(torch.int32).contiguous()
    y, kv, z = LinearAttentionFunction.apply(
        q.contiguous(), k.contiguous(), v.contiguous(), k_enc, v_enc, lengths, kv0, z0, options
    )
    return y, LinearAttentionState(kv, z)
