"""What trained SD models compute, drawn from the analyses kept in their records
(:func:`synthetic.results.load_mechanism`; the numbers of :mod:`synthetic.analysis`).

Tables in, figures out. Per (variant, d_model, feature dim, init) and over the runs in each group
(seeds; at the paper profile also its two learning rates):

- :func:`intervention_table`: the copy intervention by order (short-first / long-first): the
  shared token's final logit gained from its first-set copy and from its second-set copy (the
  other present), and their interaction (both - first only - second only + none). Counting adds
  the copies' evidence (interaction about 0); checking the second set against a stored first set
  needs both (a large positive interaction).
- :func:`matched_table`: the order effect (short-first minus long-first accuracy) over all test
  examples and at matched copy positions (by column and by index in the set), averaged over the
  mirror pairs of test slices. Position weighting predicts 0 at matched positions; a bounded
  memory of the first set about the whole effect.

Each value is the mean over seeds with ±1 standard error: the larger of the seeds' standard error
of the mean and the mean of the runs' own standard errors over sqrt(n)
(:func:`synthetic.plots.training.seeds_error`).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from synthetic.analysis.intervention import CHECKING_LOGITS, checks_membership
from synthetic.plots.training import VARIANT_ORDER, seeds_error
from synthetic.results import ResultsStore, load_mechanism

GROUP = ["variant", "d_model", "feature_dim", "init"]
INTERVENTION_COLUMNS = ("accuracy", "gain_first", "gain_second", "interaction")
ORDERS = ("short-first", "long-first")


def _over_seeds(runs: pd.DataFrame, keys: list[str], columns: tuple[str, ...]) -> pd.DataFrame:
    """Mean over the runs of each group of ``keys`` for each column (``<col> se`` beside it)."""
    rows = []
    for key, g in runs.groupby(keys, dropna=False, sort=True):
        row = dict(zip(keys, key, strict=True))
        for col in columns:
            _, _, se = seeds_error(g[col], g[f"{col}_se"])
            row[col], row[f"{col} se"] = float(g[col].mean()), float(se)
        row["seeds"] = len(g)
        rows.append(row)
    return pd.DataFrame(rows)


def intervention_table(by_order: pd.DataFrame) -> pd.DataFrame:
    """``load_mechanism(..., "intervention_by_order")`` -> per (variant, d_model, feature_dim,
    init, order):
    accuracy, gain_first, gain_second and interaction (logits), each with ``<col> se``, and
    ``seeds``."""
    missing = [c for c in (*GROUP, "order", *INTERVENTION_COLUMNS) if c not in by_order.columns]
    if missing:
        raise ValueError(f"no intervention rows with column(s) {missing} (were the runs analysed?)")
    rows = by_order[by_order.order.isin(ORDERS)]
    return _over_seeds(rows, [*GROUP, "order"], INTERVENTION_COLUMNS)


def matched_table(matched: pd.DataFrame) -> pd.DataFrame:
    """``load_mechanism(..., "matched")`` -> per (variant, d_model, feature_dim, init, matching): the order
    effect over all examples (``difference``) and at matched copy positions
    (``matched_difference``), each the mean over a run's mirror pairs, then over seeds (with
    ``<col> se``), and ``seeds``."""
    missing = [
        c for c in (*GROUP, "matching", "difference", "matched_difference") if c not in matched.columns
    ]
    if missing:
        raise ValueError(f"no matched rows with column(s) {missing} (were the runs analysed?)")
    per_run = (
        matched.groupby([*GROUP, "matching", "config_hash"], dropna=False)
        .agg(
            difference=("difference", "mean"),
            difference_se=("difference_se", lambda s: float(np.sqrt((s**2).sum()) / len(s))),
            matched_difference=("matched_difference", "mean"),
            matched_difference_se=("matched_difference_se", lambda s: float(np.sqrt((s**2).sum()) / len(s))),
        )
        .reset_index()
    )
    return _over_seeds(per_run, [*GROUP, "matching"], ("difference", "matched_difference"))


def mirror_interactions(by_slice: pd.DataFrame) -> pd.DataFrame:
    """``load_mechanism(..., "intervention_by_slice")`` -> one row per run and mirror pair of test
    slices ((|A|, |B|) = (a, b) short first and (b, a) long first, a < b): the run's keys
    (:data:`GROUP`, ``lr``, ``seed``, ``config_hash``), ``short`` = a and ``long`` = b, and per
    order (``short-first``, ``long-first``) the accuracy and the interaction of the two copies
    (logits), each with its standard error (``<col> se``), then the short-first minus long-first
    difference of each with the standard error of a difference of independent estimates
    (``accuracy difference``, ``interaction difference`` and their ``se``). Slices without a mirror
    are left out."""
    needed = [*GROUP, "lr", "seed", "config_hash", "slice", "accuracy", "interaction"]
    missing = [c for c in [*needed, "accuracy_se", "interaction_se"] if c not in by_slice.columns]
    if missing:
        raise ValueError(f"no intervention rows by slice with column(s) {missing} (were the runs analysed?)")
    sizes = by_slice.slice.str.extract(r"^A=(\d+),B=(\d+)$")
    if sizes.isna().any().any():
        bad = by_slice.slice[sizes.isna().any(axis=1)].unique().tolist()
        raise ValueError(f"slice names {bad[:3]} are not of the form 'A=<int>,B=<int>'")
    table = by_slice.assign(A=sizes[0].astype(int), B=sizes[1].astype(int))
    keys = [*GROUP, "lr", "seed", "config_hash"]
    short = table[table.A < table.B].assign(short=lambda t: t.A, long=lambda t: t.B)
    long = table[table.A > table.B].assign(short=lambda t: t.B, long=lambda t: t.A)
    cols = ["accuracy", "accuracy_se", "interaction", "interaction_se"]
    pairs = short[[*keys, "short", "long", *cols]].merge(
        long[["config_hash", "short", "long", *cols]],
        on=["config_hash", "short", "long"],
        suffixes=("_s", "_l"),
    )
    out = pairs[[*keys, "short", "long"]].copy()
    for col in ("accuracy", "interaction"):
        for order, suffix in (("short-first", "_s"), ("long-first", "_l")):
            out[f"{col} {order}"] = pairs[col + suffix]
            out[f"{col} {order} se"] = pairs[f"{col}_se{suffix}"]
        out[f"{col} difference"] = pairs[col + "_s"] - pairs[col + "_l"]
        out[f"{col} difference se"] = np.hypot(pairs[f"{col}_se_s"], pairs[f"{col}_se_l"])
    return out.sort_values([*keys, "short", "long"]).reset_index(drop=True)


def checking_runs(by_order: pd.DataFrame, threshold: float = CHECKING_LOGITS) -> list[str]:
    """The ``config_hash`` of each run whose copies interact by more than ``threshold`` logits in
    both orders (``load_mechanism(..., "intervention_by_order")``; the rule of
    :func:`synthetic.analysis.intervention.checks_membership`, applied run by run, so a NaN
    interaction or a missing order never counts): models that need both copies of the shared
    token, i.e. check one set against the other, rather than count (interaction about 0). Sorted."""
    missing = [c for c in ("config_hash", "order", "interaction") if c not in by_order.columns]
    if missing:
        raise ValueError(f"no intervention rows by order with column(s) {missing} (were the runs analysed?)")
    return sorted(str(h) for h, g in by_order.groupby("config_hash") if checks_membership(g, threshold))


#: a run's mechanism label: its copies interact in both orders (:func:`checking_runs`), it was
#: analysed and they do not, or it has no copy intervention in its record
MECHANISMS = ("checks", "counts", "not analysed")


def run_mechanisms(runs_file: str | Path, threshold: float = CHECKING_LOGITS) -> dict[str, str]:
    """``config_hash`` -> one of :data:`MECHANISMS` for every ok run of ``runs_file``."""
    by_order = load_mechanism(runs_file, "intervention_by_order")
    analysed = set(by_order.config_hash) if not by_order.empty else set()
    checking = set(checking_runs(by_order, threshold)) if analysed else set()
    out = {}
    for run, rec in ResultsStore(runs_file).latest().items():
        if rec.get("status") == "ok":
            out[run] = "checks" if run in checking else "counts" if run in analysed else "not analysed"
    return out


def label_mechanisms(table: pd.DataFrame, runs_file: str | Path) -> pd.DataFrame:
    """``table`` (one row per model and measurement, column ``config_hash``) with its ``mechanism``
    column (re)written from ``runs_file`` (:func:`run_mechanisms`), right after ``config_hash``; a
    model without an ok record there is a ValueError naming it."""
    known = run_mechanisms(runs_file)
    missing = sorted(set(table.config_hash) - set(known))
    if missing:
        raise ValueError(f"config_hash {', '.join(missing)} has no ok record in {runs_file}")
    table = table.drop(columns="mechanism", errors="ignore")
    table.insert(table.columns.get_loc("config_hash") + 1, "mechanism", table.config_hash.map(known))
    return table


def relabel_csv(
    csv: str | Path, runs_file: str | Path, *, untrained: bool = False
) -> dict[tuple[str, str], int]:
    """Rewrite the ``mechanism`` column of a per-model CSV (:func:`label_mechanisms`; ``untrained``:
    the CSV holds the models the runs started from, all labelled ``untrained``) and return how
    many models each (variant, mechanism) has."""
    labelled = label_mechanisms(pd.read_csv(csv), runs_file)
    if untrained:  # the trained run's label does not apply to its initial model
        labelled["mechanism"] = "untrained"
    labelled.to_csv(csv, index=False)
    return labelled.drop_duplicates("config_hash").groupby(["variant", "mechanism"]).size().to_dict()


def checking_pairs(
    by_slice: pd.DataFrame, by_order: pd.DataFrame, threshold: float = CHECKING_LOGITS
) -> pd.DataFrame:
    """:func:`mirror_interactions` of the :func:`checking_runs` alone (``load_mechanism``'s
    ``intervention_by_slice`` and ``intervention_by_order`` of the same runs); an empty frame when
    nothing is analysed or no run checks."""
    ids = checking_runs(by_order, threshold) if not by_order.empty else []
    if not ids:
        return pd.DataFrame()
    return mirror_interactions(by_slice[by_slice.config_hash.isin(ids)])


def _variants(table: pd.DataFrame) -> list[str]:
    present = set(table.variant)
    return [v for v in VARIANT_ORDER if v in present] + sorted(present - set(VARIANT_ORDER))


def _dots(ax: plt.Axes, variants: list[str], series: list[tuple[str, pd.DataFrame, str]]) -> None:
    """One point with a ±1 s.e. bar per variant and series (label, rows by variant, column)."""
    width = 0.8 / max(len(series), 1)
    for i, (label, rows, col) in enumerate(series):
        by_variant = rows.set_index("variant")
        xs, ys, es = [], [], []
        for j, variant in enumerate(variants):
            if variant in by_variant.index:
                xs.append(j - 0.4 + width * (i + 0.5))
                ys.append(float(by_variant.loc[variant, col]))
                es.append(float(by_variant.loc[variant, f"{col} se"]))
        ax.errorbar(xs, ys, yerr=es, fmt="o", ms=4, capsize=3, label=label)
    ax.axhline(0.0, color="0.3", lw=0.8)
    ax.set_xticks(range(len(variants)), variants, rotation=20, fontsize=8)
    ax.grid(alpha=0.3, axis="y")


def draw_mechanism(interventions: pd.DataFrame, matched: pd.DataFrame, title: str) -> plt.Figure:
    """One row per (d_model, feature dim, init): the interaction by order, the two copies'
    evidence by order, and the order effect over all examples and at matched copy positions."""
    variants = _variants(pd.concat([interventions[["variant"]], matched[["variant"]]]))
    shape = ["d_model", "feature_dim", "init"]
    keys = sorted(set(map(tuple, interventions[shape].drop_duplicates().to_numpy())))
    if not keys:
        raise ValueError("no analysed runs to draw")
    fig, grid = plt.subplots(len(keys), 3, figsize=(15, 3.8 * len(keys)), squeeze=False)
    for axes, key in zip(grid, keys, strict=True):
        rows, m = (
            t[np.logical_and.reduce([t[c] == k for c, k in zip(shape, key, strict=True)])]
            for t in (interventions, matched)
        )
        by = {o: rows[rows.order == o] for o in ORDERS}
        _dots(axes[0], variants, [(o, by[o], "interaction") for o in ORDERS])
        axes[0].set_ylabel("logits")
        d_model, feature_dim, init = key
        axes[0].set_title(f"d_model {d_model}, f {feature_dim}, init {init}: interaction of the copies")
        _dots(
            axes[1],
            variants,
            [(f"{which} copy, {o}", by[o], f"gain_{which}") for which in ("first", "second") for o in ORDERS],
        )
        axes[1].set_ylabel("logits")
        axes[1].set_title("evidence of each copy (the other present)")
        series = [("all examples", m[m.matching == "column"], "difference")]
        series += [(f"matched {k}s", m[m.matching == k], "matched_difference") for k in ("column", "index")]
        _dots(axes[2], variants, series)
        axes[2].set_ylabel("short-first − long-first accuracy")
        axes[2].set_title("order effect, all vs matched copy positions")
    for ax in grid[0]:
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / fig.get_figheight()))  # half an inch for the title
    return fig


def draw_mirror_pairs(pairs: pd.DataFrame, title: str) -> plt.Figure:
    """The runs of :func:`mirror_interactions` against their mirror pairs of test slices (x: the
    pair, ordered by the long set, then the short one): left, short-first minus long-first
    accuracy; right, the same difference of the copies' interaction (logits). Each run a thin line
    (coloured by variant); per variant, the mean over its runs with ±1 standard error over them
    (sd / sqrt(n); a single run: its own binomial / sampling s.e.), labelled by the number of runs.
    Above 0: the model is better / checks more strongly when the short set comes first."""
    if pairs.empty:
        raise ValueError("no mirror pairs to draw")
    labels = sorted({(int(lo), int(s)) for s, lo in zip(pairs.short, pairs.long, strict=True)})
    x_of = {pair: i for i, pair in enumerate(labels)}
    pairs = pairs.assign(x=[x_of[(int(lo), int(s))] for s, lo in zip(pairs.short, pairs.long, strict=True)])
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), layout="constrained")
    colours = {v: f"C{i}" for i, v in enumerate(_variants(pairs))}
    for ax, col, unit in ((axes[0], "accuracy", "accuracy"), (axes[1], "interaction", "logits")):
        for (variant, _), g in pairs.groupby(["variant", "config_hash"]):
            g = g.sort_values("x")
            ax.plot(g.x, g[f"{col} difference"], color=colours[variant], lw=0.8, alpha=0.35)
        for variant, g in pairs.groupby("variant"):
            runs = g.config_hash.nunique()
            by_x = g.groupby("x")[f"{col} difference"]
            mean = by_x.mean()
            spread = (
                by_x.std(ddof=1) / np.sqrt(by_x.count())
                if runs > 1
                else g.set_index("x")[f"{col} difference se"]
            )
            ax.errorbar(
                mean.index, mean, yerr=spread.reindex(mean.index), color=colours[variant], lw=2, marker="o",
                ms=4, capsize=3, label=f"{variant}: mean of {runs} run{'s' if runs > 1 else ''} ±1 s.e.",
            )  # fmt: skip
        ax.axhline(0, color="0.4", lw=0.8)
        ax.set_xticks(range(len(labels)), [f"{s} / {lo}" for lo, s in labels], rotation=45)
        ax.set_xlabel("mirror pair: short set / long set (|A|, |B| swapped between the orders)")
        ax.set_ylabel(f"short first - long first ({unit})")
        ax.set_title(f"{col}: short first minus long first (thin: each run)")
        ax.grid(alpha=0.3)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncol=2, fontsize=8)
    fig.suptitle(title, fontsize=10)
    return fig
