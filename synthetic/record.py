"""The run record: one typed record per finished run, built here and nowhere else.

A record is one JSON object, one line of ``results/<experiment>/<profile>/runs.jsonl``
(:mod:`synthetic.results`). Its type is :class:`RunRecord` (a ``TypedDict``: records stay plain
JSON objects on disk and in memory); :data:`RECORD_SCHEMA` is its version. The three builders
make every record the package writes, from a run config, the :class:`Provenance` of the
ensemble and how the member ended (:class:`synthetic.ensemble.Outcome`):

- :func:`ok_record`, ``status="ok"``: trained; a result. The run's config and summary, provenance,
  ``error=None``, the metrics (:class:`Metrics`) and, when the sweep kept the trained weights,
  ``model_file`` (the safetensors file, relative to the folder of ``runs.jsonl``) and, when the
  sweep analysed the trained model, ``mechanism`` (:func:`synthetic.analysis.record.mechanism_record`).
- :func:`failed_record`, ``status="failed"``: the run itself failed (its loss became NaN or
  infinite); a result too, kept and counted as done. ``error``, ``traceback``, ``wall_time_s``.
- :func:`error_record`, ``status="error"``: the environment failed (a bad device, out of memory, a
  lost worker, any other exception); not a result: a sweep trains the run again next time.
  ``error``, the last frames of its ``traceback``, ``wall_time_s``, ``ensemble_size``.

Reading: :func:`validate_record` checks the fields every record needs (on every write and read of
the store); :func:`table_row` gives a run's flat row for tables, filling the summary fields that
records written before they existed keep only in their config (:data:`SUMMARY_FROM_CONFIG`).

Nothing here imports torch or the model at module level: loading results stays light.
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Required, TypedDict

import synthetic

if TYPE_CHECKING:
    from synthetic.config import RunConfig
    from synthetic.ensemble import Checkpoint, MemberMetrics

__all__ = [
    "RECORD_SCHEMA",
    "RESULT_STATUSES",
    "STATUSES",
    "HistoryEntry",
    "Metrics",
    "Provenance",
    "RunRecord",
    "error_record",
    "failed_record",
    "metrics_of",
    "ok_record",
    "source_commit",
    "table_row",
    "validate_record",
]

#: version of the record layout (bump when a field changes meaning)
RECORD_SCHEMA = 1
Status = Literal["ok", "failed", "error"]
STATUSES: tuple[Status, ...] = ("ok", "failed", "error")
"""Allowed ``status`` values: a result (``ok``), a failed run (``failed``, also a result), an
environment error (``error``, not a result)."""
RESULT_STATUSES: tuple[Status, ...] = ("ok", "failed")
#: the fields every record has, and their JSON types
REQUIRED_FIELDS: dict[str, type] = {
    "schema": int,
    "config_hash": str,
    "status": str,
    "summary": dict,
    "config": dict,
}


class HistoryEntry(TypedDict):
    """One evaluation during training (``history`` of a record)."""

    epoch: int
    step: int
    train_loss: float
    test_loss: float
    accuracy: float
    slice_accuracy: dict[str, float]


class Metrics(TypedDict, total=False):
    """What an ``ok`` record says about the run (every field present there): the final test
    accuracy (overall, per slice, and slice -> [correct, labelled]), the best accuracy seen, the
    final training and test losses, epochs and optimiser steps done, whether it stopped early,
    training tokens, seconds of training steps and since the ensemble started, tokens per second,
    parameters, state sizes of one example (values and fp32 bytes, actual and paper convention, at
    sequence length ``state_seq_len``), device, precision, the members trained together, and every
    evaluation; ``resumed_at_steps`` only in the records of runs whose ensemble was stopped and went
    on from a snapshot (:mod:`synthetic.snapshots`): the steps it went on from, and with them
    ``resumed_commits``: the source commit that trained the steps before each of those (null where
    the snapshot did not say: files written before commit b40abd8); the record's
    ``commit`` is the code that trained the rest and evaluated. ``wall_time_s`` and
    ``ensemble_size`` also appear in failure records."""

    accuracy: float
    slice_accuracy: dict[str, float]
    slice_counts: dict[str, list[int]]
    best_accuracy: float
    train_loss: float
    test_loss: float
    epochs: int
    steps: int
    early_stopped: bool
    train_tokens: int
    train_time_s: float
    wall_time_s: float
    tokens_per_s: float | None
    num_parameters: int
    state_values: int
    state_bytes: int
    paper_state_values: int
    paper_state_bytes: int
    state_seq_len: int
    device: str
    precision: str
    ensemble_size: int
    history: list[HistoryEntry]
    resumed_at_steps: list[int]
    resumed_commits: list[str | None]


class RunRecord(Metrics, total=False):
    """One run's record (see the module docstring): identity (schema, config hash, summary,
    config), provenance (start time, versions, commit), status and error, and the metrics."""

    schema: Required[int]
    config_hash: Required[str]
    summary: Required[dict[str, Any]]
    config: Required[dict[str, Any]]
    status: Required[Status]
    started_at: str
    package_version: str
    torch_version: str
    python_version: str
    commit: str | None
    error: str | None
    traceback: str | None
    model_file: str | None
    mechanism: dict[str, Any] | None


# ------------------------------------------------------------------------------------- provenance


@functools.cache
def source_commit() -> str | None:
    """The git commit the package runs from: ``READTWICE_COMMIT`` if set, else ``git rev-parse
    HEAD`` (the full 40-character sha; records before 2026-12-07 may hold the 7-character short
    form) in the package's checkout, with ``-dirty`` when tracked files differ from it (e.g. a copy
    of a working tree on another machine); None outside a checkout."""
    forced = os.environ.get("READTWICE_COMMIT")
    if forced:
        return forced

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args],
                cwd=Path(synthetic.__file__).resolve().parent,
                capture_output=True,
                text=True,
                timeout=10,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    head = git("rev-parse", "HEAD")
    if not head:
        return None
    changed = git("status", "--porcelain", "--untracked-files=no")
    return head if changed == "" else f"{head}-dirty"


@dataclass(frozen=True)
class Provenance:
    """When and from what an ensemble's records come: its start (UTC, ISO 8601, seconds), the
    package, torch and Python versions and the source commit (no host names: committed records
    name the device, not the machine)."""

    started_at: str
    package_version: str
    torch_version: str
    python_version: str
    commit: str | None

    @classmethod
    def now(cls) -> Provenance:
        import torch

        return cls(
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            package_version=synthetic.__version__,
            torch_version=torch.__version__,
            python_version=platform.python_version(),
            commit=source_commit(),
        )


# --------------------------------------------------------------------------------------- building


def _identity(cfg: RunConfig, provenance: Provenance, status: Status) -> RunRecord:
    return {
        "schema": RECORD_SCHEMA,
        "config_hash": cfg.config_hash(),
        "summary": cfg.summary(),
        "config": cfg.identity(),
        "started_at": provenance.started_at,
        "package_version": provenance.package_version,
        "torch_version": provenance.torch_version,
        "python_version": provenance.python_version,
        "commit": provenance.commit,
        "status": status,
    }


def _history_entry(c: Checkpoint) -> HistoryEntry:
    ev = c.evaluation
    return {
        "epoch": c.epoch,
        "step": c.step,
        "train_loss": c.train_loss,
        "test_loss": ev.test_loss,
        "accuracy": ev.accuracy,
        "slice_accuracy": ev.slice_accuracy,
    }


def metrics_of(m: MemberMetrics) -> Metrics:
    """The record fields of a member that trained to its end (see :class:`Metrics`)."""
    final = m.final
    metrics: Metrics = {
        "accuracy": final.evaluation.accuracy,
        "slice_accuracy": final.evaluation.slice_accuracy,
        "slice_counts": final.evaluation.slice_counts,
        "best_accuracy": m.best_accuracy,
        "train_loss": final.train_loss,
        "test_loss": final.evaluation.test_loss,
        "epochs": final.epoch,
        "steps": final.step,
        "early_stopped": m.early_stopped,
        "train_tokens": m.train_tokens,
        "train_time_s": m.train_time_s,
        "wall_time_s": m.wall_time_s,
        "tokens_per_s": m.tokens_per_s,
        "num_parameters": m.num_parameters,
        "state_values": m.state.values,
        "state_bytes": m.state.bytes,
        "paper_state_values": m.state.paper_values,
        "paper_state_bytes": m.state.paper_bytes,
        "state_seq_len": m.state.seq_len,
        "device": m.device,
        "precision": m.precision,
        "ensemble_size": m.ensemble_size,
        "history": [_history_entry(c) for c in m.history],
    }
    if m.resumed_at:
        metrics["resumed_at_steps"] = list(m.resumed_at)
        metrics["resumed_commits"] = list(m.resumed_commits)
    return metrics


def ok_record(
    cfg: RunConfig,
    provenance: Provenance,
    metrics: MemberMetrics,
    model_file: str | None = None,
    mechanism: dict[str, Any] | None = None,
) -> RunRecord:
    """The record of a run that trained (``status="ok"``); ``model_file``: where its trained
    weights are kept, relative to the folder of ``runs.jsonl`` (None: not kept, no field);
    ``mechanism``: the analysis of its trained model (None: not analysed, no field)."""
    out: RunRecord = {**_identity(cfg, provenance, "ok"), "error": None, **metrics_of(metrics)}
    if model_file is not None:
        out["model_file"] = model_file
    if mechanism is not None:
        out["mechanism"] = mechanism
    return out


def _error_text(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def failed_record(
    cfg: RunConfig, provenance: Provenance, err: BaseException, traceback_text: str | None, wall_time_s: float
) -> RunRecord:
    """The record of a run that failed by itself (``status="failed"``: it diverged)."""
    return {
        **_identity(cfg, provenance, "failed"),
        "error": _error_text(err),
        "traceback": traceback_text,
        "wall_time_s": wall_time_s,
    }


def error_record(
    cfg: RunConfig, provenance: Provenance, err: BaseException, wall_time_s: float, ensemble_size: int
) -> RunRecord:
    """The record of a run the environment stopped (``status="error"``), with the last frames of
    the exception's traceback."""
    tail = "".join(traceback.format_exception(type(err), err, err.__traceback__)[-6:])
    return {
        **_identity(cfg, provenance, "error"),
        "error": _error_text(err),
        "traceback": tail,
        "wall_time_s": wall_time_s,
        "ensemble_size": ensemble_size,
    }


# ---------------------------------------------------------------------------------------- reading


def validate_record(record: object) -> None:
    """Raise ValueError saying what is wrong if ``record`` is not a run record (the fields of
    :data:`REQUIRED_FIELDS` with their types, a non-empty hash, a status of :data:`STATUSES`)."""
    if not isinstance(record, Mapping):
        raise ValueError(f"not a run record: a JSON {type(record).__name__}, expected an object")
    missing = sorted(k for k in REQUIRED_FIELDS if k not in record)
    if missing:
        raise ValueError(
            f"not a run record: missing field(s) {', '.join(missing)} "
            f"(a record has {', '.join(REQUIRED_FIELDS)}; got keys {sorted(record)[:8]})"
        )
    for key, kind in REQUIRED_FIELDS.items():
        value = record[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(
                f"not a run record: {key}={value!r} must be a {kind.__name__} (got {type(value).__name__})"
            )
    if not record["config_hash"]:
        raise ValueError("not a run record: config_hash is empty")
    if record["status"] not in STATUSES:
        raise ValueError(f"not a run record: status={record['status']!r} is not one of {STATUSES}")


#: run-level fields of a record copied into the tables (:func:`table_row`)
RUN_METRICS = (
    "status",
    "error",
    "config_hash",
    "accuracy",
    "best_accuracy",
    "train_loss",
    "test_loss",
    "epochs",
    "steps",
    "early_stopped",
    "wall_time_s",
    "train_time_s",
    "tokens_per_s",
    "num_parameters",
    "state_values",
    "state_bytes",
    "paper_state_values",
    "paper_state_bytes",
    "device",
    "precision",
    "package_version",
    "commit",
    "started_at",
    "model_file",
)

#: summary fields added after records were first written, and where older records keep them:
#: summary key -> (config section, field, default)
SUMMARY_FROM_CONFIG: dict[str, tuple[str, str, Any]] = {
    "init": ("model", "init", "reference"),
    "optimizer": ("train", "optimizer", "package"),
    "weight_decay": ("train", "weight_decay", None),
}


def table_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """A run's flat row: its summary fields (with those of :data:`SUMMARY_FROM_CONFIG` taken from
    the config where an older record's summary lacks them) and the fields of :data:`RUN_METRICS`
    (None where the record has none)."""
    row = dict(record.get("summary", {}))
    config = record.get("config") or {}
    for key, (section, field_name, default) in SUMMARY_FROM_CONFIG.items():
        if key not in row:  # a record written before the summary had the field
            row[key] = (config.get(section) or {}).get(field_name, default)
    for key in RUN_METRICS:
        row[key] = record.get(key)
    return row
