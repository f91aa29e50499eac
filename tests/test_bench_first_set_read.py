"""bench/first_set_read.py on a smoke sweep that kept its weights."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.first_set_read import main, mirror_gaps  # noqa: E402
from synthetic.analysis.first_set_read import WAYS  # noqa: E402
from synthetic.sweep import run_sweep  # noqa: E402


def test_rows_per_model_slice_way_and_quarter(tmp_path: Path) -> None:
    """Only the causal model is read (the recurrent form reads left to right); every way covers
    the same examples; the swap at the copy and at another token are real reads (accuracies in
    [0, 1])."""
    only = lambda c: c.variant in ("Based (causal)", "Based (non-causal)")  # noqa: E731
    run_sweep("sd_order", "smoke", results_dir=tmp_path, progress=False, only=only, save_models=True)
    out = tmp_path / "swap.csv"
    args = ["--results", str(tmp_path), "--profile", "smoke", "--slices", "2,6", "--examples", "40"]
    assert main([*args, "--quarters", "2", "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert set(table.variant) == {"Based (causal)"} and set(table.way) == set(WAYS)
    assert set(table.slice) == {"A=2,B=6"} and set(table.quarter) == {0, 1}
    per_way = table.groupby("way").n.sum()
    assert per_way.nunique() == 1 and 0 < per_way.iloc[0] <= 40
    assert table.accuracy.dropna().between(0, 1).all()
    assert set(table.mechanism) <= {"checks", "counts", "not analysed"}
    with pytest.raises(SystemExit):
        main([*args[:4], "--slices", "6,2"])  # not short-first: refused by the parser
    mirrored = tmp_path / "both.csv"
    assert (
        main(
            [
                *args[:4],
                "--order",
                "both",
                "--slices",
                "2,6",
                "6,2",
                "--examples",
                "20",
                "--out",
                str(mirrored),
            ]
        )
        == 0
    )
    both = pd.read_csv(mirrored)
    assert set(both.slice) == {"A=2,B=6", "A=6,B=2"} and (both.groupby(["slice", "way"]).n.sum() == 20).all()


def test_the_order_and_the_slices_must_agree(capsys: pytest.CaptureFixture[str]) -> None:
    """A slice of the other order is refused before any model is loaded, naming it and the order."""
    with pytest.raises(SystemExit):
        main(["--order", "long-first", "--slices", "2,6", "8,4"])
    assert "--slices 2,6: not long-first" in capsys.readouterr().err


def test_no_kept_weights_is_a_clear_stop(tmp_path: Path) -> None:
    only = lambda c: c.variant == "Based (causal)"  # noqa: E731
    run_sweep("sd_order", "smoke", results_dir=tmp_path, progress=False, only=only)
    with pytest.raises(SystemExit, match="no kept weights of a causal model"):
        main(["--results", str(tmp_path), "--profile", "smoke", "--out", str(tmp_path / "x.csv")])


def test_mirror_gaps_pair_each_slice_with_its_mirror_per_model() -> None:
    """Short-first minus long-first per model and pair (parts pooled), mean over the model's pairs,
    then mean ± s.e. over models; a slice without its mirror is left out; nothing paired: empty."""
    rows = pd.DataFrame(
        [
            {"config_hash": m, "variant": "Based (causal)", "mechanism": "checks", "way": "as trained",
             "size_a": a, "size_b": b, "quarter": q, "n": n, "accuracy": acc}
            for m, a, b, q, n, acc in [
                ("m1", 4, 256, 0, 100, 1.0), ("m1", 4, 256, 1, 100, 0.6), ("m1", 256, 4, 0, 50, 0.5),
                ("m1", 4, 512, 0, 100, 0.9), ("m1", 512, 4, 0, 50, 0.2),
                ("m2", 4, 256, 0, 200, 0.4), ("m2", 256, 4, 0, 50, 0.6), ("m2", 16, 768, 0, 80, 0.5),
            ]
        ]
    )  # fmt: skip
    got = mirror_gaps(rows).iloc[0]
    per_model = [((0.8 - 0.5) + (0.9 - 0.2)) / 2, 0.4 - 0.6]
    assert got.models == 2 and got.pairs == 2 and got.short_first_ahead == "2 / 3"
    assert got.gap == pytest.approx(sum(per_model) / 2)
    assert got.gap_se == pytest.approx(pd.Series(per_model).sem())
    assert mirror_gaps(rows[rows.size_a < rows.size_b]).empty
