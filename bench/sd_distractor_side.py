"""Do the models trained on SD with a distractor check membership, or vote by set? Read every kept
model of a committed sweep on its test set twice: as generated (the distractor read second) and
with the sets swapped (the distractor read first; synthetic.analysis.distractor_side).

    python bench/sd_distractor_side.py [--results results/sd_order/anticount]
                                       [--out figures/data/sd_distractor_side.csv] [--threads N]

Reads the runs' saved weights (``models/<config_hash>.safetensors``, kept by the sweep) and never
trains. Writes one row per run, test slice and side (accuracy with its binomial standard error,
how often the answer is the distractor) and prints, per (variant, d_model, init) and side, the
mean over seeds of each order's accuracy and of the order effect (short-first minus long-first,
as read) with the standard error over seeds and how many seeds have short-first ahead.

What the mechanisms predict (the module docstring of synthetic.analysis.distractor_side): a
membership check keeps its accuracy with the distractor read first; a vote in which a copy weighs
1 / |its set| keeps its accuracy where the distractor's set is the longer one, so the order effect
as read changes sign; primacy (the first set weighs more) answers the distractor on the swapped
side in both orders.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synthetic.analysis import distractor_side
from synthetic.config import RunConfig
from synthetic.record import table_row
from synthetic.results import ResultsStore, load_model
from synthetic.tasks import build_split
from synthetic.tasks.data import SplitData

KEYS = ["variant", "d_model", "init"]


def kept_records(path: Path, task: str) -> list[dict]:
    """Every ok run of ``task`` with kept weights in the runs.jsonl ``path`` (each run's latest
    record)."""
    latest = {r["config_hash"]: r for r in ResultsStore(path).records()}
    kept = [dict(r) for r in latest.values() if r["status"] == "ok" and r.get("model_file")]
    if not kept:
        raise SystemExit(f"no ok run with kept weights in {path} (train it with save_models)")
    for record in kept:
        kind = RunConfig.model_validate(record["config"]).data.task.kind
        if kind != task:
            raise SystemExit(f"run {record['config_hash']} is task {kind!r}, not {task}")
    return kept


def read_each(path: Path, task: str, analyse: Callable[[nn.Module, SplitData], pd.DataFrame]) -> pd.DataFrame:
    """``analyse(model, test split)`` of every kept run in ``path`` (a runs.jsonl or its folder),
    with the run's variant, d_model, init, seed and config hash beside each row."""
    if path.is_dir():
        path = path / "runs.jsonl"
    kept = kept_records(path, task)
    frames = []
    t0 = time.perf_counter()
    for i, record in enumerate(kept, start=1):
        cfg = RunConfig.model_validate(record["config"])
        table = analyse(load_model(record, path), build_split(cfg.data, "test"))
        row = table_row(record)
        frames.append(table.assign(**{k: row[k] for k in (*KEYS, "seed", "config_hash")}))
        print(f"[{i}/{len(kept)}] {row['variant']} d={row['d_model']} {row['init']} seed {row['seed']} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)  # fmt: skip
    return pd.concat(frames, ignore_index=True)


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
    out["effect se"] = grouped["effect"].std(ddof=1) / grouped["effect"].count() ** 0.5
    out["seeds"] = grouped["effect"].count()
    out["short-first ahead"] = grouped["effect"].apply(lambda s: int((s > 0).sum()))
    return out.reset_index()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=Path("results/sd_order/anticount"))
    parser.add_argument("--out", type=Path, default=Path("figures/data/sd_distractor_side.csv"))
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    rows = read_each(args.results, "sd_distractor", distractor_side)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows.to_csv(args.out, index=False)
    table = summary(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.precision", 3):
        print(table.to_string(index=False))
    print(f"wrote {args.out} ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
