"""The fused member LayerNorm (synthetic.kernels.member_norm) against the eager MemberLayerNorm:
values and the gradients of x, weight and bias, in the interpreter on the CPU (fp32) and compiled
on a GPU (fp32 and under bf16 autocast, marker `gpu`). Every launch is guarded."""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from synthetic.kernels import member_norm
from synthetic.kernels.member_norm import FUSED_NORM_ENV, fused_norm_enabled, member_layer_norm
from synthetic.members import MemberLayerNorm

from .helpers import guarded_launches

INTERPRETED = os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")
HAS_CUDA = torch.cuda.is_available()
pytestmark = pytest.mark.skipif(
    not (INTERPRETED or HAS_CUDA), reason="Triton needs a GPU or TRITON_INTERPRET=1"
)
DEVICE = "cuda" if HAS_CUDA else "cpu"


def _eager(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, eps: float) -> torch.Tensor:
    k, d = w.shape
    y = F.layer_norm(x, (d,), eps=eps).reshape(k, -1, d)
    return (y * w[:, None] + b[:, None]).reshape(x.shape)


def _inputs(k: int, rows: int, d: int, seed: int, dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(k * rows, 1, d, generator=g) * 3 + 1).to(DEVICE, dtype)
    w = (1 + 0.5 * torch.randn(k, d, generator=g)).to(DEVICE, dtype)
    b = (0.5 * torch.randn(k, d, generator=g)).to(DEVICE, dtype)
    return [t.requires_grad_() for t in (x, w, b)]


@settings(max_examples=8, deadline=None)
@given(
    k=st.integers(1, 3),
    rows=st.sampled_from([1, 5, 17, 33]),
    d=st.sampled_from([4, 18, 36, 70]),
    seed=st.integers(0, 99),
)
def test_matches_the_eager_norm_with_gradients(k: int, rows: int, d: int, seed: int) -> None:
    x, w, b = _inputs(k, rows, d, seed)
    dy = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed + 1)).to(DEVICE)
    with guarded_launches(member_norm, ["_member_norm_fwd_kernel", "_member_norm_bwd_kernel"]):
        y = member_layer_norm(x, w, b, 1e-5)
        grads = torch.autograd.grad(y, (x, w, b), dy)
    ref = _eager(x, w, b, 1e-5)
    ref_grads = torch.autograd.grad(ref, (x, w, b), dy)
    tol = 1e-5 if INTERPRETED else 1e-4
    torch.testing.assert_close(y, ref, rtol=tol, atol=tol)
    for got, want, name in zip(grads, ref_grads, ("x", "weight", "bias"), strict=True):
        torch.testing.assert_close(got, want, rtol=tol, atol=tol, msg=name)


def test_bad_shapes_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    x, w, b = _inputs(2, 3, 8, 0)
    with pytest.raises(ValueError, match=r"weight and bias must be \[K, D\]"):
        member_layer_norm(x, w[:, :4], b, 1e-5)
    with pytest.raises(ValueError, match="not divisible among 4 members"):
        member_layer_norm(x, torch.ones(4, 8, device=DEVICE), torch.zeros(4, 8, device=DEVICE), 1e-5)
    monkeypatch.delenv(FUSED_NORM_ENV, raising=False)
    assert fused_norm_enabled()  # on CUDA tensors by default
    monkeypatch.setenv(FUSED_NORM_ENV, "0")
    assert not fused_norm_enabled()
    monkeypatch.setenv(FUSED_NORM_ENV, "yes")
    with pytest.raises(ValueError, match=r"READTWICE_FUSED_NORM='yes'; allowed: 0, 1"):
        fused_norm_enabled()


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
def test_member_layer_norm_module_under_bf16_autocast(monkeypatch: pytest.MonkeyPatch) -> None:
    """The module with the fused kernel on equals it off, up to bf16 rounding (the fused output is
    bf16 under autocast, what the next matmul reads; the eager one fp32)."""
    x, w, b = _inputs(4, 128 * 37, 36, 3)
    norm = MemberLayerNorm(w.detach().clone(), b.detach().clone(), 1e-5)
    out = {}
    for flag in ("0", "1"):
        monkeypatch.setenv(FUSED_NORM_ENV, flag)
        norm.zero_grad()
        xi = x.detach().clone().requires_grad_()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            y = norm(xi)
        (y.float() ** 2).sum().backward()
        assert xi.grad is not None and norm.weight.grad is not None and norm.bias.grad is not None
        out[flag] = (y.float(), xi.grad, norm.weight.grad.clone(), norm.bias.grad.clone())
    assert out["1"][0].dtype == torch.float32  # compared in fp32
    for got, want in zip(out["1"], out["0"], strict=True):
        torch.testing.assert_close(got, want, rtol=3e-2, atol=3e-2)
