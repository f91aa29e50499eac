"""The exhaustive searches behind chi(9, 4, 1) = 8 (Steiner triple systems, large sets, exact covers)
and chi(10, 5, 1) = 8 (pairwise disjoint Steiner quadruple systems SQS(10))."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdtheory.combinatorics import codes, exact_cover, packings, quadruple_systems
from sdtheory.combinatorics.bitsets import popcount, subset_masks
from sdtheory.combinatorics.graphs import is_proper_coloring


def _brute_force_covers(columns: list[int], rows: list[list[int]]) -> set[tuple[int, ...]]:
    out = set()
    for k in range(len(rows) + 1):
        for pick in itertools.combinations(range(len(rows)), k):
            used = [c for i in pick for c in rows[i]]
            if sorted(used) == sorted(columns):
                out.add(pick)
    return out


@given(st.integers(1, 6), st.lists(st.sets(st.integers(0, 5), min_size=1), max_size=9), st.data())
def test_exact_covers_match_brute_force(ncols: int, raw: list[set[int]], data: st.DataObject) -> None:
    columns = list(range(ncols))
    rows = [sorted(c for c in r if c < ncols) for r in raw]
    rows = [r for r in rows if r]
    got = [tuple(s) for s in exact_cover.exact_covers(columns, rows)]
    assert len(got) == len(set(got))
    assert set(got) == _brute_force_covers(columns, rows)
    limit = data.draw(st.integers(0, 3))
    assert len(list(exact_cover.exact_covers(columns, rows, limit=limit))) == min(limit, len(got))


def test_exact_covers_reject_bad_rows() -> None:
    with pytest.raises(ValueError, match="unknown"):
        list(exact_cover.exact_covers([0, 1], [[0, 2]]))
    with pytest.raises(ValueError, match="repeats"):
        list(exact_cover.exact_covers([0, 1], [[0, 0]]))


def _is_sts(system: frozenset[int], n: int) -> bool:
    tri = packings.triples(n)
    pairs = [p for t in sorted(system) for p in itertools.combinations(tri[t], 2)]
    return len(pairs) == len(set(pairs)) == math.comb(n, 2)


@pytest.mark.parametrize(("n", "count", "stab"), [(7, 30, 168), (9, 840, 432)])
def test_steiner_triple_systems_all_found_and_one_orbit(n: int, count: int, stab: int) -> None:
    systems = packings.steiner_triple_systems(n)
    assert len(systems) == len(set(systems)) == count
    assert all(_is_sts(s, n) for s in systems)
    # closed under all transpositions, which generate S_n: a union of orbits; the orbit of the
    # first system alone has n! / |stabiliser| = count members, so S_n is transitive on them
    tri = packings.triples(n)
    idx: dict[tuple[int, ...], int] = {t: k for k, t in enumerate(tri)}
    family = set(systems)
    for a, b in itertools.combinations(range(n), 2):
        g = list(range(n))
        g[a], g[b] = b, a
        for s in systems:
            image = frozenset(idx[tuple(sorted(g[x] for x in tri[t]))] for t in s)
            assert image in family
    order = packings.sts_stabilizer(systems[0], n).shape[0]
    assert order == stab and math.factorial(n) // order == count


def test_every_sts9_is_found_by_an_independent_search() -> None:
    # independent of the exact-cover solver: 12-subsets of triples built greedily pair by pair
    n, tri = 9, packings.triples(9)
    by_pair = {
        p: [k for k, t in enumerate(tri) if set(p) <= set(t)] for p in itertools.combinations(range(n), 2)
    }
    found = []

    def grow(chosen: list[int], covered: set[tuple[int, int]]) -> None:
        free = [p for p in by_pair if p not in covered]
        if not free:
            found.append(frozenset(chosen))
            return
        for k in by_pair[free[0]]:
            new = set(itertools.combinations(tri[k], 2))
            if not new & covered:
                grow([*chosen, k], covered | new)

    grow([], set())
    assert set(found) == set(packings.steiner_triple_systems(9))


def test_large_sets_cross_checked_by_cliques() -> None:
    n = 9
    systems = packings.steiner_triple_systems(n)
    first = systems[0]
    large = packings.large_sets_containing(first, systems, n)
    assert len(large) == 128
    for others in large:
        family = [first] + [systems[k] for k in others]
        assert sorted(t for s in family for t in s) == list(range(84))
    # independent count: 6-cliques of the disjointness graph on the systems disjoint from the first
    dis = [s for s in systems if not (s & first)]
    assert len(dis) == 192
    adj = np.array([[not (a & b) for b in dis] for a in dis])
    count = 0

    def extend(clique: list[int], cand: np.ndarray) -> None:
        nonlocal count
        if len(clique) == 6:
            count += 1
            return
        for v in np.flatnonzero(cand):
            extend([*clique, int(v)], cand & adj[v] & (np.arange(len(dis)) > v))

    extend([], np.ones(len(dis), dtype=bool))
    assert count == 128
    # 7 systems of 12 triples each are disjoint iff they partition the 84 triples
    assert not packings.large_sets_containing(first, systems[:1], n)


def test_reduction_lemma_on_maximum_packings() -> None:
    # (a), (b): a packing of maximum size M leaves a Steiner triple system uncovered
    for n in (7, 9):
        m = n * (n - 1) * (n - 3) // 24
        code, exact = codes.max_code(n, 4, 1)
        assert exact and code.size == m == math.comb(n, 4) // (n - 2)
        masks = subset_masks(n, 4)[code]
        covered = {
            t for q in masks for t in itertools.combinations([x for x in range(n) if int(q) >> x & 1], 3)
        }
        assert len(covered) == 4 * m  # each triple at most once
        idx = {t: k for k, t in enumerate(packings.triples(n))}
        uncovered = frozenset(idx[t] for t in idx if t not in covered)
        assert _is_sts(uncovered, n)


def test_reduction_on_n7_agrees_with_exact_colouring() -> None:
    # no large set of STS(7): 35 4-sets do not split into 5 packings; exact colouring says 6
    res = packings.packing_partition_search(7)
    assert (res.systems, res.stabilizer_order, res.disjoint_systems, res.large_sets) == (30, 168, 8, 0)
    assert res.coloring is None
    part = codes.code_partition(7, 4, 1)
    assert part.lower == part.upper == 6 and part.method == "exact DSATUR branch and bound"


def test_exact_cover_d_finds_the_trivial_solution() -> None:
    # n = 4, n - 2 = 2 classes: U_0 empty, U_1 all four triples; the one 4-set goes to class 0
    sols = packings.packing_partitions_for([frozenset(), frozenset(range(4))], 4, limit=None)
    assert [s.tolist() for s in sols] == [[0]]
    with pytest.raises(ValueError, match="partition"):
        packings.packing_partitions_for([frozenset(range(3))], 4)


def test_no_partition_by_an_independent_search() -> None:
    # independent of the 4-set exact cover: for each class, every family of 4-sets avoiding U_i
    # that covers the other 72 triples once (grown triple by triple, no solver), then whether
    # one such family per class can be chosen pairwise disjoint (they then partition the 126)
    n, tri = 9, packings.triples(9)
    idx = {t: k for k, t in enumerate(tri)}
    quads = [[idx[t] for t in itertools.combinations(q, 3)] for q in itertools.combinations(range(n), 4)]
    systems = packings.steiner_triple_systems(n)
    cache: dict[frozenset[int], list[int]] = {}

    def classes(u: frozenset[int]) -> list[int]:
        if u not in cache:
            ok = [b for b, ts in enumerate(quads) if not u & set(ts)]
            through = {t: [b for b in ok if t in quads[b]] for t in range(84) if t not in u}
            out: list[int] = []

            def grow(mask: int, covered: set[int]) -> None:
                free = [t for t in through if t not in covered]
                if not free:
                    out.append(mask)
                    return
                for b in through[free[0]]:
                    if not covered & set(quads[b]):
                        grow(mask | 1 << b, covered | set(quads[b]))

            grow(0, set())
            cache[u] = out
        return cache[u]

    first = systems[0]
    assert len(classes(first)) == 3  # each has 18 members
    assert all(bin(m).count("1") == 18 for m in classes(first))
    for others in packings.large_sets_containing(first, systems, n):
        options = [classes(first)] + [classes(systems[k]) for k in others]
        for pick in itertools.product(*options):
            union = 0
            for m in pick:
                if union & m:
                    break
                union |= m
            else:
                pytest.fail("a partition into 7 packings exists")


def test_chi_9_4_1_is_8() -> None:
    res = packings.packing_partition_search(9)
    assert (res.systems, res.stabilizer_order, res.disjoint_systems, res.large_sets) == (840, 432, 192, 128)
    assert res.coloring is None
    for w in (4, 5):
        part = codes.code_partition(9, w, 1, tabu_iters=0)
        assert part.lower == part.upper == 8 and part.exact
        assert is_proper_coloring(codes.distance_graph(9, w, 1), part.coloring)
        masks = subset_masks(9, w)
        d = popcount(masks[:, None] & ~masks[None, :])
        assert not np.any((d == 1) & (part.coloring[:, None] == part.coloring[None, :]))


# ---- pairwise disjoint Steiner quadruple systems: chi(10, 4, 1), chi(11, 5, 1) >= 8, chi(10, 5, 1) = 8 ----


@pytest.mark.parametrize(
    ("n", "count", "partners", "most"), [(4, 1, 0, 1), (8, 30, 8, 2), (10, 2520, 144, 5)]
)
def test_disjoint_sqs_search(n: int, count: int, partners: int, most: int) -> None:
    res = quadruple_systems.disjoint_sqs_search(n)
    assert (res.systems, res.orbit, res.partners, res.max_disjoint) == (count, count, partners, most)
    systems = quadruple_systems.quadruple_systems(n)
    assert len(set(systems)) == count and all(quadruple_systems.is_sqs(s, n) for s in systems)
    family = [systems[k] for k in res.example]
    assert all(not (a & b) for a, b in itertools.combinations(family, 2))


def test_every_sqs10_is_found_by_an_independent_search() -> None:
    # no exact-cover solver: blocks chosen for the first uncovered triple, as bitmasks of triples
    n = 10
    tri = list(itertools.combinations(range(n), 3))
    tbit = {t: 1 << k for k, t in enumerate(tri)}
    qs = list(itertools.combinations(range(n), 4))
    qmask = [sum(tbit[t] for t in itertools.combinations(q, 3)) for q in qs]
    through = [[b for b, q in enumerate(qs) if set(t) <= set(q)] for t in tri]
    full = (1 << len(tri)) - 1
    found: list[frozenset[int]] = []

    def grow(chosen: list[int], covered: int) -> None:
        if covered == full:
            found.append(frozenset(chosen))
            return
        free = (~covered & full) & -(~covered & full)
        for b in through[free.bit_length() - 1]:
            if not qmask[b] & covered:
                grow([*chosen, b], covered | qmask[b])

    grow([], 0)
    assert len(found) == len(set(found)) == 2520
    assert set(found) == set(quadruple_systems.quadruple_systems(n))


def test_at_most_five_disjoint_sqs10_by_plain_clique_counting() -> None:
    # independent of max_clique: every 4-clique among the partners of the first system has no
    # common neighbour, so no 5 partners (6 systems with the first) are pairwise disjoint
    systems = quadruple_systems.quadruple_systems(10)
    first = systems[0]
    dis = [s for s in systems if not (s & first)]
    assert len(dis) == 144
    adj = np.array([[not (a & b) for b in dis] for a in dis])
    four = 0
    for a, b in zip(*np.nonzero(np.triu(adj, 1)), strict=True):
        common = np.flatnonzero(adj[a] & adj[b] & (np.arange(len(dis)) > b))
        for c, d in itertools.combinations(common, 2):
            if adj[c, d]:
                four += 1
                assert not np.any(adj[a] & adj[b] & adj[c] & adj[d])
    assert four > 0
    # the transitivity check, rebuilt: images of the first system under all transpositions
    orbit = quadruple_systems.system_orbit(first, 10)
    assert orbit == set(systems)


def test_sqs_lemma_on_maximum_codes() -> None:
    # (a), (b), (c) of the lemma on maximum codes found by max_code
    n, qs = 10, quadruple_systems.quads(10)
    qidx: dict[tuple[int, ...], int] = {q: k for k, q in enumerate(qs)}

    def members(code: np.ndarray, nn: int, w: int) -> list[tuple[int, ...]]:
        masks = subset_masks(nn, w)[code]
        return [tuple(x for x in range(nn) if int(m) >> x & 1) for m in masks]

    code4, exact = codes.max_code(10, 4, 1)
    assert exact and code4.size == 30
    assert quadruple_systems.is_sqs(frozenset(qidx[q] for q in members(code4, 10, 4)), n)
    code5, exact = codes.max_code(10, 5, 1)
    assert exact and code5.size == 36
    covered = {q for b in members(code5, 10, 5) for q in itertools.combinations(b, 4)}
    assert len(covered) == 36 * 5  # each 4-set at most once
    assert quadruple_systems.is_sqs(frozenset(k for q, k in qidx.items() if q not in covered), n)
    # (c): a code of 66 5-subsets of [11] (one found by exact cover of the 4-sets) has an SQS(10)
    # as its derived family at the point 10
    fours = list(itertools.combinations(range(11), 4))
    fives = list(itertools.combinations(range(11), 5))
    rows = [list(itertools.combinations(b, 4)) for b in fives]
    (sol,) = exact_cover.exact_covers(fours, rows, limit=1)
    assert len(sol) == 66 == codes.johnson_bound(11, 2, 5)
    derived = frozenset(qidx[fives[i][:4]] for i in sol if fives[i][4] == 10)
    assert len(derived) == 30 and quadruple_systems.is_sqs(derived, n)


def test_chi_10_5_1_is_8_and_lower_ends_8() -> None:
    part = codes.code_partition(10, 5, 1, tabu_iters=0)
    assert part.lower == part.upper == 8 and part.exact
    assert is_proper_coloring(codes.distance_graph(10, 5, 1), part.coloring)
    for n, w in ((10, 4), (11, 5)):
        part = codes.code_partition(n, w, 1, tabu_iters=0)
        assert part.lower == 8 and "SQS(10)" in part.method, (n, w, part)
        assert is_proper_coloring(codes.distance_graph(n, w, 1), part.coloring)
    # n = 8 agrees with exact colouring: at most 2 disjoint SQS(8), and 5 packings of 14 would
    # be 5 disjoint SQS(8); the exact chromatic number is above 5
    assert codes.code_partition(8, 4, 1).lower > 5
