"""bench/sd_distractor_side.py and bench/sd_placed_positions.py on sweeps that kept their weights."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bench import sd_distractor_side
from synthetic.results import results_path
from synthetic.sweep import run_sweep


def test_reads_every_kept_model_on_both_sides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_sweep("sd_order", "anticount_smoke", results_dir=tmp_path, progress=False, save_models=True)
    path = results_path(tmp_path, "sd_order", "anticount_smoke")
    out = tmp_path / "side.csv"
    assert sd_distractor_side.main(["--results", str(path.parent), "--out", str(out)]) == 0  # the folder
    rows = pd.read_csv(out)
    assert rows.config_hash.nunique() == 4 and set(rows.side) == {"first", "second"}
    assert rows.accuracy.between(0, 1).all() and (rows.accuracy + rows.distractor_rate <= 1 + 1e-12).all()
    table = sd_distractor_side.summary(rows)
    assert len(table) == 8 and (table.seeds == 1).all()  # 4 variants x 2 sides, one seed
    assert "wrote" in capsys.readouterr().out


def test_refuses_runs_without_weights(tmp_path: Path) -> None:
    run_sweep("sd_order", "anticount_smoke", results_dir=tmp_path, progress=False)
    path = results_path(tmp_path, "sd_order", "anticount_smoke")
    with pytest.raises(SystemExit, match="no ok run with kept weights"):
        sd_distractor_side.main(["--results", str(path), "--out", str(tmp_path / "x.csv")])


def test_placed_positions_bench_reads_every_kept_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench import sd_placed_positions

    run_sweep("sd_order", "smoke", results_dir=tmp_path, progress=False, save_models=True)
    path = results_path(tmp_path, "sd_order", "smoke")
    out = tmp_path / "placed.csv"
    assert sd_placed_positions.main(["--results", str(path), "--out", str(out)]) == 0
    rows = pd.read_csv(out)
    assert rows.config_hash.nunique() == 4 and set(rows.matching) == {"column", "index"}
    assert (rows[["short", "long", "n"]].drop_duplicates().to_numpy() == [[2, 6, 32]]).all()
    assert len(sd_placed_positions.summary(rows)) == 8  # 4 variants x 2 placements
    with pytest.raises(SystemExit, match="is task 'sd', not sd_distractor"):
        sd_distractor_side.main(["--results", str(path), "--out", str(tmp_path / "x.csv")])
