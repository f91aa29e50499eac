"""Training figures: recall accuracy vs recurrent state size by input order (paper Figure 2), and
the order effect against the learning rate. Tables in, figures out: these functions read tidy
results (:func:`synthetic.results.load`); what is trained for a figure is decided in
:mod:`synthetic.figures`.

Glossary: a *run* is one trained model (one config hash); a *setting* is a run without its seed
(variant, d_model, feature_dim, init, lr); an *order* is a group of test slices ("short first":
|A| < |B|, A read first; "long first": |A| > |B|; MQAR "queries-first" / "context-first").

Per run and order, the accuracy is the mean over that order's test slices, and its binomial
standard error ``sqrt(sum_s p_s (1 - p_s) / n_s) / m`` over its m slices of n_s examples. The
*difference* of a run is first minus second order; its standard error combines both.

Two statistics per point (variant, d_model, feature_dim):

- ``"mean"`` (the quick and sensitivity figures): the setting with the best mean accuracy over
  seeds (both orders together) is chosen among the learning rates and inits of the grid; the
  point is the mean over its seeds, drawn with the seeds' range, and the difference's error bar
  is ±1 standard error: the larger of the seeds' standard error of the mean (sd / sqrt(n)) and
  the binomial standard error of the mean.
- ``"max"`` (the paper's Figure 2): per order, the maximum over learning rates and seeds; the
  difference subtracts the two maxima.
"""

from __future__ import annotations

from collections.abc import Callable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

VARIANT_ORDER = ("Based (causal)", "Based (non-causal)", "JRT-Prompt", "JRT-RNN")
POINT_KEYS = ["variant", "d_model", "feature_dim", "paper_state_bytes", "state_bytes"]
STATISTICS = ("mean", "max")
#: decimals of each seed's difference in the sensitivity CSV (``seed values``) and its figure's dots
SEED_DECIMALS = 4

OrderOf = Callable[[pd.DataFrame], pd.Series]


# ------------------------------------------------------------------------------------- orders


def sd_order_of(df: pd.DataFrame) -> pd.Series:
    """ "short first" where |A| < |B| (A is read first), "long first" where |A| > |B|, else None."""
    out = pd.Series(None, index=df.index, dtype=object)
    out[df.A < df.B] = "short first"
    out[df.A > df.B] = "long first"
    return out


def mqar_order_of(df: pd.DataFrame) -> pd.Series:
    """The MQAR slice's ``order`` field ("context-first" / "queries-first")."""
    return df["order"].astype(object)


def sd_chance(df: pd.DataFrame) -> dict[str, float]:
    """Per order: mean over its test slices of 1 / min(|A|, |B|), the accuracy of guessing
    uniformly within the smaller set (the shared token is in both sets)."""
    slices = df.drop_duplicates("slice")
    slices = slices.assign(order=sd_order_of(slices)).dropna(subset=["order"])
    guess = 1.0 / slices[["A", "B"]].min(axis=1)
    return {str(k): float(v) for k, v in guess.groupby(slices.order).mean().items()}


# ------------------------------------------------------------------------------------- tables


def _setting_keys(df: pd.DataFrame) -> list[str]:
    return [*POINT_KEYS, *(k for k in ("init", "lr") if k in df.columns)]


def run_orders(df: pd.DataFrame, order_of: OrderOf, first: str, second: str) -> pd.DataFrame:
    """One row per run: its setting, seed, the accuracy in each order, their binomial standard
    errors (``<order> se``), the difference and its standard error (``difference se``)."""
    if df.empty:
        raise ValueError("no successful runs to plot")
    df = df.assign(order=order_of(df)).dropna(subset=["order"])
    if "init" not in df.columns:
        df = df.assign(init="reference")
    p = df.slice_accuracy.astype(float)
    n = df.slice_labels.astype(float)
    df = df.assign(var=p * (1 - p) / n)
    keys = [*_setting_keys(df), "seed", "config_hash"]
    grouped = df.groupby([*keys, "order"], dropna=False)
    acc = grouped.slice_accuracy.mean().unstack("order")
    se = (np.sqrt(grouped["var"].sum()) / grouped.size()).unstack("order")
    for col in (first, second):
        if col not in acc:
            raise ValueError(f"no test slices of order {col!r} in the results")
    out = pd.DataFrame(
        {
            first: acc[first],
            second: acc[second],
            f"{first} se": se[first],
            f"{second} se": se[second],
        }
    )
    out["difference"] = out[first] - out[second]
    out["difference se"] = np.sqrt(out[f"{first} se"] ** 2 + out[f"{second} se"] ** 2)
    return out.reset_index()


def seeds_error(values: pd.Series, errors: pd.Series) -> tuple[float, float, float]:
    """The error of a mean over n seeds' ``values`` whose binomial standard errors are
    ``errors``: (sd, binomial, se) with sd the seeds' standard deviation (0 for one seed),
    binomial ``sqrt(sum errors^2) / n`` and se the larger of sd / sqrt(n) and binomial."""
    n = len(values)
    sd = values.std(ddof=1) if n > 1 else 0.0
    binomial = float(np.sqrt((errors**2).sum()) / n)
    return sd, binomial, max(sd / np.sqrt(n), binomial)


def _mean_table(runs: pd.DataFrame, first: str, second: str) -> pd.DataFrame:
    keys = _setting_keys(runs)
    runs = runs.assign(both=(runs[first] + runs[second]) / 2)
    by_setting = runs.groupby(keys, dropna=False)
    settings = by_setting.both.mean().rename("mean both").reset_index()
    per_point = settings.groupby(POINT_KEYS, dropna=False)["mean both"]
    best = settings.loc[per_point.idxmax()].assign(settings=per_point.size().to_numpy())
    chosen = runs.merge(best[[*keys, "settings"]], on=keys)
    rows = []
    for key, g in chosen.groupby(keys, dropna=False):
        n = len(g)
        row = dict(zip(keys, key, strict=True))
        for col in (first, second, "difference"):
            row[col] = g[col].mean()
            row[f"{col} min"] = g[col].min()
            row[f"{col} max"] = g[col].max()
            sd, binomial, se = seeds_error(g[col], g[f"{col} se"])
            row[f"{col} sd"] = sd
            row[f"{col} se"] = se
            row[f"{col} binomial se"] = binomial
        row["seeds"] = n
        row["settings"] = int(g.settings.iloc[0])  # settings of the grid compared at this point
        rows.append(row)
    return pd.DataFrame(rows)


def _max_table(runs: pd.DataFrame, first: str, second: str) -> pd.DataFrame:
    grouped = runs.groupby(POINT_KEYS, dropna=False)
    out = pd.DataFrame({first: grouped[first].max(), second: grouped[second].max(), "runs": grouped.size()})
    out["difference"] = out[first] - out[second]
    for col in (first, second):
        out[f"{col} min"] = grouped[col].min()
        out[f"{col} max"] = grouped[col].max()
    return out.reset_index()


def order_table(
    df: pd.DataFrame, order_of: OrderOf, first: str, second: str, *, statistic: str = "mean"
) -> pd.DataFrame:
    """Per point (variant, d_model, feature_dim, state sizes): accuracy in order ``first`` and in
    order ``second`` and their difference, under ``statistic`` ("mean" or "max"; see the module
    docstring), sorted by variant and state. ``mean`` adds ``<col> min/max/sd/se/binomial se``
    for each of the three columns, ``seeds``, and the chosen ``lr`` / ``init``; ``max`` adds
    ``<order> min/max`` and ``runs``."""
    if statistic not in STATISTICS:
        raise ValueError(f"statistic={statistic!r}; allowed: {', '.join(STATISTICS)}")
    runs = run_orders(df, order_of, first, second)
    table = _mean_table(runs, first, second) if statistic == "mean" else _max_table(runs, first, second)
    return table.sort_values(["variant", "paper_state_bytes"]).reset_index(drop=True)


def sensitivity_table(df: pd.DataFrame, order_of: OrderOf, first: str, second: str) -> pd.DataFrame:
    """Per setting (variant, d_model, feature_dim, init, lr): the difference ``first - second``
    as mean over seeds, its standard error (as in :func:`order_table`), min and max, the seeds'
    values as text for the CSV (``seed values``, ';'-separated, :data:`SEED_DECIMALS` decimals;
    :func:`draw_sensitivity` takes them from :func:`run_orders`) and the mean accuracy in each
    order."""
    runs = run_orders(df, order_of, first, second)
    keys = _setting_keys(runs)
    rows = []
    for key, g in runs.groupby(keys, dropna=False):
        rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                first: g[first].mean(),
                second: g[second].mean(),
                "difference": g.difference.mean(),
                "difference se": seeds_error(g.difference, g["difference se"])[2],
                "difference min": g.difference.min(),
                "difference max": g.difference.max(),
                "seeds": len(g),
                "seed values": ";".join(f"{v:.{SEED_DECIMALS}f}" for v in g.sort_values("seed").difference),
            }
        )
    return pd.DataFrame(rows).sort_values(keys).reset_index(drop=True)


# --------------------------------------------------------------------------------------- drawing


def _palette(variants: list[str]) -> dict[str, tuple[float, float, float]]:
    return dict(zip(variants, sns.color_palette("colorblind", len(variants)), strict=True))


def _variants(table: pd.DataFrame) -> list[str]:
    present = set(table.variant)
    return [v for v in VARIANT_ORDER if v in present] + sorted(present - set(VARIANT_ORDER))


def draw_order_panels(
    table: pd.DataFrame,
    first: str,
    second: str,
    title: str,
    *,
    chance: dict[str, float] | None = None,
    statistic: str = "mean",
) -> plt.Figure:
    """Three panels against the paper-convention state size (bytes, log x): accuracy in order
    ``first``, in order ``second`` (shaded: the range over seeds, or over runs for "max"), and
    their difference (error bars ±1 standard error for "mean"). ``chance`` (per order) draws a
    dotted reference line in the accuracy panels."""
    return draw_order_rows({"": table}, first, second, title, chance=chance, statistic=statistic)


def draw_order_rows(
    tables: dict[str, pd.DataFrame],
    first: str,
    second: str,
    title: str,
    *,
    chance: dict[str, float] | None = None,
    statistic: str = "mean",
    counts: bool = False,
) -> plt.Figure:
    """:func:`draw_order_panels` once per row: ``tables`` maps a row's label (e.g. the
    initialisation protocol; "" for none) to its :func:`order_table`. With ``counts`` each point
    is labelled by how many runs ("max": ``runs``) or seeds ("mean": ``seeds``) stand behind it."""
    tables = {label: t for label, t in tables.items() if not t.empty}
    if not tables:
        raise ValueError("no rows to draw: every table is empty")
    variants = _variants(pd.concat(tables.values()))
    palette = _palette(variants)
    rows = len(tables)
    fig, grid = plt.subplots(rows, 3, figsize=(14, 4.2 * rows), sharex=True, squeeze=False)
    for axes, (label, table) in zip(grid, tables.items(), strict=True):
        _draw_row(axes, table, variants, palette, first, second, chance, statistic, counts, label)
    grid[0][0].legend(fontsize=8, loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _draw_row(
    axes: list[plt.Axes],
    table: pd.DataFrame,
    variants: list[str],
    palette: dict[str, tuple[float, float, float]],
    first: str,
    second: str,
    chance: dict[str, float] | None,
    statistic: str,
    counts: bool,
    label: str,
) -> None:
    """One row of :func:`draw_order_rows`: the two orders' accuracies and their difference."""
    ylabel = "accuracy (mean over seeds)" if statistic == "mean" else "accuracy (best over LR, seeds)"
    prefix = f"{label}:\n" if label else ""  # on its own line: three long titles share a row
    panels = [
        (first, f"{prefix}{first}: accuracy"),
        (second, f"{prefix}{second}: accuracy"),
        ("difference", f"{prefix}{first} − {second}"),
    ]
    count_col = "seeds" if statistic == "mean" else "runs"
    for ax, (col, panel_title) in zip(axes, panels, strict=True):
        for variant in variants:
            sub = table[table.variant == variant].sort_values("paper_state_bytes")
            if sub.empty:
                continue
            x, color = sub.paper_state_bytes, palette[variant]
            if col == "difference" and f"{col} se" in sub:
                ax.errorbar(x, sub[col], yerr=sub[f"{col} se"], marker="o", ms=4, lw=1.2, capsize=3,
                            label=variant, color=color)  # fmt: skip
            else:
                ax.plot(x, sub[col], marker="o", ms=4, lw=1.2, label=variant, color=color)
            if f"{col} min" in sub and col != "difference":
                ax.fill_between(x, sub[f"{col} min"], sub[f"{col} max"], color=color, alpha=0.15, lw=0)
            if counts and count_col in sub:
                for xi, yi, n in zip(x, sub[col], sub[count_col], strict=True):
                    ax.annotate(f"{int(n)}", (xi, yi), xytext=(3, 3), textcoords="offset points",
                                fontsize=6, color=color)  # fmt: skip
        ax.set_xscale("log")
        ticks = sorted(set(table.paper_state_bytes))
        if len(ticks) <= 8:  # label the measured sizes; a narrow log range has unreadable minor labels
            ax.xaxis.set_major_locator(FixedLocator(ticks))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.tick_params(axis="x", labelrotation=30)
        ax.set_xlabel("recurrent state (bytes, fp32, paper convention)")
        ax.set_title(panel_title)
        ax.grid(alpha=0.3, which="both")
        if col == "difference":
            ax.axhline(0.0, color="0.3", lw=0.8)
            ax.set_ylabel("difference (±1 s.e.)" if statistic == "mean" else "difference of the maxima")
        else:
            ax.set_ylim(-0.02, 1.02)
            ax.set_ylabel(ylabel)
            if chance is not None and col in chance:
                ax.axhline(chance[col], color="0.5", ls=":", lw=1.0, label="guess in the smaller set")


def draw_sensitivity(
    table: pd.DataFrame, runs: pd.DataFrame, first: str, second: str, title: str
) -> plt.Figure:
    """One panel per (variant, d_model): the difference ``first - second`` against the learning
    rate (log x), one line per init scheme (mean over seeds, ±1 standard error:
    :func:`sensitivity_table`), each seed a dot (its run in ``runs``, :func:`run_orders`, drawn
    at the :data:`SEED_DECIMALS` decimals the CSV gives it)."""
    panels = table[["variant", "d_model"]].drop_duplicates()
    panels = panels.assign(rank=panels.variant.map({v: i for i, v in enumerate(_variants(table))}))
    panels = panels.sort_values(["rank", "d_model"])
    cols = int(table.d_model.nunique())
    rows = int(np.ceil(len(panels) / cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(4.6 * cols, 3.6 * rows), sharex=True, sharey=True, squeeze=False
    )
    inits = sorted(set(table.init))
    colors = dict(zip(inits, sns.color_palette("dark", len(inits)), strict=True))
    for ax, (_, panel) in zip(axes.flat, panels.iterrows(), strict=False):
        sub = table[(table.variant == panel.variant) & (table.d_model == panel.d_model)]
        panel_runs = runs[(runs.variant == panel.variant) & (runs.d_model == panel.d_model)]
        for init in inits:
            line = sub[sub.init == init].sort_values("lr")
            ax.errorbar(line.lr, line.difference, yerr=line["difference se"], marker="o", ms=4, lw=1.2,
                        capsize=3, color=colors[init], label=f"init {init}")  # fmt: skip
            init_runs = panel_runs[panel_runs.init == init]
            for lr in line.lr:
                differences = init_runs[init_runs.lr == lr].sort_values("seed").difference
                seeds = [round(v, SEED_DECIMALS) for v in differences]  # as the CSV's seed values
                ax.scatter([lr] * len(seeds), seeds, s=9, color=colors[init], alpha=0.45, lw=0)
        ax.axhline(0.0, color="0.3", lw=0.8)
        ax.set_xscale("log")
        lrs = sorted(set(table.lr))
        ax.xaxis.set_major_locator(FixedLocator(lrs))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"{panel.variant}, d_model {panel.d_model}", fontsize=10)
        ax.grid(alpha=0.3, which="both")
    for ax in axes[-1]:
        ax.set_xlabel("learning rate")
    for ax in axes[:, 0]:
        ax.set_ylabel(f"{first} − {second}")
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def seed_table(df: pd.DataFrame, order_of: OrderOf, first: str, second: str) -> pd.DataFrame:
    """One row per run (:func:`run_orders`), sorted by variant and seed, with ``mean difference``
    and ``mean difference se`` of its setting (the seeds' standard error of the mean or the
    binomial one, whichever is larger, as in :func:`order_table`) and ``positive`` /
    ``seeds``: how many of the setting's seeds have ``first`` ahead."""
    runs = run_orders(df, order_of, first, second)
    keys = _setting_keys(runs)
    grouped = runs.groupby(keys, dropna=False).difference
    errors = runs["difference se"]
    runs = runs.assign(
        **{
            "mean difference": grouped.transform("mean"),
            "mean difference se": grouped.transform(lambda d: seeds_error(d, errors[d.index])[2]),
            "positive": grouped.transform(lambda d: int((d > 0).sum())),
            "seeds": grouped.transform("size"),
        }
    )
    rank = runs.variant.map({v: i for i, v in enumerate(_variants(runs))})
    return runs.assign(rank=rank).sort_values(["rank", *keys[1:], "seed"]).drop(columns="rank")


def draw_seed_spread(table: pd.DataFrame, first: str, second: str, title: str) -> plt.Figure:
    """Two panels over the variants of one setting each (:func:`seed_table`): left, every seed's
    difference ``first - second`` (dots) with the mean ±1 standard error and the count of seeds
    with ``first`` ahead; right, every seed's accuracy in both orders, a line joining each run."""
    variants = _variants(table)
    colors = _palette(variants)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.4))
    for i, variant in enumerate(variants):
        sub = table[table.variant == variant].sort_values("seed")
        spread = (np.arange(len(sub)) / max(1, len(sub) - 1) - 0.5) * 0.36  # fixed offsets, no randomness
        left.scatter(i + spread, sub.difference, s=14, color=colors[variant], alpha=0.7, lw=0)
        mean, se = float(sub["mean difference"].iloc[0]), float(sub["mean difference se"].iloc[0])
        left.errorbar([i], [mean], yerr=[se], fmt="D", ms=6, color="black", capsize=4, lw=1.4)
        left.annotate(f"{int(sub.positive.iloc[0])}/{len(sub)} > 0", (i, mean), xytext=(14, -3),
                      textcoords="offset points", fontsize=8)  # fmt: skip
        for _, run in sub.iterrows():
            right.plot([2 * i, 2 * i + 1], [run[first], run[second]], color=colors[variant], alpha=0.4,
                       lw=0.8, marker="o", ms=3)  # fmt: skip
    left.axhline(0.0, color="0.3", lw=0.8)
    left.set_xticks(range(len(variants)), variants, fontsize=9)
    left.set_ylabel(f"{first} − {second} accuracy")
    left.set_title("per seed, with mean ± 1 s.e.", fontsize=10)
    right.set_xticks(
        [x for i in range(len(variants)) for x in (2 * i, 2 * i + 1)],
        [o.replace(" ", "\n") for _ in variants for o in (first, second)],
        fontsize=7,
    )
    handles = [plt.Line2D([], [], color=colors[v], marker="o", ms=4, lw=0.8, label=v) for v in variants]
    right.legend(handles=handles, fontsize=7)
    right.set_ylabel("accuracy")
    right.set_title("per seed, both orders", fontsize=10)
    for ax in (left, right):
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
