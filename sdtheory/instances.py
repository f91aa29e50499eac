"""Set-disjointness (SD) instances and their stream encodings.

Setting (paper App. G, Remark G.14): a universe [n] = {0, ..., n-1}; Alice holds A, Bob holds B,
|A| = k, |B| = l. A one-pass stream is the first set's elements (in any order), one separator,
then the second set's elements. JR-p (Def G.28) repeats that whole stream p times, with nothing
between the copies: token i of the JR-p stream is token (i mod N) of the one-pass stream,
N = k + l + 1.

Token alphabet of a stream: the elements 0..n-1 and the separator ``n`` (``separator_token(n)``).
A streaming algorithm is told the stream's :class:`StreamLayout` (universe, the two sizes and the
number of passes) before the first token, exactly as the paper's recurrent model may depend on
the position index i (Def G.12); the layout is never counted as state. Symbols (n, k, l, N, p,
first, second): docs/theory/glossary.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from sdtheory.combinatorics.integers import ceil_log2, check_int

__all__ = [
    "GARInstance",
    "Order",
    "SDInstance",
    "StreamLayout",
    "Variant",
    "decode_stream",
    "encode_stream",
    "gar_code_bits",
    "gar_to_sd_calls",
    "sd_to_gar",
    "separator_token",
    "solve_gar_via_sd",
    "solve_sd_via_gar",
]


class Order(StrEnum):
    """Which set the stream presents first."""

    A_FIRST = "A-first"
    B_FIRST = "B-first"

    @classmethod
    def parse(cls, value: Order | str) -> Order:
        """Accept an :class:`Order` or one of its string values ("A-first", "B-first")."""
        if isinstance(value, Order):
            return value
        for member in cls:
            if value == member.value or value == member.name:
                return member
        allowed = ", ".join(repr(m.value) for m in cls)
        raise ValueError(f"order={value!r} is not a stream order; allowed: {allowed}")


class Variant(StrEnum):
    """What an SD algorithm must output.

    ``DECISION``: the bit "A ∩ B = ∅" (True iff disjoint), for every pair of sets.
    ``SHARED``: the paper's synthetic task (App. B.1, Alg. 1): under the promise |A ∩ B| = 1,
    output the unique shared element; inputs outside the promise may get any answer.
    """

    DECISION = "decision"
    SHARED = "shared-element"

    @classmethod
    def parse(cls, value: Variant | str) -> Variant:
        """Accept a :class:`Variant` or one of its string values ("decision", "shared-element")."""
        if isinstance(value, Variant):
            return value
        for member in cls:
            if value == member.value or value == member.name:
                return member
        allowed = ", ".join(repr(m.value) for m in cls)
        raise ValueError(f"variant={value!r} is not an SD variant; allowed: {allowed}")


def separator_token(n: int) -> int:
    """The separator token of streams over universe [n]: the value ``n`` itself."""
    return check_int("n", n, 1)


def _validate_set(name: str, elements: Iterable[int], n: int) -> tuple[int, ...]:
    values: list[int] = []
    for e in elements:
        values.append(check_int(f"{name} element", e))
    bad = [e for e in values if not 0 <= e < n]
    if bad:
        raise ValueError(f"{name} has elements {bad} outside the universe [0, {n - 1}] (n={n})")
    if len(set(values)) != len(values):
        dups = sorted({e for e in values if values.count(e) > 1})
        raise ValueError(f"{name} has duplicate elements {dups}; a set lists each element once")
    return tuple(values)


@dataclass(frozen=True)
class SDInstance:
    """One SD instance: universe size ``n`` and Alice's / Bob's sets.

    ``a`` and ``b`` keep the order given: it is the order in which a stream presents each set's
    elements. Set-valued views are :attr:`set_a` and :attr:`set_b`.
    """

    n: int
    a: tuple[int, ...]
    b: tuple[int, ...]

    def __post_init__(self) -> None:
        n = check_int("n", self.n, 1)
        object.__setattr__(self, "n", n)
        object.__setattr__(self, "a", _validate_set("A", self.a, n))
        object.__setattr__(self, "b", _validate_set("B", self.b, n))

    @classmethod
    def make(
        cls,
        n: int,
        a: Iterable[int],
        b: Iterable[int],
        k: int | None = None,
        l: int | None = None,
    ) -> SDInstance:
        """Build and validate an instance; if ``k`` / ``l`` are given, the sizes must match."""
        inst = cls(n, tuple(a), tuple(b))
        if k is not None and inst.k != k:
            raise ValueError(f"|A|={inst.k} but k={k} was declared")
        if l is not None and inst.l != l:
            raise ValueError(f"|B|={inst.l} but l={l} was declared")
        return inst

    @classmethod
    def random(
        cls, n: int, k: int, l: int, rng: np.random.Generator, intersecting: bool | None = None
    ) -> SDInstance:
        """Draw a uniformly random instance with |A| = k, |B| = l.

        ``intersecting=None`` draws both sets independently; ``True`` / ``False`` forces the
        answer (``False`` needs k + l <= n, ``True`` needs k, l >= 1).
        """
        n = check_int("n", n, 1)
        k = check_int("k", k, 0)
        l = check_int("l", l, 0)
        if k > n or l > n:
            raise ValueError(f"k={k}, l={l} must each be <= n={n}")
        if intersecting is None:
            a = rng.choice(n, size=k, replace=False)
            b = rng.choice(n, size=l, replace=False)
        elif intersecting:
            if k == 0 or l == 0:
                raise ValueError(f"an intersecting instance needs k, l >= 1 (k={k}, l={l})")
            perm = rng.permutation(n)
            a = perm[:k]
            shared = a[rng.integers(k)]
            rest = np.setdiff1d(np.arange(n), [shared])
            b_rest = rng.choice(rest, size=l - 1, replace=False)
            b = rng.permutation(np.concatenate([[shared], b_rest]))
        else:
            if k + l > n:
                raise ValueError(f"disjoint sets need k + l <= n (k={k}, l={l}, n={n})")
            perm = rng.permutation(n)
            a, b = perm[:k], perm[k : k + l]
        return cls(n, tuple(int(x) for x in a), tuple(int(x) for x in b))

    @property
    def k(self) -> int:
        """|A|."""
        return len(self.a)

    @property
    def l(self) -> int:
        """|B|."""
        return len(self.b)

    @property
    def set_a(self) -> frozenset[int]:
        return frozenset(self.a)

    @property
    def set_b(self) -> frozenset[int]:
        return frozenset(self.b)

    @property
    def intersection(self) -> frozenset[int]:
        return self.set_a & self.set_b

    @property
    def disjoint(self) -> bool:
        """The SD answer: True iff A ∩ B = ∅."""
        return not self.intersection

    def satisfies_promise(self, variant: Variant | str) -> bool:
        """Whether the instance is in the domain of ``variant`` (always, for the decision variant;
        |A ∩ B| = 1 for the shared-element variant)."""
        if Variant.parse(variant) is Variant.DECISION:
            return True
        return len(self.intersection) == 1

    def answer(self, variant: Variant | str = Variant.DECISION) -> bool | int:
        """The correct output: ``disjoint`` (bool) for the decision variant, the unique shared
        element (int) for the shared-element variant (ValueError if |A ∩ B| != 1)."""
        if Variant.parse(variant) is Variant.DECISION:
            return self.disjoint
        inter = self.intersection
        if len(inter) != 1:
            raise ValueError(
                f"the shared-element variant needs |A ∩ B| = 1; this instance has "
                f"|A ∩ B| = {len(inter)} ({sorted(inter)})"
            )
        return next(iter(inter))

    @classmethod
    def random_shared(cls, n: int, k: int, l: int, rng: np.random.Generator) -> SDInstance:
        """Draw a uniformly random instance with |A| = k, |B| = l and |A ∩ B| = 1 exactly (the
        promise of the shared-element variant; needs k, l >= 1 and k + l - 1 <= n)."""
        n = check_int("n", n, 1)
        k = check_int("k", k, 1)
        l = check_int("l", l, 1)
        if k + l - 1 > n:
            raise ValueError(f"|A ∩ B| = 1 needs k + l - 1 <= n (k={k}, l={l}, n={n})")
        perm = rng.permutation(n)
        a = perm[:k]
        shared = a[rng.integers(k)]
        b = rng.permutation(np.concatenate([[shared], perm[k : k + l - 1]]))
        return cls(n, tuple(int(x) for x in a), tuple(int(x) for x in b))

    def first_second(self, order: Order | str) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(first set, second set) as presented by a stream in ``order``."""
        return (self.a, self.b) if Order.parse(order) is Order.A_FIRST else (self.b, self.a)

    def layout(self, order: Order | str, passes: int = 1) -> StreamLayout:
        """The :class:`StreamLayout` of this instance's stream in ``order`` with ``passes``."""
        first, second = self.first_second(order)
        return StreamLayout(self.n, len(first), len(second), passes)


@dataclass(frozen=True)
class StreamLayout:
    """Shape of an SD stream: universe size, first / second set sizes, number of passes.

    Lengths are in tokens. One pass is ``first_size + 1 + second_size`` tokens.
    """

    n: int
    first_size: int
    second_size: int
    passes: int = 1

    def __post_init__(self) -> None:
        check_int("n", self.n, 1)
        check_int("first_size", self.first_size, 0)
        check_int("second_size", self.second_size, 0)
        check_int("passes", self.passes, 1)
        for name in ("first_size", "second_size"):
            if getattr(self, name) > self.n:
                raise ValueError(f"{name}={getattr(self, name)} exceeds the universe n={self.n}")

    @property
    def pass_length(self) -> int:
        """Tokens in one pass (N in the paper)."""
        return self.first_size + 1 + self.second_size

    @property
    def length(self) -> int:
        """Tokens in the whole stream (p * N)."""
        return self.passes * self.pass_length

    @property
    def separator(self) -> int:
        return self.n

    def separator_positions(self) -> np.ndarray:
        """Indices of the separator tokens, one per pass: int64 array of shape [passes]."""
        return np.arange(self.passes, dtype=np.int64) * self.pass_length + self.first_size


def encode_stream(inst: SDInstance, order: Order | str = Order.A_FIRST, passes: int = 1) -> np.ndarray:
    """Encode ``inst`` as a token stream.

    Returns an int64 array of shape [passes * (k + l + 1)]: ``first, n, second`` repeated
    ``passes`` times, where ``n`` is the separator token and first/second follow ``order``.
    """
    layout = inst.layout(order, passes)
    first, second = inst.first_second(order)
    one = np.array([*first, layout.separator, *second], dtype=np.int64)
    return np.tile(one, layout.passes)


def decode_stream(
    tokens: Sequence[int] | np.ndarray, layout: StreamLayout
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Inverse of :func:`encode_stream`: check ``tokens`` against ``layout`` and return
    (first set, second set) of the first pass.

    Raises ValueError naming the position if the length, a separator or a repeat is wrong.
    """
    arr = np.asarray(tokens, dtype=np.int64)
    if arr.ndim != 1 or arr.shape[0] != layout.length:
        raise ValueError(f"stream has shape {arr.shape}; layout {layout} needs ({layout.length},)")
    sep = layout.separator
    expected_sep = set(layout.separator_positions().tolist())
    for pos in np.flatnonzero(arr == sep).tolist():
        if pos not in expected_sep:
            raise ValueError(
                f"separator token {sep} at position {pos}; allowed only at {sorted(expected_sep)}"
            )
    for pos in sorted(expected_sep):
        if arr[pos] != sep:
            raise ValueError(f"position {pos} holds {int(arr[pos])}, expected the separator {sep}")
    bad = np.flatnonzero((arr < 0) | (arr > sep))
    if bad.size:
        raise ValueError(f"token {int(arr[bad[0]])} at position {int(bad[0])} is outside [0, {sep}]")
    one = arr[: layout.pass_length]
    for p in range(1, layout.passes):
        copy = arr[p * layout.pass_length : (p + 1) * layout.pass_length]
        if not np.array_equal(copy, one):
            raise ValueError(f"pass {p} differs from pass 0; a JR-p stream repeats one pass exactly")
    first = tuple(int(x) for x in one[: layout.first_size])
    second = tuple(int(x) for x in one[layout.first_size + 1 :])
    _validate_set("first set", first, layout.n)
    _validate_set("second set", second, layout.n)
    return first, second


# --------------------------------------------------------------------------------------------
# General associative recall (GAR, Def G.24) and the reductions SD <-> GAR (Props G.25 / G.26)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GARInstance:
    """A general associative recall input (Def G.24): key-value pairs, then queries.

    Tokens come from the vocabulary [c] = {0, ..., c-1}. ``keys`` and ``values`` have the same
    length (the number of pairs); ``queries`` may have any length (m != number of pairs is
    allowed) and may repeat. Keys must be distinct, so each query has at most one match: that
    is the hypothesis of Prop G.26.
    """

    c: int
    keys: tuple[int, ...]
    values: tuple[int, ...]
    queries: tuple[int, ...]

    def __post_init__(self) -> None:
        c = check_int("c", self.c, 1)
        object.__setattr__(self, "c", c)
        keys = _validate_set("keys", self.keys, c)  # distinct, in range
        values = _validate_tokens("values", self.values, c)
        queries = _validate_tokens("queries", self.queries, c)
        if len(values) != len(keys):
            raise ValueError(f"{len(keys)} keys but {len(values)} values; GAR pairs keys with values")
        object.__setattr__(self, "keys", keys)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "queries", queries)

    def answers(self) -> tuple[int | None, ...]:
        """For each query, the value of the matching key, or None (the paper's Null)."""
        table = dict(zip(self.keys, self.values, strict=True))
        return tuple(table.get(q) for q in self.queries)

    def tokens(self) -> np.ndarray:
        """The GAR token stream ``k_0, v_0, ..., k_{n-1}, v_{n-1}, q_0, ..., q_{m-1}``:
        int64 array of shape [2 * pairs + queries]."""
        pairs = [t for kv in zip(self.keys, self.values, strict=True) for t in kv]
        return np.array([*pairs, *self.queries], dtype=np.int64)


def _validate_tokens(name: str, tokens: Iterable[int], c: int) -> tuple[int, ...]:
    values: list[int] = []
    for t in tokens:
        values.append(check_int(f"{name} token", t))
    bad = [t for t in values if not 0 <= t < c]
    if bad:
        raise ValueError(f"{name} has tokens {bad} outside the vocabulary [0, {c - 1}] (c={c})")
    return tuple(values)


def sd_to_gar(inst: SDInstance) -> GARInstance:
    """Prop G.25 (SD <= GAR): keys = values = A, queries = B, vocabulary [n].

    A ∩ B = ∅ iff every query of the GAR instance answers None; under |A ∩ B| = 1 the one
    non-None answer is the shared element.
    """
    return GARInstance(inst.n, inst.a, inst.a, inst.b)


def solve_sd_via_gar(
    inst: SDInstance,
    gar_solver: Callable[[GARInstance], Sequence[int | None]],
    variant: Variant | str = Variant.DECISION,
) -> bool | int:
    """Solve SD with one call of a GAR solver (Prop G.25).

    Returns ``disjoint`` (decision) or the shared element (shared-element variant; ValueError if
    the GAR answers do not contain exactly one non-None value).
    """
    answers = list(gar_solver(sd_to_gar(inst)))
    if len(answers) != inst.l:
        raise ValueError(f"the GAR solver returned {len(answers)} answers for {inst.l} queries")
    hits = [x for x in answers if x is not None]
    if Variant.parse(variant) is Variant.DECISION:
        return not hits
    if len(set(hits)) != 1:
        raise ValueError(f"expected exactly one matching query under |A ∩ B| = 1, got answers {hits}")
    return hits[0]


def gar_code_bits(c: int) -> int:
    """d = ceil(log2(c + 1)): bits of the value code in Prop G.26. Value v in [c] is coded as the
    d-bit binary number v + 1, so the all-zero code is left for Null."""
    c = check_int("c", c, 1)
    return ceil_log2(c + 1)


def gar_to_sd_calls(gar: GARInstance) -> list[SDInstance]:
    """The d = ceil(log2(c + 1)) SD instances of Prop G.26: call l uses A := the set of queries
    and B := K_l = {k_j : bit l of code(v_j) is 1}, over the universe [c]."""
    d = gar_code_bits(gar.c)
    query_set = tuple(dict.fromkeys(gar.queries))  # distinct queries, first-occurrence order
    calls = []
    for bit in range(d):
        k_bit = tuple(k for k, v in zip(gar.keys, gar.values, strict=True) if ((v + 1) >> bit) & 1)
        calls.append(SDInstance(gar.c, query_set, k_bit))
    return calls


def solve_gar_via_sd(
    gar: GARInstance, sd_intersection: Callable[[SDInstance], Iterable[int]]
) -> tuple[int | None, ...]:
    """Prop G.26 (GAR <= SD): answer every query with ceil(log2(c + 1)) calls of an SD routine
    that returns the intersection A ∩ B (a bit per instance would not do).

    A query q that is no key is in no K_l, so all its bits are 0: Null. For q = k_j, bit l of
    code(v_j) is 1 iff q ∈ Q ∩ K_l. ``sd_intersection`` is called exactly
    :func:`gar_code_bits` times, on the instances of :func:`gar_to_sd_calls`.
    """
    codes = dict.fromkeys(gar.queries, 0)
    for bit, inst in enumerate(gar_to_sd_calls(gar)):
        inter = set(sd_intersection(inst))
        if not inter <= inst.set_a & inst.set_b:
            raise ValueError(
                f"the SD routine returned {sorted(inter)}, which is not inside A ∩ B = "
                f"{sorted(inst.intersection)} (call {bit})"
            )
        for q in inter:
            codes[q] |= 1 << bit
    return tuple(None if codes[q] == 0 else codes[q] - 1 for q in gar.queries)
