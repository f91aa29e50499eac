"""Shared helpers for the kernel tests: relative errors, NaN-poisoned allocations, gradients, and
guard regions around every tensor a kernel launch sees (out-of-bounds accesses on the CPU)."""

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

    torch.empty = lambda *a, **k: poison(real_empty(*a, **k))
    torch.empty_like = lambda *a, **k: poison(real_empty_like(*a, **k))
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
    grads = []
    for x in leaves:
        assert x.grad is not None, "an input got no gradient"
        grads.append(x.grad)
    return y.detach(), (state[0].detach(), state[1].detach()), grads


class OutOfBounds(AssertionError):
    """A kernel launch read or wrote outside the tensors it was given."""


# (first byte, end byte, argument names) of the tensors of the guarded launch under way
_ACTIVE: list[tuple[int, int, str]] = []
_ACTIVE_KERNEL: list[str] = []


def _check_addresses(ptrs, mask, what: str) -> None:
    """In the interpreter: raise OutOfBounds unless every address a load or store touches (where
    its mask is true) lies inside one of the launch's tensors."""
    import numpy as np

    if not _ACTIVE:
        return
    addrs = np.asarray(ptrs.data, dtype=np.uint64)
    if mask is not None:
        addrs = addrs[np.broadcast_to(np.asarray(mask.data, dtype=bool), addrs.shape)]
    addrs = addrs.ravel()
    if addrs.size == 0:
        return
    size = np.uint64(ptrs.get_element_ty().primitive_bitwidth // 8)
    inside = np.zeros(addrs.shape, dtype=bool)
    for start, end, _ in _ACTIVE:
        inside |= (addrs >= np.uint64(start)) & (addrs + size <= np.uint64(end))
    if inside.all():
        return
    bad = int(addrs[~inside][0])
    start, end, keys = min(_ACTIVE, key=lambda r: min(abs(bad - r[0]), abs(bad - r[1])))
    side = f"{start - bad} bytes before" if bad < start else f"{bad - end} bytes after the end of"
    raise OutOfBounds(
        f"{_ACTIVE_KERNEL[-1]}: {what} of {int((~inside).sum())} element(s) outside its tensors, "
        f"e.g. {side} argument {keys}"
    )


@contextlib.contextmanager
def _checked_interpreter() -> Iterator[None]:
    """Route the interpreter's loads and stores through :func:`_check_addresses`."""
    from triton.runtime import interpreter

    builder = interpreter.interpreter_builder
    real_load, real_store = builder.create_masked_load, builder.create_masked_store

    def load(ptrs, mask, other, *args):
        _check_addresses(ptrs, mask, "load")
        return real_load(ptrs, mask, other, *args)

    def store(ptrs, value, mask, *args):
        _check_addresses(ptrs, mask, "store")
        return real_store(ptrs, value, mask, *args)

    builder.create_masked_load, builder.create_masked_store = load, store
    try:
        yield
    finally:
        del builder.create_masked_load, builder.create_masked_store


def _guard_fill(dtype: torch.dtype) -> float | int:
    """What a guard region holds: NaN for floats (an unmasked read of it poisons the output),
    the largest value for integers."""
    return float("nan") if dtype.is_floating_point else torch.iinfo(dtype).max


def _guard_intact(region: torch.Tensor) -> bool:
    if region.dtype.is_floating_point:
        return bool(torch.isnan(region).all())
    return bool((region == torch.iinfo(region.dtype).max).all())


class GuardedKernel:
    """A Triton kernel whose every tensor argument is moved, for the launch, into the middle of a
    buffer three times its size (at least ``min_guard`` elements of guard on each side) filled
    with :func:`_guard_fill`. In the interpreter (inside :func:`guarded_launches`) every load and
    store is checked against the launch's tensors as it happens (OutOfBounds names kernel,
    operation and argument), which also catches reads whose values are thrown away; after the
    launch (also compiled, on a GPU) both guards are checked for writes and the tensor is copied
    back. Arguments that are the same tensor share one guarded copy. Launches pass keywords."""

    def __init__(self, kernel, name: str, min_guard: int = 4096) -> None:
        self.kernel, self.name, self.min_guard = kernel, name, min_guard
        self.launches = 0

    def __getitem__(self, grid):
        launch = self.kernel[grid]

        def call(*args, **kwargs):
            if args:
                raise TypeError(f"{self.name}: guarded launches take keyword arguments only")
            copies: dict[tuple, tuple[torch.Tensor, torch.Tensor, int, list[str]]] = {}
            guarded = {}
            for key, value in kwargs.items():
                if not isinstance(value, torch.Tensor):
                    guarded[key] = value
                    continue
                if not value.is_contiguous():
                    raise ValueError(f"{self.name}: argument {key} is not contiguous")
                ident = (value.data_ptr(), value.numel(), value.dtype)
                if ident not in copies:
                    n = value.numel()
                    guard = max(self.min_guard, n)
                    fill = _guard_fill(value.dtype)
                    buf = torch.full((guard + n + guard,), fill, dtype=value.dtype, device=value.device)
                    buf[guard : guard + n].view(value.shape).copy_(value)
                    copies[ident] = (buf, value, guard, [])
                buf, original, guard, keys = copies[ident]
                keys.append(key)
                guarded[key] = buf[guard : guard + original.numel()].view(original.shape)
            ranges = [
                (buf[guard:].data_ptr(), buf[guard:].data_ptr() + original.nbytes, "/".join(keys))
                for buf, original, guard, keys in copies.values()
            ]
            _ACTIVE[:] = ranges
            _ACTIVE_KERNEL.append(self.name)
            try:
                launch(**guarded)
            except Exception as err:  # the interpreter wraps what a kernel raises
                if isinstance(err.__cause__, OutOfBounds):
                    raise err.__cause__ from None
                raise
            finally:
                _ACTIVE.clear()
                _ACTIVE_KERNEL.pop()
            self.launches += 1
            for buf, original, guard, keys in copies.values():
                n = original.numel()
                for side, region in (("before", buf[:guard]), ("after", buf[guard + n :])):
                    where = f"argument {'/'.join(keys)} {tuple(original.shape)}"
                    assert _guard_intact(region), f"{self.name} wrote outside {where} ({side} it)"
                original.copy_(buf[guard : guard + n].view(original.shape))

        return call


@contextlib.contextmanager
def guarded_launches(
    module, names: Sequence[str], min_guard: int = 4096
) -> Iterator[dict[str, GuardedKernel]]:
    """Replace the kernels ``names`` of ``module`` by :class:`GuardedKernel` s inside the block."""
    import os

    real = {name: getattr(module, name) for name in names}
    wrapped = {name: GuardedKernel(kernel, name, min_guard) for name, kernel in real.items()}
    interpreting = os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")
    for name, kernel in wrapped.items():
        setattr(module, name, kernel)
    try:
        with _checked_interpreter() if interpreting else contextlib.nullcontext():
            yield wrapped
    finally:
        for name, kernel in real.items():
            setattr(module, name, kernel)
