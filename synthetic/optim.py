"""AdamW for K stacked members, and the learning-rate schedule.

:class:`MemberAdamW` updates the flat parameter buffer ``[K, P]`` of a
:class:`~synthetic.members.StackedLanguageModel` with per-member hyper-parameters (learning rate
and schedule, weight decay and which parameters it applies to, betas, gradient clipping), in a
handful of tensor operations whatever the number of parameters. Member k's update is exactly
``torch.optim.AdamW`` (decoupled decay, bias correction, ``eps`` added after the square root) on
its own parameters, after ``torch.nn.utils.clip_grad_norm_`` on its own gradients: the tests
check it against those two on single models.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from synthetic.members import StackedLanguageModel

__all__ = ["MemberAdamW", "MemberHyper", "lr_factor"]

ADAM_EPS = 1e-8  # torch.optim.AdamW's default
CLIP_EPS = 1e-6  # torch.nn.utils.clip_grad_norm_'s


def lr_factor(step: int, total_steps: int, warmup_steps: int, min_ratio: float) -> float:
    """Multiplier of the peak LR at optimiser step ``step`` (0-based): linear warmup over
    ``warmup_steps`` (from 1/warmup to 1), then cosine from 1 to ``min_ratio`` at ``total_steps``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass(frozen=True)
class MemberHyper:
    """One member's optimiser settings (from its :class:`~synthetic.config.TrainConfig`).

    lr peak learning rate; weight_decay; decay_all; betas; grad_clip (None: none);
    warmup_steps and min_lr_ratio of the schedule; total_steps of the schedule.
    """

    lr: float
    weight_decay: float
    decay_all: bool
    betas: tuple[float, float]
    grad_clip: float | None
    warmup_steps: int
    min_lr_ratio: float
    total_steps: int

    def lr_at(self, step: int) -> float:
        """The learning rate of optimiser step ``step`` (0-based)."""
        return self.lr * lr_factor(step, self.total_steps, self.warmup_steps, self.min_lr_ratio)


class MemberAdamW:
    """AdamW over the members of ``model`` (see the module docstring); ``hypers[k]`` is member k's.

    State: ``exp_avg``, ``exp_avg_sq`` [K, P] and the step count (shared: members start together).
    :meth:`keep_members` follows :meth:`StackedLanguageModel.keep_members`. Every member's learning
    rate at every step of its schedule is one table on the parameters' device, built once
    ([S, K], S = the longest schedule + 1; later steps are computed on the host), so a step reads
    its rates there instead of copying them from the host (a copy from pageable host memory makes
    CUDA wait for every queued kernel).
    """

    def __init__(self, model: StackedLanguageModel, hypers: Sequence[MemberHyper]) -> None:
        if len(hypers) != model.num_members:
            raise ValueError(f"{len(hypers)} settings for {model.num_members} members")
        self.model = model
        self.hypers = list(hypers)
        self.exp_avg = torch.zeros_like(model.flat)
        self.exp_avg_sq = torch.zeros_like(model.flat)
        self.steps = 0
        self._masks = {flag: model.member_decay_mask(flag) for flag in (False, True)}
        self._columns()

    def _column(self, values: Sequence[float]) -> torch.Tensor:
        flat = self.model.flat
        return torch.tensor(values, dtype=torch.float64).to(device=flat.device, dtype=flat.dtype)[:, None]

    def _lr_table(self) -> torch.Tensor:
        """[S, K]: member k's learning rate at step s (the host's float64 values, cast once)."""
        steps = max(h.total_steps for h in self.hypers) + 1
        table = [[h.lr_at(s) for h in self.hypers] for s in range(steps)]
        flat = self.model.flat
        return torch.tensor(table, dtype=torch.float64).to(device=flat.device, dtype=flat.dtype)

    def _columns(self) -> None:
        hs = self.hypers
        self.lr_table = self._lr_table()
        self.beta1 = self._column([h.betas[0] for h in hs])
        self.beta2 = self._column([h.betas[1] for h in hs])
        self.decay = torch.cat(
            [h.weight_decay * self._masks[h.decay_all][None, :] for h in hs], dim=0
        )  # [K, P]: each member's decay per parameter
        self.clip = None
        if any(h.grad_clip is not None for h in hs):
            self.clip = self._column([math.inf if h.grad_clip is None else h.grad_clip for h in hs])

    def keep_members(self, keep: Sequence[int]) -> None:
        """Keep the state of the members at positions ``keep`` (call after the model's)."""
        index = torch.as_tensor(list(keep), dtype=torch.long, device=self.exp_avg.device)
        self.exp_avg = self.exp_avg.index_select(0, index)
        self.exp_avg_sq = self.exp_avg_sq.index_select(0, index)
        self.hypers = [self.hypers[i] for i in keep]
        self._columns()

    def _lr_at(self, step: int) -> torch.Tensor:
        """[K, 1] learning rates of step ``step`` (0-based): a row of the table, or the host's
        values past its end."""
        if step < self.lr_table.shape[0]:
            return self.lr_table[step][:, None]
        return self._column([h.lr_at(step) for h in self.hypers])

    @torch.no_grad()
    def step(self) -> None:
        """One AdamW step of every member from the gradients of the last backward pass."""
        lr = self._lr_at(self.steps)  # [K, 1]
        self.steps += 1
        self._update(lr, self.steps)

    @torch.no_grad()
    def captured_step(self, step: torch.Tensor) -> None:
        """The same update as :meth:`step`, with the step count ``step`` (int64 [1], 0-based, on
        the parameters' device) read on the device instead of the host, so that a CUDA graph of it
        replays correctly at every step (:mod:`synthetic.step_graphs`). The caller fills ``step``
        before each replay and advances :attr:`steps` after it; the count must stay inside the
        learning-rate table (every step of the schedules)."""
        lr = self.lr_table.index_select(0, step).T  # [K, 1]
        self._update(lr, (step + 1).to(self.model.flat.dtype))

    def _update(self, lr: torch.Tensor, count: int | torch.Tensor) -> None:
        """AdamW with learning rates ``lr`` [K, 1] as the ``count``-th step (1-based; a host int
        or a device tensor [1]) of every member."""
        grad = self.model.flat_grad()  # [K, P]
        if self.clip is not None:
            norm = grad.norm(dim=1, keepdim=True)
            grad = grad * (self.clip / (norm + CLIP_EPS)).clamp(max=1.0)
        flat = self.model.flat
        flat.mul_(1.0 - lr * self.decay)
        self.exp_avg.lerp_(grad, 1.0 - self.beta1)
        self.exp_avg_sq.mul_(self.beta2).add_((1.0 - self.beta2) * grad * grad)
        bias1 = 1.0 - self.beta1**count
        bias2 = 1.0 - self.beta2**count
        denom = (self.exp_avg_sq.sqrt() / bias2.sqrt()).add_(ADAM_EPS)
        flat.addcdiv_(self.exp_avg * (-lr / bias1), denom)
