"""Pairwise disjoint Steiner quadruple systems SQS(10): chi(10, 5, 1) = 8.

An SQS(n) is a family of 4-subsets of [n] containing every 3-subset exactly once.
:func:`disjoint_sqs_search` enumerates all 2520 SQS(10), checks that the symmetric group is
transitive on them, and finds at most 5 pairwise disjoint ones (about a second, cached). A
7-colouring of G(10, 4, 1), G(10, 5, 1) or G(11, 5, 1) would give 7, so
:func:`partition_lower_bound` raises their lower bounds from 7 to 8 in
:func:`sdtheory.combinatorics.codes.code_partition`. Proof: docs/theory/chi-10-5-1.md.
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
