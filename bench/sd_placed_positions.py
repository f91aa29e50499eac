"""Is the plain-SD order effect memory or position weighting? Read every kept model of the
`mechanism` profile with the shared token's copies placed where both orders can have them
(synthetic.analysis.placement: the same columns, or the same indices in their sets, example by
example in the two orders).

    python bench/sd_placed_positions.py [--results results/sd_order/mechanism]
                                        [--out figures/data/sd_placed_positions.csv] [--threads N]

Reads the runs' saved weights and never trains; each model reads its own test set (2,048 examples
per slice). Writes one row per run, mirror pair and placement (the order effect as generated and
placed, each with its binomial standard error) and prints, per (variant, d_model, init,
placement), the mean over seeds and pairs of both effects, the standard error over seeds and the
seeds with a positive placed effect. Position weighting predicts a placed effect of 0; a memory of
the first set the whole effect under both placements.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.kept_models import KEYS, bench_main, positive, seed_se
from synthetic.analysis.matched import MATCHINGS
from synthetic.analysis.placement import placed_order_effect
from synthetic.tasks.data import SplitData


def placed_both(model: torch.nn.Module, split: SplitData) -> pd.DataFrame:
    """Both placements of one model (the places drawn with seed 0)."""
    return pd.concat([placed_order_effect(model, split, m) for m in MATCHINGS], ignore_index=True)


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    per_run = rows.groupby([*KEYS, "matching", "seed"])[["difference", "placed_difference"]].mean()
    grouped = per_run.groupby([*KEYS, "matching"])
    out = grouped.mean()
    out["difference se"] = seed_se(grouped, "difference")
    out["placed se"] = seed_se(grouped, "placed_difference")
    out["seeds"] = grouped["placed_difference"].count()
    out["placed > 0"] = positive(grouped, "placed_difference")
    return out.reset_index()


def main(argv: list[str] | None = None) -> int:
    return bench_main(
        argv,
        __doc__.split("\n\n")[0],
        results="results/sd_order/mechanism",
        out="figures/data/sd_placed_positions.csv",
        task="sd",
        analyse=placed_both,
        summarise=summary,
    )


if __name__ == "__main__":
    raise SystemExit(main())
