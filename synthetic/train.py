"""One training run, or several at once: run configs in, metrics records out.

    record = run_record(cfg)                 # never raises for a run that fails: status + reason
    records = run_records([cfg1, cfg2, ...]) # K runs of one shape trained together (an ensemble)
    metrics = train(cfg)                     # the metrics of one run; raises if it fails

Training (:mod:`synthetic.ensemble`; a single run is an ensemble of one): AdamW with decoupled
weight decay (0.1 by default; on every parameter, or not on norms / biases / the embedding),
linear warmup then cosine decay per step, per-run global gradient-norm clipping, bf16 autocast on
CUDA and fp32 on CPU, cross-entropy on the labelled positions only (the head runs there alone).
After every ``eval_every`` epochs (or ``eval_every_steps`` steps) the model is evaluated on the
test split (per-slice accuracy over labelled positions); a run stops early once its overall
accuracy reaches ``early_stop_accuracy``. As in the paper and Zoology, the test split doubles
as the validation set for early stopping.

Reproducibility: parameters come from ``torch.Generator().manual_seed(cfg.seed)`` under
``cfg.model.init``, data and batch order from the data config's seed and the epoch; no global RNG
is read. On CPU the same config and seed give the same metrics (same torch build and thread
count); trained in an ensemble they agree with the run alone to floating-point rounding.

A record (one JSON object; see :func:`run_records`) holds the config, its hash, per-slice and
overall accuracy, losses, steps, times, tokens/s, parameter count, state sizes (values and bytes,
actual and paper conventions), device, versions, the ensemble size and the status:

- ``"ok"``: trained; a result.
- ``"failed"``: the run diverged (its loss became NaN or infinite); a result, kept.
- ``"error"``: the environment failed (a bad device, out of memory, a lost worker, any other
  exception); not a result: a sweep trains the run again next time.
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

import synthetic
from synthetic.config import RunConfig
from synthetic.ensemble import NonFiniteLossError, Outcome, train_ensemble

__all__ = ["RECORD_SCHEMA", "NonFiniteLossError", "run_record", "run_records", "train"]

RECORD_SCHEMA = 1


class _CallbackError(Exception):
    """Carries an exception raised by ``on_record`` out of the training loop, untouched."""


def train(
    cfg: RunConfig, *, device: str | torch.device | None = None, progress: bool = False
) -> dict[str, Any]:
    """Train one model as ``cfg`` says; return the metrics part of its record.

    ``device`` overrides ``cfg.train.device``. Raises :class:`NonFiniteLossError` if the loss
    becomes NaN / inf, and whatever else goes wrong.
    """
    (outcome,) = train_ensemble([cfg], device=device, progress=progress)
    if outcome.error is not None:
        raise outcome.error
    assert outcome.metrics is not None
    return outcome.metrics


@functools.cache
def source_commit() -> str | None:
    """The git commit the package runs from: ``READTWICE_COMMIT`` if set, else ``git rev-parse
    --short HEAD`` in the package's checkout, with ``-dirty`` when tracked files differ from it
    (e.g. a copy of a working tree on another machine); None outside a checkout."""
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

    head = git("rev-parse", "--short", "HEAD")
    if not head:
        return None
    changed = git("status", "--porcelain", "--untracked-files=no")
    return head if changed == "" else f"{head}-dirty"


def _environment() -> dict[str, Any]:
    """Provenance of a record: package, torch and Python versions and the source commit (no host
    names: committed records name the device, not the machine)."""
    return {
        "package_version": synthetic.__version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "commit": source_commit(),
    }


def _traceback_tail(err: BaseException) -> str:
    return "".join(traceback.format_exception(type(err), err, err.__traceback__)[-6:])


def run_records(
    cfgs: Sequence[RunConfig],
    *,
    device: str | torch.device | None = None,
    progress: bool = False,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Train ``cfgs`` together (they must share :func:`synthetic.ensemble.ensemble_key`) and return
    one JSON-able record per config, in order. Never raises for a failing run: a diverged member
    gets ``status="failed"``; if anything else goes wrong, every member not yet finished gets
    ``status="error"`` with the reason (``KeyboardInterrupt`` still propagates). ``on_record`` is
    called with each record as soon as its member finishes."""
    started = datetime.now(UTC).isoformat(timespec="seconds")
    env = _environment()
    t0 = time.perf_counter()
    records: list[dict[str, Any] | None] = [None] * len(cfgs)

    def base(cfg: RunConfig) -> dict[str, Any]:
        return {
            "schema": RECORD_SCHEMA,
            "config_hash": cfg.config_hash(),
            "summary": cfg.summary(),
            "config": cfg.identity(),
            "started_at": started,
            **env,
        }

    def emit(i: int, record: dict[str, Any]) -> None:
        records[i] = record
        if on_record is not None:
            try:
                on_record(record)
            except BaseException as err:  # the caller's own failure: not the run's
                raise _CallbackError from err

    def on_outcome(i: int, outcome: Outcome) -> None:
        record = base(cfgs[i])
        if outcome.error is None:
            record.update(status="ok", error=None, **(outcome.metrics or {}))
        else:
            record.update(
                status="failed",
                error=f"{type(outcome.error).__name__}: {outcome.error}",
                traceback=outcome.traceback,
                wall_time_s=time.perf_counter() - t0,
            )
        emit(i, record)

    try:
        train_ensemble(cfgs, device=device, progress=progress, on_outcome=on_outcome)
    except _CallbackError as wrapper:
        raise wrapper.__cause__ from None  # type: ignore[misc]
    except Exception as err:  # an environment error: not a result; the sweep retries these runs
        for i, cfg in enumerate(cfgs):
            if records[i] is None:
                emit(
                    i,
                    {
                        **base(cfg),
                        "status": "error",
                        "error": f"{type(err).__name__}: {err}",
                        "traceback": _traceback_tail(err),
                        "wall_time_s": time.perf_counter() - t0,
                        "ensemble_size": len(cfgs),
                    },
                )
    return [r for r in records if r is not None]


def run_record(
    cfg: RunConfig, *, device: str | torch.device | None = None, progress: bool = False
) -> dict[str, Any]:
    """Train ``cfg`` alone and return its record (see :func:`run_records`)."""
    (record,) = run_records([cfg], device=device, progress=progress)
    return record
