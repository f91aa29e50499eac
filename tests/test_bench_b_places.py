"""bench/b_places.py on a smoke sweep that kept its weights, its zones, and the committed
measurement against what docs/results/paper-scale.md says."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bench.b_places as b_places  # noqa: E402
from bench.b_places import accuracy_summary, main, summarize  # noqa: E402
from synthetic.analysis.b_places import ZONES  # noqa: E402
from synthetic.sweep import run_sweep  # noqa: E402


def test_rows_per_causal_model_slice_reading_and_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    only = lambda c: c.variant in ("Based (causal)", "Based (non-causal)")  # noqa: E731
    run_sweep("sd_order", "smoke", results_dir=tmp_path, progress=False, only=only, save_models=True)
    monkeypatch.setattr(b_places, "SLICES", [(2, 6), (6, 2)])
    out = tmp_path / "places.csv"
    assert (
        main(["--results", str(tmp_path), "--profile", "smoke", "--examples", "10", "--out", str(out)]) == 0
    )
    table = pd.read_csv(out)
    assert set(table.variant) == {"Based (causal)"}
    assert set(table.separator) == {"as trained", "hidden from the convolutions"}
    assert len(table) == table.config_hash.nunique() * 2 * (6 + 2)
    assert main(["--summarize", str(out)]) == 0


def test_the_committed_measurement_says_what_the_readme_says() -> None:
    """docs/results/paper-scale.md: long first, B's first 4 tokens draw about a quarter of the
    checking models' answers as trained and almost none with the separator hidden from the
    convolutions, while their short-first accuracy stays."""
    rows = pd.read_csv(ROOT / "figures" / "data" / "sd_b_places_checking.csv")
    zones = summarize(rows).set_index(["mechanism", "separator", "order", "zone"])
    acc = accuracy_summary(rows).set_index(["mechanism", "separator", "order"])
    trained = zones.loc[("checks", "as trained", "long-first", ZONES[0])]
    hidden = zones.loc[("checks", "hidden from the convolutions", "long-first", ZONES[0])]
    assert trained.answers == pytest.approx(0.274, abs=0.001) and hidden.answers == pytest.approx(
        0.011, abs=0.001
    )
    assert trained.logit > 1.0 > 0 > hidden.logit
    assert zones.loc[("counts", "hidden from the convolutions", "long-first", ZONES[0])].answers < 0.005
    short = acc.xs("short-first", level="order").loc["checks"].accuracy
    assert short["as trained"] == pytest.approx(short["hidden from the convolutions"], abs=0.005)
