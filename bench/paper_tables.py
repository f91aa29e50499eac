"""The tables of the `paper` profile in docs/results/paper-scale.md, from its committed records.

    python bench/paper_tables.py [--results results/sd_order/paper/runs.jsonl]

Reads the records only (never trains, never loads weights) and prints markdown:

1. Which runs are in: per feature dim, learning rate and protocol (init), the runs and their seeds;
   the commits (with the shapes each trained), devices and precision named in the records; runs not
   ``ok`` and runs with a NaN accuracy, if any; guessing within the smaller set per order.
2. Accuracy by set order, one row per (variant, protocol), one column per feature dim. A run's
   accuracy in an order is the mean over that order's 10 test slices ("short first": |A| < |B|,
   "long first": |A| > |B|; :func:`synthetic.plots.training.run_orders`). Each cell: short first
   vs long first (means over the cell's runs), and their difference as mean over runs ± standard
   error over runs (sd / sqrt(n), ddof 1). "runs ahead": runs with short first better, over the row.
   Then, per row, the ranges over the f cells of those means and over the runs of the difference.
3. What the models compute, from the records' ``mechanism`` field (runs analysed from commit
   48a9593 on; :func:`synthetic.results.load_mechanism`):
   - the counts and ranges the prose of docs/results/paper-scale.md cites (:func:`prose_counts`:
     runs that check and count, their interaction, evidence and accuracy; non-causal runs better
     long first; cells where causal Based is ahead long first);
   - the copy intervention by order (logits): per (variant, protocol, f, order) each copy's
     evidence and the interaction, means over runs; per (variant, protocol) the range of the
     interaction over run x order cells, the cells where it is positive and the ranges of each
     copy's evidence;
   - the order effect (short-first minus long-first accuracy) over all test examples and at
     matched copy positions (selected examples, by column and by index): each run's mean over its
     10 mirror pairs, then mean ± standard error over runs as in
     :func:`synthetic.plots.mechanism.matched_table` (the larger of sd / sqrt(n) and the binomial one);
   - from the records of version 3 on, the placed order effect (copies moved to shared places,
     ``placed_order_effect``), by column and by index, beside the effect as generated for the same
     runs: each run's mean over its mirror pairs, then mean ± sd / sqrt(n) over runs, and the runs
     with a positive placed effect.
4. The runs that check membership (interaction above 2 logits in both orders), in the paper
   profile and, when its records exist, in the ``checking`` profile (the same cell with more seeds):
   the order effect per run and per cell, and the linear probes of the state of those runs (the
   whole state after the first set; :func:`probe_table`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synthetic.analysis.b_places import ZONES
from synthetic.analysis.first_set_read import WAYS, mirror_pair_gaps, pooled_accuracy_and_fall
from synthetic.analysis.intervention import CHECKING_LOGITS, mean_and_se
from synthetic.analysis.positions import fall_across_second_set
from synthetic.plots import mechanism, training
from synthetic.results import ResultsStore, live_path, load, load_history, load_mechanism

FIRST, SECOND = "short first", "long first"
PROTOCOLS = {"torch": "PyTorch init", "reference": "the paper code's init and optimiser"}
#: the two Based variants of the paper's Figure 2, then the two ways of reading the prompt twice
VARIANTS = ("Based (causal)", "Based (non-causal)", "JRT-Prompt", "JRT-RNN")
ROWS = [(v, i) for v in VARIANTS for i in PROTOCOLS]
SHAPE = ["variant", "init", "d_model", "feature_dim"]
#: the seen-before probe of the checking profile's kept models, measured from their weights
#: (``bench/seen_before_cpu.py``; each model labelled with its mechanism), under ``--data``
SEEN_BEFORE_CSVS = [
    ("seen_before_checking_h100.csv", "every kept checking-profile model, by mechanism (GPU)"),
    ("seen_before_checking_untrained_h100.csv", "the untrained models of 2 runs a variant (GPU)"),
]


def _label(variant: str, init: str) -> str:
    """ "causal Based, PyTorch init", "JRT-Prompt, the paper code's init and optimiser", ..."""
    if variant.startswith("Based ("):
        variant = f"{variant.removeprefix('Based (').rstrip(')')} Based"
    return f"{variant}, {PROTOCOLS[init]}"


def _se(values: pd.Series, digits: int = 3) -> str:
    """The standard error of the mean over runs as text: sd / sqrt(n) with ddof 1
    (:func:`synthetic.analysis.intervention.mean_and_se`) to ``digits`` decimals, or "n/a" for a
    single run (no spread to estimate)."""
    se = mean_and_se(pd.Series(values, dtype=float))[1]
    return "n/a" if np.isnan(se) else f"{se:.{digits}f}"


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join([*lines, *("| " + " | ".join(r) + " |" for r in rows)])


def _signed(x: float) -> str:
    return f"{x:+.3f}".replace("-", "−")


def _plain(x: float) -> str:
    return f"{x:.3f}".replace("-", "−")


def coverage(df: pd.DataFrame) -> str:
    """Runs per (feature dim, lr, protocol, variant) with their seeds; commits and devices."""
    runs = df.drop_duplicates("config_hash")
    keys = ["d_model", "feature_dim", "lr", "init", "variant"]
    cells = runs.groupby(keys).seed.apply(lambda s: sorted(s.tolist()))
    rows = [
        [str(d), str(f), f"{lr:g}", i, v, str(len(s)), " ".join(map(str, s))]
        for (d, f, lr, i, v), s in cells.items()
    ]
    table = _markdown(["d_model", "f", "lr", "init", "variant", "runs", "seeds"], rows)
    commits = runs.groupby("commit", sort=False).config_hash.count()
    lines = []
    for commit, n in commits.items():
        g = runs[runs.commit == commit]
        shapes = sorted(set(zip(g.d_model, g.feature_dim, g.lr, strict=True)))
        listed = ", ".join(f"d_model {d} f {f} lr {lr:g}" for d, f, lr in shapes)
        lines.append(f"- {commit}: {n} runs ({listed})")
    devices = ", ".join(sorted(set(runs.device)))
    precisions = ", ".join(sorted(set(runs.precision)))
    head = f"{len(runs)} runs; d_model {sorted(set(runs.d_model))}; devices: {devices}; {precisions}"
    return "\n".join([head, table, "commits:", *lines])


def accuracy_table(runs: pd.DataFrame) -> str:
    """Per (variant, protocol) with runs, and feature dim: short vs long first, the difference ± s.e.
    ("no runs yet" where a row has none at that feature dim)."""
    fs = sorted(runs.feature_dim.unique())
    header = ["variant, protocol"]
    for f in fs:
        cell = runs[runs.feature_dim == f]
        lrs = sorted(cell.lr.unique())
        per = cell.groupby(["variant", "init"]).size()
        n = f"{per.min()}" if per.min() == per.max() else f"{per.min()}-{per.max()}"
        lr = "" if len(lrs) > 1 else f", lr {lrs[0]:g}"
        header.append(f"f = {f} ({n} run{'' if n == '1' else 's'}{lr})")
    header.append("runs ahead")
    rows = []
    for variant, init in ROWS:
        row = runs[(runs.variant == variant) & (runs.init == init)]
        if row.empty:  # a profile without this protocol (the checking profile: the paper code's)
            continue
        cells = [_label(variant, init)]
        for f in fs:
            g = row[row.feature_dim == f]
            if g.empty:  # a shape of the grid not trained yet for this row
                cells.append("no runs yet")
                continue
            cells.append(
                f"{g[FIRST].mean():.3f} vs {g[SECOND].mean():.3f}, "
                f"{_signed(g.difference.mean())} ± {_se(g.difference)}"
            )
        cells.append(f"{int((row.difference > 0).sum())} / {len(row)}")
        rows.append(cells)
    return _markdown(header, rows)


def cell_ranges(runs: pd.DataFrame) -> str:
    """Per (variant, protocol): ranges over the feature-dim cells of the cell means (short first,
    long first, difference) and over the runs of the difference."""
    rows = []
    for variant, init in ROWS:
        row = runs[(runs.variant == variant) & (runs.init == init)]
        if row.empty:
            continue
        means = row.groupby("feature_dim")[[FIRST, SECOND, "difference"]].mean()
        rows.append(
            [_label(variant, init)]
            + [f"{_plain(means[c].min())} to {_plain(means[c].max())}" for c in (FIRST, SECOND, "difference")]
            + [f"{_plain(row.difference.min())} to {_plain(row.difference.max())}"]
        )
    header = ["variant, protocol", "short first (cells)", "long first (cells)", "difference (cells)"]
    return _markdown([*header, "difference (runs)"], rows)


def best_runs(runs: pd.DataFrame) -> str:
    """Per (d_model, variant, protocol): the highest short-first and long-first accuracy over its
    runs (each run: the mean over the order's test slices)."""
    rows = []
    for (d_model, variant, init), g in runs.groupby(["d_model", "variant", "init"]):
        rows.append(
            (d_model, ROWS.index((variant, init)),
             [str(d_model), _label(variant, init), f"{g[FIRST].max():.4f}", f"{g[SECOND].max():.4f}"])
        )  # fmt: skip
    rows.sort(key=lambda r: r[:2])
    return _markdown(
        ["d_model", "variant, protocol", "best short first", "best long first"], [r[2] for r in rows]
    )


#: what pairs two runs of different variants: the same protocol, shape, learning rate and seed
PAIR_KEY = ["init", "d_model", "feature_dim", "lr", "seed"]


def _paired(runs: pd.DataFrame, variant: str, base: str) -> pd.DataFrame:
    """The runs of ``variant`` joined with those of ``base`` on :data:`PAIR_KEY` (runs without a
    partner left out); ``base``'s columns end in ``_base``."""
    return runs[runs.variant == variant].merge(
        runs[runs.variant == base], on=PAIR_KEY, suffixes=("", "_base")
    )


def _long_first_pairs(runs: pd.DataFrame) -> list[tuple[tuple[int, str, int], pd.Series]]:
    """Per (d_model, init, f) with at least one pair: causal minus non-causal Based long-first
    accuracy for the runs of the same lr and seed, indexed by (lr, seed) in that order."""
    pairs = _paired(runs, "Based (causal)", "Based (non-causal)")
    pairs = pairs.assign(diff=pairs[SECOND] - pairs[f"{SECOND}_base"]).dropna(subset=["diff"])
    return [
        (key, g.set_index(["lr", "seed"])["diff"].sort_index().rename(None))
        for key, g in pairs.groupby(["d_model", "init", "feature_dim"])
    ]


def paired_long_first(runs: pd.DataFrame) -> str:
    """Per (d_model, protocol, f): causal minus non-causal Based long-first accuracy for the runs
    of the same lr and seed, each pair (in lr, seed order) and their mean."""
    rows = []
    for (d_model, init, f), diff in _long_first_pairs(runs):
        pairs = ", ".join(f"{_signed(v)} (lr {lr:g}, seed {seed})" for (lr, seed), v in diff.items())
        rows.append([str(d_model), PROTOCOLS[init], str(f), pairs, _signed(diff.mean())])
    return _markdown(["d_model", "protocol", "f", "pairs", "mean"], rows)


#: each way of reading twice against the Based variant it reads with: JRT-Prompt is causal Based
#: on the input read twice, JRT-RNN reads the prompt non-causally as non-causal Based does
JRT_BASELINES = {"JRT-Prompt": "Based (causal)", "JRT-RNN": "Based (non-causal)"}


def jrt_against_based(runs: pd.DataFrame) -> str:
    """Per (JRT variant, protocol, d_model, f) with at least one pair: the JRT run against the run
    of its Based baseline (:data:`JRT_BASELINES`) of the same lr and seed. Three differences, each
    a mean over the pairs ± sd / sqrt(n) with the pairs where it is positive: the signed order
    effect (short first minus long first; JRT minus Based), the size of the order effect (|JRT's|
    minus |Based's|: negative where reading twice shrinks it, whichever its sign; non-causal
    Based's is negative), and long-first accuracy (JRT minus Based), the order the theory says
    reading twice helps."""
    rows = []
    for jrt, base in JRT_BASELINES.items():
        for (init, d_model, f), g in _paired(runs, jrt, base).groupby(["init", "d_model", "feature_dim"]):
            effect = g.difference - g.difference_base
            size = g.difference.abs() - g.difference_base.abs()
            long_first = g[SECOND] - g[f"{SECOND}_base"]
            cells = [f"{jrt} − {_label(base, init)}", str(d_model), str(f), str(len(g))]
            for diff in (effect, size, long_first):
                cells.append(f"{_signed(diff.mean())} ± {_se(diff)} ({int((diff > 0).sum())} / {len(diff)})")
            rows.append(((list(JRT_BASELINES).index(jrt), list(PROTOCOLS).index(init), d_model, f), cells))
    rows.sort(key=lambda r: r[0])
    header = ["JRT minus its Based baseline, protocol", "d_model", "f", "pairs", "order effect (> 0)",
              "size of the order effect (> 0)", "long first (> 0)"]  # fmt: skip
    return _markdown(header, [r[1] for r in rows])


def _mechanism_ranges(
    counting: pd.DataFrame, checking: pd.DataFrame, accuracy: pd.Series, label: str
) -> list[str]:
    """The prose lines on a group's counting and checking runs (run x order cells of the
    intervention by order; ``accuracy`` by config hash): the interaction's range, its smaller order,
    the evidence per copy and the best counting run; the checking runs' interaction and accuracy."""
    lines = []
    if not counting.empty:
        smaller = counting.groupby("config_hash").interaction.min()
        evidence = pd.concat([counting.gain_first, counting.gain_second])
        lines.append(
            f"{label}counting runs: interaction {_signed(counting.interaction.min())} to "
            f"{_signed(counting.interaction.max())} logits; its smaller order at most "
            f"{_signed(smaller.max())}; "
            f"evidence per copy {_plain(evidence.min())} to {_plain(evidence.max())} logits; the best "
            f"counting run's accuracy {accuracy[list(smaller.index)].max():.4f}"
        )
    if not checking.empty:
        runs = list(checking.config_hash.unique())
        lines.append(
            f"{label}checking runs: interaction {_signed(checking.interaction.min())} to "
            f"{_signed(checking.interaction.max())} logits; accuracy {accuracy[runs].min():.4f} to "
            f"{accuracy[runs].max():.4f}"
        )
    return lines


def prose_counts(df: pd.DataFrame, runs: pd.DataFrame, by_order: pd.DataFrame) -> str:
    """The counts and ranges the prose of docs/results/paper-scale.md cites, one line each (markdown
    bullets), so that they are read off the records rather than recomputed by hand: which analysed
    runs of the two Based variants check and which count (then the same for JRT-Prompt and JRT-RNN,
    apart), the ranges of their interaction (logits, over run x order cells) and per-copy evidence,
    their accuracy, the non-causal runs better long-first and the protocol x shape cells where
    causal Based is ahead long-first (mean over the pairs of :func:`paired_long_first`)."""
    cells = by_order[by_order.order.isin(mechanism.ORDERS)]
    jrt = cells[~cells.variant.isin(VARIANTS[:2])]
    cells = cells[cells.variant.isin(VARIANTS[:2])]  # the Based variants of Figure 2
    checks = set(mechanism.checking_runs(cells))
    accuracy = df.drop_duplicates("config_hash").set_index("config_hash").accuracy
    counting, checking = cells[~cells.config_hash.isin(checks)], cells[cells.config_hash.isin(checks)]
    analysed = cells.config_hash.nunique()
    lines = [f"{len(checks)} of the {analysed} analysed runs check, {analysed - len(checks)} count"]
    lines += _mechanism_ranges(counting, checking, accuracy, "")
    if not jrt.empty:
        jrt_checks = set(mechanism.checking_runs(jrt))
        lines.append(
            f"JRT-Prompt and JRT-RNN (not counted above): {len(jrt_checks)} of the "
            f"{jrt.config_hash.nunique()} analysed runs check; interaction "
            f"{_signed(jrt.interaction.min())} to {_signed(jrt.interaction.max())} logits"
        )
        jrt_counting, jrt_checking = (
            jrt[~jrt.config_hash.isin(jrt_checks)],
            jrt[jrt.config_hash.isin(jrt_checks)],
        )
        lines += _mechanism_ranges(jrt_counting, jrt_checking, accuracy, "JRT ")
    non_causal = runs[runs.variant == "Based (non-causal)"].dropna(subset=[FIRST, SECOND])
    if not non_causal.empty:
        lines.append(
            f"non-causal Based better long-first in {int((non_causal[SECOND] > non_causal[FIRST]).sum())} "
            f"of {len(non_causal)} runs"
        )
    ahead = [diff.mean() > 0 for _, diff in _long_first_pairs(runs)]
    if ahead:
        lines.append(
            f"long first, causal Based ahead of non-causal in {sum(ahead)} of {len(ahead)} protocol x shape "
            "cells (mean over the cell's pairs by lr and seed)"
        )
    return "\n".join(f"- {line}" for line in lines)


def intervention_tables(by_order: pd.DataFrame) -> str:
    """The copy intervention: per (variant, protocol, f, order) the mean over runs; then per
    (variant, protocol) the range over run x order cells and the cells with a positive interaction."""
    by_order = by_order[by_order.order.isin(mechanism.ORDERS)]
    means = _in_rows(mechanism.intervention_table(by_order))
    rows = []
    for r in means.itertuples():
        rows.append(
            [
                _label(r.variant, r.init),
                str(r.d_model),
                str(r.feature_dim),
                r.order,
                str(r.seeds),
                _plain(r.gain_first),
                _plain(r.gain_second),
                _signed(r.interaction),
            ]
        )
    header = [
        "variant, protocol",
        "d_model",
        "f",
        "order",
        "runs",
        "first copy",
        "second copy",
        "interaction",
    ]
    first = _markdown(header, rows)
    rows = []
    for d_model, (variant, init) in ((d, key) for d in sorted(by_order.d_model.unique()) for key in ROWS):
        g = by_order[(by_order.variant == variant) & (by_order.init == init) & (by_order.d_model == d_model)]
        if g.empty:
            continue
        cells = [_label(variant, init), str(d_model), str(len(g))]
        cells.append(f"{_signed(g.interaction.min())} to {_signed(g.interaction.max())}")
        cells.append(f"{int((g.interaction > 0).sum())} / {len(g)}")
        for order in mechanism.ORDERS:
            o = g[g.order == order]
            cells += [f"{o[c].min():.2f}-{o[c].max():.2f}" for c in ("gain_first", "gain_second")]
        rows.append(cells)
    header = ["variant, protocol", "d_model", "run x order cells", "interaction", "interaction > 0"]
    header += [f"{c} copy, {o}" for o in mechanism.ORDERS for c in ("first", "second")]
    return first + "\n\n" + _markdown(header, rows)


def _in_rows(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` sorted by d_model, then as :data:`ROWS` (variant, protocol), then by feature dim."""
    rank = {key: i for i, key in enumerate(ROWS)}
    order = [rank[(v, i)] for v, i in zip(table.variant, table.init, strict=True)]
    return table.assign(_rank=order).sort_values(["d_model", "_rank", "feature_dim"]).drop(columns="_rank")


def selected_table(matched: pd.DataFrame) -> str:
    """Per (variant, protocol, f): the order effect over all examples and at matched positions
    (selected examples), by column and by index, mean ± s.e. over runs (as ``matched_table``)."""
    selected = mechanism.matched_table(matched)
    col = _in_rows(selected[selected.matching == "column"]).set_index(SHAPE)
    idx = selected[selected.matching == "index"].set_index(SHAPE)
    rows = []
    for key, c in col.iterrows():
        i = idx.loc[key]
        rows.append(
            [_label(key[0], key[1]), str(key[2]), str(key[3]), str(int(c.seeds))]
            + [
                f"{_signed(r[m])} ± {r[m + ' se']:.3f}"
                for r, m in ((c, "difference"), (c, "matched_difference"), (i, "matched_difference"))
            ]
        )
    header = [
        "variant, protocol",
        "d_model",
        "f",
        "runs",
        "all examples",
        "matched by column",
        "matched by index",
    ]
    return _markdown(header, rows)


def placed_table(placed: pd.DataFrame) -> str:
    """Per (variant, protocol, f), the runs with the placed analysis: the order effect as
    generated and with the copies placed by column and by index (each run's mean over its mirror
    pairs; mean ± sd / sqrt(n) over runs) and the runs with a positive placed effect."""
    per_run = placed.groupby([*SHAPE, "lr", "matching", "config_hash"])[["difference", "placed_difference"]]
    per_run = per_run.mean().reset_index()
    rows = []
    for key, g in per_run.groupby(SHAPE):
        variant, init, d_model, f = key
        col, idx = g[g.matching == "column"], g[g.matching == "index"]
        lrs = ", ".join(f"{lr:g}" for lr in sorted(g.lr.unique()))
        cells = [_label(variant, init), str(d_model), str(f), lrs, str(len(col))]
        cells.append(f"{_signed(col.difference.mean())} ± {_se(col.difference)}")
        for p in (col, idx):
            d = p.placed_difference
            cells.append(f"{_signed(d.mean())} ± {_se(d)} ({int((d > 0).sum())} / {len(d)})")
        rows.append((d_model, variant, init, f, cells))
    rank = {key: i for i, key in enumerate(ROWS)}
    rows.sort(key=lambda r: (r[0], rank[(r[1], r[2])], r[3]))
    header = ["variant, protocol", "d_model", "f", "lr", "runs", "as generated", "placed by column"]
    return _markdown([*header, "placed by index"], [r[4] for r in rows])


def checking_table(by_slice: pd.DataFrame, by_order: pd.DataFrame, threshold: float = CHECKING_LOGITS) -> str:
    """The runs that check membership (:func:`~synthetic.plots.mechanism.checking_runs`: both
    orders' interaction above ``threshold`` logits), one row each: the interaction by order, then
    the short-first minus long-first differences over the 10 mirror pairs of test slices, of the
    accuracy and of the interaction (logits), over all pairs and over the pairs whose long set has
    512 or more elements (mean over the pairs; in brackets the pairs with a positive difference)."""
    pairs = mechanism.checking_pairs(by_slice, by_order, threshold)
    if pairs.empty:
        return f"no run has an interaction above {threshold:g} logits in both orders"
    order = by_order.set_index(["config_hash", "order"]).interaction
    rows = []
    for key, g in pairs.groupby([*SHAPE, "lr", "seed", "config_hash"]):
        variant, init, d_model, f, lr, seed, run = key
        cells = [_label(variant, init), str(d_model), str(f), f"{lr:g}", str(seed)]
        cells.append(f"{order[run, 'short-first']:.2f} / {order[run, 'long-first']:.2f}")
        for subset in (g, g[g.long >= 512]):
            for col, fmt in (
                ("accuracy difference", _signed),
                ("interaction difference", lambda x: f"{x:+.2f}"),
            ):
                d = subset[col]
                cells.append(f"{fmt(d.mean()).replace('-', '−')} ({int((d > 0).sum())} / {len(d)})")
        rows.append((d_model, ROWS.index((variant, init)), f, lr, seed, cells))
    rows.sort(key=lambda r: r[:5])
    header = ["variant, protocol", "d_model", "f", "lr", "seed", "interaction short / long first"]
    header += [f"{c}, {s}" for s in ("all pairs", "long set ≥ 512") for c in ("accuracy", "interaction")]
    return _markdown(header, [r[5] for r in rows])


def checking_noise(by_slice: pd.DataFrame, by_order: pd.DataFrame, threshold: float = CHECKING_LOGITS) -> str:
    """Per run that checks: the mean over its mirror pairs of the short-first minus long-first
    accuracy, ± its sampling error (the pairs' binomial standard errors combined: sqrt of the sum
    of their squares / the number of pairs), and that mean in those standard errors (z)."""
    pairs = mechanism.checking_pairs(by_slice, by_order, threshold)
    if pairs.empty:
        return f"no run has an interaction above {threshold:g} logits in both orders"
    rows = []
    for key, g in pairs.groupby([*SHAPE, "lr", "seed"]):
        variant, init, d_model, f, lr, seed = key
        mean = g["accuracy difference"].mean()
        se = float(np.sqrt((g["accuracy difference se"] ** 2).sum()) / len(g))
        cells = [_label(variant, init), str(d_model), str(f), f"{lr:g}", str(seed)]
        cells += [f"{_signed(mean)} ± {se:.3f}", f"{mean / se:+.1f}".replace("-", "−")]
        rows.append((d_model, ROWS.index((variant, init)), f, lr, seed, cells))
    rows.sort(key=lambda r: r[:5])
    header = ["variant, protocol", "d_model", "f", "lr", "seed", "accuracy, all pairs ± sampling s.e.", "z"]
    return _markdown(header, [r[5] for r in rows])


def checking_summary(
    by_slice: pd.DataFrame, by_order: pd.DataFrame, threshold: float = CHECKING_LOGITS
) -> str:
    """Per (variant, protocol, d_model, f) of the runs that check: how many, and over them the
    per-run mean over the mirror pairs of the short-first minus long-first accuracy, mean ±
    standard error over runs (sd / sqrt(n); a single run: 0), with the runs where it is positive;
    over all pairs and over the pairs whose long set has 512 or more elements."""
    pairs = mechanism.checking_pairs(by_slice, by_order, threshold)
    if pairs.empty:
        return f"no run has an interaction above {threshold:g} logits in both orders"
    rows = []
    for key, g in pairs.groupby(SHAPE):
        variant, init, d_model, f = key
        cells = [_label(variant, init), str(d_model), str(f), str(g.config_hash.nunique())]
        for subset in (g, g[g.long >= 512]):
            per_run = subset.groupby("config_hash")["accuracy difference"].mean()
            ahead = f"({int((per_run > 0).sum())} / {len(per_run)})"
            cells.append(f"{_signed(per_run.mean())} ± {_se(per_run)} {ahead}")
        rows.append((d_model, ROWS.index((variant, init)), f, cells))
    rows.sort(key=lambda r: r[:3])
    header = ["variant, protocol", "d_model", "f", "runs", "accuracy, all pairs", "accuracy, long set ≥ 512"]
    return _markdown(header, [r[3] for r in rows])


def probe_table(probes: pd.DataFrame) -> str:
    """The linear probes of the whole state after the first set (``mixer == "all"``, point
    ``separator``), as :func:`set_read_table` lays them out."""
    whole = probes[(probes.mixer == "all") & (probes.point == "separator")] if not probes.empty else probes
    if whole.empty:
        return "no probes of the whole state after the first set"
    return set_read_table(whole)


def set_read_table(reads: pd.DataFrame) -> str:
    """Rows of a read of the first set (the state probe of the whole state, or the seen-before
    probe), per (variant, protocol, order, |first set|), per ``d_model`` and per ``mechanism``
    where the rows have those columns (``mechanism``: the CSVs of ``bench/seen_before_cpu.py``):
    the runs and test slices behind the row, the AUC (first-set tokens against all others) and
    the lower bound on the bits read about the first set (``info_bits``), each a mean over the
    row's slices per run, then mean ± sd / sqrt(n) over runs; beside them log2 C(n, |A|), the
    bits of the first set, and the exact one-pass bound's range over the row's second-set sizes
    (``bound_bits``; "-" where the rows do not carry it)."""
    if reads.empty:
        return "no reads of the first set"
    by_mechanism = "mechanism" in reads.columns
    by_width = "d_model" in reads.columns
    reads = reads if by_mechanism else reads.assign(mechanism="")
    reads = reads if by_width else reads.assign(d_model=0)
    rows = []
    for (variant, init, width, kind, order, first), g in reads.groupby(
        ["variant", "init", "d_model", "mechanism", "order", "size_a"]
    ):
        per_run = g.groupby("config_hash")[["auc", "info_bits"]].mean()
        if "bound_bits" in g.columns:
            low, high = g.bound_bits.min(), g.bound_bits.max()
            bound = f"{low:g}" if low == high else f"{low:g}-{high:g}"
        else:
            bound = "-"
        cells = (
            [_label(variant, init)] + ([str(width)] if by_width else []) + ([kind] if by_mechanism else [])
        )
        cells += [str(first), order, str(len(per_run)), str(g.slice.nunique())]
        cells += [f"{per_run.auc.mean():.3f} ± {_se(per_run.auc)}"]
        cells += [f"{per_run.info_bits.mean():.1f} ± {_se(per_run.info_bits, 1)}"]
        cells += [f"{g.first_set_bits.iloc[0]:.1f}", bound]
        rows.append((ROWS.index((variant, init)), width, kind, order != "short-first", first, cells))
    rows.sort(key=lambda r: r[:5])
    header = (
        ["variant, protocol"] + (["d_model"] if by_width else []) + (["mechanism"] if by_mechanism else [])
    )
    header += ["\\|A\\| (first)", "order", "runs", "slices", "AUC", "bits read"]
    return _markdown([*header, "bits of A", "one-pass bound"], [r[5] for r in rows])


def position_table(
    by_position: pd.DataFrame, by_order: pd.DataFrame, threshold: float = CHECKING_LOGITS
) -> str:
    """Per run with a ``by_position`` analysis (record version 6 on): whether it checks membership,
    and how much its accuracy falls from the first quarter of B to the last over the short-first
    slices whose B has at least 256 tokens (:func:`~synthetic.analysis.positions.fall_across_second_set`);
    then per (variant, protocol, checks) the mean ± s.e. over runs."""
    if by_position.empty:
        return "no accuracy by position (records before version 6)"
    falls = fall_across_second_set(by_position)
    checking = set(mechanism.checking_runs(by_order, threshold))
    runs = by_position.drop_duplicates("config_hash").set_index("config_hash")
    per_run: list[list[str]] = []
    groups: dict[tuple[int, str, bool], list[float]] = {}
    for row in falls.itertuples():
        run = runs.loc[row.config_hash]
        checks = row.config_hash in checking
        label = _label(run.variant, run.init)
        groups.setdefault((ROWS.index((run.variant, run.init)), label, checks), []).append(row.fall)
        per_run.append([label, str(run.d_model), str(run.feature_dim), f"{run.lr:g}", str(run.seed),
                        "yes" if checks else "no", f"{_signed(row.fall)} ± {row.fall_se:.3f}",
                        f"{row.slices_falling} / {row.slices}"])  # fmt: skip
    per_run.sort(key=lambda r: (r[0], r[5], int(r[4])))
    header = ["variant, protocol", "d_model", "f", "lr", "seed", "checks", "fall across B", "slices falling"]
    summary = [
        [
            label,
            "yes" if checks else "no",
            str(len(v)),
            f"{_signed(float(np.mean(v)))} ± {_se(pd.Series(v))}",
        ]
        for (_, label, checks), v in sorted(groups.items())
    ]
    return (
        _markdown(header, per_run)
        + "\n\nper variant and mechanism, mean ± s.e. over runs:\n\n"
        + _markdown(["variant, protocol", "checks", "runs", "fall across B"], summary)
    )


def first_set_read_table_md(reads: pd.DataFrame) -> str:
    """Per run with a first-set read (record version 7 on: the causal runs whose probes ran): its
    accuracy on the short-first slices read (examples pooled over slices and parts of B) as
    trained, with the copy in B read against the state after the first set alone, and with another
    B token read so (the control); the fall from B's first part to its last (mean over the
    slices) as trained and with the copy's read; and, where the long-first slices were read too
    (version 8 on), short-first minus long-first with the copy read against the first set alone
    (mean over the mirror pairs, :func:`~synthetic.analysis.first_set_read.mirror_pair_gaps`); and
    what the copy's read changes in each order (accuracy pooled over the order's slices, the read
    minus as trained; "-" for an order not read). Below the table, per profile, the runs read in
    both orders: the mean over runs of that gap ± its standard error, and the run x pair cells
    ahead."""
    if reads.empty:
        return "no first-set read (records before version 7, or no causal run whose probes ran)"
    trained, copy, other = WAYS
    rows = []
    both_orders: dict[str, list[pd.Series]] = {}  # per profile, each run's gaps over its mirror pairs
    for _, one in reads.groupby("config_hash", sort=False):
        first = one.iloc[0]
        short_first = one[one.size_a < one.size_b]
        got = {way: pooled_accuracy_and_fall(g) for way, g in short_first.groupby("way")}
        gaps = mirror_pair_gaps(one[one.way == copy])
        gap = f"{_signed(gaps.mean())} ({int((gaps > 0).sum())} / {len(gaps)})" if len(gaps) else "-"
        long_first = one[one.size_a > one.size_b]
        pooled = [{w: acc for w, (acc, _) in got.items()},
                  {way: pooled_accuracy_and_fall(g)[0] for way, g in long_first.groupby("way")}]  # fmt: skip
        gains = [_signed(p[copy] - p[trained]) if {copy, trained} <= set(p) else "-" for p in pooled]
        rows.append([_label(first.variant, first.init), str(first.d_model), str(first.feature_dim),
                     f"{first.lr:g}", str(first.seed), str(short_first.slice.nunique()),
                     *(_plain(got[w][0]) for w in (trained, copy, other)),
                     _signed(got[trained][1]), _signed(got[copy][1]), gap, " / ".join(gains)])  # fmt: skip
        if len(gaps):
            both_orders.setdefault(str(first.get("profile", "?")), []).append(gaps)
    header = ["variant, protocol", "d_model", "f", "lr", "seed", "slices", trained, copy, other,
              "fall across B, as trained", "fall, copy reads A alone",
              "short − long first, copy reads A alone (pairs ahead)",
              "copy reads A alone − as trained, short / long first"]  # fmt: skip
    summary = [
        f"- profile {profile}: {len(per_run)} runs read in both orders, short − long first with the copy "
        f"read against A alone {_signed(means.mean())} ± {_se(means)} over the runs (per run "
        f"{_signed(means.min())} to {_signed(means.max())}; {int(sum((g > 0).sum() for g in per_run))} of "
        f"{sum(len(g) for g in per_run)} run x pair cells ahead)"
        for profile, per_run in both_orders.items()
        for means in [pd.Series([g.mean() for g in per_run])]
    ]
    return _markdown(header, rows) + ("\n\n" + "\n".join(summary) if summary else "")


def rank_and_places_md(ranks: pd.DataFrame, places: pd.DataFrame) -> str:
    """Per run with a copy rank (record version 9 on): short-first minus long-first accuracy and
    rank AUC among the other set tokens (``auc_sets``, mean over the mirror pairs, pairs with
    short-first ahead), and, where its record has the places of B, the share of its long-first
    answers drawn by B's tokens within the short convolutions' reach of the separator, as trained
    and with the separator hidden from the convolutions (mean over the long-first slices)."""
    if ranks.empty:
        return "no copy rank (records before version 9)"
    rows = []
    for run, one in ranks.groupby("config_hash", sort=False):
        first = one.iloc[0]
        gaps = {c: mirror_pair_gaps(one, c) for c in ("accuracy", "auc_sets")}
        shown = [
            f"{_signed(g.mean())} ({int((g > 0).sum())} / {len(g)})" if len(g) else "-" for g in gaps.values()
        ]
        drawn = ["-", "-"]
        if not places.empty:
            mine = places[(places.config_hash == run) & (places.size_a > places.size_b)]
            near = mine[mine.zone == ZONES[0]].groupby("separator").answers.mean()
            drawn = [
                _plain(near[s]) if s in near.index else "-"
                for s in ("as trained", "hidden from the convolutions")
            ]
        rows.append([_label(first.variant, first.init), str(first.d_model), str(first.feature_dim),
                     f"{first.lr:g}", str(first.seed), *shown, *drawn])  # fmt: skip
    header = ["variant, protocol", "d_model", "f", "lr", "seed", "short − long first, accuracy",
              "short − long first, auc_sets", "long-first answers at B's first places",
              "the same, separator hidden from the convolutions"]  # fmt: skip
    return _markdown(header, rows)


#: the evaluations (epochs) the learning-curve table shows
CURVE_EPOCHS = (1, 3, 5, 7, 9, 12)


def learning_table(history: pd.DataFrame, checks: set[str], epochs: tuple[int, ...] = CURVE_EPOCHS) -> str:
    """When the accuracy rises during training, per (variant, protocol, checks or counts): the runs,
    the mean test accuracy after each of ``epochs`` (``eval_accuracy`` of :func:`load_history`), the
    epoch that ends the largest one-epoch rise (median and range over runs, epochs 2 on) with the
    mean size of that rise, and the rise over the last three epochs (the last evaluation minus the
    fourth-last, mean ± s.e. over runs: still learning or not). ``checks``: the config hashes of the
    runs that check membership; only runs with an analysis (``mechanism``) should be passed."""
    rows = []
    for (variant, init, checking), group in history.groupby(
        ["variant", "init", history.config_hash.isin(checks)], sort=False
    ):
        curves = group.pivot_table(index="config_hash", columns="epoch", values="eval_accuracy")
        rises = curves.diff(axis=1).iloc[:, 1:]
        top = rises.idxmax(axis=1)
        last = curves.iloc[:, -1] - curves.iloc[:, -4]  # the rise over the last three epochs
        at = [_plain(curves[e].mean()) if e in curves else "n/a" for e in epochs]
        rows.append(
            [_label(variant, init), "yes" if checking else "no", str(len(curves)), *at,
             f"{top.median():g} ({top.min():g}-{top.max():g})", _signed(rises.max(axis=1).mean()),
             f"{_signed(last.mean())} ± {_se(last)}"]
        )  # fmt: skip
    rows.sort(key=lambda r: (VARIANTS.index(_variant_of(r[0])), r[0], r[1]))
    header = ["variant, protocol", "checks", "runs", *(f"epoch {e}" for e in epochs)]
    return _markdown([*header, "largest rise at epoch", "its size", "last 3 epochs"], rows)


def _variant_of(label: str) -> str:
    """The variant name of a :func:`_label` text."""
    for variant in VARIANTS:
        if _label(variant, "torch").split(",")[0] == label.split(",")[0]:
            return variant
    raise ValueError(f"no variant in {label!r}")


def _print_checking_runs(by_slice: pd.DataFrame, by_order: pd.DataFrame, whose: str) -> None:
    """The checking runs' table, then their all-pairs means against the sampling error."""
    print(checking_table(by_slice, by_order))
    print(f"\n{whose} all-pairs mean against its sampling error:\n")
    print(checking_noise(by_slice, by_order))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default="results/sd_order/paper/runs.jsonl")
    parser.add_argument(
        "--checking",
        default="results/sd_order/checking/runs.jsonl",
        help="the checking profile's records, summarised with the paper's checking runs when present",
    )
    parser.add_argument("--data", default="figures/data", help="where the seen-before CSVs are")
    args = parser.parse_args(argv)
    df = load(args.results, include_failed=True)
    failed = df[df.status != "ok"].drop_duplicates("config_hash")
    df = df[df.status == "ok"]
    print("## runs\n")
    print(coverage(df))
    if not failed.empty:
        listed = failed[["config_hash", "status", "error"]].to_dict("records")
        print(f"\nnot ok: {len(failed)} runs: {listed}")
    runs = training.run_orders(df, training.sd_order_of, FIRST, SECOND)
    nan = runs[runs[[FIRST, SECOND]].isna().any(axis=1)]
    if not nan.empty:
        print(f"\nruns with a NaN accuracy: {nan.config_hash.tolist()}")
    chance = training.sd_chance(df)
    print("\nguessing within the smaller set: " + ", ".join(f"{k} {v:.4f}" for k, v in chance.items()))
    print("\n## the best run of each width, variant and protocol (run accuracy by order)\n")
    print(best_runs(runs))
    print("\n## causal minus non-causal Based, long first, runs paired by lr and seed\n")
    print(paired_long_first(runs))
    if runs.variant.isin(list(JRT_BASELINES)).any():
        print("\n## JRT-Prompt and JRT-RNN minus their Based baseline, runs paired by lr and seed\n")
        print(jrt_against_based(runs))
    for d_model, at_width in runs.groupby("d_model"):
        print(f"\n## d_model {d_model}: accuracy by set order (per run: mean over the order's test slices)\n")
        print(accuracy_table(at_width))
        print(f"\n## d_model {d_model}: ranges over the f cells (cell means) and over the runs\n")
        print(cell_ranges(at_width))
    by_order = load_mechanism(args.results, "intervention_by_order")
    matched = load_mechanism(args.results, "matched")
    placed = load_mechanism(args.results, "placed")
    print(
        f"\n## what the models compute: {by_order.config_hash.nunique()} runs analysed "
        f"({by_order.attrs['unanalysed']} without an analysis, {len(by_order.attrs['analysis_errors'])} "
        f"analysis errors); {placed.config_hash.nunique() if not placed.empty else 0} with the placed "
        "order effect\n"
    )
    print("the counts the prose cites:\n")
    print(prose_counts(df, runs, by_order) + "\n")
    print(intervention_tables(by_order))
    print("\n" + selected_table(matched))
    if not placed.empty:
        print("\nplaced (runs > 0 in brackets):\n")
        print(placed_table(placed))
    by_slice = load_mechanism(args.results, "intervention_by_slice")
    print(
        f"\n## the runs that check membership (interaction above {CHECKING_LOGITS:g} logits in both orders)\n"
    )
    print("short first minus long first over the mirror pairs of test slices (pairs > 0 in brackets):\n")
    _print_checking_runs(by_slice, by_order, "each run's")
    print("\nper cell, the per-run mean over the mirror pairs, mean ± s.e. over runs (runs > 0):\n")
    print(checking_summary(by_slice, by_order))
    analysed = set(by_order.config_hash)
    history = load_history(args.results)
    print(
        f"\n## when the accuracy rises during training ({len(analysed)} analysed runs; test accuracy "
        "after each epoch, means over runs)\n"
    )
    print(learning_table(history[history.config_hash.isin(analysed)], set(mechanism.checking_runs(by_order))))
    more = live_path(args.checking)
    if ResultsStore(more).exists():  # the `checking` profile: the same cell with more seeds
        more_order = load_mechanism(more, "intervention_by_order")
        more_slice = load_mechanism(more, "intervention_by_slice")
        both_order = pd.concat([by_order, more_order], ignore_index=True)
        both_slice = pd.concat([by_slice, more_slice], ignore_index=True)
        more_runs = training.run_orders(load(more), training.sd_order_of, FIRST, SECOND)
        print(f"\n## with the checking profile ({more}: {more_order.config_hash.nunique()} runs analysed)\n")
        print("all its runs, accuracy by set order:\n")
        print(accuracy_table(more_runs))
        print("\nits runs that check membership:\n")
        _print_checking_runs(more_slice, more_order, "each checking run's")
        print("\nthe paper and checking profiles together, per cell:\n")
        print(checking_summary(both_slice, both_order))
        more_history = load_history(more)
        more_history = more_history[more_history.config_hash.isin(set(more_order.config_hash))]
        print("\nits runs' accuracy during training (test accuracy after each epoch, means over runs):\n")
        print(learning_table(more_history, set(mechanism.checking_runs(more_order))))
        probes = pd.concat([load_mechanism(args.results, "probes"), load_mechanism(more, "probes")])
        probed = probes.config_hash.nunique() if not probes.empty else 0
        print(f"\n## the state of the checking runs after the first set ({probed} runs probed)\n")
        print(probe_table(probes))
        seen = pd.concat([load_mechanism(args.results, "seen_before"), load_mechanism(more, "seen_before")])
        if not seen.empty:  # records of version 5 on
            print(f"\n## the seen-before probe of the checking runs ({seen.config_hash.nunique()} runs)\n")
            print(set_read_table(seen))
        where = pd.concat([load_mechanism(args.results, "by_position"), load_mechanism(more, "by_position")])
        if not where.empty:  # records of version 6 on
            print(
                f"\n## accuracy by the shared token's position in B ({where.config_hash.nunique()} runs; "
                "short-first slices with |B| >= 256, first quarter of B minus the last)\n"
            )
            print(position_table(where, both_order))
        reads = pd.concat(
            [load_mechanism(args.results, "first_set_read"), load_mechanism(more, "first_set_read")]
        )
        if not reads.empty:  # records of version 7 on
            print(
                f"\n## the copy read against the first set alone ({reads.config_hash.nunique()} runs; "
                "short-first slices, and from record version 8 their long-first mirrors; first 256 "
                "examples each)\n"
            )
            print(first_set_read_table_md(reads))
    ranks = load_mechanism(args.results, "copy_rank")
    if not ranks.empty:  # records of version 9 on
        print(
            f"\n## the shared token's rank and the places of B ({ranks.config_hash.nunique()} runs; "
            "first 256 examples of each slice)\n"
        )
        print(rank_and_places_md(ranks, load_mechanism(args.results, "b_places")))
    for name, what in SEEN_BEFORE_CSVS:
        path = Path(args.data) / name
        if path.exists():
            print(f"\n## the seen-before probe of {what} (`{path.name}`)\n")
            print(set_read_table(pd.read_csv(path)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
