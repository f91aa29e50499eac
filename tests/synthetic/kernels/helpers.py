"""Shared helpers for the kernel tests: relative errors, NaN-poisoned allocations, gradients."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import torch


def rel_err(got: torch.Tensor, ref: torch.Tensor) -> float:
    """||got - ref|| / ||ref|| in fp64 (NaN if got has NaN)."""
    got, ref = got.double(), ref.double()
    if torch.isnan(got).any():
        return float("nan")
    denom = ref.norm().item()
    return (got - ref).norm().item() / (denom if denom > 0 else 1.0)


@contextlib.contextmanager
def nan_poisoned_allocations() -> Iterator[None]:
    """Make torch.empty / torch.empty_like return NaN-filled (float) tensors inside the block, so an
    output element a kernel forgets to write shows up as NaN."""
    real_empty, real_empty_like = torch.empty, torch.empty_like

    def poison(t: torch.Tensor) -> torch.Tensor:
        if t.is_floating_point():
            t.fill_(float("nan"))
        return t

    torch.empty = lambda *a, **k: poison(real_empty(*a, **k))  # type: ignore[assignment]
    torch.empty_like = lambda *a, **k: poison(real_empty_like(*a, **k))  # type: ignore[assignment]
    try:
        yield
    finally:
        torch.empty, torch.empty_like = real_empty, real_empty_like


def run_with_grads(
    fn: Callable[..., tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]],
    inputs: Sequence[torch.Tensor],
    dy: torch.Tensor,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor], list[torch.Tensor]]:
    """Call fn(*inputs) on fresh leaf copies, backprop <y, dy>; return (y, state, input grads)."""
    leaves = [x.detach().clone().requires_grad_(True) for x in inputs]
    y, state = fn(*leaves)
    (y.double() * dy.double()).sum().backward()
    return y.detach(), (state[0].detach(), state[1].detach()), [x.grad for x in leaves]
