"""Accuracy by where the shared token sits, for the paper-scale models of the checking profile:
redrawn from ``figures/data/sd_accuracy_by_position_checking.csv`` (``bench/accuracy_by_position.py``
on the profile's kept models, each labelled with its mechanism from its record; committed, so no
weights or GPU are needed to redraw it).

Panels: columns are (variant, mechanism): the models that check membership and, as the control,
those that count; the top row holds the short-first slices whose second set is long
(|B| >= 256), accuracy by the quarter of B that holds the shared token's copy; the bottom row the
long-first slices whose first set is long (|A| >= 256), by the quarter of A that holds it. Each
line is one slice; a point is the mean over the panel's models, its bar the binomial standard
error of that mean (examples of all models pooled). Each panel's title gives the fall from the
first quarter to the last (per model: mean over its slices; then mean ± s.e. over models).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from synthetic.analysis.positions import prefix_and_suffix_slopes
from synthetic.plots.common import FigureContext, save_figure

SOURCE = "sd_accuracy_by_position_checking.csv"
#: the same models in eighths of each set (``--quarters 8``): |B| = 256 and 768 line up
SOURCE_EIGHTHS = "sd_accuracy_by_position_checking_eighths.csv"
#: the causal models read with the copy's linear-attention read swapped (``bench/first_set_read.py``)
SOURCE_SWAP = "sd_first_set_read_checking.csv"
#: the same read on every short-first and every long-first test slice (``--slices`` all ten short-first
#: pairs; ``--order long-first``): the two orders of each mirror pair
SOURCES_ORDER = ("sd_first_set_read_checking_all_slices.csv", "sd_first_set_read_checking_long_first.csv")
#: the paper profile's ten short-first test pairs, as ``--slices`` takes them
ALL_SHORT_FIRST = "1,32 4,32 4,128 4,256 16,256 4,512 16,512 4,768 8,768 16,768"
MIN_LONG = 256  # the long set of a plotted slice has at least this many tokens


def load_positions(ctx: FigureContext, source: str = SOURCE) -> pd.DataFrame:
    """The measured rows (one per model, slice, set and part) of ``source`` under ``ctx.data_dir``."""
    path = ctx.data_dir / source
    if not path.exists():
        parts = {
            SOURCE_EIGHTHS: " --quarters 8 --min-size 256",
            SOURCES_ORDER[0]: f" --slices {ALL_SHORT_FIRST}",
            SOURCES_ORDER[1]: " --order long-first",
        }.get(source, "")  # fmt: skip
        swapped = source == SOURCE_SWAP or source in SOURCES_ORDER
        script = "first_set_read.py" if swapped else "accuracy_by_position.py"
        raise FileNotFoundError(
            f"no {path}: run `python bench/{script} --profile checking{parts} --out {path}` "
            "where the checking profile's weights are kept"
        )
    return pd.read_csv(path)


def drawn_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows the figure draws (the long set's quarters, long set of at least :data:`MIN_LONG`
    tokens) with their ``order``; rows without a ``mechanism`` column are a ValueError."""
    if "mechanism" not in rows.columns:
        raise ValueError(
            "the accuracy-by-position rows have no 'mechanism' column: run "
            "`python bench/accuracy_by_position.py --label CSV` where the profile's records are"
        )
    short_first = (rows.size_a < rows.size_b) & (rows.size_b >= MIN_LONG) & (rows.set == "B")
    long_first = (rows.size_a > rows.size_b) & (rows.size_a >= MIN_LONG) & (rows.set == "A")
    kept = rows[short_first | long_first].copy()
    kept["order"] = np.where(kept.size_a < kept.size_b, "short-first", "long-first")
    return kept


def position_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per variant, slice, set and quarter: models, examples, mean accuracy over models and its
    binomial standard error; only the rows the figure draws (the long set's quarters, long set of
    at least :data:`MIN_LONG` tokens)."""
    kept = drawn_rows(rows)
    keys = ["variant", "mechanism", "order", "slice", "size_a", "size_b", "set", "quarter"]
    table = kept.groupby(keys, sort=True).agg(models=("config_hash", "nunique"), n=("n", "sum"))
    table["accuracy"] = kept.groupby(keys).accuracy.mean()
    # the mean over models of binomial proportions: variance = sum p(1-p)/n_m / models^2
    variance = kept.assign(v=kept.accuracy * (1 - kept.accuracy) / kept.n).groupby(keys).v.sum()
    table["se"] = np.sqrt(variance) / table.models
    return table.reset_index()


def model_falls(rows: pd.DataFrame) -> pd.DataFrame:
    """Per model and order: accuracy in the long set's first quarter minus its last, the mean over
    the model's drawn slices (those of :func:`position_table`). Columns ``variant``, ``mechanism``,
    ``order``, ``config_hash``, ``fall``."""
    kept = drawn_rows(rows)
    last = kept.quarter.max()
    keys = ["variant", "mechanism", "order", "config_hash", "slice"]
    first_acc = kept[kept.quarter == 0].set_index(keys).accuracy
    last_acc = kept[kept.quarter == last].set_index(keys).accuracy
    per_slice = (first_acc - last_acc).rename("fall").reset_index()
    return per_slice.groupby(keys[:-1], as_index=False).fall.mean()


def draw_positions(table: pd.DataFrame, falls: pd.DataFrame) -> plt.Figure:
    """The figure of a :func:`position_table`: columns (variant, mechanism), rows the orders; each
    title with the :func:`model_falls` mean ± s.e. over the panel's models."""
    panels = sorted(set(zip(table.variant, table.mechanism, strict=True)))
    orders = ["short-first", "long-first"]
    fig, axes = plt.subplots(2, len(panels), figsize=(3.6 * len(panels), 6.6), squeeze=False, sharey=True)
    for col, (variant, mechanism) in enumerate(panels):
        for row, order in enumerate(orders):
            ax = axes[row][col]
            sub = table[(table.variant == variant) & (table.mechanism == mechanism) & (table.order == order)]
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
            which = "B (second)" if order == "short-first" else "A (first)"
            fall = falls[
                (falls.variant == variant) & (falls.mechanism == mechanism) & (falls.order == order)
            ].fall
            se = fall.std(ddof=1) / np.sqrt(len(fall)) if len(fall) > 1 else float("nan")
            ax.set_title(
                f"{variant}, {mechanism}, {order}\n{models} model{'s' if models != 1 else ''}; "
                f"first - last quarter {fall.mean():+.3f} ± {se:.3f}",
                fontsize=8,
            )
            ax.set_xlabel(f"quarter of {which} holding the shared token", fontsize=8)
            ax.set_xticks([1, 2, 3, 4])
            ax.set_ylim(0, 1.02)
            if col == 0:
                ax.set_ylabel("accuracy")
            ax.legend(fontsize=6)
    fig.suptitle(
        "SD, paper scale (d_model 48, f = 24, checking profile): accuracy by the shared token's position, "
        "models that check membership and models that count\nmean over models ± binomial s.e.; "
        "title: fall from the first quarter to the last, mean ± s.e. over models",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def build_positions(ctx: FigureContext) -> None:
    rows = load_positions(ctx)
    table = position_table(rows)
    save_figure(draw_positions(table, model_falls(rows)), "sd_checking_by_position", table, ctx)


def before_after_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per model: :func:`~synthetic.analysis.positions.prefix_and_suffix_slopes` with its
    ``variant``, ``mechanism`` and ``seed``."""
    drawn_rows(rows)  # the mechanism column is required
    about = rows.drop_duplicates("config_hash")[["config_hash", "variant", "mechanism", "seed"]]
    return prefix_and_suffix_slopes(rows).merge(about, on="config_hash")


def draw_before_after(table: pd.DataFrame) -> plt.Figure:
    """Each model a point: accuracy lost per 100 tokens of B after the shared token's copy (x)
    against per 100 tokens before it (y), one marker per (variant, mechanism); the diagonal is a
    model for which only |B| matters, not where the copy sits."""
    fig, ax = plt.subplots(figsize=(6.2, 5.4))
    groups = sorted(set(zip(table.variant, table.mechanism, strict=True)))
    markers = {"checks": "o", "counts": "x", "not analysed": "s"}
    colors = dict(zip(sorted(set(table.variant)), sns.color_palette("tab10"), strict=False))
    for variant, mechanism in groups:
        one = table[(table.variant == variant) & (table.mechanism == mechanism)]
        ax.scatter(one.s_after, one.s_before, marker=markers.get(mechanism, "^"), color=colors[variant],
                   s=40, label=f"{variant}, {mechanism} ({len(one)})")  # fmt: skip
    top = float(np.nanmax([table.s_before.max(), table.s_after.max(), 0.05])) * 1.1
    low = float(np.nanmin([table.s_before.min(), table.s_after.min(), 0.0])) - 0.01
    ax.plot([low, top], [low, top], color="grey", lw=0.8, ls="--", label="only |B| matters")
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_xlabel("accuracy lost per 100 tokens of B after the copy")
    ax.set_ylabel("accuracy lost per 100 tokens of B before the copy")
    ax.set_title(
        "SD, paper scale (d_model 48, f = 24, checking profile), short-first, |B| >= 256:\n"
        "where in B the shared token's copy sits, one point per model",
        fontsize=9,
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def build_before_after(ctx: FigureContext) -> None:
    table = before_after_table(load_positions(ctx, SOURCE_EIGHTHS))
    save_figure(draw_before_after(table), "sd_checking_before_after", table, ctx)


def model_accuracies(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per ``keys`` and model (``config_hash``): the model's ``accuracy`` with its rows of those
    keys pooled by their examples (``n``; rows with none are left out)."""
    counted = rows[rows.n > 0]
    pooled = (
        counted.assign(right=counted.accuracy * counted.n)
        .groupby([*keys, "config_hash"])[["right", "n"]]
        .sum()
    )
    return (pooled.right / pooled.n).rename("accuracy").reset_index()


def model_means(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per ``keys``: ``models``, and the mean (``accuracy``) ± s.e. (``se``) over models of
    :func:`model_accuracies`."""
    table = model_accuracies(rows, keys).groupby(keys).accuracy.agg(["mean", "sem", "count"])
    return table.rename(columns={"mean": "accuracy", "sem": "se", "count": "models"}).reset_index()


def swap_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (variant, mechanism, way, quarter of B): models, and the mean ± s.e. over models of each
    model's accuracy in that quarter (its examples of all the slices pooled)."""
    return model_means(rows, ["variant", "mechanism", "way", "quarter"])


def _finish_panel(ax: plt.Axes, sub: pd.DataFrame, variant: str, mechanism: str) -> None:
    """A first-set-read panel's title (with its models), accuracy axis and legend."""
    models = int(sub.models.max()) if len(sub) else 0
    ax.set_title(f"{variant}, {mechanism} ({models} models)", fontsize=9)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7)


def draw_swap(table: pd.DataFrame) -> plt.Figure:
    """The figure of a :func:`swap_table`: one panel per (variant, mechanism), one line per way."""
    panels = sorted(set(zip(table.variant, table.mechanism, strict=True)))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.2), squeeze=False, sharey=True)
    ways = list(dict.fromkeys(table.way))
    colors = dict(zip(ways, sns.color_palette("tab10"), strict=False))
    for ax, (variant, mechanism) in zip(axes[0], panels, strict=True):
        sub = table[(table.variant == variant) & (table.mechanism == mechanism)]
        for way in ways:
            one = sub[sub.way == way].sort_values("quarter")
            ax.errorbar(one.quarter + 1, one.accuracy, yerr=one.se, marker="o", ms=3, capsize=2,
                        color=colors[way], label=way)  # fmt: skip
        ax.set_xlabel("quarter of B (second) holding the shared token", fontsize=8)
        ax.set_xticks(sorted(int(q) + 1 for q in sub.quarter.unique()))
        _finish_panel(ax, sub, variant, mechanism)
    axes[0][0].set_ylabel("accuracy")
    fig.suptitle(
        "SD, paper scale (d_model 48, f = 24, checking profile), short-first slices with a long B: "
        "the copy's linear-attention read as trained,\nor from the state after the first set alone "
        "(at the copy; at another B token, the control); mean over models ± s.e.",
        fontsize=8,
    )
    fig.tight_layout()
    return fig


def build_swap(ctx: FigureContext) -> None:
    table = swap_table(load_positions(ctx, SOURCE_SWAP))
    save_figure(draw_swap(table), "sd_checking_first_set_read", table, ctx)


#: the ways :func:`draw_order` draws (the control stays in the table)
ORDER_WAYS = ("as trained", "copy reads A alone")


#: the keys of an :func:`order_table` row
ORDER_KEYS = ["variant", "mechanism", "way", "size_a", "size_b"]


def _with_pair(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with ``order`` (short-first where |A| < |B|) and the pair's ``short`` and
    ``long`` set sizes, whichever comes first."""
    return table.assign(
        order=np.where(table.size_a < table.size_b, "short-first", "long-first"),
        short=table[["size_a", "size_b"]].min(axis=1),
        long=table[["size_a", "size_b"]].max(axis=1),
    )


def order_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (variant, mechanism, way, order, mirror pair): models, and the mean ± s.e. over models of
    each model's accuracy on the slice (its parts pooled), with ``order``, ``short`` and ``long``."""
    return _with_pair(model_means(rows, ORDER_KEYS))


def order_models(rows: pd.DataFrame) -> pd.DataFrame:
    """Each model's accuracy on each slice (its parts pooled): the points behind an
    :func:`order_table`, with ``order``, ``short`` and ``long``."""
    return _with_pair(model_accuracies(rows, ORDER_KEYS))


def draw_order(table: pd.DataFrame, per_model: pd.DataFrame | None = None) -> plt.Figure:
    """The figure of an :func:`order_table`: one panel per (variant, mechanism); x the mirror pairs
    (short / long set sizes, by the long set's size); one line per order and way of
    :data:`ORDER_WAYS`; with ``per_model`` (:func:`order_models`), each model's line of the read
    against A alone, faint."""
    panels = sorted(set(zip(table.variant, table.mechanism, strict=True)))
    pairs = sorted(set(zip(table.long, table.short, strict=True)))
    at = {pair: i for i, pair in enumerate(pairs)}
    fig, axes = plt.subplots(1, len(panels), figsize=(5.4 * len(panels), 4.4), squeeze=False, sharey=True)
    colors = dict(zip(("short-first", "long-first"), sns.color_palette("tab10"), strict=False))
    styles = dict(zip(ORDER_WAYS, ("--", "-"), strict=True))
    for ax, (variant, mechanism) in zip(axes[0], panels, strict=True):
        sub = table[(table.variant == variant) & (table.mechanism == mechanism)]
        if per_model is not None:
            chosen = (per_model.variant == variant) & (per_model.mechanism == mechanism)
            mine = per_model[chosen & (per_model.way == ORDER_WAYS[1])]
            for (order, _), one in mine.groupby(["order", "config_hash"]):
                one = one.assign(
                    x=[at[(a, b)] for a, b in zip(one.long, one.short, strict=True)]
                ).sort_values("x")
                ax.plot(one.x, one.accuracy, color=colors[order], lw=0.7, alpha=0.3)
        for order in ("short-first", "long-first"):
            for way in ORDER_WAYS:
                one = sub[(sub.order == order) & (sub.way == way)]
                x = [at[(a, b)] for a, b in zip(one.long, one.short, strict=True)]
                one = one.assign(x=x).sort_values("x")
                ax.errorbar(one.x, one.accuracy, yerr=one.se, marker="o", ms=3, capsize=2, ls=styles[way],
                            color=colors[order], label=f"{order}, {way}")  # fmt: skip
        ax.set_xticks(range(len(pairs)), [f"{s} / {lg}" for lg, s in pairs], rotation=45, fontsize=7)
        ax.set_xlabel("mirror pair: short / long set", fontsize=8)
        _finish_panel(ax, sub, variant, mechanism)
    axes[0][0].set_ylabel("accuracy")
    fig.suptitle(
        "SD, paper scale (d_model 48, f = 24, checking profile): each pair in both orders, the copy's "
        "linear-attention read as trained (dashed)\nor from the state after the first set alone (solid): "
        "the check against the first set and nothing of B; mean over models ± s.e. (each model's read faint)",
        fontsize=8,
    )
    fig.tight_layout()
    return fig


def build_order(ctx: FigureContext) -> None:
    rows = pd.concat([load_positions(ctx, source) for source in SOURCES_ORDER], ignore_index=True)
    table = order_table(rows)
    save_figure(draw_order(table, order_models(rows)), "sd_checking_first_set_order", table, ctx)


FIGURES = {
    "sd_checking_by_position": build_positions,
    "sd_checking_before_after": build_before_after,
    "sd_checking_first_set_read": build_swap,
    "sd_checking_first_set_order": build_order,
}
