"""Do the models trained on SD with a distractor check membership, or vote by set? Read every kept
model of a committed sweep on its test set twice: as generated (the distractor read second) and
with the sets swapped (the distractor read first; synthetic.analysis.distractor_side).

    python bench/sd_distractor_side.py [--results results/sd_order/anticount]
                                       [--out figures/data/sd_distractor_side.csv] [--threads N]

Reads the runs' saved weights and never trains (bench/kept_models.py). Writes one row per run,
test slice and side (accuracy with its binomial standard error, how often the answer is the
distractor) and prints, per (variant, d_model, init) and side, the mean over seeds of each order's
accuracy and of the order effect (short-first minus long-first, as read) with the standard error
over seeds and how many seeds have short-first ahead.

What the mechanisms predict (the module docstring of synthetic.analysis.distractor_side): a
membership check keeps its accuracy with the distractor read first; a vote in which a copy weighs
1 / |its set| keeps its accuracy where the distractor's set is the longer one, so the order effect
as read changes sign; primacy (the first set weighs more) answers the distractor on the swapped
side in both orders.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.kept_models import KEYS, bench_main, positive, seed_se
from synthetic.analysis import distractor_side


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (variant, d_model, init, side): each order's mean accuracy and distractor rate over seeds,
    and the order effect (short-first minus long-first, as read) with its standard error over
    seeds and the seeds with short-first ahead."""
    per_run = rows.groupby([*KEYS, "seed", "side", "order"]).agg(
        accuracy=("accuracy", "mean"), distractor_rate=("distractor_rate", "mean")
    )
    wide = per_run.unstack("order")
    wide.columns = [f"{what} {order}" for what, order in wide.columns]
    wide["effect"] = wide["accuracy short-first"] - wide["accuracy long-first"]
    grouped = wide.groupby([*KEYS, "side"])
    out = grouped.mean()
    out["effect se"] = seed_se(grouped, "effect")
    out["seeds"] = grouped["effect"].count()
    out["short-first ahead"] = positive(grouped, "effect")
    return out.reset_index()


def main(argv: list[str] | None = None) -> int:
    return bench_main(
        argv,
        __doc__.split("\n\n")[0],
        results="results/sd_order/anticount",
        out="figures/data/sd_distractor_side.csv",
        task="sd_distractor",
        analyse=distractor_side,
        summarise=summary,
    )


if __name__ == "__main__":
    raise SystemExit(main())
