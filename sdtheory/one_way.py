"""One-pass (one-way) state counts of SD after the first set, by brute force over the matrix.

A deterministic one-pass algorithm is in some state after the first set and the separator, and
its answer is a function of that state and the second set. Two first sets can share a state iff
they are compatible (no second set valid for both gets different answers). For the decision
variant that is "equal rows" (Myhill–Nerode): the count is the number of distinct rows. Under
the shared-element promise compatibility is not transitive, and the count is the chromatic
number of the incompatibility graph. The brute force here checks the closed forms of
:func:`sdtheory.bounds.one_way_states_closed_form` (proofs: docs/theory/one-way-states.md).
Symbols as in docs/theory/glossary.md; exhaustive, so n <= 16.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sdtheory.bounds import one_way_states_closed_form
from sdtheory.combinatorics.bitsets import check_universe, popcount, subset_masks
from sdtheory.combinatorics.codes import baranyai_states, distance_graph_bounds
from sdtheory.combinatorics.graphs import chromatic_number
from sdtheory.combinatorics.integers import ceil_log2
from sdtheory.combinatorics.interval import Bounds
from sdtheory.instances import Variant
from sdtheory.matrices import check_sizes, distinct_rows, incompatibility, sd_matrix, sd_matrix_full

__all__ = [
    "MAX_FULL_STATES_N",
    "OneWayStates",
    "one_pass_states",
    "one_way_states",
    "one_way_states_full",
    "shared_incompatible_distances",
]

MAX_FULL_STATES_N = 8  # largest universe of the exact colouring over all 2^n subsets


@dataclass(frozen=True)
class OneWayStates:
    """Least number of states of a one-pass deterministic algorithm after the first set.

    ``lower`` <= true value <= ``upper``; ``exact`` iff they are equal. ``bits`` =
    ceil(log2(lower)) is then the exact one-way complexity in bits (a lower bound otherwise).
    """

    n: int
    first: int
    second: int
    variant: Variant
    lower: int
    upper: int
    exact: bool
    method: str

    @property
    def states(self) -> int:
        if not self.exact:
            raise ValueError(
                f"the one-way state count for n={self.n}, first={self.first}, second={self.second} "
                f"({self.variant.value}) is only bounded: [{self.lower}, {self.upper}]"
            )
        return self.lower

    @property
    def bits(self) -> int:
        """lg lower: bits every correct algorithm needs after the first set."""
        return ceil_log2(self.lower)

    @property
    def bits_upper(self) -> int:
        """lg upper: bits that suffice after the first set."""
        return ceil_log2(self.upper)

    @classmethod
    def from_bounds(cls, n: int, first: int, second: int, variant: Variant, bounds: Bounds) -> OneWayStates:
        """The count for a layout from a certified interval."""
        return cls(n, first, second, variant, bounds.lower, bounds.upper, bounds.is_exact, bounds.method)


def shared_incompatible_distances(n: int, k: int, l: int) -> np.ndarray:
    """Brute force, shared-element variant: for every distance d = |S \\ S'| in 0..k, whether two
    k-sets at that distance are incompatible (bool [k + 1]).

    Computed from the matrix row of S0 = {0..k-1} against every row S' and every column T (by
    symmetry of SD under permutations of [n] the answer depends on d only); independent of the
    lemma behind :func:`sdtheory.bounds.one_way_states_closed_form`, which it is used to check.
    """
    n, k, l = check_sizes(n, k, l)
    s_all = subset_masks(n, k)
    t_all = subset_masks(n, l)
    s0 = np.uint64((1 << k) - 1)
    a0 = s0 & t_all  # [C]
    valid0 = popcount(a0) == 1
    t_valid = t_all[valid0]
    a0 = a0[valid0]
    out = np.zeros(k + 1, dtype=bool)
    chunk = max(1, 4_000_000 // max(1, t_valid.size))
    for start in range(0, s_all.size, chunk):
        rows = s_all[start : start + chunk]
        b = rows[:, None] & t_valid[None, :]  # S' ∩ T for the columns valid for S0
        inc = np.any((popcount(b) == 1) & (b != a0[None, :]), axis=1)
        d = popcount(rows & ~s0)
        np.logical_or.at(out, d, inc)
    return out


def _graph_from_distances(masks: np.ndarray, incompatible_at: np.ndarray) -> np.ndarray:
    d = popcount(masks[:, None] & ~masks[None, :])
    return incompatible_at[d]


def one_way_states(
    n: int,
    first: int,
    second: int,
    variant: Variant | str = Variant.DECISION,
    *,
    node_budget: int = 20_000,
    max_vertices: int = 1000,
    tabu_iters: int = 3000,
) -> OneWayStates:
    """Least number of states after the first set, by brute force over the matrix.

    decision: distinct rows of :func:`sd_matrix` (exact). shared element: the incompatibility
    graph is computed exhaustively (the row of S0 against all rows and columns gives the
    incompatible distances, :func:`shared_incompatible_distances`), then its chromatic number:
    a complete or edgeless graph is exact, a graph whose compatible pairs are exactly the pairs
    at the largest distance uses Baranyai's theorem (ceil(V / alpha) below, the theorem above),
    and any other graph goes to :func:`sdtheory.combinatorics.graphs.chromatic_number` (exact or bounds).
    """
    n, k, l = check_sizes(n, first, second)
    variant = Variant.parse(variant)
    if variant is Variant.DECISION:
        rows = distinct_rows(sd_matrix(n, k, l, variant))
        return OneWayStates(n, k, l, variant, rows, rows, True, "distinct rows")
    if k == 0 or l == 0 or k + l - 1 > n:
        return OneWayStates(n, k, l, variant, 1, 1, True, "no instance satisfies the promise")
    inc_d = shared_incompatible_distances(n, k, l)
    m = min(k, n - k)
    total = math.comb(n, k)
    if not inc_d[1:].any():
        return OneWayStates(n, k, l, variant, 1, 1, True, "all rows compatible")
    if inc_d[1 : m + 1].all():
        return OneWayStates(n, k, l, variant, total, total, True, "all rows pairwise incompatible")
    if inc_d[1:m].all() and not inc_d[m]:
        b = baranyai_states(n, m)
        return OneWayStates(n, k, l, variant, b, b, True, "Baranyai: classes are matchings")
    delta = n - k - l + 2
    if l >= 2 and inc_d[: m + 1].tolist() == [1 <= d <= delta for d in range(m + 1)]:
        # the brute-force distances are those of the lemma: a partition into codes
        return OneWayStates.from_bounds(n, k, l, variant, distance_graph_bounds(n, k, delta, tabu_iters))
    if total > max_vertices:
        lower = _star_family_size(n, k, inc_d)
        return OneWayStates(n, k, l, variant, lower, total, False, "bounds (graph too large)")
    masks = subset_masks(n, k)
    res = chromatic_number(_graph_from_distances(masks, inc_d), node_budget=node_budget)
    return OneWayStates.from_bounds(n, k, l, variant, res.bounds)


def _star_family_size(n: int, k: int, inc_d: np.ndarray) -> int:
    """Size of a clique of the distance graph: all k-sets through a fixed t-set are at distance
    <= k - t from each other, so they are pairwise incompatible when every distance 1..k-t is."""
    best = 1
    for t in range(k + 1):
        if inc_d[1 : k - t + 1].all():
            best = max(best, math.comb(n - t, k - t))
            break
    return best


def one_way_states_full(n: int, variant: Variant | str = Variant.DECISION) -> tuple[int, int]:
    """(brute force, closed form) least number of states for the 2^n x 2^n matrix (n <= 8).

    Closed forms (docs/theory/one-way-states.md): decision 2^n; shared element C(n, floor(n/2))
    (classes are chains of the Boolean lattice: Dilworth and Sperner).
    """
    n = check_universe(n, max_n=MAX_FULL_STATES_N)
    variant = Variant.parse(variant)
    m = sd_matrix_full(n, variant)
    if variant is Variant.DECISION:
        return distinct_rows(m), 2**n
    res = chromatic_number(incompatibility(m), node_budget=200_000)
    if not res.exact:
        raise RuntimeError(f"chromatic number of the full shared-element graph not settled for n={n}")
    return res.lower, math.comb(n, n // 2)


def one_pass_states(
    n: int, first: int, second: int, variant: Variant | str = Variant.DECISION
) -> OneWayStates:
    """Least number of states after the first set: the closed form
    (:func:`sdtheory.bounds.one_way_states_closed_form`) where one is known (any n), else the
    brute force :func:`one_way_states` (n <= 16; exact or certified bounds)."""
    variant = Variant.parse(variant)
    states = one_way_states_closed_form(n, first, second, variant)
    if states is not None:
        return OneWayStates(n, first, second, variant, states, states, True, "closed form")
    return one_way_states(n, first, second, variant)
