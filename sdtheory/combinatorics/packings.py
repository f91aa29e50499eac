"""Steiner triple systems, their large sets, and partitions of 4-sets into packings: chi(9, 4, 1) = 8.

A *packing* is a family of 4-subsets of [n] in which no 3-set lies in two members: a colour class
of the distance graph G(n, 4, 1). For n = 9, ceil(V / alpha) = 7 is not attained: a partition
into 7 packings would make the uncovered triples of the classes a large set of STS(9), and none
of the 128 large sets containing a fixed STS(9) admits one. :func:`packing_partition_search`
decides it by exhaustive search (about a second, cached); :func:`partition_lower_bound` hands the
result to :func:`sdtheory.combinatorics.codes.code_partition`. Proof: docs/theory/chi-9-4-1.md.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from sdtheory.combinatorics.exact_cover import exact_covers

__all__ = [
    "PackingSearch",
    "large_sets_containing",
    "packing_partition_search",
    "packing_partitions_for",
    "partition_lower_bound",
    "steiner_triple_systems",
    "sts_stabilizer",
    "triples",
]


def triples(n: int) -> list[tuple[int, int, int]]:
    """The 3-subsets of [n] in lexicographic order (their indices name triples below)."""
    return list(itertools.combinations(range(n), 3))


def steiner_triple_systems(n: int) -> list[frozenset[int]]:
    """All Steiner triple systems on [n] (every pair in exactly one triple), as sets of triple
    indices into :func:`triples`: the exact covers of the pairs by triples."""
    tri = triples(n)
    pairs = list(itertools.combinations(range(n), 2))
    rows = [list(itertools.combinations(t, 2)) for t in tri]
    return [frozenset(sol) for sol in exact_covers(pairs, rows)]


def _apply(perms: np.ndarray, system: frozenset[int], n: int) -> np.ndarray:
    """Bitmasks [len(perms), |system|] of the images of the triples of ``system``."""
    tri = np.array(triples(n), dtype=np.int64)[sorted(system)]
    bit = np.int64(1) << perms
    return bit[:, tri[:, 0]] | bit[:, tri[:, 1]] | bit[:, tri[:, 2]]


def sts_stabilizer(system: frozenset[int], n: int) -> np.ndarray:
    """All permutations g of [n] (rows, g[x] the image of x) mapping the triple system onto
    itself, found by testing every permutation (n <= 9)."""
    if n > 9:
        raise ValueError(f"n={n}: testing all n! permutations is meant for n <= 9")
    perms = np.array(list(itertools.permutations(range(n))), dtype=np.int64)
    own = _apply(perms[:1], system, n)[0]
    return perms[np.isin(_apply(perms, system, n), own).all(axis=1)]


def large_sets_containing(
    first: frozenset[int], systems: Sequence[frozenset[int]], n: int
) -> list[list[int]]:
    """All large sets of STS(n) containing ``first``: the other n - 3 systems (indices into
    ``systems``, sorted), pairwise disjoint, disjoint from ``first`` and covering the other
    triples."""
    rest = [t for t in range(math.comb(n, 3)) if t not in first]
    disjoint = [k for k, s in enumerate(systems) if not (s & first)]
    return [[disjoint[i] for i in sol] for sol in exact_covers(rest, [sorted(systems[k]) for k in disjoint])]


def packing_partitions_for(
    large_set: Sequence[frozenset[int]], n: int, limit: int | None = 1
) -> list[np.ndarray]:
    """Solutions of the exact cover (d) of the module docstring for one large set: colourings
    (class i of every 4-subset of [n], in lexicographic order of the 4-sets) in which class i
    covers every triple outside ``large_set[i]`` exactly once and none inside; at most ``limit``."""
    tidx = {t: k for k, t in enumerate(triples(n))}
    home = np.full(len(tidx), -1, dtype=np.int64)
    for i, system in enumerate(large_set):
        home[sorted(system)] = i
    if (home < 0).any() or sum(len(s) for s in large_set) != len(tidx):
        raise ValueError("not a partition of the triples")
    quads = list(itertools.combinations(range(n), 4))
    rows: list[list[Hashable]] = []
    meta: list[tuple[int, int]] = []
    for b, q in enumerate(quads):
        ts = [tidx[t] for t in itertools.combinations(q, 3)]
        banned = set(home[ts].tolist())
        for i in range(len(large_set)):
            if i not in banned:
                rows.append([("B", b)] + [(i, t) for t in ts])
                meta.append((b, i))
    columns: list[Hashable] = [("B", b) for b in range(len(quads))]
    columns += [(i, t) for i in range(len(large_set)) for t in range(len(tidx)) if home[t] != i]
    out = []
    for sol in exact_covers(columns, rows, limit=limit):
        col = np.full(len(quads), -1, dtype=np.int64)
        for r in sol:
            b, i = meta[r]
            col[b] = i
        out.append(col)
    return out


@dataclass(frozen=True)
class PackingSearch:
    """Result of :func:`packing_partition_search`: ``coloring`` is a partition of the 4-subsets
    of [n] (lexicographic order) into n - 2 packings, or None if there is none (a proof, by
    the reduction lemma: every large set containing the first system was searched)."""

    n: int
    systems: int
    stabilizer_order: int
    disjoint_systems: int
    large_sets: int
    coloring: np.ndarray | None


@functools.cache
def packing_partition_search(n: int = 9) -> PackingSearch:
    """Decide whether the 4-subsets of [n] split into n - 2 packings (n in {7, 9}), by the
    reduction of the module docstring: enumerate the STS(n), check that S_n is transitive on
    them (orbit size of the first one = number of systems), enumerate every large set
    containing the first and solve the 4-set exact cover for each. Stops at the first partition
    found. Cached per n (about a second for n = 9)."""
    if n not in (7, 9):
        raise ValueError(f"n={n}: implemented for n = 7 and 9 (n ≡ 1, 3 mod 6, all n! permutations)")
    systems = steiner_triple_systems(n)
    first = systems[0]
    stab = sts_stabilizer(first, n)
    if math.factorial(n) // stab.shape[0] != len(systems) or math.factorial(n) % stab.shape[0]:
        raise AssertionError("S_n is not transitive on the Steiner triple systems: reduction (e) fails")
    disjoint = sum(1 for s in systems if not (s & first))
    large = large_sets_containing(first, systems, n)
    for others in large:
        found = packing_partitions_for([first] + [systems[k] for k in others], n, limit=1)
        if found:
            return PackingSearch(n, len(systems), stab.shape[0], disjoint, len(large), found[0])
    return PackingSearch(n, len(systems), stab.shape[0], disjoint, len(large), None)


def partition_lower_bound(n: int, w: int, delta: int, lower: int) -> tuple[int, str] | None:
    """The integer argument of this module as a lower bound on chi(n, w, delta), the least number
    of codes partitioning the w-subsets of [n] (:func:`sdtheory.combinatorics.codes.code_partition`).

    Applies to G(9, 4, 1) and G(9, 5, 1) (complements) when the bound known so far is
    ``lower`` = 7 = n - 2: returns (8, reason) if :func:`packing_partition_search` finds no
    partition into 7 packings; None where it does not apply.
    """
    if delta == 1 and n == 9 and min(w, n - w) == 4 and lower == n - 2:
        if packing_partition_search(n).coloring is None:
            return n - 1, "no partition into n - 2 packings (large-set search)"
    return None
