"""The Triton engine behind Based linear attention and prefix linear attention.

One set of kernels computes both ops (prefix linear attention is Based with a non-causal encoder
sum added to the state); the public ops in synthetic/kernels/based/op.py and
synthetic/kernels/prefix_linear_attention/op.py are thin wrappers over :func:`linear_attention`.

Modules, from the bottom up:

- ``blocks``: Triton building blocks shared by every kernel (feature maps, tile loads, state I/O);
  the kernels' names (D = Dh, DB, BT, FP, W1, W2, R), the feature split and the state layouts.
  Other symbols: docs/synthetic/glossary.md.
- ``forward``: the forward kernel (row-state and transposed-state layouts).
- ``state``: the parallel state pass (encoder sum, segment starts) and the public -> kernel
  state conversion.
- ``backward``: the dq, dk/dv and encoder-gradient kernels.
- ``autotune``: dot precisions, candidate block shapes, sequence segments, the autotune cache.
- ``launch``: host side: buffers, grids and keyword launches of the kernels, forward and backward.
- ``autograd``: the autograd Function, the call's :class:`Options` and the keyword-only
  :func:`linear_attention`.
"""

from __future__ import annotations

from synthetic.kernels.engine.autograd import Options, check_inputs, linear_attention
from synthetic.kernels.engine.launch import Encoder

__all__ = ["Encoder", "Options", "check_inputs", "linear_attention"]
