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
(:class:`~synthetic.optim.MemberAdamW`), its own gradient clipping, loss and evaluation.

:func:`train_ensemble` is a generator: it yields each member's :class:`Outcome` as soon as the
member finishes, and the caller stores it before the others go on. Each optimiser step runs the
same named steps (:class:`_Ensemble`):

1. **batches**: every member draws its next batch; one forward and backward pass of the stacked
   model, one optimiser step; the loss is summed per member over the window since the last check;
2. **checks due**: at the end of an epoch, every ``NAN_CHECK_EVERY`` steps and when an
   evaluation is due (every ``eval_every`` epochs or ``eval_every_steps`` steps, and at the end);
3. **retire members**: a member whose window loss is NaN or infinite finishes "diverged"; at an
   evaluation, every member is evaluated on its own test split and one that reaches its
   early-stop accuracy, or the last step, finishes with its metrics;
4. **shrink**: the stacked model and the optimiser drop the finished members (no compute is spent
   on them); the ensemble ends when none is left;
5. **snapshot** (when given a folder): after each evaluation the ensemble's state goes to one file
   there (:mod:`synthetic.snapshots`; the file stays when the ensemble ends: the caller deletes it
   once the outcomes are stored); an ensemble whose runs are
   all in a saved one starts from it, and trains on exactly as if it had not stopped. At an
   evaluation where members finish, the file is written before their outcomes are handed out
   (the caller analyses each in turn, which can take longer than an epoch): an ensemble stopped
   meanwhile hands out the finished members' outcomes from the file at once when it resumes,
   with no step trained again.

The loss and the head run on the labelled positions only (:meth:`StackedLanguageModel.labelled_logits`).
"""

from __future__ import annotations

import functools
import itertools
import math
import time
import traceback
import warnings
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from synthetic import snapshots
from synthetic.config import RunConfig
from synthetic.devices import autocast, describe_device, resolve_device, resolve_precision, to_device
from synthetic.members import LabelPositions, StackedLanguageModel, stack_models
from synthetic.model import LanguageModel, build_model
from synthetic.optim import MemberAdamW, MemberHyper
from synthetic.record import source_commit
from synthetic.step_graphs import StepGraphs, compile_mode, compiled, train_step_mode
from synthetic.tasks import Batch, DataConfig, SliceAccuracy, SplitData, build_split
from synthetic.tasks.config import stable_digest

__all__ = [
    "MEMBER_FIELDS",
    "Checkpoint",
    "Evaluation",
    "MemberMetrics",
    "NonFiniteLossError",
    "Outcome",
    "StateSizes",
    "ensemble_key",
    "load_splits",
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


# ------------------------------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class Evaluation:
    """One member on its test split: token accuracy over the labelled positions, overall and per
    slice, ``slice_counts`` (slice -> [correct, labelled]) and the mean test loss (nats per
    labelled position; NaN without labels)."""

    accuracy: float
    slice_accuracy: dict[str, float]
    slice_counts: dict[str, list[int]]
    test_loss: float


@dataclass(frozen=True)
class Checkpoint:
    """An evaluation during training: after ``step`` optimiser steps and ``epoch`` whole epochs,
    with the mean training loss over the steps since the previous check."""

    epoch: int
    step: int
    train_loss: float
    evaluation: Evaluation


@dataclass(frozen=True)
class StateSizes:
    """One example's recurrent state at sequence length ``seq_len`` (the longest test sequence):
    values and fp32 bytes, actual and under the paper's convention."""

    values: int
    bytes: int
    paper_values: int
    paper_bytes: int
    seq_len: int

    @classmethod
    def of(cls, model: LanguageModel, seq_len: int) -> StateSizes:
        return cls(
            values=model.state_size(seq_len),
            bytes=model.state_size_bytes(torch.float32, seq_len=seq_len),
            paper_values=model.state_size(seq_len, convention="paper"),
            paper_bytes=model.state_size_bytes(torch.float32, convention="paper", seq_len=seq_len),
            seq_len=seq_len,
        )


@dataclass(frozen=True)
class MemberMetrics:
    """How a member that trained to its end (its last step or its early stop) did: every
    checkpoint (the last is the final evaluation), the best accuracy seen, whether it stopped
    early, its training tokens and times (seconds: training steps only, and since the ensemble
    started), and what it was (parameters, state sizes, device, precision, members trained
    together)."""

    history: tuple[Checkpoint, ...]
    best_accuracy: float
    early_stopped: bool
    train_tokens: int
    train_time_s: float
    wall_time_s: float
    num_parameters: int
    state: StateSizes
    device: str
    precision: str
    ensemble_size: int
    resumed_at: tuple[int, ...] = ()  # steps at which training went on from a snapshot
    # the source commit of the training before each of those steps (None: not known, a snapshot
    # written before snapshots named their commits)
    resumed_commits: tuple[str | None, ...] = ()

    @property
    def final(self) -> Checkpoint:
        """The last checkpoint (the member finished right after it)."""
        return self.history[-1]

    @property
    def tokens_per_s(self) -> float | None:
        """Training tokens per second of training time (None when no time was measured)."""
        return self.train_tokens / self.train_time_s if self.train_time_s > 0 else None


@dataclass
class Outcome:
    """How member ``index`` (its position in the configs given to :func:`train_ensemble`) with
    config ``cfg`` ended: ``metrics``, or ``error`` with its formatted ``traceback`` (a
    :class:`NonFiniteLossError` when it diverged); ``model``: the member's trained model when
    :func:`train_ensemble` was asked to keep it."""

    index: int
    cfg: RunConfig
    metrics: MemberMetrics | None = None
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
        logits = model.labelled_logits(to_device(inputs, device), to_device(prefix_len, device), on_dev)
    return logits, where, on_dev


def _member_ce_sums(logits: torch.Tensor, where: LabelPositions) -> torch.Tensor:
    """Sum of cross-entropy over each member's labelled positions: logits [K, N, V] -> [K]."""
    ce = F.cross_entropy(logits.float().flatten(0, 1), where.targets.flatten(), reduction="none")
    return (ce.view(where.targets.shape) * where.valid).sum(1)


def _member_losses(logits: torch.Tensor, where: LabelPositions) -> torch.Tensor:
    """Mean cross-entropy over each member's labelled positions: logits [K, N, V] -> [K]."""
    return _member_ce_sums(logits, where) / where.valid.sum(1).clamp(min=1)


def _labelled_losses(
    model: StackedLanguageModel, inputs: torch.Tensor, prefix_len: torch.Tensor, where: LabelPositions
) -> torch.Tensor:
    """The training step's forward: inputs [K*B, T], prefix_len [K*B] -> each member's mean loss
    [K] at its labelled positions (what ``READTWICE_COMPILE`` compiles)."""
    return _member_losses(model.labelled_logits(inputs, prefix_len, where), where)


# ------------------------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate_members(
    model: StackedLanguageModel,
    splits: Sequence[SplitData],
    batch_size: int,
    device: torch.device,
    precision: str,
) -> list[Evaluation]:
    """Each member on its own test split (member k of ``model`` on ``splits[k]``)."""
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
        Evaluation(
            accuracy=acc.overall_token_accuracy(),
            slice_accuracy=acc.token_accuracy(),
            slice_counts={name: list(v) for name, v in acc.counts().items()},
            test_loss=float(loss_sum[i] / labelled[i]) if labelled[i] else float("nan"),
        )
        for i, acc in enumerate(accs)
    ]


# --------------------------------------------------------------------------------------- training


def _batches_forever(
    split: SplitData, batch_size: int, epochs: int, done: int = 0
) -> Iterator[tuple[int, Batch]]:
    """(epoch, batch) of every training step after the first ``done`` steps, to the last epoch."""
    first, skip = divmod(done, split.num_batches(batch_size))
    for epoch in range(first, epochs):
        batches = split.batches(batch_size, shuffle=True, epoch=epoch)
        for batch in itertools.islice(batches, skip if epoch == first else 0, None):
            yield epoch, batch


def _checkpoint_of(d: dict) -> Checkpoint:
    """A checkpoint from its JSON form (``dataclasses.asdict``, as a snapshot keeps it)."""
    return Checkpoint(**{**d, "evaluation": Evaluation(**d["evaluation"])})


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
    history: list[Checkpoint] = field(default_factory=list)


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


def _check_shareable(cfgs: Sequence[RunConfig]) -> None:
    if not cfgs:
        raise ValueError("train_ensemble needs at least one run config")
    if len({ensemble_key(c) for c in cfgs}) > 1:
        raise ValueError(
            f"these {len(cfgs)} runs differ in more than the per-member fields "
            f"({', '.join(('seed', 'init', *MEMBER_FIELDS))}): they cannot share an ensemble"
        )


class _Ensemble:
    """One ensemble while it trains: the stacked model, its optimiser, the members still training
    (``members``, in the stacked model's order) and the clocks. Its methods are the named steps
    of the module docstring; :func:`train_ensemble` runs them."""

    def __init__(
        self,
        cfgs: Sequence[RunConfig],
        device: str | torch.device | None,
        keep_models: bool,
        snapshot_dir: Path | None = None,
    ) -> None:
        self.t_start = time.perf_counter()
        self.tc = tc = cfgs[0].train
        self.size = len(cfgs)
        self.keep_models = keep_models
        self.snapshot_dir = snapshot_dir
        self.id = snapshots.ensemble_id(c.config_hash() for c in cfgs)
        self.start_step = 0  # steps done before this process (a resumed ensemble)
        self.resumed_at: tuple[int, ...] = ()
        self.commit = source_commit()  # the code that trains from here
        self.resumed_commits: tuple[str | None, ...] = ()  # the code that trained before each resume
        self.device = resolve_device(device if device is not None else tc.device)
        self.precision = resolve_precision(tc.precision, self.device)
        self.members: list[_Member] = []
        for i, cfg in enumerate(cfgs):
            train_split, test_split = load_splits(cfg.data)
            batches = _batches_forever(train_split, tc.batch_size, tc.epochs)
            self.members.append(_Member(i, cfg, train_split, test_split, batches))
        vocab = self.members[0].train_split.vocab_size
        self.model = stack_models([build_model(c.model, vocab, seed=c.seed) for c in cfgs])
        self.model.move_to(self.device)
        self.steps_per_epoch = self.members[0].train_split.num_batches(tc.batch_size)
        self.total_steps = tc.epochs * self.steps_per_epoch
        self.optimizer = MemberAdamW(self.model, [_hyper(c, self.total_steps) for c in cfgs])
        self.losses_of: Callable[..., torch.Tensor] = functools.partial(_labelled_losses, self.model)
        if (how := compile_mode()) != "off":
            self.losses_of = compiled(self.losses_of, how)
        self.graphed = train_step_mode(self.device) == "graph"
        self.step_count = torch.zeros(1, dtype=torch.long, device=self.device)  # graphs' step count
        self.graphs = StepGraphs(self._step_body, self.device) if self.graphed else None
        self.max_test_len = max(s.seq_len for s in self.members[0].test_split.segments)
        self.num_parameters = build_model(cfgs[0].model, vocab).num_parameters()
        self.window_loss = torch.zeros(len(cfgs), device=self.device)  # summed since the last check
        self.window_steps = 0
        self.epochs_done = 0
        self.train_time = 0.0  # seconds of training steps (evaluations excluded)
        self.t_train = time.perf_counter()
        self.finished: list[int] = []  # positions in ``members`` that finished at this step
        self.model.train()
        saved = snapshots.find(snapshot_dir, [m.cfg.config_hash() for m in self.members])
        if saved is not None:
            self._resume(saved)

    # ---- 1. batches ------------------------------------------------------------------------------
    def train_step(self, step: int) -> tuple[int, bool]:
        """Optimiser step ``step`` (1-based) of every member: returns (the batches' epoch,
        whether the step ends an epoch)."""
        drawn = [next(m.batches) for m in self.members]
        epoch = drawn[0][0]
        for m, (_, b) in zip(self.members, drawn, strict=True):
            m.tokens += b.inputs.numel()
        inputs, prefix_len, where = _stack_batches([b for _, b in drawn])
        if self.graphs is None:
            dev = self.device
            losses = self._step_body(to_device(inputs, dev), to_device(prefix_len, dev), where.to(dev))
        else:
            self.step_count.fill_(self.optimizer.steps)
            losses = self.graphs(inputs, prefix_len, where)
            self.optimizer.steps += 1  # the body counted on the device (MemberAdamW.captured_step)
        self.window_loss += losses
        self.window_steps += 1
        end_of_epoch = step % self.steps_per_epoch == 0
        if end_of_epoch:
            self.epochs_done = epoch + 1
        return epoch, end_of_epoch

    def _step_body(
        self, inputs: torch.Tensor, prefix_len: torch.Tensor, where: LabelPositions
    ) -> torch.Tensor:
        """Forward, loss, backward and optimiser step on a batch already on the device: inputs
        [K*B, T], prefix_len [K*B] -> each member's loss [K]. With CUDA graphs this is what is
        recorded (:mod:`synthetic.step_graphs`): no host synchronisation, the step count read on
        the device."""
        with autocast(self.device, self.precision, cache=not self.graphed):
            losses = self.losses_of(inputs, prefix_len, where)
        self.model.zero_grad_()
        losses.sum().backward()
        if self.graphed:
            self.optimizer.captured_step(self.step_count)
        else:
            self.optimizer.step()
        return losses.detach()

    # ---- 2. checks due ---------------------------------------------------------------------------
    def evaluation_due(self, step: int, end_of_epoch: bool) -> bool:
        """An evaluation after step ``step``: on the schedule, and always after the last step."""
        tc = self.tc
        if tc.eval_every_steps is not None:
            return step % tc.eval_every_steps == 0 or step == self.total_steps
        return end_of_epoch and (self.epochs_done % tc.eval_every == 0 or self.epochs_done == tc.epochs)

    @staticmethod
    def check_due(step: int, end_of_epoch: bool, evaluation_due: bool) -> bool:
        """Whether the window's losses are looked at after step ``step``."""
        return evaluation_due or end_of_epoch or step % NAN_CHECK_EVERY == 0

    def window_means(self) -> list[float]:
        """Each member's mean training loss over the steps since the last evaluation."""
        return (self.window_loss / self.window_steps).tolist()

    # ---- 3. retire members -----------------------------------------------------------------------
    def retire_diverged(self, step: int, epoch: int, mean_loss: Sequence[float]) -> Iterator[Outcome]:
        """Finish every member whose window loss is NaN or infinite, with a NonFiniteLossError."""
        for pos, value in enumerate(mean_loss):
            if not math.isfinite(value):
                lr = self.members[pos].cfg.train.lr
                err = NonFiniteLossError(
                    f"training loss became {value} by step {step} (epoch {epoch}, lr={lr:g})"
                )
                yield self._finish(pos, error=err)

    def evaluate(self, step: int, mean_loss: Sequence[float]) -> Iterator[Outcome]:
        """Evaluate every member on its test split (the training clock paused); record a
        checkpoint for each member still training, and finish those that reached their
        early-stop accuracy or the last step. Then restart the window and the clock."""
        self.train_time += time.perf_counter() - self.t_train
        evals = evaluate_members(
            self.model,
            [m.test_split for m in self.members],
            self.tc.eval_batch_size,
            self.device,
            self.precision,
        )
        finishing = []
        for pos, (member, ev) in enumerate(zip(self.members, evals, strict=True)):
            if pos in self.finished:
                continue
            member.best_accuracy = max(member.best_accuracy, ev.accuracy)
            member.history.append(Checkpoint(self.epochs_done, step, mean_loss[pos], ev))
            if self._ends_training(member, step, ev.accuracy):
                finishing.append(pos)
        if finishing and self.snapshot_dir is not None:
            # before the outcomes go out: a job that ends while the caller analyses them resumes
            # these members finished (finish_resumed), not from the evaluation before
            self.save_snapshot(step)
        for pos in finishing:
            yield self._finish(pos, metrics=self._metrics(pos, early_stopped=step < self.total_steps))
        self.window_loss.zero_()
        self.window_steps = 0
        self.t_train = time.perf_counter()

    def _ends_training(self, member: _Member, step: int, accuracy: float) -> bool:
        """Whether the evaluation after step ``step`` with this accuracy finishes ``member``: the
        last step, or its early-stop accuracy reached."""
        threshold = member.cfg.train.early_stop_accuracy
        return step == self.total_steps or (threshold is not None and accuracy >= threshold)

    def finish_resumed(self) -> Iterator[Outcome]:
        """After a resume: the members whose snapshot was written as they finished (their last
        evaluation, at the snapshot's step, ends their training) finish at once, with the metrics
        they had then; nothing is trained again."""
        for pos, member in enumerate(self.members):
            last = member.history[-1] if member.history else None
            if last is None or last.step != self.start_step or self.start_step == 0:
                continue
            if self._ends_training(member, last.step, last.evaluation.accuracy):
                early = last.step < self.total_steps
                yield self._finish(pos, metrics=self._metrics(pos, early_stopped=early))

    def _metrics(self, pos: int, *, early_stopped: bool) -> MemberMetrics:
        member = self.members[pos]
        return MemberMetrics(
            history=tuple(member.history),
            best_accuracy=member.best_accuracy,
            early_stopped=early_stopped,
            train_tokens=member.tokens,
            train_time_s=self.train_time,
            wall_time_s=time.perf_counter() - self.t_start,
            num_parameters=self.num_parameters,
            state=StateSizes.of(self.model.member(pos), self.max_test_len),
            device=describe_device(self.device),
            precision=self.precision,
            ensemble_size=self.size,
            resumed_at=self.resumed_at,
            resumed_commits=self.resumed_commits,
        )

    def _finish(
        self, pos: int, *, metrics: MemberMetrics | None = None, error: BaseException | None = None
    ) -> Outcome:
        member = self.members[pos]
        self.finished.append(pos)
        return Outcome(
            index=member.index,
            cfg=member.cfg,
            metrics=metrics,
            error=error,
            traceback=None if error is None else "".join(traceback.format_exception_only(error)),
            model=self.model.member(pos) if self.keep_models else None,
        )

    # ---- 4. shrink -------------------------------------------------------------------------------
    def shrink(self) -> None:
        """Drop the members that finished at this step from the model, the optimiser and the window."""
        if not self.finished:
            return
        keep = [pos for pos in range(len(self.members)) if pos not in self.finished]
        self.finished = []
        self.members = [self.members[i] for i in keep]
        if not keep:
            return
        self.window_loss = self.window_loss.index_select(0, torch.as_tensor(keep, device=self.device))
        self.model.keep_members(keep)
        self.optimizer.keep_members(keep)
        if self.graphs is not None:  # the graphs point at the tensors just replaced
            self.graphs = StepGraphs(self._step_body, self.device)

    # ---- 5. snapshot -----------------------------------------------------------------------------
    def save_snapshot(self, step: int) -> None:
        """After the evaluation at step ``step``: the members not retired at this step (those
        still training and those that finish with their metrics now), as this ensemble's file in
        the snapshot folder."""
        assert self.snapshot_dir is not None
        rows = [pos for pos in range(len(self.members)) if pos not in self.finished]
        if not rows:
            return
        try:
            self._write_snapshot(step, self.snapshot_dir, rows)
        except OSError as err:  # a full disk or an unwritable folder: train on without snapshots
            warnings.warn(
                f"ensemble {self.id}: could not save its snapshot in {self.snapshot_dir} "
                f"({type(err).__name__}: {err}); it trains on without snapshots",
                RuntimeWarning,
                stacklevel=2,
            )
            self.snapshot_dir = None

    def _write_snapshot(self, step: int, folder: Path, rows: list[int]) -> None:
        """The members at positions ``rows`` of ``members`` (in that order) to the file."""
        members = [self.members[pos] for pos in rows]
        index = None if len(rows) == len(self.members) else torch.as_tensor(rows, device=self.device)

        def of(table: torch.Tensor) -> torch.Tensor:  # [K, P] -> the rows kept
            return table if index is None else table.index_select(0, index)

        snapshots.write(
            folder,
            snapshots.EnsembleSnapshot(
                ensemble_id=self.id,
                members=[m.cfg.config_hash() for m in members],
                size=self.size,
                step=step,
                epochs_done=self.epochs_done,
                train_time_s=self.train_time,
                wall_time_s=time.perf_counter() - self.t_start,
                tokens=[m.tokens for m in members],
                best_accuracy=[m.best_accuracy for m in members],
                history=[[asdict(c) for c in m.history] for m in members],
                flat=of(self.model.flat),
                exp_avg=of(self.optimizer.exp_avg),
                exp_avg_sq=of(self.optimizer.exp_avg_sq),
                resumed_at=list(self.resumed_at),
                commits=[*self.resumed_commits, self.commit],
                precision=self.precision,
                device=describe_device(self.device),
            ),
        )

    def _resume(self, saved: snapshots.EnsembleSnapshot) -> None:
        """Go on from ``saved`` (which holds every member, maybe others too). A snapshot that does
        not fit this ensemble's model is left alone with a RuntimeWarning: training starts afresh."""
        rows = saved.rows_of([m.cfg.config_hash() for m in self.members])
        params = self.model.flat.shape[1]
        name = f"ensemble snapshot {saved.ensemble_id} (step {saved.step})"
        why, histories = "", []
        try:
            histories = [[_checkpoint_of(c) for c in saved.history[row]] for row in rows]
        except (KeyError, TypeError) as err:
            why = f"its history is not readable ({type(err).__name__}: {err})"
        if not why and (saved.flat.shape[1] != params or saved.step > self.total_steps):
            why = (
                f"{saved.flat.shape[1]} parameters a member; this ensemble has {params} and "
                f"{self.total_steps} steps"
            )
        if why:
            warnings.warn(f"{name} does not fit: {why}; trains from the start", RuntimeWarning, stacklevel=3)
            return
        here = (self.precision, describe_device(self.device))
        if (saved.precision, saved.device) != here:
            warnings.warn(
                f"{name} was trained in {saved.precision} on {saved.device}; it goes on in {here[0]} "
                f"on {here[1]}",
                RuntimeWarning,
                stacklevel=3,
            )
        index = torch.as_tensor(rows)
        with torch.no_grad():
            self.model.flat.copy_(saved.flat.index_select(0, index))
            self.optimizer.exp_avg.copy_(saved.exp_avg.index_select(0, index))
            self.optimizer.exp_avg_sq.copy_(saved.exp_avg_sq.index_select(0, index))
        self.optimizer.steps = saved.step
        for member, row, history in zip(self.members, rows, histories, strict=True):
            member.batches = _batches_forever(
                member.train_split, self.tc.batch_size, self.tc.epochs, saved.step
            )
            member.tokens = saved.tokens[row]
            member.best_accuracy = saved.best_accuracy[row]
            member.history = history
        if len(rows) == len(saved.members):  # the snapshot is this ensemble's: go on in its file
            self.id = saved.ensemble_id  # (one that holds other runs too stays theirs)
        self.size = saved.size
        self.start_step = saved.step
        self.epochs_done = saved.epochs_done
        self.train_time = saved.train_time_s
        self.t_start = time.perf_counter() - saved.wall_time_s
        self.resumed_at = (*saved.resumed_at, saved.step)
        unknown = len(self.resumed_at) - len(saved.commits)  # all of them in a file without commits
        self.resumed_commits = (*[None] * unknown, *saved.commits)


def train_ensemble(
    cfgs: Sequence[RunConfig],
    *,
    device: str | torch.device | None = None,
    progress: bool = False,
    keep_models: bool = False,
    snapshot_dir: str | Path | None = None,
) -> Generator[Outcome, None, None]:
    """Train ``cfgs`` (K >= 1 runs with one :func:`ensemble_key`) together, yielding each member's
    :class:`Outcome` as soon as it finishes (early stop, divergence or the last step), so that the
    caller can store it before the others end; every member ends with exactly one outcome.

    ``device`` overrides the configs' ``train.device``; ``keep_models`` puts each member's model, as
    it was when the member finished, into its outcome. Configs that cannot share an ensemble raise
    ValueError here; training starts at the first ``next()``. A member that diverges gets an
    Outcome with a :class:`NonFiniteLossError`; anything else that goes wrong (a bad device, out
    of memory) raises from the generator, and the members not yet finished have no outcome (the
    caller records them as errors).

    ``snapshot_dir``: save the ensemble's state there after every evaluation, and go on from a
    saved state that holds all of ``cfgs`` (:mod:`synthetic.snapshots`; the outcomes are those of
    an uninterrupted ensemble, each member's metrics naming the steps it was resumed at).
    """
    _check_shareable(cfgs)
    return _train(cfgs, device, progress, keep_models, None if snapshot_dir is None else Path(snapshot_dir))


def _train(
    cfgs: Sequence[RunConfig],
    device: str | torch.device | None,
    progress: bool,
    keep_models: bool,
    snapshot_dir: Path | None,
) -> Generator[Outcome, None, None]:
    """The generator behind :func:`train_ensemble`: the named steps, once per optimiser step."""
    run = _Ensemble(cfgs, device, keep_models, snapshot_dir)
    bar = tqdm(
        total=run.total_steps,
        initial=run.start_step,
        desc=f"ensemble of {len(cfgs)}",
        disable=not progress,
        leave=False,
    )
    try:
        yield from run.finish_resumed()  # members whose snapshot was written as they finished
        run.shrink()
        if not run.members:
            return
        for step in range(run.start_step + 1, run.total_steps + 1):
            epoch, end_of_epoch = run.train_step(step)
            bar.update(1)
            due = run.evaluation_due(step, end_of_epoch)
            if not run.check_due(step, end_of_epoch, due):
                continue
            mean_loss = run.window_means()
            yield from run.retire_diverged(step, epoch, mean_loss)
            if due:
                yield from run.evaluate(step, mean_loss)
            run.shrink()
            if not run.members:  # its snapshot stays until the sweep has stored every record
                return
            if due and run.snapshot_dir is not None:
                run.save_snapshot(step)
        raise AssertionError("the last step evaluates and finishes every member")  # pragma: no cover
    finally:
        bar.close()
        # StepGraphs holds run._step_body, a cycle that only the cyclic collector would free; a
        # collection during a later capture would destroy these graphs mid-capture and break it
        run.graphs = None
