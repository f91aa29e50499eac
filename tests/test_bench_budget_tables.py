"""bench/budget_tables.py prints, from the committed records of the `budget` profiles, the tables
docs/results/cpu-scale.md shows (its section on training ten times as long), verbatim; and its
per-cell order effect on constructed runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.budget_tables import DEFAULT_RESULTS, cell_table, main  # noqa: E402


def _section() -> str:
    text = (ROOT / "docs" / "results" / "cpu-scale.md").read_text(encoding="utf-8")
    start = text.index("## Trained ten times as long")
    return text[start:]


def test_the_docs_tables_are_the_scripts_output(capsys: pytest.CaptureFixture[str]) -> None:
    """Every table row of the section (a row whose first cell names a protocol, ending in
    "optimiser", or whose first cell is a d_model) is a line the script prints from the committed
    records."""
    assert main(["--results", *(str(ROOT / p) for p in DEFAULT_RESULTS)]) == 0
    out = set(capsys.readouterr().out.splitlines())
    rows = [
        line
        for line in _section().splitlines()
        if line.startswith("| ")
        and (line.split("|")[1].strip().endswith("optimiser") or line.split("|")[1].strip().isdigit())
    ]
    assert len(rows) >= 10, rows
    for row in rows:
        assert row in out, row


def test_cell_table_from_constructed_runs() -> None:
    """Per cell: runs, how many check, the mean accuracies by order, the difference's mean ± s.e.
    over runs and how many runs have short first ahead."""
    runs = pd.DataFrame(
        {
            "variant": ["Based (causal)"] * 3,
            "init": ["reference"] * 3,
            "optimizer": ["reference"] * 3,
            "training": ["30 epochs"] * 3,
            "d_model": [32] * 3,
            "feature_dim": [2] * 3,
            "config_hash": ["a", "b", "c"],
            "short_first": [0.9, 0.8, 0.7],
            "long_first": [0.5, 0.6, 0.7],
            "difference": [0.4, 0.2, 0.0],
        }
    )
    by_order = pd.DataFrame(
        {
            "config_hash": ["a", "a", "b", "b", "c", "c"],
            "order": ["short-first", "long-first"] * 3,
            "interaction": [3.0, 2.5, 3.0, 1.0, 0.1, 0.2],
        }
    )
    lines = cell_table(runs, by_order).splitlines()
    label = "causal Based, the paper code's init and optimiser"
    assert lines[2] == f"| {label} | 30 epochs | 32 | 2 | 3 | 1 | 0.800 vs 0.600 | +0.200 ± 0.115 | 2 / 3 |"
