r"""Decision SD inside the second set: sandwich families, link charging, the last-element set cover.

After j of the l second-set elements (1 <= j < l, k >= 1, k + l <= n) the least number of states
is bounded by :func:`decision_second_set_bounds`: the fixed-Q clique C(n - j, k) + 1 and the
sandwich bounds (:func:`sandwich_bounds`: Theorems 1-3, window programmes
:func:`j_cover_window_bound`, restrictions) below; store-first C(n, k) + 1, store-union
C(n, k + j) + 1 and, with one element left in a tight instance, n zero sets above. When
n >= k + l + j it is a sandwich cover plus one state, and storing the first set is optimal where
the link cost c >= 1. With one element left, :func:`decision_last_element_cover` solves it
exactly as a set cover. Proofs: docs/theory/decision-second-set.md; symbols:
docs/theory/glossary.md (A-first convention).
"""

from __future__ import annotations

import functools
import itertools
import math
from fractions import Fraction

import numpy as np

from sdtheory.combinatorics.bitsets import subset_masks
from sdtheory.combinatorics.interval import Bounds
from sdtheory.matrices import check_sizes

__all__ = [
    "decision_last_element_cover",
    "decision_second_set_bounds",
    "j_cover_window_bound",
    "last_element_cover_bounds",
    "link_cost_lower",
    "sandwich_bounds",
    "second_set_lower",
    "second_set_upper",
]


def _window_costs(v: int, j: int, k: int, r: int) -> tuple[list[Fraction], int]:
    """Exact member costs of the window programme by member size e = 1..j, and their common
    denominator D (so the programme can run on the integers cost * D)."""
    costs = [
        Fraction(math.comb(v, r), math.comb(k + e, k) * math.comb(v - e, r - e)) for e in range(1, j + 1)
    ]
    return costs, math.lcm(*(c.denominator for c in costs))


@functools.cache
def j_cover_window_bound(v: int, j: int, k: int, r: int) -> Fraction:
    """C(v, r) * c_r: a lower bound on c(v, j, k), the least cost of a j-cover of [v] with member
    costs 1 / C(k + |L|, k), from the least cost of a j-cover of one r-set (see the module
    docstring; r = v gives c exactly). Returns an exact fraction (dimensionless cost).

    The programme runs on integer costs (exact costs times their common denominator D), so its
    optimum is an integer and the solver's dual bound, rounded up, is a proof of the lower bound
    (an optimal status makes it the optimum); no floating-point tolerance enters the result.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import csr_matrix

    if not (1 <= j <= r <= v) or k < 1:
        raise ValueError(f"needs 1 <= j <= r <= v and k >= 1 (v={v}, j={j}, k={k}, r={r})")
    exact, denominator = _window_costs(v, j, k, r)
    masks, costs = [], []
    for e in range(1, j + 1):
        for members in itertools.combinations(range(r), e):
            masks.append(sum(1 << x for x in members))
            costs.append(int(exact[e - 1] * denominator))
    member = np.array(masks, dtype=np.int64)
    rows = []
    for q in itertools.combinations(range(r), j):
        qm = sum(1 << x for x in q)
        rows.append(np.flatnonzero((member & ~qm) == 0))  # members inside Q
    indptr = np.cumsum([0] + [row.size for row in rows])
    a = csr_matrix((np.ones(indptr[-1]), np.concatenate(rows), indptr), shape=(len(rows), member.size))
    res = milp(
        np.array(costs, dtype=float),
        constraints=LinearConstraint(a, lb=1, ub=np.inf),
        integrality=np.ones(member.size),
        bounds=Bounds(0, 1),
        options={"node_limit": 20_000, "mip_rel_gap": 0.0},
    )
    bound = getattr(res, "mip_dual_bound", None)
    if bound is None or not np.isfinite(bound):
        return Fraction(0)
    return Fraction(max(0, math.ceil(bound - 1e-6)), denominator)  # integer optimum >= ceil(bound)


def link_cost_lower(v: int, j: int, k: int, max_window: int = 8) -> Fraction:
    """Lower bound on c(v, j, k) (module docstring, Theorem 2), exact fraction: the best window
    bound over r = j..min(v, max_window), stopping early once it reaches 1 (all that Theorem 2 can
    use), and the closed symmetric bound min_e C(v, e) / (C(k + e, k) C(j, e)) (the r = v linear
    relaxation, averaged over the symmetric group)."""
    best = min(Fraction(math.comb(v, e), math.comb(k + e, k) * math.comb(j, e)) for e in range(1, j + 1))
    for r in range(j, min(v, max_window) + 1):
        if best >= 1:
            break
        best = max(best, j_cover_window_bound(v, j, k, r))
    return best


def _charging_lower(n: int, k: int, j: int, max_window: int) -> int:
    """Theorem 2: ceil(C(n, k) * min(1, c(n - k, j, k))) states for the clean configurations."""
    c = min(Fraction(1), link_cost_lower(n - k, j, k, max_window))
    return math.ceil(math.comb(n, k) * c)


def _loose_lower(n: int, k: int, j: int, max_window: int) -> int:
    """Theorems 1-3 in a loose instance: sigma + 1 >= the better charging bound of (n, k, j) and of
    its complement (n, n - k - j, j), plus one."""
    return max(_charging_lower(n, k, j, max_window), _charging_lower(n, n - k - j, j, max_window)) + 1


def _check(n: int, k: int, l: int, j: int) -> None:
    if not (k >= 1 and 1 <= j < l and k + l <= n):
        raise ValueError(f"needs k >= 1, 1 <= j < l, k + l <= n (n={n}, k={k}, l={l}, j={j})")


def second_set_upper(n: int, k: int, l: int, j: int) -> tuple[int, str]:
    """(states, name): min(C(n, k), C(n, k + j)) + 1, store-first or store-union (any regime)."""
    _check(n, k, l, j)
    store_first, store_union = math.comb(n, k) + 1, math.comb(n, k + j) + 1
    if store_first <= store_union:
        return store_first, "store-first"
    return store_union, "store-union W = S ∪ Q"


def second_set_lower(n: int, k: int, l: int, j: int, max_window: int = 6) -> tuple[int, str]:
    """(states, name): Theorems 1-3 (window programmes on up to ``max_window`` points) in the
    instance itself when it is loose (n >= k + l + j), and in every regime the best of the same
    bound over the loose restrictions of the Restriction lemma; (1, "") when none is loose."""
    _check(n, k, l, j)
    m = l - j
    lower, name = 1, ""
    for jr in range(1, j + 1):  # restriction: j - jr elements of Q fixed, universe n - j + jr
        nr = n - j + jr
        if nr < k + m + 2 * jr:
            continue  # the restricted instance is not loose
        bound = _loose_lower(nr, k, jr, max_window)
        if bound > lower:
            lower = bound
            name = "link charging" if jr == j else f"link charging on the restriction n = {nr}, j = {jr}"
    return lower, name


def sandwich_bounds(n: int, k: int, l: int, j: int, max_window: int = 6) -> Bounds:
    """Theorems 1-3 and the restriction lemma below (:func:`second_set_lower`), store-first or
    store-union above (:func:`second_set_upper`), after j of l second-set elements (decision,
    1 <= j < l, k >= 1, k + l <= n). When the ends meet the method reads "closed form: ... = ..."
    and names the store that is optimal (store-first C(n, k) + 1 or store-union C(n, k + j) + 1)."""
    lower, lo_name = second_set_lower(n, k, l, j, max_window)
    upper, up_name = second_set_upper(n, k, l, j)
    return Bounds(lower, upper, lo_name, up_name)


def decision_second_set_bounds(n: int, k: int, l: int, j: int, max_window: int = 6) -> Bounds:
    """Certified bounds on the least number of states after j of l second-set elements (decision,
    1 <= j < l, k >= 1, k + l <= n), from every argument of this module:

    * below: the fixed-Q clique C(n - j, k) + 1 (the configurations (S, Q0) for one j-set Q0, and
      one whose S meets Q0), and :func:`sandwich_bounds` (link charging, with its restrictions);
    * above: store-first C(n, k) + 1, store-union C(n, k + j) + 1, and, with one element left in a
      tight instance (j = l - 1, k + l = n), the n zero sets [n] minus a point.
    """
    _check(n, k, l, j)
    bounds = Bounds(math.comb(n - j, k) + 1, math.comb(n, k) + 1, "fixed-Q clique", "store-first")
    if j == l - 1 and k + l == n:
        bounds = bounds.tighten_upper(n, "zero sets [n] minus a point")
    sandwich = sandwich_bounds(n, k, l, j, max_window)
    return bounds.tighten_lower(sandwich.lower, sandwich.lower_proof).tighten_upper(
        sandwich.upper, sandwich.upper_proof
    )


def decision_last_element_cover(
    n: int, k: int, l: int, node_limit: int = 200
) -> tuple[int, int, np.ndarray] | None:
    """Decision, one second-set element left (j = l - 1, 1 <= k, k + l <= n): the least number of
    states as a set cover over the 2^n zero sets Z ⊆ [n] (a colour class is the set of
    configurations one total answer function extends: clean (S, Q) fits Z iff S ⊆ Z ⊆ S ∪ Q,
    dirty Q' fits Z iff Z ⊇ [n] minus Q'; docs/theory/decision-second-set.md). Solved by
    :func:`scipy.optimize.milp` under ``node_limit`` branch-and-bound nodes (not a time limit).
    Returns (lower, upper, chosen zero sets as masks), lower = upper when the solver proved
    optimality; None if n > 10 (too large).
    """
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import csr_matrix

    n, k, l = check_sizes(n, k, l)
    if not (1 <= k and 2 <= l and k + l <= n) or n > 10:
        return None
    j = l - 1
    z = np.arange(1 << n, dtype=np.int64)
    full = (1 << n) - 1
    rows: list[np.ndarray] = []
    for s in subset_masks(n, k).astype(np.int64):
        for q in subset_masks(n, j).astype(np.int64):
            if q & s:
                continue
            rows.append(np.flatnonzero(((z & s) == s) & ((z & ~(s | q) & full) == 0)))
    for q in subset_masks(n, j).astype(np.int64):
        rows.append(np.flatnonzero((z | q) == full))
    indptr = np.cumsum([0] + [r.size for r in rows])
    a = csr_matrix((np.ones(indptr[-1]), np.concatenate(rows), indptr), shape=(len(rows), z.size))
    res = milp(
        np.ones(z.size),
        constraints=LinearConstraint(a, lb=1, ub=np.inf),
        integrality=np.ones(z.size),
        bounds=Bounds(0, 1),
        options={"node_limit": node_limit},
    )
    if res.x is None:
        return None
    chosen = z[res.x > 0.5]
    covered = np.asarray((a[:, res.x > 0.5]).sum(axis=1)).ravel()
    if not np.all(covered >= 1):
        raise AssertionError(f"set cover from milp does not cover every configuration (n={n}, k={k}, l={l})")
    upper = int(chosen.size)
    lower = upper if res.status == 0 else max(1, math.ceil(res.mip_dual_bound - 1e-6))
    return lower, upper, chosen


def last_element_cover_bounds(n: int, k: int, l: int, j: int, max_cover_n: int = 7) -> Bounds | None:
    """:func:`decision_last_element_cover` as bounds, at the last second-set element (j = l - 1)
    for n <= ``max_cover_n``; None elsewhere."""
    if j != l - 1 or n > max_cover_n:
        return None
    cover = decision_last_element_cover(n, k, l)
    if cover is None:
        return None
    return Bounds.of(cover[0], cover[1], "set cover ILP over zero sets")
