"""bench/conv_backward.py: a smoke run in the interpreter (tiles and program counts restored after)."""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.conv_backward import COLUMNS, main  # noqa: E402
from synthetic.kernels import depthwise_conv  # noqa: E402


@pytest.mark.skipif(os.environ.get("TRITON_INTERPRET", "0") in ("", "0"), reason="needs TRITON_INTERPRET=1")
def test_smoke_run_writes_every_case_and_restores_the_defaults(tmp_path: Path) -> None:
    defaults = (depthwise_conv.BWD_PROGRAMS, depthwise_conv.TILE_ELEMENTS)
    args = ["--device", "cpu", "--rows", "4", "--members", "2", "--t", "9", "--c", "5", "--reps", "1"]
    assert main([*args, "--programs", "2", "1024", "--tiles", "64", "2048", "--out", str(tmp_path)]) == 0
    assert (depthwise_conv.BWD_PROGRAMS, depthwise_conv.TILE_ELEMENTS) == defaults
    with (tmp_path / "conv_backward_cpu.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == COLUMNS
    assert [r["impl"] for r in rows] == ["eager"] + ["fused"] * 4
    assert sum(r["default"] == "1" for r in rows) == 1  # 1024 programs, tiles of 2048
    with pytest.raises(SystemExit):
        main(["--device", "cpu", "--rows", "3", "--members", "2"])  # 3 rows among 2 members
