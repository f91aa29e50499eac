"""Training: a real (small) SD learning test, reproducibility, schedule, records, failures."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from synthetic.config import RunConfig, TrainConfig
from synthetic.model import ModelConfig, build_model
from synthetic.tasks import DataConfig
from synthetic.train import lr_factor, param_groups, run_record, train

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


def small_cfg(**train: object) -> RunConfig:
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
    assert rec["tokens_per_s"] > 0 and rec["wall_time_s"] >= rec["train_time_s"] > 0
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
    rec = run_record(bad_device)
    assert rec["status"] == "failed" and "cuda:7" in rec["error"] and "traceback" in rec
    nan = run_record(small_cfg(lr=1e30, grad_clip=None, weight_decay=0.0))
    if nan["status"] == "failed":  # lr 1e30 overflows to inf/NaN on every CPU we know of
        assert "NonFiniteLossError" in nan["error"]


@given(
    total=st.integers(1, 500),
    frac=st.floats(0.0, 0.5),
    min_ratio=st.floats(0.0, 1.0),
)
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


def test_param_groups_exclude_norms_biases_embedding() -> None:
    model = build_model(ModelConfig(d_model=8, n_layers=2, pattern=["base_conv", "based"], mlp=True), 10)
    decay, no_decay = param_groups(model, 0.1, decay_all=False)
    names = {id(p): n for n, p in model.named_parameters()}
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() >= 2 and not names[id(p)].startswith("embedding") for p in decay["params"])
    no_decay_names = {names[id(p)] for p in no_decay["params"]}
    assert "embedding.weight" in no_decay_names and any("norm" in n for n in no_decay_names)
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))
    (everything,) = param_groups(model, 0.1, decay_all=True)
    assert len(everything["params"]) == len(list(model.parameters()))


def test_train_config_errors() -> None:
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="device"):
        TrainConfig(device="tpu")
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=float("nan"))
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig(learning_rate=1e-3)
