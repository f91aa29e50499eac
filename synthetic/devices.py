"""Where a run trains and at which precision: device and precision resolution, autocast, and
which device errors leave a process unusable."""

from __future__ import annotations

import contextlib
import platform
from typing import Any

import torch

__all__ = [
    "UNUSABLE_CONTEXT_ERRORS",
    "autocast",
    "context_unusable",
    "describe_device",
    "resolve_device",
    "resolve_precision",
]

#: parts of an error message (lower case) after which a process's CUDA context is broken for good:
#: every later CUDA call fails too (sticky errors of the CUDA runtime, as torch and Triton word
#: them), so the process must not train anything else. Out of memory is not one of them.
UNUSABLE_CONTEXT_ERRORS: tuple[str, ...] = (
    "illegal memory access",  # cudaErrorIllegalAddress
    "cudaerrorillegaladdress",
    "device-side assert",  # cudaErrorAssert
    "cudaerrorassert",
    "unspecified launch failure",  # cudaErrorLaunchFailure
    "cudaerrorlaunchfailure",
    "misaligned address",  # cudaErrorMisalignedAddress
    "illegal instruction",  # cudaErrorIllegalInstruction
    "invalid program counter",  # cudaErrorInvalidPc
    "hardware stack error",  # cudaErrorHardwareStackError
    "the launch timed out",  # cudaErrorLaunchTimeout
    "uncorrectable ecc error",  # cudaErrorECCUncorrectable
    "cublas_status_execution_failed",  # what cuBLAS reports on a context broken by one of these
)


def resolve_device(spec: str | torch.device | None) -> torch.device:
    """ "auto"/None -> CUDA if available else CPU; "cpu", "cuda", "cuda:N" as given (checked)."""
    if spec is None or spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(spec)!r} was requested but torch sees no CUDA device")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(
            f"device={str(spec)!r} was requested but torch sees {torch.cuda.device_count()} CUDA device(s)"
        )
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device={str(spec)!r}: only 'cpu' and 'cuda[:N]' are supported")
    return device


def resolve_precision(spec: str, device: torch.device) -> str:
    """ "auto" -> "bf16" on CUDA, "fp32" elsewhere; explicit values pass through."""
    if spec == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    return spec


def describe_device(device: torch.device) -> str:
    """ "cpu (N threads)" or "cuda:I (GPU name)"."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return f"cpu ({torch.get_num_threads()} threads, {platform.machine()})"


def to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``x`` on ``device``, copied without making the host wait for the device: a CPU tensor bound
    for CUDA goes through pinned (page-locked) memory. A copy from pageable memory makes CUDA wait
    for the whole stream first, so a training step that copied its batch that way could not queue
    its kernels while the previous step still ran."""
    if device.type == "cuda" and x.device.type == "cpu" and not x.is_pinned():
        x = x.pin_memory()
    return x.to(device, non_blocking=True)


def autocast(
    device: torch.device, precision: str, *, cache: bool = True
) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast for ``precision="bf16"``, nothing otherwise. ``cache=False`` turns off
    autocast's cache of the weights' bf16 copies, as a CUDA graph capture needs."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16, cache_enabled=cache)
    return contextlib.nullcontext()


def context_unusable(message: str | None) -> bool:
    """Whether an error with this message leaves the process's CUDA context unusable (one of
    :data:`UNUSABLE_CONTEXT_ERRORS`): the process must exit rather than train on."""
    text = (message or "").lower()
    return any(part in text for part in UNUSABLE_CONTEXT_ERRORS)
