"""bench/train_throughput.py's estimate of the paper profile's cost from measured rates."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from bench import train_throughput as tt
from synthetic.config import RunConfig
from synthetic.sweep import expand, load_experiment


def test_paper_tokens_cover_every_run_once() -> None:
    tokens = tt.paper_tokens()
    assert len(tokens) == 4 * 20  # variants x (d_model x f)
    runs = expand(load_experiment("sd_order"), "paper")

    def run_tokens(r: RunConfig) -> int:
        return r.train.epochs * sum(s.num_examples * r.data.seq_len(s) for s in r.data.segments("train"))

    assert sum(tokens.values()) == sum(run_tokens(r) for r in runs)
    based = [r for r in runs if r.variant == "Based (causal)" and r.model.d_model == 36]
    assert tokens[("Based (causal)", 36, 4)] == sum(
        run_tokens(r) for r in based if r.summary()["feature_dim"] == 4
    )
    # JRT-Prompt reads the context twice: more tokens than causal Based at the same shape
    assert tokens[("JRT-Prompt", 36, 4)] > tokens[("Based (causal)", 36, 4)]


def test_cost_uses_the_fastest_mode_at_the_largest_measured_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    based = {"variant": "Based (causal)", "d_model": 36, "feature_dim": 4, "mode": "ensemble"}
    rows = pd.DataFrame(
        [
            {**based, "members": 8, "tokens_per_s": 1e7, "device": "NVIDIA H100 80GB HBM3"},
            {**based, "members": 8, "tokens_per_s": 2e7},
            {**based, "members": 4, "tokens_per_s": 5e7},
            {**based, "members": 32, "tokens_per_s": 9e7},
            {"variant": "JRT-RNN", "d_model": 128, "feature_dim": 24, "mode": "baseline", "members": 1,
             "tokens_per_s": 1e6},
        ]
    )  # fmt: skip
    cost = tt.paper_cost(rows).set_index(["variant", "d_model", "feature_dim"])
    tokens = tt.paper_tokens()[("Based (causal)", 36, 4)]
    row = cost.loc[("Based (causal)", 36, 4)]
    assert (row.members, row.tokens_per_s) == (8, 2e7)
    assert row.gpu_hours == pytest.approx(tokens / 2e7 / 3600)
    assert math.isnan(cost.loc[("JRT-RNN", 128, 24)].gpu_hours)  # a baseline row is not an ensemble rate
    # two processes of ensembles of 8 (the paper sweep's layout) count at K = 8, over both processes
    both = pd.DataFrame([{**based, "mode": "processes", "members": 8, "processes": 2, "tokens_per_s": 3e7}])
    faster = tt.paper_cost(pd.concat([rows, both])).set_index(["variant", "d_model", "feature_dim"])
    assert faster.loc[("Based (causal)", 36, 4)].tokens_per_s == 3e7
    text = tt.format_cost(cost.reset_index())
    assert "1 of 80 cells measured" in text and "not measured: 79 cells" in text
    path = tmp_path / "rates.csv"
    rows.to_csv(path, index=False)
    assert tt.main(["--estimate", str(path)]) == 0
    assert "GPU-minutes per 100B tokens" in capsys.readouterr().out


def test_processes_of_ensembles_on_the_cpu(tmp_path: Path) -> None:
    """--processes N --process-members K: N spawned processes, each an ensemble of K distinct runs;
    one row with members K, processes N and the tokens of all N x K runs."""
    args = ["--profile", "quick", "--device", "cpu", "--variants", "Based (causal)", "--members", "1",
            "--ensembles-only", "--processes", "2", "--process-members", "2", "--steps", "2",
            "--repeats", "1", "--out", str(tmp_path)]  # fmt: skip
    assert tt.main(args) == 0
    rows = pd.read_csv(tmp_path / "train_throughput_cpu_quick.csv")
    procs = rows[rows["mode"] == "processes"]
    assert len(procs) == 2 and (procs.members == 2).all() and (procs.processes == 2).all()  # 2 shapes
    assert list(procs.ms_per_member_step * procs.steps * 4) == pytest.approx(
        list(procs.seconds * 1e3), rel=1e-2
    )
