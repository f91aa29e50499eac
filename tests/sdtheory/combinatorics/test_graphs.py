"""Chromatic number: certified bounds, exact on small graphs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdtheory.combinatorics.graphs import (
    chromatic_number,
    dsatur_coloring,
    exact_coloring,
    is_clique,
    is_proper_coloring,
    max_clique,
    rlf_coloring,
    tabu_coloring,
)


def _brute_chi(adj: np.ndarray) -> int:
    v = adj.shape[0]
    if v == 0:
        return 0
    for k in range(1, v + 1):
        for colors in itertools.product(range(k), repeat=v):
            c = np.array(colors)
            if not np.any(adj & (c[:, None] == c[None, :])):
                return k
    raise AssertionError("unreachable")


def _brute_omega(adj: np.ndarray) -> int:
    v = adj.shape[0]
    best = 0
    for r in range(v + 1):
        for sub in itertools.combinations(range(v), r):
            if all(adj[a, b] for a, b in itertools.combinations(sub, 2)):
                best = r
    return best


@st.composite
def graphs(draw: st.DrawFn, max_v: int = 7) -> np.ndarray:
    v = draw(st.integers(0, max_v))
    bits = draw(st.lists(st.booleans(), min_size=v * (v - 1) // 2, max_size=v * (v - 1) // 2))
    adj = np.zeros((v, v), dtype=bool)
    for (a, b), e in zip(itertools.combinations(range(v), 2), bits, strict=True):
        adj[a, b] = adj[b, a] = e
    return adj


@settings(max_examples=60)
@given(graphs())
def test_small_graphs_exact(adj: np.ndarray) -> None:
    res = chromatic_number(adj)
    assert res.exact and res.lower == res.upper == _brute_chi(adj)
    assert is_proper_coloring(adj, res.coloring)
    assert res.coloring.size == 0 or res.coloring.max() + 1 == res.upper
    assert is_clique(adj, res.clique)
    clique, exact = max_clique(adj)
    assert exact and clique.size == _brute_omega(adj)


@settings(max_examples=10)
@given(st.integers(0, 2**32 - 1))
def test_bounds_are_certified_on_larger_random_graphs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    v = 60
    adj = np.triu(rng.random((v, v)) < 0.5, 1)
    adj |= adj.T
    res = chromatic_number(adj, node_budget=2000)
    assert res.lower <= res.upper and is_proper_coloring(adj, res.coloring)
    assert is_clique(adj, res.clique) and res.clique.size <= res.lower
    assert res.upper <= dsatur_coloring(adj).max() + 1


def test_known_graphs() -> None:
    # odd cycle C5: chi 3, omega 2; complete graph K6: 6; Petersen graph: 3
    c5 = np.zeros((5, 5), dtype=bool)
    for i in range(5):
        c5[i, (i + 1) % 5] = c5[(i + 1) % 5, i] = True
    assert chromatic_number(c5).lower == 3
    k6 = ~np.eye(6, dtype=bool)
    assert chromatic_number(k6).upper == 6
    pairs = list(itertools.combinations(range(5), 2))
    petersen = np.array([[not set(a) & set(b) for b in pairs] for a in pairs])
    res = chromatic_number(petersen)
    assert res.exact and res.lower == 3


def test_bad_adjacency() -> None:
    with pytest.raises(TypeError, match="bool"):
        chromatic_number(np.zeros((2, 2), dtype=int))
    with pytest.raises(ValueError, match="symmetric"):
        chromatic_number(np.array([[False, True], [False, False]]))


@settings(max_examples=40)
@given(graphs(), st.integers(0, 2**16))
def test_rlf_tabu_and_exact_colourings(adj: np.ndarray, seed: int) -> None:
    chi = _brute_chi(adj)
    if adj.shape[0] == 0:
        return
    rlf = rlf_coloring(adj)
    assert is_proper_coloring(adj, rlf) and rlf.max() + 1 >= chi
    found = tabu_coloring(adj, chi, max_iters=2000, seed=seed)
    assert found is not None and is_proper_coloring(adj, found) and found.max() + 1 <= chi
    assert tabu_coloring(adj, chi - 1, max_iters=200, seed=seed) is None  # below chi: nothing proper
    k, col, done = exact_coloring(adj, int(rlf.max()) + 1, rlf)
    assert done and k == chi and is_proper_coloring(adj, col) and col.max() + 1 == k
