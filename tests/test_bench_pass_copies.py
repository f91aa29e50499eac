"""bench/pass_copies.py's pure helpers on tables of constructed models: the per-slice rows of one
model (conditions and pairs) and the summary over models (mean over a model's slices of an order,
then mean and s.e. over models), and the ``--summarize`` printout of such a CSV."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.pass_copies import SLICE, main, per_slice  # noqa: E402
from synthetic.analysis import CountingModel, StoreFirstModel  # noqa: E402
from synthetic.analysis.pass_copies import all_conditions, kept_copies, pass_copy_intervention  # noqa: E402
from synthetic.plots.pass_copies import PAIRS, model_summary  # noqa: E402
from synthetic.tasks import DataConfig, build_split  # noqa: E402

VOCAB = 48
KINDS = ("condition", "pair, others kept", "pair, others removed")


def _rows(model: nn.Module, config_hash: str) -> pd.DataFrame:
    """One stubbed model's CSV rows: JR-2 slices (two short-first, one long-first), 5 examples."""
    segments = [{"size_a": a, "size_b": b, "num_examples": 5} for a, b in ((3, 6), (2, 6), (6, 3))]
    cfg = DataConfig(task="sd", vocab_size=VOCAB, passes=2, train_segments=segments, test_segments=segments)
    table = pass_copy_intervention(model, build_split(cfg, "test"), batch_tokens=None)
    return per_slice(table).assign(
        variant="JRT-Prompt", d_model=8, mechanism="checks", config_hash=config_hash
    )


@pytest.fixture(scope="module")
def out() -> pd.DataFrame:
    counting = CountingModel(VOCAB, weights=list(np.linspace(2.0, 0.5, 30)))
    storing = StoreFirstModel(VOCAB, max_first=8, gain=3.0)
    return pd.concat([_rows(counting, "a" * 16), _rows(storing, "b" * 16)], ignore_index=True)


def test_per_slice_rows_conditions_and_pairs(out: pd.DataFrame) -> None:
    """Per slice: one row per condition (16) and per pair (6) and background (2); conditions carry
    an accuracy and a logit, pairs an interaction; ``what`` names the kept copies or the pair."""
    one = out[out.config_hash == "a" * 16]
    assert set(SLICE) <= set(one.columns)
    assert len(one) == 3 * (16 + 2 * 6)
    assert (
        one.groupby(["slice", "kind"]).size().unstack().to_dict("records")
        == [{"condition": 16, "pair, others kept": 6, "pair, others removed": 6}] * 3
    )
    assert set(one.kind) == set(KINDS)
    conditions = one[one.kind == "condition"]
    assert set(conditions.what) == {" ".join(kept_copies(c)) or "none" for c in all_conditions(2)}
    assert conditions[["accuracy", "accuracy_se", "logit"]].notna().all().all()
    assert conditions.interaction.isna().all() and (conditions.n == 5).all()
    for kind in KINDS[1:]:
        pairs = out[out.kind == kind]
        assert set(pairs.what) == set(PAIRS) and pairs.interaction.notna().all()
        assert pairs.accuracy.isna().all()
    # a model that adds up its copies' evidence: no pair interacts, in either background
    pairs = one[one.kind != "condition"]
    np.testing.assert_allclose(pairs.interaction, 0.0, atol=1e-9)
    # the example as generated is answered by both constructed models
    full = out[(out.kind == "condition") & (out.what == "A1 B1 A2 B2")]
    assert (full.accuracy == 1.0).all() and (full.accuracy_se == 0.0).all()


def test_summary_is_the_mean_over_slices_then_over_models(out: pd.DataFrame) -> None:
    """Each model's value is the mean over its slices of the order (accuracy for conditions,
    interaction for pairs); the summary gives the number of models, their mean and its s.e."""
    summary = model_summary(out)
    assert set(summary.kind) == set(KINDS) and set(summary.order) == {"short-first", "long-first"}
    assert (summary.models == 2).all()
    assert len(summary) == 2 * (16 + 2 * 6)  # per order: every condition and pair, once
    for (order, kind, what), row in summary.set_index(["order", "kind", "what"]).iterrows():
        part = out[(out.order == order) & (out.kind == kind) & (out.what == what)]
        column = "accuracy" if kind == "condition" else "interaction"
        per_model = [part[part.config_hash == h][column].mean() for h in ("a" * 16, "b" * 16)]
        assert len(part) == (4 if order == "short-first" else 2)  # two slices short-first, one long-first
        assert row["mean"] == pytest.approx(np.mean(per_model))
        assert row["se"] == pytest.approx(np.std(per_model, ddof=1) / np.sqrt(2), abs=1e-12)
    # the storing model checks one copy in A against one in B: with only A1 B1 kept it answers
    storing = out[(out.config_hash == "b" * 16) & (out.kind == "condition") & (out.what == "A1 B1")]
    assert (storing.accuracy == 1.0).all()


def test_summarize_prints_a_csv(
    out: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--summarize``: reads the CSV back (config hashes as text) and prints the three tables."""
    path = tmp_path / "rows.csv"
    out.to_csv(path, index=False)
    assert main(["--summarize", str(path)]) == 0
    printed = capsys.readouterr().out
    assert "accuracy with only these copies kept, mean ± s.e. over models" in printed
    assert "interaction (logits), pair, others removed" in printed and "B1 A2" in printed
