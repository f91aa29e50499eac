"""Run the synthetic experiments, list them and show their results.

usage:
  python -m synthetic run EXPERIMENT [--profile NAME] [--workers N] [--ensemble K] [--results DIR]
                                     [--runner local|ray] [--ray-address ADDR] [--gpus-per-run G]
                                     [--retry-failed] [--skip-bad-lines] [--save-models]
                                     [--analysis none|intervention|checking|full] [--time-limit SECONDS]
                                     [--snapshot-mb MB] [--no-snapshots] [--quiet]
  python -m synthetic list
  python -m synthetic show RESULTS [--results DIR] [--all] [--skip-bad-lines]
  python -m synthetic archive RESULTS [--results DIR]

EXPERIMENT is a name printed by 'list' or the path of a TOML file. RESULTS is a runs.jsonl file,
a folder holding such files, or EXPERIMENT[/PROFILE] under --results (default: results).
Installed as the 'readtwice' command.

Exit status: 0 on success; 1 when a run of this invocation failed (a diverged run, kept as a
result) or hit an environment error (not a result, e.g. a lost worker; retried on the next
invocation); 2 for bad arguments or input; 130 when interrupted (Ctrl-C: one line says what was
recorded and what was dropped; a second Ctrl-C kills at once); 141 when the reader of the output
went away (e.g. '| head'), as a program killed by SIGPIPE, without a traceback.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from synthetic import interrupts

EXIT_RUNS_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a program stopped by Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a program killed by SIGPIPE


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text} must be a finite number > 0")
    return value


def _failure_line(failed: int, errored: int) -> str:
    """'2 runs failed (diverged) and 1 errored (environment; ...)' for the exit message."""
    parts = []
    if failed:
        plural = "s" if failed != 1 else ""
        parts.append(f"{failed} run{plural} failed (recorded as results; --retry-failed reruns them)")
    if errored:
        runs = "" if failed else ("runs " if errored != 1 else "run ")
        parts.append(f"{errored} {runs}errored (environment; will be retried on the next invocation)")
    return " and ".join(parts)


def _cmd_run(args: argparse.Namespace) -> int:
    from synthetic.sweep import load_experiment, run_sweep

    if args.runner != "ray":
        given = [
            f for f, v in (("--ray-address", args.ray_address), ("--gpus-per-run", args.gpus_per_run)) if v
        ]
        if given:
            raise ValueError(
                f"{' and '.join(given)} only apply with --runner ray (got --runner {args.runner})"
            )
    exp = load_experiment(args.experiment)
    kwargs: dict[str, Any] = {}
    if args.ray_address is not None:
        kwargs["ray_address"] = args.ray_address
    if args.gpus_per_run is not None:
        kwargs["gpus_per_run"] = args.gpus_per_run
    if args.ensemble is not None:
        kwargs["ensemble"] = args.ensemble
    summary = run_sweep(
        exp,
        args.profile,
        results_dir=args.results,
        workers=args.workers,
        runner=args.runner,
        retry_failed=args.retry_failed,
        progress=not args.quiet,
        skip_bad_lines=args.skip_bad_lines,
        save_models=args.save_models,
        analysis=args.analysis,
        time_limit=args.time_limit,
        use_snapshots=args.snapshots,
        snapshot_mb=args.snapshot_mb,
        **kwargs,
    )
    print(summary)
    for line in summary.failures:  # each names its status ("failed: ...", "error: ...")
        print(f"  {line}")
    failed, errored = summary.failed, getattr(summary, "errored", 0)
    if failed + errored:
        print(f"error: {_failure_line(failed, errored)}", file=sys.stderr)
        return EXIT_RUNS_FAILED
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
    """The results file or folder ``spec`` names (a store whose records are all archived counts:
    its ``runs.jsonl`` need not exist; an archive's path names its store's live file)."""
    from synthetic.results import archive_path, live_path

    for path in (Path(spec), results_dir / spec):
        if path.exists() or archive_path(path).exists():
            return live_path(path)
    raise FileNotFoundError(
        f"{spec!r} is neither a results file/folder nor EXPERIMENT[/PROFILE] under {results_dir}"
    )


def _report_snapshots(path: Path, recorded: set[str]) -> None:
    """One line per ensemble that stopped mid-way and will go on from its snapshot (or that is
    stale: all its runs ``recorded``, so the next sweep deletes it)."""
    from synthetic import snapshots

    folder = path.parent if path.is_file() else path
    files = sorted(folder.rglob(f"{snapshots.SNAPSHOTS_DIR}/*.safetensors"))
    for file in files:
        try:
            state = snapshots.peek(file)
            line = (
                f"{len(state['members'])} of {state['size']} runs at step {state['step']} "
                f"({state['epochs_done']} epochs done)"
            )
            what = "stale, all its runs recorded" if set(state["members"]) <= recorded else "in flight"
        except Exception as err:  # say what it is, do not stop the listing
            line, what = f"not a readable snapshot ({err})", "in flight?"
        print(f"  {what}: {file}: {line}")


def _cmd_archive(args: argparse.Namespace) -> int:
    from synthetic.results import RUNS_FILE, ResultsStore

    path = _resolve_results(args.results_spec, args.results)
    path = path / RUNS_FILE if path.is_dir() else path
    store = ResultsStore(path)
    if not store.exists():
        raise FileNotFoundError(f"{path} does not exist: nothing to archive")
    moved = store.archive()
    total = len(store.records())
    print(f"{path}: {moved} records moved into {store.archive_path.name} ({total} archived in all)")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from synthetic.results import load_runs

    runs = load_runs(_resolve_results(args.results_spec, args.results), skip_bad_lines=args.skip_bad_lines)
    bad = runs.attrs.get("bad_lines", [])
    if runs.empty:
        print("no runs recorded")
        _report_snapshots(_resolve_results(args.results_spec, args.results), set())
        _report_bad_lines(bad)
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
        print(f"  {row['status']} {row['variant']} d_model={row['d_model']} lr={row['lr']}: {row['error']}")
    recorded = set(runs.loc[runs.status != "error", "config_hash"])
    _report_snapshots(_resolve_results(args.results_spec, args.results), recorded)
    _report_bad_lines(bad)
    return 0


def _report_bad_lines(bad: list[str]) -> None:
    if bad:
        print(
            f"skipped {len(bad)} bad line{'s' if len(bad) != 1 else ''} (--skip-bad-lines)", file=sys.stderr
        )


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


SKIP_BAD_LINES_HELP = (
    "skip lines of runs.jsonl that are not run records (each is reported with its file:line) "
    "instead of stopping at the first"
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m synthetic`` (every subcommand and option has a help text)."""
    summary, _, rest = __doc__.partition("\n\n")
    parser = argparse.ArgumentParser(
        prog="python -m synthetic",
        description=summary,
        epilog=rest.partition("\n\n")[2],  # the usage block is argparse's own
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")

    run = add("run", "run (or resume) an experiment's sweep and record each run")
    run.add_argument("experiment", help="experiment name (see 'list') or path to a TOML file")
    run.add_argument("--profile", default="quick", help="profile of the experiment (default: quick)")
    run.add_argument(
        "--workers", type=_positive_int, default=1, help="local worker processes, >= 1 (default: 1)"
    )
    run.add_argument(
        "--ensemble",
        type=_positive_int,
        default=None,
        metavar="K",
        help="most runs trained together as one ensemble, >= 1 (default: 4 on a CPU, 32 on a GPU)",
    )
    run.add_argument(
        "--results", type=Path, default=Path("results"), help="results folder (default: results)"
    )
    run.add_argument(
        "--runner",
        choices=["local", "ray"],
        default="local",
        help="where runs execute: local processes, or Ray tasks (needs 'readtwice[dist]'; default: local)",
    )
    run.add_argument(
        "--ray-address",
        default=None,
        metavar="ADDR",
        help="address of a running Ray cluster to join, e.g. 'auto' or 'ray://host:10001' "
        "(--runner ray; default: start a local Ray instance)",
    )
    run.add_argument(
        "--gpus-per-run",
        type=_positive_float,
        default=None,
        metavar="G",
        help="GPUs each Ray task (one ensemble) reserves, a finite number > 0; fractions pack several "
        "ensembles on a GPU (--runner ray; default: 1)",
    )
    run.add_argument(
        "--retry-failed", action="store_true", help="rerun runs whose record says failed (e.g. diverged)"
    )
    run.add_argument("--skip-bad-lines", action="store_true", help=SKIP_BAD_LINES_HELP)
    run.add_argument(
        "--save-models",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="keep each run's trained weights as models/CONFIG_HASH.safetensors beside runs.jsonl "
        "(read back with synthetic.results.load_model; default: the profile's save_models, off)",
    )
    run.add_argument(
        "--analysis",
        choices=["none", "intervention", "checking", "full"],
        default=None,
        help="analyse each trained SD model before it is dropped and store the numbers in its record "
        "(intervention: copy intervention and the order effect at matched copy positions, selected and "
        "placed; checking: and the state probes of the models whose copies interact by more than 2 "
        "logits in both orders; full: and the state probes of every model; default: the profile's "
        "analysis, none)",
    )
    run.add_argument(
        "--snapshot-mb",
        type=_positive_float,
        default=None,
        metavar="MB",
        help="most megabytes one ensemble's snapshot may take (12 bytes a parameter a member): "
        "fewer members per ensemble where the model is large; for jobs that carry their snapshots "
        "in a limited transfer (default: no limit)",
    )
    run.add_argument(
        "--time-limit",
        type=_positive_float,
        default=None,
        metavar="SECONDS",
        help="start no ensemble expected to end later than SECONDS after the start (judged by the "
        "longest ensemble finished so far); the runs left wait for the next invocation. For jobs "
        "with a hard end, where a cut-off ensemble would be lost (local runners only)",
    )
    run.add_argument(
        "--snapshots",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="each ensemble saves its state after every evaluation in snapshots/ beside runs.jsonl "
        "(deleted once its runs are recorded), and an interrupted ensemble goes on from there next time "
        "(default: on)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.set_defaults(func=_cmd_run)

    lst = add("list", "list the experiments, their variants and profiles")
    lst.set_defaults(func=_cmd_list)

    show = add("show", "summarise recorded runs: best accuracy per model size, then every run")
    show.add_argument("results_spec", metavar="RESULTS", help="runs.jsonl, a folder, or EXPERIMENT[/PROFILE]")
    show.add_argument(
        "--results", type=Path, default=Path("results"), help="results folder (default: results)"
    )
    show.add_argument("--all", action="store_true", help="print every run (default: the first 40 rows)")
    show.add_argument("--skip-bad-lines", action="store_true", help=SKIP_BAD_LINES_HELP)
    show.set_defaults(func=_cmd_show)

    arch = add(
        "archive",
        "move the records of a runs.jsonl into runs.archive.jsonl.gz beside it (compressed; read "
        "with the live file as one store)",
    )
    arch.add_argument("results_spec", metavar="RESULTS", help="runs.jsonl, its folder, or EXPERIMENT/PROFILE")
    arch.add_argument(
        "--results", type=Path, default=Path("results"), help="results folder (default: results)"
    )
    arch.set_defaults(func=_cmd_archive)
    return parser


def _show_warning(message: Warning | str, category: type[Warning], *_: object, **__: object) -> None:
    """Warnings (skipped bad lines, a partial last line) as one 'warning: ...' line on stderr."""
    print(f"warning: {message}", file=sys.stderr)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (e.g. captured)
        pass


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m synthetic`` and the ``readtwice`` command; returns the exit code
    (see the module docstring)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings(), interrupts.second_kills():
            warnings.showwarning = _show_warning
            code = int(args.func(args))
            sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except KeyboardInterrupt as err:  # a SweepInterrupted says what was recorded and dropped
        print(str(err) or "interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
