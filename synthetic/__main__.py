"""Command line: run experiments, list them, show their results.

    python -m synthetic run EXPERIMENT [--profile quick|paper] [--workers N] [--results DIR]
                                       [--runner local|ray] [--retry-failed] [--quiet]
    python -m synthetic list
    python -m synthetic show RESULTS [--all]

EXPERIMENT is a name from ``list`` or a path to a TOML file. RESULTS is a ``runs.jsonl`` file, a
folder holding such files, or ``EXPERIMENT[/PROFILE]`` under ``--results`` (default ``results``).
Installed as the ``readtwice`` command.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd


def _cmd_run(args: argparse.Namespace) -> int:
    from synthetic.sweep import load_experiment, run_sweep

    exp = load_experiment(args.experiment)
    summary = run_sweep(
        exp,
        args.profile,
        results_dir=args.results,
        workers=args.workers,
        runner=args.runner,
        retry_failed=args.retry_failed,
        progress=not args.quiet,
    )
    print(summary)
    for line in summary.failures:
        print(f"  failed: {line}")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from synthetic.sweep import available_experiments, expand, load_experiment

    for name, path in available_experiments().items():
        exp = load_experiment(path)
        print(f"{name}: {' '.join(exp.description.split())}")
        print(f"  variants: {', '.join(v.name for v in exp.variants)}")
        for prof_name, prof in exp.profiles.items():
            n = len(expand(exp, prof_name))
            print(f"  profile {prof_name}: {n} runs. {' '.join(prof.description.split())}")
    return 0


def _resolve_results(spec: str, results_dir: Path) -> Path:
    path = Path(spec)
    if path.exists():
        return path
    candidate = results_dir / spec
    if candidate.exists():
        return candidate
    raise FileNotFoundError(
        f"{spec!r} is neither a results file/folder nor EXPERIMENT[/PROFILE] under {results_dir}"
    )


def _cmd_show(args: argparse.Namespace) -> int:
    from synthetic.results import load_runs

    runs = load_runs(_resolve_results(args.results_spec, args.results))
    if runs.empty:
        print("no runs recorded")
        return 0
    cols = [
        "experiment",
        "profile",
        "variant",
        "d_model",
        "feature_dim",
        "lr",
        "seed",
        "paper_state_bytes",
        "state_bytes",
        "accuracy",
        "epochs",
        "wall_time_s",
        "status",
    ]
    table = runs[[c for c in cols if c in runs.columns]].sort_values(
        [
            c
            for c in ("experiment", "profile", "variant", "paper_state_bytes", "lr", "seed")
            if c in runs.columns
        ]
    )
    if not args.all:
        print(_best_table(runs).to_string(index=False))
        print()
    with pd.option_context("display.max_rows", None if args.all else 40, "display.width", 160):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    failed = runs[runs.status != "ok"]
    print(f"\n{len(runs)} runs, {len(runs) - len(failed)} ok, {len(failed)} failed")
    for _, row in failed.iterrows():
        print(f"  failed {row['variant']} d_model={row['d_model']} lr={row['lr']}: {row['error']}")
    return 0


def _best_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Best accuracy over lr and seeds per (variant, state size), as the paper's Figure 2 plots."""
    ok = runs[runs.status == "ok"]
    if ok.empty:
        return ok
    keys = [
        k
        for k in ("experiment", "profile", "variant", "d_model", "feature_dim", "paper_state_bytes")
        if k in ok
    ]
    return (
        ok.groupby(keys, dropna=False)["accuracy"]
        .max()
        .reset_index()
        .rename(columns={"accuracy": "best_accuracy"})
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m synthetic", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run (or resume) an experiment's sweep")
    run.add_argument("experiment", help="experiment name (see `list`) or path to a TOML file")
    run.add_argument("--profile", default="quick", help="profile of the experiment (default: quick)")
    run.add_argument("--workers", type=int, default=1, help="local worker processes (default: 1)")
    run.add_argument(
        "--results", type=Path, default=Path("results"), help="results folder (default: results)"
    )
    run.add_argument("--runner", choices=["local", "ray"], default="local")
    run.add_argument("--retry-failed", action="store_true", help="rerun runs whose record says failed")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.set_defaults(func=_cmd_run)

    lst = sub.add_parser("list", help="list the experiments, their variants and profiles")
    lst.set_defaults(func=_cmd_list)

    show = sub.add_parser("show", help="summarise recorded runs")
    show.add_argument("results_spec", metavar="RESULTS", help="runs.jsonl, a folder, or EXPERIMENT[/PROFILE]")
    show.add_argument(
        "--results", type=Path, default=Path("results"), help="results folder (default: results)"
    )
    show.add_argument("--all", action="store_true", help="print every run")
    show.set_defaults(func=_cmd_show)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m synthetic`` and the ``readtwice`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
