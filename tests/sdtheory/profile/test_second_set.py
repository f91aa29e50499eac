"""Inside the second set: closed forms, colourings and bounds of both variants against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sdtheory import matrices
from sdtheory.combinatorics.graphs import chromatic_number, is_proper_coloring
from sdtheory.instances import Variant
from sdtheory.profile import ProfileBudget, cuts, decision_second, shared_second

SIZES_12 = [(n, k, l) for n in range(1, 13) for k in range(n + 1) for l in range(n + 1)]


@pytest.mark.parametrize(("n", "k", "l"), [(4, 1, 2), (5, 1, 3), (5, 2, 2), (6, 1, 3), (6, 2, 2), (6, 1, 4)])
def test_decision_second_set_bounds_bracket_the_exact_value(n: int, k: int, l: int) -> None:
    for j in range(1, l):
        budget = ProfileBudget(max_vertices=400, node_budget=50_000, max_triples=10**7)
        exact = cuts.cut_bounds(n, k, l, Variant.DECISION, k + 1 + j, budget)
        bounds = decision_second.decision_second_set_bounds(n, k, l, j)
        if exact is not None and exact.is_exact:
            assert bounds.lower <= exact.lower <= bounds.upper, (n, k, l, j, exact, bounds)


@pytest.mark.parametrize(
    ("n", "k", "l"), [(4, 1, 2), (5, 1, 3), (5, 2, 3), (6, 1, 4), (5, 3, 2), (6, 2, 4), (6, 3, 3)]
)
def test_decision_last_element_cover_is_the_brute_force_chromatic_number(n: int, k: int, l: int) -> None:
    cover = decision_second.decision_last_element_cover(n, k, l)
    assert cover is not None
    lower, upper, zero_sets = cover
    assert lower == upper == zero_sets.size
    built = cuts.cut_matrix(n, k, l, Variant.DECISION, k + l, 10**7)
    assert built is not None
    res = chromatic_number(matrices.incompatibility(np.unique(built[0], axis=0)), node_budget=200_000)
    assert res.lower <= lower <= res.upper
    if res.exact:
        assert res.lower == lower
    b = decision_second.decision_second_set_bounds(n, k, l, l - 1)
    assert b.lower <= lower <= b.upper


@pytest.mark.parametrize("n", range(3, 8))
def test_shared_second_set_closed_forms_are_brute_force(n: int) -> None:
    """k = 1: n; tight promise k + l = n + 1: n; last element pending, k >= 2, k + l <= n: n + 1."""
    checked = 0
    for k, l in itertools.product(range(1, n + 1), range(2, n + 1)):
        if k + l - 1 > n:
            continue
        for j in range(1, l):
            closed = shared_second.shared_second_set_states(n, k, l, j)
            if closed is None:
                continue
            built = cuts.cut_matrix(n, k, l, Variant.SHARED, k + 1 + j, 10**7)
            assert built is not None
            graph = matrices.incompatibility(np.unique(built[0], axis=0))
            if graph.shape[0] > 150:
                continue
            res = chromatic_number(graph, node_budget=20_000)
            assert res.lower <= closed <= res.upper, (n, k, l, j, res.lower, res.upper)
            checked += res.exact
    assert checked >= 3


def _second_set_prefixes(n: int, k: int, l: int, j: int) -> np.ndarray:
    """Prefix keys S | (Q << n) in the row order of cuts.cut_matrix (sorted, unique)."""
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
        closed = shared_second.shared_second_set_states(n, k, l, j)
        if closed is None:
            continue
        built = cuts.cut_matrix(n, k, l, Variant.SHARED, k + 1 + j, 10**7)
        assert built is not None
        mat, configs = built
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
        assert is_proper_coloring(matrices.incompatibility(mat), colour), (n, k, l, j)
        assert len(np.unique(colour)) <= closed


@pytest.mark.parametrize("n", range(3, 8))
def test_shared_second_set_bounds_bracket_brute_force(n: int) -> None:
    checked = 0
    for k, l in itertools.product(range(1, n + 1), range(2, n + 1)):
        if k + l - 1 > n:
            continue
        for j in range(1, l):
            b = shared_second.shared_second_set_basic_bounds(n, k, l, j)
            lower, upper = b.lower, b.upper
            assert 1 <= lower <= upper
            built = cuts.cut_matrix(n, k, l, Variant.SHARED, k + 1 + j, 10**7)
            assert built is not None
            graph = matrices.incompatibility(np.unique(built[0], axis=0))
            if graph.shape[0] > 120:
                continue
            res = chromatic_number(graph, node_budget=5000)
            assert lower <= res.upper and res.lower <= upper, (n, k, l, j)
            if res.exact:
                assert lower <= res.lower <= upper, (n, k, l, j)
                checked += 1
    assert checked >= 1
