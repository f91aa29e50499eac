"""The numpy container every generator returns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthetic.tasks.tokens import IGNORE_INDEX

__all__ = ["TaskExamples"]


@dataclass(frozen=True, eq=False)
class TaskExamples:
    """``n_ex`` examples of one length ``T``, laid out as ``context x passes`` then the answer region.

    inputs       int64 ``[n_ex, T]`` token ids
    labels       int64 ``[n_ex, T]``; ``IGNORE_INDEX`` (-100) where a position has no label. The label
                 at position ``t`` is the token the model must output after reading ``inputs[:, :t+1]``.
    context_len  tokens in ONE copy of the context (everything before the answer / query region)
    passes       how many copies of the context precede the answer region (JR-p; 1 = plain)

    The first ``prefix_len = passes * context_len`` tokens of every example are the context
    (a model may read them non-causally); labels only ever sit after them.
    """

    inputs: np.ndarray
    labels: np.ndarray
    context_len: int
    passes: int = 1

    def __post_init__(self) -> None:
        for name in ("inputs", "labels"):
            arr = getattr(self, name)
            if not isinstance(arr, np.ndarray) or arr.dtype != np.int64 or arr.ndim != 2:
                raise TypeError(f"{name} must be an int64 numpy array [n_ex, T] (got {type(arr).__name__})")
        if self.inputs.shape != self.labels.shape:
            raise ValueError(f"inputs {self.inputs.shape} and labels {self.labels.shape} differ in shape")
        if not 0 <= self.prefix_len < self.seq_len:
            raise ValueError(
                f"prefix_len={self.prefix_len} (context_len={self.context_len} x passes={self.passes}) "
                f"must be in [0, T={self.seq_len}) so that an answer region remains"
            )
        context = self.labels[:, : self.prefix_len]
        # min == max == -100 without allocating a boolean temporary the size of the context
        if context.size and not (context.min() == IGNORE_INDEX == context.max()):
            raise ValueError("labels inside the context (the first prefix_len positions) must be -100")

    @property
    def num_examples(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def seq_len(self) -> int:
        """T, the number of input positions of every example."""
        return int(self.inputs.shape[1])

    @property
    def prefix_len(self) -> int:
        """Context tokens including repeats: ``passes * context_len``."""
        return self.passes * self.context_len
