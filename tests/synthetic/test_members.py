"""Stacked members (synthetic.members): K models as one give each model's outputs and gradients."""

from __future__ import annotations

from typing import Any, Literal

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from synthetic import members as members_module
from synthetic.kernels import use_impl
from synthetic.members import (
    LabelPositions,
    StackedLanguageModel,
    member_matmul,
    stack_models,
    wgrad_groups,
)
from synthetic.model import LanguageModel, ModelConfig, build_model

torch.set_num_threads(1)

V, D, T, B = 13, 8, 11, 3
Norm = Literal["layernorm", "rmsnorm"]

MIXERS: dict[str, Any] = {
    "attention": {"kind": "attention", "num_heads": 2},
    "sliding_window": {"kind": "sliding_window", "num_heads": 2, "window": 4},
    "based": {"kind": "based", "feature_dim": 3, "num_heads": 2},
    "based_noncausal": {"kind": "based", "feature_dim": 3, "num_heads": 2, "causal": False},
    "prefix_linear_attention": {"kind": "prefix_linear_attention", "feature_dim": 3, "num_heads": 2},
    "ssm": {"kind": "ssm", "d_state": 4},
}


def models(mixer: str, k: int, *, mlp: bool = False, norm: Norm = "layernorm") -> list[LanguageModel]:
    """K models of one architecture with different seeds and, alternating, both init schemes."""
    cfg = ModelConfig(d_model=D, n_layers=2, pattern=["base_conv", MIXERS[mixer]], mlp=mlp, norm=norm)
    inits = ("reference", "torch")
    return [build_model(cfg.model_copy(update={"init": inits[i % 2]}), V, seed=10 + i) for i in range(k)]


def inputs(k: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, V, (k * B, T), generator=g)
    prefix = torch.randint(0, T + 1, (k * B,), generator=g)
    return ids, prefix


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).detach().norm() / b.detach().norm().clamp(min=1e-30))


def grad(p: torch.Tensor) -> torch.Tensor:
    assert p.grad is not None
    return p.grad


def labels_at(positions: list[tuple[int, int]]) -> torch.Tensor:
    """A member's labels [B, T]: token 1 at ``positions`` (row, column), -100 elsewhere."""
    lab = torch.full((B, T), -100, dtype=torch.long)
    for r, c in positions:
        lab[r, c] = 1
    return lab


def full_logits_at(
    stacked: StackedLanguageModel, ids: torch.Tensor, prefix: torch.Tensor, where: LabelPositions
) -> torch.Tensor:
    """The full forward's logits [K*B, T, V], picked at the labelled positions: [K, N, V]."""
    k = stacked.num_members
    full = stacked(ids, prefix).view(k, B, T, -1)
    return full[torch.arange(k, device=ids.device)[:, None], where.rows, where.cols]


@pytest.mark.parametrize("mlp, norm", [(False, "layernorm"), (True, "rmsnorm")])
@pytest.mark.parametrize("mixer", sorted(MIXERS))
def test_stacked_outputs_and_gradients_equal_each_model(mixer: str, mlp: bool, norm: Norm) -> None:
    k = 3
    singles = models(mixer, k, mlp=mlp, norm=norm)
    stacked = stack_models(singles)
    ids, prefix = inputs(k)
    weights = torch.randn(k * B, T, V, generator=torch.Generator().manual_seed(1))
    out = stacked(ids, prefix)
    (out * weights).sum().backward()
    for i, single in enumerate(singles):
        rows = slice(i * B, (i + 1) * B)
        ref = single(ids[rows], prefix[rows])
        assert rel(out[rows], ref) < 1e-5
        (ref * weights[rows]).sum().backward()
        grads = dict(stacked.named_parameters())
        for name, p in single.named_parameters():
            assert p.grad is not None, name
            assert rel(grad(grads[name])[i], p.grad) < 1e-4, name


def test_members_round_trip_and_keep_members() -> None:
    singles = models("based", 4)
    stacked = stack_models(singles)
    assert stacked.num_members == 4 and stacked.flat.shape[0] == 4
    for i, single in enumerate(singles):
        got = stacked.member(i).state_dict()
        for name, value in single.state_dict().items():
            assert torch.equal(got[name], value), name
        assert stacked.member(i).cfg.init == single.cfg.init
    stacked.keep_members([3, 1])
    assert stacked.num_members == 2
    for pos, i in enumerate([3, 1]):
        for name, value in singles[i].state_dict().items():
            assert torch.equal(stacked.member(pos).state_dict()[name], value), name
    # every parameter is still a view of the flat buffer
    with torch.no_grad():
        stacked.flat.zero_()
    assert all(float(p.detach().abs().sum()) == 0 for p in stacked.parameters())


def test_parameters_are_views_of_the_flat_buffer() -> None:
    stacked = stack_models(models("ssm", 2, mlp=True))
    total = sum(p[0].numel() for p in stacked.parameters())
    assert stacked.flat.shape == (2, total)
    with torch.no_grad():
        stacked.flat.add_(1.0)
    for name, p in stacked.named_parameters():
        offset, n = stacked.offsets[name]
        assert torch.equal(p.reshape(2, n), stacked.flat[:, offset : offset + n]), name


def test_labelled_logits_equal_the_full_logits_there() -> None:
    k = 2
    stacked = stack_models(models("prefix_linear_attention", k))
    ids, prefix = inputs(k)
    where = LabelPositions.of(
        [labels_at([(0, T - 1), (2, 3), (1, 0)]), labels_at([(1, 5), (1, T - 1), (0, 2)])]
    )
    assert bool(where.valid.all())
    picked = stacked.labelled_logits(ids, prefix, where)
    assert rel(picked, full_logits_at(stacked, ids, prefix, where)) < 1e-6


@pytest.mark.parametrize("mlp", [False, True])
@pytest.mark.parametrize("mixer", sorted(MIXERS))
def test_last_block_at_the_labelled_positions_only(mixer: str, mlp: bool) -> None:
    """With LabelPositions' per-row query columns the last block reads only the labelled
    positions (several per row, rows without labels, members with different counts): logits
    and every parameter's gradient equal those of the full forward, picked there (fp64)."""
    k = 3
    g = torch.Generator().manual_seed(7)
    ids, prefix = inputs(k)
    labels = []
    for i in range(k):
        lab = torch.full((B, T), -100, dtype=torch.long)
        keep = torch.rand(B, T, generator=g) < (0.3, 0.1, 0.0)[i]
        keep[0, T - 1] = i < 2  # member 2 has no label at all
        lab[keep] = torch.randint(0, V, (int(keep.sum()),), generator=g)
        labels.append(lab)
    where = LabelPositions.of(labels)
    for n, (r, c) in enumerate(zip(where.rows.tolist()[0], where.cols.tolist()[0], strict=True)):
        if where.valid[0, n]:
            assert where.query_cols[r, where.slots[0, n]] == c
    results = []
    for pruned in (True, False):
        stacked = stack_models([m.double() for m in models(mixer, k, mlp=mlp)])
        if pruned:
            logits = stacked.labelled_logits(ids, prefix, where)
        else:
            logits = full_logits_at(stacked, ids, prefix, where)
        (logits * where.valid[..., None]).pow(2).sum().backward()
        results.append([logits[where.valid], *(grad(p) for p in stacked.parameters())])  # padding aside
    for got, want in zip(*results, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-11)


def test_stacking_refuses_different_shapes_and_bad_batches() -> None:
    a = models("based", 1)[0]
    other = build_model(ModelConfig(d_model=D, n_layers=3, pattern=["base_conv", MIXERS["based"]]), V)
    with pytest.raises(ValueError, match="differs in shape"):
        stack_models([a, other])
    with pytest.raises(ValueError, match="at least one"):
        stack_models([])
    stacked = stack_models(models("based", 2))
    with pytest.raises(ValueError, match="not divisible among 2 members"):
        stacked(torch.zeros(3, T, dtype=torch.long))


@pytest.mark.parametrize("mixer", ["based", "based_noncausal", "prefix_linear_attention"])
def test_triton_kernels_see_members_folded_into_the_batch(mixer: str) -> None:
    """The Triton kernels (interpreter on CPU, compiled on a GPU) give the stacked model the same
    outputs and gradients as a loop over its members."""
    pytest.importorskip("triton")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    k = 2
    singles = [m.to(device) for m in models(mixer, k)]
    stacked = stack_models(singles).move_to(device)
    ids, prefix = (t.to(device) for t in inputs(k, seed=3))
    with use_impl("triton"):
        out = stacked(ids, prefix)
        out.square().sum().backward()
        for i, single in enumerate(singles):
            rows = slice(i * B, (i + 1) * B)
            ref = single(ids[rows], prefix[rows])
            ref.square().sum().backward()
            assert rel(out[rows], ref) < 1e-4
            grads = dict(stacked.named_parameters())
            for name, p in single.named_parameters():
                assert rel(grad(grads[name])[i], grad(p)) < 1e-3, name


@pytest.mark.gpu
@pytest.mark.parametrize("mixer", ["based", "based_noncausal", "prefix_linear_attention"])
def test_triton_members_folded_in_bf16_on_the_gpu(mixer: str) -> None:
    """On a GPU, compiled Triton kernels under bf16 autocast (how ensembles train there): the
    stacked model's outputs and gradients equal a loop over its members to bf16 accuracy."""
    k = 3
    singles = [m.cuda() for m in models(mixer, k)]
    stacked = stack_models(singles).move_to("cuda")
    ids, prefix = (t.cuda() for t in inputs(k, seed=5))
    with use_impl("triton"), torch.autocast("cuda", dtype=torch.bfloat16):
        out = stacked(ids, prefix).float()
        out.square().mean().mul(k).backward()
        for i, single in enumerate(singles):
            rows = slice(i * B, (i + 1) * B)
            ref = single(ids[rows], prefix[rows]).float()
            ref.square().mean().backward()
            assert rel(out[rows], ref) < 2e-2
            grads = dict(stacked.named_parameters())
            for name, p in single.named_parameters():
                got, want = grads[name].grad, p.grad
                assert got is not None and want is not None, name
                assert rel(got[i].float(), want.float()) < 5e-2, name


@pytest.mark.gpu
@pytest.mark.parametrize("mixer", ["based", "based_noncausal", "prefix_linear_attention"])
def test_last_block_at_labelled_positions_in_bf16_on_the_gpu(mixer: str) -> None:
    """On a GPU under bf16 autocast (Triton layers, the last block's Q-query read in fp32): the
    labelled logits and gradients with per-row query columns equal the full forward's there."""
    k = 3
    labels = []
    for i in range(k):
        lab = torch.full((B, T), -100, dtype=torch.long)
        lab[:, T - 1 - i] = i
        labels.append(lab)
    where = LabelPositions.of(labels).to(torch.device("cuda"))
    ids, prefix = (t.cuda() for t in inputs(k, seed=5))
    results = []
    for pruned in (True, False):
        stacked = stack_models([m.cuda() for m in models(mixer, k)]).move_to("cuda")
        with use_impl("triton"), torch.autocast("cuda", dtype=torch.bfloat16):
            if pruned:
                logits = stacked.labelled_logits(ids, prefix, where).float()
            else:
                logits = full_logits_at(stacked, ids, prefix, where).float()
        logits.square().mean().backward()
        results.append([logits, *(grad(p).float() for p in stacked.parameters())])
    for got, want in zip(*results, strict=True):
        assert rel(got, want) < 5e-2


@pytest.mark.parametrize("env", ["READTWICE_PAD_GEMM", "READTWICE_SPLIT_WGRAD"])
@pytest.mark.parametrize("mixer", ["based", "prefix_linear_attention"])
@pytest.mark.parametrize("width", [D, 6, 10])
def test_padded_or_split_matmuls_give_the_same_outputs_and_gradients(
    env: str, mixer: str, width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """READTWICE_PAD_GEMM=1 pads MemberLinear's widths to multiples of 8 with zeros (d_model 6 and
    10 pad, 8 does not); READTWICE_SPLIT_WGRAD=1 cuts each member's rows into groups whose weight
    gradients are summed. Either way: the same logits and parameter gradients as without (fp32 on
    the CPU)."""
    cfg = ModelConfig(d_model=width, n_layers=2, pattern=["base_conv", MIXERS[mixer]], mlp=True)
    stacked = stack_models([build_model(cfg, V, seed=20 + i) for i in range(2)])
    gen = torch.Generator().manual_seed(3)
    t = 12  # B * t = 36 rows a member: 4 groups
    ids = torch.randint(0, V, (2 * B, t), generator=gen)
    prefix = torch.randint(0, t + 1, (2 * B,), generator=gen)
    weights = torch.randn(2 * B, t, V, generator=gen)
    calls: list[tuple[bool, int]] = []

    def recorded(*args: Any, **kwargs: Any) -> torch.Tensor:
        calls.append((kwargs["pad"], kwargs["groups"]))
        return real(*args, **kwargs)

    real = members_module.member_matmul
    monkeypatch.setattr(members_module, "member_matmul", recorded)
    results = {}
    for flag in ("0", "1"):
        monkeypatch.setenv(env, flag)
        calls.clear()
        stacked.zero_grad()
        out = stacked(ids, prefix)
        (out * weights).sum().backward()
        results[flag] = (out.detach(), {n: grad(p).clone() for n, p in stacked.named_parameters()})
        pads, groups = {c[0] for c in calls}, {c[1] for c in calls}
        if env == "READTWICE_SPLIT_WGRAD":
            assert pads == {False} and (groups == {1} if flag == "0" else 4 in groups)
        else:
            assert groups == {1} and pads == {flag == "1"}
    assert rel(results["1"][0], results["0"][0]) < 1e-6
    for name, g in results["0"][1].items():
        assert rel(results["1"][1][name], g) < 1e-5, name
    monkeypatch.setenv(env, "yes")
    allowed = "auto, 0, 1" if env == "READTWICE_SPLIT_WGRAD" else "0, 1"
    with pytest.raises(ValueError, match=rf"{env}='yes'; allowed: {allowed}"):
        stacked(ids, prefix)


@pytest.mark.parametrize(
    ("rows", "inp", "out", "device", "splits"),
    [
        # the shapes timed on an H100 (figures/data/member_linear_split_wgrad_h100.csv)
        (35200, 36, 8, "cuda", True),  # 1.97x
        (35200, 36, 36, "cuda", True),  # 1.25-1.28x
        (17536, 36, 8, "cuda", False),  # 0.88x
        (17536, 36, 36, "cuda", False),  # 0.84-0.90x
        (35200, 128, 48, "cuda", False),  # 0.83x
        (35200, 128, 128, "cuda", False),  # 0.84-0.90x
        (17536, 128, 128, "cuda", False),  # 0.53-0.71x
        (35200, 36, 36, "cpu", False),  # never on the CPU
        (32768, 64, 64, "cuda", True),  # the rule's edges
        (32767, 64, 64, "cuda", False),
        (32768, 65, 8, "cuda", False),
        (32768, 8, 65, "cuda", False),
    ],
)
def test_auto_splits_the_weight_gradient_where_it_measured_faster(
    rows: int, inp: int, out: int, device: str, splits: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """READTWICE_SPLIT_WGRAD unset means ``auto``: split on CUDA at >= 32,768 rows a member with
    both widths <= 64; ``1`` and ``0`` split always and never, whatever the shape."""
    monkeypatch.delenv("READTWICE_SPLIT_WGRAD", raising=False)
    where = torch.device(device)
    assert members_module.split_wgrad_mode() == "auto"
    assert members_module.split_wgrad(rows, inp, out, where) is splits
    for flag, want in (("1", True), ("0", False)):
        monkeypatch.setenv("READTWICE_SPLIT_WGRAD", flag)
        assert members_module.split_wgrad(rows, inp, out, where) is want


def test_auto_does_not_split_on_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CPU ensemble trains with one matmul a member under ``auto`` even at 32,768 rows a member
    (the CPU's results do not change with the GPU's default)."""
    monkeypatch.delenv("READTWICE_SPLIT_WGRAD", raising=False)
    layer = members_module.MemberLinear(torch.randn(2, 4, 8), None)
    calls: list[int] = []
    real = members_module.member_matmul

    def recorded(*args: Any, **kwargs: Any) -> torch.Tensor:
        calls.append(kwargs["groups"])
        return real(*args, **kwargs)

    monkeypatch.setattr(members_module, "member_matmul", recorded)
    layer(torch.randn(2 * 32768, 8)).sum().backward()
    assert calls == [1]


@settings(max_examples=30, deadline=None)
@given(
    k=st.integers(1, 3),
    rows_per_group=st.integers(1, 7),
    groups=st.sampled_from([1, 2, 4, 8]),
    inp=st.integers(1, 12),
    out=st.integers(1, 12),
    bias=st.booleans(),
    pad=st.booleans(),
    seed=st.integers(0, 99),
)
def test_member_matmul_split_and_padded_equal_one_matmul(
    k: int, rows_per_group: int, groups: int, inp: int, out: int, bias: bool, pad: bool, seed: int
) -> None:
    """member_matmul with rows cut into groups and / or padded widths: y and the gradients of x,
    weight and bias equal one batched matmul's (fp64)."""
    g = torch.Generator().manual_seed(seed)
    rows = rows_per_group * groups
    x = torch.randn(k, rows, inp, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(k, out, inp, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(k, out, generator=g, dtype=torch.float64, requires_grad=True) if bias else None
    dy = torch.randn(k, rows, out, generator=g, dtype=torch.float64)
    leaves = [x, w] + ([b] if b is not None else [])
    got = member_matmul(x, w, b, pad=pad, groups=groups)
    want = member_matmul(x, w, b)
    assert got.shape == want.shape == (k, rows, out)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    for a, c in zip(torch.autograd.grad(got, leaves, dy), torch.autograd.grad(want, leaves, dy), strict=True):
        torch.testing.assert_close(a, c, rtol=1e-12, atol=1e-12)


def test_wgrad_groups_and_bad_groups() -> None:
    """The most power-of-two groups (at most 16) that cut the rows evenly, for every count of rows
    up to 256; member_matmul refuses groups that do not divide the rows."""
    for rows in range(1, 257):
        groups = wgrad_groups(rows)
        assert groups in (1, 2, 4, 8, 16) and rows % groups == 0
        assert groups == 16 or rows % (2 * groups) != 0
    assert wgrad_groups(128 * 137) == 16 and wgrad_groups(35200, limit=4) == 4
    x, w = torch.zeros(2, 6, 3), torch.zeros(2, 4, 3)
    with pytest.raises(ValueError, match="groups must be >= 1 and divide the 6 rows a member; got 4"):
        member_matmul(x, w, None, groups=4)
    with pytest.raises(ValueError, match="got 0"):
        member_matmul(x, w, None, groups=0)


@pytest.mark.gpu
@pytest.mark.parametrize(
    ("k", "rows", "inp", "out"), [(8, 35200, 36, 36), (8, 17536, 36, 8), (4, 4096, 128, 128)]
)
@pytest.mark.parametrize("bias", [False, True])
def test_split_weight_gradient_in_bf16_on_the_gpu(k: int, rows: int, inp: int, out: int, bias: bool) -> None:
    """member_matmul under bf16 autocast on a GPU at the paper's d_model 36 shapes and a wide one:
    rows split into 16 groups give the outputs and gradients of one matmul to bf16 accuracy."""
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(k, rows, inp, generator=gen).cuda().requires_grad_()
    w = (torch.randn(k, out, inp, generator=gen) / inp**0.5).cuda().requires_grad_()
    b = torch.randn(k, out, generator=gen).cuda().requires_grad_() if bias else None
    dy = torch.randn(k, rows, out, generator=gen).cuda().bfloat16()
    leaves = [x, w] + ([b] if b is not None else [])
    results = []
    for groups in (1, wgrad_groups(rows)):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            y = member_matmul(x, w, b, groups=groups)
        assert y.dtype == torch.bfloat16
        results.append([y.float(), *torch.autograd.grad(y, leaves, dy)])
    for got, want in zip(*results, strict=True):
        assert got.dtype == want.dtype
        assert rel(got.float(), want.float()) < 2e-2
