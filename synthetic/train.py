"""One training run, or several at once: run configs in, run records out.

    for record in ensemble_records([cfg1, cfg2, ...]):  # K runs of one shape trained together,
        store.append(record)                           # each record as soon as its run ends
    for out in ensemble_outputs(cfgs, keep=Keep(weights=True)):  # the same, each ok run's trained
        out.record, out.weights                                  # weights as safetensors bytes too
    records = run_records([cfg1, cfg2, ...])            # the same, all at the end, in config order
    record = run_record(cfg)                            # never raises for a run that fails
    metrics = train(cfg)                                # the metrics of one run; raises if it fails

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

With ``Keep(analysis="intervention" | "full")`` each ``ok`` run of an SD task is analysed right
after it trains, before its model is dropped (:func:`synthetic.analysis.record.mechanism_record`:
the copy intervention, the order effect at matched copy positions, and with "full" the state
probes); the numbers go into its record's ``mechanism`` field.

The records (:class:`synthetic.record.RunRecord`, built by :mod:`synthetic.record`) say
``"ok"`` (trained; a result), ``"failed"`` (the run diverged: its loss became NaN or infinite; a
result, kept) or ``"error"`` (the environment failed: a bad device, out of memory, a lost worker,
any other exception; not a result: a sweep trains the run again next time).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from synthetic import record, weights
from synthetic.config import RunConfig
from synthetic.ensemble import NonFiniteLossError, Outcome, load_splits, train_ensemble
from synthetic.record import RunRecord
from synthetic.results import model_file

__all__ = [
    "ANALYSES",
    "Keep",
    "NonFiniteLossError",
    "Trained",
    "ensemble_outputs",
    "ensemble_records",
    "run_record",
    "run_records",
    "train",
]


#: what the analysis of a trained model covers (:class:`Keep`)
ANALYSES = ("none", "intervention", "checking", "full")
#: examples per test slice the state probes of ``analysis="checking"`` read (half fit, half score),
#: and where: the state after the first set (the theory's quantity). On 2 CPU cores a d_model 48
#: paper model's probes took 81 s for 2 slices of 1,024 examples at both points and 37.6 s at 512
#: (T = 275; 16 s of it the ridge fits and AUCs, which grow with the examples, the rest the model's
#: forward passes), and 7.2 s at 256 examples and the separator only
CHECKING_PROBE_EXAMPLES = 256
CHECKING_PROBE_POINTS = ("separator",)
#: task kinds the analysis reads (:mod:`synthetic.analysis` takes SD examples only)
ANALYSED_TASKS = ("sd", "sd_distractor")


@dataclass(frozen=True)
class Keep:
    """What a run leaves beyond its record: ``weights`` (its trained parameters: True, False, or
    "checking": only when its analysis finds that it checks one set against the other,
    :func:`~synthetic.analysis.intervention.checks_membership`; needs an analysis) and ``analysis``
    of its trained model, stored in the record: "none", "intervention" (the copy intervention and
    the order effect at matched copy positions), "checking" (and the probes of its state when the
    model checks one set against the other) or "full" (and the probes always); and
    ``snapshots``, a folder where its ensemble keeps its state at every evaluation until it ends,
    and from which an interrupted ensemble goes on (:mod:`synthetic.snapshots`; None: none)."""

    weights: bool | str = False
    analysis: str = "none"
    snapshots: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.weights, bool) and self.weights != "checking":
            raise TypeError(f"weights={self.weights!r} must be True, False or 'checking'")
        if self.weights == "checking" and self.analysis == "none":
            raise ValueError(
                "weights='checking' keeps the weights of the models that check, which only an analysis "
                "tells: analysis must be intervention, checking or full, not none"
            )
        if self.snapshots is not None and not isinstance(self.snapshots, str):
            raise TypeError(f"snapshots={self.snapshots!r} must be a folder path (str) or None")
        if self.analysis not in ANALYSES:
            raise ValueError(f"analysis={self.analysis!r}; allowed: {', '.join(ANALYSES)}")

    @property
    def models(self) -> bool:
        """Whether training must hand each member's model over."""
        return self.weights is True or self.analysis != "none"

    def keeps_weights(self, mechanism: dict[str, Any] | None) -> bool:
        """Whether an ok run whose analysis gave ``mechanism`` (its record's field) keeps its weights."""
        if self.weights != "checking":
            return self.weights is True
        if not mechanism or "error" in mechanism:
            return False
        from synthetic.analysis.intervention import checks_membership

        return checks_membership(pd.DataFrame(mechanism["intervention_by_order"]))


def _analyse(outcome: Outcome, analysis: str) -> dict[str, Any] | None:
    """The ``mechanism`` field of an ok run's record (None when not asked or not an SD task).
    An analysis that fails says so in the field; the run stays a result."""
    if analysis == "none" or outcome.model is None or outcome.cfg.data.task.kind not in ANALYSED_TASKS:
        return None
    from synthetic.analysis.record import RECORD_VERSION, mechanism_record

    _, test = load_splits(outcome.cfg.data)
    try:
        if analysis == "checking":  # probes of the few models that check: fewer examples, one point
            return mechanism_record(
                outcome.model,
                test,
                probes="checking",
                probe_examples=CHECKING_PROBE_EXAMPLES,
                probe_points=CHECKING_PROBE_POINTS,
            )
        return mechanism_record(outcome.model, test, probes=analysis == "full")
    except Exception as err:  # the run trained; its analysis is extra
        return {"version": RECORD_VERSION, "error": f"{type(err).__name__}: {err}"}


@dataclass(frozen=True)
class Trained:
    """What one run of an ensemble gives: its record and, for an ``ok`` run whose weights were
    asked for, its trained parameters as safetensors bytes (:func:`synthetic.weights.to_bytes`;
    the record's ``model_file`` says where the sweep keeps them)."""

    record: RunRecord
    weights: bytes | None = None


def train(
    cfg: RunConfig, *, device: str | torch.device | None = None, progress: bool = False
) -> record.Metrics:
    """Train one model as ``cfg`` says; return the metrics part of its record.

    ``device`` overrides ``cfg.train.device``. Raises :class:`NonFiniteLossError` if the loss
    becomes NaN / inf, and whatever else goes wrong.
    """
    (outcome,) = train_ensemble([cfg], device=device, progress=progress)
    if outcome.error is not None:
        raise outcome.error
    assert outcome.metrics is not None
    return record.metrics_of(outcome.metrics)


def ensemble_outputs(
    cfgs: Sequence[RunConfig],
    *,
    device: str | torch.device | None = None,
    progress: bool = False,
    keep: Keep = Keep(),
) -> Iterator[Trained]:
    """Train ``cfgs`` together (they must share :func:`synthetic.ensemble.ensemble_key`) and yield
    each run's :class:`Trained` as soon as its member finishes; ``keep``: with each ``ok`` run's
    trained weights and / or the analysis of its model in its record. Never raises for a failing
    run: a diverged member's record says ``status="failed"``; if anything else goes wrong, each
    member not yet finished gets a ``status="error"`` record with the reason, in config order
    (``KeyboardInterrupt`` still propagates)."""
    provenance = record.Provenance.now()
    t0 = time.perf_counter()
    unfinished = dict(enumerate(cfgs))
    try:
        for outcome in train_ensemble(
            cfgs, device=device, progress=progress, keep_models=keep.models, snapshot_dir=keep.snapshots
        ):
            data = None
            if outcome.metrics is not None:
                mechanism = _analyse(outcome, keep.analysis)
                if outcome.model is not None and keep.keeps_weights(mechanism):
                    data = weights.to_bytes(outcome.model, outcome.cfg)
                where = model_file(outcome.cfg.config_hash()) if data is not None else None
                done = record.ok_record(
                    outcome.cfg, provenance, outcome.metrics, model_file=where, mechanism=mechanism
                )
            else:
                assert outcome.error is not None  # an outcome has metrics or an error
                elapsed = time.perf_counter() - t0
                done = record.failed_record(
                    outcome.cfg, provenance, outcome.error, outcome.traceback, elapsed
                )
            del unfinished[outcome.index]
            yield Trained(done, data)
    except Exception as err:  # an environment error: not a result; the sweep retries these runs
        for cfg in unfinished.values():
            yield Trained(record.error_record(cfg, provenance, err, time.perf_counter() - t0, len(cfgs)))


def ensemble_records(
    cfgs: Sequence[RunConfig], *, device: str | torch.device | None = None, progress: bool = False
) -> Iterator[RunRecord]:
    """:func:`ensemble_outputs`' records, each as soon as its member finishes."""
    return (out.record for out in ensemble_outputs(cfgs, device=device, progress=progress))


def run_records(
    cfgs: Sequence[RunConfig], *, device: str | torch.device | None = None, progress: bool = False
) -> list[RunRecord]:
    """:func:`ensemble_records` collected: one record per config, in the order of ``cfgs``."""
    position = {cfg.config_hash(): i for i, cfg in enumerate(cfgs)}
    records = ensemble_records(cfgs, device=device, progress=progress)
    return sorted(records, key=lambda r: position[r["config_hash"]])


def run_record(
    cfg: RunConfig, *, device: str | torch.device | None = None, progress: bool = False
) -> RunRecord:
    """Train ``cfg`` alone and return its record (see :func:`ensemble_records`)."""
    (only,) = run_records([cfg], device=device, progress=progress)
    return only
