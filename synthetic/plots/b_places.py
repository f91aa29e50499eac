"""The places of B the kept causal models prefer, apart from membership (figure ``sd_checking_b_places``).

Redrawn from ``figures/data/sd_b_places_checking.csv`` (``bench/b_places.py``): for the long-first
slices with |B| = 16, the centred logit of the B token at each index (the copy's index left out;
:func:`synthetic.analysis.b_places.place_profile_table`) and the share of answers it draws, as
trained and with the separator hidden from the short convolutions, mean over models ± s.e., one
panel column per mechanism.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from synthetic.plots.common import FigureContext, save_figure

SOURCE = "sd_b_places_checking.csv"
#: the slices drawn: long first, |B| = 16 (the index axis is then the same for all of them)
SIZE_B = 16
#: the two readings, in drawing order
READINGS = ("as trained", "hidden from the convolutions")


def load_places(ctx: FigureContext) -> pd.DataFrame:
    """The measured rows of :data:`SOURCE` under ``ctx.data_dir``."""
    path = ctx.data_dir / SOURCE
    if not path.exists():
        raise FileNotFoundError(
            f"no {path}: run `python bench/b_places.py --profile checking --out {path}` where the checking "
            "profile's weights are kept"
        )
    return pd.read_csv(path)


def place_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (mechanism, separator, index) over the long-first slices with |B| = :data:`SIZE_B`:
    ``models``, ``logit`` and ``answered`` (each model's mean over the slices, then the mean over
    models) with their standard errors over models (``logit_se``, ``answered_se``), and
    ``from_separator``."""
    chosen = rows[(rows.size_b == SIZE_B) & (rows.size_a > rows.size_b)]
    if chosen.empty:
        raise ValueError(f"no long-first rows with |B| = {SIZE_B} to draw")
    keys = ["mechanism", "separator", "index"]
    per_model = chosen.groupby([*keys, "config_hash"])[["logit", "answered"]].mean().reset_index()
    by = per_model.groupby(keys)
    table = by[["logit", "answered"]].mean().join(by[["logit", "answered"]].sem().add_suffix("_se"))
    table.insert(0, "models", by.config_hash.nunique())
    table = table.reset_index()
    return table.assign(from_separator=table["index"] + 1)


def draw_places(table: pd.DataFrame, reach: int) -> plt.Figure:
    """Two rows (centred logit; share of answers drawn) by one column per mechanism; one line per
    reading; the convolutions' ``reach`` from the separator shaded."""
    mechanisms = sorted(table.mechanism.unique())
    fig, axes = plt.subplots(
        2, len(mechanisms), figsize=(5.2 * len(mechanisms), 6.4), squeeze=False, sharex=True
    )
    colors = dict(zip(READINGS, sns.color_palette("tab10"), strict=False))
    for col, mechanism in enumerate(mechanisms):
        for row, (measure, label) in enumerate(
            (("logit", "centred logit"), ("answered", "share of answers"))
        ):
            ax = axes[row][col]
            ax.axvspan(-0.5, reach - 0.5, color="0.9", zorder=0)
            for reading in READINGS:
                one = table[(table.mechanism == mechanism) & (table.separator == reading)].sort_values(
                    "index"
                )
                if one.empty:
                    continue
                name = reading if reading == READINGS[0] else f"separator {reading}"
                ax.errorbar(one["index"], one[measure], yerr=one[f"{measure}_se"], marker="o", ms=3,
                            capsize=2, color=colors[reading], label=name)  # fmt: skip
            ax.axhline(0, color="0.5", lw=0.6)
            ax.set_ylabel(label, fontsize=8)
            if row == 0:
                models = int(table[table.mechanism == mechanism].models.max())
                ax.set_title(f"causal Based, {mechanism} ({models} models)", fontsize=9)
                ax.legend(fontsize=7)
            else:
                ax.set_xlabel("index in B (the copy's own index left out)", fontsize=8)
    fig.suptitle(
        f"SD long first, |B| = {SIZE_B} (|A| = 256, 512, 768; checking profile, d_model 48, f = 24): the B "
        f"tokens that are not the copy, by place;\nshaded: the {reach} places whose short-convolution "
        "windows hold the separator; mean over models ± s.e.",
        fontsize=8,
    )
    fig.tight_layout()
    return fig


def build_places(ctx: FigureContext) -> None:
    rows = load_places(ctx)
    table = place_table(rows)
    save_figure(draw_places(table, int(rows.reach.iloc[0])), "sd_checking_b_places", table, ctx)


FIGURES = {"sd_checking_b_places": build_places}
