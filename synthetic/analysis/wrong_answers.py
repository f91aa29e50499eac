"""Where an SD model's answers go: the shared token, a token of B read before its copy, one read
after it, a token of A alone, or a token in neither set.

A one-pass reader that checks each B token against its memory of A answers the shared token when
the check is exact. When the memory is noisy (a long first set in a fixed state), the check can
also fire for a B token that is not in A: a model that answers the first B token that fires then
answers a B token *before* the copy, and one that answers the last, a token after it. Answers
outside B say the model did not answer from the check at all (a token of A alone, or one in
neither set). :func:`answer_kinds` names each answer; :func:`answer_kind_table` runs a model over
the one-pass SD segments of a split and counts the kinds by the part of B that holds the copy.

:func:`false_match_table` tests the first-false-match reading directly. Where a model answered a
B token x read before the copy, x is replaced by a token in neither set (:func:`with_b_token_replaced`)
and the model answers again: if x won as a false match, the answer moves, often to the copy. The
control replaces, in the same examples, another B token read before the copy instead of x. On
the paper-scale checking profile the answers mostly stay with x's place instead
(docs/results/paper-scale.md, "Where the wrong answers go").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import numpy as np
import pandas as pd
from torch import nn

from synthetic.analysis.first_set_read import first_examples
from synthetic.analysis.positions import position_part
from synthetic.analysis.readout import final_logits
from synthetic.analysis.sd_layout import SharedCopies, absent_tokens, segments_of, shared_copies
from synthetic.tasks._checks import check_int
from synthetic.tasks.data import Segment, SplitData
from synthetic.tasks.tokens import NUM_SPECIAL

__all__ = [
    "ANSWER_KINDS",
    "FALSE_MATCH_COLUMNS",
    "answer_kind_table",
    "answer_kinds",
    "false_match_table",
    "with_b_token_replaced",
]

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
    set_a, set_b = copies.first_set(), copies.second_set()
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


#: the columns of :func:`false_match_table`
FALSE_MATCH_COLUMNS = ["slice", "size_a", "size_b", "examples", "n", "right_x_gone", "b_before_x_gone",
                       "replacing_x_gone", "n_control", "right_other_gone", "b_before_other_gone",
                       "replacing_other_gone"]  # fmt: skip


def with_b_token_replaced(
    copies: SharedCopies, index: np.ndarray, vocab_size: int, rng: np.random.Generator
) -> np.ndarray:
    """int64 ``[n_ex, T]``: ``copies.inputs`` with the B token at ``index[e]`` of each example
    replaced by a set token (``NUM_SPECIAL`` .. ``vocab_size`` - 1) in neither of its sets, drawn
    with ``rng`` (:func:`~synthetic.analysis.sd_layout.absent_tokens`). One-pass segments;
    ``index`` must not point at the shared token's copy.

    Raises ValueError for an index outside B, one at the copy, or a vocabulary with no free token."""
    if copies.passes != 1:
        raise ValueError(
            f"copies.passes={copies.passes}: the replacement is defined for one-pass prompts only"
        )
    index = np.asarray(index)
    if index.shape != (copies.num_examples,) or (index < 0).any() or (index >= copies.size_b).any():
        raise ValueError(
            f"index must be [n_ex] = [{copies.num_examples}] indices in B, 0 .. {copies.size_b - 1}"
        )
    if (index == copies.second_index).any():
        raise ValueError("index points at the shared token's copy in some example; replace another B token")
    a, b = copies.size_a, copies.size_b
    free_count = vocab_size - NUM_SPECIAL - (a + b - 1)
    if free_count < 1:
        raise ValueError(
            f"vocab_size={vocab_size}: no set token is in neither set (|A| + |B| - 1 = {a + b - 1})"
        )
    out = copies.inputs.copy()
    fresh = absent_tokens(copies.inputs, vocab_size, 1, rng)[:, 0]
    out[np.arange(copies.num_examples), a + 2 + index] = fresh
    return out


def false_match_table(
    model: nn.Module,
    data: SplitData | Segment | Iterable[Segment],
    vocab_size: int,
    *,
    slices: Iterable[tuple[int, int]] | None = None,
    max_examples: int | None = None,
    seed: int = 0,
    batch_size: int = 256,
) -> pd.DataFrame:
    """Per one-pass SD segment of ``data`` (only the (|A|, |B|) pairs in ``slices`` when given): of
    the examples (the first ``max_examples``) whose
    answer is a B token x read before the copy, ``n``; the share answered right, and the share
    still answered with a B token before the copy, after x is replaced by a token in neither set
    (``right_x_gone``, ``b_before_x_gone``), and the share answered with the replacing token
    itself (``replacing_x_gone``: the same place, a token in neither set; counted among the B
    tokens before the copy too); and, for those of them with another B token before the copy
    (``n_control``), the same three shares after that token is replaced instead (the one nearest
    x: ``right_other_gone``, ``b_before_other_gone``, ``replacing_other_gone``). Segments with no
    such example give a row with ``n`` 0 and NaN shares."""
    if max_examples is not None:
        check_int("max_examples", max_examples, 1)
    check_int("batch_size", batch_size, 1)
    rng = np.random.default_rng(seed)
    wanted = None if slices is None else {tuple(pair) for pair in slices}
    rows = []
    for segment in segments_of(data):
        copies = shared_copies(segment)
        if copies.passes != 1 or (wanted is not None and (copies.size_a, copies.size_b) not in wanted):
            continue
        if max_examples is not None:
            copies = first_examples(copies, max_examples)
        answers = final_logits(model, copies.inputs, copies.prefix_len, batch_size=batch_size).argmax(1)
        chosen = np.flatnonzero(answer_kinds(copies, answers) == 1)
        row: list[float] = [len(chosen), np.nan, np.nan, np.nan, 0, np.nan, np.nan, np.nan]
        if len(chosen):
            sub = copies.take(chosen)
            x_at = (sub.second_set() == answers[chosen][:, None]).argmax(axis=1)
            row[1:4] = _shares(
                model, sub, x_at, with_b_token_replaced(sub, x_at, vocab_size, rng), batch_size
            )
            # the control: the B token next to x (on the copy's side when x is B's first)
            other = np.where(x_at > 0, x_at - 1, x_at + 1)
            has_other = other < sub.second_index
            if has_other.any():
                ctl = sub.take(np.flatnonzero(has_other))
                replaced = with_b_token_replaced(ctl, other[has_other], vocab_size, rng)
                row[4] = int(has_other.sum())
                row[5:8] = _shares(model, ctl, other[has_other], replaced, batch_size)
        rows.append((copies.name, copies.size_a, copies.size_b, copies.num_examples, *row))
    return pd.DataFrame(rows, columns=FALSE_MATCH_COLUMNS)


def _shares(
    model: nn.Module, copies: SharedCopies, at: np.ndarray, inputs: np.ndarray, batch_size: int
) -> tuple[float, float, float]:
    """(share right, share answered with a B token before the copy, share answered with the
    replacing token at B index ``at``) of the model's answers to ``inputs`` (``copies`` with the
    token at ``at`` replaced; the copy itself unchanged)."""
    answers = final_logits(model, inputs, copies.prefix_len, batch_size=batch_size).argmax(1)
    kinds = answer_kinds(replace(copies, inputs=inputs), answers)
    replacing = inputs[np.arange(len(at)), copies.size_a + 2 + at]
    return float((kinds == 0).mean()), float((kinds == 1).mean()), float((answers == replacing).mean())
