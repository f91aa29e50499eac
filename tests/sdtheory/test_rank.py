"""Two-way communication complexity: fooling sets and the rank of the SD matrix."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdtheory import matrices, one_way, rank
from sdtheory.combinatorics.bitsets import popcount

SIZES_12 = [(n, k, l) for n in range(1, 13) for k in range(n + 1) for l in range(n + 1)]


@given(st.integers(1, 12), st.data())
def test_fooling_set_verified(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, n))
    l = data.draw(st.integers(0, n - k))
    pairs = rank.fooling_set(n, k, l)
    m = min(k, l)
    assert pairs.shape == (math.comb(2 * m, m), 2)
    assert rank.verify_fooling_set(n, pairs)
    assert np.all(popcount(pairs[:, 0]) == k) and np.all(popcount(pairs[:, 1]) == l)
    # a fooling set is at most (rank + 1)^2 (Dietzfelbinger, Hromkovic, Schnitger)
    assert pairs.shape[0] <= (rank.disjointness_rank_closed_form(n, k, l) + 1) ** 2


def test_verify_fooling_set_rejects_non_fooling_pairs() -> None:
    pairs = np.array([[0b0011, 0b1100], [0b0011, 0b0100]], dtype=np.uint64)  # same first set
    assert not rank.verify_fooling_set(4, pairs)
    mixed = np.array([[0b01, 0b10], [0b01, 0b01]], dtype=np.uint64)  # different answers
    assert not rank.verify_fooling_set(2, mixed)


@pytest.mark.parametrize("n", range(1, 11))
def test_rank_closed_forms(n: int) -> None:
    for k, l in itertools.product(range(n + 1), repeat=2):
        if k + l > n:
            continue
        mat = matrices.sd_matrix(n, k, l)
        real, gf2 = rank.rank_real(mat), rank.rank_gf2(mat)
        assert real == rank.disjointness_rank_closed_form(n, k, l, "real") == math.comb(n, min(k, l))
        assert gf2 == rank.disjointness_rank_closed_form(n, k, l, "gf2"), (n, k, l)
        # consistent chain: distinct rows >= real rank >= GF(2) rank, and log-rank <= one-way bits
        rows = matrices.distinct_rows(mat)
        assert rows >= real >= gf2
        assert math.ceil(math.log2(max(real, 1))) <= one_way.one_way_states(n, k, l).bits or rows == 1


@settings(max_examples=20)
@given(st.integers(1, 9), st.integers(1, 9), st.integers(0, 2**32 - 1))
def test_rank_gf2_matches_a_reference_on_random_matrices(r: int, c: int, seed: int) -> None:
    mat = np.random.default_rng(seed).random((r, c)) < 0.5
    # reference: rank over GF(2) by brute force = log2 of the size of the row space
    span = {0}
    for row in mat:
        v = int("".join("1" if b else "0" for b in row), 2)
        span |= {x ^ v for x in span}
    assert rank.rank_gf2(mat) == int(math.log2(len(span)))
