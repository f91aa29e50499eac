"""Pairwise disjoint Steiner quadruple systems SQS(10): chi(10, 4, 1), chi(10, 5, 1), chi(11, 5, 1) >= 8.

A *Steiner quadruple system* SQS(n) is a family of 4-subsets of [n] (blocks) containing every
3-subset of [n] in exactly one block; it has C(n, 3) / 4 blocks (30 for n = 10). Two systems
are *disjoint* if they have no block in common. :func:`disjoint_sqs_search` computes, by
exhaustive search, the largest number of pairwise disjoint SQS(10) on [10]: it is 5, so there
are never 7. :mod:`sdtheory.codes` turns this into the lower bound 8 for three distance graphs
G(n, w, 1) of delta = 1 (colour classes: codes of Hamming distance 4, i.e. families of w-sets
in which no (w - 1)-set lies in two members), where ceil(V / alpha) only gives 7:

**Lemma.** Each of the following partitions would yield 7 pairwise disjoint SQS(10):

(a) the 210 4-subsets of [10] into 7 classes (chi(10, 4, 1) = 7; also G(10, 6, 1) by
    complementation). A class contains each triple in at most one member (two members through
    a triple share 3 elements, distance 1), so 4 |C| <= C(10, 3) = 120, |C| <= 30. Seven classes
    hold 210 = 7 * 30 sets, so each has exactly 30 and then every triple lies in exactly one
    member: each class is an SQS(10), and the classes are disjoint.
(b) the 252 5-subsets of [10] into 7 classes (chi(10, 5, 1) = 7). Two members of a class share
    at most 3 elements. For a triple T the members through T are T ∪ {x, y} with {x, y} among the
    7 points outside T, and these pairs are pairwise disjoint (a common x would give two members
    sharing 4 elements), so at most 3 members contain T. Counting (T, member) incidences,
    C(5, 3) |C| = 10 |C| <= 3 * 120, |C| <= 36. Seven classes hold 252 = 7 * 36 sets, so each
    has exactly 36, and the count is tight: every triple T lies in exactly 3 members of every
    class, whose pairs cover 6 of the 7 points outside T. Let U_i be the set of 4-subsets of
    [10] contained in no member of class i. A 4-set T ∪ {x} lies in a member of class i iff x is
    covered by the 3 pairs of T (such a member contains T), so exactly one 4-set through T is
    in U_i: U_i is an SQS(10). A 4-set Q lies in 6 5-sets, pairwise sharing Q (distance 1), so
    in 6 different classes; each such class covers Q and Q is in U_i for exactly the seventh
    class i. So U_1..U_7 partition the 4-sets: 7 pairwise disjoint SQS(10).
(c) the 462 5-subsets of [11] into 7 classes (chi(11, 5, 1) = 7; also G(11, 6, 1)). Each 4-set
    lies in at most one member of a class, so 5 |C| <= C(11, 4) = 330, |C| <= 66; seven classes
    hold 462 = 7 * 66 sets, so each has exactly 66 and every 4-subset of [11] lies in exactly
    one member of every class. The *derived* family D_i = {B \\ {10} : 10 in B in class i} is
    then an SQS(10): a triple T of [10] lies in B \\ {10} iff T ∪ {10} lies in B, which holds for
    exactly one member B of class i (and that member contains 10). Distinct classes are
    disjoint, and B is recovered from B \\ {10}, so D_1..D_7 are 7 pairwise disjoint SQS(10).

**Search.** :func:`quadruple_systems` lists all SQS(n) on [n] as the exact covers of the triples
by 4-sets (:func:`sdtheory.packings.exact_covers`): 2520 for n = 10. The orbit of the first one
under the permutations of [n] is computed by closing it under two generators of S_n (the
transposition (0 1) and the cycle (0 1 ... n - 1)); it has 2520 members, so the symmetric group
is transitive on the systems. Hence if 7 pairwise disjoint systems exist, a permutation maps
one of them onto the first system S_0 and the images are 7 pairwise disjoint systems including
S_0: the other 6 form a clique of the disjointness graph on the systems disjoint from S_0.
There are 144 of those, and their maximum clique (:func:`sdtheory.graphs.max_clique`, exact,
required to finish) has 4 members: at most 5 SQS(10) are pairwise disjoint, and none of the
three partitions above exists. The whole search takes about a second and is cached.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sdtheory.combinatorics.exact_cover import exact_covers
from sdtheory.combinatorics.graphs import max_clique

__all__ = [
    "DisjointSQSSearch",
    "disjoint_sqs_search",
    "is_sqs",
    "partition_lower_bound",
    "quadruple_systems",
    "quads",
    "system_orbit",
]


def quads(n: int) -> list[tuple[int, int, int, int]]:
    """The 4-subsets of [n] in lexicographic order (their indices name blocks below)."""
    return list(itertools.combinations(range(n), 4))


def is_sqs(system: frozenset[int], n: int) -> bool:
    """Whether the blocks (indices into :func:`quads`) contain every triple of [n] exactly once."""
    q = quads(n)
    covered = [t for b in sorted(system) for t in itertools.combinations(q[b], 3)]
    return len(covered) == len(set(covered)) == math.comb(n, 3)


def quadruple_systems(n: int) -> list[frozenset[int]]:
    """All Steiner quadruple systems on [n] as sets of block indices into :func:`quads`: the
    exact covers of the triples by 4-sets (each 4-set covers its four triples)."""
    tidx = {t: k for k, t in enumerate(itertools.combinations(range(n), 3))}
    rows = [[tidx[t] for t in itertools.combinations(q, 3)] for q in quads(n)]
    return [frozenset(sol) for sol in exact_covers(list(range(len(tidx))), rows)]


def system_orbit(system: frozenset[int], n: int) -> set[frozenset[int]]:
    """The images of a family of 4-sets under all permutations of [n]: the closure under the
    transposition (0 1) and the cycle (0 1 ... n - 1), which generate the symmetric group."""
    q = quads(n)
    qidx = {b: k for k, b in enumerate(q)}
    gens = [[1, 0, *range(2, n)], [(x + 1) % n for x in range(n)]]
    images = [[qidx[tuple(sorted(g[x] for x in b))] for b in q] for g in gens]
    seen = {system}
    todo = [system]
    while todo:
        s = todo.pop()
        for img in images:
            t = frozenset(img[b] for b in s)
            if t not in seen:
                seen.add(t)
                todo.append(t)
    return seen


@dataclass(frozen=True)
class DisjointSQSSearch:
    """Result of :func:`disjoint_sqs_search`: ``systems`` SQS(n) on [n], the orbit of the first
    under S_n (``orbit`` = ``systems`` proves transitivity), ``partners`` systems disjoint from
    the first, and ``max_disjoint`` = 1 + the maximum clique among them: the largest number of
    pairwise disjoint SQS(n); ``example`` lists that many pairwise disjoint ones (indices)."""

    n: int
    systems: int
    orbit: int
    partners: int
    max_disjoint: int
    example: tuple[int, ...]


def _disjointness(systems: Sequence[frozenset[int]], n: int) -> np.ndarray:
    inc = np.zeros((len(systems), math.comb(n, 4)), dtype=np.int64)
    for i, s in enumerate(systems):
        inc[i, sorted(s)] = 1
    return (inc @ inc.T) == 0


@functools.cache
def disjoint_sqs_search(n: int = 10) -> DisjointSQSSearch:
    """The largest number of pairwise disjoint SQS(n) on [n] (n <= 10), by the search of the
    module docstring: enumerate all systems, check that S_n is transitive on them, and find a
    maximum clique of the disjointness graph among the systems disjoint from the first.
    Raises if transitivity fails or the clique search does not finish. Cached (about a second
    for n = 10)."""
    if n > 10:
        raise ValueError(f"n={n}: meant for n <= 10")
    systems = quadruple_systems(n)
    if not systems:
        return DisjointSQSSearch(n, 0, 0, 0, 0, ())
    orbit = system_orbit(systems[0], n)
    if len(orbit) != len(systems) or not orbit <= set(systems):
        raise AssertionError("S_n is not transitive on the SQS: the first system cannot be fixed")
    dis = _disjointness(systems, n)
    partners = np.flatnonzero(dis[0])
    clique, exact = max_clique(dis[np.ix_(partners, partners)], node_budget=10**7)
    if not exact:
        raise AssertionError("maximum clique search did not finish")
    example = (0, *sorted(int(partners[c]) for c in clique))
    return DisjointSQSSearch(n, len(systems), len(orbit), partners.size, len(example), example)


def partition_lower_bound(n: int, w: int, delta: int, lower: int) -> tuple[int, str] | None:
    """The lemma of this module as a lower bound on chi(n, w, delta), the least number of codes
    partitioning the w-subsets of [n] (:func:`sdtheory.combinatorics.codes.code_partition`).

    Applies to G(10, 4, 1), G(10, 5, 1), G(11, 5, 1) and their complements when the bound known
    so far is ``lower`` = 7: returns (8, reason) if :func:`disjoint_sqs_search` finds fewer than
    7 pairwise disjoint SQS(10); None where it does not apply.
    """
    if delta == 1 and (n, min(w, n - w)) in ((10, 4), (10, 5), (11, 5)) and lower == 7:
        if disjoint_sqs_search(10).max_disjoint < 7:
            return 8, "no 7 pairwise disjoint SQS(10) (exhaustive search)"
    return None
