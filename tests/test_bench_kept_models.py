"""bench/kept_models.py: which models read left to right, and the run filters of
each_kept_model (``causal_only``, ``select``), without training (the kept runs are stubbed)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bench.kept_models as kept_models  # noqa: E402
from bench.kept_models import each_kept_model, one_pass, reads_left_to_right  # noqa: E402
from synthetic.config import RunConfig  # noqa: E402
from synthetic.model import ModelConfig  # noqa: E402
from synthetic.sweep import expand, load_experiment  # noqa: E402
from synthetic.tasks import DataConfig  # noqa: E402


def _config(*pattern: Any, passes: int = 1, n_layers: int = 2) -> RunConfig:
    sizes = [(2, 6), (6, 2)]
    segments = [{"size_a": a, "size_b": b, "num_examples": 8} for a, b in sizes]
    data = DataConfig(
        task="sd", vocab_size=16, passes=passes, train_segments=segments, test_segments=segments
    )
    return RunConfig(data=data, model=ModelConfig(d_model=8, n_layers=n_layers, pattern=list(pattern)))


BASED = {"kind": "based", "feature_dim": 2, "num_heads": 2}


def test_causal_based_reads_left_to_right() -> None:
    assert reads_left_to_right(_config("base_conv", {**BASED, "causal": True}))
    assert reads_left_to_right(_config("base_conv", BASED))  # causal is Based's default
    assert reads_left_to_right(_config("base_conv", {**BASED, "causal": True}, passes=2))  # JRT-Prompt
    assert reads_left_to_right(_config("base_conv"))


def test_non_causal_based_and_prefix_linear_attention_do_not() -> None:
    assert not reads_left_to_right(_config("base_conv", {**BASED, "causal": False}))
    assert not reads_left_to_right(_config("base_conv", {**BASED, "kind": "prefix_linear_attention"}))
    # one such layer anywhere in the pattern is enough
    assert not reads_left_to_right(
        _config({**BASED, "causal": True}, "base_conv", {**BASED, "causal": False}, n_layers=3)
    )


def test_the_sd_order_variants() -> None:
    """Over the paper profile's runs: causal Based and JRT-Prompt read left to right, non-causal
    Based and JRT-RNN do not."""
    configs = expand(load_experiment("sd_order"), "paper")
    by_variant: dict[str, set[bool]] = {c.variant: set() for c in configs}
    for c in configs:
        by_variant[c.variant].add(reads_left_to_right(c))
    assert by_variant == {
        "Based (causal)": {True},
        "Based (non-causal)": {False},
        "JRT-Prompt": {True},
        "JRT-RNN": {False},
    }


def test_one_pass() -> None:
    """The one-pass analyses' filter: passes = 1 only (JRT-Prompt reads twice)."""
    assert one_pass(_config("base_conv", BASED)) and not one_pass(_config("base_conv", BASED, passes=2))


def test_each_kept_model_filters_by_causal_only_and_select(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The smoke profile's four runs, stubbed as kept: ``causal_only`` keeps the left-to-right ones,
    ``select`` those it accepts, both together their intersection; the CSV holds what is returned."""
    configs = expand(load_experiment("sd_order"), "smoke")
    runs = [(f"{i:016x}", {"config_hash": f"{i:016x}"}, cfg) for i, cfg in enumerate(configs)]
    monkeypatch.setattr(kept_models, "kept_runs", lambda path: iter(runs))
    monkeypatch.setattr(kept_models, "run_mechanisms", lambda path: {run: "checks" for run, _, _ in runs})
    monkeypatch.setattr(kept_models, "load_model", lambda rec, results, device: rec["config_hash"])
    monkeypatch.setattr(kept_models, "load_splits", lambda data: (None, data))

    def analyse(model: Any, cfg: RunConfig, test: Any) -> pd.DataFrame:
        assert test is cfg.data and model in {run for run, _, _ in runs}  # the stubs' own
        return pd.DataFrame({"passes": [cfg.data.passes]})

    def variants(**kw: Any) -> list[str]:
        out = tmp_path / "rows.csv"
        rows = each_kept_model(tmp_path, tmp_path, analyse, out, **kw)
        if rows.empty:
            return []
        assert pd.read_csv(out, dtype={"config_hash": str}).equals(rows)
        return list(rows["variant"])

    assert variants() == ["Based (causal)", "Based (non-causal)", "JRT-Prompt", "JRT-RNN"]
    assert variants(causal_only=True) == ["Based (causal)", "JRT-Prompt"]
    twice = lambda cfg: cfg.data.passes == 2  # noqa: E731  (bench/pass_copies.py's choice)
    assert variants(select=twice) == ["JRT-Prompt"]
    capsys.readouterr()
    assert variants(causal_only=True, select=one_pass) == ["Based (causal)"]
    assert "3 kept model(s) left out" in capsys.readouterr().out  # said, not silent
    assert variants(select=lambda cfg: False) == []
