"""Per-slice accuracy over labelled positions (what evaluation reports for every segment)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from synthetic.tasks.tokens import IGNORE_INDEX

__all__ = ["SliceAccuracy"]


def _as_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor, without importing torch here
        x = x.detach().cpu().numpy()
    return np.asarray(x)


class SliceAccuracy:
    """Accumulates correct / total over labelled positions, per slice.

    ``update(slice, predictions, labels)`` takes predicted token ids and labels, both ``[B, T]``
    (numpy arrays or torch tensors); positions whose label is -100 are ignored.

    * :meth:`token_accuracy` — correct labelled positions / labelled positions, per slice.
    * :meth:`example_accuracy` — examples with every labelled position correct / examples.

    For SD (one label per example) the two coincide.
    """

    def __init__(self) -> None:
        self._tokens: dict[str, list[int]] = {}
        self._examples: dict[str, list[int]] = {}

    def update(self, slice: str, predictions: Any, labels: Any) -> None:
        pred = _as_numpy(predictions)
        lab = _as_numpy(labels)
        if pred.shape != lab.shape or pred.ndim != 2:
            raise ValueError(f"predictions {pred.shape} and labels {lab.shape} must both be [B, T]")
        mask = lab != IGNORE_INDEX
        hit = (pred == lab) & mask
        tok = self._tokens.setdefault(slice, [0, 0])
        tok[0] += int(hit.sum())
        tok[1] += int(mask.sum())
        has_label = mask.any(axis=1)
        ok = (hit.sum(axis=1) == mask.sum(axis=1)) & has_label
        ex = self._examples.setdefault(slice, [0, 0])
        ex[0] += int(ok.sum())
        ex[1] += int(has_label.sum())

    @staticmethod
    def _ratio(counts: Mapping[str, list[int]]) -> dict[str, float]:
        return {k: (c / t if t else float("nan")) for k, (c, t) in counts.items()}

    def token_accuracy(self) -> dict[str, float]:
        return self._ratio(self._tokens)

    def example_accuracy(self) -> dict[str, float]:
        return self._ratio(self._examples)

    def counts(self) -> dict[str, tuple[int, int]]:
        """Per slice: (correct labelled positions, labelled positions)."""
        return {k: (c, t) for k, (c, t) in self._tokens.items()}

    def overall_token_accuracy(self) -> float:
        """Correct / total labelled positions over all slices (NaN if none)."""
        c = sum(v[0] for v in self._tokens.values())
        t = sum(v[1] for v in self._tokens.values())
        return c / t if t else float("nan")
