"""bench/accuracy_by_position.py on a smoke sweep that kept its weights (and on one that did not)."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.accuracy_by_position import main  # noqa: E402
from synthetic.sweep import run_sweep  # noqa: E402


def test_rows_per_model_slice_set_and_quarter(tmp_path: Path) -> None:
    only = lambda c: c.variant == "Based (causal)"  # noqa: E731
    run_sweep("sd_order", "smoke", results_dir=tmp_path, progress=False, only=only, save_models=True)
    out = tmp_path / "by_position.csv"
    args = ["--results", str(tmp_path), "--profile", "smoke", "--min-size", "1", "--quarters", "2"]
    assert main([*args, "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert set(table.set) == {"A", "B"} and set(table.quarter) == {0, 1}
    # every example of a slice falls in exactly one quarter of A and one of B
    per_slice = table.groupby(["config_hash", "slice", "set"]).n.sum().unstack("set")
    assert (per_slice.A == per_slice.B).all() and (per_slice.A > 0).all()
    assert table.accuracy.dropna().between(0, 1).all()
    assert set(table.mechanism) <= {"checks", "counts", "not analysed"}
    # --label rewrites the column from the records and measures nothing
    table.assign(mechanism="stale").to_csv(out, index=False)
    assert main([*args[:4], "--label", str(out)]) == 0
    relabelled = pd.read_csv(out)
    assert relabelled.drop(columns="mechanism").equals(table.drop(columns="mechanism"))
    assert set(relabelled.mechanism) == set(table.mechanism)
    table.assign(config_hash="0123456789abcdef").to_csv(out, index=False)
    with pytest.raises(ValueError, match="0123456789abcdef has no ok record"):
        main([*args[:4], "--label", str(out)])
    with pytest.raises(ValueError, match="quarters"):
        main([*args[:-1], "0", "--out", str(out)])


def test_no_kept_weights_is_a_clear_stop(tmp_path: Path) -> None:
    only = lambda c: c.variant == "Based (causal)"  # noqa: E731
    run_sweep("sd_order", "smoke", results_dir=tmp_path, progress=False, only=only)
    with pytest.raises(SystemExit, match="no kept weights"):
        main(["--results", str(tmp_path), "--profile", "smoke"])
