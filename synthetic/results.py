"""The results store: one JSON line per finished run, append-only, crash-safe, resumable.

Layout: ``<results_dir>/<experiment>/<profile>/runs.jsonl`` (:func:`results_path`).

- :meth:`ResultsStore.append` writes one record as one line and flushes + fsyncs it, so a run
  that finished is on disk before the next one starts.
- A crash in the middle of a write leaves a partial last line; loading ignores it (with a
  warning) and the next append first cuts it off. A malformed line anywhere else is an error
  naming the file and line: it is not silently dropped.
- A run is identified by its config hash; when a hash appears more than once (a failed run
  retried), the last record wins.

:func:`load` gives a tidy DataFrame, one row per (run, slice), with the run's summary fields
(variant, d_model, feature_dim, lr, seed, ...), its metrics and state sizes, the slice name, the
slice's accuracy and the slice's fields parsed from its name (``A``, ``B`` for SD; ``kv``, ``q``,
``T``, ``order`` for MQAR). :func:`load_runs` gives one row per run.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from synthetic.tasks.config import parse_slice_name

RUNS_FILE = "runs.jsonl"

# run-level scalar metrics copied into the tables
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
    "started_at",
)


def results_path(results_dir: str | Path, experiment: str, profile: str) -> Path:
    """``<results_dir>/<experiment>/<profile>/runs.jsonl``."""
    return Path(results_dir) / experiment / profile / RUNS_FILE


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy / torch scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"record value of type {type(value).__name__} is not JSON-serialisable")


def _clean(value: Any) -> Any:
    """Replace NaN / inf floats by None (strict JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


class ResultsStore:
    """Append-only JSON-lines file of run records (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"ResultsStore({str(self.path)!r})"

    # ---- writing -------------------------------------------------------------------------------
    def _cut_partial_tail(self) -> None:
        """Remove a partial last line (no trailing newline) left by a crash mid-write."""
        if not self.path.exists():
            return
        with self.path.open("rb+") as fh:
            size = fh.seek(0, os.SEEK_END)
            if size == 0:
                return
            fh.seek(size - 1)
            if fh.read(1) == b"\n":
                return
            # find the last newline; everything after it is the partial line
            chunk = 4096
            pos = size
            keep = 0
            while pos > 0:
                start = max(0, pos - chunk)
                fh.seek(start)
                data = fh.read(pos - start)
                idx = data.rfind(b"\n")
                if idx >= 0:
                    keep = start + idx + 1
                    break
                pos = start
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())

    def append(self, record: Mapping[str, Any]) -> None:
        """Append ``record`` as one line; flush and fsync before returning."""
        if "config_hash" not in record:
            raise ValueError("a run record needs a 'config_hash' field")
        line = json.dumps(_clean(record), default=_json_default, allow_nan=False, sort_keys=True)
        if "\n" in line:
            raise ValueError("a record must serialise to a single line")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._cut_partial_tail()
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    # ---- reading -------------------------------------------------------------------------------
    def records(self) -> list[dict[str, Any]]:
        """All complete records, in file order (a partial last line is skipped with a warning)."""
        if not self.path.exists():
            return []
        text = self.path.read_text(encoding="utf-8")
        lines = text.split("\n")
        complete, tail = lines[:-1], lines[-1]  # tail is "" when the file ends with a newline
        out = []
        for i, line in enumerate(complete, start=1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(
                    f"{self.path}:{i}: malformed record ({err.msg}); the file is corrupt"
                ) from None
        if tail.strip():
            warnings.warn(
                f"{self.path}: ignoring a partial last line ({len(tail)} characters; a run was "
                "interrupted while its record was written)",
                stacklevel=2,
            )
        return out

    def latest(self) -> dict[str, dict[str, Any]]:
        """The last record of each config hash."""
        return {r["config_hash"]: r for r in self.records()}

    def done_hashes(self, *, include_failed: bool = True) -> set[str]:
        """Hashes of recorded runs (only the successful ones if ``include_failed`` is False)."""
        return {h for h, r in self.latest().items() if include_failed or r.get("status") == "ok"}


# ------------------------------------------------------------------------------------- DataFrames


def _as_paths(source: str | Path | Iterable[str | Path]) -> list[Path]:
    if isinstance(source, str | Path):
        source = [source]
    paths = []
    for s in source:
        p = Path(s)
        if p.is_dir():
            found = sorted(p.rglob(RUNS_FILE))
            if not found:
                raise FileNotFoundError(f"no {RUNS_FILE} under {p}")
            paths.extend(found)
        elif p.exists():
            paths.append(p)
        else:
            raise FileNotFoundError(f"results file {p} does not exist")
    return paths


def _run_row(record: Mapping[str, Any]) -> dict[str, Any]:
    row = dict(record.get("summary", {}))
    for key in RUN_METRICS:
        row[key] = record.get(key)
    return row


def load_runs(source: str | Path | Iterable[str | Path]) -> pd.DataFrame:
    """One row per run (last record per config hash) from runs.jsonl files or folders holding them."""
    rows = []
    for path in _as_paths(source):
        rows.extend(_run_row(r) for r in ResultsStore(path).latest().values())
    return pd.DataFrame(rows)


def _slice_fields(name: str) -> dict[str, Any]:
    try:
        fields = parse_slice_name(name)
    except ValueError:
        return {}
    out: dict[str, Any] = {}
    for key, value in fields.items():
        try:
            out[key] = int(value)
        except ValueError:
            out[key] = value
    return out


def load(source: str | Path | Iterable[str | Path], *, include_failed: bool = False) -> pd.DataFrame:
    """Tidy table, one row per (run, test slice): run summary + metrics, ``slice``,
    ``slice_accuracy``, ``slice_labels`` and the slice's parsed fields. Failed runs (no slices)
    are dropped unless ``include_failed`` (then they appear once, with ``slice`` = None)."""
    rows = []
    for path in _as_paths(source):
        for record in ResultsStore(path).latest().values():
            base = _run_row(record)
            slices = record.get("slice_accuracy") or {}
            if record.get("status") != "ok" or not slices:
                if include_failed:
                    rows.append({**base, "slice": None, "slice_accuracy": None, "slice_labels": None})
                continue
            counts = record.get("slice_counts") or {}
            for name, acc in slices.items():
                labelled = counts.get(name, [None, None])[1]
                rows.append(
                    {
                        **base,
                        "slice": name,
                        "slice_accuracy": acc,
                        "slice_labels": labelled,
                        **_slice_fields(name),
                    }
                )
    return pd.DataFrame(rows)
