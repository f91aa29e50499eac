"""Train K runs at once as one stacked model: one process, one batch of K blocks, one optimiser.

Symbols: docs/synthetic/glossary.md (K members trained together, B examples per member in a
batch, T time, N labelled positions per member, V vocabulary).

Runs can share an ensemble when :func:`ensemble_key` is equal: the same architecture (variant
pattern, d_model, feature dims, layers), the same data shapes (task, vocabulary, segment sizes
and counts, JR-p) and the same training shape (epochs, batch sizes, evaluation schedule, device,
precision). They may differ in everything a grid varies per run: seed (initialisation AND data:
each member draws its own examples; the batch *shapes* do not depend on the seed, see
:mod:`synthetic.tasks.data`), learning rate, weight decay, optimiser preset, schedule, clipping,
early-stop threshold and init scheme.

Each member trains exactly as it would alone (:func:`synthetic.train.train` is an ensemble of
one): its own data and batch order, its own initialisation, its own AdamW state and schedule
(:class:`~synthetic.optim.MemberAdamW`), its own gradient clipping, loss and evaluation. A
member whose loss becomes NaN or infinite is dropped at the next check with its outcome
"diverged"; a member that reaches its early-stop accuracy is dropped with its final metrics; the
others go on, and the stacked model shrinks (no compute is spent on finished members).

The loss and the head run on the labelled positions only (:meth:`StackedLanguageModel.labelled_logits`).
"""

from __future__ import annotations

import functools
import math
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from synthetic.config import RunConfig
from synthetic.devices import autocast, describe_device, resolve_device, resolve_precision
from synthetic.members import LabelPositions, StackedLanguageModel, stack_models
from synthetic.model import LanguageModel, build_model
from synthetic.optim import MemberAdamW, MemberHyper
from synthetic.tasks import Batch, DataConfig, SliceAccuracy, SplitData, build_split
from synthetic.tasks.config import stable_digest

__all__ = [
    "MEMBER_FIELDS",
    "NonFiniteLossError",
    "Outcome",
    "ensemble_key",
    "load_splits",
    "state_sizes",
    "train_ensemble",
]

#: TrainConfig fields that may differ between the members of one ensemble
MEMBER_FIELDS: tuple[str, ...] = (
    "lr",
    "weight_decay",
    "optimizer",
    "decay_all",
    "betas",
    "warmup_fraction",
    "min_lr_ratio",
    "grad_clip",
    "early_stop_accuracy",
)
#: how often (optimiser steps) the training loss is checked for NaN / inf, besides epoch ends
NAN_CHECK_EVERY = 50


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite (the run diverged: a result, not an error)."""


def ensemble_key(cfg: RunConfig) -> str:
    """16 hex digits naming what the members of one ensemble must share (see the module docstring)."""
    ident = cfg.identity()
    for label in ("experiment", "profile", "variant", "seed"):
        ident.pop(label)
    ident["data"].pop("seed")
    ident["model"].pop("init")
    for name in MEMBER_FIELDS:
        ident["train"].pop(name)
    return stable_digest(ident)[:16]


@functools.lru_cache(maxsize=16)
def load_splits(data: DataConfig) -> tuple[SplitData, SplitData]:
    """(train, test) splits of ``data``, memoised per process (sweeps reuse them across runs)."""
    return build_split(data, "train"), build_split(data, "test")


def state_sizes(model: LanguageModel, seq_len: int) -> dict[str, int]:
    """State sizes of one example: values and bytes, actual (fp32) and paper convention."""
    return {
        "state_values": model.state_size(seq_len),
        "state_bytes": model.state_size_bytes(torch.float32, seq_len=seq_len),
        "paper_state_values": model.state_size(seq_len, convention="paper"),
        "paper_state_bytes": model.state_size_bytes(torch.float32, convention="paper", seq_len=seq_len),
        "state_seq_len": seq_len,
    }


@dataclass
class Outcome:
    """How one member ended: ``metrics`` (see :func:`synthetic.train.train`) or ``error`` with its
    formatted ``traceback`` (a :class:`NonFiniteLossError` when it diverged); ``model``: the
    member's trained model when :func:`train_ensemble` was asked to keep it."""

    metrics: dict[str, Any] | None = None
    error: BaseException | None = None
    traceback: str | None = None
    model: LanguageModel | None = None


# ------------------------------------------------------------------------------------- batches


def _stack_batches(batches: Sequence[Batch]) -> tuple[torch.Tensor, torch.Tensor, LabelPositions]:
    """K member batches of one shape -> inputs [K*B, T], prefix_len [K*B], label positions."""
    first = batches[0]
    for i, b in enumerate(batches[1:], start=1):
        if b.slice != first.slice or b.inputs.shape != first.inputs.shape:
            raise RuntimeError(
                f"member {i}'s batch ({b.slice}, {tuple(b.inputs.shape)}) differs from member 0's "
                f"({first.slice}, {tuple(first.inputs.shape)}): these runs cannot share an ensemble"
            )
    inputs = torch.cat([b.inputs for b in batches])
    prefix_len = torch.cat([b.prefix_len for b in batches])
    return inputs, prefix_len, LabelPositions.of([b.labels for b in batches])


def _labelled_logits(
    model: StackedLanguageModel, batches: Sequence[Batch], device: torch.device, precision: str
) -> tuple[torch.Tensor, LabelPositions, LabelPositions]:
    """Stack K member batches, move them to ``device`` and run the model at their labelled
    positions: (logits [K, N, V], label positions on the CPU, the same on ``device``)."""
    inputs, prefix_len, where = _stack_batches(batches)
    on_dev = where.to(device)
    with autocast(device, precision):
        logits = model.labelled_logits(
            inputs.to(device, non_blocking=True), prefix_len.to(device, non_blocking=True), on_dev
        )
    return logits, where, on_dev


def _member_ce_sums(logits: torch.Tensor, where: LabelPositions) -> torch.Tensor:
    """Sum of cross-entropy over each member's labelled positions: logits [K, N, V] -> [K]."""
    ce = F.cross_entropy(logits.float().flatten(0, 1), where.targets.flatten(), reduction="none")
    return (ce.view(where.targets.shape) * where.valid).sum(1)


def _member_losses(logits: torch.Tensor, where: LabelPositions) -> torch.Tensor:
    """Mean cross-entropy over each member's labelled positions: logits [K, N, V] -> [K]."""
    return _member_ce_sums(logits, where) / where.valid.sum(1).clamp(min=1)


# ------------------------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate_members(
    model: StackedLanguageModel,
    splits: Sequence[SplitData],
    batch_size: int,
    device: torch.device,
    precision: str,
) -> list[dict[str, Any]]:
    """Each member on its own test split: accuracy over labelled positions, per slice and overall,
    and the mean test loss. Returns, per member, {"accuracy", "slice_accuracy", "slice_counts",
    "test_loss"}."""
    was_training = model.training
    model.eval()
    k = len(splits)
    accs = [SliceAccuracy() for _ in range(k)]
    loss_sum = torch.zeros(k, dtype=torch.float64)
    labelled = torch.zeros(k, dtype=torch.float64)
    for batches in zip(*(s.batches(batch_size, shuffle=False) for s in splits), strict=True):
        logits, where, on_dev = _labelled_logits(model, batches, device, precision)
        ce = _member_ce_sums(logits, on_dev).double().cpu()
        predicted = logits.argmax(-1).cpu()
        loss_sum += ce
        labelled += where.valid.sum(1).double()
        for i, b in enumerate(batches):
            full = b.labels.clone()  # predictions where labels are, -100 elsewhere
            v = where.valid[i]
            full[where.rows[i, v], where.cols[i, v]] = predicted[i, v]
            accs[i].update(b.slice, full, b.labels)
    model.train(was_training)
    return [
        {
            "accuracy": acc.overall_token_accuracy(),
            "slice_accuracy": acc.token_accuracy(),
            "slice_counts": {name: list(v) for name, v in acc.counts().items()},
            "test_loss": float(loss_sum[i] / labelled[i]) if labelled[i] else float("nan"),
        }
        for i, acc in enumerate(accs)
    ]


# --------------------------------------------------------------------------------------- training


def _batches_forever(split: SplitData, batch_size: int, epochs: int) -> Iterator[tuple[int, Batch]]:
    for epoch in range(epochs):
        for batch in split.batches(batch_size, shuffle=True, epoch=epoch):
            yield epoch, batch


@dataclass
class _Member:
    """Book-keeping of one member while it trains."""

    index: int  # position in the caller's list of configs
    cfg: RunConfig
    train_split: SplitData
    test_split: SplitData
    batches: Iterator[tuple[int, Batch]]
    tokens: int = 0
    best_accuracy: float = -1.0
    last_eval: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


def _hyper(cfg: RunConfig, total_steps: int) -> MemberHyper:
    tc = cfg.train
    return MemberHyper(
        lr=tc.lr,
        weight_decay=tc.weight_decay,
        decay_all=tc.decay_all,
        betas=tc.betas,
        grad_clip=tc.grad_clip,
        warmup_steps=math.ceil(tc.warmup_fraction * total_steps),
        min_lr_ratio=tc.min_lr_ratio,
        total_steps=total_steps,
    )


def train_ensemble(
    cfgs: Sequence[RunConfig],
    *,
    device: str | torch.device | None = None,
    progress: bool = False,
    on_outcome: Callable[[int, Outcome], None] | None = None,
    keep_models: bool = False,
) -> list[Outcome]:
    """Train ``cfgs`` (K >= 1 runs with one :func:`ensemble_key`) together; return one
    :class:`Outcome` per config, in order.

    ``device`` overrides the configs' ``train.device``; ``keep_models`` puts each member's model, as
    it was when the member finished, into its outcome. ``on_outcome(i, outcome)`` is called as
    soon as member i finishes (early stop, divergence or the last step), so a caller can store it
    before the others end. A member that diverges gets an Outcome with a :class:`NonFiniteLossError`;
    anything else that goes wrong (a bad device, out of memory) raises, and the members not yet
    finished have no outcome (the caller records them as errors).
    """
    if not cfgs:
        raise ValueError("train_ensemble needs at least one run config")
    keys = {ensemble_key(c) for c in cfgs}
    if len(keys) > 1:
        raise ValueError(
            f"these {len(cfgs)} runs differ in more than the per-member fields "
            f"({', '.join(('seed', 'init', *MEMBER_FIELDS))}): they cannot share an ensemble"
        )
    t_start = time.perf_counter()
    tc = cfgs[0].train
    dev = resolve_device(device if device is not None else tc.device)
    precision = resolve_precision(tc.precision, dev)
    members = []
    for i, cfg in enumerate(cfgs):
        train_split, test_split = load_splits(cfg.data)
        members.append(
            _Member(i, cfg, train_split, test_split, _batches_forever(train_split, tc.batch_size, tc.epochs))
        )
    vocab = members[0].train_split.vocab_size
    model = stack_models([build_model(c.model, vocab, seed=c.seed) for c in cfgs])
    model.move_to(dev)
    steps_per_epoch = members[0].train_split.num_batches(tc.batch_size)
    total_steps = tc.epochs * steps_per_epoch
    optimizer = MemberAdamW(model, [_hyper(c, total_steps) for c in cfgs])
    max_test_len = max(s.seq_len for s in members[0].test_split.segments)
    num_parameters = build_model(cfgs[0].model, vocab).num_parameters()
    outcomes: list[Outcome | None] = [None] * len(cfgs)

    def finish(position: int, outcome: Outcome) -> None:
        member = members[position]
        if keep_models:
            outcome.model = model.member(position)
        outcomes[member.index] = outcome
        if on_outcome is not None:
            on_outcome(member.index, outcome)

    def metrics(position: int, step: int, early_stopped: bool, train_time: float) -> dict[str, Any]:
        member = members[position]
        ev = member.last_eval
        assert ev is not None  # a member finishes right after an evaluation
        return {
            "accuracy": ev["accuracy"],
            "slice_accuracy": ev["slice_accuracy"],
            "slice_counts": ev["slice_counts"],
            "best_accuracy": member.best_accuracy,
            "train_loss": member.history[-1]["train_loss"],
            "test_loss": ev["test_loss"],
            "epochs": member.history[-1]["epoch"],
            "steps": step,
            "early_stopped": early_stopped,
            "train_tokens": member.tokens,
            "train_time_s": train_time,
            "wall_time_s": time.perf_counter() - t_start,
            "tokens_per_s": member.tokens / train_time if train_time > 0 else None,
            "num_parameters": num_parameters,
            **state_sizes(model.member(position), max_test_len),
            "device": describe_device(dev),
            "precision": precision,
            "ensemble_size": len(cfgs),
            "history": member.history,
        }

    window_loss = torch.zeros(len(cfgs), device=dev)
    window_steps = 0
    train_time = 0.0
    epochs_done = 0
    bar = tqdm(total=total_steps, desc=f"ensemble of {len(cfgs)}", disable=not progress, leave=False)
    model.train()
    t_train = time.perf_counter()
    for step in range(1, total_steps + 1):
        drawn = [next(m.batches) for m in members]
        epoch = drawn[0][0]
        for m, (_, b) in zip(members, drawn, strict=True):
            m.tokens += b.inputs.numel()
        logits, _, on_dev = _labelled_logits(model, [b for _, b in drawn], dev, precision)
        losses = _member_losses(logits, on_dev)
        model.zero_grad_()
        losses.sum().backward()
        optimizer.step()
        window_loss += losses.detach()
        window_steps += 1
        bar.update(1)
        end_of_epoch = step % steps_per_epoch == 0
        if end_of_epoch:
            epochs_done = epoch + 1
        if tc.eval_every_steps is not None:
            due = step % tc.eval_every_steps == 0 or step == total_steps
        else:
            due = end_of_epoch and (epochs_done % tc.eval_every == 0 or epochs_done == tc.epochs)
        keep = list(range(len(members)))
        if due or step % NAN_CHECK_EVERY == 0 or end_of_epoch:
            mean_loss = (window_loss / window_steps).tolist()
            for pos, value in enumerate(mean_loss):
                if not math.isfinite(value):
                    lr = members[pos].cfg.train.lr
                    err = NonFiniteLossError(
                        f"training loss became {value} by step {step} (epoch {epoch}, lr={lr:g})"
                    )
                    finish(pos, Outcome(error=err, traceback="".join(traceback.format_exception_only(err))))
                    keep.remove(pos)
            if due:
                train_time += time.perf_counter() - t_train
                evals = evaluate_members(
                    model, [m.test_split for m in members], tc.eval_batch_size, dev, precision
                )
                for pos in list(keep):
                    member, ev = members[pos], evals[pos]
                    member.last_eval = ev
                    member.best_accuracy = max(member.best_accuracy, ev["accuracy"])
                    member.history.append(
                        {
                            "epoch": epochs_done,
                            "step": step,
                            "train_loss": mean_loss[pos],
                            "test_loss": ev["test_loss"],
                            "accuracy": ev["accuracy"],
                            "slice_accuracy": ev["slice_accuracy"],
                        }
                    )
                    threshold = member.cfg.train.early_stop_accuracy
                    if step == total_steps or (threshold is not None and ev["accuracy"] >= threshold):
                        finish(pos, Outcome(metrics=metrics(pos, step, step < total_steps, train_time)))
                        keep.remove(pos)
                window_loss.zero_()
                window_steps = 0
                t_train = time.perf_counter()
        if len(keep) < len(members):
            if not keep:
                break
            members = [members[i] for i in keep]
            index = torch.as_tensor(keep, device=dev)
            window_loss = window_loss.index_select(0, index)
            model.keep_members(keep)
            optimizer.keep_members(keep)
    bar.close()
    assert all(o is not None for o in outcomes)  # the last step evaluates and finishes everyone
    return [o for o in outcomes if o is not None]
