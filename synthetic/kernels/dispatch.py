"""Pick the implementation of a kernel op: Triton on CUDA tensors, the torch reference elsewhere.

The choice can be forced per call (``impl="reference"`` / ``"triton"``), for a block of code
(``with use_impl("reference"): ...``), or for a process (environment variable
``READTWICE_KERNELS=reference|triton|auto``). ``auto`` (the default) takes Triton when the inputs
are CUDA tensors and Triton imports, else the reference; under ``TRITON_INTERPRET=1`` on CPU,
``impl="triton"`` runs the Triton kernels in the interpreter.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator

import torch

IMPLS = ("auto", "reference", "triton")
_forced: list[str] = []


def env_flag(name: str, default: bool) -> bool:
    """A ``0`` / ``1`` switch read from the environment variable ``name`` (unset: ``default``);
    anything else is a ValueError naming the variable, its value and what is allowed."""
    value = os.environ.get(name, "1" if default else "0")
    if value not in ("0", "1"):
        raise ValueError(f"{name}={value!r}; allowed: 0, 1")
    return value == "1"


#: the most blocks a CUDA grid takes along its y and z axes, where the Triton kernels here put the
#: batch x heads rows of a call
MAX_GRID_ROWS = 65_535


def check_grid_rows(b: int, h: int, op: str) -> None:
    """Refuse up front a Triton call of ``b`` x ``h`` (batch x heads) rows that no grid can launch:
    a ValueError naming the op, the sizes and the limit (:data:`MAX_GRID_ROWS`)."""
    if b * h > MAX_GRID_ROWS:
        raise ValueError(
            f"{op}: B x H = {b} x {h} = {b * h} rows (batch x heads); a CUDA grid axis takes at most "
            f"{MAX_GRID_ROWS}: split the batch"
        )


def _validate(impl: str, source: str) -> str:
    if impl not in IMPLS:
        raise ValueError(f"{source}={impl!r} is not a kernel implementation; allowed: {', '.join(IMPLS)}")
    return impl


@contextlib.contextmanager
def use_impl(impl: str) -> Iterator[None]:
    """Force ``impl`` for kernel calls inside the block (innermost wins)."""
    _forced.append(_validate(impl, "impl"))
    try:
        yield
    finally:
        _forced.pop()


@functools.cache
def triton_available() -> bool:
    """True if triton imports (a GPU is still needed unless TRITON_INTERPRET=1)."""
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def resolve(impl: str | None, *tensors: torch.Tensor) -> str:
    """Return "reference" or "triton" for a call with these inputs."""
    if impl is None:
        impl = (
            _forced[-1]
            if _forced
            else _validate(os.environ.get("READTWICE_KERNELS", "auto"), "READTWICE_KERNELS")
        )
    else:
        _validate(impl, "impl")
    if impl == "auto":
        on_cuda = all(t.is_cuda for t in tensors)
        return "triton" if on_cuda and triton_available() else "reference"
    if impl == "triton" and not triton_available():
        raise RuntimeError("impl='triton' was requested but triton is not installed")
    return impl
