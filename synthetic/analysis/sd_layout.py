"""Where things sit in the examples of an SD test segment: the two sets, the separator and the two
copies of the shared token (the answer), for every example and every JR-p pass.

Layout of one pass (``a = |A|``, ``b = |B|``; :mod:`synthetic.tasks.sd`)::

    column    0    1 .. a    a+1   a+2 .. a+b+1
    input     1    A         2     B

JR-p repeats the pass ``p`` times (``context_len = a + b + 2`` columns each), then the answer
token ``3``, whose label is the shared token. :func:`shared_copies` reads this layout from a
:class:`~synthetic.tasks.data.Segment` of the ``sd`` or ``sd_distractor`` task and checks it;
:func:`absent_tokens` draws, per example, set tokens that occur nowhere in it (what the copy
intervention writes in place of a copy).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from synthetic.tasks.config import SDSegmentConfig
from synthetic.tasks.data import Segment, SplitData
from synthetic.tasks.tokens import ANSWER, IGNORE_INDEX, SEP, START, sd_set_range

__all__ = [
    "ORDERS",
    "SharedCopies",
    "absent_tokens",
    "check_vocab",
    "order_of",
    "segments_of",
    "shared_copies",
]

#: order labels of an SD segment by its sizes: the set read first is shorter, longer, or equal
ORDERS: tuple[str, ...] = ("short-first", "long-first", "equal")


def order_of(size_a: int, size_b: int) -> str:
    """``"short-first"`` if |A| < |B|, ``"long-first"`` if |A| > |B|, else ``"equal"``."""
    return ORDERS[0] if size_a < size_b else ORDERS[1] if size_a > size_b else ORDERS[2]


def segments_of(data: SplitData | Segment | Iterable[Segment]) -> list[Segment]:
    """The segments of a split, a single segment, or a sequence of segments, as a list."""
    if isinstance(data, SplitData):
        return list(data.segments)
    if isinstance(data, Segment):
        return [data]
    segments = list(data)
    bad = [type(s).__name__ for s in segments if not isinstance(s, Segment)]
    if bad or not segments:
        raise TypeError(
            f"data must be a SplitData, a Segment or a non-empty sequence of Segments; got {bad or 'nothing'}"
        )
    return segments


@dataclass(frozen=True, eq=False)
class SharedCopies:
    """The layout of one SD segment's ``n_ex`` examples and where the shared token's copies are.

    name          the segment's slice name
    inputs        int64 ``[n_ex, T]`` (read-only view of the segment)
    prefix_len    int64 ``[n_ex]``
    size_a        |A| (the set read first), ``size_b`` |B|
    passes        JR-p copies of the context; ``context_len`` columns each
    shared        int64 ``[n_ex]``: the shared token (the label)
    first_index   int64 ``[n_ex]``: its index in A (0-based); ``second_index`` its index in B
    first_cols    int64 ``[n_ex, passes]``: the columns of its copy in A, one per pass;
                  ``second_cols`` likewise in B
    """

    name: str
    inputs: np.ndarray
    prefix_len: np.ndarray
    size_a: int
    size_b: int
    passes: int
    context_len: int
    shared: np.ndarray
    first_index: np.ndarray
    second_index: np.ndarray

    @property
    def num_examples(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def order(self) -> str:
        """:func:`order_of` the sizes."""
        return order_of(self.size_a, self.size_b)

    @property
    def separator_col(self) -> int:
        """The column of the first pass's separator (A has been read, B not yet)."""
        return self.size_a + 1

    @property
    def answer_col(self) -> int:
        """The column of the answer token, the only labelled position (the last one)."""
        return int(self.inputs.shape[1]) - 1

    def _cols(self, offset: np.ndarray) -> np.ndarray:
        starts = np.arange(self.passes, dtype=np.int64) * self.context_len
        return offset[:, None] + starts[None, :]

    @property
    def first_cols(self) -> np.ndarray:
        return self._cols(1 + self.first_index)

    @property
    def second_cols(self) -> np.ndarray:
        return self._cols(self.size_a + 2 + self.second_index)

    def first_set(self) -> np.ndarray:
        """int64 ``[n_ex, size_a]``: the tokens of A in reading order."""
        return self.inputs[:, 1 : 1 + self.size_a]

    def second_set(self) -> np.ndarray:
        """int64 ``[n_ex, size_b]``: the tokens of B in reading order (a distractor may repeat)."""
        return self.inputs[:, self.size_a + 2 : self.size_a + 2 + self.size_b]

    def take(self, rows: np.ndarray) -> SharedCopies:
        """These copies restricted to the examples ``rows`` (int indices, in that order)."""
        return replace(
            self,
            inputs=self.inputs[rows],
            prefix_len=self.prefix_len[rows],
            shared=self.shared[rows],
            first_index=self.first_index[rows],
            second_index=self.second_index[rows],
        )


def _fail(name: str, what: str) -> ValueError:
    return ValueError(
        f"segment {name!r}: {what}; the copy intervention and the probes read SD segments whose label "
        "is the one token shared by A and B (task kinds 'sd' and 'sd_distractor')"
    )


def shared_copies(segment: Segment) -> SharedCopies:
    """Read and check the layout of an SD segment (see the module docstring).

    Raises ValueError naming the segment and what is wrong when it is not an SD segment with one
    label, the answer token last, ``1 A 2 B`` in every pass, and a label that occurs exactly once
    in A and once in B (so a decision segment, whose labels are YES / NO, is refused).
    """
    if not isinstance(segment, Segment):
        raise TypeError(f"segment must be a synthetic.tasks.data.Segment (got {type(segment).__name__})")
    cfg = segment.config
    if not isinstance(cfg, SDSegmentConfig):
        raise _fail(segment.name, f"its config is a {type(cfg).__name__}")
    a, b, p, c = cfg.size_a, cfg.size_b, segment.passes, segment.context_len
    inputs, labels = segment.inputs, segment.labels
    if c != a + b + 2 or inputs.shape[1] != p * c + 1:
        raise _fail(segment.name, f"context_len={c}, T={inputs.shape[1]} do not match |A|={a}, |B|={b}")
    if inputs.shape[0] and not np.all(labels[:, :-1] == IGNORE_INDEX):
        raise _fail(segment.name, "it has labels before the last column")
    if inputs.shape[0] and not np.all(inputs[:, -1] == ANSWER):
        raise _fail(segment.name, f"the last column is not the answer token {ANSWER}")
    starts = np.arange(p) * c
    if not (np.all(inputs[:, starts] == START) and np.all(inputs[:, starts + a + 1] == SEP)):
        raise _fail(segment.name, f"some pass is not '{START} A {SEP} B'")
    shared = labels[:, -1].astype(np.int64)
    set_a, set_b = inputs[:, 1 : 1 + a], inputs[:, a + 2 : a + 2 + b]
    in_a, in_b = set_a == shared[:, None], set_b == shared[:, None]
    once = (in_a.sum(axis=1) == 1) & (in_b.sum(axis=1) == 1)
    if not np.all(once):
        row = int(np.flatnonzero(~once)[0])
        raise _fail(
            segment.name,
            f"the label of example {row} ({int(shared[row])}) occurs {int(in_a[row].sum())} times in A "
            f"and {int(in_b[row].sum())} times in B, not once in each",
        )
    return SharedCopies(
        name=segment.name,
        inputs=inputs,
        prefix_len=segment.prefix_len,
        size_a=a,
        size_b=b,
        passes=p,
        context_len=c,
        shared=shared,
        first_index=np.argmax(in_a, axis=1).astype(np.int64),
        second_index=np.argmax(in_b, axis=1).astype(np.int64),
    )


def absent_tokens(inputs: np.ndarray, vocab_size: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """Per example, ``count`` distinct set tokens (from ``[4, V)``) that occur nowhere in its row,
    uniformly at random: int64 ``[n_ex, count]``. Raises ValueError when some row has fewer absent
    set tokens than ``count``."""
    lo, hi = sd_set_range(vocab_size)
    n = inputs.shape[0]
    present = np.zeros((n, vocab_size), dtype=bool)
    present[np.arange(n)[:, None], inputs] = True
    present[:, :lo] = True
    free = (~present).sum(axis=1)
    if n and int(free.min()) < count:
        raise ValueError(
            f"vocab_size={vocab_size}: an example leaves {int(free.min())} set tokens of [{lo}, {hi}) "
            f"unused, fewer than the {count} absent tokens asked for"
        )
    keys = rng.random((n, vocab_size))
    keys[present] = np.inf
    if count == 0 or n == 0:
        return np.zeros((n, count), dtype=np.int64)
    # the ``count`` smallest keys of each row in ascending order (ties: lower token first), as a
    # stable argsort's first ``count`` columns would give, without sorting all V keys
    picked = np.argpartition(keys, count - 1, axis=1)[:, :count]
    order = np.lexsort((picked, np.take_along_axis(keys, picked, axis=1)), axis=1)
    return np.take_along_axis(picked, order, axis=1).astype(np.int64)


def check_vocab(vocab_size: int, copies: Sequence[SharedCopies]) -> None:
    """ValueError if some segment's tokens do not fit a vocabulary of ``vocab_size``."""
    for c in copies:
        top = int(c.inputs.max()) if c.inputs.size else 0
        if top >= vocab_size:
            raise ValueError(
                f"segment {c.name!r} holds token {top}, outside the model's vocabulary [0, {vocab_size})"
            )
