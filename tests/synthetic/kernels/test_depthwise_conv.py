"""The Triton causal depthwise convolution (synthetic.kernels.depthwise_conv) against the eager
``F.conv1d`` path of causal_depthwise_conv: values and the gradients of x, taps and bias, in the
interpreter on the CPU (fp32 against an fp64 eager reference, also with tiles small enough to cut
time and channels into several blocks and the backward's rows into several chunks) and compiled on
a GPU (under bf16 autocast, and the BaseConv / SSM layers with the kernel on and off, marker `gpu`).
Every launch is guarded, and its outputs are allocated NaN-poisoned."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from synthetic.kernels import depthwise_conv
from synthetic.kernels.depthwise_conv import FUSED_CONV_ENV, fused_conv_enabled, member_causal_conv
from synthetic.layers import base as layers_base
from synthetic.layers.base import Mixer, causal_depthwise_conv
from synthetic.layers.base_conv import BaseConv
from synthetic.layers.ssm import SelectiveSSM

from .helpers import guarded_launches, nan_poisoned_allocations

INTERPRETED = os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")
HAS_CUDA = torch.cuda.is_available()
pytestmark = pytest.mark.skipif(
    not (INTERPRETED or HAS_CUDA), reason="Triton needs a GPU or TRITON_INTERPRET=1"
)
DEVICE = "cuda" if HAS_CUDA else "cpu"
KERNELS = ["_conv_fwd_kernel", "_conv_bwd_kernel"]


def _eager(
    x: torch.Tensor, taps: torch.Tensor, bias: torch.Tensor, dy: torch.Tensor
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """The eager path (CPU tensors never take the kernel), fp64: y and the grads of x, taps, bias."""
    leaves = [t.detach().cpu().double().requires_grad_() for t in (x, taps, bias)]
    y = causal_depthwise_conv(*leaves)
    return y, torch.autograd.grad(y, leaves, dy.cpu().double())


def _inputs(
    k: int, per: int, t: int, c: int, kc: int, one_model: bool, seed: int, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """x [k*per, t, c], taps [c, kc] / bias [c] (one_model, k = 1) or [k, c, kc] / [k, c], dy."""
    g = torch.Generator().manual_seed(seed)
    lead = () if one_model else (k,)
    x = torch.randn(k * per, t, c, generator=g)
    taps = torch.randn(*lead, c, kc, generator=g)
    bias = torch.randn(*lead, c, generator=g)
    dy = torch.randn(k * per, t, c, generator=g)
    x, taps, bias = (v.to(DEVICE, dtype).requires_grad_() for v in (x, taps, bias))
    return x, taps, bias, dy.to(DEVICE, dtype)


@contextlib.contextmanager
def _tiles(small: bool) -> Iterator[None]:
    """Small tiles (several time and channel blocks) and few backward programs (several tiles a
    chunk), or the defaults."""
    names = ("TILE_ELEMENTS", "BLOCK_C_CHOICES", "BWD_PROGRAMS")
    saved = [getattr(depthwise_conv, name) for name in names]
    for name, value in zip(names, (64, (16,), 4) if small else saved, strict=True):
        setattr(depthwise_conv, name, value)
    try:
        yield
    finally:
        for name, value in zip(names, saved, strict=True):
            setattr(depthwise_conv, name, value)


@settings(max_examples=16, deadline=None)
@given(
    k=st.sampled_from([1, 3]),
    kc=st.sampled_from([1, 3, 4]),
    t=st.sampled_from([1, 2, 17, 63]),
    c=st.sampled_from([5, 36]),
    per=st.integers(1, 2),
    one_model=st.booleans(),
    small=st.booleans(),
    seed=st.integers(0, 99),
)
@example(k=3, kc=4, t=63, c=36, per=2, one_model=False, small=True, seed=0)
@example(k=1, kc=3, t=17, c=5, per=2, one_model=True, small=True, seed=1)
@example(k=1, kc=4, t=2, c=36, per=1, one_model=False, small=False, seed=2)
@example(k=3, kc=1, t=1, c=5, per=1, one_model=False, small=False, seed=3)
def test_matches_the_eager_conv_with_gradients(
    k: int, kc: int, t: int, c: int, per: int, one_model: bool, small: bool, seed: int
) -> None:
    if one_model:
        k = 1
    x, taps, bias, dy = _inputs(k, per, t, c, kc, one_model, seed)
    with _tiles(small), nan_poisoned_allocations(), guarded_launches(depthwise_conv, KERNELS) as guarded:
        y = member_causal_conv(x, taps, bias)
        grads = torch.autograd.grad(y, (x, taps, bias), dy)
    assert [g.launches for g in guarded.values()] == [1, 1]
    ref, ref_grads = _eager(x, taps, bias, dy)
    assert y.dtype == torch.float32 and y.shape == x.shape
    tol = 1e-5 if INTERPRETED else 1e-4
    torch.testing.assert_close(y.double().cpu(), ref, rtol=tol, atol=tol)
    for got, want, name in zip(grads, ref_grads, ("x", "taps", "bias"), strict=True):
        assert got.dtype == torch.float32 and got.shape == want.shape, name
        torch.testing.assert_close(got.double().cpu(), want, rtol=tol, atol=tol, msg=name)


def test_strided_input_fp64_and_empty() -> None:
    """x a channel slice of a wider tensor (the SSM's ``in_proj(x).chunk(2, -1)``) and a strided dy
    take no copy; fp64 inputs are computed in fp64; no rows or no time steps give empty outputs
    and zero weight gradients."""
    g = torch.Generator().manual_seed(7)
    wide = torch.randn(6, 9, 2 * 20, generator=g, dtype=torch.float64).to(DEVICE)
    x = wide[..., :20].requires_grad_()
    taps = torch.randn(2, 20, 3, generator=g, dtype=torch.float64).to(DEVICE).requires_grad_()
    bias = torch.randn(2, 20, generator=g, dtype=torch.float64).to(DEVICE).requires_grad_()
    dy = torch.randn(6, 9, 2 * 20, generator=g, dtype=torch.float64).to(DEVICE)[..., 20:]
    y = member_causal_conv(x, taps, bias)
    grads = torch.autograd.grad(y, (x, taps, bias), dy)
    ref, ref_grads = _eager(x, taps, bias, dy)
    assert y.dtype == torch.float64
    torch.testing.assert_close(y.cpu(), ref, rtol=1e-12, atol=1e-12)
    for got, want in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(got.cpu(), want, rtol=1e-12, atol=1e-12)
    for rows, t in ((0, 5), (4, 0)):
        x0 = torch.zeros(rows, t, 20, dtype=torch.float64, device=DEVICE, requires_grad=True)
        y0 = member_causal_conv(x0, taps, bias)
        assert y0.shape == (rows, t, 20)
        _, dtaps, dbias = torch.autograd.grad(y0.sum(), (x0, taps, bias))
        assert not dtaps.any() and not dbias.any()


def test_output_dtype_under_autocast() -> None:
    """Under autocast y is in the autocast dtype (as F.conv1d's), from the same fp32 sums (up to
    one bf16 ulp: the interpreter truncates to bf16 where a GPU and torch round to nearest)."""
    x, taps, bias, _ = _inputs(2, 2, 17, 36, 3, False, 4)
    with torch.autocast(DEVICE, dtype=torch.bfloat16):
        y = member_causal_conv(x, taps, bias)
    assert y.dtype == torch.bfloat16
    want = member_causal_conv(x, taps, bias).to(torch.bfloat16)
    torch.testing.assert_close(y, want, rtol=1e-2, atol=0)
    (dx,) = torch.autograd.grad(y.float().sum(), (x,))
    assert dx.dtype == torch.float32


def test_bad_shapes_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    x, taps, bias, _ = _inputs(2, 3, 4, 8, 3, False, 0)
    with pytest.raises(ValueError, match="not divisible among 4 members"):
        member_causal_conv(x, torch.ones(4, 8, 3, device=DEVICE), torch.zeros(4, 8, device=DEVICE))
    with pytest.raises(ValueError, match=r"C = x's last dim \(8\)"):
        member_causal_conv(x, taps[:, :4], bias[:, :4])
    with pytest.raises(ValueError, match="bias"):
        member_causal_conv(x, taps, bias[0])
    with pytest.raises(ValueError, match="Kc >= 1"):
        member_causal_conv(x, taps[..., :0], bias)
    with pytest.raises(ValueError, match=r"x must be \[rows, T, C\]"):
        member_causal_conv(x[0], taps, bias)
    monkeypatch.delenv(FUSED_CONV_ENV, raising=False)
    assert fused_conv_enabled()  # on by default since timed on a GPU
    monkeypatch.setenv(FUSED_CONV_ENV, "0")
    assert not fused_conv_enabled()
    monkeypatch.setenv(FUSED_CONV_ENV, "yes")
    with pytest.raises(ValueError, match=r"READTWICE_FUSED_CONV='yes'; allowed: 0, 1"):
        fused_conv_enabled()


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
@pytest.mark.parametrize(
    ("k", "per", "t", "c", "kc"), [(8, 16, 300, 128, 3), (4, 8, 1025, 36, 4), (1, 4, 64, 96, 3)]
)
def test_bf16_autocast_matches_the_eager_conv(
    monkeypatch: pytest.MonkeyPatch, k: int, per: int, t: int, c: int, kc: int
) -> None:
    """causal_depthwise_conv on CUDA under bf16 autocast, kernel on vs off (both bf16 outputs; the
    eager one rounds x and taps to bf16 first): equal up to bf16 rounding, gradients too."""
    out = {}
    for flag in ("0", "1"):
        monkeypatch.setenv(FUSED_CONV_ENV, flag)
        x, taps, bias, dy = _inputs(k, per, t, c, kc, k == 1, 5)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            y = causal_depthwise_conv(x, taps, bias)
        assert y.dtype == torch.bfloat16
        out[flag] = (y.float(), *torch.autograd.grad(y, (x, taps, bias), dy.bfloat16()))
    for got, want, name in zip(out["1"], out["0"], ("y", "x", "taps", "bias"), strict=True):
        assert got.dtype == want.dtype, name
        scale = want.abs().max().item()
        torch.testing.assert_close(got, want, rtol=3e-2, atol=2e-2 * scale, msg=name)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
@pytest.mark.parametrize("members", [0, 4])
@pytest.mark.parametrize("autocast", [False, True])
def test_layers_on_cuda_match_the_eager_path(
    monkeypatch: pytest.MonkeyPatch, members: int, autocast: bool
) -> None:
    """BaseConv and the SSM (whose conv input is a non-contiguous channel slice) forward and
    backward, one model or ``members`` stacked taps, with the kernel on (it runs) and off."""
    torch.manual_seed(0)
    d, rows, t = 64, 8, 97
    layers: list[Mixer] = [BaseConv(d, kernel_size=3), SelectiveSSM(d, d_state=4, conv_kernel=4)]
    for layer in layers:
        layer.reset_parameters_(torch.Generator().manual_seed(1))
        for name in ("filter", "conv_bias", "conv_weight"):
            if members and hasattr(layer, name):
                p = getattr(layer, name)
                setattr(
                    layer, name, torch.nn.Parameter(p.detach()[None] + 0.1 * torch.randn(members, *p.shape))
                )
        layer.cuda()
    calls: list[int] = []

    def counted(x: torch.Tensor, taps: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return member_causal_conv(x, taps, bias)

    monkeypatch.setattr(layers_base, "member_causal_conv", counted)
    x0 = torch.randn(rows, t, d, device="cuda")
    for layer in layers:
        out = {}
        for flag in ("0", "1"):
            monkeypatch.setenv(FUSED_CONV_ENV, flag)
            calls.clear()
            layer.zero_grad()
            x = x0.clone().requires_grad_()
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
                y = layer(x)
            (y.float() ** 2).mean().backward()
            assert len(calls) == (flag == "1")
            assert x.grad is not None
            out[flag] = [y.float(), x.grad] + [
                p.grad.clone() for p in layer.parameters() if p.grad is not None
            ]
        tol = 5e-2 if autocast else 1e-3
        assert len(out["1"]) == len(out["0"])
        for got, want in zip(out["1"], out["0"], strict=True):
            scale = want.abs().max().item()
            torch.testing.assert_close(got, want, rtol=tol, atol=tol * scale)
