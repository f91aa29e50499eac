"""Accuracy by where the shared token sits, for the paper-scale models that check membership: redrawn
from ``figures/data/sd_accuracy_by_position_checking.csv`` (``bench/accuracy_by_position.py`` on
the checking profile's kept models; committed, so no weights or GPU are needed to redraw it).

Panels: columns are the variants; the top row holds the short-first slices whose second set is
long (|B| >= 256), accuracy by the quarter of B that holds the shared token's copy; the bottom row
the long-first slices whose first set is long (|A| >= 256), by the quarter of A that holds it.
Each line is one slice; a point is the mean over the variant's models, its bar the binomial
standard error of that mean (examples of all models pooled).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from synthetic.plots.common import FigureContext, save_figure

SOURCE = "sd_accuracy_by_position_checking.csv"
MIN_LONG = 256  # the long set of a plotted slice has at least this many tokens


def load_positions(ctx: FigureContext) -> pd.DataFrame:
    """The measured rows (one per model, slice, set and quarter) under ``ctx.data_dir``."""
    path = ctx.data_dir / SOURCE
    if not path.exists():
        raise FileNotFoundError(
            f"no {path}: run `python bench/accuracy_by_position.py --profile checking` where the "
            "checking profile's weights are kept"
        )
    return pd.read_csv(path)


def position_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per variant, slice, set and quarter: models, examples, mean accuracy over models and its
    binomial standard error; only the rows the figure draws (the long set's quarters, long set of
    at least :data:`MIN_LONG` tokens)."""
    short_first = (rows.size_a < rows.size_b) & (rows.size_b >= MIN_LONG) & (rows.set == "B")
    long_first = (rows.size_a > rows.size_b) & (rows.size_a >= MIN_LONG) & (rows.set == "A")
    kept = rows[short_first | long_first].copy()
    kept["order"] = np.where(kept.size_a < kept.size_b, "short-first", "long-first")
    keys = ["variant", "order", "slice", "size_a", "size_b", "set", "quarter"]
    table = kept.groupby(keys, sort=True).agg(models=("config_hash", "nunique"), n=("n", "sum"))
    table["accuracy"] = kept.groupby(keys).accuracy.mean()
    # the mean over models of binomial proportions: variance = sum p(1-p)/n_m / models^2
    variance = kept.assign(v=kept.accuracy * (1 - kept.accuracy) / kept.n).groupby(keys).v.sum()
    table["se"] = np.sqrt(variance) / table.models
    return table.reset_index()


def draw_positions(table: pd.DataFrame) -> plt.Figure:
    """The figure of a :func:`position_table`: columns the variants, rows the orders."""
    variants = sorted(table.variant.unique())
    orders = ["short-first", "long-first"]
    fig, axes = plt.subplots(2, len(variants), figsize=(4.2 * len(variants), 6.4), squeeze=False, sharey=True)
    for col, variant in enumerate(variants):
        for row, order in enumerate(orders):
            ax = axes[row][col]
            sub = table[(table.variant == variant) & (table.order == order)]
            slices = sorted(
                sub.slice.unique(), key=lambda s: tuple(sub[sub.slice == s][["size_a", "size_b"]].iloc[0])
            )
            colors = sns.color_palette("viridis", max(1, len(slices)))
            for color, name in zip(colors, slices, strict=True):
                one = sub[sub.slice == name].sort_values("quarter")
                label = f"|A|={one.size_a.iloc[0]}, |B|={one.size_b.iloc[0]}"
                ax.errorbar(one.quarter + 1, one.accuracy, yerr=one.se, marker="o", ms=3, lw=1.2,
                            capsize=2, color=color, label=label)  # fmt: skip
            models = int(sub.models.max()) if len(sub) else 0
            which = "B (read second)" if order == "short-first" else "A (read first)"
            ax.set_title(f"{variant}, {order} ({models} model{'s' if models != 1 else ''})", fontsize=9)
            ax.set_xlabel(f"quarter of {which} holding the shared token")
            ax.set_xticks([1, 2, 3, 4])
            ax.set_ylim(0, 1.02)
            if col == 0:
                ax.set_ylabel("accuracy")
            ax.legend(fontsize=6)
    fig.suptitle(
        "SD, paper scale (d_model 48, f = 24), models that check membership: accuracy by the shared "
        "token's position\nmean over models ± binomial s.e.",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def build_positions(ctx: FigureContext) -> None:
    table = position_table(load_positions(ctx))
    save_figure(draw_positions(table), "sd_checking_by_position", table, ctx)


FIGURES = {"sd_checking_by_position": build_positions}
