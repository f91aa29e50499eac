"""bench/short_attention.py's forward crossover: the longest measured T up to which the short path's
forward won at every shorter measured T (all dtypes, modes and value dims of that f), derived from
the rows of a ``--forward`` CSV, and ``--crossover-from``'s printout, which the op parses back."""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.short_attention import COLUMNS, forward_crossover, main  # noqa: E402
from synthetic.kernels.short.op import parse_crossover  # noqa: E402

LENGTHS = (128, 512, 1024, 1574, 2048)


def _rows(ratios: dict[tuple[str, int, int], float]) -> list[dict[str, str]]:
    """CSV rows (both providers, as the bench writes them, values as text) for ratios keyed by
    (dtype, f, T)."""
    rows = []
    for (dtype, f, t), ratio in ratios.items():
        for provider in ("engine", "short"):
            row: dict[str, object] = dict(
                dtype=dtype, provider=provider, mode="causal", B=2**19 // t, T=t, H=2
            )
            row |= dict(
                f=f, dv=32, ms=1.0, engine_over_short=ratio, device="GPU", torch="2", triton="3", commit="abc"
            )
            rows.append({key: str(value) for key, value in row.items()})
    return rows


def _longest_winning_prefix(ratios: dict[tuple[str, int, int], float], f: int) -> int:
    """The definition, directly: the largest measured T at f such that every row at f with T' <= T
    has a ratio above 1; 0 if there is none."""
    measured = sorted({t for (_, g, t) in ratios if g == f})
    good = [t for t in measured if all(r > 1 for (_, g, u), r in ratios.items() if g == f and u <= t)]
    return max(good, default=0)


@given(
    st.dictionaries(
        st.tuples(
            st.sampled_from(["fp32", "bf16"]), st.sampled_from([4, 8, 16, 24]), st.sampled_from(LENGTHS)
        ),
        st.sampled_from([0.5, 0.99, 1.0, 1.01, 3.0, math.nan]),
        min_size=1,
    )
)
def test_forward_crossover_is_the_longest_winning_prefix(ratios: dict[tuple[str, int, int], float]) -> None:
    """Every measured f gets the longest prefix of measured lengths the short path won in every
    dtype (a ratio of exactly 1 or NaN is no win); a sweep cut short counts what it measured."""
    table = forward_crossover(_rows(ratios))
    assert set(table) == {f for (_, f, _) in ratios}
    assert table == {f: _longest_winning_prefix(ratios, f) for f in table}


def test_forward_crossover_examples() -> None:
    """A loss at one length stops the prefix there even where longer lengths win again."""
    ratios = {("fp32", 4, 128): 1.5, ("fp32", 4, 512): 0.9, ("fp32", 4, 1024): 2.0}
    ratios |= {("fp32", 24, t): 5.0 for t in LENGTHS} | {("bf16", 24, 2048): 0.8}
    ratios |= {("bf16", 16, 128): 0.7, ("bf16", 16, 512): 1.2}
    assert forward_crossover(_rows(ratios)) == {4: 128, 16: 0, 24: 1574}
    assert forward_crossover([]) == {}


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["dtype", *COLUMNS])
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_crossover_from_prints_what_the_op_reads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--crossover-from CSV`` needs no GPU and prints F:T,... in increasing F (parse_crossover
    reads it back), or nothing for a CSV with a header only."""
    ratios = {("fp32", 24, t): 4.0 for t in LENGTHS} | {("fp32", 4, 128): 1.2, ("fp32", 4, 512): 0.6}
    assert main(["--crossover-from", str(_write(tmp_path / "a.csv", _rows(ratios)))]) == 0
    printed = capsys.readouterr().out
    assert printed == "4:128,24:2048\n"
    assert parse_crossover(printed.strip()) == {4: 128, 24: 2048}
    assert main(["--crossover-from", str(_write(tmp_path / "b.csv", []))]) == 0
    assert capsys.readouterr().out == ""
