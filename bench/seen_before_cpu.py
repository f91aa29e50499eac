"""The seen-before probe on the CPU-scale models of the ``mechanism`` profile, beside their state probes.

    python bench/seen_before_cpu.py [--profile mechanism] [--variants "Based (causal)" "Based (non-causal)"]
                                    [--examples 512] [--state-examples 0] [--untrained N] [--device cpu]
                                    [--out CSV]
    python bench/seen_before_cpu.py --label CSV [--profile checking] [--untrained 1]

Needs the profile's trained weights (a sweep keeps them under results/sd_order/mechanism/models/,
which git does not track: ``python -m synthetic run sd_order --profile mechanism`` trains them and
keeps them, some CPU-hours). For each kept model of the chosen variants it runs
:func:`synthetic.analysis.seen_before_probe` on the model's test split (at most ``--examples`` a
slice, half fit, half score) and puts beside it the state probe of the whole state after the first
set from the run's record (``mechanism.probes``; with ``--state-examples N`` probed again here on N
examples a slice, e.g. for the paper-scale models whose records probed 256): what the state holds
against what the model's read of the next token reaches. Each model's row names its ``mechanism``
(``checks``, ``counts`` or ``not analysed``, from its record's copy intervention:
:func:`synthetic.plots.mechanism.run_mechanisms`; ``untrained`` below). Prints the means over seeds
per variant, init, d_model, mechanism and slice, and writes one row per model and slice.
``--label CSV`` measures nothing: it rewrites the ``mechanism`` column of a CSV this script wrote
(on a GPU, say) from the records here (with ``--untrained N``: ``untrained``).

``--untrained N`` probes, instead of the kept models, the untrained models that the first N ok runs
of each variant started from (their config and seed; no weights needed): the floor a trained
model's numbers stand against. ``--device cuda`` runs the models on a GPU (fp32), where the
paper-scale models are quick (``bash bench/gpu_session.sh seen-before``). On a 2-core CPU the
seen-before probe reads the 2,044 candidates of an example in about 0.03 s at d_model 96 since it
stopped copying the state for each (a d_model 96 model's 20 slices at 256 examples: 177 s); the
state probes at 1,024 examples cost more.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synthetic.analysis import probe_first_set, seen_before_probe
from synthetic.config import RunConfig
from synthetic.ensemble import load_splits
from synthetic.model import build_model
from synthetic.plots.mechanism import relabel_csv, run_mechanisms
from synthetic.results import ResultsStore, load_mechanism, load_model, results_path

KEEP = [
    "slice",
    "size_a",
    "size_b",
    "order",
    "n_fit",
    "n_eval",
    "auc",
    "auc_se",
    "recall",
    "info_bits",
    "first_set_bits",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default="results", help="results folder")
    parser.add_argument(
        "--profile", default="mechanism", help="the sd_order profile whose kept models to read"
    )
    parser.add_argument("--variants", nargs="+", default=["Based (causal)", "Based (non-causal)"])
    parser.add_argument("--examples", type=int, default=512, help="examples a slice (half fit the map)")
    parser.add_argument(
        "--state-examples",
        type=int,
        default=0,
        help="probe the state again with this many examples a slice (0: the record's own state probe)",
    )
    parser.add_argument(
        "--untrained",
        type=int,
        default=0,
        help="probe the initial models of the first N ok runs of each variant instead of the kept ones",
    )
    parser.add_argument("--device", default="cpu", help="where the models run (cpu, cuda)")
    parser.add_argument("--out", default="figures/data/seen_before_mechanism.csv")
    parser.add_argument(
        "--label",
        type=Path,
        help="measure nothing: rewrite the mechanism column of this CSV from the records",
    )
    args = parser.parse_args(argv)
    path = results_path(args.results, "sd_order", args.profile)
    if args.label is not None:
        counts = relabel_csv(args.label, path, untrained=bool(args.untrained))
        print(f"wrote {args.label}: {counts} models")
        return 0
    known = run_mechanisms(path)
    records = ResultsStore(path).latest()
    state = load_mechanism(path, "probes")
    if not state.empty:
        state = state[(state.point == "separator") & (state.mixer == "all")]
    state = state.set_index(["config_hash", "slice"]) if not state.empty else None
    frames, missing = [], 0
    taken: dict[str, int] = {}
    for run, rec in sorted(records.items()):
        cfg = RunConfig.model_validate(rec["config"])
        summary = cfg.summary()
        if summary["variant"] not in args.variants or rec.get("status") != "ok":
            continue
        if args.untrained:
            if taken.get(summary["variant"], 0) >= args.untrained:
                continue
            taken[summary["variant"]] = taken.get(summary["variant"], 0) + 1
            model = build_model(cfg.model, cfg.data.vocab_size, seed=cfg.seed).to(args.device).eval()
        else:
            try:
                model = load_model(rec, args.results, device=args.device)
            except (FileNotFoundError, ValueError) as err:
                missing += 1
                print(f"{run}: no weights ({err})", file=sys.stderr)
                continue
        start = time.perf_counter()
        _, test = load_splits(cfg.data)
        table = seen_before_probe(model, test, max_examples=args.examples)[KEEP]
        table.insert(0, "config_hash", run)
        table.insert(1, "mechanism", "untrained" if args.untrained else known[run])
        for key in ("variant", "d_model", "seed"):
            table.insert(1, key, summary[key])
        table.insert(1, "init", cfg.model.init)
        own = None if args.untrained else state
        if args.state_examples > 0:  # the whole state after the first set, probed again here
            again = probe_first_set(model, test, points=("separator",), max_examples=args.state_examples)
            own = again[again.mixer == "all"].assign(config_hash=run).set_index(["config_hash", "slice"])
        table["state_auc"] = [None if own is None else own.auc.get((run, s)) for s in table.slice]
        table["state_info_bits"] = [None if own is None else own.info_bits.get((run, s)) for s in table.slice]
        frames.append(table)
        pd.concat(frames, ignore_index=True).to_csv(args.out, index=False)  # kept if a later model is cut off
        print(f"{summary['variant']} {cfg.model.init} d_model {summary['d_model']} seed {summary['seed']}: "
              f"{time.perf_counter() - start:.1f} s", flush=True)  # fmt: skip
    if not frames:
        raise SystemExit(f"no kept weights of {args.variants} under {path} ({missing} runs without)")
    out = pd.concat(frames, ignore_index=True)  # written after each model above
    cols = ["auc", "info_bits", "state_auc", "state_info_bits", "first_set_bits"]
    keys = ["variant", "init", "d_model", "mechanism", "slice"]
    means = out.groupby(keys)[cols].mean().round(3)
    means.insert(0, "models", out.groupby(keys).size())
    print(means.to_string())
    print(f"wrote {args.out} ({len(out)} rows; {missing} runs without weights)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
