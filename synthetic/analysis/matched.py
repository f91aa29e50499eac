"""The order effect at matched copy positions: position weighting or memory?

A trained model can be better with the short set first for two reasons. *Memory* (the theory's
mechanism): a one-pass model holds the first set in a state of fixed size, so a longer first set
is held less faithfully wherever its tokens sit. *Position weighting*: the model weighs evidence
by where it sits (primacy, recency), and the two orders put the shared token's copies at
different places (with |A| = 4 the first copy is among the first 5 tokens; with |A| = 16 it can be
anywhere in the first 17).

The two can be told apart without retraining. In a mirror pair of test slices, (a, b) read
short-first and (b, a) read long-first (a < b), both sequences have a + b + 3 tokens and the
copies' absolute columns overlap: the first copy sits at column 1 + i, the second at column
|A| + 2 + j (i, j: indices in their sets). Both orders have the first copy in columns 1..a and the
second in columns b + 2..a + b + 1 (in the short-first slice: the second copy among the last a
tokens of B; in the long-first one: the first copy among the first a tokens of A).
:func:`matched_order_effect` compares the two orders within those shared cells (first
column, second column), where every position effect is the same in both orders:

* position weighting predicts a matched difference of 0 (a position-weighted counter gives
  exactly 0: :class:`~synthetic.analysis.mechanisms.CountingModel` with decaying weights);
* memory predicts a matched difference about as large as the whole one (a store-first model with
  a bounded random kernel: :meth:`~synthetic.analysis.mechanisms.StoreFirstModel.bounded`).

Matching columns leaves one position unmatched: where the copies sit relative to the separator
and within their sets (the short-first slice's second copy is among the last a tokens of B, the
long-first one's anywhere in its B of a tokens). ``matching="index"`` matches the copies' indices
in their sets instead (both first copies among the first a of A, both second among the first a
of B), which equalises every set-relative position effect and leaves the absolute columns
unmatched. An effect that survives both matchings is neither kind of position weighting alone.

Within a cell the examples of the two orders are different draws; the cell's difference is
weighted by n_s n_l / (n_s + n_l) (the inverse of its binomial variance up to the accuracy
term), and the standard error uses each order's pooled matched accuracy. Units: accuracy
(fraction of examples answered).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["MATCHINGS", "binomial_se", "has_mirror_pairs", "matched_order_effect"]

_NEEDED = ("slice", "size_a", "size_b", "order", "passes", "pos_first", "pos_second", "correct")


#: what a cell matches: the copies' absolute columns, or their indices in their sets
MATCHINGS: tuple[str, ...] = ("column", "index")


def _cells(group: pd.DataFrame, matching: str) -> pd.DataFrame:
    """Per (first copy's, second copy's) column of the first pass, or index in its set:
    examples and accuracy."""
    if matching == "column":
        first, second = 1 + group.pos_first, group.size_a + 2 + group.pos_second
    else:
        first, second = group.pos_first, group.pos_second
    cells = group.assign(cell_first=first, cell_second=second).groupby(["cell_first", "cell_second"])
    return pd.DataFrame({"n": cells.size(), "accuracy": cells.correct.mean()})


def binomial_se(p: float, n: int) -> float:
    """The standard error of an accuracy ``p`` measured on ``n`` examples (NaN when n = 0)."""
    return float(np.sqrt(p * (1.0 - p) / n)) if n else float("nan")


def _mirror(table: pd.DataFrame, a: int, b: int, passes: int) -> pd.DataFrame:
    """The examples of slice (b, a) read with ``passes`` passes."""
    return table[(table.size_a == b) & (table.size_b == a) & (table.passes == passes)]


def has_mirror_pairs(table: pd.DataFrame) -> bool:
    """Whether ``table`` holds a short-first slice (a, b) and its mirror (b, a) with the same passes."""
    short = table[table.order == "short-first"]
    keys = short[["size_a", "size_b", "passes"]].drop_duplicates().itertuples(index=False)
    return any(not _mirror(table, int(a), int(b), int(p)).empty for a, b, p in keys)


def matched_order_effect(table: pd.DataFrame, matching: str = "column") -> pd.DataFrame:
    """One row per mirror pair of slices in ``table`` (the table of
    :func:`~synthetic.analysis.intervention.copy_intervention`; pairs (a, b) and (b, a), a < b,
    with the same passes).

    Columns: ``short``, ``long`` (the set sizes a < b), ``passes``; ``n_short``, ``n_long``,
    ``difference`` (short-first minus long-first accuracy over all examples) and
    ``difference_se`` (binomial); ``cells`` (copy-position cells present in both orders),
    ``matched_n_short``, ``matched_n_long``, ``matched_difference`` and ``matched_difference_se``
    (the same within the shared cells, see the module docstring; NaN when no cell is shared).
    ``matching="index"`` matches the copies' indices in their sets instead of their columns.
    """
    if matching not in MATCHINGS:
        raise ValueError(f"matching={matching!r}; allowed: {', '.join(MATCHINGS)}")
    missing = [c for c in _NEEDED if c not in table.columns]
    if missing:
        raise ValueError(f"table lacks column(s) {missing}; give copy_intervention's table")
    rows = []
    short = table[table.order == "short-first"]
    for (a, b, passes), s in short.groupby(["size_a", "size_b", "passes"]):
        mirror = _mirror(table, a, b, passes)
        if mirror.empty:
            continue
        p_s, p_l = float(s.correct.mean()), float(mirror.correct.mean())
        cs, cl = _cells(s, matching), _cells(mirror, matching)
        shared = cs.merge(cl, left_index=True, right_index=True, suffixes=("_s", "_l"))
        row = {
            "short": int(a), "long": int(b), "passes": int(passes),
            "n_short": len(s), "n_long": len(mirror),
            "difference": p_s - p_l,
            "difference_se": float(np.hypot(binomial_se(p_s, len(s)), binomial_se(p_l, len(mirror)))),
            "cells": len(shared),
        }  # fmt: skip
        if shared.empty:
            row.update(
                matched_n_short=0, matched_n_long=0, matched_difference=np.nan, matched_difference_se=np.nan
            )
        else:
            n_s, n_l = shared.n_s.to_numpy(float), shared.n_l.to_numpy(float)
            w = n_s * n_l / (n_s + n_l)
            diff = float((w * (shared.accuracy_s - shared.accuracy_l)).sum() / w.sum())
            q_s = float((shared.accuracy_s * n_s).sum() / n_s.sum())
            q_l = float((shared.accuracy_l * n_l).sum() / n_l.sum())
            var = (w**2 * (q_s * (1 - q_s) / n_s + q_l * (1 - q_l) / n_l)).sum()
            row.update(
                matched_n_short=int(n_s.sum()), matched_n_long=int(n_l.sum()),
                matched_difference=diff, matched_difference_se=float(np.sqrt(var) / w.sum()),
            )  # fmt: skip
        rows.append(row)
    if not rows:
        raise ValueError("table has no mirror pair of slices ((a, b) with a < b and (b, a), same passes)")
    return pd.DataFrame(rows)
