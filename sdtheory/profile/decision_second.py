r"""Decision SD inside the second set: sandwich families, and when storing the first set is optimal.

Setting (as in :mod:`sdtheory.comm`): universe [n], first set S (|S| = k >= 1), separator, second
set T (|T| = l), answer [S ∩ T = ∅]; k + l <= n (otherwise the answer is always 0). The cut lies
after j of the l second-set elements, 1 <= j < l, and m = l - j >= 1 elements remain. A prefix
configuration is *clean* (S, Q) with S ∩ Q = ∅ (Q: the j elements read), or *dirty* (S meets Q;
it answers 0 on every completion, so only Q matters). Completions are the m-sets R ⊆ [n] \ Q;
clean (S, Q) answers [R ∩ S = ∅]. The least number of states chi is the chromatic number of the
incompatibility graph (two configurations conflict iff a completion valid for both gets
different answers).

**Sandwich families.** A family 𝒲 of subsets of [n] *covers* the clean configuration (S, Q) if
some W in 𝒲 has S ⊆ W ⊆ S ∪ Q. Let sigma(n, k, j) be the least size of a family covering every
clean configuration. All clean configurations covered by one W are pairwise compatible: a
completion R avoids Q, so R ∩ S = ∅ iff R ∩ W = ∅ (the state "W" answers [R ∩ W = ∅]).

**Upper bound (every regime).** chi <= min(C(n, k), C(n, k + j)) + 1: the family of all k-sets
(W = S, "store the first set") or of all (k + j)-sets (W = S ∪ Q, "store everything read so
far": the elements of T read so far can simply join the stored set), plus one state for the
dirty configurations (all answer 0 everywhere, so they are pairwise compatible).

**Theorem 1 (loose regime n >= k + l + j): chi = sigma(n, k, j) + 1.**
Proof. (a) A dirty Q and a clean (S', Q') conflict: U = [n] \ (Q ∪ Q' ∪ S') has at least
n - 2j - k >= m elements, and an m-subset R of U is valid for both, answered 0 and 1.
(b) Dirty configurations are pairwise compatible (all answer 0): one class.
(c) Let (S_i, Q_i) be pairwise compatible clean configurations and W = ∪ S_i. For i != h, the
completions valid for both are the m-subsets of Z = [n] \ (Q_i ∪ Q_h); the clean ones answer
[R ⊆ Z \ S_i] and [R ⊆ Z \ S_h], and |Z \ S_i| >= n - 2j - k >= m, so the two families of
m-subsets agree only if Z \ S_i = Z \ S_h, i.e. S_h \ S_i ⊆ Q_i ∪ Q_h, hence S_h \ S_i ⊆ Q_i
(S_h ∩ Q_h = ∅). So S_i ⊆ W ⊆ S_i ∪ Q_i for every i: each colour class of clean configurations
is covered by one set, and conversely each set's covered configurations form a class. ∎

**Theorem 2 (link charging, any sandwich family).** sigma(n, k, j) >= C(n, k) * min(1, c), where
c = c(v, j, k), v = n - k, is the least cost of a *j-cover* of [v]: a family 𝓛 of nonempty sets
of size <= j such that every j-subset of [v] contains a member, each member L costing
w_|L| = 1 / C(k + |L|, k).
Proof. Split each W in 𝒲 equally among its C(|W|, k) k-subsets: |𝒲| >= Σ_S Σ_{W ⊇ S}
1 / C(|W|, k). Fix S. If S ∈ 𝒲 its share is >= 1. Otherwise every j-set Q ⊆ [n] \ S must
contain W \ S for some W ⊇ S in 𝒲 (a nonempty set of size <= j), so {W \ S} restricted to those
sizes is a j-cover of [n] \ S (v points) and the share of S is at least its cost, >= c. ∎
So if c >= 1, sigma = C(n, k): storing the first set is optimal at this position.

**Theorem 3 (complement symmetry).** sigma(n, k, j) = sigma(n, n - k - j, j) for k + j <= n:
(S, Q) -> ([n] \ (S ∪ Q), Q) is a bijection between the clean configurations of the two
instances, and W -> [n] \ W maps S ⊆ W ⊆ S ∪ Q to [n] \ (S ∪ Q) ⊆ [n] \ W ⊆ [n] \ S, so
it maps covering families to covering families of the same size. Theorem 2 applied to the
complement gives sigma >= C(n, k + j) * min(1, c(k + j, j, n - k - j)): when that c >= 1,
storing S ∪ Q is optimal (sigma = C(n, k + j)). Both bounds are used.

**Window bound for c.** For r in j..v and any j-cover 𝓛 of [v], every r-subset Y of [v] is
j-covered by the members of 𝓛 inside Y. Summing over Y, member L appears in C(v - |L|, r - |L|)
windows, so cost(𝓛) = Σ_Y Σ_{L ⊆ Y} w_|L| / C(v - |L|, r - |L|) >= C(v, r) * c_r, where c_r is
the least cost of a j-cover of one r-set with costs w_e / C(v - e, r - e). c_r is an integer
programme on r points (:func:`j_cover_window_bound`, HiGHS via :func:`scipy.optimize.milp` on
the costs scaled to integers, so the solver's dual bound rounded up is a proof; all costs and
bounds are exact fractions), and r = v gives c itself.

The window bound proves c >= 1 (so chi = C(n, k) + 1 in the loose regime) for most loose
positions with n <= 16 and set sizes <= 6; where c < 1 it still raises the lower bound to
C(n, k) * c + 1.

**Restriction lemma (any regime).** Fix 0 <= jr <= j and a set Q0 of j - jr elements. The
configurations whose Q contains Q0 and whose S avoids Q0 (clean), or whose Q contains Q0
(dirty), induce the incompatibility graph of the instance on the universe [n] \ Q0 (size
n - j + jr) with jr second-set elements read and the same m left: the completions avoid Q0 and
the answers only involve S, Q \ Q0 and R. So chi(n, k, l, j) >= chi(n - j + jr, k, m + jr, jr),
and Theorems 1 and 2 apply to the restriction whenever it is loose (n - j + jr >= k + m + 2 jr).
(jr = 0 gives C(n - j, k); the fixed-Q clique C(n - j, k) + 1 of
:func:`sdtheory.comm._decision_region2_bounds` adds one dirty configuration to it.)

Not settled here: the regime n < k + l + j, where two clean configurations can also be
compatible because too few elements remain for any completion to tell them apart (there the true
value can be far below store-first: n = 6, k = 2, l = 4, j = 1 needs 11 states by exact
colouring in :func:`sdtheory.comm.memory_profile`, store-first 16); it is
left to exact colouring when the graph is small and to these bounds otherwise; and loose
positions where c < 1 is all the windows show.
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
    r"""Decision, one second-set element left (j = l - 1, 1 <= k, k + l <= n): exact least number
    of states as a set-cover integer programme; None if n > 10 (too large).

    Reformulation. A configuration is a partial function from completions to answers: clean
    (S, Q) (S ∩ Q = ∅) maps r not in Q to [r not in S]; dirty (S ∩ Q != ∅) maps every r not in
    Q to 0, so dirty configurations depend on Q only. Two configurations are compatible iff the
    functions agree where both are defined, and a set of pairwise agreeing partial functions
    has a common total extension (each point's value is the same in every member defined
    there). So colour classes are exactly the sets of configurations extended by one total
    function [n] -> {0, 1}, i.e. by one zero set Z ⊆ [n]: clean (S, Q) fits Z iff
    S ⊆ Z ⊆ S ∪ Q, dirty Q' fits Z iff Z ⊇ [n] \ Q'. The least number of states is the least
    number of sets Z covering every configuration: a set cover over the 2^n candidates, solved
    exactly by :func:`scipy.optimize.milp` (HiGHS branch and bound; optimal status proves the
    lower bound). Returns (lower, upper, chosen zero sets as masks) with lower = upper when the
    solver proved optimality within ``node_limit`` branch-and-bound nodes (a node limit, not a time
    limit, so the result does not depend on the machine's speed or load).
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
