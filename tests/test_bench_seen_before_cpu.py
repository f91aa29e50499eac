"""bench/seen_before_cpu.py on a smoke sweep that kept its weights (and on one that did not)."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.seen_before_cpu import main  # noqa: E402
from synthetic.sweep import run_sweep  # noqa: E402


def test_one_row_per_kept_model_and_slice(tmp_path: Path) -> None:
    only = lambda c: c.variant == "Based (causal)"  # noqa: E731
    run_sweep(
        "sd_order",
        "smoke",
        results_dir=tmp_path,
        progress=False,
        only=only,
        save_models=True,
        analysis="full",
    )
    out = tmp_path / "seen.csv"
    args = ["--results", str(tmp_path), "--profile", "smoke", "--examples", "16", "--out", str(out)]
    assert main(args) == 0
    table = pd.read_csv(out)
    assert set(table.variant) == {"Based (causal)"} and len(table) == table.slice.nunique() >= 2
    assert (table.n_fit == 8).all() and table.auc.between(0, 1).all()
    assert table.state_auc.notna().all()  # the record's own state probe beside it
    assert set(table.mechanism) <= {"checks", "counts"}  # analysis="full": every run analysed
    # --label rewrites the mechanism from the records and measures nothing
    table.assign(mechanism="stale").to_csv(out, index=False)
    assert main([*args[:4], "--label", str(out)]) == 0
    relabelled = pd.read_csv(out)
    assert relabelled.mechanism.tolist() == table.mechanism.tolist()
    again = tmp_path / "again.csv"
    assert main([*args[:-1], str(again), "--state-examples", "12"]) == 0
    assert pd.read_csv(again).state_auc.notna().all()  # probed again here


def test_no_kept_weights_is_a_clear_stop(tmp_path: Path) -> None:
    only = lambda c: c.variant == "Based (causal)"  # noqa: E731
    run_sweep("sd_order", "smoke", results_dir=tmp_path, progress=False, only=only)
    with pytest.raises(SystemExit, match=r"no kept weights of \['Based \(causal\)'\]"):
        main(["--results", str(tmp_path), "--profile", "smoke", "--variants", "Based (causal)"])


def test_untrained_models_need_no_weights(tmp_path: Path) -> None:
    """--untrained N probes the initial models of the first N ok runs of each variant (rebuilt from
    their configs and seeds), with no state probe beside them unless asked."""
    only = lambda c: c.variant in ("Based (causal)", "Based (non-causal)")  # noqa: E731
    run_sweep("sd_order", "smoke", results_dir=tmp_path, progress=False, only=only)
    out = tmp_path / "untrained.csv"
    args = ["--results", str(tmp_path), "--profile", "smoke", "--examples", "16", "--untrained", "1"]
    assert main([*args, "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert table.groupby("variant").config_hash.nunique().to_dict() == {
        "Based (causal)": 1,
        "Based (non-causal)": 1,
    }
    assert table.state_auc.isna().all() and table.auc.between(0, 1).all()
    assert set(table.mechanism) == {"untrained"}
    assert main([*args[:4], "--untrained", "1", "--label", str(out)]) == 0
    assert set(pd.read_csv(out).mechanism) == {"untrained"}
