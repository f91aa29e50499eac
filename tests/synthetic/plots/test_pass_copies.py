"""synthetic.plots.pass_copies: the summary the JRT-Prompt pass figure draws (mean over a model's
slices, then over models), and the figure from a constructed CSV and from the committed one."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthetic.plots.common import FigureContext
from synthetic.plots.pass_copies import (
    ALL_KEPT,
    PAIRS,
    SOURCE,
    build_pass_copies,
    model_summary,
    order_gaps,
)

ROOT = Path(__file__).resolve().parents[3]


def _rows() -> pd.DataFrame:
    """Two checking models at d_model 64, two slices an order; accuracy and interaction set so that
    each (model, order) has a known mean over its slices."""
    rows = []
    for model, base in (("a" * 16, 0.2), ("b" * 16, 0.4)):
        for (size_a, size_b), shift in (((4, 256), 0.0), ((16, 256), 0.1), ((256, 4), 0.0), ((256, 16), 0.1)):
            order = "short-first" if size_a < size_b else "long-first"
            common = {"config_hash": model, "variant": "JRT-Prompt", "mechanism": "checks", "d_model": 64,
                      "slice": f"A={size_a},B={size_b}", "size_a": size_a, "size_b": size_b,
                      "order": order}  # fmt: skip
            for what in (*PAIRS, ALL_KEPT):
                rows.append({**common, "kind": "condition", "what": what, "accuracy": base + shift, "n": 8})
            for kind, what in itertools.product(("pair, others removed", "pair, others kept"), PAIRS):
                rows.append(
                    {**common, "kind": kind, "what": what, "interaction": 10 * (base + shift), "n": 8}
                )
    return pd.DataFrame(rows)


def test_the_summary_is_the_mean_over_slices_then_over_models() -> None:
    table = model_summary(_rows())
    assert (table.models == 2).all() and set(table.order) == {"short-first", "long-first"}
    acc = table[(table.kind == "condition") & (table.what == "A1 B1")]
    # per model: 0.25 and 0.45 (mean over its two slices); over models 0.35 ± 0.1
    assert acc["mean"].to_numpy() == pytest.approx([0.35, 0.35])
    assert acc.se.to_numpy() == pytest.approx([0.1, 0.1])
    inter = table[(table.kind == "pair, others removed") & (table.what == "B1 A2")]
    assert inter["mean"].to_numpy() == pytest.approx([3.5, 3.5])


def test_order_gaps_are_per_model_then_over_models() -> None:
    """Short-first minus long-first accuracy per model (each order: mean over its slices), then the
    mean, s.e. and models ahead over models; pair rows do not enter."""
    rows = _rows()
    long_a = (rows.order == "long-first") & (rows.config_hash == "a" * 16) & (rows.kind == "condition")
    rows.loc[long_a, "accuracy"] -= 0.2  # model a: short first ahead by 0.2; model b: a tie
    gaps = order_gaps(rows)
    assert set(gaps.what) == {*PAIRS, ALL_KEPT} and (gaps.models == 2).all()
    assert gaps["mean"].to_numpy() == pytest.approx(np.full(len(gaps), 0.1))
    assert gaps.se.to_numpy() == pytest.approx(np.full(len(gaps), 0.1))
    assert (gaps.ahead == 1).all()


def test_an_unknown_kind_is_refused() -> None:
    rows = _rows()
    rows.loc[0, "kind"] = "pair"
    with pytest.raises(ValueError, match=r"kinds \['pair'\]"):
        model_summary(rows)


def test_the_figure_from_a_csv(tmp_path: Path) -> None:
    ctx = FigureContext(out_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"pass_copies\.py"):
        build_pass_copies(ctx)
    ctx.data_dir.mkdir()
    _rows().to_csv(ctx.data_dir / SOURCE, index=False)
    build_pass_copies(ctx)
    assert (tmp_path / "sd_jrt_pass_copies.png").exists()
    drawn = pd.read_csv(ctx.data_dir / "sd_jrt_pass_copies.csv")
    assert len(drawn) == 2 * (len(PAIRS) + 1 + 2 * len(PAIRS))


@pytest.mark.skipif(not (ROOT / "figures" / "data" / SOURCE).exists(), reason="no committed measurement yet")
def test_the_committed_measurements_redraw(tmp_path: Path) -> None:
    ctx = FigureContext(out_dir=tmp_path)
    ctx.data_dir.mkdir()
    shutil.copy(ROOT / "figures" / "data" / SOURCE, ctx.data_dir / SOURCE)
    build_pass_copies(ctx)
    drawn = pd.read_csv(ctx.data_dir / "sd_jrt_pass_copies.csv")
    assert set(drawn.variant) == {"JRT-Prompt"}
    assert np.isfinite(drawn["mean"]).all()
