"""Ensembles (synthetic.ensemble): K runs trained together equal K runs trained alone."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from synthetic.config import RunConfig
from synthetic.ensemble import NonFiniteLossError, Outcome, ensemble_key, train_ensemble
from synthetic.record import metrics_of
from synthetic.train import ensemble_records, run_records

torch.set_num_threads(1)

MIXERS: dict[str, Any] = {
    "attention": {"kind": "attention", "num_heads": 2},
    "sliding_window": {"kind": "sliding_window", "num_heads": 2, "window": 4},
    "based": {"kind": "based", "feature_dim": 2, "num_heads": 2},
    "based_noncausal": {"kind": "based", "feature_dim": 2, "num_heads": 2, "causal": False},
    "prefix_linear_attention": {"kind": "prefix_linear_attention", "feature_dim": 2, "num_heads": 2},
    "ssm": {"kind": "ssm", "d_state": 2},
}


def cfg(
    mixer: str = "based", seed: int = 0, *, init: str = "reference", passes: int = 1, **train: Any
) -> RunConfig:
    sizes = [(2, 6), (6, 2)]
    data = {
        "task": "sd",
        "vocab_size": 16,
        "seed": seed,
        "passes": passes,
        "train_segments": [{"size_a": a, "size_b": b, "num_examples": 40} for a, b in sizes],
        "test_segments": [{"size_a": a, "size_b": b, "num_examples": 24} for a, b in sizes],
    }
    model = {"d_model": 8, "n_layers": 2, "pattern": ["base_conv", MIXERS[mixer]], "init": init}
    training = {"epochs": 2, "batch_size": 16, "lr": 3e-3, "device": "cpu", "eval_every_steps": 3, **train}
    return RunConfig.model_validate({"seed": seed, "data": data, "model": model, "train": training})


def in_order(outcomes: Iterable[Outcome]) -> list[Outcome]:
    """Outcomes (yielded as members finish) in the order of the configs."""
    return sorted(outcomes, key=lambda o: o.index)


def assert_same_run(together: Outcome, alone: Outcome) -> None:
    if alone.error is not None:
        assert type(together.error) is type(alone.error) and str(together.error) == str(alone.error)
        return
    assert together.metrics is not None and alone.metrics is not None
    a, b = metrics_of(together.metrics), metrics_of(alone.metrics)
    for key in ("steps", "epochs", "early_stopped", "slice_counts", "train_tokens", "num_parameters"):
        assert a.get(key) == b.get(key), key
    assert [h["step"] for h in a["history"]] == [h["step"] for h in b["history"]]
    for ha, hb in zip(a["history"], b["history"], strict=True):
        for key in ("train_loss", "test_loss", "accuracy"):
            assert ha.get(key) == pytest.approx(hb.get(key), rel=1e-5, abs=1e-6), key
    assert together.model is not None and alone.model is not None
    pa, pb = dict(together.model.named_parameters()), dict(alone.model.named_parameters())
    for name, p in pb.items():
        torch.testing.assert_close(pa[name].detach(), p.detach(), rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.parametrize("mixer", sorted(MIXERS))
def test_ensemble_equals_runs_alone(mixer: str) -> None:
    """Members with different seeds (data and init), learning rates, init schemes and optimiser
    presets; one stops early at its first evaluation, one diverges; each ends exactly as alone."""
    cfgs = [
        cfg(mixer, 0),
        cfg(mixer, 1, lr=1e-2, init="torch"),
        cfg(mixer, 2, lr=5e-3, optimizer="reference"),
        cfg(mixer, 3, early_stop_accuracy=0.01),  # stops at step 3
        cfg(mixer, 4, lr=1e5, grad_clip=None, weight_decay=0.0),  # diverges
    ]
    assert len({ensemble_key(c) for c in cfgs}) == 1
    together = in_order(train_ensemble(cfgs, keep_models=True))
    assert [o.index for o in together] == [0, 1, 2, 3, 4] and [o.cfg for o in together] == cfgs
    assert together[3].metrics is not None and together[3].metrics.early_stopped
    assert together[3].metrics.final.step == 3
    assert isinstance(together[4].error, NonFiniteLossError)
    for c, t in zip(cfgs, together, strict=True):
        (alone,) = train_ensemble([c], keep_models=True)
        assert_same_run(t, alone)
        if alone.metrics is not None:
            assert t.metrics is not None and t.metrics.ensemble_size == 5
            assert alone.metrics.ensemble_size == 1


def test_jr2_members_and_outcome_order() -> None:
    cfgs = [cfg("based", s, passes=2, lr=lr) for s, lr in ((0, 3e-3), (1, 1e-2))]
    outcomes = list(train_ensemble(cfgs))
    assert sorted(o.index for o in outcomes) == [0, 1] and all(o.metrics is not None for o in outcomes)


def test_outcomes_come_as_members_finish() -> None:
    """The generator yields a member's outcome at the step it finishes: a diverged member's (the
    first check, step 3) and an early stop's (the first evaluation) before the rest have trained."""
    cfgs = [
        cfg(seed=0),
        cfg(seed=1, lr=1e5, grad_clip=None, weight_decay=0.0),
        cfg(seed=2, early_stop_accuracy=0.01),
    ]
    outcomes = train_ensemble(cfgs)
    first, second = next(outcomes), next(outcomes)
    assert (first.index, second.index) == (1, 2)
    assert isinstance(first.error, NonFiniteLossError) and second.metrics is not None
    assert second.metrics.final.step == 3 and second.metrics.early_stopped
    (last,) = outcomes
    assert last.index == 0 and last.metrics is not None and not last.metrics.early_stopped


def test_runs_that_differ_in_shape_cannot_share_an_ensemble() -> None:
    base = cfg()
    others = [
        base.model_copy(update={"model": base.model.model_copy(update={"d_model": 4})}),
        base.model_copy(update={"data": base.data.model_copy(update={"passes": 2})}),
        base.model_copy(update={"train": base.train.model_copy(update={"batch_size": 8})}),
    ]
    for other in others:
        assert ensemble_key(other) != ensemble_key(base)
        with pytest.raises(ValueError, match="cannot share an ensemble"):
            train_ensemble([base, other])
    same = [
        base.model_copy(update={"seed": 5, "variant": "x", "data": base.data.model_copy(update={"seed": 5})}),
        base.model_copy(update={"model": base.model.model_copy(update={"init": "torch"})}),
        base.model_copy(update={"train": base.train.model_copy(update={"lr": 0.5, "weight_decay": 0.0})}),
    ]
    assert {ensemble_key(c) for c in same} == {ensemble_key(base)}


def test_records_of_an_ensemble() -> None:
    cfgs = [cfg(seed=0), cfg(seed=1, lr=1e5, grad_clip=None, weight_decay=0.0)]
    streamed = [r["config_hash"] for r in ensemble_records(cfgs)]  # as members finish
    assert streamed == [cfgs[1].config_hash(), cfgs[0].config_hash()]  # the diverged one first
    records = run_records(cfgs)
    assert [r["config_hash"] for r in records] == [c.config_hash() for c in cfgs]
    ok, diverged = records
    assert ok["status"] == "ok" and ok["ensemble_size"] == 2
    assert diverged["status"] == "failed" and str(diverged.get("error")).startswith("NonFiniteLossError")


def test_environment_errors_are_errors_not_results() -> None:
    if torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    records = run_records([cfg(seed=0, device="cuda:7"), cfg(seed=1, device="cuda:7")])
    assert [r["status"] for r in records] == ["error", "error"]
    assert all("cuda:7" in str(r.get("error")) and r.get("traceback") for r in records)


@settings(max_examples=40)
@given(
    st.integers(1, 4), st.integers(1, 4), st.integers(1, 6), st.floats(0.0, 1.0), st.integers(0, 2**31 - 1)
)  # fmt: skip
def test_label_positions_match_a_loop_over_members_and_rows(
    k: int, b: int, t: int, p: float, seed: int
) -> None:
    """LabelPositions.of (vectorised over members) against the definition written as loops: each
    member's labels in row-major order, padded; each row's labelled columns in order, padded
    with 0; slots point back from a label to its place in its row."""
    from synthetic.members import LabelPositions

    g = torch.Generator().manual_seed(seed)
    labels = []
    for _ in range(k):
        lab = torch.randint(0, 9, (b, t), generator=g)
        lab[torch.rand(b, t, generator=g) >= p] = -100
        labels.append(lab)
    got = LabelPositions.of(labels)
    found = [[(r, c) for r in range(b) for c in range(t) if lab[r, c] != -100] for lab in labels]
    n = max(1, max(len(f) for f in found))
    q = max(1, max(int((lab != -100).sum(1).max()) for lab in labels))
    assert got.rows.shape == (k, n) and got.query_cols.shape == (k * b, q)
    for i, (lab, f) in enumerate(zip(labels, found, strict=True)):
        for j in range(n):
            assert bool(got.valid[i, j]) == (j < len(f))
            if j < len(f):
                r, c = f[j]
                found_at = (int(got.rows[i, j]), int(got.cols[i, j]), int(got.targets[i, j]))
                assert found_at == (r, c, int(lab[r, c]))
                assert got.slots[i, j] == [cc for rr, cc in f if rr == r].index(c)
        for r in range(b):
            own = [c for rr, c in f if rr == r]
            assert got.query_cols[i * b + r].tolist() == own + [0] * (q - len(own))
    with pytest.raises(ValueError, match="share one shape"):
        LabelPositions.of([torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 4, dtype=torch.long)])
