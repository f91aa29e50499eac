"""Partitions of w-sets into constant-weight codes: every colouring proper, every bound sound."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdtheory.combinatorics import codes
from sdtheory.combinatorics.bitsets import popcount, subset_masks
from sdtheory.combinatorics.graphs import chromatic_number, is_proper_coloring

SMALL = [(n, w) for n in range(2, 10) for w in range(1, n)]


def _colours(c: np.ndarray) -> int:
    return int(c.max()) + 1


def test_distance_graph_is_the_definition() -> None:
    for n, w in SMALL:
        masks = subset_masks(n, w)
        for delta in range(1, min(w, n - w) + 1):
            adj = codes.distance_graph(n, w, delta)
            for a, b in itertools.combinations(range(masks.size), 2):
                d = len(
                    set(np.flatnonzero([(int(masks[a]) >> x) & 1 for x in range(n)]))
                    - set(np.flatnonzero([(int(masks[b]) >> x) & 1 for x in range(n)]))
                )
                assert adj[a, b] == adj[b, a] == (1 <= d <= delta)
            if n > 7:
                break


def test_sum_mod_n_is_proper_with_at_most_n_colours() -> None:
    for n, w in SMALL:
        c = codes.sum_mod_coloring(n, w)
        assert is_proper_coloring(codes.distance_graph(n, w, 1), c), (n, w)
        assert _colours(c) <= n


def test_power_sums_are_proper_with_at_most_p_to_the_delta_colours() -> None:
    for n, w in SMALL:
        p = codes.smallest_prime_at_least(n)
        for delta in range(1, min(w, n - w) + 1):
            c = codes.power_sum_coloring(n, w, delta)
            assert is_proper_coloring(codes.distance_graph(n, w, delta), c), (n, w, delta)
            assert _colours(c) <= p**delta


def test_complementary_pairs_are_proper() -> None:
    for w in range(1, 6):
        n = 2 * w
        c = codes.complement_pair_coloring(n, w)
        assert _colours(c) == math.comb(n, w) // 2
        for delta in range(1, w):
            assert is_proper_coloring(codes.distance_graph(n, w, delta), c)


def test_smallest_prime() -> None:
    assert [codes.smallest_prime_at_least(m) for m in (0, 2, 4, 8, 11, 14, 16)] == [2, 2, 5, 11, 11, 17, 17]


def test_max_code_is_a_code_and_johnson_bounds_it() -> None:
    for n, w in SMALL:
        for delta in range(1, min(w, n - w) + 1):
            code, exact = codes.max_code(n, w, delta, node_budget=50_000)
            masks = subset_masks(n, w)[code]
            d = popcount(masks[:, None] & ~masks[None, :])
            assert np.all((d > delta) | np.eye(code.size, dtype=bool)), (n, w, delta)
            assert exact or math.comb(n, w) > 100
            assert code.size <= codes.johnson_bound(n, delta + 1, w), (n, w, delta)


def test_johnson_bound_known_values() -> None:
    # A(n, 2d, w) table values where the Johnson bound is tight
    assert codes.johnson_bound(7, 2, 3) == 7  # Fano plane
    assert codes.johnson_bound(9, 2, 3) == 12  # Steiner triple system S(2, 3, 9)
    assert codes.johnson_bound(8, 4, 4) == 2  # pairwise disjoint 4-sets
    assert codes.johnson_bound(8, 3, 4) >= 2  # A(8, 6, 4) = 2: the bound need not be tight
    assert codes.johnson_bound(10, 2, 3) == 13


@pytest.mark.parametrize(
    ("n", "w", "delta"), [(6, 3, 1), (7, 3, 1), (7, 3, 2), (8, 3, 1), (8, 3, 2), (8, 4, 2)]
)
def test_code_partition_brackets_the_exact_chromatic_number(n: int, w: int, delta: int) -> None:
    part = codes.code_partition(n, w, delta)
    adj = codes.distance_graph(n, w, delta)
    assert is_proper_coloring(adj, part.coloring) and _colours(part.coloring) == part.upper
    exact = chromatic_number(adj, node_budget=200_000)
    if exact.exact:
        assert part.lower <= exact.lower <= part.upper
    assert part.exact  # all of these close
    assert (
        part.lower
        == {(6, 3, 1): 6, (7, 3, 1): 6, (7, 3, 2): 18, (8, 3, 1): 7, (8, 3, 2): 28, (8, 4, 2): 35}[
            (n, w, delta)
        ]
    )


@settings(max_examples=25, deadline=None)
@given(st.integers(4, 10), st.data())
def test_code_partition_certificates(n: int, data: st.DataObject) -> None:
    w = data.draw(st.integers(2, n // 2))
    delta = data.draw(st.integers(1, max(1, w - 2)))
    part = codes.code_partition(n, w, delta, tabu_iters=500)
    adj = codes.distance_graph(n, w, delta)
    assert 1 <= part.lower <= part.upper <= math.comb(n, w)
    assert is_proper_coloring(adj, part.coloring) and _colours(part.coloring) == part.upper
    assert not adj[np.ix_(part.code, part.code)].any()
    assert part.code.size <= part.alpha_upper
    assert part.lower >= -(-math.comb(n, w) // part.alpha_upper)
    assert part.exact == (part.lower == part.upper)


def test_large_graph_uses_proven_counts_only() -> None:
    part = codes.code_partition(16, 6, 2, max_vertices=100)
    p = codes.smallest_prime_at_least(16)
    assert part.coloring.size == 0 and part.upper == min(math.comb(16, 6), p**2)
    assert part.lower == max(math.comb(12, 2), -(-math.comb(16, 6) // codes.johnson_bound(16, 3, 6)))


def test_stored_colorings_are_proper_with_the_stated_colour_count() -> None:
    from sdtheory.combinatorics.code_certificates import COLORINGS

    assert COLORINGS
    for (n, w, delta), (k, _) in COLORINGS.items():
        assert 2 * w <= n
        for side in (w, n - w):
            c = codes.stored_coloring(n, side, delta)
            assert c is not None and c.shape == (math.comb(n, side),)
            assert _colours(c) == k and np.unique(c).size == k
            # independent check of properness from the definition: |P \ P'| in 1..delta
            masks = subset_masks(n, side)
            d = popcount(masks[:, None] & ~masks[None, :])
            assert not np.any((d >= 1) & (d <= delta) & (c[:, None] == c[None, :])), (n, side, delta)
            # every colour class is a code, so it has at most A(n, 2 delta + 2, w) members
            assert np.bincount(c).max() <= codes.johnson_bound(n, delta + 1, side)


def test_corrupt_stored_coloring_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    from sdtheory.combinatorics import code_certificates

    k, hexdata = code_certificates.COLORINGS[(10, 5, 2)]
    data = bytearray(bytes.fromhex(hexdata))
    data[1] = data[0]  # {0..3, 5} and {0..4} are at distance 1: now a monochromatic edge
    bad = {(10, 5, 2): (k, data.hex()), (10, 4, 1): (3, hexdata[:420])}
    monkeypatch.setattr(code_certificates, "COLORINGS", bad)
    with pytest.raises(ValueError, match="not a proper"):
        codes.stored_coloring(10, 5, 2)
    with pytest.raises(ValueError, match="not a proper"):
        codes.stored_coloring(10, 4, 1)
    assert codes.stored_coloring(9, 3, 1) is None


@pytest.mark.parametrize(
    ("n", "w", "delta", "chi"), [(10, 4, 2, 42), (10, 5, 2, 42), (11, 4, 2, 55), (12, 6, 3, 231)]
)
def test_stored_certificates_close_the_interval(n: int, w: int, delta: int, chi: int) -> None:
    # ceil(V / alpha) = V / alpha: every colour class of the stored colouring is a maximum code
    part = codes.code_partition(n, w, delta, tabu_iters=0)
    assert part.exact and part.lower == part.upper == chi
    assert math.comb(n, w) == chi * part.alpha_upper and part.alpha_exact
    assert np.all(np.bincount(part.coloring) == part.alpha_upper)
