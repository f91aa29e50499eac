"""Triton prefix linear attention (JRT-RNN): the shared Based kernels with an encoder pass.

The encoder pass adds the first prefix_len[b] tokens of (k_enc, v_enc) to the state (no outputs);
the causal decoder pass then runs over (q, k, v) from that state. See
synthetic/kernels/based/triton_fwd.py for the kernel and reference.py beside this file for the
definition.
"""

from __future__ import annotations

import torch

from synthetic.kernels.based.triton_based import State, _BasedFunction, _check_inputs
from synthetic.kernels.prefix_linear_attention.reference import check_prefix_inputs


def pla_triton(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    k_enc: torch.Tensor,
    v_enc: torch.Tensor,
    prefix_len: torch.Tensor,
    *,
    eps: float = 1e-6,
) -> tuple[torch.Tensor, State]:
    """Triton prefix linear attention; same contract as
    :func:`synthetic.kernels.prefix_linear_attention.reference.prefix_linear_attention_reference`."""
    _check_inputs(q, k, v)
    check_prefix_inputs(q, k_enc, v_enc, prefix_len)
    if k_enc.dtype != q.dtype or v_enc.dtype != q.dtype:
        raise TypeError(f"k_enc, v_enc must have q's dtype {q.dtype}; got {k_enc.dtype}, {v_enc.dtype}")
    if v_enc.shape[-1] != v.shape[-1]:
        raise ValueError(f"v_enc head dim {v_enc.shape[-1]} != v head dim {v.shape[-1]}")
    prefix = prefix_len.to(torch.int32).contiguous()
    y, s, z = _BasedFunction.apply(
        q.contiguous(),
        k.contiguous(),
        v.contiguous(),
        k_enc.contiguous(),
        v_enc.contiguous(),
        prefix,
        None,
        None,
        True,
        True,
        eps,
    )
    return y, (s, z)
