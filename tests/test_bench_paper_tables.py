"""bench/paper_tables.py prints, from the committed paper records, the numbers the README's "Paper
scale" section shows: every row of its per-run and per-shape tables, verbatim."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.paper_tables import PROTOCOLS, main  # noqa: E402


def _section() -> str:
    text = (ROOT / "README.md").read_text()
    return text[text.index("### Paper scale") : text.index("### Training throughput")]


def _script_rows(section: str) -> list[str]:
    """The section's table rows that the script prints: those whose first cell names a variant and
    a protocol and whose second cell is a single number (a feature dim or a d_model), or that hold
    the accuracy cells ("short vs long, difference")."""
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("| ") or len(cells) < 3:
            continue
        labelled = cells[0].endswith(tuple(PROTOCOLS.values()))
        if labelled and (cells[1].isdigit() or " vs " in cells[1]):
            rows.append(line.replace("**", ""))
    return rows


def test_the_readme_tables_are_the_scripts_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = _script_rows(_section())
    # two accuracy tables (4 rows each), the placed table, the checking runs
    assert len([r for r in rows if " vs " in r]) >= 8 and len(rows) >= 20, rows
    for row in rows:
        assert row in out, row
