"""The order effect with the shared token's copies *placed* where both orders can have them: the
interventional version of :func:`~synthetic.analysis.matched.matched_order_effect`.

A set is unordered, so moving the shared token to another index of its set (exchanging it with
the token there, in every JR-p pass) keeps the example's answer. :func:`place_copies` does that
for every example. :func:`placed_order_effect` takes each mirror pair of test slices, (a, b) read
short-first and (b, a) read long-first (a < b; both have a + b + 3 columns), and moves the copies of
the i-th example of *both* slices to the same drawn place:

* ``matching="column"``: the first copy at index u of A (column 1 + u, u uniform in [0, a)) and
  the second at column b + 2 + v (v uniform in [0, a)): index b - a + v of B in the short-first
  slice, index v in the long-first one. Both copies then sit at the same absolute columns in the
  two orders;
* ``matching="index"``: the first copy at index u of A and the second at index v of B in both
  orders (u, v uniform in [0, a)): the same places relative to the start and the separator.

Every example of both orders is then in a shared cell, with the same cells example by example, so
a model whose answer depends on where the copies sit (and on nothing else that differs between
the orders) has exactly no placed order effect (a position-weighted
:class:`~synthetic.analysis.mechanisms.CountingModel` under ``"column"``, tested), while a memory
of the first set keeps its effect under both placements (a bounded store-first model, tested).
Unlike the matched cells, which select the examples that fall there (about a quarter of them at
(4, 16)), placing uses every example. Units: accuracy (fraction of examples answered).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from torch import nn

from synthetic.analysis.matched import MATCHINGS, binomial_se
from synthetic.analysis.readout import final_logits
from synthetic.analysis.sd_layout import SharedCopies, segments_of, shared_copies
from synthetic.tasks.data import Segment, SplitData

__all__ = ["place_copies", "placed_order_effect"]


def place_copies(copies: SharedCopies, first_index: np.ndarray, second_index: np.ndarray) -> np.ndarray:
    """The examples with the shared token's first copy moved to index ``first_index[i]`` of A and
    its second to ``second_index[i]`` of B (int ``[n_ex]`` each; the token that was there takes
    the copy's old place), in every pass: inputs int64 ``[n_ex, T]``, a new array. Raises
    ValueError naming the argument when an index is outside its set."""
    n = copies.inputs.shape[0]
    for name, index, size in (
        ("first_index", first_index, copies.size_a),
        ("second_index", second_index, copies.size_b),
    ):
        if index.shape != (n,) or (n and (index.min() < 0 or index.max() >= size)):
            raise ValueError(f"{name} must be {n} indices in [0, {size}); got shape {index.shape}")
    out = np.array(copies.inputs, dtype=np.int64, copy=True)
    rows = np.arange(n)
    a, c = copies.size_a, copies.context_len
    for p in range(copies.passes):
        for offset, old, new in (
            (p * c + 1, copies.first_index, first_index),
            (p * c + a + 2, copies.second_index, second_index),
        ):
            moved = out[rows, offset + new]
            out[rows, offset + old] = moved
            out[rows, offset + new] = copies.shared
    return out


def _accuracy(model: nn.Module, copies: SharedCopies, inputs: np.ndarray, batch_size: int) -> float:
    answer = final_logits(model, inputs, copies.prefix_len, batch_size=batch_size).argmax(1)
    return float(np.mean(answer == copies.shared))


def _generated_accuracy(
    model: nn.Module, copies: SharedCopies, correct: Mapping[str, np.ndarray] | None, batch_size: int
) -> float:
    """Accuracy on the examples as generated: from ``correct[copies.name]`` (bool per example of
    the whole slice, the model's answers as :func:`~synthetic.analysis.intervention.copy_intervention`
    has them) when given, else by running the model."""
    if correct is None:
        return _accuracy(model, copies, np.asarray(copies.inputs), batch_size)
    known = correct.get(copies.name)
    n = copies.inputs.shape[0]
    if known is None or known.ndim != 1 or known.shape[0] < n:
        got = None if known is None else known.shape
        raise ValueError(f"correct[{copies.name!r}] must hold at least {n} answers (bool [n_ex]); got {got}")
    return float(np.mean(known[:n]))


def placed_order_effect(
    model: nn.Module,
    data: SplitData | Segment | list[Segment],
    matching: str | Sequence[str] = "column",
    *,
    seed: int = 0,
    batch_size: int = 256,
    correct: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """One row per mirror pair of slices in ``data`` (SD or SD-with-distractor segments) and
    matching: ``short``,
    ``long`` (a < b), ``passes``, ``matching``, ``n`` (examples per order: the smaller slice's),
    ``accuracy_short``, ``accuracy_long`` and ``difference`` as generated, and ``placed_short``,
    ``placed_long``, ``placed_difference`` with the copies placed (see the module docstring), each
    difference with its binomial standard error (``*_se``). ``seed`` draws the places.

    ``matching``: one of :data:`MATCHINGS` or several (rows pair by pair, matchings in the given
    order). The places are drawn per pair whatever the matching, so several matchings in one call
    give the rows of one call each, and the long-first placed examples (the same under both
    matchings) run once. ``correct``: per slice name, whether the model answers each example as
    generated right (bool ``[n_ex]``, e.g. from the copy intervention's table); the accuracies as
    generated are then read from it instead of running the model again."""
    matchings = [matching] if isinstance(matching, str) else list(matching)
    bad = [m for m in matchings if m not in MATCHINGS]
    if bad or not matchings:
        raise ValueError(f"matching={matching!r}; allowed: {', '.join(MATCHINGS)} (one or several)")
    layouts = [shared_copies(s) for s in segments_of(data)]
    by_key = {(c.size_a, c.size_b, c.passes): c for c in layouts}
    rng = np.random.default_rng(seed)
    rows = []
    for (a, b, passes), short in sorted(by_key.items()):
        long = by_key.get((b, a, passes))
        if a >= b or long is None:
            continue
        n = min(short.inputs.shape[0], long.inputs.shape[0])
        u, v = rng.integers(0, a, size=n), rng.integers(0, a, size=n)
        s_cut, l_cut = _cut(short, n), _cut(long, n)
        acc_s = _generated_accuracy(model, s_cut, correct, batch_size)
        acc_l = _generated_accuracy(model, l_cut, correct, batch_size)
        placed_l = _accuracy(model, l_cut, place_copies(l_cut, u, v), batch_size)
        for m in matchings:
            second_short = b - a + v if m == "column" else v
            placed_s = _accuracy(model, s_cut, place_copies(s_cut, u, second_short), batch_size)
            se, placed_se = (
                float(np.hypot(binomial_se(x, n), binomial_se(y, n)))
                for x, y in ((acc_s, acc_l), (placed_s, placed_l))
            )
            rows.append(
                {
                    "short": a, "long": b, "passes": passes, "matching": m, "n": n,
                    "accuracy_short": acc_s, "accuracy_long": acc_l, "difference": acc_s - acc_l,
                    "difference_se": se, "placed_short": placed_s, "placed_long": placed_l,
                    "placed_difference": placed_s - placed_l, "placed_difference_se": placed_se,
                }
            )  # fmt: skip
    if not rows:
        raise ValueError("data has no mirror pair of slices ((a, b) with a < b and (b, a), same passes)")
    return pd.DataFrame(rows)


def _cut(copies: SharedCopies, n: int) -> SharedCopies:
    """The first ``n`` examples of a segment's layout."""
    return SharedCopies(
        name=copies.name,
        inputs=copies.inputs[:n],
        prefix_len=copies.prefix_len[:n],
        size_a=copies.size_a,
        size_b=copies.size_b,
        passes=copies.passes,
        context_len=copies.context_len,
        shared=copies.shared[:n],
        first_index=copies.first_index[:n],
        second_index=copies.second_index[:n],
    )
