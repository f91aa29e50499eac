"""The mirror-pair and checking-run tables of synthetic.plots.mechanism, on made-up analysis rows
whose answers are known by construction."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from synthetic.plots import mechanism

RUN = {
    "variant": "Based (causal)",
    "d_model": 48,
    "feature_dim": 24,
    "init": "reference",
    "lr": 8e-4,
    "seed": 1,
}


def _slice_row(run: str, a: int, b: int, acc: float, inter: float, se: float) -> dict[str, object]:
    return {
        **RUN,
        "config_hash": run,
        "slice": f"A={a},B={b}",
        "accuracy": acc,
        "accuracy_se": se,
        "interaction": inter,
        "interaction_se": 2 * se,
    }


sizes = st.sets(st.tuples(st.integers(1, 40), st.integers(1, 40)).filter(lambda p: p[0] != p[1]), max_size=12)


@given(slices=sizes, seed=st.integers(0, 2**16))
def test_mirror_pairs_are_exactly_the_slices_present_in_both_orders(
    slices: set[tuple[int, int]], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    values = {s: (float(rng.random()), float(rng.normal() * 3), float(rng.random() / 10)) for s in slices}
    rows = [_slice_row("run0", a, b, *values[a, b]) for a, b in slices]
    table = mechanism.mirror_interactions(pd.DataFrame(rows, columns=list(_slice_row("x", 1, 2, 0, 0, 0))))
    expected = sorted((a, b) for a, b in slices if a < b and (b, a) in slices)
    assert list(zip(table.short, table.long, strict=True)) == expected
    for _, got in table.iterrows():
        (acc_s, int_s, se_s), (acc_l, int_l, se_l) = values[got.short, got.long], values[got.long, got.short]
        assert got["accuracy difference"] == pytest.approx(acc_s - acc_l)
        assert got["interaction difference"] == pytest.approx(int_s - int_l)
        assert got["accuracy difference se"] == pytest.approx(math.hypot(se_s, se_l))
        assert got["interaction difference se"] == pytest.approx(math.hypot(2 * se_s, 2 * se_l))
        assert got["accuracy short-first"] == acc_s and got["interaction long-first"] == int_l


def test_mirror_pairs_never_cross_runs() -> None:
    rows = [_slice_row("run0", 4, 16, 0.9, 3.0, 0.01), _slice_row("run1", 16, 4, 0.5, 1.0, 0.01)]
    assert mechanism.mirror_interactions(pd.DataFrame(rows)).empty


def test_mirror_pairs_name_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="interaction_se"):
        mechanism.mirror_interactions(
            pd.DataFrame([_slice_row("r", 1, 2, 0, 0, 0)]).drop(columns="interaction_se")
        )
    with pytest.raises(ValueError, match="'A=<int>,B=<int>'"):
        mechanism.mirror_interactions(pd.DataFrame([{**_slice_row("r", 1, 2, 0, 0, 0), "slice": "ab"}]))


@given(
    runs=st.lists(
        st.tuples(st.floats(-5, 10, allow_nan=False), st.floats(-5, 10, allow_nan=False), st.booleans()),
        min_size=1,
        max_size=8,
    ),
    threshold=st.floats(0.1, 8),
)
def test_checking_runs_need_both_orders_above_the_threshold(
    runs: list[tuple[float, float, bool]], threshold: float
) -> None:
    rows = []
    for i, (short, long, both) in enumerate(runs):
        rows.append({"config_hash": f"r{i}", "order": "short-first", "interaction": short})
        if both:
            rows.append({"config_hash": f"r{i}", "order": "long-first", "interaction": long})
        rows.append({"config_hash": f"r{i}", "order": "other", "interaction": 100.0})  # not an order
    got = mechanism.checking_runs(pd.DataFrame(rows), threshold)
    want = sorted(f"r{i}" for i, (s, lo, both) in enumerate(runs) if both and min(s, lo) > threshold)
    assert got == want


def test_checking_runs_refuse_a_threshold_that_is_not_positive() -> None:
    frame = pd.DataFrame([{"config_hash": "r", "order": "short-first", "interaction": 1.0}])
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="threshold"):
            mechanism.checking_runs(frame, bad)


def test_mirror_pairs_are_drawn_one_line_per_run() -> None:
    rows = [
        _slice_row(run, a, b, acc, inter, 0.01)
        for run in ("run0", "run1")
        for a, b, acc, inter in ((4, 16, 0.9, 3.0), (16, 4, 0.7, 2.0), (8, 32, 0.6, 1.0), (32, 8, 0.5, 1.5))
    ]
    pairs = mechanism.mirror_interactions(pd.DataFrame(rows))
    fig = mechanism.draw_mirror_pairs(pairs, "made up")
    try:
        assert [len(ax.lines) > 0 for ax in fig.axes[:2]] == [True, True]
        assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["4 / 16", "8 / 32"]
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match="no mirror pairs"):
        mechanism.draw_mirror_pairs(pairs.iloc[:0], "empty")


def test_the_checking_figure_says_when_no_run_checks(tmp_path: Path) -> None:
    from synthetic import figures
    from synthetic.plots.common import FigureContext

    ctx = FigureContext(out_dir=tmp_path, results_dir=tmp_path / "res")
    with pytest.raises(figures.FigureUnavailable):
        figures.TRAINING_FIGURES["sd_checking_paper"](ctx)


def test_checking_runs_never_count_a_nan_interaction() -> None:
    frame = pd.DataFrame(
        {
            "config_hash": ["h", "h", "g", "g"],
            "order": ["short-first", "long-first"] * 2,
            "interaction": [5.0, float("nan"), 5.0, 4.0],
        }
    )
    assert mechanism.checking_runs(frame) == ["g"]
    with pytest.raises(ValueError, match="'interaction'"):
        mechanism.checking_runs(frame.drop(columns="interaction"))
