"""One training run: a :class:`~synthetic.config.RunConfig` in, a metrics record out.

    record = run_record(cfg)           # never raises for a failed run: status "failed" + reason
    metrics = train(cfg)               # the same, but raises on failure

Training: AdamW (decoupled weight decay 0.1 by default, optionally none on norms / biases / the
embedding), linear warmup then cosine decay per step, global gradient-norm clipping, bf16
autocast on CUDA and fp32 on CPU, cross-entropy on the labelled positions only. After every
``eval_every`` epochs the model is evaluated on the test split (per-slice accuracy over labelled
positions); training stops early once the overall accuracy reaches ``early_stop_accuracy``. As
in the paper and Zoology, the test split doubles as the validation set for early stopping.

Reproducibility: parameters come from ``torch.Generator().manual_seed(cfg.seed)``, batch order
from the data config's seed and the epoch; no global RNG is read. On CPU the same config and
seed give the same metrics (same torch build and thread count).

A record (one JSON object; see :func:`run_record`) holds the config, its hash, per-slice and
overall accuracy, losses, steps, times, tokens/s, parameter count, state sizes (values and bytes,
actual and paper conventions), device, versions and status.
"""

from __future__ import annotations

import contextlib
import functools
import math
import platform
import time
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

import synthetic
from synthetic.config import RunConfig, TrainConfig
from synthetic.model import LanguageModel, build_model
from synthetic.tasks import DataConfig, SliceAccuracy, SplitData, build_split
from synthetic.tasks.tokens import IGNORE_INDEX

RECORD_SCHEMA = 1


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""


# ---------------------------------------------------------------------------------------- devices


def resolve_device(spec: str | torch.device | None) -> torch.device:
    """ "auto"/None -> CUDA if available else CPU; "cpu", "cuda", "cuda:N" as given (checked)."""
    if spec is None or spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(spec)!r} was requested but torch sees no CUDA device")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device={str(spec)!r}: only 'cpu' and 'cuda[:N]' are supported")
    return device


def resolve_precision(spec: str, device: torch.device) -> str:
    """ "auto" -> "bf16" on CUDA, "fp32" elsewhere; explicit values pass through."""
    if spec == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    return spec


def describe_device(device: torch.device) -> str:
    """ "cpu (N threads)" or "cuda:I (GPU name)"."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return f"cpu ({torch.get_num_threads()} threads, {platform.machine()})"


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


# ------------------------------------------------------------------------------------------- data


@functools.lru_cache(maxsize=4)
def load_splits(data: DataConfig) -> tuple[SplitData, SplitData]:
    """(train, test) splits of ``data``, memoised per process (sweeps reuse them across runs)."""
    return build_split(data, "train"), build_split(data, "test")


# -------------------------------------------------------------------------------------- optimiser


def param_groups(model: torch.nn.Module, weight_decay: float, decay_all: bool) -> list[dict[str, Any]]:
    """AdamW groups: with ``decay_all`` one group; otherwise matrices of mixers / MLPs decay and
    norms, biases, 1-d parameters and the embedding do not."""
    if decay_all:
        return [{"params": [p for p in model.parameters() if p.requires_grad], "weight_decay": weight_decay}]
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.dim() < 2 or name.startswith("embedding.") or "norm" in name:
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def lr_factor(step: int, total_steps: int, warmup_steps: int, min_ratio: float) -> float:
    """Multiplier of the peak LR at optimiser step ``step`` (0-based): linear warmup over
    ``warmup_steps`` (from 1/warmup to 1), then cosine from 1 to ``min_ratio`` at ``total_steps``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


# ------------------------------------------------------------------------------------- evaluation


def masked_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over positions whose label is not -100; logits [B, T, V], labels [B, T]."""
    return F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX)


@torch.no_grad()
def evaluate(
    model: LanguageModel, split: SplitData, batch_size: int, device: torch.device, precision: str
) -> dict[str, Any]:
    """Accuracy over labelled positions, per slice and overall, and the mean test loss.

    Returns {"accuracy": float, "slice_accuracy": {slice: float}, "slice_counts": {slice: [correct,
    labelled]}, "test_loss": float}.
    """
    was_training = model.training
    model.eval()
    acc = SliceAccuracy()
    loss_sum, label_count = 0.0, 0
    for batch in split.batches(batch_size, shuffle=False):
        batch = batch.to(device)
        with _autocast(device, precision):
            logits = model(batch.inputs, batch.prefix_len)
        n = int((batch.labels != IGNORE_INDEX).sum())
        loss_sum += float(masked_loss(logits, batch.labels)) * n
        label_count += n
        acc.update(batch.slice, logits.argmax(-1), batch.labels)
    model.train(was_training)
    return {
        "accuracy": acc.overall_token_accuracy(),
        "slice_accuracy": acc.token_accuracy(),
        "slice_counts": {k: list(v) for k, v in acc.counts().items()},
        "test_loss": loss_sum / label_count if label_count else float("nan"),
    }


# --------------------------------------------------------------------------------------- training


def _batches_forever(split: SplitData, batch_size: int, epochs: int) -> Iterator[tuple[int, Any]]:
    for epoch in range(epochs):
        for batch in split.batches(batch_size, shuffle=True, epoch=epoch):
            yield epoch, batch


def state_sizes(model: LanguageModel, seq_len: int) -> dict[str, int]:
    """State sizes of one example: values and bytes, actual (fp32) and paper convention."""
    return {
        "state_values": model.state_size(seq_len),
        "state_bytes": model.state_size_bytes(torch.float32, seq_len=seq_len),
        "paper_state_values": model.state_size(seq_len, convention="paper"),
        "paper_state_bytes": model.state_size_bytes(torch.float32, convention="paper", seq_len=seq_len),
        "state_seq_len": seq_len,
    }


def train(
    cfg: RunConfig, *, device: str | torch.device | None = None, progress: bool = False
) -> dict[str, Any]:
    """Train one model as ``cfg`` says; return the metrics part of the record (see module docs).

    ``device`` overrides ``cfg.train.device`` (a sweep assigns GPUs this way). Raises
    :class:`NonFiniteLossError` if the loss becomes NaN / inf, and whatever else goes wrong.
    """
    t_start = time.perf_counter()
    tc: TrainConfig = cfg.train
    dev = resolve_device(device if device is not None else tc.device)
    precision = resolve_precision(tc.precision, dev)
    train_split, test_split = load_splits(cfg.data)

    model = build_model(cfg.model, train_split.vocab_size, seed=cfg.seed).to(dev)
    optimizer = torch.optim.AdamW(
        param_groups(model, tc.weight_decay, tc.decay_all),
        lr=tc.lr,
        betas=tc.betas,
        fused=dev.type == "cuda",
    )
    steps_per_epoch = train_split.num_batches(tc.batch_size)
    total_steps = tc.epochs * steps_per_epoch
    warmup = math.ceil(tc.warmup_fraction * total_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, total_steps, warmup, tc.min_lr_ratio)
    )

    history: list[dict[str, Any]] = []
    step, tokens, train_time = 0, 0, 0.0
    window_loss = torch.zeros((), device=dev)
    window_steps = 0
    last_eval: dict[str, Any] | None = None
    best_accuracy = -1.0
    early_stopped = False
    epochs_done = 0
    bar = tqdm(
        total=total_steps, desc=f"{cfg.variant} d={cfg.model.d_model}", disable=not progress, leave=False
    )
    model.train()
    t_train = time.perf_counter()
    for epoch, batch in _batches_forever(train_split, tc.batch_size, tc.epochs):
        batch = batch.to(dev, non_blocking=True)
        with _autocast(dev, precision):
            logits = model(batch.inputs, batch.prefix_len)
        loss = masked_loss(logits, batch.labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if tc.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
        optimizer.step()
        scheduler.step()
        step += 1
        tokens += batch.inputs.numel()
        window_loss += loss.detach()
        window_steps += 1
        if step % 50 == 0 or step % steps_per_epoch == 0:
            value = float(window_loss) / window_steps
            if not math.isfinite(value):
                raise NonFiniteLossError(
                    f"training loss became {value} by step {step} (epoch {epoch}, lr={tc.lr:g})"
                )
            bar.set_postfix(loss=f"{value:.3f}", refresh=False)
        bar.update(1)
        end_of_epoch = step % steps_per_epoch == 0
        if end_of_epoch:
            epochs_done = epoch + 1
        if tc.eval_every_steps is not None:
            due = step % tc.eval_every_steps == 0 or step == total_steps
        else:
            due = end_of_epoch and (epochs_done % tc.eval_every == 0 or epochs_done == tc.epochs)
        if not due:
            continue
        train_loss = float(window_loss) / window_steps
        if not math.isfinite(train_loss):
            raise NonFiniteLossError(f"training loss became {train_loss} by step {step} (lr={tc.lr:g})")
        window_loss.zero_()
        window_steps = 0
        train_time += time.perf_counter() - t_train
        last_eval = evaluate(model, test_split, tc.eval_batch_size, dev, precision)
        best_accuracy = max(best_accuracy, last_eval["accuracy"])
        history.append(
            {
                "epoch": epochs_done,
                "step": step,
                "train_loss": train_loss,
                "test_loss": last_eval["test_loss"],
                "accuracy": last_eval["accuracy"],
            }
        )
        bar.set_postfix(loss=f"{train_loss:.3f}", acc=f"{last_eval['accuracy']:.3f}", refresh=False)
        t_train = time.perf_counter()
        if tc.early_stop_accuracy is not None and last_eval["accuracy"] >= tc.early_stop_accuracy:
            early_stopped = step < total_steps
            break
    bar.close()
    assert last_eval is not None  # the last epoch is always evaluated
    max_test_len = max(s.seq_len for s in test_split.segments)
    return {
        "accuracy": last_eval["accuracy"],
        "slice_accuracy": last_eval["slice_accuracy"],
        "slice_counts": last_eval["slice_counts"],
        "best_accuracy": best_accuracy,
        "train_loss": history[-1]["train_loss"],
        "test_loss": last_eval["test_loss"],
        "epochs": epochs_done,
        "steps": step,
        "early_stopped": early_stopped,
        "train_tokens": tokens,
        "train_time_s": train_time,
        "wall_time_s": time.perf_counter() - t_start,
        "tokens_per_s": tokens / train_time if train_time > 0 else None,
        "num_parameters": model.num_parameters(),
        **state_sizes(model, max_test_len),
        "device": describe_device(dev),
        "precision": precision,
        "history": history,
    }


def _environment() -> dict[str, Any]:
    return {
        "package_version": synthetic.__version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "hostname": platform.node(),
    }


def run_record(
    cfg: RunConfig, *, device: str | torch.device | None = None, progress: bool = False
) -> dict[str, Any]:
    """Train ``cfg`` and return its JSON-able record. A run that fails (an exception, a NaN loss)
    returns a record with ``status="failed"`` and ``error`` (type, message, last traceback lines)
    instead of raising; ``KeyboardInterrupt`` still propagates."""
    started = datetime.now(UTC).isoformat(timespec="seconds")
    record: dict[str, Any] = {
        "schema": RECORD_SCHEMA,
        "config_hash": cfg.config_hash(),
        "summary": cfg.summary(),
        "config": cfg.identity(),
        "started_at": started,
        **_environment(),
    }
    t0 = time.perf_counter()
    try:
        metrics = train(cfg, device=device, progress=progress)
    except Exception as err:  # recorded, never lost: the sweep goes on
        tb = traceback.format_exception(type(err), err, err.__traceback__)
        record.update(
            status="failed",
            error=f"{type(err).__name__}: {err}",
            traceback="".join(tb[-6:]),
            wall_time_s=time.perf_counter() - t0,
        )
        return record
    record.update(status="ok", error=None, **metrics)
    return record
