"""Exact communication complexity: brute force against closed forms, profiles, fooling sets, rank."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdtheory import comm
from sdtheory.bitsets import popcount, subset_masks
from sdtheory.graphs import chromatic_number, is_proper_coloring
from sdtheory.instances import Variant

SIZES_12 = [(n, k, l) for n in range(1, 13) for k in range(n + 1) for l in range(n + 1)]


def test_decision_distinct_rows_match_closed_form_for_every_n_up_to_12() -> None:
    for n, k, l in SIZES_12:
        rows = comm.distinct_rows(comm.sd_matrix(n, k, l))
        assert rows == comm.one_way_states_closed_form(n, k, l), (n, k, l)


def test_order_asymmetry_is_computed() -> None:
    # A-first needs C(n, |A|) states, B-first C(n, |B|): different whenever the sizes differ
    for n, k, l in SIZES_12:
        if 1 <= k < l and k + l <= n and math.comb(n, k) != math.comb(n, l):
            a_first = comm.one_way_states(n, k, l).states
            b_first = comm.one_way_states(n, l, k).states
            assert a_first < b_first and (a_first, b_first) == (math.comb(n, k), math.comb(n, l))


def test_shared_incompatibility_lemma_for_every_n_up_to_12() -> None:
    """Brute force: distinct k-sets at distance d are incompatible iff l >= 2 and d <= n - k - l + 2."""
    for n, k, l in SIZES_12:
        if k == 0 or l == 0 or k + l - 1 > n:
            continue
        inc = comm.shared_incompatible_distances(n, k, l)
        delta, m = n - k - l + 2, min(k, n - k)
        expected = [l >= 2 and 1 <= d <= delta for d in range(m + 1)]
        assert inc[: m + 1].tolist() == expected, (n, k, l)


@pytest.mark.parametrize("n", range(1, 8))
def test_shared_full_incompatibility_graph_depends_on_distance_only(n: int) -> None:
    for k, l in itertools.product(range(n + 1), repeat=2):
        inc = comm.incompatibility(comm.sd_matrix(n, k, l, Variant.SHARED))
        masks = subset_masks(n, k)
        d = popcount(masks[:, None] & ~masks[None, :]).astype(int)
        by_distance = comm.shared_incompatible_distances(n, k, l)[d]
        assert np.array_equal(inc, by_distance), (n, k, l)


def test_shared_closed_form_matches_brute_force_for_every_n_up_to_12() -> None:
    checked = 0
    for n, k, l in SIZES_12:
        closed = comm.one_way_states_closed_form(n, k, l, Variant.SHARED)
        if closed is None:
            continue
        res = comm.one_way_states(n, k, l, Variant.SHARED)
        assert res.exact and res.states == closed, (n, k, l, res)
        checked += 1
    assert checked > 300


@pytest.mark.parametrize("n", range(2, 8))
def test_baranyai_regime_is_attained_by_an_explicit_colouring(n: int) -> None:
    for k, l in itertools.product(range(1, n), range(2, n + 1)):
        m, delta = min(k, n - k), n - k - l + 2
        if k + l - 1 > n or delta != m - 1:
            continue
        graph = comm.incompatibility(comm.sd_matrix(n, k, l, Variant.SHARED))
        res = chromatic_number(graph, node_budget=50_000)
        assert res.exact and res.lower == comm.baranyai_states(n, m), (n, k, l)


@pytest.mark.parametrize("n", range(4, 9))
def test_shared_without_closed_form_gives_consistent_bounds(n: int) -> None:
    for k, l in itertools.product(range(1, n + 1), repeat=2):
        if comm.one_way_states_closed_form(n, k, l, Variant.SHARED) is not None:
            continue
        res = comm.one_way_states(n, k, l, Variant.SHARED, node_budget=2000)
        assert 1 <= res.lower <= res.upper <= math.comb(n, k)
        # all k-sets through a fixed (k - delta)-set are pairwise at distance <= delta: a clique
        delta = n - k - l + 2
        assert res.lower >= math.comb(n - (k - delta), delta), (n, k, l, res)


@pytest.mark.parametrize(("variant", "closed"), [("decision", lambda n: 2**n), ("shared-element", None)])
def test_full_matrix(variant: str, closed) -> None:
    for n in range(1, 7):
        brute, formula = comm.one_way_states_full(n, variant)
        assert brute == formula
        if closed is not None:
            assert formula == closed(n)
        else:
            assert formula == math.comb(n, n // 2)


# ---- memory profiles ----


@pytest.mark.parametrize("n", range(1, 5))
def test_profile_matches_sequence_level_ground_truth(n: int) -> None:
    """Every position, both variants, one to three passes: set-level == token-sequence level."""
    for k, l in itertools.product(range(n + 1), repeat=2):
        for variant in Variant:
            for p in (1, 2, 3) if n <= 3 else (1, 2):
                pts = comm.memory_profile(n, k, l, variant, p)
                assert [q.position for q in pts] == list(range(p * (k + l + 1) + 1))
                assert all(q.exact for q in pts)
                truth = comm.memory_profile_sequences(n, k, l, variant, p)
                assert [q.lower for q in pts] == truth, (n, k, l, variant, p)


@pytest.mark.parametrize(("n", "k", "l"), [(5, 2, 2), (5, 1, 3), (6, 2, 3), (6, 4, 1), (6, 3, 3), (7, 2, 2)])
@pytest.mark.parametrize("variant", list(Variant))
def test_profile_bounds_consistent(n: int, k: int, l: int, variant: Variant) -> None:
    pts = comm.memory_profile(n, k, l, variant, node_budget=3000)
    for q in pts:
        assert 1 <= q.lower <= q.upper and q.exact == (q.lower == q.upper)
    # after the separator: the one-way count; nothing at the separator token itself changes
    sep = comm.one_way_states(n, k, l, variant)
    assert (pts[k].lower, pts[k + 1].lower) == (sep.lower, sep.lower)
    if variant is Variant.DECISION and k + l <= n and k and l:
        assert pts[-1].lower == 2 and pts[k].exact


@pytest.mark.parametrize("n", range(3, 8))
def test_decision_first_set_closed_form_is_brute_force(n: int) -> None:
    """Inside the first set, i <= n - k: all C(n, i) prefixes are pairwise incompatible."""
    for k, l in itertools.product(range(1, n + 1), repeat=2):
        if k + l > n:
            continue
        for i in range(k + 1):
            mat, configs = comm._cut_matrix(n, k, l, Variant.DECISION, i, 10**7)
            graph = comm.incompatibility(mat)
            assert configs == math.comb(n, i)
            complete = bool(np.all(graph | np.eye(configs, dtype=bool)))
            assert complete == (min(i, n - i) <= n - k) or i == 0, (n, k, l, i)
            assert np.array_equal(graph, comm._decision_region1_graph(n, k, i)), (n, k, l, i)


@pytest.mark.parametrize(("n", "k", "l"), [(4, 1, 2), (5, 1, 3), (5, 2, 2), (6, 1, 3), (6, 2, 2), (6, 1, 4)])
def test_decision_second_set_bounds_bracket_the_exact_value(n: int, k: int, l: int) -> None:
    for j in range(1, l):
        exact = comm._profile_point(n, k, l, Variant.DECISION, k + 1 + j, 400, 50_000, 10**7)
        lower, upper, _ = comm._decision_region2_bounds(n, k, l, j)
        if exact.exact:
            assert lower <= exact.lower <= upper, (n, k, l, j, exact, lower, upper)


def test_jrp_profile_is_trivial_before_the_last_pass() -> None:
    for n, k, l, p in [(6, 2, 3, 2), (6, 3, 2, 3), (5, 2, 2, 4)]:
        pts = comm.memory_profile(n, k, l, "decision", p)
        length = k + l + 1
        assert all(q.lower == 1 for q in pts if q.position <= (p - 1) * length)
        assert pts[-1].lower == 2 and max(q.lower for q in pts) == 2


# ---- two-way: fooling sets and rank ----


@given(st.integers(1, 12), st.data())
def test_fooling_set_verified(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, n))
    l = data.draw(st.integers(0, n - k))
    pairs = comm.fooling_set(n, k, l)
    m = min(k, l)
    assert pairs.shape == (math.comb(2 * m, m), 2)
    assert comm.verify_fooling_set(n, pairs)
    assert np.all(popcount(pairs[:, 0]) == k) and np.all(popcount(pairs[:, 1]) == l)
    # a fooling set is at most (rank + 1)^2 (Dietzfelbinger, Hromkovic, Schnitger)
    assert pairs.shape[0] <= (comm.disjointness_rank_closed_form(n, k, l) + 1) ** 2


def test_verify_fooling_set_rejects_non_fooling_pairs() -> None:
    pairs = np.array([[0b0011, 0b1100], [0b0011, 0b0100]], dtype=np.uint64)  # same first set
    assert not comm.verify_fooling_set(4, pairs)
    mixed = np.array([[0b01, 0b10], [0b01, 0b01]], dtype=np.uint64)  # different answers
    assert not comm.verify_fooling_set(2, mixed)


@pytest.mark.parametrize("n", range(1, 11))
def test_rank_closed_forms(n: int) -> None:
    for k, l in itertools.product(range(n + 1), repeat=2):
        if k + l > n:
            continue
        mat = comm.sd_matrix(n, k, l)
        real, gf2 = comm.rank_real(mat), comm.rank_gf2(mat)
        assert real == comm.disjointness_rank_closed_form(n, k, l, "real") == math.comb(n, min(k, l))
        assert gf2 == comm.disjointness_rank_closed_form(n, k, l, "gf2"), (n, k, l)
        # consistent chain: distinct rows >= real rank >= GF(2) rank, and log-rank <= one-way bits
        rows = comm.distinct_rows(mat)
        assert rows >= real >= gf2
        assert math.ceil(math.log2(max(real, 1))) <= comm.one_way_states(n, k, l).bits or rows == 1


@settings(max_examples=20)
@given(st.integers(1, 9), st.integers(1, 9), st.integers(0, 2**32 - 1))
def test_rank_gf2_matches_a_reference_on_random_matrices(r: int, c: int, seed: int) -> None:
    mat = np.random.default_rng(seed).random((r, c)) < 0.5
    # reference: rank over GF(2) by brute force = log2 of the size of the row space
    span = {0}
    for row in mat:
        v = int("".join("1" if b else "0" for b in row), 2)
        span |= {x ^ v for x in span}
    assert comm.rank_gf2(mat) == int(math.log2(len(span)))


# ---- bad input ----


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: comm.sd_matrix(0, 0, 0), ValueError, "n=0"),
        (lambda: comm.sd_matrix(4, 5, 1), ValueError, "first=5"),
        (lambda: comm.sd_matrix(4, 1, -1), ValueError, "second=-1"),
        (lambda: comm.sd_matrix(4, 1, 1, "either"), ValueError, "variant='either'"),
        (lambda: comm.memory_profile(4, 1, 1, passes=0), ValueError, "passes=0"),
        (lambda: comm.fooling_set(4, 3, 2), ValueError, "k \\+ l <= n"),
        (lambda: comm.disjointness_rank_closed_form(4, 1, 1, "gf3"), ValueError, "field='gf3'"),
        (
            lambda: (
                comm.one_way_states(5, 2, 2, "shared-element").bits
                and comm.OneWayStates(5, 2, 2, Variant.SHARED, 1, 3, False, "x").states
            ),
            ValueError,
            "only bounded",
        ),
    ],
)
def test_bad_input_raises(call, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("n", range(2, 8))
def test_shared_first_set_lemma_is_brute_force(n: int) -> None:
    """Shared element, inside the first set: incompatible iff l >= 2 and 1 <= d <= n - k - l + 2."""
    for k, l in itertools.product(range(1, n + 1), repeat=2):
        if k + l - 1 > n:
            continue
        for i in range(1, k + 1):
            built = comm._cut_matrix(n, k, l, Variant.SHARED, i, 10**7)
            assert built is not None
            graph = comm.incompatibility(built[0])
            masks = subset_masks(n, i)
            d = popcount(masks[:, None] & ~masks[None, :]).astype(int)
            assert np.array_equal(graph, (l >= 2) & (d >= 1) & (d <= n - k - l + 2)), (n, k, l, i)
            closed = comm.shared_first_set_states(n, k, l, i)
            if closed is not None and math.comb(n, i) <= 40:
                res = chromatic_number(graph, node_budget=20_000)
                assert res.exact and res.lower == closed, (n, k, l, i)


def test_documented_profile_examples() -> None:
    # merging inside the first set beyond Myhill-Nerode classes
    assert [p.lower for p in comm.memory_profile(5, 4, 1)] == [1, 5, 5, 5, 5, 5, 2]
    # one state more than at the separator, one token into the second set: 3 bits instead of 2
    pts = comm.memory_profile(4, 1, 2)
    assert [p.lower for p in pts] == [1, 4, 4, 5, 2] and all(p.exact for p in pts)
    assert max(p.bits for p in pts) == comm.one_way_states(4, 1, 2).bits + 1


# ---- partitions into constant-weight codes (first set, separator) ----


def test_code_partition_positions_contain_the_brute_force_value() -> None:
    """Every first-set / separator position sent to the code partitions (n <= 8): the interval
    contains the chromatic number of the brute-force cut graph wherever that one is settled."""
    checked = 0
    for n in range(4, 9):
        for k, l in itertools.product(range(1, n + 1), repeat=2):
            for variant in Variant:
                pts = comm.memory_profile(n, k, l, variant, max_triples=0, max_cover_n=0)  # no brute force
                for q in pts[1 : k + 2]:
                    if not q.method.startswith("code partition"):
                        continue
                    cut = min(q.offset, k)
                    built = comm._cut_matrix(n, k, l, variant, cut, 10**7)
                    assert built is not None
                    graph = comm.incompatibility(np.unique(built[0], axis=0))
                    if graph.shape[0] > 40:
                        continue
                    res = chromatic_number(graph, node_budget=100_000)
                    if res.exact:
                        assert q.lower <= res.lower <= q.upper, (n, k, l, variant, q)
                        checked += 1
    assert checked >= 10


def test_code_partitions_close_former_intervals() -> None:
    # shared element at the separator: G(8, 3, 1) needs 7 (ceil(56 / A(8, 4, 3) = 8)); G(8, 4, 2) 35
    assert (
        comm.one_way_states(8, 3, 6, Variant.SHARED).lower,
        comm.one_way_states(8, 3, 6, "shared-element").exact,
    ) == (
        7,
        True,
    )
    res = comm.one_way_states(8, 4, 4, Variant.SHARED)
    assert res.exact and res.states == 35
    # decision inside the first set, i = 4 > n - k = 2: complementary pairs, 35 states
    q = comm.memory_profile(8, 6, 1)[4]
    assert q.exact and q.lower == 35


@pytest.mark.parametrize("n", range(3, 8))
def test_shared_second_set_closed_forms_are_brute_force(n: int) -> None:
    """k = 1: n; tight promise k + l = n + 1: n; last element pending, k >= 2, k + l <= n: n + 1."""
    checked = 0
    for k, l in itertools.product(range(1, n + 1), range(2, n + 1)):
        if k + l - 1 > n:
            continue
        for j in range(1, l):
            closed = comm.shared_second_set_states(n, k, l, j)
            if closed is None:
                continue
            built = comm._cut_matrix(n, k, l, Variant.SHARED, k + 1 + j, 10**7)
            assert built is not None
            graph = comm.incompatibility(np.unique(built[0], axis=0))
            if graph.shape[0] > 150:
                continue
            res = chromatic_number(graph, node_budget=20_000)
            assert res.lower <= closed <= res.upper, (n, k, l, j, res.lower, res.upper)
            checked += res.exact
    assert checked >= 3


def _second_set_prefixes(n: int, k: int, l: int, j: int) -> np.ndarray:
    """Prefix keys S | (Q << n) in the row order of comm._cut_matrix (sorted, unique)."""
    keys = set()
    for s in itertools.combinations(range(n), k):
        for t in itertools.combinations(range(n), l):
            if len(set(s) & set(t)) != 1:
                continue
            for q in itertools.combinations(t, j):
                keys.add(sum(1 << x for x in s) | (sum(1 << x for x in q) << n))
    return np.array(sorted(keys), dtype=np.int64)


@pytest.mark.parametrize(
    ("n", "k", "l"), [(5, 1, 3), (6, 1, 4), (5, 2, 4), (6, 3, 4), (5, 2, 2), (6, 2, 3), (7, 3, 3)]
)
def test_shared_second_set_colourings_are_proper(n: int, k: int, l: int) -> None:
    """The explicit colourings behind the closed forms, on the brute-force incompatibility graph."""
    for j in range(1, l):
        closed = comm.shared_second_set_states(n, k, l, j)
        if closed is None:
            continue
        mat, configs = comm._cut_matrix(n, k, l, Variant.SHARED, k + 1 + j, 10**7)
        keys = _second_set_prefixes(n, k, l, j)
        assert keys.size == configs
        s, q = keys & ((1 << n) - 1), keys >> n
        elements = np.arange(n)
        bits_s = (s[:, None] >> elements) & 1
        bits_q = (q[:, None] >> elements) & 1
        if k == 1:
            colour = np.argmax(bits_s, axis=1)
        elif k + l == n + 1:
            colour = (bits_s @ elements + bits_q @ elements) % n
        else:  # last element pending: one class for clean configurations, one per found element
            found = s & q
            colour = np.where(found == 0, n, np.log2(np.maximum(found, 1)).astype(int))
        assert is_proper_coloring(comm.incompatibility(mat), colour), (n, k, l, j)
        assert len(np.unique(colour)) <= closed


@pytest.mark.parametrize("n", range(3, 8))
def test_shared_second_set_bounds_bracket_brute_force(n: int) -> None:
    checked = 0
    for k, l in itertools.product(range(1, n + 1), range(2, n + 1)):
        if k + l - 1 > n:
            continue
        for j in range(1, l):
            lower, upper, _ = comm._shared_second_set_bounds(n, k, l, j)
            assert 1 <= lower <= upper
            built = comm._cut_matrix(n, k, l, Variant.SHARED, k + 1 + j, 10**7)
            graph = comm.incompatibility(np.unique(built[0], axis=0))
            if graph.shape[0] > 120:
                continue
            res = chromatic_number(graph, node_budget=5000)
            assert lower <= res.upper and res.lower <= upper, (n, k, l, j)
            if res.exact:
                assert lower <= res.lower <= upper, (n, k, l, j)
                checked += 1
    assert checked >= 1


@pytest.mark.parametrize(
    ("n", "k", "l"), [(4, 1, 2), (5, 1, 3), (5, 2, 3), (6, 1, 4), (5, 3, 2), (6, 2, 4), (6, 3, 3)]
)
def test_decision_last_element_cover_is_the_brute_force_chromatic_number(n: int, k: int, l: int) -> None:
    lower, upper, zero_sets = comm.decision_last_element_cover(n, k, l)
    assert lower == upper == zero_sets.size
    res = chromatic_number(
        comm.incompatibility(np.unique(comm._cut_matrix(n, k, l, Variant.DECISION, k + l, 10**7)[0], axis=0)),
        node_budget=200_000,
    )
    assert res.lower <= lower <= res.upper
    if res.exact:
        assert res.lower == lower
    b_lower, b_upper, _ = comm._decision_region2_bounds(n, k, l, l - 1)
    assert b_lower <= lower <= b_upper
