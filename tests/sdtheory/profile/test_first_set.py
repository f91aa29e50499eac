"""Inside the first set: the distance lemma and the decision graph, against the brute-force cut graph."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from sdtheory import matrices
from sdtheory.combinatorics.bitsets import popcount, subset_masks
from sdtheory.combinatorics.graphs import chromatic_number
from sdtheory.instances import Variant
from sdtheory.profile import cuts, first_set

SIZES_12 = [(n, k, l) for n in range(1, 13) for k in range(n + 1) for l in range(n + 1)]


@pytest.mark.parametrize("n", range(3, 8))
def test_decision_first_set_closed_form_is_brute_force(n: int) -> None:
    """Inside the first set, i <= n - k: all C(n, i) prefixes are pairwise incompatible."""
    for k, l in itertools.product(range(1, n + 1), repeat=2):
        if k + l > n:
            continue
        for i in range(k + 1):
            built = cuts.cut_matrix(n, k, l, Variant.DECISION, i, 10**7)
            assert built is not None
            mat, configs = built
            graph = matrices.incompatibility(mat)
            assert configs == math.comb(n, i)
            complete = bool(np.all(graph | np.eye(configs, dtype=bool)))
            assert complete == (min(i, n - i) <= n - k) or i == 0, (n, k, l, i)
            assert np.array_equal(graph, first_set.decision_first_set_graph(n, k, i)), (n, k, l, i)


@pytest.mark.parametrize("n", range(2, 8))
def test_shared_first_set_lemma_is_brute_force(n: int) -> None:
    """Shared element, inside the first set: incompatible iff l >= 2 and 1 <= d <= n - k - l + 2."""
    for k, l in itertools.product(range(1, n + 1), repeat=2):
        if k + l - 1 > n:
            continue
        for i in range(1, k + 1):
            built = cuts.cut_matrix(n, k, l, Variant.SHARED, i, 10**7)
            assert built is not None
            graph = matrices.incompatibility(built[0])
            masks = subset_masks(n, i)
            d = popcount(masks[:, None] & ~masks[None, :]).astype(int)
            assert np.array_equal(graph, (l >= 2) & (d >= 1) & (d <= n - k - l + 2)), (n, k, l, i)
            closed = first_set.shared_first_set_states(n, k, l, i)
            if closed is not None and math.comb(n, i) <= 40:
                res = chromatic_number(graph, node_budget=20_000)
                assert res.exact and res.lower == closed, (n, k, l, i)
