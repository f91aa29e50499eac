"""Parameter initialisation schemes, drawn from an explicit ``torch.Generator`` (no global RNG).

Two schemes, named by :attr:`synthetic.model.ModelConfig.init`:

``"reference"`` (the paper's code: Zoology's ``_init_weights``, which the JRT synthetic fork uses)
    linear and embedding weights N(0, 0.02^2), linear biases 0; the output projections of the
    residual branches (``out_proj``, the MLP's ``fc2``) N(0, (0.02 / sqrt(2 L))^2) for L layers;
    short-convolution taps and biases as PyTorch's ``Conv1d`` default, U(-1/sqrt(Kc), 1/sqrt(Kc));
    norms weight 1, bias 0.
``"torch"`` (PyTorch's module defaults)
    ``nn.Linear`` weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (Kaiming-uniform with
    a = sqrt(5)); ``nn.Embedding`` N(0, 1); short convolutions as above; norms weight 1, bias 0.

Mixer parameters that are neither linear nor convolution (the SSM's A, Δ bias and skip) keep the
mixer's own rule under both schemes. Every draw is made in float64 on the CPU from the generator,
then copied, so a seed gives the same parameters on every device.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

InitScheme = Literal["reference", "torch"]
INIT_SCHEMES: tuple[str, ...] = ("reference", "torch")
REFERENCE_STD = 0.02


def check_scheme(scheme: str) -> str:
    """Return ``scheme`` if it names an init scheme; ValueError otherwise."""
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"init={scheme!r} is not an init scheme; allowed: {', '.join(INIT_SCHEMES)}")
    return scheme


def init_normal_(weight: torch.Tensor, generator: torch.Generator, std: float = REFERENCE_STD) -> None:
    """Fill ``weight`` in place with N(0, std^2) drawn from ``generator``."""
    with torch.no_grad():
        values = torch.randn(weight.shape, generator=generator, dtype=torch.float64) * std
        weight.copy_(values.to(weight.dtype))


def init_uniform_(weight: torch.Tensor, generator: torch.Generator, bound: float) -> None:
    """Fill ``weight`` in place with U(-bound, bound) drawn from ``generator``."""
    with torch.no_grad():
        u = torch.rand(weight.shape, generator=generator, dtype=torch.float64)
        weight.copy_(((2 * u - 1) * bound).to(weight.dtype))


def init_linear_(linear: nn.Linear, generator: torch.Generator, scheme: str) -> None:
    """One ``nn.Linear`` under ``scheme`` (weight, then bias)."""
    if check_scheme(scheme) == "reference":
        init_normal_(linear.weight, generator)
        if linear.bias is not None:
            nn.init.zeros_(linear.bias)
        return
    bound = 1.0 / math.sqrt(linear.in_features)
    init_uniform_(linear.weight, generator, bound)
    if linear.bias is not None:
        init_uniform_(linear.bias, generator, bound)


def init_embedding_(weight: torch.Tensor, generator: torch.Generator, scheme: str) -> None:
    """An embedding table [V, D] under ``scheme``: N(0, 0.02^2) (reference) or N(0, 1) (torch)."""
    init_normal_(weight, generator, REFERENCE_STD if check_scheme(scheme) == "reference" else 1.0)


def init_short_conv_(taps: torch.Tensor, bias: torch.Tensor, generator: torch.Generator) -> None:
    """Depthwise short-convolution taps [C, Kc] and bias [C] as PyTorch's ``Conv1d`` default
    (fan_in = Kc): both U(-1/sqrt(Kc), 1/sqrt(Kc)). Both schemes use it."""
    bound = 1.0 / math.sqrt(taps.shape[-1])
    init_uniform_(taps, generator, bound)
    init_uniform_(bias, generator, bound)


def residual_output_std(n_layers: int) -> float:
    """The reference scheme's std of residual-branch output projections: 0.02 / sqrt(2 L)."""
    return REFERENCE_STD / math.sqrt(2 * n_layers)
