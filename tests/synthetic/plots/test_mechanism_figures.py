"""The mechanism figures from analysed runs: tables over seeds, the drawing, the builders."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from synthetic import figures
from synthetic.plots import mechanism
from synthetic.plots.common import FigureContext
from synthetic.results import MECHANISM_PARTS, load_mechanism, results_path
from synthetic.sweep import run_sweep


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The anticount smoke profile (4 variants, seconds) trained with its analysis."""
    root = tmp_path_factory.mktemp("res")
    run_sweep("sd_order", "anticount_smoke", results_dir=root, progress=False, analysis="intervention")
    return results_path(root, "sd_order", "anticount_smoke")


def test_tables_and_drawing_from_analysed_runs(analysed: Path) -> None:
    by_order = load_mechanism(analysed, "intervention_by_order")
    matched = load_mechanism(analysed, "matched")
    assert by_order.attrs["unanalysed"] == 0 and not by_order.attrs["analysis_errors"]
    table = mechanism.intervention_table(by_order)
    assert set(table.order) == {"short-first", "long-first"} and table.seeds.eq(1).all()
    assert len(table) == 2 * by_order.variant.nunique()
    effects = mechanism.matched_table(matched)
    assert set(effects.matching) == {"column", "index"}
    one = matched[(matched.matching == "column")].groupby("variant").difference.mean()
    drawn = effects[effects.matching == "column"].set_index("variant").difference
    assert drawn.sort_index().to_numpy() == pytest.approx(one.sort_index().to_numpy())
    fig = mechanism.draw_mechanism(table, effects, "t")
    assert len(fig.axes) == 3
    plt.close(fig)


def test_load_mechanism_counts_what_it_leaves_out(analysed: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="part='bits'; allowed: intervention_by_slice"):
        load_mechanism(analysed, "bits")
    assert MECHANISM_PARTS[2] == "matched"
    run_sweep("sd_order", "smoke", results_dir=tmp_path, progress=False)  # no analysis asked for
    plain = load_mechanism(results_path(tmp_path, "sd_order", "smoke"), "matched")
    assert plain.empty and plain.attrs["unanalysed"] == 4
    with pytest.raises(ValueError, match="were the runs analysed"):
        mechanism.intervention_table(pd.DataFrame({"variant": []}))


def test_builders_say_what_is_missing(tmp_path: Path) -> None:
    ctx = FigureContext(out_dir=tmp_path, results_dir=tmp_path / "none")
    with pytest.raises(figures.FigureUnavailable, match="run sd_order --profile mechanism"):
        figures.build_sd_mechanism(ctx)
    with pytest.raises(figures.FigureUnavailable, match="run sd_order --profile anticount"):
        figures.build_sd_anticount(ctx)
