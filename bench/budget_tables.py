"""The tables of the `budget*` profiles (CPU: the `mechanism` data under the paper code's init,
trained ten times as long; `budget_3ep` at the mechanism's budget, `budget_pkgopt` with this
package's optimiser) in docs/results/cpu-scale.md, from their committed records.

    python bench/budget_tables.py [--results results/sd_order/budget/runs.jsonl ...]

Runs are grouped by variant, protocol (init and optimiser), training ("30 epochs", or "3 epochs"
for `budget_3ep`), d_model and f, so the profiles of one setting pool (`budget_small` and
`budget_seeds`). Reads the records only (never trains, never loads weights) and prints markdown:

1. per run: its setting and seed; the epochs it trained (early stop at 0.99); the test
   accuracy at each evaluation (every 3 epochs); its accuracy short first and long first (mean
   over each order's slices, :func:`synthetic.plots.training.run_orders`) and their difference;
   the copies' interaction in each order (logits, the record's copy intervention) and whether it
   checks membership (above 2 logits in both orders, :data:`CHECKING_LOGITS`);
2. per setting: runs, runs that check, the order effect (short first minus long
   first) as mean ± s.e. over runs (sd / sqrt(n), ddof 1) and the runs with short first ahead;
3. for the causal runs that check (records with the first-set read): accuracy pooled over the
   short-first and the long-first slices as trained, with the copy read against the state after A
   alone, and with another B token read so (the control), means over runs; and short first minus
   long first per way, mean ± s.e. over runs; then the same per run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.paper_tables import _label, _markdown, _plain, _se, _signed
from synthetic.analysis.first_set_read import WAYS
from synthetic.analysis.intervention import CHECKING_LOGITS
from synthetic.plots import mechanism, training
from synthetic.results import load, load_history, load_mechanism, load_runs

FIRST, SECOND = "short first", "long first"
SHAPE = ["variant", "init", "optimizer", "training", "d_model", "feature_dim"]
#: how each profile trains (all: the paper code's init; 30 epochs unless named here)
TRAINING = {"budget_3ep": "3 epochs"}
PROFILES = ("budget", "budget_small", "budget_seeds", "budget_jrt", "budget_3ep", "budget_pkgopt")
DEFAULT_RESULTS = [f"results/sd_order/{name}/runs.jsonl" for name in PROFILES]


def _protocol(variant: str, init: str, optimizer: str) -> str:
    """:func:`_label`, naming this package's optimiser where a run did not use the paper code's."""
    label = _label(variant, init)
    if optimizer != "reference":
        label = label.replace("init and optimiser", "init, this package's optimiser")
    return label


def run_table(runs: pd.DataFrame, history: pd.DataFrame, by_order: pd.DataFrame) -> str:
    """Section 1: one row per run (``runs``: :func:`training.run_orders`; ``history``:
    :func:`load_history`; ``by_order``: the copy intervention by order)."""
    checks = set(mechanism.checking_runs(by_order, CHECKING_LOGITS))
    interaction = by_order.pivot_table(index="config_hash", columns="order", values="interaction")
    rows = []
    for run in runs.sort_values([*SHAPE, "seed"]).itertuples():
        evals = history[history.config_hash == run.config_hash].sort_values("epoch")
        curve = " ".join(f"{a:.2f}" for a in evals.eval_accuracy)
        inter = interaction.loc[run.config_hash] if run.config_hash in interaction.index else None
        rows.append(
            [_protocol(run.variant, run.init, run.optimizer), run.training, str(run.d_model),
             str(run.feature_dim), str(run.seed), str(int(evals.epoch.max())), curve,
             f"{run.short_first:.3f} vs {run.long_first:.3f}, {_signed(run.difference)}",
             "n/a" if inter is None else f"{_signed(inter['short-first'])} / {_signed(inter['long-first'])}",
             "yes" if run.config_hash in checks else "no"]
        )  # fmt: skip
    header = ["variant, protocol", "training", "d_model", "f", "seed", "epochs", "accuracy every 3 epochs",
              "short vs long first, difference", "interaction short / long first", "checks"]  # fmt: skip
    return _markdown(header, rows)


def cell_table(runs: pd.DataFrame, by_order: pd.DataFrame) -> str:
    """Section 2: per setting (:data:`SHAPE`) the order effect over runs."""
    checks = set(mechanism.checking_runs(by_order, CHECKING_LOGITS))
    rows = []
    for (variant, init, optimizer, training_, d_model, f), cell in runs.groupby(SHAPE, sort=True):
        diff = cell.difference
        rows.append(
            [_protocol(variant, init, optimizer), training_, str(d_model), str(f), str(len(cell)),
             str(int(cell.config_hash.isin(checks).sum())),
             f"{_plain(cell.short_first.mean())} vs {_plain(cell.long_first.mean())}",
             f"{_signed(diff.mean())} ± {_se(diff)}", f"{int((diff > 0).sum())} / {len(cell)}"]
        )  # fmt: skip
    header = ["variant, protocol", "training", "d_model", "f", "runs", "check", "short vs long first",
              "short − long first", "short first ahead"]  # fmt: skip
    return _markdown(header, rows)


def _read_by_order(reads: pd.DataFrame, by_order: pd.DataFrame) -> pd.DataFrame:
    """The first-set read of the runs that check: accuracy pooled over each order's slices and
    B's parts (weighted by examples), one row per (d_model, f, seed, run, way), one column per
    order."""
    checks = set(mechanism.checking_runs(by_order, CHECKING_LOGITS))
    reads = reads[reads.config_hash.isin(checks) & (reads.n > 0)]
    reads = reads.assign(order=training.sd_order_of(reads.rename(columns={"size_a": "A", "size_b": "B"})))
    pooled = (
        reads.assign(hits=reads.accuracy * reads.n)
        .groupby(["d_model", "feature_dim", "seed", "config_hash", "way", "order"])[["hits", "n"]]
        .sum()
    )
    return (pooled.hits / pooled.n).unstack("order")


def first_set_read_runs(reads: pd.DataFrame, by_order: pd.DataFrame) -> str:
    """Section 3, per run: short first vs long first and their gap for each way of reading."""
    per_run = _read_by_order(reads, by_order)
    rows = []
    for (d_model, f, seed, _), run in per_run.groupby(
        level=["d_model", "feature_dim", "seed", "config_hash"]
    ):
        cells = []
        for way in WAYS:
            at = run.xs(way, level="way").iloc[0]
            cells.append(f"{_plain(at[FIRST])} vs {_plain(at[SECOND])}, {_signed(at[FIRST] - at[SECOND])}")
        rows.append([str(d_model), str(f), str(seed), *cells])
    return _markdown(["d_model", "f", "seed", *WAYS], rows)


def first_set_read_table(reads: pd.DataFrame, by_order: pd.DataFrame) -> str:
    """Section 3: the causal runs that check, per (d_model, f) and way of reading the copy."""
    per_run = _read_by_order(reads, by_order)
    rows = []
    for (d_model, f, way), cell in per_run.groupby(level=["d_model", "feature_dim", "way"], sort=True):
        gap = cell[FIRST] - cell[SECOND]
        rows.append(
            [str(d_model), str(f), way, str(len(cell)),
             f"{_plain(cell[FIRST].mean())} vs {_plain(cell[SECOND].mean())}",
             f"{_signed(gap.mean())} ± {_se(gap)}", f"{int((gap > 0).sum())} / {len(cell)}"]
        )  # fmt: skip
    rows.sort(key=lambda r: (int(r[0]), int(r[1]), WAYS.index(r[2]) if r[2] in WAYS else len(WAYS)))
    header = ["d_model", "f", "copy read", "runs", "short vs long first", "short − long first",
              "short first ahead"]  # fmt: skip
    return _markdown(header, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", nargs="+", default=DEFAULT_RESULTS, help="runs.jsonl files")
    args = parser.parse_args(argv)
    sources = [p for p in args.results if Path(p).exists()]
    if not sources:
        parser.error(f"none of --results exists: {args.results}")
    runs = training.run_orders(load(sources), training.sd_order_of, FIRST, SECOND)
    runs = runs.rename(columns={FIRST: "short_first", SECOND: "long_first"})
    flat = load_runs(sources).set_index("config_hash")
    runs["optimizer"] = runs.config_hash.map(flat.optimizer)
    runs["training"] = runs.config_hash.map(flat.profile).map(lambda p: TRAINING.get(p, "30 epochs"))
    by_order = load_mechanism(sources, "intervention_by_order")
    print(f"## the runs ({len(runs)}; {', '.join(sources)})\n")
    print(run_table(runs, load_history(sources), by_order))
    print("\n## per cell: the order effect, mean ± s.e. over runs\n")
    print(cell_table(runs, by_order))
    reads = load_mechanism(sources, "first_set_read")
    if not reads.empty:
        print("\n## the causal runs that check: the copy read against the state after A alone\n")
        print(first_set_read_table(reads, by_order))
        print("\nper run (short first vs long first, their gap):\n")
        print(first_set_read_runs(reads, by_order))
    return 0


if __name__ == "__main__":
    sys.exit(main())
