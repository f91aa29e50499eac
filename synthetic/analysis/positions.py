"""Accuracy and the copies' interaction by where the shared token sits in each set.

A one-pass reader checks the shared token against A when its copy comes up in B. For a causal
linear-attention model the state at that moment holds A and every B token read before it, so where
the copy sits in B can matter in a way it cannot for a model that reads the prompt as a whole.
:func:`position_summary` groups the examples of a :func:`~synthetic.analysis.intervention.copy_intervention`
table (no forward passes of its own) by the part of A and of B that holds the shared token's copy:
``quarters`` equal parts of each set by index (part q holds indices i with i * quarters // size
== q, so a set of 2 tokens fills parts 0 and 2 of 4 and a set of 1 only part 0).

``bench/accuracy_by_position.py`` computes the accuracy part for kept models from their weights
(figure ``sd_checking_by_position``); the run records hold this summary (``mechanism.by_position``,
record version 6) for every analysed model, kept weights or not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthetic.analysis.intervention import summarize_intervention
from synthetic.tasks._checks import check_int

__all__ = ["SETS", "fall_across_second_set", "position_part", "position_summary", "prefix_and_suffix_slopes"]

#: the sets whose copy position groups the examples: A (read first: ``pos_first``), B (``pos_second``)
SETS = {"A": ("pos_first", "size_a"), "B": ("pos_second", "size_b")}


def position_part(index: np.ndarray, size: np.ndarray | int, parts: int) -> np.ndarray:
    """The part (0 .. parts - 1) of a set of ``size`` tokens that holds 0-based ``index``."""
    check_int("parts", parts, 1)
    index, size = np.asarray(index, dtype=np.int64), np.asarray(size, dtype=np.int64)
    index, size = np.broadcast_arrays(index, size)
    bad = (index < 0) | (index >= size)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"index must lie in [0, size); got index {index.flat[i]} for size {size.flat[i]}")
    return (index * parts) // size


def position_summary(table: pd.DataFrame, quarters: int = 4) -> pd.DataFrame:
    """One row per (slice, set, part) with examples: ``slice``, ``size_a``, ``size_b``, ``order``,
    ``set`` ("A" / "B"), ``part`` (0 .. quarters - 1), ``n``, ``accuracy`` and ``accuracy_se``
    (binomial), ``interaction`` and ``interaction_se`` (logits; mean and standard error over the
    part's examples: :func:`~synthetic.analysis.intervention.summarize_intervention`).

    ``table``: the rows of :func:`~synthetic.analysis.intervention.copy_intervention`."""
    missing = [c for c in ("slice", "size_a", "size_b", "order", "pos_first", "pos_second") if c not in table]
    if missing:
        raise ValueError(f"table lacks the columns {missing}; pass the table copy_intervention returns")
    frames = []
    for name, (pos, size) in SETS.items():
        part = position_part(table[pos].to_numpy(), table[size].to_numpy(), quarters)
        grouped = table.assign(set=name, part=part)
        frames.append(summarize_intervention(grouped, ("slice", "size_a", "size_b", "order", "set", "part")))
    keep = ["slice", "size_a", "size_b", "order", "set", "part", "n", "accuracy", "accuracy_se"]
    keep += ["interaction", "interaction_se"]
    return pd.concat(frames, ignore_index=True)[keep]


def short_first_second_set(rows: pd.DataFrame, min_size: int) -> pd.DataFrame:
    """The rows of set B in short-first slices whose B has at least ``min_size`` tokens: where a
    one-pass check against A meets B's tokens one by one."""
    check_int("min_size", min_size, 1)
    return rows[(rows.set == "B") & (rows.size_a < rows.size_b) & (rows.size_b >= min_size)]


def fall_across_second_set(summary: pd.DataFrame, min_size: int = 256) -> pd.DataFrame:
    """Per run (``config_hash``; one run if the column is absent): how much accuracy falls from the
    first part of B to the last, over the short-first slices whose B has at least ``min_size``
    tokens. Columns ``config_hash``, ``slices``, ``fall`` (mean over those slices of accuracy in
    part 0 minus accuracy in the last part), ``fall_se`` (from the parts' binomial standard errors),
    ``slices_falling`` (slices with a positive fall). Runs without such slices have no row.

    ``summary``: rows of :func:`position_summary` (with ``config_hash`` for several runs, as
    :func:`synthetic.results.load_mechanism` gives them)."""
    rows = summary if "config_hash" in summary else summary.assign(config_hash="")
    chosen = short_first_second_set(rows, min_size)
    runs, out = [], []
    for run, part in chosen.groupby("config_hash", sort=True):
        falls, variances = [], []
        for _, one in part.groupby("slice", sort=True):
            first, last = one[one.part == one.part.min()].iloc[0], one[one.part == one.part.max()].iloc[0]
            falls.append(first.accuracy - last.accuracy)
            variances.append(first.accuracy_se**2 + last.accuracy_se**2)
        k = len(falls)
        runs.append(run)
        out.append(
            (
                k,
                float(np.mean(falls)),
                float(np.sqrt(np.sum(variances)) / k),
                int(np.sum(np.array(falls) > 0)),
            )
        )
    table = pd.DataFrame(out, columns=["slices", "fall", "fall_se", "slices_falling"])
    table.insert(0, "config_hash", runs)
    return table


def prefix_and_suffix_slopes(rows: pd.DataFrame, min_size: int = 256) -> pd.DataFrame:
    """Per model: how much accuracy a short-first slice loses per 100 tokens of B read before the
    shared token's copy, and per 100 tokens of B after it.

    A copy at index i of B has i tokens of B before it and |B| - 1 - i after. Within one slice,
    moving the copy later adds tokens before and removes as many after; across two slices with the
    same |A| and different |B|, parts whose mean index is the same have the same tokens before and
    differ only in the tokens after. So, with ``s_after`` the mean over such matched parts of
    (accuracy at the smaller |B| - at the larger) per 100 extra tokens after, and the within-slice
    fall (first part - last part) per 100 tokens of shift, ``s_before`` = fall + ``s_after``
    (exact when accuracy is linear in both counts).

    ``rows``: one per (model ``config_hash``, slice, set, part) with ``size_a``, ``size_b``,
    ``set``, ``accuracy`` and the part in ``part`` or ``quarter`` (the CSV of
    ``bench/accuracy_by_position.py``, any number of parts; sets whose size the parts divide).
    Only short-first slices with |B| >= ``min_size`` count. Columns of the result: ``config_hash``,
    ``slices``, ``matched`` (matched part pairs), ``fall_per_100``, ``s_after``, ``s_before``
    (accuracy per 100 tokens; ``s_after`` and ``s_before`` NaN without matched parts)."""
    column = "part" if "part" in rows.columns else "quarter"
    b = short_first_second_set(rows, min_size).copy()
    parts = b.groupby("config_hash")[column].transform("max") + 1
    uneven = b.size_b % parts != 0
    if uneven.any():
        first = b[uneven].iloc[0]
        raise ValueError(f"|B| = {first.size_b} is not divided evenly into {parts[uneven].iloc[0]} parts")
    width = b.size_b // parts
    b["mid_index"] = b[column] * width + (width - 1) / 2  # mean tokens of B before the copy
    out = []
    for run, one in b.groupby("config_hash", sort=True):
        falls = []
        for _, sl in one.groupby("slice"):
            first, last = sl.loc[sl[column].idxmin()], sl.loc[sl[column].idxmax()]
            falls.append(100 * (first.accuracy - last.accuracy) / (last.mid_index - first.mid_index))
        after = []
        for _, same in one.groupby(["size_a", "mid_index"]):
            same = same.sort_values("size_b")
            for (_, lo), (_, hi) in zip(same.iloc[:-1].iterrows(), same.iloc[1:].iterrows(), strict=True):
                after.append(100 * (lo.accuracy - hi.accuracy) / (hi.size_b - lo.size_b))
        fall = float(np.mean(falls))
        s_after = float(np.mean(after)) if after else float("nan")
        out.append((run, len(falls), len(after), fall, s_after, fall + s_after))
    return pd.DataFrame(
        out, columns=["config_hash", "slices", "matched", "fall_per_100", "s_after", "s_before"]
    )
