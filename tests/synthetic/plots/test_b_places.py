"""synthetic.plots.b_places: the table the place figure draws, and the figure from the committed CSV."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from synthetic.plots.b_places import SOURCE, build_places, place_table
from synthetic.plots.common import FigureContext

ROOT = Path(__file__).resolve().parents[3]


def _rows() -> pd.DataFrame:
    """Two models of one mechanism, two long-first slices of |B| = 16 and a short-first one."""
    rows = []
    for model, shift in (("m1", 0.0), ("m2", 1.0)):
        for size_a, size_b in ((256, 16), (768, 16), (16, 256)):
            for index in range(size_b):
                rows.append({"config_hash": model, "mechanism": "checks", "separator": "as trained",
                             "size_a": size_a, "size_b": size_b, "index": index, "n": 10,
                             "logit": shift + (size_a == 768) + index / 10, "answered": 0.01 * index,
                             "reach": 4})  # fmt: skip
    return pd.DataFrame(rows)


def test_the_table_averages_each_models_slices_then_the_models() -> None:
    table = place_table(_rows()).set_index("index")
    assert list(table.index) == list(range(16)) and (table.models == 2).all()
    # m1: (0 + 1) / 2 + i/10, m2: one more -> mean 1.0 + i/10, s.e. over the two models 0.5
    assert table.logit[3] == pytest.approx(1.3) and table.logit_se[3] == pytest.approx(0.5)
    assert table.answered[5] == pytest.approx(0.05) and table.from_separator[5] == 6


def test_no_long_first_rows_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"\|B\| = 16"):
        place_table(_rows().query("size_a < size_b"))


def test_the_committed_measurement_redraws(tmp_path: Path) -> None:
    ctx = FigureContext(out_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"bench/b_places\.py"):
        build_places(ctx)
    ctx.data_dir.mkdir()
    shutil.copy(ROOT / "figures" / "data" / SOURCE, ctx.data_dir / SOURCE)
    build_places(ctx)
    assert (tmp_path / "sd_checking_b_places.png").exists()
    drawn = pd.read_csv(ctx.data_dir / "sd_checking_b_places.csv")
    assert set(drawn.mechanism) == {"checks", "counts"} and set(drawn.separator) == {
        "as trained",
        "hidden from the convolutions",
    }
    # docs/results/paper-scale.md: as trained B's first places draw the checking models' answers;
    # hidden, almost none
    checks = drawn[drawn.mechanism == "checks"].set_index(["separator", "index"])
    assert (
        checks.loc[("as trained", 1)].answered
        > 0.1
        > 0.01
        > checks.loc[("hidden from the convolutions", 1)].answered
    )
