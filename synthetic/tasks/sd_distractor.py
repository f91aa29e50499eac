"""SD with a repeated distractor: a variant of set disjointness that counting cannot solve.

Layout of one example (``a = |A|``, ``b = |B|``, as :mod:`synthetic.tasks.sd`)::

    position  0    1 .. a    a+1   a+2 .. a+b+1   a+b+2
    input     1    A         2     B              3
    label     -    -         -     -              answer

A is a set of ``a`` distinct tokens. B is a sequence of ``b`` tokens that holds, besides the
shared token (``A ∩ B`` has exactly one element, the label), one **distractor** written at
``copies`` positions (``copies >= 2``); the distractor never occurs in A. The other ``b - 1 -
copies`` positions of B hold distinct tokens found nowhere else in the example. So, counting
occurrences over the whole context:

* the shared token occurs twice (once in A, once in B);
* the distractor occurs ``copies`` times, all in B;
* every other token occurs once.

With ``copies = 2`` (the default) the shared token and the distractor have the same count, so
any rule that reads the context as a bag of tokens (a function of the counts alone, e.g. "the
token seen twice" or "the most frequent token") answers correctly at most half of the time;
with ``copies >= 3`` "the most frequent token" is always wrong (though "the token seen exactly
twice" is then right, which is why 2 is the default). Only telling the two sets apart answers
correctly: a membership check of B's tokens against A (the one-pass algorithm that stores the
first set, :class:`sdtheory.streaming.StoreFirst`, solves every example). An additive count that
weights a copy in A more than ``copies - 1`` copies in B also answers correctly, but it too
must know on which side of the separator each copy was read.

Sampling: ``a + b`` distinct tokens from ``[4, V)`` as in :func:`synthetic.tasks.sd.generate_sd`,
then the shared element (a uniform element of A) overwrites a uniform position of B, then the
token at a uniform one of B's other positions becomes the distractor and overwrites ``copies - 1``
further positions drawn uniformly from the remaining ones. So the shared token's position in B,
the distractor's ``copies`` positions (a uniform ``copies``-subset of the others) and the set tokens
are all uniform. Size rules: those of SD (``V >= 4 + a + b``) and ``b >= copies + 1``.

"Short first" (a < b) and "long first" (a > b) are the same generator with the sizes swapped; the
distractor is always in the set read second.
"""

from __future__ import annotations

import numpy as np

from synthetic.tasks._checks import check_int, check_rng
from synthetic.tasks.examples import TaskExamples
from synthetic.tasks.sd import _check_args, _layout, _plant_shared, sd_context_len
from synthetic.tasks.tokens import IGNORE_INDEX

__all__ = ["DEFAULT_COPIES", "check_distractor_sizes", "generate_sd_distractor", "sd_distractor_min_size_b"]

DEFAULT_COPIES = 2
"""Occurrences of the distractor in the second set unless told otherwise: as many as the shared token has."""


def sd_distractor_min_size_b(copies: int) -> int:
    """Smallest second set for ``copies`` distractor copies: the shared token plus the copies."""
    return check_int("copies", copies, 2) + 1


def check_distractor_sizes(size_b: int, copies: int) -> None:
    """Raise ValueError (naming the values and the rule) if B cannot hold the shared token and
    ``copies`` copies of the distractor."""
    need = sd_distractor_min_size_b(copies)
    if size_b < need:
        raise ValueError(
            f"size_b={size_b} is too small for copies={copies}: the second set holds the shared token "
            f"and {copies} copies of the distractor, so size_b must be >= copies + 1 = {need}"
        )


def _plant_distractor(
    rng: np.random.Generator, view_b: np.ndarray, shared_pos: np.ndarray, copies: int
) -> np.ndarray:
    """In every row, copy the token at a uniform position of B other than ``shared_pos`` over
    ``copies - 1`` further uniform positions (the shared position excluded).

    Returns the distractor's positions in B, int64 ``[n_ex, copies]`` (in increasing order).
    """
    n, b = view_b.shape
    # a uniform random order of B's positions without the shared one, per row: random keys with
    # the shared position's key set to +inf so it sorts last
    keys = rng.random((n, b))
    keys[np.arange(n), shared_pos] = np.inf
    order = np.argsort(keys, axis=1, kind="stable")[:, :copies]  # [n, copies], the first is the source
    rows = np.arange(n)[:, None]
    view_b[rows, order[:, 1:]] = view_b[np.arange(n), order[:, 0]][:, None]
    return np.sort(order, axis=1).astype(np.int64)


def generate_sd_distractor(
    rng: np.random.Generator,
    num_examples: int,
    size_a: int,
    size_b: int,
    vocab_size: int,
    copies: int = DEFAULT_COPIES,
) -> TaskExamples:
    """SD with a distractor repeated ``copies`` times in the second set (see the module docstring).

    Returns :class:`TaskExamples` with inputs/labels int64 ``[n_ex, a + b + 3]``; the only label is
    at the last position and equals the single token that occurs in both A and B;
    ``context_len = a + b + 2``. Needs ``vocab_size >= 4 + a + b`` and ``size_b >= copies + 1``.
    """
    check_rng(rng)
    k = check_int("copies", copies, 2)
    n, a, b, v = _check_args(num_examples, size_a, size_b, vocab_size, decision=False)
    check_distractor_sizes(b, k)
    inputs, view_a, view_b = _layout(rng, n, a, b, v, decision=False)
    shared = _plant_shared(rng, np.arange(n), view_a, view_b)
    shared_pos = np.argmax(view_b == shared[:, None], axis=1)  # B's tokens are distinct here
    _plant_distractor(rng, view_b, shared_pos, k)
    labels = np.full(inputs.shape, IGNORE_INDEX, dtype=np.int64)
    labels[:, -1] = shared
    return TaskExamples(inputs, labels, context_len=sd_context_len(a, b))
