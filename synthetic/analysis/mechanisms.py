"""Constructed SD models whose mechanism is known: what the analyses must recover.

Both map ``input_ids [B, T]`` (SD examples ``1 A 2 B 3``, optionally JR-p) to logits
``[B, T, V]`` like a :class:`~synthetic.model.LanguageModel`, and only read the set tokens
``[4, V)``:

* :class:`CountingModel` counts: the logit of a set token at position t is the weighted number of
  its occurrences up to t, ``gain * sum_{s <= t, x_s = x} w_s`` (weights ``w`` per position,
  all 1 by default). Its copies' evidence adds up: the copy intervention's interaction is 0 and
  each copy's gain is ``gain * w`` at its position (with JR-p: summed over the passes). It solves
  plain SD (the shared token is the only one seen twice) and fails the distractor task.
* :class:`StoreFirstModel` stores the first set and checks the second against it: the causal
  linear-attention construction of Prop G.18 (:class:`sdtheory.constructions.CausalSD`, with a
  deterministic code kernel exact for first sets of up to ``max_first`` tokens) run on the first
  pass; the logit of a token at the last position is ``gain`` for each position of the second
  set where that token fired (its inner product with the stored set crossed the threshold), 0
  otherwise. Its answer needs both copies: interaction ``gain``, a copy alone gains 0. It solves
  both tasks. :meth:`StoreFirstModel.bounded` stores the first set in ``feature_dim`` values
  through a random sign kernel instead (paper Eq. 20): a memory of fixed size that knows no
  positions, whose errors (second-set tokens that collide with the stored set) grow with the
  size of the first set wherever the copies sit: the theory's order effect without position
  weighting.

The logits of the other positions are 0 for :class:`StoreFirstModel` (it answers at the end).
Neither has parameters; neither is trained.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from sdtheory.constructions import CausalSD
from sdtheory.instances import StreamLayout
from sdtheory.ipkernels import THRESHOLD, CodeKernel, IPKernel, RandomSignKernel
from synthetic.tasks._checks import check_int
from synthetic.tasks.tokens import NUM_SPECIAL, SEP, START

__all__ = ["CountingModel", "StoreFirstModel"]


def _check_ids(input_ids: torch.Tensor, vocab_size: int) -> None:
    if input_ids.dim() != 2 or input_ids.dtype not in (torch.int32, torch.int64):
        raise ValueError(
            f"input_ids must be an integer tensor [B, T]; got {input_ids.dtype} {tuple(input_ids.shape)}"
        )
    if input_ids.numel() and (int(input_ids.min()) < 0 or int(input_ids.max()) >= vocab_size):
        raise ValueError(f"input_ids must lie in [0, vocab_size={vocab_size})")


class CountingModel(nn.Module):
    """Weighted counting of set tokens (see the module docstring).

    vocab_size  V
    weights     per-position weights ``w`` [T_max] (position 0 is the start token); None: all 1.
                Inputs longer than ``T_max`` are refused.
    gain        logits per unit of weighted count
    """

    def __init__(self, vocab_size: int, weights: Sequence[float] | None = None, gain: float = 1.0) -> None:
        super().__init__()
        self.vocab_size = check_int("vocab_size", vocab_size, NUM_SPECIAL + 1)
        w = None if weights is None else torch.as_tensor(list(weights), dtype=torch.float64)
        if w is not None and (w.dim() != 1 or not torch.isfinite(w).all()):
            raise ValueError(f"weights must be a 1-D sequence of finite numbers; got {weights!r}")
        self.weights = w
        self.gain = float(gain)

    def forward(self, input_ids: torch.Tensor, prefix_len: torch.Tensor | None = None) -> torch.Tensor:
        """input_ids [B, T] -> logits float64 [B, T, V]."""
        _check_ids(input_ids, self.vocab_size)
        t = input_ids.shape[1]
        if self.weights is None:
            w = torch.ones(t, dtype=torch.float64)
        elif t > self.weights.numel():
            raise ValueError(
                f"input of T={t} positions is longer than the {self.weights.numel()} weights given"
            )
        else:
            w = self.weights[:t]
        onehot = nn.functional.one_hot(input_ids.long(), self.vocab_size).to(torch.float64)
        onehot[..., :NUM_SPECIAL] = 0.0
        return self.gain * torch.cumsum(onehot * w[None, :, None].to(onehot.device), dim=1)


class StoreFirstModel(nn.Module):
    """sdtheory's causal store-the-first-set construction as a model (see the module docstring).

    vocab_size  V (the construction's universe is the n = V - 4 set tokens)
    max_first   the largest first set the kernel must separate (the code kernel's epsilon is
                1 / (3 max_first), which makes the construction exact up to that size)
    gain        the logit of a token that fired
    """

    def __init__(self, vocab_size: int, max_first: int, gain: float = 1.0) -> None:
        super().__init__()
        self.vocab_size = check_int("vocab_size", vocab_size, NUM_SPECIAL + 2)
        self.universe = self.vocab_size - NUM_SPECIAL
        self.max_first = check_int("max_first", max_first)
        self.kernel: IPKernel = CodeKernel.for_epsilon(self.universe, 1.0 / (3 * self.max_first))
        self.construction = CausalSD()
        self.gain = float(gain)

    @classmethod
    def bounded(cls, vocab_size: int, feature_dim: int, seed: int, gain: float = 1.0) -> StoreFirstModel:
        """The same construction with a random sign kernel of ``feature_dim`` values: any first
        set is stored, with collisions that grow with its size (see the module docstring)."""
        model = cls(vocab_size, max_first=1, gain=gain)
        model.kernel = RandomSignKernel(model.universe, check_int("feature_dim", feature_dim), seed)
        model.max_first = model.universe
        return model

    def forward(self, input_ids: torch.Tensor, prefix_len: torch.Tensor | None = None) -> torch.Tensor:
        """input_ids [B, T] (every row ``1 A 2 B ...`` with the same |A|) -> logits float64 [B, T, V]."""
        _check_ids(input_ids, self.vocab_size)
        ids = input_ids.cpu().numpy().astype(np.int64)
        b, t = ids.shape
        logits = torch.zeros(b, t, self.vocab_size, dtype=torch.float64)
        if b == 0:
            return logits.to(input_ids.device)
        seps = ids == SEP
        first = int(np.argmax(seps[0])) - 1
        if not (np.all(ids[:, 0] == START) and first >= 0 and np.all(seps[:, first + 1])):
            raise ValueError("every row must start '1 A 2' with the same |A| (the separator 2 at one column)")
        starts = np.flatnonzero(ids[0] == START)
        end = int(starts[1]) if starts.size > 1 else t - 1  # the first pass ends before the next start
        second = end - first - 2
        if first > self.max_first or second < 1:
            raise ValueError(f"|A|={first} exceeds max_first={self.max_first}, or the second set is empty")
        body = ids[:, 1:end]
        if int(np.delete(body, first, axis=1).min()) < NUM_SPECIAL:
            raise ValueError("the first pass holds a special token inside a set")
        stream = np.where(body == SEP, self.universe, body - NUM_SPECIAL)
        layout = StreamLayout(self.universe, first, second)
        y, _, _ = self.construction.forward(stream, layout, self.kernel)
        fired = y[:, :, 0] / (1.0 - THRESHOLD)  # 1 where a second-set token matched the stored set
        answer = np.zeros((b, self.vocab_size))
        np.add.at(answer, (np.arange(b)[:, None], body), fired)
        answer[:, :NUM_SPECIAL] = 0.0
        logits[:, -1] = torch.from_numpy(self.gain * answer)
        return logits.to(input_ids.device)
