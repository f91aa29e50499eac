"""Multi-query associative recall (MQAR), vectorised over examples.

Each example holds ``n = num_kv_pairs`` key-value pairs; keys are distinct tokens of the lower
half of the non-special vocabulary, values distinct tokens of the upper half
(:func:`~synthetic.tasks.tokens.mqar_key_range`). ``m = num_queries <= n`` of the keys, a uniformly
random subset in uniformly random order, are asked in the query region; the label at each ask is
that key's value. Values never appear in the query region's inputs.

Layouts (``seq_len`` = T, the one-pass length)::

    context-first:  1  k1 v1 ... kn vn                  | 3  . q . q . . q ...
    queries-first:  1  q1 ... qm  2  k1 v1 ... kn vn    | 3  . q . q . . q ...
                    <------------ context ------------>   <--- query region --->

The context (``1 + 2n`` or ``2 + m + 2n`` tokens, :func:`mqar_context_len`) is everything before
the ``3`` that opens the query region. In queries-first the queried keys are announced, in the
same order as they are later asked, before the key-value pairs; only the final asks are labelled.
This is the recall analogue of SD's short-set-first order.

The query region (``R = T - context`` tokens) has ``R // 2`` slots at offsets ``1, 3, 5, ...``
after the ``3`` token. The ``m`` asks take distinct slots drawn successively with probability
proportional to ``(g + 1) ** (power_a - 1)`` for slot ``g`` (Zoology's power law; ``power_a=0.01``
crowds asks right after the context, ``1.0`` is uniform); the ask order across slots is random.
Other region positions hold ``PAD`` (0) when ``filler="pad"`` or uniform tokens from ``[4, V)``
when ``filler="random"`` (distractors; they may equal keys or values and carry no label).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from synthetic.tasks._checks import check_int, check_rng
from synthetic.tasks.examples import TaskExamples
from synthetic.tasks.limits import check_segment_tokens, check_vocab_size
from synthetic.tasks.sampling import powerlaw_slots, sample_distinct
from synthetic.tasks.tokens import (
    ANSWER,
    IGNORE_INDEX,
    NUM_SPECIAL,
    PAD,
    SEP,
    START,
    mqar_key_range,
    mqar_value_range,
)

__all__ = [
    "FILLERS",
    "ORDERS",
    "Filler",
    "MQAROrder",
    "check_mqar_sizes",
    "generate_mqar",
    "mqar_context_len",
    "mqar_min_seq_len",
    "mqar_min_vocab",
]

MQAROrder = Literal["context-first", "queries-first"]
Filler = Literal["pad", "random"]
ORDERS: tuple[MQAROrder, ...] = ("context-first", "queries-first")
FILLERS: tuple[str, ...] = ("pad", "random")


def mqar_context_len(num_kv_pairs: int, num_queries: int, order: str = "context-first") -> int:
    """Tokens before the query region in one pass: ``1 + 2n`` (context-first), ``2 + m + 2n``
    (queries-first)."""
    return 1 + 2 * num_kv_pairs + (num_queries + 1 if order == "queries-first" else 0)


def mqar_min_seq_len(num_kv_pairs: int, num_queries: int, order: str = "context-first") -> int:
    """Shortest one-pass ``seq_len`` with room for every ask: context + ``2 m`` (``3`` + m slots)."""
    return mqar_context_len(num_kv_pairs, num_queries, order) + 2 * num_queries


def mqar_min_vocab(num_kv_pairs: int) -> int:
    """Smallest vocabulary with ``n`` distinct keys and ``n`` distinct values: ``4 + 2n``."""
    return NUM_SPECIAL + 2 * num_kv_pairs


def check_mqar_sizes(
    num_kv_pairs: int, num_queries: int, seq_len: int, vocab_size: int | None, order: str
) -> None:
    """Raise ValueError naming the values and the limit if the sizes are impossible.

    ``vocab_size=None`` skips the vocabulary rule (used by configs that do not know V yet).
    """
    if order not in ORDERS:
        raise ValueError(f"order={order!r} is not one of {ORDERS}")
    if num_queries > num_kv_pairs:
        raise ValueError(
            f"num_queries={num_queries} must be <= num_kv_pairs={num_kv_pairs} "
            "(each key is asked at most once)"
        )
    need_len = mqar_min_seq_len(num_kv_pairs, num_queries, order)
    if seq_len < need_len:
        raise ValueError(
            f"seq_len={seq_len} is too short for num_kv_pairs={num_kv_pairs}, num_queries={num_queries}, "
            f"order={order!r}: the context takes {mqar_context_len(num_kv_pairs, num_queries, order)} "
            f"tokens and the query region needs 2 * num_queries = {2 * num_queries} more, "
            f"so seq_len must be >= {need_len}"
        )
    if vocab_size is not None and vocab_size < mqar_min_vocab(num_kv_pairs):
        raise ValueError(
            f"vocab_size={vocab_size} is too small for num_kv_pairs={num_kv_pairs}: keys and values each "
            f"need {num_kv_pairs} distinct tokens from [{NUM_SPECIAL}, vocab_size) split in halves, "
            f"so vocab_size must be >= {mqar_min_vocab(num_kv_pairs)}"
        )


def generate_mqar(
    rng: np.random.Generator,
    num_examples: int,
    num_kv_pairs: int,
    seq_len: int,
    vocab_size: int,
    *,
    num_queries: int | None = None,
    power_a: float = 0.01,
    filler: Filler = "pad",
    order: MQAROrder = "context-first",
) -> TaskExamples:
    """``num_examples`` MQAR sequences of ``seq_len`` tokens (see the module docstring for layouts).

    ``num_queries=None`` asks every key. Returns :class:`TaskExamples` with inputs/labels int64
    ``[n_ex, seq_len]``, labels exactly at the ``num_queries`` final asks of each row, and
    ``context_len = mqar_context_len(num_kv_pairs, num_queries, order)``.
    """
    check_rng(rng)
    n_ex = check_int("num_examples", num_examples, 0)
    n = check_int("num_kv_pairs", num_kv_pairs)
    m = n if num_queries is None else check_int("num_queries", num_queries)
    t = check_int("seq_len", seq_len)
    v = check_vocab_size(check_int("vocab_size", vocab_size))
    if filler not in FILLERS:
        raise ValueError(f"filler={filler!r} is not one of {FILLERS}")
    if isinstance(power_a, bool) or not isinstance(power_a, int | float | np.floating) or not power_a > 0:
        raise ValueError(f"power_a={power_a!r} must be a number > 0")
    check_mqar_sizes(n, m, t, v, order)
    check_segment_tokens(n_ex, t)

    k_lo, k_hi = mqar_key_range(v)
    v_lo, v_hi = mqar_value_range(v)
    keys = sample_distinct(rng, n_ex, k_hi - k_lo, n).astype(np.int64) + k_lo  # [n_ex, n]
    values = sample_distinct(rng, n_ex, v_hi - v_lo, n).astype(np.int64) + v_lo  # [n_ex, n]
    asked = sample_distinct(rng, n_ex, n, m).astype(np.intp)  # [n_ex, m] pair index of each ask
    ctx_len = mqar_context_len(n, m, order)
    slots = powerlaw_slots(rng, n_ex, (t - ctx_len) // 2, m, power_a)  # [n_ex, m], increasing

    inputs = np.empty((n_ex, t), dtype=np.int64)
    if filler == "random":
        inputs[:, ctx_len + 1 :] = rng.integers(NUM_SPECIAL, v, size=(n_ex, t - ctx_len - 1), dtype=np.int64)
    else:
        inputs[:, ctx_len + 1 :] = PAD
    q_keys = np.take_along_axis(keys, asked, axis=1)
    q_values = np.take_along_axis(values, asked, axis=1)

    inputs[:, 0] = START
    kv_start = 1
    if order == "queries-first":
        inputs[:, 1 : 1 + m] = q_keys
        inputs[:, 1 + m] = SEP
        kv_start = 2 + m
    inputs[:, kv_start : kv_start + 2 * n : 2] = keys
    inputs[:, kv_start + 1 : kv_start + 2 * n : 2] = values
    inputs[:, ctx_len] = ANSWER

    # flat index of each ask: row * T + (ctx_len + 1 + 2 * slot)
    flat_pos = slots * 2
    flat_pos += (np.arange(n_ex, dtype=np.int64) * t + ctx_len + 1)[:, None]
    flat_pos = flat_pos.reshape(-1)
    inputs.reshape(-1)[flat_pos] = q_keys.reshape(-1)
    labels = np.full((n_ex, t), IGNORE_INDEX, dtype=np.int64)
    labels.reshape(-1)[flat_pos] = q_values.reshape(-1)
    return TaskExamples(inputs, labels, context_len=ctx_len)
