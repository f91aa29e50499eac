"""Which side of the separator holds the distractor: a data intervention on SD with a distractor
(task ``sd_distractor``) that tells a membership check from a weighted vote.

In ``sd_distractor`` the distractor (a token written twice, never in the other set) sits in the
set read second. :func:`swap_sets` rewrites every pass ``1 A 2 B`` as ``1 B 2 A``: the same tokens
and label, the sets' order exchanged, so the distractor's copies are now read *first* and the
example's order flips (short-first becomes long-first). What each mechanism predicts for the
swapped examples:

* a **membership check** (store the set read first, answer the token of the second set found in
  it; :class:`~synthetic.analysis.mechanisms.StoreFirstModel`) is right on every example on both
  sides: only the shared token is in both sets;
* **counting** (:class:`~synthetic.analysis.mechanisms.CountingModel`) ties the shared token and
  the distractor on both sides;
* a **vote weighted by set** (each copy adds a weight that depends on the set it is in, e.g.
  ``1 / |set|``: a copy in a short set weighs more) answers by comparing the weights: the shared
  token scores ``w(A) + w(B)``, the distractor ``2 w(the set it is in)``. Moving the distractor
  to the other set moves which orders it wins: with ``w = 1 / |set|`` the original examples are
  right when short-first and the swapped ones when long-first (the order effect changes sign);
  with primacy (the first set weighs more) the original examples are right and the swapped ones
  wrong in both orders.

:func:`distractor_side` runs a model on both versions of every test segment; per segment and
side: accuracy (with its binomial standard error) and how often the model answers the distractor.
A trained model that checks membership keeps its accuracy on the swapped side; one that votes by
set follows one of the vote's patterns. The swapped examples are outside the training
distribution (the training data never repeats a token in the first set), so read a drop of
accuracy together with where the answers go (``distractor_rate``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from torch import nn

from synthetic.analysis.matched import binomial_se
from synthetic.analysis.readout import final_logits
from synthetic.analysis.sd_layout import SharedCopies, order_of, segments_of, shared_copies
from synthetic.tasks.data import Segment, SplitData
from synthetic.tasks.tokens import SEP, START

__all__ = ["SIDES", "distractor_side", "distractor_tokens", "swap_sets"]

#: where the distractor is read: "second" (the task as generated) or "first" (after swap_sets)
SIDES: tuple[str, ...] = ("second", "first")


def swap_sets(copies: SharedCopies) -> np.ndarray:
    """``1 A 2 B`` -> ``1 B 2 A`` in every pass (JR-p passes alike; the answer column stays last):
    inputs int64 ``[n_ex, T]``, a new array. The swapped examples have |A| and |B| exchanged and
    the same label; the prefix length (the context) is unchanged."""
    a, b, c = copies.size_a, copies.size_b, copies.context_len
    out = np.array(copies.inputs, dtype=np.int64, copy=True)
    for p in range(copies.passes):
        start = p * c
        set_a = copies.inputs[:, start + 1 : start + 1 + a]
        set_b = copies.inputs[:, start + a + 2 : start + a + 2 + b]
        out[:, start] = START
        out[:, start + 1 : start + 1 + b] = set_b
        out[:, start + 1 + b] = SEP
        out[:, start + b + 2 : start + b + 2 + a] = set_a
    return out


def distractor_tokens(copies: SharedCopies) -> np.ndarray:
    """The distractor of every example: the token written more than once in the set read second,
    int64 ``[n_ex]``. Raises ValueError (naming the segment and an example) where the second set
    repeats no token or more than one (not an ``sd_distractor`` segment)."""
    a, b = copies.size_a, copies.size_b
    second = np.sort(copies.inputs[:, a + 2 : a + 2 + b], axis=1)
    repeated = second[:, 1:] == second[:, :-1]  # [n_ex, b-1]: equal neighbours after sorting
    tokens = np.where(repeated, second[:, 1:], -1)
    distinct = np.array([len(set(row[row >= 0].tolist())) for row in tokens], dtype=np.int64)
    bad = np.flatnonzero(distinct != 1)
    if bad.size:
        row = int(bad[0])
        raise ValueError(
            f"segment {copies.name!r}: example {row}'s second set repeats {int(distinct[row])} distinct "
            "tokens; a distractor segment (task 'sd_distractor') repeats exactly one"
        )
    return tokens.max(axis=1).astype(np.int64)


def _rows(model: nn.Module, copies: SharedCopies, batch_size: int) -> list[dict[str, object]]:
    distractor = distractor_tokens(copies)
    versions = {"second": np.asarray(copies.inputs), "first": swap_sets(copies)}
    rows: list[dict[str, object]] = []
    for side in SIDES:
        sizes = (copies.size_a, copies.size_b) if side == "second" else (copies.size_b, copies.size_a)
        answer = final_logits(model, versions[side], copies.prefix_len, batch_size=batch_size).argmax(axis=1)
        n = int(answer.shape[0])
        accuracy = float(np.mean(answer == copies.shared))
        rows.append(
            {
                "segment": copies.name,
                "side": side,
                "size_first": sizes[0],
                "size_second": sizes[1],
                "order": order_of(*sizes),
                "passes": copies.passes,
                "n": n,
                "accuracy": accuracy,
                "accuracy_se": binomial_se(accuracy, n),
                "distractor_rate": float(np.mean(answer == distractor)),
            }
        )
    return rows


def distractor_side(
    model: nn.Module, data: SplitData | Segment | list[Segment], *, batch_size: int = 256
) -> pd.DataFrame:
    """Accuracy with the distractor read second (as generated) and first (:func:`swap_sets`), per
    test segment: one row per (segment, side) with ``size_first`` / ``size_second`` and ``order``
    of the examples as read, ``n``, ``accuracy`` and ``accuracy_se`` (binomial), and
    ``distractor_rate`` (answers that are the distractor). ``model`` maps input_ids [B, T] (and
    prefix_len [B]) to logits [B, T, V]; it is read, not changed. ``data``: segments of task
    ``sd_distractor``."""
    rows = [row for seg in segments_of(data) for row in _rows(model, shared_copies(seg), batch_size)]
    return pd.DataFrame(rows)
