"""Which pass's copies of the shared token the kept JRT-Prompt models read: redrawn from
``figures/data/sd_pass_copies_paper.csv`` (``bench/pass_copies.py`` on the paper profile's kept
JR-2 models, each labelled with its mechanism from its record; committed, so no weights are needed
to redraw it).

Each model read the first examples of every test slice with each of the four copies of the
shared token (``A1 B1 A2 B2``: in A and in B, pass 1 and pass 2) kept or replaced
(:mod:`synthetic.analysis.pass_copies`). Top row: accuracy with only a pair of copies kept (and
with all four), short first and long first; bottom row: each pair's interaction (logits) with the
other two copies replaced. One column per d_model; per model the mean over the order's slices,
then the mean ± s.e. over models. A reader that stores the first set and checks the second needs
a copy in A and a later one in B (``A1 B1``); the reader that reading twice allows, storing the
smaller set, needs ``B1 A2`` long first.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from synthetic.plots.common import FigureContext, save_figure

SOURCE = "sd_pass_copies_paper.csv"
#: the column that names each row's model (hex, read as text)
MODEL_COLUMN = "config_hash"
#: the pairs of copies drawn, in this order (the stored-first-set pairs, then the rest)
PAIRS = ("A1 B1", "B1 A2", "A2 B2", "A1 B2", "A1 A2", "B1 B2")
#: the condition that keeps every copy of a JR-2 prompt
ALL_KEPT = "A1 B1 A2 B2"
ORDERS = ("short-first", "long-first")
#: the row kinds of the source a summary reads (``kind`` column) and the value each carries
KINDS = {"condition": "accuracy", "pair, others removed": "interaction", "pair, others kept": "interaction"}


def load_pass_copies(ctx: FigureContext) -> pd.DataFrame:
    """The measured rows of :data:`SOURCE` under ``ctx.data_dir``."""
    path = ctx.data_dir / SOURCE
    if not path.exists():
        raise FileNotFoundError(
            f"no {path}: run `python bench/pass_copies.py --profile paper --out {path}` where the paper "
            "profile's weights are kept"
        )
    return pd.read_csv(path, dtype={MODEL_COLUMN: str})


def model_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per variant, d_model, mechanism, order, ``kind`` and ``what``: ``models``, and the ``mean``
    and ``se`` over models of each model's mean over its slices of the order (accuracy for
    conditions, interaction in logits for pairs)."""
    unknown = sorted(set(rows.kind) - set(KINDS))
    if unknown:
        raise ValueError(f"kinds {unknown} in the rows; allowed: {sorted(KINDS)}")
    value = pd.Series(np.nan, index=rows.index)
    for kind, column in KINDS.items():
        value = value.where(rows.kind != kind, rows[column])
    keys = ["variant", "d_model", "mechanism", "order", "kind", "what"]
    per_model = rows.assign(value=value).groupby([*keys, MODEL_COLUMN]).value.mean().reset_index()
    table = per_model.groupby(keys).value.agg(["count", "mean", "sem"]).reset_index()
    return table.rename(columns={"count": "models", "sem": "se"})


def order_gaps(rows: pd.DataFrame) -> pd.DataFrame:
    """Per variant, d_model, mechanism and condition (``what``, the kept copies): ``models``, the
    mean and s.e. over models of each model's short-first minus long-first accuracy (each order:
    the mean over its slices), and ``ahead``, the models with short first ahead."""
    conditions = rows[(rows.kind == "condition") & rows.order.isin(ORDERS)]
    keys = ["variant", "d_model", "mechanism", "what"]
    per_order = conditions.groupby([*keys, MODEL_COLUMN, "order"]).accuracy.mean().unstack("order")
    gap = (per_order[ORDERS[0]] - per_order[ORDERS[1]]).dropna().rename("gap").reset_index()
    table = gap.groupby(keys).gap.agg(["count", "mean", "sem"])
    table["ahead"] = gap.assign(ahead=gap.gap > 0).groupby(keys).ahead.sum()
    return table.rename(columns={"count": "models", "sem": "se"}).reset_index()


def draw_pass_copies(table: pd.DataFrame) -> plt.Figure:
    """The figure of a :func:`model_summary` table (module docstring); one column per d_model of
    its JRT-Prompt models that check."""
    table = table[(table.mechanism == "checks") & table.order.isin(ORDERS)]
    widths = sorted(table.d_model.unique())
    fig, axes = plt.subplots(2, len(widths), figsize=(5.2 * len(widths), 7.2), squeeze=False, sharey="row")
    colors = dict(zip(ORDERS, sns.color_palette("tab10"), strict=False))
    x = np.arange(len(PAIRS) + 1)
    for col, width in enumerate(widths):
        sub = table[table.d_model == width]
        for row, (kind, labels) in enumerate(
            (("condition", (*PAIRS, ALL_KEPT)), ("pair, others removed", PAIRS))
        ):
            ax = axes[row][col]
            for i, order in enumerate(ORDERS):
                part = sub[(sub.kind == kind) & (sub.order == order)].set_index("what").reindex(list(labels))
                ax.bar(x[: len(labels)] + (i - 0.5) * 0.38, part["mean"], 0.38, yerr=part.se, capsize=2,
                       color=colors[order], label=order)  # fmt: skip
            ax.set_xticks(x[: len(labels)])
            ax.set_xticklabels(["all four" if w == ALL_KEPT else w for w in labels], fontsize=8)
            models = int(sub.models.max()) if len(sub) else 0
            if row == 0:
                ax.set_title(f"d_model {width} ({models} models)", fontsize=9)
                ax.set_ylim(0, 1.02)
            ax.axhline(0, color="0.3", lw=0.6)
            ax.legend(fontsize=7)
        axes[0][col].set_xlabel("copies kept (the others replaced)", fontsize=8)
        axes[1][col].set_xlabel("pair of copies (the other two replaced)", fontsize=8)
    axes[0][0].set_ylabel("accuracy")
    axes[1][0].set_ylabel("interaction of the pair (logits)")
    fig.suptitle(
        "SD, paper scale: the JRT-Prompt models that check membership (the paper code's init, f = 24), "
        "read with copies of the shared token\nreplaced: A1 B1 A2 B2 = its copy in A and in B, pass 1 "
        "and pass 2. Mean over models ± s.e. (per model: mean over the order's 10 test slices)",
        fontsize=8,
    )
    fig.tight_layout()
    return fig


def build_pass_copies(ctx: FigureContext) -> None:
    table = model_summary(load_pass_copies(ctx))
    save_figure(draw_pass_copies(table), "sd_jrt_pass_copies", table, ctx)


FIGURES = {"sd_jrt_pass_copies": build_pass_copies}
