"""Shared element inside the second set: the bounds of sdtheory.profile.shared_second against brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdtheory import matrices
from sdtheory.combinatorics.graphs import chromatic_number, is_clique, is_proper_coloring
from sdtheory.instances import Variant
from sdtheory.profile import cuts
from sdtheory.profile import shared_second as ss


def _positions(max_n: int, max_size: int | None = None) -> list[tuple[int, int, int, int]]:
    out: list[tuple[int, int, int, int]] = []
    for n in range(1, max_n + 1):
        top = n if max_size is None else min(n, max_size)
        for k in range(1, top + 1):
            for l in range(2, top + 1):
                if k + l - 1 <= n:
                    out.extend((n, k, l, j) for j in range(1, l))
    return out


SMALL = _positions(7)


def _graph(n: int, k: int, l: int, j: int) -> np.ndarray:
    built = cuts.cut_matrix(n, k, l, Variant.SHARED, k + 1 + j, 10**9)
    assert built is not None
    mat, _ = built
    pf = ss.partial_functions(n, k, l, j)
    # the decoded configurations are exactly the brute-force rows, in the same order
    assert mat.shape == pf.shape and np.array_equal(mat, pf), (n, k, l, j)
    return matrices.incompatibility(mat)


@pytest.mark.parametrize("n", range(3, 8))
def test_constructions_on_brute_force_graphs(n: int) -> None:
    """Every position with n <= 7: both chain colourings are proper with the claimed number of
    colours, the clique of Theorem B is a clique of the claimed size, and lower <= upper."""
    for nn, k, l, j in SMALL:
        if nn != n:
            continue
        adj = _graph(n, k, l, j)
        for family, w in (("k", k), ("u", k + j - 1)):
            col = ss.chain_colouring(n, k, l, j, family)
            assert is_proper_coloring(adj, col), (n, k, l, j, family)
            assert np.unique(col).size <= math.comb(n - 1, w) + n
        lower_b = ss.theorem_b_lower(n, k, l, j)
        if lower_b is not None:
            s, q = ss.configurations(n, k, l, j)
            row = {key: i for i, key in enumerate(zip(s.tolist(), q.tolist(), strict=True))}
            cs, cq = ss.clique_configurations(n, k, l, j)
            idx = np.array([row[key] for key in zip(cs.tolist(), cq.tolist(), strict=True)])
            assert np.unique(idx).size == idx.size == lower_b, (n, k, l, j)
            assert is_clique(adj, idx), (n, k, l, j)
        b = ss.shared_second_set_bounds(n, k, l, j)
        lo, up = b.lower, b.upper
        assert lo <= up


@pytest.mark.parametrize(
    ("n", "k", "l", "j", "chi"),
    [(5, 2, 3, 1, 11), (6, 2, 3, 1, 16), (6, 2, 4, 1, 16), (7, 2, 3, 1, 22), (7, 2, 4, 1, 22)],
)
def test_closed_form_matches_exact_colouring(n: int, k: int, l: int, j: int, chi: int) -> None:
    """Where the brute-force colouring finishes, the closed form C(n - 1, k) + n is the exact value."""
    b = ss.shared_second_set_bounds(n, k, l, j)
    lo, up, method = b.lower, b.upper, b.method
    assert lo == up == chi == math.comb(n - 1, k) + n and method.startswith("closed form")
    res = chromatic_number(_reduced(n, k, l, j), node_budget=20_000)
    assert res.lower <= chi <= res.upper
    if res.exact:
        assert res.upper == chi


def _reduced(n: int, k: int, l: int, j: int) -> np.ndarray:
    built = cuts.cut_matrix(n, k, l, Variant.SHARED, k + 1 + j, 10**9)
    assert built is not None
    mat, _ = built
    return matrices.incompatibility(np.unique(mat, axis=0))


def test_bounds_intersect_brute_force_intervals() -> None:
    """The certified interval of the generic colouring search always meets [lower, upper]."""
    for n, k, l, j in [(6, 2, 4, 2), (6, 3, 3, 1), (7, 2, 5, 3)]:
        res = chromatic_number(_reduced(n, k, l, j), node_budget=2000)
        b = ss.shared_second_set_bounds(n, k, l, j)
        lo, up = b.lower, b.upper
        assert res.lower <= up and lo <= res.upper, (n, k, l, j, res.lower, res.upper, lo, up)


POSITIONS_16 = _positions(16, 6)


@given(st.sampled_from(POSITIONS_16))
def test_never_weaker_than_the_basic_bounds(pos: tuple[int, int, int, int]) -> None:
    n, k, l, j = pos
    b = ss.shared_second_set_bounds(n, k, l, j)
    lo, up = b.lower, b.upper
    closed = ss.shared_second_set_states(n, k, l, j)
    if closed is not None:
        assert lo == up == closed
        return
    old = ss.shared_second_set_basic_bounds(n, k, l, j)
    old_lo, old_up = old.lower, old.upper
    assert old_lo <= lo <= up <= old_up
    assert up <= ss.theorem_a_upper(n, k, l, j)
    theorem_b = ss.theorem_b_lower(n, k, l, j)
    assert theorem_b is not None and lo >= theorem_b
    if j == 1 and n - k - l + 2 >= k:
        assert lo == up == math.comb(n - 1, k) + n


def test_all_positions_up_to_16_are_consistent() -> None:
    for n, k, l, j in POSITIONS_16:
        b = ss.shared_second_set_bounds(n, k, l, j)
        lo, up = b.lower, b.upper
        assert 1 <= lo <= up, (n, k, l, j)


def test_rejects_invalid_positions() -> None:
    with pytest.raises(ValueError):
        ss.shared_second_set_bounds(5, 3, 4, 1)  # k + l - 1 > n
    with pytest.raises(ValueError):
        ss.shared_second_set_bounds(6, 2, 3, 3)  # j = l
    with pytest.raises(ValueError):
        ss.clique_configurations(6, 1, 3, 1)  # k = 1: outside Theorem B
