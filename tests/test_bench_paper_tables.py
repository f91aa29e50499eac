"""bench/paper_tables.py prints, from the committed paper records, the numbers the README's "Paper
scale" section shows: its accuracy table row for row, and its placed order effects."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.paper_tables import main  # noqa: E402


def _section() -> str:
    text = (ROOT / "README.md").read_text()
    return text[text.index("### Paper scale") : text.index("### Training throughput")]


def test_the_readme_tables_are_the_scripts_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    rows = [
        r.replace("**", "") for r in _section().splitlines() if r.startswith(("| causal", "| non-causal"))
    ]
    accuracy = [r for r in rows if " vs " in r and "init" in r.split("|")[1]]
    placed = [r for r in rows if "(2, lr 8e-4)" in r or "(4) |" in r]
    assert len(accuracy) == 4 and len(placed) == 8
    for row in accuracy:
        assert row in out, row
    printed = [line for line in out.splitlines() if line.startswith("| ")]
    for row in placed:
        cells = [c.strip() for c in row.strip("|").split("|")]
        tail = " | ".join(cells[2:]) + " |"  # as generated, by column, by index
        assert any(
            line.startswith(f"| {cells[0]} | {cells[1].split()[0]} |") and line.endswith(tail)
            for line in printed
        ), row
