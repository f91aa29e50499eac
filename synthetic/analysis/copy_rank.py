"""How the shared token ranks among the example's other set tokens at the answer column.

Accuracy asks whether the shared token's logit beats every other token's. Across a mirror pair,
(|A|, |B|) = (16, 512) read short-first against (512, 16) read long-first, that compares unlike
contests: the tokens that draw a model's wrong answers differ between the orders (long first, a
causal model answers early B tokens and a non-causal one tokens of A alone;
docs/results/paper-scale.md, "Where the wrong answers go"), and how many of them there are differs
with them. A rank measure with the same competitors in both orders separates how well the model
tells the shared token apart from how many tokens it must beat:

    auc_sets   the share of the example's other set tokens (A and B without the shared token:
               |A| + |B| - 2 of them, the same number in both orders of a mirror pair) whose logit
               is below the shared token's, ties counted half
    auc_b      the same among B's other tokens alone (|B| - 1 of them: 511 short-first and 15
               long-first at the pair above, so not matched across a mirror pair)

Both are 0.5 for a model that cannot tell the shared token from the others and 1 for one that
ranks it above all of them. :func:`copy_rank_table` reads them per SD segment, from the
model as trained (any JR-p) or with the copy in B read against the state after the first set alone
(:func:`~synthetic.analysis.first_set_read.logits_with_first_set_read`, causal models only);
:func:`~synthetic.analysis.first_set_read.mirror_pair_gaps` takes the short-first minus long-first
gap of any of its columns.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from torch import nn

from synthetic.analysis.first_set_read import first_examples, logits_with_first_set_read
from synthetic.analysis.intervention import mean_and_se
from synthetic.analysis.matched import binomial_se
from synthetic.analysis.readout import final_logits
from synthetic.analysis.sd_layout import segments_of, shared_copies
from synthetic.model import LanguageModel
from synthetic.tasks._checks import check_int
from synthetic.tasks.data import Segment, SplitData

__all__ = ["COPY_RANK_COLUMNS", "READS", "copy_rank_table", "rank_auc"]

#: how :func:`copy_rank_table` reads each example: the parallel forward, or with the copy in B
#: checked against the state after the first set alone (the first-set read's swap at the copy)
READS = ("as trained", "copy reads A alone")

#: the columns of :func:`copy_rank_table`
COPY_RANK_COLUMNS = ["slice", "size_a", "size_b", "order", "read", "n", "accuracy", "accuracy_se",
                     "auc_sets", "auc_sets_se", "auc_b", "auc_b_se"]  # fmt: skip


def rank_auc(logits: np.ndarray, shared: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """float64 ``[n_ex]``: for each example, the share of its ``tokens`` other than ``shared``
    whose logit is below the shared token's, ties counted half; NaN where ``tokens`` holds no
    other token. ``logits`` float ``[n_ex, V]``, ``shared`` int ``[n_ex]``, ``tokens`` int
    ``[n_ex, k]`` (token ids; a repeated id counts once per occurrence).

    Raises ValueError for shapes that do not line up or a token id outside the vocabulary."""
    logits, shared, tokens = np.asarray(logits), np.asarray(shared), np.asarray(tokens)
    n_ex = logits.shape[0] if logits.ndim == 2 else -1
    if n_ex < 0 or shared.shape != (n_ex,) or tokens.ndim != 2 or tokens.shape[0] != n_ex:
        raise ValueError(
            f"logits must be [n_ex, V], shared [n_ex] and tokens [n_ex, k]; got {logits.shape}, "
            f"{shared.shape} and {tokens.shape}"
        )
    vocab = logits.shape[1]
    for name, ids in (("shared", shared), ("tokens", tokens)):
        if ids.size and (ids.min() < 0 or ids.max() >= vocab):
            raise ValueError(f"{name} holds token ids outside 0 .. {vocab - 1} (the logits' vocabulary)")
    rows = np.arange(n_ex)
    own = logits[rows, shared][:, None]
    theirs = np.take_along_axis(logits, tokens, axis=1)
    other = tokens != shared[:, None]
    below = ((theirs < own) & other).sum(axis=1) + 0.5 * ((theirs == own) & other).sum(axis=1)
    count = other.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, below / count, np.nan)


def copy_rank_table(
    model: nn.Module,
    data: SplitData | Segment | Iterable[Segment],
    *,
    read: str = "as trained",
    max_examples: int | None = None,
    batch_size: int = 256,
) -> pd.DataFrame:
    """One row per SD segment of ``data`` (one-pass segments only with the first-set read; its first
    ``max_examples`` examples; all when None; JR-p prompts rank the tokens of the sets as the first pass holds
    them): :data:`COPY_RANK_COLUMNS`, i.e. ``slice``, ``size_a``, ``size_b``, ``order``, ``read``, ``n``
    (examples), ``accuracy`` (argmax over the vocabulary) with its binomial s.e., and the mean over examples
    of :func:`rank_auc` among the other set tokens (``auc_sets``) and among B's other tokens (``auc_b``, NaN
    where |B| = 1), each with its standard error over examples.

    ``read`` (:data:`READS`): ``as trained`` (the
    parallel forward, any model) or ``copy reads A alone`` (a :class:`~synthetic.model.LanguageModel` with
    causal linear-attention layers, read token by token, the copy's read swapped: 175-210 s a d_model 48 model
    on 2 CPU cores at 256 examples a slice, against seconds as trained).

    Raises ValueError for a ``read`` not
    in :data:`READS` and for a model the first-set read refuses."""
    if read not in READS:
        raise ValueError(f"read={read!r}; allowed: {', '.join(READS)}")
    if max_examples is not None:
        check_int("max_examples", max_examples, 1)
    check_int("batch_size", batch_size, 1)
    if read == READS[1] and not isinstance(model, LanguageModel):
        raise ValueError(f"read={read!r} needs a synthetic.model.LanguageModel (got {type(model).__name__})")
    rows = []
    for segment in segments_of(data):
        copies = shared_copies(segment)
        if copies.passes != 1 and read != READS[0]:
            continue  # the first-set read goes through one pass
        if max_examples is not None:
            copies = first_examples(copies, max_examples)
        if read == READS[0]:
            logits = final_logits(model, copies.inputs, copies.prefix_len, batch_size=batch_size)
        else:
            assert isinstance(model, LanguageModel)
            logits = logits_with_first_set_read(model, copies, swap_at="copy", batch_size=batch_size)
        n = copies.num_examples
        accuracy = float((logits.argmax(axis=1) == copies.shared).mean())
        both = np.concatenate([copies.first_set(), copies.second_set()], axis=1)
        auc_sets = mean_and_se(pd.Series(rank_auc(logits, copies.shared, both)))
        auc_b = mean_and_se(pd.Series(rank_auc(logits, copies.shared, copies.second_set())))
        rows.append((copies.name, copies.size_a, copies.size_b, copies.order, read, n, accuracy,
                     binomial_se(accuracy, n), *auc_sets, *auc_b))  # fmt: skip
    return pd.DataFrame(rows, columns=COPY_RANK_COLUMNS)
