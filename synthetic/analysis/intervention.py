"""The copy intervention: does the model check membership, or count?

In an SD example ``1 A 2 B 3`` the answer is the shared token s, which occurs twice: its copy in
A (the *first* copy) and its copy in B (the *second*). The intervention replaces one copy, the
other or both by set tokens that occur nowhere in the example (a different one for each copy, in
every JR-p pass), and reads the shared token's final-position logit in the four conditions
``L[f, s]`` (f = 1: the first copy kept, s = 1: the second kept; ``L[1, 1]`` is the example as
generated):

    gain_first         = L[1,1] - L[0,1]   the first copy's evidence, the second present
    gain_second        = L[1,1] - L[1,0]   the second copy's evidence, the first present
    gain_first_alone   = L[1,0] - L[0,0]   the first copy's evidence alone
    gain_second_alone  = L[0,1] - L[0,0]   the second copy's evidence alone
    interaction        = L[1,1] - L[1,0] - L[0,1] + L[0,0]

A model that counts (the shared token is the one seen twice) adds up the copies' evidence: the
interaction is about 0. A model that stores the first set and checks the second against it
answers only when both copies are there: a large positive interaction, and gains near zero for a
copy alone. :mod:`synthetic.analysis.mechanisms` builds both kinds, whose answers are known.

:func:`copy_intervention` gives one row per example (logits and log-probabilities in the four
conditions, the copies' positions, whether the unedited example was answered); :func:`effects`
derives the five quantities above; :func:`summarize_intervention` averages them per group (e.g.
order, size pair) with standard errors. Units: logits (nats for ``measure="logprob"``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from synthetic.analysis.readout import final_logits
from synthetic.analysis.sd_layout import (
    SharedCopies,
    absent_tokens,
    check_vocab,
    segments_of,
    shared_copies,
)
from synthetic.envvars import int_from_env
from synthetic.tasks.config import stable_digest
from synthetic.tasks.data import Segment, SplitData

__all__ = [
    "BATCH_TOKENS_ENV",
    "CONDITIONS",
    "EFFECTS",
    "MEASURES",
    "batch_tokens_from_env",
    "check_measure",
    "copy_intervention",
    "effects",
    "example_columns",
    "groups_of",
    "mean_and_se",
    "replacement_rng",
    "rows_by_segment",
    "summarize_intervention",
    "token_levels",
]

#: the four conditions, (first copy kept, second copy kept), as column suffixes "11", "10", "01", "00"
CONDITIONS: tuple[tuple[bool, bool], ...] = ((True, True), (True, False), (False, True), (False, False))
#: what a condition's level is read as: the shared token's logit, or its log-probability
MEASURES: tuple[str, ...] = ("logit", "logprob")
#: the quantities :func:`effects` derives (see the module docstring)
EFFECTS: tuple[str, ...] = (
    "gain_first",
    "gain_second",
    "gain_first_alone",
    "gain_second_alone",
    "interaction",
)


#: the environment variable that gives :func:`copy_intervention` its default ``batch_tokens``
BATCH_TOKENS_ENV = "READTWICE_ANALYSIS_TOKENS"


def batch_tokens_from_env() -> int | None:
    """``READTWICE_ANALYSIS_TOKENS`` as tokens per batch of the intervention's forward passes; None
    when it is unset or empty (batches of ``batch_size`` rows). ValueError naming the variable for
    anything but an integer >= 1."""
    return int_from_env(
        BATCH_TOKENS_ENV,
        minimum=1,
        meaning="tokens per batch of the copy intervention's forward passes (unset: batches of a "
        "fixed number of examples)",
    )


#: most examples a forward pass takes under a token budget: the GPU kernels put B x H on a grid
#: axis that CUDA caps at 65,535 blocks (synthetic.kernels.short, .engine), so 8,000 examples leave
#: room for 8 heads
MAX_BUDGET_ROWS = 8000


def _rows_per_batch(batch_size: int, batch_tokens: int | None, seq_len: int) -> int:
    """Examples per forward pass: ``batch_size``, or with a token budget as many whole examples of
    ``seq_len`` tokens as fit in it (at least one, at most :data:`MAX_BUDGET_ROWS`)."""
    if batch_tokens is None:
        return batch_size
    return min(MAX_BUDGET_ROWS, max(1, batch_tokens // seq_len))


def _suffix(first: bool, second: bool) -> str:
    return f"{int(first)}{int(second)}"


def replacement_rng(seed: int, name: str) -> np.random.Generator:
    """The generator of a segment's replacement tokens, from ``seed`` and the segment's ``name``
    alone (a segment gets the same tokens whatever else an analysis reads)."""
    digest = stable_digest({"analysis": "copy_intervention", "slice": name})
    return np.random.default_rng(np.random.SeedSequence([seed, int(digest[:8], 16)]))


def token_levels(logits: np.ndarray, token: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(logit, log-probability) of ``token`` [n_ex] under logits [n_ex, V], float64."""
    top = logits.max(axis=1, keepdims=True)
    log_norm = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
    picked = logits[np.arange(token.size), token]
    return picked, picked - log_norm


def example_columns(copies: SharedCopies, replace: np.ndarray) -> dict[str, object]:
    """The columns every row of a copy intervention starts with: the slice, its sizes, order and
    passes, the example, the shared token, its index in A and in B, and the tokens written for its
    copy in A and in B (``replace`` int64 ``[n_ex, 2]``)."""
    return {
        "slice": copies.name,
        "size_a": copies.size_a,
        "size_b": copies.size_b,
        "order": copies.order,
        "passes": copies.passes,
        "example": np.arange(copies.num_examples),
        "shared": copies.shared,
        "pos_first": copies.first_index,
        "pos_second": copies.second_index,
        "replace_first": replace[:, 0],
        "replace_second": replace[:, 1],
    }


def _segment_rows(model: nn.Module, copies: SharedCopies, seed: int, batch_size: int) -> pd.DataFrame:
    declared = getattr(model, "vocab_size", None)
    if isinstance(declared, int):
        check_vocab(declared, [copies])
    plain = final_logits(model, copies.inputs, copies.prefix_len, batch_size=batch_size)
    check_vocab(plain.shape[1], [copies])
    replace = absent_tokens(copies.inputs, plain.shape[1], 2, replacement_rng(seed, copies.name))
    rows = np.arange(copies.num_examples)[:, None]
    table = example_columns(copies, replace)
    table["correct"] = plain.argmax(axis=1) == copies.shared
    for first, second in CONDITIONS:
        if first and second:
            logits = plain
        else:
            edited = copies.inputs.copy()
            if not first:
                edited[rows, copies.first_cols] = replace[:, :1]
            if not second:
                edited[rows, copies.second_cols] = replace[:, 1:]
            logits = final_logits(model, edited, copies.prefix_len, batch_size=batch_size)
        logit, logprob = token_levels(logits, copies.shared)
        table[f"logit_{_suffix(first, second)}"] = logit
        table[f"logprob_{_suffix(first, second)}"] = logprob
    return pd.DataFrame(table)


def copy_intervention(
    model: nn.Module,
    data: SplitData | Segment | Iterable[Segment],
    *,
    seed: int = 0,
    batch_size: int = 256,
    batch_tokens: int | str | None = "env",
) -> pd.DataFrame:
    """One row per example of every SD segment in ``data`` (a split, a segment or segments).

    Columns: ``slice``, ``size_a``, ``size_b``, ``order`` ("short-first" / "long-first" /
    "equal"), ``passes``, ``example`` (row in its segment), ``shared`` (the answer),
    ``pos_first`` / ``pos_second`` (the shared token's index in A / in B, 0-based),
    ``replace_first`` / ``replace_second`` (the absent tokens written in place of each copy),
    ``correct`` (the unedited example's argmax is the answer), and per condition ``fs`` in
    "11", "10", "01", "00" (see the module docstring) ``logit_fs`` and ``logprob_fs``.

    The replacement tokens are drawn from ``seed`` and the segment's name (so a segment gets the
    same ones whatever else ``data`` holds). The model only reads; it is not changed.

    Forward passes take ``batch_size`` examples, or with ``batch_tokens`` as many examples of a
    segment as fit in that many tokens (a small model reads more examples at once; the rows do not
    depend on it beyond floating-point rounding). ``"env"`` (the default): from
    ``READTWICE_ANALYSIS_TOKENS`` (:func:`batch_tokens_from_env`; unset: ``batch_size``). A
    segment whose budget runs out of device memory is read again in batches of ``batch_size``.
    """
    return rows_by_segment(
        data,
        lambda copies, per_batch: _segment_rows(model, copies, seed, per_batch),
        batch_size=batch_size,
        batch_tokens=batch_tokens,
    )


def rows_by_segment(
    data: SplitData | Segment | Iterable[Segment],
    segment_rows: Callable[[SharedCopies, int], pd.DataFrame],
    *,
    batch_size: int,
    batch_tokens: int | str | None,
) -> pd.DataFrame:
    """``segment_rows(copies, examples per forward pass)`` of every SD segment in ``data``,
    concatenated: the batching every intervention over a segment's copies shares. ``batch_tokens``
    as :func:`copy_intervention` takes it (validated here, ValueError naming it); a segment whose
    token budget runs out of device memory is read again in batches of ``batch_size``."""
    if batch_tokens == "env":
        batch_tokens = batch_tokens_from_env()
    if batch_tokens is not None and (
        isinstance(batch_tokens, bool) or not isinstance(batch_tokens, int) or batch_tokens < 1
    ):
        raise ValueError(f"batch_tokens={batch_tokens!r}; allowed: an integer >= 1, None or 'env'")
    rows = []
    for seg in segments_of(data):
        copies = shared_copies(seg)
        per_batch = _rows_per_batch(batch_size, batch_tokens, copies.inputs.shape[1])
        try:
            rows.append(segment_rows(copies, per_batch))
        except torch.OutOfMemoryError:  # a token budget too large for this device: as without one
            if per_batch <= batch_size:
                raise
            torch.cuda.empty_cache()
            rows.append(segment_rows(copies, batch_size))
    return pd.concat(rows, ignore_index=True)


def check_measure(measure: str) -> str:
    """``measure`` if it is one of :data:`MEASURES`; ValueError naming it otherwise."""
    if measure not in MEASURES:
        raise ValueError(f"measure={measure!r} is not one of {', '.join(MEASURES)}")
    return measure


def effects(table: pd.DataFrame, measure: str = "logit") -> pd.DataFrame:
    """The five per-example quantities of the module docstring, from :func:`copy_intervention`'s
    table, as a DataFrame with the same index (columns :data:`EFFECTS`)."""
    m = check_measure(measure)
    missing = [f"{m}_{_suffix(f, s)}" for f, s in CONDITIONS if f"{m}_{_suffix(f, s)}" not in table]
    if missing:
        raise ValueError(f"table lacks the columns {missing}; pass the table copy_intervention returns")
    level = {(f, s): table[f"{m}_{_suffix(f, s)}"] for f, s in CONDITIONS}
    both, first, second, none = (level[c] for c in CONDITIONS)
    return pd.DataFrame(
        {
            "gain_first": both - second,
            "gain_second": both - first,
            "gain_first_alone": first - none,
            "gain_second_alone": second - none,
            "interaction": both - first - second + none,
        },
        index=table.index,
    )


def mean_and_se(values: pd.Series) -> tuple[float, float]:
    """Mean and standard error of the mean (sample standard deviation / sqrt(n); NaN for n < 2)."""
    n = int(values.count())
    if n == 0:
        return float("nan"), float("nan")
    se = float(values.std(ddof=1)) / np.sqrt(n) if n > 1 else float("nan")
    return float(values.mean()), se


def groups_of(table: pd.DataFrame, keys: Sequence[str]) -> Iterator[tuple[dict[str, object], pd.DataFrame]]:
    """Each group of ``table`` by the columns ``keys`` in sorted order, as (its key values by
    column, its rows); no keys: one group of all rows with an empty dict."""
    if not keys:
        yield {}, table
        return
    for key, part in table.groupby(list(keys), sort=True):
        yield dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True)), part


def summarize_intervention(
    table: pd.DataFrame, by: Sequence[str] = ("slice",), *, measure: str = "logit"
) -> pd.DataFrame:
    """Per group of ``by`` (columns of the table, e.g. ``("order",)``, ``("slice", "pos_first")``;
    empty: one row for all): ``n``, ``accuracy`` and ``accuracy_se`` (binomial), and for each of
    :data:`EFFECTS` its mean and ``<name>_se``, the standard error of the mean over examples."""
    keys = list(by)
    unknown = [k for k in keys if k not in table]
    if unknown:
        raise ValueError(f"by={keys}: {unknown} are not columns of the table; it has {list(table.columns)}")
    full = pd.concat([table, effects(table, measure)], axis=1)
    out = []
    for row, part in groups_of(full, keys):
        n = len(part)
        acc = float(part["correct"].mean())
        row.update(n=n, accuracy=acc, accuracy_se=float(np.sqrt(acc * (1 - acc) / n)))
        for name in EFFECTS:
            row[name], row[f"{name}_se"] = mean_and_se(part[name])
        out.append(row)
    return pd.DataFrame(out)


#: logits of interaction, in both orders, above which a model counts as checking one set against
#: the other (the paper-scale runs so far: at most 1.10 in the runs that count, at least 3.19 in
#: those that check; docs/results/paper-scale.md)
CHECKING_LOGITS = 2.0


def checks_membership(by_order: pd.DataFrame, threshold: float = CHECKING_LOGITS) -> bool:
    """Whether a model's copies interact by more than ``threshold`` logits in both orders:
    ``by_order`` is :func:`summarize_intervention` by ``("order",)`` (needs rows for
    ``short-first`` and ``long-first``; False without them)."""
    if not threshold > 0:
        raise ValueError(f"threshold={threshold}; allowed: a positive number of logits")
    missing = [c for c in ("order", "interaction") if c not in by_order.columns]
    if missing:
        raise ValueError(f"by_order has no column(s) {missing}; it needs 'order' and 'interaction'")
    rows = by_order[by_order.order.isin(("short-first", "long-first"))]
    return rows.order.nunique() == 2 and bool((rows.interaction > threshold).all())  # NaN > t is False
