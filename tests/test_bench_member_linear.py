"""bench/member_linear.py: the MemberLinear shapes it times and a smoke run on the CPU."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bench.member_linear import COLUMNS, linear_shapes, main


def test_the_shapes_are_the_paper_models_linear_layers() -> None:
    """Causal Based at d_model 36, f 4, 4 layers (2 BaseConv, 2 Based of 2 heads): q and k project
    to 2 x 4 features, v and the outputs keep the width, BaseConv's two projections have biases."""
    assert linear_shapes(36, 4, 2) == {(36, 8, False): 4, (36, 36, False): 4, (36, 36, True): 2}
    assert linear_shapes(128, 24, 1) == {(128, 48, False): 4, (128, 128, False): 4, (128, 128, True): 2}


def test_smoke_run_writes_the_csv(tmp_path: Path) -> None:
    assert main(["--device", "cpu", "--d-model", "36", "--f", "4", "--members", "2", "--rows", "12",
                 "--reps", "1", "--out", str(tmp_path)]) == 0  # fmt: skip
    with (tmp_path / "member_linear_cpu.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == COLUMNS
    assert len(rows) == 3 * 2  # three shapes, forward and forward+backward
    assert {r["pass"] for r in rows} == {"forward", "forward+backward"}
    assert all(float(r["one_ms"]) > 0 and float(r["split_ms"]) > 0 for r in rows)
    assert {r["groups"] for r in rows} == {"4"}  # 12 rows: 4 groups of 3
    with pytest.raises(SystemExit):
        main(["--device", "cpu", "--d-model", "36", "128", "--f", "4"])
