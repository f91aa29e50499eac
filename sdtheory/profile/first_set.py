"""Memory profile inside the first set and at the separator: distance graphs of i-sets.

After i of the k first-set elements, two prefixes (i-sets P, P') are incompatible iff
1 <= |P \\ P'| <= delta, with delta = n - k (decision, k + l <= n) or n - k - l + 2 (shared
element, l >= 2): the graph is G(n, i, delta), so the least number of states is a partition of
the i-sets into constant-weight codes (:mod:`sdtheory.combinatorics.codes`). The separator
carries no information: its count is that of i = k. Proofs: docs/theory/first-set.md; symbols as
in docs/theory/glossary.md (A-first convention: the first set has k elements).
"""

from __future__ import annotations

import math

import numpy as np

from sdtheory.combinatorics.bitsets import popcount, subset_masks
from sdtheory.combinatorics.codes import distance_graph_bounds, distance_graph_closed_form
from sdtheory.combinatorics.interval import Bounds
from sdtheory.instances import Variant
from sdtheory.matrices import check_sizes

__all__ = ["decision_first_set_graph", "first_set_bounds", "shared_first_set_states"]


def decision_first_set_graph(n: int, k: int, i: int) -> np.ndarray:
    """Decision, i elements of the first set read (k + l <= n, l >= 1): the incompatibility graph
    of the i-sets, bool [C(n, i), C(n, i)] in :func:`~sdtheory.combinatorics.bitsets.subset_masks`
    order: P, P' incompatible iff 1 <= |P \\ P'| <= n - k."""
    masks = subset_masks(n, i)
    d = popcount(masks[:, None] & ~masks[None, :])
    return (d >= 1) & (d <= n - k)


def shared_first_set_states(n: int, k: int, l: int, i: int) -> int | None:
    """Shared element, after i of the k first-set elements: the least number of states in closed
    form (None if unknown): 1 if no instance exists, l = 1 or i = 0; else the closed forms of
    G(n, i, n - k - l + 2) (:func:`~sdtheory.combinatorics.codes.distance_graph_closed_form`)."""
    n, k, l = check_sizes(n, k, l)
    if not 0 <= i <= k:
        raise ValueError(f"i={i} must satisfy 0 <= i <= k={k}")
    if k == 0 or l == 0 or k + l - 1 > n or l == 1 or i == 0:
        return 1
    return distance_graph_closed_form(n, i, n - k - l + 2)


def first_set_bounds(n: int, k: int, l: int, variant: Variant, i: int, tabu_iters: int = 3000) -> Bounds:
    """Certified bounds on the least number of states after i >= 1 of the k first-set elements
    (an instance with two different answers exists): C(n, i) when every two i-sets conflict,
    the closed forms of the distance lemma, else a partition into codes."""
    if variant is Variant.DECISION:
        if min(i, n - i) <= n - k:  # every two distinct i-sets are at distance <= n - k
            return Bounds.exactly(math.comb(n, i), "closed form: C(n, i)")
        return distance_graph_bounds(n, i, n - k, tabu_iters)
    closed = shared_first_set_states(n, k, l, i)
    if closed is not None:
        return Bounds.exactly(closed, "closed form: distance lemma")
    return distance_graph_bounds(n, i, n - k - l + 2, tabu_iters)
