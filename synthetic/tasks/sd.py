"""Set disjointness (SD) tasks, vectorised over examples.

Layout of one example (``a = |A|``, ``b = |B|``; paper App. B.1, Alg. 1)::

    position  0    1 .. a    a+1   a+2 .. a+b+1   a+b+2
    input     1    A         2     B              3
    label     -    -         -     -              answer

The context is ``1 A 2 B`` (``a + b + 2`` tokens); the answer region is the single ``3`` token,
the last input position, which carries the only label.

* :func:`generate_sd` — "output the shared element" (the paper's task): A and B are drawn from
  disjoint random halves of the set tokens ``[4, V)``, then one element of A overwrites a random
  position of B, so ``A ∩ B`` has exactly one element; the label is that element.
* :func:`generate_sd_decision` — YES/NO: exactly half of the examples (one more at random when their
  number is odd) are built as above and labelled ``YES = 4``; the others keep A and B disjoint and are
  labelled ``NO = 5``. Set tokens come from ``[6, V)``.

"Short first" (a < b) and "long first" (a > b) are the same generator with the sizes swapped.

Sampling note: drawing A from one random half of the set tokens and B from the other is the same
distribution as drawing ``a + b`` distinct tokens uniformly and splitting them, which is what the
code does; so the only size rule is ``a + b <= number of set tokens`` (see :func:`sd_min_vocab`),
besides the limits of :mod:`synthetic.tasks.limits` (vocabulary, tokens per segment).
"""

from __future__ import annotations

import numpy as np

from synthetic.tasks._checks import check_int, check_rng
from synthetic.tasks.examples import TaskExamples
from synthetic.tasks.limits import check_segment_tokens, check_vocab_size
from synthetic.tasks.sampling import sample_distinct
from synthetic.tasks.tokens import ANSWER, IGNORE_INDEX, NO, SEP, START, YES, sd_set_range

__all__ = ["generate_sd", "generate_sd_decision", "sd_context_len", "sd_min_vocab"]


def sd_min_vocab(size_a: int, size_b: int, decision: bool = False) -> int:
    """Smallest vocabulary for sets of these sizes: ``4 + a + b`` (``6 + a + b`` for decision)."""
    return sd_set_range(0, decision)[0] + size_a + size_b


def sd_context_len(size_a: int, size_b: int) -> int:
    """Tokens before the answer token in one pass: ``1 A 2 B`` is ``a + b + 2``."""
    return size_a + size_b + 2


def check_sd_sizes(size_a: int, size_b: int, vocab_size: int, decision: bool = False) -> None:
    """Raise ValueError (naming the values and the limit) if the sets do not fit the vocabulary."""
    need = sd_min_vocab(size_a, size_b, decision)
    if vocab_size < need:
        lo, _ = sd_set_range(vocab_size, decision)
        raise ValueError(
            f"vocab_size={vocab_size} is too small for size_a={size_a}, size_b={size_b}: the sets need "
            f"size_a + size_b = {size_a + size_b} distinct set tokens from [{lo}, vocab_size), "
            f"so vocab_size must be >= {need}"
        )


def _check_args(
    num_examples: object, size_a: object, size_b: object, vocab_size: object, decision: bool
) -> tuple[int, int, int, int]:
    n = check_int("num_examples", num_examples, 0)
    a = check_int("size_a", size_a)
    b = check_int("size_b", size_b)
    v = check_vocab_size(check_int("vocab_size", vocab_size))
    check_sd_sizes(a, b, v, decision)
    check_segment_tokens(n, a + b + 3, length="size_a + size_b + 3")
    return n, a, b, v


def _layout(
    rng: np.random.Generator, n: int, a: int, b: int, v: int, decision: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw the disjoint sets and write ``1 A 2 B 3``; return (inputs, a view of A, a view of B)."""
    lo, hi = sd_set_range(v, decision)
    tokens = sample_distinct(rng, n, hi - lo, a + b)  # [n, a + b], distinct per row
    inputs = np.empty((n, a + b + 3), dtype=np.int64)
    inputs[:, 0] = START
    inputs[:, a + 1] = SEP
    inputs[:, a + b + 2] = ANSWER
    view_a = inputs[:, 1 : a + 1]
    view_b = inputs[:, a + 2 : a + b + 2]
    np.add(tokens[:, :a], lo, out=view_a, casting="unsafe")
    np.add(tokens[:, a:], lo, out=view_b, casting="unsafe")
    return inputs, view_a, view_b


def _plant_shared(
    rng: np.random.Generator, rows: np.ndarray, view_a: np.ndarray, view_b: np.ndarray
) -> np.ndarray:
    """For each row in ``rows``: copy a uniform element of A over a uniform position of B.

    Returns the shared tokens, int64 ``[len(rows)]``.
    """
    a, b = view_a.shape[1], view_b.shape[1]
    pick = rng.integers(0, a, size=rows.size)
    place = rng.integers(0, b, size=rows.size)
    shared = view_a[rows, pick]
    view_b[rows, place] = shared
    return shared


def generate_sd(
    rng: np.random.Generator, num_examples: int, size_a: int, size_b: int, vocab_size: int
) -> TaskExamples:
    """SD, "output the shared element": ``num_examples`` sequences ``1 A 2 B 3``.

    Returns :class:`TaskExamples` with inputs/labels int64 ``[n_ex, a + b + 3]``; the only label is
    at the last position and equals the single token of ``A ∩ B``; ``context_len = a + b + 2``.
    Needs ``vocab_size >= 4 + a + b``.
    """
    check_rng(rng)
    n, a, b, v = _check_args(num_examples, size_a, size_b, vocab_size, decision=False)
    inputs, view_a, view_b = _layout(rng, n, a, b, v, decision=False)
    shared = _plant_shared(rng, np.arange(n), view_a, view_b)
    labels = np.full(inputs.shape, IGNORE_INDEX, dtype=np.int64)
    labels[:, -1] = shared
    return TaskExamples(inputs, labels, context_len=sd_context_len(a, b))


def generate_sd_decision(
    rng: np.random.Generator, num_examples: int, size_a: int, size_b: int, vocab_size: int
) -> TaskExamples:
    """SD decision: ``1 A 2 B 3`` labelled ``YES`` (4) if A and B share an element, ``NO`` (5) if not.

    Balanced exactly: ``num_examples // 2`` intersecting examples, plus one more with probability 1/2
    when ``num_examples`` is odd, at uniformly random rows. An intersecting example shares exactly
    one element (the unique-intersection promise, the hard case of SD). Set tokens come from ``[6, V)``, so
    ``vocab_size >= 6 + a + b``. Shapes as in :func:`generate_sd`.
    """
    check_rng(rng)
    n, a, b, v = _check_args(num_examples, size_a, size_b, vocab_size, decision=True)
    inputs, view_a, view_b = _layout(rng, n, a, b, v, decision=True)
    num_yes = n // 2 + (int(rng.integers(0, 2)) if n % 2 else 0)
    yes_rows = np.sort(rng.permutation(n)[:num_yes])
    _plant_shared(rng, yes_rows, view_a, view_b)
    labels = np.full(inputs.shape, IGNORE_INDEX, dtype=np.int64)
    labels[:, -1] = NO
    labels[yes_rows, -1] = YES
    return TaskExamples(inputs, labels, context_len=sd_context_len(a, b))
