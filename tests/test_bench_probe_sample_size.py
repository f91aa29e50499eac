"""bench/probe_sample_size.py: the untrained paper-shape model's probe bits by number of examples."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.probe_sample_size import SLICES, main  # noqa: E402


def test_one_row_per_slice_and_size(tmp_path: Path) -> None:
    out = tmp_path / "probes.csv"
    assert main(["--examples", "16", "24", "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert sorted(table.slice.unique()) == sorted(SLICES)
    assert sorted(table.examples) == [16, 16, 24, 24]
    assert (table.n_fit + table.n_eval == table.examples).all()
    assert (table.info_bits >= 0).all() and (table.info_bits <= table.first_set_bits).all()
    # log2 C(n, |A|) for |A| = 16 and 256 of the paper's set tokens
    assert table.groupby("slice").first_set_bits.first().round(1).to_dict() == {
        "A=16,B=256": 131.6,
        "A=256,B=16": 1107.2,
    }
