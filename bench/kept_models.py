"""Analyses of a committed sweep's kept models, for the bench scripts that read them
(``sd_distractor_side.py``, ``sd_placed_positions.py``; ``accuracy_by_position.py`` uses
:func:`each_kept_model`, and ``first_set_read.py``, ``wrong_answers.py``, ``copy_rank.py`` and
``b_places.py`` its command line, :func:`kept_model_parser` and :func:`analyse_kept_models`): find
every ok run with kept weights, run an analysis on its model and its own test split, and write the
rows with a summary.

Reads the runs' saved weights (``models/<config_hash>.safetensors``, kept by the sweep) and never
trains.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synthetic.config import RunConfig
from synthetic.ensemble import load_splits
from synthetic.model import LanguageModel
from synthetic.plots.mechanism import run_mechanisms
from synthetic.record import RunRecord, table_row
from synthetic.results import ResultsStore, load_model, results_path
from synthetic.tasks import build_split
from synthetic.tasks._checks import check_int
from synthetic.tasks.data import SplitData

#: the column of an analysis CSV that names each row's run
HASH_COLUMN = "config_hash"
#: the columns a summary groups runs by (besides the analysis's own)
KEYS = ["variant", "d_model", "init"]
Analysis = Callable[[nn.Module, SplitData], pd.DataFrame]


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


def kept_runs(path: Path) -> Iterator[tuple[str, RunRecord, RunConfig]]:
    """(config hash, latest record, config) of every ok run with kept weights in the runs.jsonl
    ``path``, by config hash; nothing when there is none (the caller says what to do)."""
    for run, record in sorted(ResultsStore(path).latest().items()):
        if record.get("status") == "ok" and record.get("model_file"):
            yield run, record, RunConfig.model_validate(record["config"])


def reads_left_to_right(cfg: RunConfig) -> bool:
    """Whether every layer of a run's model reads its input left to right: no non-causal Based
    (``causal = false``) and no prefix linear attention (JRT-RNN reads its prompt as a whole)."""
    return all(
        layer.kind != "prefix_linear_attention" and getattr(layer, "causal", True)
        for layer in cfg.model.pattern
    )


def one_pass(cfg: RunConfig) -> bool:
    """Whether a run reads its prompt once (``passes = 1``): the analyses defined for one-pass
    prompts only (the first-set read, the answer kinds, the places of B) take these."""
    return cfg.data.passes == 1


def with_run_columns(table: pd.DataFrame, run: str, cfg: RunConfig, mechanism: str) -> pd.DataFrame:
    """``table`` with ``seed``, ``variant``, ``config_hash`` and ``mechanism`` as its first
    columns (in that order), the same on every row."""
    summary = cfg.summary()
    for key, value in (("mechanism", mechanism), ("config_hash", run), ("variant", summary["variant"]),
                       ("seed", summary["seed"])):  # fmt: skip
        table.insert(0, key, value)
    return table


def each_kept_model(
    path: Path,
    results: str | Path,
    analyse: Callable[[LanguageModel, RunConfig, SplitData], pd.DataFrame],
    out: str | Path,
    *,
    device: str = "cpu",
    causal_only: bool = False,
    select: Callable[[RunConfig], bool] | None = None,
    float_format: str | None = None,
    previous: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """``analyse(model, config, test split)`` of every kept run of the sd_order profile folder
    ``path`` (:func:`kept_runs`; with ``causal_only`` those whose every layer reads left to right,
    :func:`reads_left_to_right`; with ``select`` those it accepts), each table with
    :func:`with_run_columns` (the mechanism from the profile's records), all of them concatenated;
    empty when no run qualifies (the caller says what to do). The CSV ``out`` is rewritten after
    each model, so a run cut off keeps the models before it; one line a model with its time.
    ``previous`` (:func:`resumed_rows`): rows kept at the head of the table; the models they name
    are not analysed again."""
    known = run_mechanisms(path)
    left_out = 0
    frames = [] if previous is None else [previous]
    done = set() if previous is None else set(previous[HASH_COLUMN])
    for run, rec, cfg in kept_runs(path):
        summary = cfg.summary()
        if (causal_only and not reads_left_to_right(cfg)) or (select is not None and not select(cfg)):
            left_out += 1
            continue
        if run in done:
            continue
        start = time.perf_counter()
        model = load_model(rec, results, device=device)
        _, test = load_splits(cfg.data)
        frames.append(with_run_columns(analyse(model, cfg, test), run, cfg, known[run]))
        pd.concat(frames, ignore_index=True).to_csv(out, index=False, float_format=float_format)
        took = time.perf_counter() - start
        print(f"{summary['variant']} seed {summary['seed']} ({known[run]}): {took:.0f} s", flush=True)
    if left_out:
        print(f"{left_out} kept model(s) left out: the analysis does not read them (their layers or passes)")
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def kept_model_parser(description: str, *, examples: int) -> argparse.ArgumentParser:
    """The command line every script over an sd_order profile's kept models shares: ``--results``
    (the results folder), ``--profile`` (default ``checking``), ``--examples`` (the first ones of
    each slice; default ``examples``) and ``--device``; the script adds its own."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--results", default="results", help="results folder")
    parser.add_argument("--profile", default="checking", help="the sd_order profile of the kept models")
    parser.add_argument("--examples", type=int, default=examples, help="examples a slice (the first ones)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the rows of the output CSV and analyse only the models it does not name yet",
    )
    return parser


def resumed_rows(out: str | Path, examples: int) -> pd.DataFrame | None:
    """The rows of an analysis CSV ``out`` to resume from (None when it does not exist), refused
    unless they name their runs (``config_hash``, read as text) and were measured on ``examples``
    examples a slice (the largest ``n`` of its rows, where it has that column): models measured
    otherwise would not be comparable with them."""
    if not Path(out).exists():
        return None
    previous = pd.read_csv(out, dtype={HASH_COLUMN: str})  # hex: never a number
    if HASH_COLUMN not in previous.columns:
        raise SystemExit(f"--resume: {out} has no {HASH_COLUMN} column, so it names no model")
    if "n" in previous.columns and len(previous) and int(previous.n.max()) != examples:
        n = int(previous.n.max())
        raise SystemExit(
            f"--resume: {out} was measured on up to n = {n} examples a slice, not --examples "
            f"{examples}; pass --examples {n} or another --out"
        )
    print(f"resuming: {previous[HASH_COLUMN].nunique()} models already in {out}", flush=True)
    return previous


def analyse_kept_models(
    args: argparse.Namespace,
    analyse: Callable[[LanguageModel, RunConfig, SplitData], pd.DataFrame],
    out: str | Path,
    *,
    causal_only: bool = False,
    select: Callable[[RunConfig], bool] | None = None,
    float_format: str | None = None,
) -> pd.DataFrame:
    """:func:`each_kept_model` over the profile a :func:`kept_model_parser` command line names,
    with the CSV ``out``; checks ``--examples``, says where the CSV went, and exits with a message
    naming the folder when no model qualifies."""
    check_int("examples", args.examples, 1)
    previous = resumed_rows(out, args.examples) if args.resume else None
    path = results_path(args.results, "sd_order", args.profile)
    rows = each_kept_model(path, args.results, analyse, out, device=args.device, causal_only=causal_only,
                           select=select, float_format=float_format, previous=previous)  # fmt: skip
    if rows.empty:
        which = " of a causal model" if causal_only else " of a model the analysis reads" if select else ""
        raise SystemExit(f"no kept weights{which} under {path}")
    print(f"wrote {out} ({len(rows)} rows, {rows.config_hash.nunique()} models)")
    return rows


def read_each(path: Path, task: str, analyse: Analysis) -> pd.DataFrame:
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


def seed_se(grouped: Any, column: str) -> pd.Series:
    """Per group: the standard error of ``column``'s mean over its runs (sd / sqrt(n), ddof 1)."""
    return grouped[column].std(ddof=1) / grouped[column].count() ** 0.5


def over_models(per_model: pd.DataFrame, keys: list[str], columns: list[str]) -> pd.DataFrame:
    """One row per group of ``keys`` of ``per_model`` (one row per model and group, models named
    by ``config_hash``): ``models``, and the mean and s.e. over models (``<column> se``) of each of
    ``columns``."""
    by = per_model.groupby(keys)
    table = by[columns].mean().join(by[columns].sem().add_suffix(" se"))
    table.insert(0, "models", by.config_hash.nunique())
    return table.reset_index()


def positive(grouped: Any, column: str) -> pd.Series:
    """Per group: how many runs have ``column`` > 0."""
    return grouped[column].apply(lambda s: int((s > 0).sum()))


def bench_main(
    argv: list[str] | None,
    description: str,
    *,
    results: str,
    out: str,
    task: str,
    analyse: Analysis,
    summarise: Callable[[pd.DataFrame], pd.DataFrame],
) -> int:
    """The command line of such a script: ``--results`` (default ``results``), ``--out`` (default
    ``out``), ``--threads``; reads every kept model, writes the rows as CSV, prints the summary."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--results", type=Path, default=Path(results))
    parser.add_argument("--out", type=Path, default=Path(out))
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    rows = read_each(args.results, task, analyse)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows.to_csv(args.out, index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.precision", 3):
        print(summarise(rows).to_string(index=False))
    print(f"wrote {args.out} ({len(rows)} rows)")
    return 0
