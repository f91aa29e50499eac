"""Swapping the kernel implementation under a model (torch reference vs Triton) gives the same
training curve: a few AdamW steps of a small LM with Based / non-causal Based / prefix linear
attention layers, same init and data, compared loss by loss.

On CPU the Triton kernels run in the interpreter (fp32, exact dots): tiny model, 4 steps, tight
tolerance. On a GPU (marker `gpu`) a larger model trains 30 steps in fp32 (tf32 dots).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import torch

from synthetic.kernels import use_impl
from synthetic.model import ModelConfig, build_model

INTERPRETED = os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")
HAS_CUDA = torch.cuda.is_available()

MIXERS = {
    "based": {"kind": "based", "feature_dim": 4, "num_heads": 2, "causal": True},
    "based_noncausal": {"kind": "based", "feature_dim": 4, "num_heads": 2, "causal": False},
    "prefix_linear_attention": {"kind": "prefix_linear_attention", "feature_dim": 4, "num_heads": 2},
}


def loss_curve(
    impl: str, mixer: dict, *, d_model: int, batch: int, seq: int, steps: int, device: str
) -> list[float]:
    vocab = 32
    model = build_model(ModelConfig(d_model=d_model, n_layers=2, pattern=["base_conv", mixer]), vocab, seed=0)
    model = model.to(device)
    gen = torch.Generator().manual_seed(1)
    # periodic sequences (period 7, random per sequence): learnable by recall, so the loss falls
    period = torch.randint(0, vocab, (steps, batch, 7), generator=gen)
    ids = period.repeat(1, 1, seq // 7 + 2)[:, :, : seq + 1].to(device)
    prefix = torch.randint(0, seq + 1, (steps, batch), generator=gen).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    losses = []
    with use_impl(impl):
        for s in range(steps):
            logits = model(ids[s, :, :-1], prefix_len=prefix[s])
            loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), ids[s, :, 1:].flatten())
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return losses


@pytest.mark.skipif(not INTERPRETED, reason="the CPU variant runs the Triton interpreter")
@pytest.mark.parametrize("name", sorted(MIXERS))
def test_same_training_curve_interpreted(name: str) -> None:
    kw: dict[str, Any] = dict(d_model=8, batch=2, seq=21, steps=6, device="cpu")
    ref = loss_curve("reference", MIXERS[name], **kw)
    tri = loss_curve("triton", MIXERS[name], **kw)
    assert ref[-1] != ref[0]  # the parameters did change
    for step, (a, b) in enumerate(zip(ref, tri, strict=True)):
        assert abs(a - b) <= 1e-5 * abs(a), f"step {step}: reference loss {a} vs Triton {b}"


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(MIXERS))
def test_same_training_curve_gpu(name: str) -> None:
    kw: dict[str, Any] = dict(d_model=64, batch=16, seq=300, steps=30, device="cuda")
    ref = loss_curve("reference", MIXERS[name], **kw)
    tri = loss_curve("triton", MIXERS[name], **kw)
    assert ref[-1] != ref[0]
    for step, (a, b) in enumerate(zip(ref, tri, strict=True)):
        assert abs(a - b) <= 2e-2 * abs(a), f"step {step}: reference loss {a} vs Triton {b}"
