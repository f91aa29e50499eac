"""`make figures`: build every registered figure into figures/ (PNG + PDF + CSV).

    python -m synthetic.figures [--profile quick|paper] [--only NAME ...] [--list] [--out DIR]
                                [--results DIR] [--retrain NAME ...]

This module is the one place that decides what is trained for a figure. Plot functions
(:mod:`synthetic.plots`) take tables and give figures; they never train.

- Theory, construction and kernel figures: builders in :data:`FIGURE_MODULES` (``FIGURES`` of
  each), computed from :mod:`sdtheory` or redrawn from measured CSVs.
- ``sd_order_state`` and ``mqar_order_state``: the ``--profile`` of the experiment (``quick`` by
  default). Missing runs of a CPU profile are trained here (resumable); a GPU profile's missing
  runs are trained only where CUDA is available, otherwise the build says which command to run.
- ``sd_order_sensitivity``, ``sd_order_seeds`` and ``sd_order_state_paper`` (and its ``_mean``
  version): redrawn from results
  committed in the repository (``results/sd_order/<profile>``), like
  ``kernels_prefill`` from its CSV. ``--retrain NAME`` trains their missing runs first (about an
  hour of one CPU core for the sensitivity, 20 minutes of two for the seeds; the paper profile
  needs a GPU).

A figure whose data cannot be had here (no committed runs and no way to train them) is skipped by
a full build with a line saying what is missing; asked for with ``--only``, it is an error.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from synthetic import interrupts
from synthetic.analysis.intervention import CHECKING_LOGITS
from synthetic.envvars import int_from_env
from synthetic.plots import mechanism, training
from synthetic.plots.common import FigureContext, save_figure

FIGURE_MODULES: tuple[str, ...] = (
    "synthetic.plots.theory",
    "synthetic.plots.constructions",
    "synthetic.plots.kernels",
    "synthetic.plots.positions",
    "synthetic.plots.b_places",
    "synthetic.plots.pass_copies",
)
#: figures redrawn from committed results (``--retrain NAME`` trains their missing runs first)
FROM_COMMITTED: tuple[str, ...] = (
    "sd_order_sensitivity",
    "sd_order_seeds",
    "sd_order_state_paper",
    "sd_order_state_paper_mean",
    "sd_mechanism",
    "sd_mechanism_paper",
    "sd_checking_paper",
    "sd_order_anticount",
)

Builder = Callable[[FigureContext], None]
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as ``python -m synthetic``


class FigureUnavailable(RuntimeError):
    """The data behind a figure is not here and cannot be made here (the message says why)."""


# ------------------------------------------------------------------------------------- results


def workers_from_env() -> int:
    """``READTWICE_WORKERS`` as a number of sweep workers; 0 when it is unset, empty or 0 (the
    caller's default). ValueError naming the variable for anything but an integer >= 0."""
    n = int_from_env(
        "READTWICE_WORKERS",
        minimum=0,
        meaning="sweep workers for figures whose runs are missing (0 or unset: one per CPU core for "
        "CPU profiles, one per GPU for GPU profiles)",
    )
    return n or 0


def ensure_results(
    experiment: str,
    profile: str,
    ctx: FigureContext,
    *,
    train: bool = True,
    partial: bool = False,
    workers: int | None = None,
) -> tuple[pd.DataFrame, int]:
    """The tidy results (:func:`synthetic.results.load`) of ``experiment`` at ``profile``, and the
    number of runs in its grid.

    With ``train``, missing runs are trained first where this machine can: CPU profiles
    (``device = "cpu"``) anywhere, GPU profiles only where CUDA is available; otherwise (or
    without ``train``) :class:`FigureUnavailable` names what is missing and the command that
    makes it, unless ``partial`` and at least one run is recorded (committed results still being
    completed: the figure's title then says how many runs it draws). Workers: ``workers``, else
    the environment variable ``READTWICE_WORKERS``, else one per CPU core (CPU profiles) or one
    per GPU (GPU profiles; ensembles fill each GPU).
    """
    import torch

    from synthetic.results import ResultsStore, load, results_path
    from synthetic.sweep import expand, load_experiment, run_sweep

    exp = load_experiment(experiment)
    path = results_path(ctx.results_dir, exp.name, profile)
    configs = expand(exp, profile)
    wanted = {c.config_hash() for c in configs}
    done = ResultsStore(path).done_hashes()
    missing = wanted - done
    if missing and not (partial and not train and wanted & done):
        cpu_profile = all(c.train.device == "cpu" for c in configs)
        command = f"python -m synthetic run {exp.name} --profile {profile} --results {ctx.results_dir}"
        if not train or (not cpu_profile and not torch.cuda.is_available()):
            where = "" if cpu_profile else " on a GPU machine (then copy its runs.jsonl here)"
            raise FigureUnavailable(
                f"{len(missing)} of {len(wanted)} runs of {exp.name}/{profile} are not in {path}; "
                f"train them with `{command}`{where}"
            )
        default = (os.cpu_count() or 1) if cpu_profile else max(1, torch.cuda.device_count())
        n = workers or workers_from_env() or default
        run_sweep(exp, profile, results_dir=ctx.results_dir, workers=n, progress=True)
    df = load(path)
    return df[df.config_hash.isin(wanted)], len(wanted)


def _device_name(device: str) -> str:
    """The name inside a recorded GPU's brackets ('cuda:0 (NVIDIA H200)' -> 'NVIDIA H200'); a CPU
    as 'cpu', whatever the record adds in brackets (its threads and machine: 'cpu (2 threads,
    x86_64)'), so that a figure's title does not change with the machine that trained it."""
    head, _, name = device.partition(" (")
    return name[:-1] if head != "cpu" and name.endswith(")") else head


def _note(df: pd.DataFrame, profile: str, total: int) -> str:
    """'profile P, N runs on DEVICES' (or 'N of TOTAL runs' while the grid is incomplete); a device
    recorded with its name ('cuda:0 (NVIDIA H100 80GB HBM3)') is named by it."""
    devices = sorted({_device_name(str(d)) for d in df.device.dropna()})
    runs = df.config_hash.nunique()
    count = f"{runs} run{'s' * (runs != 1)}" if runs == total else f"{runs} of {total} runs"
    return f"profile {profile}, {count} on {', '.join(devices)}"


# ------------------------------------------------------------------------------ training figures


def _sd_order(ctx: FigureContext, name: str, profile: str, statistic: str, *, train: bool) -> None:
    df, total = ensure_results("sd_order", profile, ctx, train=train, partial=profile == "paper")
    table = training.order_table(df, training.sd_order_of, "short first", "long first", statistic=statistic)
    what = "mean over seeds" if statistic == "mean" else "best over LR and seeds"
    fig = training.draw_order_panels(
        table,
        "short first",
        "long first",
        f"SD: accuracy vs state size by set order, {what} ({_note(df, profile, total)})",
        chance=training.sd_chance(df),
        statistic=statistic,
    )
    save_figure(fig, name, table, ctx)


def build_sd_order(ctx: FigureContext) -> None:
    """Figure 2 of the paper at ``ctx.profile`` (mean over seeds, best setting over the grid)."""
    _sd_order(ctx, "sd_order_state", ctx.profile, "mean", train=True)


#: the paper profile's two protocols (its grid's ``protocol`` bundle), by their ``init``
PROTOCOLS = {"torch": "PyTorch init, package optimiser", "reference": "the paper code's init and optimiser"}


def _sd_order_paper(ctx: FigureContext, name: str, statistic: str) -> None:
    """Figure 2 at the paper profile from its committed runs, one row per protocol, every point
    labelled by the runs (or seeds) behind it; the title says how much of the grid is in."""
    train = any(n in ctx.retrain for n in ("sd_order_state_paper", "sd_order_state_paper_mean"))
    df, total = ensure_results("sd_order", "paper", ctx, train=train, partial=True)
    tables = {
        label: training.order_table(
            df[df.init == init], training.sd_order_of, "short first", "long first", statistic=statistic
        )
        for init, label in PROTOCOLS.items()
        if (df.init == init).any()
    }
    what = "mean over seeds at the best LR" if statistic == "mean" else "best over LR and seeds"
    fig = training.draw_order_rows(
        tables,
        "short first",
        "long first",
        f"SD at paper scale: accuracy vs state size by set order, {what}; numbers: "
        f"{'seeds' if statistic == 'mean' else 'runs'} per point ({_note(df, 'paper', total)})",
        chance=training.sd_chance(df),
        statistic=statistic,
        counts=True,
    )
    table = pd.concat([t.assign(protocol=label) for label, t in tables.items()], ignore_index=True)
    save_figure(fig, name, table, ctx)


def build_sd_order_paper(ctx: FigureContext) -> None:
    """Figure 2 at the paper profile: best over LR and seeds per protocol, as the paper draws it."""
    _sd_order_paper(ctx, "sd_order_state_paper", "max")


def build_sd_order_paper_mean(ctx: FigureContext) -> None:
    """The same runs as ``sd_order_state_paper``, mean over seeds at the best learning rate."""
    _sd_order_paper(ctx, "sd_order_state_paper_mean", "mean")


def build_mqar_order(ctx: FigureContext) -> None:
    """MQAR: queries-first vs context-first at ``ctx.profile``."""
    df, total = ensure_results("mqar_order", ctx.profile, ctx)
    table = training.order_table(df, training.mqar_order_of, "queries-first", "context-first")
    fig = training.draw_order_panels(
        table,
        "queries-first",
        "context-first",
        f"MQAR: accuracy vs state size by order, mean over seeds ({_note(df, ctx.profile, total)})",
    )
    save_figure(fig, "mqar_order_state", table, ctx)


def build_sd_sensitivity(ctx: FigureContext) -> None:
    """The SD order effect against the learning rate, per init scheme (committed runs)."""
    df, total = ensure_results(
        "sd_order", "sensitivity", ctx, train="sd_order_sensitivity" in ctx.retrain, partial=True
    )
    table = training.sensitivity_table(df, training.sd_order_of, "short first", "long first")
    runs = training.run_orders(df, training.sd_order_of, "short first", "long first")
    note = _note(df, "sensitivity", total)
    fig = training.draw_sensitivity(
        table,
        runs,
        "short first",
        "long first",
        f"SD order effect (short-first − long-first accuracy) vs learning rate ({note})",
    )
    save_figure(fig, "sd_order_sensitivity", table, ctx)


def build_sd_seeds(ctx: FigureContext) -> None:
    """The quick profile's d_model 64 point over 16 seeds: each seed's order effect (committed runs)."""
    df, total = ensure_results("sd_order", "seeds", ctx, train="sd_order_seeds" in ctx.retrain, partial=True)
    table = training.seed_table(df, training.sd_order_of, "short first", "long first")
    fig = training.draw_seed_spread(
        table,
        "short first",
        "long first",
        f"SD order effect per seed, d_model 64 ({_note(df, 'seeds', total)})",
    )
    save_figure(fig, "sd_order_seeds", table, ctx)


def _mechanism_figure(ctx: FigureContext, profile: str, name: str, title: str) -> None:
    """What the models of an sd_order ``profile`` compute, from the analyses in their records."""
    from synthetic.results import load_mechanism, results_path

    df, total = ensure_results("sd_order", profile, ctx, train=name in ctx.retrain, partial=True)
    path = results_path(ctx.results_dir, "sd_order", profile)
    wanted = set(df.config_hash)
    by_order = load_mechanism(path, "intervention_by_order")
    matched = load_mechanism(path, "matched")
    if by_order.empty:
        raise FigureUnavailable(f"no run under {path} carries its analysis (the sweep's analysis field)")
    by_order, matched = by_order[by_order.config_hash.isin(wanted)], matched[matched.config_hash.isin(wanted)]
    interventions = mechanism.intervention_table(by_order)
    order_effects = mechanism.matched_table(matched)
    analysed = by_order.config_hash.nunique()
    fig = mechanism.draw_mechanism(
        interventions, order_effects, f"{title} ({analysed} analysed; {_note(df, profile, total)})"
    )
    table = pd.concat(
        [interventions.assign(table="intervention"), order_effects.assign(table="order effect")]
    )
    save_figure(fig, name, table, ctx)


def build_sd_mechanism(ctx: FigureContext) -> None:
    """What the `mechanism` profile's models compute (committed runs with their analyses)."""
    _mechanism_figure(
        ctx, "mechanism", "sd_mechanism", "SD, CPU scale: what the models compute, mean over seeds ±1 s.e."
    )


def build_sd_mechanism_paper(ctx: FigureContext) -> None:
    """What the paper profile's models compute (the committed runs trained with their analysis)."""
    _mechanism_figure(
        ctx,
        "paper",
        "sd_mechanism_paper",
        "SD, paper scale: what the models compute, mean over learning rates and seeds ±1 s.e.",
    )


def build_sd_checking_paper(ctx: FigureContext) -> None:
    """The paper-scale runs that check membership (both orders' interaction above
    :data:`~synthetic.analysis.intervention.CHECKING_LOGITS` logits), from the ``paper`` profile
    and, where it has records, the ``checking`` profile (the same cell with more seeds): short-first
    minus long-first accuracy and interaction per mirror pair of test slices."""
    from synthetic.results import ResultsStore, load_mechanism, results_path

    df, total = ensure_results(
        "sd_order", "paper", ctx, train="sd_checking_paper" in ctx.retrain, partial=True
    )
    frames, notes = [], [_note(df, "paper", total)]
    for profile in ("paper", "checking"):
        path = results_path(ctx.results_dir, "sd_order", profile)
        if profile == "checking":
            if not ResultsStore(path).records():
                continue
            more, more_total = ensure_results("sd_order", profile, ctx, train=False, partial=True)
            notes.append(_note(more, profile, more_total))
        pairs = mechanism.checking_pairs(
            load_mechanism(path, "intervention_by_slice"), load_mechanism(path, "intervention_by_order")
        )
        if not pairs.empty:
            frames.append(pairs)
    if not frames:
        raise FigureUnavailable(
            f"no analysed paper-scale run has an interaction above {CHECKING_LOGITS:g} logits in both orders"
        )
    pairs = pd.concat(frames, ignore_index=True)
    fig = mechanism.draw_mirror_pairs(
        pairs,
        f"SD, paper scale: the {pairs.config_hash.nunique()} runs whose copies interact by > "
        f"{CHECKING_LOGITS:g} logits in both orders (they check one set against the other) "
        f"({'; '.join(notes)})",
    )
    save_figure(fig, "sd_checking_paper", pairs, ctx)


def build_sd_anticount(ctx: FigureContext) -> None:
    """The order effect on SD with a distractor that counting cannot solve (committed runs)."""
    df, total = ensure_results(
        "sd_order", "anticount", ctx, train="sd_order_anticount" in ctx.retrain, partial=True
    )
    tables = {
        f"init {init}": training.order_table(
            df[df.init == init], training.sd_order_of, "short first", "long first"
        )
        for init in sorted(df.init.unique())
    }
    fig = training.draw_order_rows(
        tables,
        "short first",
        "long first",
        f"SD with a distractor (counting is right at most half the time), mean over seeds; numbers: "
        f"seeds per point ({_note(df, 'anticount', total)})",
        chance=training.sd_chance(df),
        counts=True,
    )
    table = pd.concat([t.assign(row=label) for label, t in tables.items()], ignore_index=True)
    save_figure(fig, "sd_order_anticount", table, ctx)


TRAINING_FIGURES: dict[str, Builder] = {
    "sd_order_state": build_sd_order,
    "mqar_order_state": build_mqar_order,
    "sd_order_sensitivity": build_sd_sensitivity,
    "sd_order_seeds": build_sd_seeds,
    "sd_order_state_paper": build_sd_order_paper,
    "sd_order_state_paper_mean": build_sd_order_paper_mean,
    "sd_mechanism": build_sd_mechanism,
    "sd_mechanism_paper": build_sd_mechanism_paper,
    "sd_checking_paper": build_sd_checking_paper,
    "sd_order_anticount": build_sd_anticount,
}


def registry() -> dict[str, Builder]:
    """All figure builders by name: the plot modules' ``FIGURES``, then the training figures."""
    out: dict[str, Builder] = {}
    for mod_name in FIGURE_MODULES:
        mod = importlib.import_module(mod_name)
        for name, build in mod.FIGURES.items():
            if name in out:
                raise ValueError(f"figure name {name!r} is registered twice ({mod_name})")
            out[name] = build
    for name, build in TRAINING_FIGURES.items():
        if name in out:
            raise ValueError(f"figure name {name!r} is registered twice (synthetic.figures)")
        out[name] = build
    return out


def main(argv: list[str] | None = None) -> int:
    import matplotlib

    matplotlib.use("Agg")  # headless files only; the plots themselves never choose a backend
    parser = argparse.ArgumentParser(prog="python -m synthetic.figures", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--profile", default="quick", choices=["quick", "paper"], help="profile of the order figures"
    )
    parser.add_argument("--only", nargs="*", default=None, metavar="NAME", help="build only these figures")
    parser.add_argument("--list", action="store_true", help="list the figure names and exit")
    parser.add_argument("--out", type=Path, default=Path("figures"), help="output folder (default: figures)")
    parser.add_argument(
        "--results", type=Path, default=Path("results"), help="results folder (default: results)"
    )
    parser.add_argument(
        "--retrain",
        nargs="*",
        default=[],
        choices=sorted(FROM_COMMITTED),
        metavar="NAME",
        help="train the missing runs of these figures (drawn from committed results) first",
    )
    args = parser.parse_args(argv)

    builders = registry()
    if args.list:
        print("\n".join(builders))
        return 0
    names = list(builders) if args.only is None else args.only
    unknown = [n for n in names if n not in builders]
    if unknown:
        parser.error(f"unknown figure(s) {unknown}; known: {sorted(builders)}")
    ctx = FigureContext(
        out_dir=args.out, profile=args.profile, results_dir=args.results, retrain=frozenset(args.retrain)
    )
    unavailable = 0
    built: list[str] = []
    try:
        with interrupts.second_kills():
            for name in names:
                t0 = time.perf_counter()
                try:
                    builders[name](ctx)
                except FigureUnavailable as err:
                    unavailable += 1
                    print(f"figure {name}: not built: {err}", file=sys.stderr, flush=True)
                    continue
                built.append(name)
                print(f"figure {name}: {time.perf_counter() - t0:.1f} s -> {args.out}/{name}.png", flush=True)
    except KeyboardInterrupt as err:  # a sweep's interrupt says what it recorded and dropped
        what = f": {err}" if str(err) else "; run the same command to go on"
        print(f"interrupted after {len(built)} of {len(names)} figures{what}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 1 if unavailable and args.only is not None else 0


if __name__ == "__main__":
    sys.exit(main())
