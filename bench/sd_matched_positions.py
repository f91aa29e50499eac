"""Is the CPU-scale order effect memory or position weighting? Train runs of the `mechanism`
profile and compare the orders at matched copy positions (synthetic.analysis.matched).

    python bench/sd_matched_positions.py [--variants "Based (causal)" ...] [--d-model 64]
                                         [--seeds 0 1 2 3] [--test-examples 8192]
                                         [--out figures/data/sd_matched_positions.csv]

Each (variant, d_model) trains its runs (both inits x the seeds) as one ensemble, the package's own
training (``train_ensemble`` with ``keep_models=True``), then reads every model on a fresh test
set of the profile's four slices (``--test-examples`` per slice, data seed 10,000 + the run's
seed, so no test example was trained on), and writes one row per run, mirror pair and matching
(the copies' columns, or their indices in their sets): the order effect over all examples and at
matched copy positions, each with its standard error. It prints
the mean over seeds per (variant, init) with the standard error over seeds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synthetic.analysis import copy_intervention
from synthetic.analysis.matched import MATCHINGS, matched_order_effect
from synthetic.config import RunConfig
from synthetic.ensemble import train_ensemble
from synthetic.sweep import expand, load_experiment
from synthetic.tasks import build_split
from synthetic.tasks.data import SplitData


def fresh_test_split(cfg: RunConfig, examples: int) -> SplitData:
    """The run's test slices with ``examples`` new examples each (data seed 10,000 + its seed)."""
    segments = [{**s.model_dump(exclude={"name"}), "num_examples": examples} for s in cfg.data.test_segments]
    data = cfg.data.model_copy(update={"seed": 10_000 + cfg.seed})
    data = type(cfg.data).model_validate({**data.model_dump(), "test_segments": segments})
    return build_split(data, "test")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="mechanism")
    parser.add_argument(
        "--variants", nargs="+", default=["Based (causal)", "Based (non-causal)", "JRT-Prompt", "JRT-RNN"]
    )
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3])
    parser.add_argument("--test-examples", type=int, default=8192)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("figures/data/sd_matched_positions.csv"))
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    configs = expand(load_experiment("sd_order"), args.profile)
    rows = []
    for variant in args.variants:
        cfgs = [
            c
            for c in configs
            if c.variant == variant and c.model.d_model == args.d_model and c.seed in args.seeds
        ]
        if not cfgs:
            parser.error(f"no runs of {variant!r} at d_model {args.d_model} with seeds {args.seeds}")
        t0 = time.perf_counter()
        for outcome in train_ensemble(cfgs, keep_models=True):
            cfg = outcome.cfg
            if outcome.model is None or outcome.metrics is None:
                print(
                    f"{variant} init={cfg.model.init} seed={cfg.seed}: failed ({outcome.error})", flush=True
                )
                continue
            table = copy_intervention(outcome.model, fresh_test_split(cfg, args.test_examples))
            for matching in MATCHINGS:
                for row in matched_order_effect(table, matching).to_dict("records"):
                    rows.append(
                        {"variant": variant, "d_model": args.d_model, "init": cfg.model.init,
                         "seed": cfg.seed, "lr": cfg.train.lr,
                         "test_accuracy": outcome.metrics.final.evaluation.accuracy,
                         "matching": matching, **row}
                    )  # fmt: skip
            print(
                f"{variant} init={cfg.model.init} seed={cfg.seed}: done at {time.perf_counter() - t0:.0f} s",
                flush=True,
            )
    df = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False)
    summary = (
        df.groupby(["variant", "init", "short", "long", "matching"])[["difference", "matched_difference"]]
        .agg(["mean", "sem", "count"])
        .round(4)
    )
    print(summary.to_string())
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
