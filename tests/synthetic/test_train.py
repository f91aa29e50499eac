"""Training: a real (small) SD learning test, reproducibility, schedule, records, failures."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from synthetic.config import RunConfig, TrainConfig
from synthetic.model import ModelConfig, build_model
from synthetic.tasks import DataConfig
from synthetic.train import run_record, train

torch.set_num_threads(1)


def sd_data(vocab: int = 16, n_train: int = 1000, seed: int = 0, passes: int = 1) -> DataConfig:
    """SD with sets (2, 6) and (6, 2): every example is `1 A 2 B 3`, answer = the shared token."""
    sizes = [(2, 6), (6, 2)]
    return DataConfig(
        task="sd",
        vocab_size=vocab,
        seed=seed,
        passes=passes,
        train_segments=[{"size_a": a, "size_b": b, "num_examples": n_train} for a, b in sizes],
        test_segments=[{"size_a": a, "size_b": b, "num_examples": 200} for a, b in sizes],
    )


def figure2_model(d_model: int, f: int, mixer: str = "based", causal: bool = True) -> ModelConfig:
    spec: dict = {"kind": mixer, "feature_dim": f, "num_heads": 2}
    if mixer == "based":
        spec["causal"] = causal
    return ModelConfig(d_model=d_model, n_layers=4, pattern=["base_conv", spec])


def test_quick_sd_reaches_95_percent_with_a_large_enough_state() -> None:
    """A real learning test: 4-layer BaseConv/Based (d_model 32, f 4) on SD with |A|, |B| in {2, 6}
    over 12 set tokens. Bounded by the problem size (at most 12 epochs of 2,000 examples), not a timer."""
    cfg = RunConfig(
        data=sd_data(),
        model=figure2_model(32, 4),
        train=TrainConfig(epochs=12, batch_size=64, lr=1e-2, early_stop_accuracy=0.98, device="cpu"),
    )
    rec = run_record(cfg)
    assert rec["status"] == "ok", rec.get("error")
    assert rec["accuracy"] >= 0.95, rec["history"]
    assert min(rec["slice_accuracy"].values()) >= 0.9
    # the chance level of guessing among the first set is 1/2 or 1/6: it learned the task
    assert rec["history"][0]["accuracy"] < rec["accuracy"]


def small_cfg(**train: Any) -> RunConfig:
    return RunConfig(
        data=sd_data(n_train=128),
        model=figure2_model(8, 2),
        train=TrainConfig(**{"epochs": 2, "batch_size": 32, "lr": 3e-3, "device": "cpu", **train}),
    )


def test_same_config_and_seed_give_the_same_metrics() -> None:
    a, b = train(small_cfg()), train(small_cfg())
    for key in ("accuracy", "slice_accuracy", "train_loss", "test_loss", "history", "steps"):
        assert a[key] == b[key], key
    c = train(small_cfg().model_copy(update={"seed": 1}))
    assert c["train_loss"] != a["train_loss"]


def test_record_contents() -> None:
    cfg = small_cfg(eval_every_steps=3)
    rec = run_record(cfg)
    assert rec["status"] == "ok" and rec["error"] is None
    assert rec["config_hash"] == cfg.config_hash() and len(rec["config_hash"]) == 16
    assert RunConfig.model_validate(rec["config"]) == cfg
    assert rec["summary"]["variant"] == "default" and rec["summary"]["feature_dim"] == 2
    model = build_model(cfg.model, 16)
    t_max = 6 + 2 + 3  # longest test sequence: |A| + |B| + 3
    assert rec["num_parameters"] == model.num_parameters()
    assert rec["state_values"] == model.state_size(t_max)
    assert rec["state_bytes"] == 4 * rec["state_values"]
    assert rec["paper_state_bytes"] == model.state_size_bytes(convention="paper")
    assert rec["device"].startswith("cpu") and rec["precision"] == "fp32"
    assert rec["steps"] == 2 * 8  # 2 epochs x (2 segments x 128 / 32)
    assert [h["step"] for h in rec["history"]] == [3, 6, 9, 12, 15, 16]
    tokens_per_s = rec["tokens_per_s"]
    assert tokens_per_s is not None and tokens_per_s > 0 and rec["wall_time_s"] >= rec["train_time_s"] > 0
    assert rec["slice_counts"] == {
        "A=2,B=6": [rec["slice_counts"]["A=2,B=6"][0], 200],
        "A=6,B=2": [rec["slice_counts"]["A=6,B=2"][0], 200],
    }
    assert rec["package_version"] and rec["torch_version"] == torch.__version__


def test_prefix_model_and_jr2_data_train() -> None:
    cfg = RunConfig(
        data=sd_data(n_train=64, passes=2),
        model=figure2_model(8, 2, mixer="prefix_linear_attention"),
        train=TrainConfig(epochs=1, batch_size=32, device="cpu", precision="bf16"),
    )
    rec = run_record(cfg)
    assert rec["status"] == "ok", rec.get("error")
    assert rec["precision"] == "bf16" and 0.0 <= rec["accuracy"] <= 1.0


def test_failures_are_records_not_exceptions() -> None:
    bad_device = small_cfg(device="cuda:7")
    if torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    rec = run_record(bad_device)  # the environment failed: an error, not a result
    assert rec["status"] == "error" and "cuda:7" in str(rec.get("error")) and "traceback" in rec
    nan = run_record(small_cfg(lr=1e5, grad_clip=None, weight_decay=0.0))
    assert nan["status"] == "failed" and "NonFiniteLossError" in str(nan.get("error"))  # diverged: a result


def test_train_config_errors() -> None:
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)
    for strict in ({"epochs": True}, {"epochs": "3"}, {"lr": "0.01"}, {"batch_size": 2.0}):
        with pytest.raises(ValueError, match=next(iter(strict))):
            TrainConfig(**strict)
    with pytest.raises(ValueError, match=r"min_lr_ratio\n.*finite number"):
        TrainConfig(min_lr_ratio=float("nan"))
    with pytest.raises(ValueError, match=r"optimizer='reference' fixes grad_clip=None; got grad_clip=1.0"):
        TrainConfig(optimizer="reference", grad_clip=1.0)
    ref = TrainConfig(optimizer="reference")
    assert (ref.betas, ref.grad_clip, ref.warmup_fraction, ref.decay_all) == ((0.9, 0.999), None, 0.0, True)
    assert TrainConfig.model_validate_json(ref.model_dump_json()) == ref
    with pytest.raises(ValueError, match="d_model"):
        ModelConfig(d_model="64", pattern=["based"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_layers"):
        ModelConfig(n_layers=True, pattern=["based"])
    with pytest.raises(ValueError, match="init"):
        ModelConfig(init="xavier", pattern=["based"])  # type: ignore[arg-type]
    huge = sd_data().model_copy(update={"vocab_size": 2**24})
    with pytest.raises(ValueError, match=r"vocab_size=16777216 x d_model=128 .* the limit is 1,073,741,824"):
        RunConfig(data=huge, model=figure2_model(128, 2))
    with pytest.raises(ValueError, match="device"):
        TrainConfig(device="tpu")
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=float("nan"))
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig(learning_rate=1e-3)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "status, expected", [("", "abc1234"), (" M synthetic/train.py", "abc1234-dirty"), (None, "abc1234-dirty")]
)
def test_source_commit_marks_a_changed_checkout(
    monkeypatch: pytest.MonkeyPatch, status: str | None, expected: str
) -> None:
    """Records name the commit, and say ``-dirty`` when tracked files differ from it (or when
    that cannot be checked); READTWICE_COMMIT overrides both."""
    import subprocess

    import synthetic.record as record_module

    def fake_run(args: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        if args[1] == "rev-parse":
            assert args == ["git", "rev-parse", "HEAD"]  # the full sha, not --short
            return subprocess.CompletedProcess(args, 0, "abc1234\n", "")
        return subprocess.CompletedProcess(args, 1 if status is None else 0, status or "", "")

    monkeypatch.delenv("READTWICE_COMMIT", raising=False)
    monkeypatch.setattr(record_module.subprocess, "run", fake_run)
    record_module.source_commit.cache_clear()
    try:
        assert record_module.source_commit() == expected
        monkeypatch.setenv("READTWICE_COMMIT", "forced")
        record_module.source_commit.cache_clear()
        assert record_module.source_commit() == "forced"
    finally:
        record_module.source_commit.cache_clear()
