"""The Triton member linear layer (synthetic.kernels.member_linear) against ``torch.baddbmm`` in
fp64: values and the gradients of x, weight and bias, in the interpreter on the CPU (fp32, with
widths below, at and above one block, rows cut into several programs and the weight gradient's
rows into several chunks) and compiled on a GPU (under bf16 autocast, and MemberLinear with the
kernel on and off, marker `gpu`). Every launch is guarded, and its outputs are allocated
NaN-poisoned."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from synthetic.kernels import member_linear as ml
from synthetic.kernels.member_linear import MEMBER_GEMM_ENV, member_gemm_enabled, member_linear
from synthetic.members import MemberLinear

from .helpers import guarded_launches, nan_poisoned_allocations

INTERPRETED = os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")
HAS_CUDA = torch.cuda.is_available()
pytestmark = pytest.mark.skipif(
    not (INTERPRETED or HAS_CUDA), reason="Triton needs a GPU or TRITON_INTERPRET=1"
)
DEVICE = "cuda" if HAS_CUDA else "cpu"
KERNELS = ["_rows_kernel", "_wgrad_kernel"]


def _reference(
    x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, dy: torch.Tensor
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """baddbmm in fp64 on the CPU: y and the gradients of x, w (and b)."""
    leaves = [t.detach().cpu().double().requires_grad_() for t in (x, w) + ((b,) if b is not None else ())]
    y = torch.bmm(leaves[0], leaves[1].transpose(1, 2))
    if b is not None:
        y = y + leaves[2].unsqueeze(1)
    return y, torch.autograd.grad(y, leaves, dy.cpu().double())


def _inputs(
    k: int, m: int, inp: int, out: int, bias: bool, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(k, m, inp, generator=g).to(DEVICE).requires_grad_()
    w = torch.randn(k, out, inp, generator=g).to(DEVICE).requires_grad_()
    b = torch.randn(k, out, generator=g).to(DEVICE).requires_grad_() if bias else None
    dy = torch.randn(k, m, out, generator=g).to(DEVICE)
    return x, w, b, dy


@contextlib.contextmanager
def _blocks(small: bool) -> Iterator[None]:
    """Small blocks (rows in several programs, widths above MAX_BLOCK looped) and few weight-gradient
    programs (several row blocks a chunk), or the defaults."""
    names = ("BLOCK_M", "BLOCK_M_WGRAD", "MAX_BLOCK", "WGRAD_PROGRAMS")
    saved = [getattr(ml, name) for name in names]
    for name, value in zip(names, (16, 16, 16, 4) if small else saved, strict=True):
        setattr(ml, name, value)
    try:
        yield
    finally:
        for name, value in zip(names, saved, strict=True):
            setattr(ml, name, value)


@settings(max_examples=20, deadline=None)
@given(
    k=st.sampled_from([1, 3]),
    m=st.sampled_from([1, 17, 70]),
    inp=st.sampled_from([1, 8, 18, 36, 65]),
    out=st.sampled_from([1, 8, 36, 65]),
    bias=st.booleans(),
    small=st.booleans(),
    seed=st.integers(0, 99),
)
@example(k=3, m=70, inp=36, out=36, bias=True, small=True, seed=0)
@example(k=3, m=70, inp=65, out=8, bias=False, small=True, seed=1)
@example(k=1, m=17, inp=8, out=65, bias=True, small=False, seed=2)
@example(k=3, m=1, inp=1, out=1, bias=True, small=False, seed=3)
def test_matches_baddbmm_with_gradients(
    k: int, m: int, inp: int, out: int, bias: bool, small: bool, seed: int
) -> None:
    x, w, b, dy = _inputs(k, m, inp, out, bias, seed)
    leaves = (x, w) + ((b,) if b is not None else ())
    with _blocks(small), nan_poisoned_allocations(), guarded_launches(ml, KERNELS) as guarded:
        y = member_linear(x, w, b)
        grads = torch.autograd.grad(y, leaves, dy)
    assert [g.launches for g in guarded.values()] == [2, 1]  # forward and dx; the weight gradient
    ref, ref_grads = _reference(x, w, b, dy)
    assert y.dtype == torch.float32 and y.shape == (k, m, out)
    tol = 1e-5 if INTERPRETED else 1e-4
    scale = max(1.0, inp**0.5, m**0.5)
    torch.testing.assert_close(y.double().cpu(), ref, rtol=tol, atol=tol * scale)
    for got, want, name in zip(grads, ref_grads, ("x", "weight", "bias"), strict=False):
        assert got.dtype == torch.float32 and got.shape == want.shape, name
        torch.testing.assert_close(got.double().cpu(), want, rtol=tol, atol=tol * scale, msg=name)


def test_strided_weight_and_empty() -> None:
    """The stacked model's weights are views of one flat [K, P] buffer (member stride P, not
    out * in): read through their strides, gradients land in that view. No rows: an empty y and
    zero weight gradients; no input width: y is the bias."""
    g = torch.Generator().manual_seed(5)
    flat = torch.randn(2, 7 + 9 * 12 + 3, generator=g).to(DEVICE).requires_grad_()
    w = flat[:, 7 : 7 + 9 * 12].view(2, 9, 12)
    b = flat[:, -3:].repeat(1, 3)  # [2, 9]
    x = torch.randn(2, 20, 12, generator=g).to(DEVICE).requires_grad_()
    dy = torch.randn(2, 20, 9, generator=g).to(DEVICE)
    y = member_linear(x, w, b)
    grads = torch.autograd.grad(y, (x, flat), dy)
    ref, (ref_dx, ref_dw, ref_db) = _reference(x, w, b, dy)
    torch.testing.assert_close(y.double().cpu(), ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grads[0].double().cpu(), ref_dx, rtol=1e-5, atol=1e-5)
    want_flat = torch.zeros_like(flat, dtype=torch.float64, device="cpu")
    want_flat[:, 7 : 7 + 9 * 12] = ref_dw.reshape(2, -1)
    want_flat[:, -3:] = ref_db.view(2, 3, 3).sum(1)
    torch.testing.assert_close(grads[1].double().cpu(), want_flat, rtol=1e-5, atol=1e-5)
    x0 = torch.zeros(2, 0, 12, device=DEVICE, requires_grad=True)
    y0 = member_linear(x0, w, b)
    assert y0.shape == (2, 0, 9)
    (dflat,) = torch.autograd.grad(y0.sum(), (flat,))
    assert not dflat.any()
    xw = torch.zeros(2, 4, 0, device=DEVICE, requires_grad=True)
    b0 = torch.randn(2, 5, device=DEVICE, requires_grad=True)
    y1 = member_linear(xw, torch.zeros(2, 5, 0, device=DEVICE), b0)
    torch.testing.assert_close(y1, b0.detach().unsqueeze(1).expand(2, 4, 5))
    (db0,) = torch.autograd.grad(y1.sum(), (b0,))
    torch.testing.assert_close(db0, torch.full((2, 5), 4.0, device=DEVICE))


def test_output_dtype_under_autocast() -> None:
    """Under autocast y is in the autocast dtype (as baddbmm's), from 16-bit products summed in
    fp32; an fp32 x is cast in registers; dx keeps x's dtype, dW and db the parameters' (fp32).
    fp16 in the interpreter (its bf16 is wrong: shared reference notes), bf16 on a GPU."""
    half = torch.float16 if INTERPRETED else torch.bfloat16
    x, w, b, _ = _inputs(2, 33, 36, 20, True, 4)
    assert b is not None
    with torch.autocast(DEVICE, dtype=half):
        y = member_linear(x, w, b)
        want = torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))
    assert y.dtype == want.dtype == half
    scale = want.float().abs().max().item()
    torch.testing.assert_close(y.float(), want.float(), rtol=2e-2, atol=1e-2 * scale)
    dx, dw, db = torch.autograd.grad(y.float().sum(), (x, w, b))
    assert dx.dtype == dw.dtype == db.dtype == torch.float32


def test_bad_shapes_dtypes_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    x, w, b, _ = _inputs(2, 5, 6, 4, True, 0)
    assert b is not None
    with pytest.raises(ValueError, match=r"x must be \[K, M, in\] and weight \[K, out, in\]"):
        member_linear(x, w[:1], b)
    with pytest.raises(ValueError, match=r"x must be \[K, M, in\]"):
        member_linear(x[..., :5], w, b)
    with pytest.raises(ValueError, match=r"bias must be \[K, out\] = \(2, 4\); got \(2, 3\)"):
        member_linear(x, w, b[:, :3])
    with pytest.raises(ValueError, match=r"computes in .*; got torch.float64"):
        member_linear(x.double(), w.double())
    monkeypatch.delenv(MEMBER_GEMM_ENV, raising=False)
    assert not member_gemm_enabled()
    monkeypatch.setenv(MEMBER_GEMM_ENV, "1")
    assert member_gemm_enabled()
    monkeypatch.setenv(MEMBER_GEMM_ENV, "on")
    with pytest.raises(ValueError, match=r"READTWICE_MEMBER_GEMM='on'; allowed: 0, 1"):
        member_gemm_enabled()


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
@pytest.mark.parametrize(
    ("k", "rows", "inp", "out"), [(8, 35200, 36, 36), (8, 35200, 8, 36), (4, 4096, 128, 512)]
)
@pytest.mark.parametrize("bias", [False, True])
def test_member_linear_module_on_cuda_matches_baddbmm(
    monkeypatch: pytest.MonkeyPatch, k: int, rows: int, inp: int, out: int, bias: bool
) -> None:
    """MemberLinear under bf16 autocast with the kernels on and off (baddbmm): equal up to bf16
    rounding, gradients of x, weight and bias too, at the paper's d_model 36 shapes and a wide one."""
    g = torch.Generator().manual_seed(6)
    w0 = torch.randn(k, out, inp, generator=g) / inp**0.5
    b0 = torch.randn(k, out, generator=g) if bias else None
    x0 = torch.randn(k * rows, inp, generator=g)
    dy = torch.randn(k * rows, out, generator=g).cuda().bfloat16()
    got = {}
    for flag in ("0", "1"):
        monkeypatch.setenv(MEMBER_GEMM_ENV, flag)
        layer = MemberLinear(w0.clone(), None if b0 is None else b0.clone()).cuda()
        x = x0.cuda().requires_grad_()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            y = layer(x)
        assert y.dtype == torch.bfloat16
        params = [x, layer.weight] + ([layer.bias] if layer.bias is not None else [])
        got[flag] = (y.float(), *torch.autograd.grad(y, params, dy))
    for have, want, name in zip(got["1"], got["0"], ("y", "x", "weight", "bias"), strict=False):
        assert have.dtype == want.dtype, name
        scale = want.abs().max().item()
        torch.testing.assert_close(have, want, rtol=3e-2, atol=2e-2 * scale, msg=name)
