"""Sequence-mixing kernels: Based linear attention and prefix linear attention (JRT-RNN).

Layout:

- ``based/``: ``op.py`` (the public op :func:`based_linear_attention`) beside ``reference.py``
  (the torch definition, also the CPU path and the decoding step).
- ``prefix_linear_attention/``: ``op.py`` (:func:`prefix_linear_attention`) beside ``reference.py``.
- ``engine/``: the Triton kernels both ops share (forward, backward, state pass, autotune,
  autograd); see its package docstring.
- ``dispatch.py``: which implementation a call takes (Triton on CUDA, the reference elsewhere).
- ``feature_map.py``: the Taylor feature map phi.
- ``state.py``: :class:`LinearAttentionState` (kv, z), the state the ops take and return.

Public ops take ``[B, T, H, *]`` tensors and return ``(y, state)`` (symbols:
docs/synthetic/glossary.md).
"""

from __future__ import annotations

from synthetic.kernels.based.op import based_linear_attention
from synthetic.kernels.dispatch import use_impl
from synthetic.kernels.feature_map import expanded_dim, symmetric_expanded_dim, taylor_feature_map
from synthetic.kernels.prefix_linear_attention.op import prefix_linear_attention
from synthetic.kernels.state import LinearAttentionState

__all__ = [
    "LinearAttentionState",
    "based_linear_attention",
    "expanded_dim",
    "prefix_linear_attention",
    "symmetric_expanded_dim",
    "taylor_feature_map",
    "use_impl",
]
