"""Which pass's copies of the shared token a JR-p model reads: the copy intervention, pass by pass.

A JR-2 prompt ``1 A 2 B  1 A 2 B  3`` holds the shared token s four times, in reading order
``A1 B1 A2 B2`` (its copy in A and in B, in pass 1 and in pass 2). The theory's two readers use
different pairs of them:

* a reader that stores the set it sees first and checks the other against it, in either pass,
  needs a copy in A and a later copy in B (``A1 B1``, ``A1 B2`` or ``A2 B2``): memory for |A|, so
  it fares worse when A is the long set;
* the reader that reading twice makes possible stores the smaller set wherever it comes; with A
  the long set it stores B in pass 1 and checks A against it in pass 2: the pair ``B1 A2``,
  memory for min(|A|, |B|).

:func:`pass_copy_intervention` replaces any subset of the copies by tokens that occur nowhere in
the example (one token for A's copies and one for B's, the same in every pass, drawn as
:func:`~synthetic.analysis.intervention.copy_intervention` draws them: with every pass of a set
replaced, the two give the same rows) and reads the shared token's final-position logit under
each chosen condition. A condition is a code of one digit per copy in reading order, 1 where the
copy is kept: for JR-2 ``"1111"`` is the example as generated, ``"0110"`` keeps B1 and A2 alone.
:func:`pair_interaction` derives, per example, how much two copies' evidence depends on each
other, with the remaining copies kept (``background="kept"``) or replaced (``"removed"``)::

    interaction(X, Y) = L[X, Y] - L[X only removed] - L[Y only removed] + L[X, Y removed]

Large for the pair a model checks one against the other; about 0 for copies it only counts.
Units: logits (nats for ``measure="logprob"``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from torch import nn

from synthetic.analysis.intervention import (
    check_measure,
    example_columns,
    groups_of,
    mean_and_se,
    replacement_rng,
    rows_by_segment,
    token_levels,
)
from synthetic.analysis.readout import final_logits
from synthetic.analysis.sd_layout import SharedCopies, absent_tokens, check_vocab
from synthetic.tasks._checks import check_int
from synthetic.tasks.data import Segment, SplitData

__all__ = [
    "BACKGROUNDS",
    "MAX_PASSES",
    "all_conditions",
    "condition_code",
    "condition_summary",
    "copy_names",
    "kept_copies",
    "pair_conditions",
    "pair_interaction",
    "pair_summary",
    "pass_copy_intervention",
]

#: the most passes the full set of conditions is offered for (2^(2p) forward passes an example)
MAX_PASSES = 3
#: what the copies outside a pair are in :func:`pair_interaction`: kept as generated, or replaced
BACKGROUNDS = ("kept", "removed")


def copy_names(passes: int) -> tuple[str, ...]:
    """The shared token's copies in reading order, ``("A1", "B1", ..., "Ap", "Bp")``."""
    check_int("passes", passes, 1)
    return tuple(f"{s}{k}" for k in range(1, passes + 1) for s in "AB")


def condition_code(kept: Iterable[str], passes: int) -> str:
    """The code of the condition that keeps the copies ``kept`` (names from :func:`copy_names`)
    and replaces the rest: one digit per copy in reading order. ValueError naming a copy that a
    ``passes``-pass prompt does not hold."""
    names = copy_names(passes)
    chosen = set(kept)
    unknown = sorted(chosen - set(names))
    if unknown:
        raise ValueError(f"kept={sorted(chosen)}: {unknown} are not copies of a {passes}-pass prompt {names}")
    return "".join("1" if n in chosen else "0" for n in names)


def kept_copies(code: str) -> tuple[str, ...]:
    """The copies a condition ``code`` keeps (its inverse of :func:`condition_code`)."""
    if not code or len(code) % 2 or set(code) - {"0", "1"}:
        raise ValueError(f"condition {code!r}: allowed, one digit 0 / 1 per copy, two copies a pass")
    names = copy_names(len(code) // 2)
    return tuple(n for n, digit in zip(names, code, strict=True) if digit == "1")


def all_conditions(passes: int) -> tuple[str, ...]:
    """Every condition of a ``passes``-pass prompt (2^(2 passes) codes, the example as generated
    first). ValueError above :data:`MAX_PASSES`."""
    check_int("passes", passes, 1)
    if passes > MAX_PASSES:
        raise ValueError(f"passes={passes}: all conditions are offered up to {MAX_PASSES} passes")
    return tuple("".join(bits) for bits in itertools.product("10", repeat=2 * passes))


def _check_conditions(conditions: Sequence[str] | str, passes: int, name: str) -> tuple[str, ...]:
    codes = all_conditions(passes) if conditions == "all" else tuple(conditions)
    bad = [c for c in codes if not isinstance(c, str) or len(c) != 2 * passes or set(c) - {"0", "1"}]
    if bad or not codes:
        raise ValueError(
            f"segment {name!r} ({passes} passes): conditions {bad or 'none'}; allowed, 'all' or codes "
            f"of {2 * passes} digits 0 / 1 (one per copy {copy_names(passes)})"
        )
    return tuple(dict.fromkeys(("1" * 2 * passes, *codes)))  # as generated first, each once


def _segment_rows(
    model: nn.Module,
    copies: SharedCopies,
    conditions: Sequence[str] | str,
    seed: int,
    batch_size: int,
    max_examples: int | None,
) -> pd.DataFrame:
    codes = _check_conditions(conditions, copies.passes, copies.name)
    declared = getattr(model, "vocab_size", None)
    if isinstance(declared, int):
        check_vocab(declared, [copies])
    # the replacement tokens of every example, drawn before any is dropped: the first examples of a
    # segment get the same ones whatever max_examples is, and the ones copy_intervention writes
    vocab = declared if isinstance(declared, int) else None
    if vocab is None:
        vocab = final_logits(model, copies.inputs[:1], copies.prefix_len[:1], batch_size=1).shape[1]
    replace = absent_tokens(copies.inputs, vocab, 2, replacement_rng(seed, copies.name))
    if max_examples is not None and max_examples < copies.num_examples:
        copies, replace = copies.take(np.arange(max_examples)), replace[:max_examples]
    rows = np.arange(copies.num_examples)[:, None]
    cols = [c for k in range(copies.passes) for c in (copies.first_cols[:, k], copies.second_cols[:, k])]
    table = example_columns(copies, replace)
    for code in codes:
        edited = copies.inputs.copy()
        for i, digit in enumerate(code):
            if digit == "0":
                edited[rows[:, 0], cols[i]] = replace[:, i % 2]
        logits = final_logits(model, edited, copies.prefix_len, batch_size=batch_size)
        check_vocab(logits.shape[1], [copies])
        table[f"logit_{code}"], table[f"logprob_{code}"] = token_levels(logits, copies.shared)
        table[f"correct_{code}"] = logits.argmax(axis=1) == copies.shared
    return pd.DataFrame(table)


def pass_copy_intervention(
    model: nn.Module,
    data: SplitData | Segment | Iterable[Segment],
    *,
    conditions: Sequence[str] | str = "all",
    seed: int = 0,
    max_examples: int | None = None,
    batch_size: int = 256,
    batch_tokens: int | str | None = "env",
) -> pd.DataFrame:
    """One row per example of every SD segment in ``data``, read under each condition.

    ``conditions``: codes (:func:`condition_code`) or ``"all"`` (:func:`all_conditions`); the
    example as generated is always read. Columns: ``slice``, ``size_a``, ``size_b``, ``order``,
    ``passes``, ``example``, ``shared``, ``pos_first`` / ``pos_second`` (the shared token's index
    in A / B), ``replace_first`` / ``replace_second`` (the tokens written for A's and B's copies),
    and per condition ``c``: ``logit_c``, ``logprob_c`` and ``correct_c`` (argmax is the answer).
    ``max_examples``: the first ones of each segment (all when None). The replacement tokens, the
    batching (``batch_size``, ``batch_tokens``) and the model's reading are as in
    :func:`~synthetic.analysis.intervention.copy_intervention`; with every pass of a set replaced
    alike, the rows equal that function's.
    """
    if max_examples is not None:
        check_int("max_examples", max_examples, 1)
    return rows_by_segment(
        data,
        lambda copies, per_batch: _segment_rows(model, copies, conditions, seed, per_batch, max_examples),
        batch_size=batch_size,
        batch_tokens=batch_tokens,
    )


def _column(table: pd.DataFrame, measure: str, code: str) -> pd.Series:
    check_measure(measure)
    name = f"{measure}_{code}"
    if name not in table:
        read = sorted(c.split("_", 1)[1] for c in table.columns if c.startswith(f"{measure}_"))
        raise ValueError(f"the table has no condition {code!r} (column {name}); it read {read}")
    return table[name]


def pair_conditions(
    pair: tuple[str, str], passes: int, background: str = "kept"
) -> dict[tuple[bool, bool], str]:
    """The codes of the four conditions the interaction of the copies ``pair`` (two names of
    :func:`copy_names`) reads, by (first of the pair kept, second kept), with the other copies
    ``background`` ("kept" or "removed"). ValueError for a bad background or pair."""
    if background not in BACKGROUNDS:
        raise ValueError(f"background={background!r}; allowed: {', '.join(BACKGROUNDS)}")
    x, y = pair
    if x == y:
        raise ValueError(f"pair={pair}: two different copies")
    others = [n for n in copy_names(passes) if n not in pair]
    base = others if background == "kept" else []
    return {
        (kx, ky): condition_code(base + [n for n, k in ((x, kx), (y, ky)) if k], passes)
        for kx in (True, False)
        for ky in (True, False)
    }


def pair_interaction(
    table: pd.DataFrame, pair: tuple[str, str], *, background: str = "kept", measure: str = "logit"
) -> pd.Series:
    """Per example, the interaction of the copies ``pair`` (two names of :func:`copy_names`) with
    the other copies ``background`` ("kept" or "removed"; module docstring). ValueError naming a
    condition the table did not read."""
    passes = int(table["passes"].iloc[0]) if len(table) else 1
    if len(table) and table["passes"].nunique() != 1:
        raise ValueError(f"the table mixes prompts of {sorted(set(table.passes.tolist()))} passes; pass one")
    codes = pair_conditions(pair, passes, background)
    level = {kept: _column(table, measure, code) for kept, code in codes.items()}
    return level[True, True] - level[True, False] - level[False, True] + level[False, False]


def condition_summary(
    table: pd.DataFrame, by: Sequence[str] = ("order",), *, measure: str = "logit"
) -> pd.DataFrame:
    """Per group of ``by`` and condition the table read: ``condition`` (code), ``kept`` (the
    copies, space-separated; "none"), ``n``, ``accuracy`` with its binomial ``accuracy_se``, and
    the shared token's mean level ``<measure>`` with ``<measure>_se`` over examples."""
    codes = sorted({c.split("_", 1)[1] for c in table.columns if c.startswith("correct_")}, reverse=True)
    out = []
    for group, part in groups_of(table, list(by)):
        for code in codes:
            row = dict(group)
            n = len(part)
            acc = float(part[f"correct_{code}"].mean())
            row.update(condition=code, kept=" ".join(kept_copies(code)) or "none", n=n, accuracy=acc,
                       accuracy_se=float(np.sqrt(acc * (1 - acc) / n)))  # fmt: skip
            row[measure], row[f"{measure}_se"] = mean_and_se(_column(part, measure, code))
            out.append(row)
    return pd.DataFrame(out)


def pair_summary(
    table: pd.DataFrame, by: Sequence[str] = ("order",), *, background: str = "kept", measure: str = "logit"
) -> pd.DataFrame:
    """Per group of ``by`` and pair of copies whose four conditions the table read (with the other
    copies ``background``): ``pair`` ("A1 B1"), ``n``, and the mean ``interaction`` with its
    ``interaction_se`` over examples."""
    check_measure(measure)
    if table.empty:
        raise ValueError("the table holds no examples; pass the rows pass_copy_intervention returns")
    passes = int(table["passes"].iloc[0])
    read = {c.split("_", 1)[1] for c in table.columns if c.startswith(f"{measure}_")}
    pairs = [
        (pair, pair_interaction(table, pair, background=background, measure=measure))
        for pair in itertools.combinations(copy_names(passes), 2)
        if set(pair_conditions(pair, passes, background).values()) <= read
    ]
    keys = list(by)
    out = []
    for pair, values in pairs:
        frame = table[keys].assign(interaction=values)
        for group, part in groups_of(frame, keys):
            row = dict(group)
            row.update(pair=" ".join(pair), n=len(part))
            row["interaction"], row["interaction_se"] = mean_and_se(part["interaction"])
            out.append(row)
    return pd.DataFrame(out)
