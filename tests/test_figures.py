"""`make figures` driver: every registered figure writes PNG + PDF + CSV."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from synthetic import figures


def test_registry_names_unique_and_nonempty() -> None:
    assert figures.registry()


def test_theory_figure_writes_files(tmp_path: Path) -> None:
    assert figures.main(["--only", "sd_store_first_bits", "--out", str(tmp_path)]) == 0
    for suffix in ("sd_store_first_bits.png", "sd_store_first_bits.pdf", "data/sd_store_first_bits.csv"):
        assert (tmp_path / suffix).stat().st_size > 0
    df = pd.read_csv(tmp_path / "data/sd_store_first_bits.csv")
    # the A-first memory grows with |A|; the B-first one does not depend on |A|
    a_first = df[(df.order == "A-first") & (df.quantity == "store-first algorithm")]
    b_first = df[(df.order == "B-first") & (df.quantity == "store-first algorithm")]
    assert a_first.bits.is_monotonic_increasing and a_first.bits.nunique() > 1
    assert b_first.bits.nunique() == 1


def test_unknown_figure_is_an_error() -> None:
    with pytest.raises(SystemExit):
        figures.main(["--only", "no_such_figure"])
