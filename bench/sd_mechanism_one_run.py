"""Train ONE run of an sd_order profile, time it, and analyse the trained model (synthetic.analysis).

    python bench/sd_mechanism_one_run.py --profile anticount --variant "Based (causal)" \\
        --d-model 64 --init torch --seed 0 [--out figures/data/sd_mechanism_one_run]

Prints the run's training time and accuracy, the copy intervention summarised by order, and the
state probes at the separator and the end (whole state and each layer's kv), and with ``--out``
writes the three tables as CSV. It times how long one run of the ``mechanism`` / ``anticount``
profiles takes (the profiles are 128 runs each) and shows what the analysis reports on it; the
training is the package's own (``train_ensemble`` with ``keep_models=True``), the analysis only
reads the model.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch

from synthetic.analysis import copy_intervention, position_profile, probe_first_set, summarize_intervention
from synthetic.ensemble import load_splits, train_ensemble
from synthetic.sweep import expand, load_experiment


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--experiment", default="sd_order")
    parser.add_argument("--profile", default="anticount")
    parser.add_argument("--variant", default="Based (causal)")
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--init", default="torch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: one core)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the CSV tables")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    runs = [
        cfg
        for cfg in expand(load_experiment(args.experiment), args.profile)
        if cfg.variant == args.variant
        and cfg.model.d_model == args.d_model
        and cfg.model.init == args.init
        and cfg.seed == args.seed
    ]
    if len(runs) != 1:
        raise SystemExit(
            f"{len(runs)} runs of {args.profile} match; give --variant, --d-model, --init, --seed"
        )
    cfg = runs[0]
    t0 = time.perf_counter()
    (outcome,) = list(train_ensemble([cfg], keep_models=True))
    wall = time.perf_counter() - t0
    if outcome.error is not None or outcome.model is None or outcome.metrics is None:
        raise SystemExit(f"the run failed: {outcome.error}")
    metrics = outcome.metrics
    print(
        f"{cfg.profile} / {cfg.variant} / d_model {args.d_model} / init {args.init} / seed {args.seed}: "
        f"trained in {wall:.1f} s wall ({metrics.train_time_s:.1f} s training, {metrics.final.step} steps, "
        f"{args.threads} thread(s)); test accuracy {metrics.final.evaluation.accuracy:.3f}"
    )
    print("per slice:", {k: round(v, 3) for k, v in metrics.final.evaluation.slice_accuracy.items()})

    _, test = load_splits(cfg.data)
    t1 = time.perf_counter()
    table = copy_intervention(outcome.model, test)
    t2 = time.perf_counter()
    probes = probe_first_set(outcome.model, test)
    t3 = time.perf_counter()
    print(f"analysis: copy intervention {t2 - t1:.1f} s, probes {t3 - t2:.1f} s")
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    by_order = summarize_intervention(table, ("order",))
    by_slice = summarize_intervention(table, ("slice",))
    cols = ["n", "accuracy", "gain_first", "gain_first_se", "gain_second", "gain_second_se"]
    cols += ["interaction", "interaction_se"]
    print(by_order[["order", *cols]].round(3).to_string(index=False))
    print(by_slice[["slice", *cols]].round(3).to_string(index=False))
    shown = probes[(probes["layer"] == -1) | (probes["component"] == "kv")]
    pcols = ["slice", "point", "layer", "component", "auc", "auc_vs_second", "recall", "chance_recall"]
    pcols += ["info_bits", "first_set_bits", "bound_bits"]
    print(shown[pcols].round(3).to_string(index=False))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out / "intervention.csv", index=False)
        probes.to_csv(args.out / "probes.csv", index=False)
        position_profile(table, "first").to_csv(args.out / "profile_first.csv", index=False)
        print(f"wrote {args.out}/intervention.csv, probes.csv, profile_first.csv")


if __name__ == "__main__":
    main()
