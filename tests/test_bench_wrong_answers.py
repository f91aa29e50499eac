"""bench/wrong_answers.py on a smoke sweep that kept its weights, and its summary's groups."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.wrong_answers import main, summarize  # noqa: E402
from synthetic.analysis.wrong_answers import ANSWER_KINDS  # noqa: E402
from synthetic.sweep import run_sweep  # noqa: E402


def test_rows_per_model_slice_and_part(tmp_path: Path) -> None:
    """Every kept model (causal and non-causal) on every one-pass slice; shares sum to 1."""
    only = lambda c: c.variant in ("Based (causal)", "Based (non-causal)")  # noqa: E731
    run_sweep("sd_order", "smoke", results_dir=tmp_path, progress=False, only=only, save_models=True)
    out = tmp_path / "kinds.csv"
    args = ["--results", str(tmp_path), "--profile", "smoke", "--examples", "20", "--parts", "4"]
    assert main([*args, "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert set(table.variant) == {"Based (causal)", "Based (non-causal)"}
    assert set(table.slice) == {"A=2,B=6", "A=6,B=2"}
    assert np.allclose(table[list(ANSWER_KINDS)].sum(axis=1), 1.0)
    assert (table.groupby(["config_hash", "slice"]).n.sum() == 20).all()
    assert main(["--summarize", str(out)]) == 0


def test_the_summary_splits_long_first_by_where_the_copy_sits() -> None:
    """Per model the group's rows pooled by examples, then mean ± s.e. over models."""
    base = {"variant": "Based (causal)", "mechanism": "checks", "size_a": 256, "size_b": 16}
    shares = dict.fromkeys(ANSWER_KINDS, 0.0)
    rows = [
        {**base, **shares, "config_hash": m, "first_index": i, "n": n, "right": r, "B before the copy": 1 - r}
        for m, i, n, r in [("m1", 0, 10, 1.0), ("m1", 8, 10, 0.2), ("m1", 12, 30, 0.6), ("m2", 8, 40, 0.0)]
    ]
    rows.append({**base, **shares, "config_hash": "m1", "size_a": 4, "size_b": 256, "first_index": 0, "n": 5,
                 "right": 1.0})  # fmt: skip
    table = summarize(pd.DataFrame(rows)).set_index("group")
    late = table.loc["long-first, |B| >= 8, copy at B 4+"]
    assert late.models == 2 and late.right == pytest.approx(0.25)  # m1: (2 + 18) / 40, m2: 0
    assert late["right se"] == pytest.approx(pd.Series([0.5, 0.0]).sem())
    assert late["B before the copy"] == pytest.approx(0.75)
    assert table.loc["short-first"].models == 1
    assert table.loc["long-first, |B| >= 8, copy at B 0-3"].right == pytest.approx(1.0)
    with pytest.raises(KeyError):
        table.loc["long-first, |B| < 8"]


def test_the_committed_measurement_says_what_the_readme_says() -> None:
    """docs/results/paper-scale.md: long first with |B| >= 8 and the copy past B's first 4 tokens,
    the causal models (checking or counting) answer a B token read before the copy far more often
    than one after it; the non-causal checking models answer tokens of A alone instead."""
    table = summarize(pd.read_csv(ROOT / "figures" / "data" / "sd_wrong_answers_checking.csv"))
    late = table[table.group == "long-first, |B| >= 8, copy at B 4+"].set_index(["variant", "mechanism"])
    for mechanism in ("checks", "counts"):
        causal = late.loc[("Based (causal)", mechanism)]
        assert causal["B before the copy"] > 0.3 and causal["B after the copy"] < 0.16
    checks = late.loc[("Based (non-causal)", "checks")]
    assert checks["B before the copy"] < 0.05 and checks["A alone"] > 0.4


def test_the_false_match_summary_pools_each_models_slices() -> None:
    """Shares weighted by n (n_control for the control), then mean over models."""
    from bench.wrong_answers import false_match_summary

    others = ["replacing_x_gone", "b_before_x_gone", "b_before_other_gone", "replacing_other_gone"]
    zero = dict.fromkeys(others, 0.0)
    base = {"variant": "Based (causal)", "mechanism": "checks", **zero}
    rows = pd.DataFrame([
        {**base, "config_hash": "m1", "n": 10, "right_x_gone": 0.5, "n_control": 5, "right_other_gone": 0.2},
        {**base, "config_hash": "m1", "n": 30, "right_x_gone": 0.1, "n_control": 0,
         "right_other_gone": np.nan},
        {**base, "config_hash": "m2", "n": 20, "right_x_gone": 0.0, "n_control": 20, "right_other_gone": 0.0},
    ])  # fmt: skip
    got = false_match_summary(rows).iloc[0]
    assert got.models == 2 and got.n == 60 and got.n_control == 25
    assert got.right_x_gone == pytest.approx(((5 + 3) / 40 + 0.0) / 2)
    assert got.right_other_gone == pytest.approx((0.2 + 0.0) / 2)


def test_the_committed_false_match_test_says_what_the_readme_says() -> None:
    """docs/results/paper-scale.md: with the early B token x replaced by a token in neither set, the
    causal models answer the replacing token (x's place) far more often than the copy or than under
    the control."""
    from bench.wrong_answers import false_match_summary

    table = false_match_summary(pd.read_csv(ROOT / "figures" / "data" / "sd_false_match_checking.csv"))
    for _, row in table.iterrows():
        assert row.replacing_x_gone > 0.2 and row.right_x_gone < 0.1
        assert row.replacing_x_gone > 2.5 * row.replacing_other_gone
