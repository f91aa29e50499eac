"""MemberAdamW: each member's update is torch's AdamW (+ clip_grad_norm_, + the LR schedule)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from synthetic.members import stack_models
from synthetic.model import ModelConfig, build_model, decays
from synthetic.optim import MemberAdamW, MemberHyper, lr_factor

torch.set_num_threads(1)

CFG = ModelConfig(d_model=8, n_layers=2, pattern=["base_conv", {"kind": "based", "feature_dim": 2}], mlp=True)
V = 11


def hyper(**kw: object) -> MemberHyper:
    base = dict(
        lr=3e-2,
        weight_decay=0.1,
        decay_all=False,
        betas=(0.9, 0.98),
        grad_clip=0.5,
        warmup_steps=2,
        min_lr_ratio=0.1,
        total_steps=6,
    )
    return MemberHyper(**{**base, **kw})  # type: ignore[arg-type]


def loss_of(model: torch.nn.Module, seed: int) -> torch.Tensor:
    ids = torch.randint(0, V, (4, 7), generator=torch.Generator().manual_seed(seed))
    return model(ids).logsumexp(-1).mean()


def torch_groups(model: torch.nn.Module, weight_decay: float, decay_all: bool) -> list[dict]:
    """torch.optim.AdamW's groups: with ``decay_all`` one; else decay where
    :func:`synthetic.model.decays` says so, none on the rest (norms, biases, the embedding)."""
    if decay_all:
        return [{"params": list(model.parameters()), "weight_decay": weight_decay}]
    named = list(model.named_parameters())
    decay = [p for n, p in named if decays(n, p.dim())]
    rest = [p for n, p in named if not decays(n, p.dim())]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


def torch_reference(h: MemberHyper, seed: int, steps: int) -> dict[str, torch.Tensor]:
    """The textbook single-model loop with torch.optim.AdamW, LambdaLR and clip_grad_norm_."""
    model = build_model(CFG, V, seed=seed)
    opt = torch.optim.AdamW(torch_groups(model, h.weight_decay, h.decay_all), lr=h.lr, betas=h.betas)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, h.total_steps, h.warmup_steps, h.min_lr_ratio)
    )
    for step in range(steps):
        opt.zero_grad()
        loss_of(model, 100 + step).backward()
        if h.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), h.grad_clip)
        opt.step()
        sched.step()
    return dict(model.named_parameters())


@pytest.mark.parametrize(
    "hypers",
    [
        [hyper()],
        [
            hyper(),
            hyper(lr=1e-2, decay_all=True, grad_clip=None),
            hyper(betas=(0.8, 0.999), weight_decay=0.0),
        ],
    ],
)
def test_each_member_follows_torch_adamw(hypers: list[MemberHyper]) -> None:
    steps = 6
    stacked = stack_models([build_model(CFG, V, seed=i) for i in range(len(hypers))])
    opt = MemberAdamW(stacked, hypers)
    for step in range(steps):
        stacked.zero_grad_()
        ids = torch.randint(0, V, (4, 7), generator=torch.Generator().manual_seed(100 + step))
        stacked(ids.repeat(len(hypers), 1)).logsumexp(-1).view(len(hypers), -1).mean(1).sum().backward()
        opt.step()
    for i, h in enumerate(hypers):
        ref = torch_reference(h, i, steps)
        got = stacked.member(i)
        for name, p in got.named_parameters():
            # fp32 rounding differs (batched matmuls vs torch's Linear); where a gradient entry is a
            # near-cancellation, Adam's normalised step magnifies it. A wrong formula (bias
            # correction, decay, clipping, schedule) would be off by a sizeable part of a step
            # (lr = 1e-2..3e-2); we allow 1% of one step.
            torch.testing.assert_close(p.detach(), ref[name].detach(), rtol=1e-4, atol=3e-4, msg=name)


def test_keep_members_keeps_the_right_state() -> None:
    hypers = [hyper(lr=1e-2), hyper(lr=2e-2), hyper(lr=3e-2)]
    stacked = stack_models([build_model(CFG, V, seed=i) for i in range(3)])
    opt = MemberAdamW(stacked, hypers)
    stacked.zero_grad_()
    stacked(
        torch.randint(0, V, (6, 5), generator=torch.Generator().manual_seed(0))
    ).square().mean().backward()
    opt.step()
    avg = opt.exp_avg.clone()
    stacked.keep_members([2, 0])
    opt.keep_members([2, 0])
    assert torch.equal(opt.exp_avg, avg[[2, 0]])
    assert [h.lr for h in opt.hypers] == [3e-2, 1e-2]
    assert opt.decay.shape == stacked.flat.shape


@given(total=st.integers(1, 500), frac=st.floats(0.0, 0.5), min_ratio=st.floats(0.0, 1.0))
def test_schedule_warmup_then_cosine(total: int, frac: float, min_ratio: float) -> None:
    warmup = math.ceil(frac * total)
    values = [lr_factor(s, total, warmup, min_ratio) for s in range(total)]
    assert all(min_ratio - 1e-12 <= v <= 1.0 + 1e-12 for v in values[warmup:])
    assert all(0 < v <= 1.0 for v in values[:warmup])
    assert values[:warmup] == sorted(values[:warmup])
    assert values[warmup:] == sorted(values[warmup:], reverse=True)
    if warmup < total:
        assert values[warmup] == pytest.approx(1.0)
    assert lr_factor(total, total, warmup, min_ratio) == pytest.approx(min_ratio if warmup < total else 1.0)


def test_decay_excludes_norms_biases_embedding() -> None:
    model = build_model(ModelConfig(d_model=8, n_layers=2, pattern=["base_conv", "based"], mlp=True), 10)
    decay, no_decay = torch_groups(model, 0.1, decay_all=False)
    names = {id(p): n for n, p in model.named_parameters()}
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() >= 2 and not names[id(p)].startswith("embedding") for p in decay["params"])
    no_decay_names = {names[id(p)] for p in no_decay["params"]}
    assert "embedding.weight" in no_decay_names and any("norm" in n for n in no_decay_names)
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))
    (everything,) = torch_groups(model, 0.1, decay_all=True)
    assert len(everything["params"]) == len(list(model.parameters()))
    stacked = stack_models([model])
    mask = stacked.member_decay_mask(decay_all=False)
    decayed = {n for n, p in stacked.named_parameters() if mask[stacked.offsets[n][0]] == 1}
    assert decayed == {names[id(p)] for p in decay["params"]}


def test_learning_rates_come_from_one_table_equal_to_the_schedule() -> None:
    """The table on the parameters' device holds every member's rate at every step (the host's
    float64 values cast once), before and after members leave; past it the host computes them."""
    hypers = [hyper(lr=1e-2, total_steps=9, warmup_steps=3), hyper(lr=2e-2, total_steps=6), hyper(lr=5e-3)]
    stacked = stack_models([build_model(CFG, V, seed=i) for i in range(3)])
    opt = MemberAdamW(stacked, hypers)
    assert opt.lr_table.shape == (10, 3) and opt.lr_table.device == stacked.flat.device
    for step in range(14):
        want = torch.tensor([h.lr_at(step) for h in opt.hypers], dtype=torch.float64).to(stacked.flat.dtype)
        assert torch.equal(opt._lr_at(step)[:, 0], want)
    stacked.keep_members([1])
    opt.keep_members([1])
    assert opt.lr_table.shape == (7, 1)
    assert torch.equal(opt._lr_at(4)[:, 0], torch.tensor([hypers[1].lr_at(4)]).to(stacked.flat.dtype))


def test_captured_step_equals_step() -> None:
    """The device-counted update (what a CUDA graph replays) is the host-counted one, step by step
    through warm-up and decay."""
    hypers = [hyper(), hyper(lr=1e-2, decay_all=True, grad_clip=None)]
    models = [stack_models([build_model(CFG, V, seed=i) for i in range(2)]) for _ in range(2)]
    host, device = MemberAdamW(models[0], hypers), MemberAdamW(models[1], hypers)
    count = torch.zeros(1, dtype=torch.long)
    for step in range(6):
        ids = torch.randint(0, V, (4, 7), generator=torch.Generator().manual_seed(100 + step))
        for stacked in models:
            stacked.zero_grad_()
            stacked(ids.repeat(2, 1)).logsumexp(-1).view(2, -1).mean(1).sum().backward()
        host.step()
        count.fill_(device.steps)
        device.captured_step(count)
        device.steps += 1
        torch.testing.assert_close(models[1].flat, models[0].flat, rtol=1e-6, atol=1e-7)
    # the gradients come from weights equal to rtol 1e-6, so their squares agree to about twice that
    # (one element at 1.4e-6 relative on one CPU, torch 2.13): 1e-5 bounds the rounding, not a bug
    torch.testing.assert_close(device.exp_avg_sq, host.exp_avg_sq, rtol=1e-5, atol=1e-12)
