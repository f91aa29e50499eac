"""One-way state counts after the first set: brute force over the matrix against the closed forms."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from sdtheory import bounds, matrices, one_way, rank
from sdtheory.combinatorics import codes
from sdtheory.combinatorics.bitsets import popcount, subset_masks
from sdtheory.combinatorics.graphs import chromatic_number
from sdtheory.instances import Variant

SIZES_12 = [(n, k, l) for n in range(1, 13) for k in range(n + 1) for l in range(n + 1)]


def test_decision_distinct_rows_match_closed_form_for_every_n_up_to_12() -> None:
    for n, k, l in SIZES_12:
        rows = matrices.distinct_rows(matrices.sd_matrix(n, k, l))
        assert rows == bounds.one_way_states_closed_form(n, k, l), (n, k, l)


def test_order_asymmetry_is_computed() -> None:
    # A-first needs C(n, |A|) states, B-first C(n, |B|): different whenever the sizes differ
    for n, k, l in SIZES_12:
        if 1 <= k < l and k + l <= n and math.comb(n, k) != math.comb(n, l):
            a_first = one_way.one_way_states(n, k, l).states
            b_first = one_way.one_way_states(n, l, k).states
            assert a_first < b_first and (a_first, b_first) == (math.comb(n, k), math.comb(n, l))


def test_shared_incompatibility_lemma_for_every_n_up_to_12() -> None:
    """Brute force: distinct k-sets at distance d are incompatible iff l >= 2 and d <= n - k - l + 2."""
    for n, k, l in SIZES_12:
        if k == 0 or l == 0 or k + l - 1 > n:
            continue
        inc = one_way.shared_incompatible_distances(n, k, l)
        delta, m = n - k - l + 2, min(k, n - k)
        expected = [l >= 2 and 1 <= d <= delta for d in range(m + 1)]
        assert inc[: m + 1].tolist() == expected, (n, k, l)


@pytest.mark.parametrize("n", range(1, 8))
def test_shared_full_incompatibility_graph_depends_on_distance_only(n: int) -> None:
    for k, l in itertools.product(range(n + 1), repeat=2):
        inc = matrices.incompatibility(matrices.sd_matrix(n, k, l, Variant.SHARED))
        masks = subset_masks(n, k)
        d = popcount(masks[:, None] & ~masks[None, :]).astype(int)
        by_distance = one_way.shared_incompatible_distances(n, k, l)[d]
        assert np.array_equal(inc, by_distance), (n, k, l)


def test_shared_closed_form_matches_brute_force_for_every_n_up_to_12() -> None:
    checked = 0
    for n, k, l in SIZES_12:
        closed = bounds.one_way_states_closed_form(n, k, l, Variant.SHARED)
        if closed is None:
            continue
        res = one_way.one_way_states(n, k, l, Variant.SHARED)
        assert res.exact and res.states == closed, (n, k, l, res)
        checked += 1
    assert checked > 300


@pytest.mark.parametrize("n", range(2, 8))
def test_baranyai_regime_is_attained_by_an_explicit_colouring(n: int) -> None:
    for k, l in itertools.product(range(1, n), range(2, n + 1)):
        m, delta = min(k, n - k), n - k - l + 2
        if k + l - 1 > n or delta != m - 1:
            continue
        graph = matrices.incompatibility(matrices.sd_matrix(n, k, l, Variant.SHARED))
        res = chromatic_number(graph, node_budget=50_000)
        assert res.exact and res.lower == codes.baranyai_states(n, m), (n, k, l)


@pytest.mark.parametrize("n", range(4, 9))
def test_shared_without_closed_form_gives_consistent_bounds(n: int) -> None:
    for k, l in itertools.product(range(1, n + 1), repeat=2):
        if bounds.one_way_states_closed_form(n, k, l, Variant.SHARED) is not None:
            continue
        res = one_way.one_way_states(n, k, l, Variant.SHARED, node_budget=2000)
        assert 1 <= res.lower <= res.upper <= math.comb(n, k)
        # all k-sets through a fixed (k - delta)-set are pairwise at distance <= delta: a clique
        delta = n - k - l + 2
        assert res.lower >= math.comb(n - (k - delta), delta), (n, k, l, res)


@pytest.mark.parametrize(("variant", "closed"), [("decision", lambda n: 2**n), ("shared-element", None)])
def test_full_matrix(variant: str, closed) -> None:
    for n in range(1, 7):
        brute, formula = one_way.one_way_states_full(n, variant)
        assert brute == formula
        if closed is not None:
            assert formula == closed(n)
        else:
            assert formula == math.comb(n, n // 2)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: matrices.sd_matrix(0, 0, 0), ValueError, "n=0"),
        (lambda: matrices.sd_matrix(4, 5, 1), ValueError, "first=5"),
        (lambda: matrices.sd_matrix(4, 1, -1), ValueError, "second=-1"),
        (lambda: matrices.sd_matrix(4, 1, 1, "either"), ValueError, "variant='either'"),
        (lambda: rank.fooling_set(4, 3, 2), ValueError, "k \\+ l <= n"),
        (lambda: rank.disjointness_rank_closed_form(4, 1, 1, "gf3"), ValueError, "field='gf3'"),
        (
            lambda: (
                one_way.one_way_states(5, 2, 2, "shared-element").bits
                and one_way.OneWayStates(5, 2, 2, Variant.SHARED, 1, 3, False, "x").states
            ),
            ValueError,
            "only bounded",
        ),
    ],
)
def test_bad_input_raises(call, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call()


def test_exhaustive_sizes_are_limited() -> None:
    with pytest.raises(ValueError, match="n <= 16"):
        matrices.sd_matrix(17, 2, 2)
    with pytest.raises(ValueError, match="n <= 16"):
        one_way.one_way_states(17, 8, 8, "shared-element")
    with pytest.raises(ValueError, match="n <= 8"):
        one_way.one_way_states_full(9)
