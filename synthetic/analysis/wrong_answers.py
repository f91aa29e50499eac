"""Where an SD model's answers go: the shared token, a token of B read before its copy, one read
after it, a token of A alone, or a token in neither set.

A one-pass reader that checks each B token against its memory of A answers the shared token when
the check is exact. When the memory is noisy (a long first set in a fixed state), the check can
also fire for a B token that is not in A: a model that answers the first B token that fires then
answers a B token *before* the copy, and one that answers the last, a token after it. Answers
outside B say the model did not answer from the check at all (a token of A alone, or one in
neither set). :func:`answer_kinds` names each answer; :func:`answer_kind_table` runs a model over
the one-pass SD segments of a split and counts the kinds by the part of B that holds the copy.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from torch import nn

from synthetic.analysis.first_set_read import first_examples
from synthetic.analysis.positions import position_part
from synthetic.analysis.readout import final_logits
from synthetic.analysis.sd_layout import SharedCopies, segments_of, shared_copies
from synthetic.tasks._checks import check_int
from synthetic.tasks.data import Segment, SplitData

__all__ = ["ANSWER_KINDS", "answer_kind_table", "answer_kinds"]

#: what an answer can be, in the order :func:`answer_kinds` numbers them
ANSWER_KINDS = ("right", "B before the copy", "B after the copy", "A alone", "neither set")


def answer_kinds(copies: SharedCopies, answers: np.ndarray) -> np.ndarray:
    """int64 ``[n_ex]``: each answer's index in :data:`ANSWER_KINDS` (one-pass segments; the
    sets are unique tokens, so a B token other than the shared one is in B alone).

    Raises ValueError for a segment of more than one pass or answers of another length."""
    if copies.passes != 1:
        raise ValueError(f"copies.passes={copies.passes}: the kinds are defined for one-pass prompts only")
    answers = np.asarray(answers)
    if answers.shape != (copies.num_examples,):
        raise ValueError(f"answers has shape {answers.shape}; expected ({copies.num_examples},)")
    a, b = copies.size_a, copies.size_b
    set_a = copies.inputs[:, 1 : 1 + a]  # START, A, SEP, B, ..., ANSWER
    set_b = copies.inputs[:, a + 2 : a + 2 + b]
    in_b = set_b == answers[:, None]
    index_in_b = np.where(in_b.any(axis=1), in_b.argmax(axis=1), -1)
    kinds = np.full(copies.num_examples, 4, dtype=np.int64)
    kinds[(set_a == answers[:, None]).any(axis=1)] = 3
    kinds[(index_in_b >= 0) & (index_in_b > copies.second_index)] = 2
    kinds[(index_in_b >= 0) & (index_in_b < copies.second_index)] = 1
    kinds[answers == copies.shared] = 0
    return kinds


def answer_kind_table(
    model: nn.Module,
    data: SplitData | Segment | Iterable[Segment],
    *,
    max_examples: int | None = None,
    parts: int = 4,
    batch_size: int = 256,
) -> pd.DataFrame:
    """One row per one-pass SD segment of ``data`` and part of B that holds the shared token's copy
    (``parts`` equal parts by index, :func:`~synthetic.analysis.positions.position_part`): ``slice``,
    ``size_a``, ``size_b``, ``part``, ``first_index`` (the smallest index in B of a copy in the
    part), ``n`` (examples) and one column per :data:`ANSWER_KINDS` with the fraction of the
    part's answers of that kind. The answers are the argmax of the model's logits at the answer
    column, on the first ``max_examples`` examples of each segment (all when None)."""
    if max_examples is not None:
        check_int("max_examples", max_examples, 1)
    check_int("parts", parts, 1)
    check_int("batch_size", batch_size, 1)
    rows = []
    for segment in segments_of(data):
        copies = shared_copies(segment)
        if copies.passes != 1:
            continue
        if max_examples is not None:
            copies = first_examples(copies, max_examples)
        answers = final_logits(model, copies.inputs, copies.prefix_len, batch_size=batch_size).argmax(1)
        head = copies.second_index
        kinds = answer_kinds(copies, answers)
        part = position_part(head, copies.size_b, parts)
        for q in np.unique(part):
            chosen = part == q
            counts = np.bincount(kinds[chosen], minlength=len(ANSWER_KINDS)) / chosen.sum()
            rows.append((copies.name, copies.size_a, copies.size_b, int(q), int(head[chosen].min()),
                         int(chosen.sum()), *counts.tolist()))  # fmt: skip
    columns = ["slice", "size_a", "size_b", "part", "first_index", "n", *ANSWER_KINDS]
    return pd.DataFrame(rows, columns=columns)
