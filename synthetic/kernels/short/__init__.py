"""The short-sequence path of the linear-attention ops: fused Triton kernels of normalised Taylor
attention that never form the 1 + F + F^2 features (``kernels.py``), their autograd Function and
the crossover rule the public ops use (``op.py``)."""

from __future__ import annotations

from synthetic.kernels.short.op import records_grad, short_attention, takes_short_path

__all__ = ["records_grad", "short_attention", "takes_short_path"]
