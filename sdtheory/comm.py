"""Exact communication complexity of set disjointness (SD) for small universes.

Setting: universe [n]; the stream shows the *first* set (size ``first``), a separator, then the
*second* set (size ``second``). Alice holds the first set, Bob the second. Everything here is
computed by exhaustive enumeration with bitsets (subsets of [n] are uint64 masks, see
:mod:`sdtheory.bitsets`) and checked against the closed forms proved in the docstrings.

Two variants (:class:`sdtheory.instances.Variant`):

* decision: output [A ∩ B = ∅]; a total function of the two sets.
* shared element: under the promise |A ∩ B| = 1 output the shared element (the paper's
  synthetic task); inputs outside the promise may get any answer.

One-way (one-pass) complexity. A deterministic streaming algorithm is in some state after the
first set and the separator; its answer is a function of that state and the second set. Two
first sets S, S' can share a state iff they are *compatible*: no second set T valid for both
gets different answers. For a total function that is "rows S and S' of the matrix are equal",
an equivalence (Myhill–Nerode), so the least number of states is the number of distinct rows.
Under a promise, compatibility is not transitive and the least number of states is the
chromatic number of the incompatibility graph (:mod:`sdtheory.graphs`). Exact one-way bits =
ceil(log2(states)).

Closed forms (proved in :func:`one_way_states_closed_form`):

* decision: C(n, first) if first, second >= 1 and first + second <= n, else 1;
* shared element: 1 if second <= 1 or no instance satisfies the promise; C(n, first) if
  second = 2 or 2 * first + second <= n + 2 (more generally when n - first - second + 2 >=
  min(first, n - first)); ceil(C(n, first) / floor(n / m)) with m = min(first, n - first) one
  step below (Baranyai's theorem); otherwise the exact value is a partition into
  constant-weight codes, computed by graph colouring when small and bounded otherwise.

Memory profile (:func:`memory_profile`): the least number of states at every position of the
stream, as certified intervals (closed forms, exact colouring, or bounds). Inside the first set
and at the separator the graphs are distance graphs of w-sets, i.e. partitions into
constant-weight codes (:mod:`sdtheory.codes`: Baranyai, Graham–Sloane colourings, ceil(V /
alpha) and Johnson bounds). Inside the second set: shared element, closed forms n (first set
of size 1, or tight promise k + l = n + 1) and n + 1 (one element left, k >= 2, k + l <= n)
(:func:`shared_second_set_states`), C(n - 1, k) + n after the first element when
n >= 2k + l - 2, and chain / clique bounds elsewhere (:mod:`sdtheory.shared_second`); decision
with one element left, an exact set cover over zero sets (:func:`decision_last_element_cover`);
decision with n >= k + l + j, a sandwich-family cover plus one state, equal to store-first
C(n, k) + 1 wherever a link-charging programme proves it (:mod:`sdtheory.decision_second`);
elsewhere exact colouring when the graph is small, otherwise certified bounds. Still open there:
the chromatic number of the set-level cut graph (its classes are the configurations extended by
one total answer function of the remaining completions) at the positions those modules only
bound; for n >= 8 these graphs have thousands of vertices. Inside a set the
valid completions depend on the prefix (no element repeats), so prefixes can share states beyond
Myhill–Nerode classes (e.g. n = 5, first = 4: 5 states after 2 elements, not C(5, 2) = 10).
After the first element of the second set the decision variant can need one state more than at
the separator ("an intersection was already seen" besides every first set): n = 4, first = 1,
second = 2 needs 4 states at the separator but 5 one token later, i.e. 3 bits, not 2. So
ceil(log2 max over positions) can exceed the separator bound by one bit; store-first attains
C(n, first) + 1 states. For JR-p (p >= 2) every per-position minimum is at most the number of
answers: cut arguments give nothing there, and Prop G.29's multi-round simulation is needed.

Two-way complexity: the decision matrix of k-subsets x l-subsets (k + l <= n) has real rank
C(n, min(k, l)) and the GF(2) rank of Wilson's formula; a fooling set of size C(2m, m),
m = min(k, l), is constructed and verified. Deterministic two-way complexity D(SD) therefore
lies in [ceil(log2 C(n, m)), ceil(log2 C(n, m)) + 1] (the party with the smaller set sends it).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sdtheory.bitsets import (
    check_universe,
    masks_to_sorted_elements,
    popcount,
    single_bit_index,
    subset_masks,
)
from sdtheory.codes import code_partition, johnson_bound
from sdtheory.decision_second import second_set_lower, second_set_upper
from sdtheory.graphs import ChromaticResult, chromatic_number
from sdtheory.instances import Variant

__all__ = [
    "OneWayStates",
    "ProfilePoint",
    "baranyai_states",
    "decision_last_element_cover",
    "disjointness_rank_closed_form",
    "distance_graph_states",
    "distinct_rows",
    "fooling_set",
    "incompatibility",
    "memory_profile",
    "memory_profile_sequences",
    "one_way_states",
    "one_way_states_closed_form",
    "one_way_states_full",
    "profile_frame",
    "rank_gf2",
    "rank_mod_prime",
    "rank_real",
    "sd_matrix",
    "sd_matrix_full",
    "shared_first_set_states",
    "shared_incompatible_distances",
    "shared_second_set_states",
    "verify_fooling_set",
]

UNDEFINED = -1  # entry of a shared-element matrix outside the promise |A ∩ B| = 1


def _check_sizes(n: int, first: int, second: int) -> tuple[int, int, int]:
    n = check_universe(n, max_n=16)
    for name, v in (("first", first), ("second", second)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer):
            raise TypeError(f"{name}={v!r} must be an integer")
        if not 0 <= v <= n:
            raise ValueError(f"{name}={v} must satisfy 0 <= {name} <= n={n}")
    return n, int(first), int(second)


# --------------------------------------------------------------------------------------------
# matrices
# --------------------------------------------------------------------------------------------


def _answers(s: np.ndarray, t: np.ndarray, variant: Variant) -> np.ndarray:
    inter = s & t
    if variant is Variant.DECISION:
        return inter == 0
    return single_bit_index(inter).astype(np.int16)  # -1 unless |S ∩ T| = 1


def sd_matrix(n: int, k: int, l: int, variant: Variant | str = Variant.DECISION) -> np.ndarray:
    """The SD communication matrix of k-subsets (rows) x l-subsets (columns) of [n].

    Rows and columns are in ascending bitmask order (:func:`sdtheory.bitsets.subset_masks`).
    decision: bool [C(n,k), C(n,l)], True iff disjoint. shared element: int16 of the same shape,
    the shared element when |S ∩ T| = 1 and -1 (outside the promise) otherwise.
    """
    n, k, l = _check_sizes(n, k, l)
    variant = Variant.parse(variant)
    s = subset_masks(n, k)
    t = subset_masks(n, l)
    return _answers(s[:, None], t[None, :], variant)


def sd_matrix_full(n: int, variant: Variant | str = Variant.DECISION) -> np.ndarray:
    """The 2^n x 2^n SD matrix over all subsets (sizes not known in advance), n <= 12."""
    n = check_universe(n, max_n=12)
    variant = Variant.parse(variant)
    s = subset_masks(n)
    return _answers(s[:, None], s[None, :], variant)


def _row_keys(matrix: np.ndarray) -> np.ndarray:
    m = np.ascontiguousarray(matrix)
    if m.dtype == bool:
        m = np.packbits(m, axis=1)
    m = np.ascontiguousarray(m)
    return m.view(np.dtype((np.void, m.dtype.itemsize * m.shape[1]))).reshape(-1)


def distinct_rows(matrix: np.ndarray) -> int:
    """Number of distinct rows of a matrix (rows compared entry by entry; -1 is a symbol like any
    other). For a total function this is the exact least number of states after the first set.
    """
    m = np.asarray(matrix)
    if m.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {m.shape}")
    if m.shape[0] == 0:
        return 0
    if m.shape[1] == 0:
        return 1
    return int(np.unique(_row_keys(m)).shape[0])


def incompatibility(matrix: np.ndarray) -> np.ndarray:
    """Incompatibility graph of the rows: bool [R, R], entry [r, r'] True iff some column is
    defined (not -1) in both rows with different values. For a bool (total) matrix: rows differ.

    Computed with bit-packed rows (one AND per distinct value and word), no floating point.
    """
    m = np.asarray(matrix)
    if m.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {m.shape}")
    if m.dtype == bool:
        _, inv = np.unique(_row_keys(m), return_inverse=True)
        return inv[:, None] != inv[None, :]
    valid = _pack(m != UNDEFINED)
    values = np.unique(m[m != UNDEFINED]).tolist()
    planes = [_pack(m == v) for v in values]
    rows, words = valid.shape
    out = np.zeros((rows, rows), dtype=bool)
    chunk = max(1, 4_000_000 // max(1, rows * words))
    for start in range(0, rows, chunk):
        stop = min(rows, start + chunk)
        both = valid[start:stop, None, :] & valid[None, :, :]
        same = np.zeros_like(both)
        for e in planes:
            same |= e[start:stop, None, :] & e[None, :, :]
        out[start:stop] = np.any(both & ~same, axis=2)
    return out


def _pack(bits: np.ndarray) -> np.ndarray:
    """Pack a bool matrix [R, C] into uint64 words [R, ceil(C / 64)] (bitwise ops, no BLAS)."""
    packed = np.packbits(bits, axis=1, bitorder="little")
    pad = (-packed.shape[1]) % 8
    return np.ascontiguousarray(np.pad(packed, ((0, 0), (0, pad)))).view(np.uint64)


# --------------------------------------------------------------------------------------------
# one-way complexity after the first set
# --------------------------------------------------------------------------------------------


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
        return _bits(self.lower)

    @property
    def bits_upper(self) -> int:
        return _bits(self.upper)


def _bits(states: int) -> int:
    return 0 if states <= 1 else math.ceil(math.log2(states))


def baranyai_states(n: int, m: int) -> int:
    """ceil(C(n, m) / floor(n / m)): the chromatic index of the complete m-uniform hypergraph on
    [n] (Baranyai 1975), i.e. the least number of classes of pairwise disjoint m-subsets that
    partition all m-subsets of [n]."""
    if not 1 <= m <= n:
        raise ValueError(f"baranyai_states needs 1 <= m <= n (m={m}, n={n})")
    return -(-math.comb(n, m) // (n // m))


def one_way_states_closed_form(
    n: int, first: int, second: int, variant: Variant | str = Variant.DECISION
) -> int | None:
    """Closed form for the least number of states after the first set (None if unknown).

    Decision. Rows are first sets S (|S| = k = first), columns second sets T (|T| = l = second).
    * If k = 0, l = 0 or k + l > n, every valid input has the same answer (k + l > n forces an
      intersection): 1 state.
    * Otherwise C(n, k): for S != S' take x in S \\ S' and T = {x} plus l - 1 elements outside
      S' (there are n - k - 1 >= l - 1 of them); T meets S but not S'. So all rows differ.

    Shared element (promise |S ∩ T| = 1). Let d = |S \\ S'| and delta = n - k - l + 2.
    Lemma: S and S' (distinct) are incompatible iff l >= 2 and d <= delta. Proof: a column T
    valid for both with different answers has S ∩ T = {a}, S' ∩ T = {b}, a != b; a in S' would
    put a in S' ∩ T = {b}, so a in S \\ S' and likewise b in S' \\ S; T avoids the rest of
    S ∪ S' (|S ∪ S'| = k + d), so T exists iff l >= 2 and n - k - d >= l - 2.
    Hence, with m = min(k, n - k) the largest possible d:
    * no instance (k = 0, l = 0 or k + l - 1 > n) or l = 1 (then T = {t} and the answer is t
      whatever S is): 1 state;
    * delta >= m: every two distinct rows are incompatible: C(n, k) states (this covers l = 2
      and 2k + l <= n + 2);
    * delta = m - 1: compatible iff d = m, i.e. S, S' disjoint (k <= n/2) or their complements
      disjoint (k > n/2): the classes are matchings of the complete m-uniform hypergraph and
      the count is its chromatic index ceil(C(n, m) / floor(n / m)) (Baranyai's theorem);
    * delta < m - 1: classes are constant-weight codes of Johnson distance > delta; the
      least partition is not known in closed form: None.
    """
    n, k, l = _check_sizes(n, first, second)
    variant = Variant.parse(variant)
    if variant is Variant.DECISION:
        if k == 0 or l == 0 or k + l > n:
            return 1
        return math.comb(n, k)
    if k == 0 or l == 0 or k + l - 1 > n or l == 1:
        return 1
    return _shared_distance_closed_form(n, k, n - k - l + 2)


def _shared_distance_closed_form(n: int, i: int, delta: int) -> int | None:
    """Chromatic number of the graph on i-subsets of [n] joining sets at distance 1..delta, when
    known in closed form: C(n, i) if delta >= min(i, n - i) (complete graph), Baranyai's
    ceil(C(n, m) / floor(n / m)) if delta = m - 1 with m = min(i, n - i), else None."""
    m = min(i, n - i)
    if m == 0 or delta >= m:
        return math.comb(n, i)
    if delta == m - 1:
        return baranyai_states(n, m)
    return None


def distance_graph_states(n: int, i: int, delta: int, tabu_iters: int = 3000) -> tuple[int, int, str]:
    """(lower, upper, method): certified bounds on the chromatic number of the graph on i-subsets
    of [n] joining sets at distance 1..delta (delta >= 1, 0 < i < n): the closed forms of
    :func:`_shared_distance_closed_form` when they apply, else
    :func:`sdtheory.codes.code_partition` (partition into constant-weight codes of Hamming
    distance 2 delta + 2: ceil(V / alpha) or Johnson below, explicit colourings above), on the
    smaller side min(i, n - i) (complementation P -> [n] \\ P preserves |P \\ P'|, so the graphs
    for i and n - i are isomorphic). ``tabu_iters``: the colouring search effort."""
    closed = _shared_distance_closed_form(n, i, delta)
    if closed is not None:
        m = min(i, n - i)
        why = "complete graph" if delta >= m else "Baranyai"
        return closed, closed, f"closed form: {why}"
    part = code_partition(n, min(i, n - i), delta, tabu_iters=tabu_iters)
    return part.lower, part.upper, f"code partition: {part.method}"


def shared_first_set_states(n: int, k: int, l: int, i: int) -> int | None:
    r"""Shared element, after i of the k first-set elements: closed form for the least number of
    states (None if unknown).

    Lemma: prefixes P, P' (i-sets, d = |P \ P'| >= 1) are incompatible iff l >= 2 and
    d <= delta = n - k - l + 2. Proof: a common completion is (R, T) with R (the k - i remaining
    first-set elements) disjoint from P ∪ P'; valid and different answers mean T ∩ (P ∪ R) = {a},
    T ∩ (P' ∪ R) = {b}, a != b, which forces a in P \ P', b in P' \ P (an element of R would be
    in both intersections); T must avoid the other k + d - 2 elements of P ∪ P' ∪ R, so such
    (R, T) exist iff l >= 2 and n - k - d >= l - 2 (then R exists too: d <= n - k). This is the
    separator lemma of :func:`one_way_states_closed_form` with i in place of k, so the same
    closed forms apply with m = min(i, n - i).
    """
    n, k, l = _check_sizes(n, k, l)
    if not 0 <= i <= k:
        raise ValueError(f"i={i} must satisfy 0 <= i <= k={k}")
    if k == 0 or l == 0 or k + l - 1 > n or l == 1 or i == 0:
        return 1
    return _shared_distance_closed_form(n, i, n - k - l + 2)


def shared_second_set_states(n: int, k: int, l: int, j: int) -> int | None:
    r"""Shared element, after j of the l second-set elements (1 <= j < l, an instance exists):
    closed form for the least number of states, None if unknown. m = l - j >= 1 elements remain.

    Configurations are (S, Q): the first set and the j second-set elements read; a valid input
    has |S ∩ (Q ∪ R)| = 1 for the rest R (|R| = m, R ∩ Q = ∅).

    * k = 1: n. Upper: the answer is the single element s of S, so colour (S, Q) by s. Lower (a
      clique, l <= n): fix an m-set Z; for s not in Z take (S, Q) = ({s}, Q_s) with s in Q_s,
      Q_s ∩ Z = ∅; for z in Z take ({z}, Q) with Q ∩ (Z ∪ {z}) = ∅. R = Z completes all of them
      validly, with n different answers.
    * k + l = n + 1 (tight promise: S ∪ T = [n]): n. Upper: sum(S) + sum(T) = sum([n]) + a for
      the answer a, so a ≡ sum(S) + sum(Q) + sum(R) - n(n - 1)/2 (mod n) and colouring (S, Q) by
      (sum(S) + sum(Q)) mod n is proper (equal colours and a common valid R give equal answers).
      Lower: fix an m-set R; for a in R take S_a ∋ a with S_a ∩ R = {a} (k - 1 <= n - m), for
      a not in R take S_a ∌ R-elements with a in S_a ∩ Q_a, Q_a = ([n] \ R \ S_a) ∪ {a}
      (k <= n - m iff j >= 1); R completes all n configurations with n different answers.
    * m = 1, k >= 2, k + l <= n: n + 1. Let u = k + l - 2. "Clean" configurations (S ∩ Q = ∅)
      answer r for the last element r in S: all clean ones agree wherever both are defined, so
      they share one class. "Found" ones (S ∩ Q = {a}) answer a for every r outside U = S ∪ Q:
      one class per a. So n + 1 classes suffice. Lower (a clique): pick distinct z1, z2, z3;
      found (a, U_a) with U_a avoiding {z1, z2} for a not in {z1, z2}, U_z1 avoiding {z2, z3},
      U_z2 avoiding {z1, z3} (|U| = u <= n - 2): every two U's miss a common element r, a
      common completion with different answers; and a clean (S, Q) with z1, z2 in S: r = z1
      (or z2 against a = z1) is a common completion answering r != a.
    """
    n, k, l = _check_sizes(n, k, l)
    if not 1 <= j < l or k == 0 or k + l - 1 > n:
        raise ValueError(f"needs 1 <= j < l and an instance (n={n}, k={k}, l={l}, j={j})")
    if k == 1 or k + l == n + 1:
        return n
    if j == l - 1 and k + l <= n:
        return n + 1
    return None


def _distance_graph_lower(n: int, w: int, delta: int) -> int:
    """A lower bound on chi(G(n, w, delta)) without building the graph: the closed forms, else
    max(star clique, ceil(C(n, w) / Johnson bound)) (:mod:`sdtheory.codes`)."""
    if w < 0 or w > n:
        return 0
    closed = _shared_distance_closed_form(n, w, delta)
    if closed is not None:
        return closed
    m = min(w, n - w)
    star = math.comb(n - m + delta, delta)
    return max(star, -(-math.comb(n, w) // johnson_bound(n, delta + 1, w)))


def _shared_second_set_bounds(n: int, k: int, l: int, j: int) -> tuple[int, int, str]:
    r"""Shared element, after j of l second-set elements (1 <= j < l, k >= 1, an instance
    exists): (lower, upper, method) when no closed form (:func:`shared_second_set_states`) applies.

    Upper C(n, k) + n: keep S while no shared element was seen, then only the shared element.
    Lower 1, n distinct answers: fix an m-set R (m = l - j); for a in R a configuration with
    S ∩ R = {a}, S ∩ Q = ∅, for a not in R one with S ∩ R = ∅, S ∩ Q = {a}, Q ∩ R = ∅ (both fit:
    k + l - 1 <= n); R completes all of them validly with n different answers: a clique.
    Lower 2 (m >= 2): fix a j-set Q0 and N = [n] \ Q0; the configurations (S, Q0), S a k-subset
    of N, are incompatible iff some R ⊆ N (|R| = m) has R ∩ S = {x} != {y} = R ∩ S', i.e.
    x in S \ S', y in S' \ S and R avoids the other |S ∪ S'| - 2 elements: iff
    d = |S \ S'| <= (n - j) - k - m + 2 = n - k - l + 2. So they induce G(n - j, k, delta) and
    its chromatic number (bounded below by :func:`_distance_graph_lower`) is a lower bound.
    """
    upper = math.comb(n, k) + n
    lower, method = n, "bounds: n distinct answers below, store-first above"
    m = l - j
    if m >= 2:
        sub = _distance_graph_lower(n - j, k, n - k - l + 2)
        if sub > lower:
            lower, method = sub, "bounds: fixed-Q sub-graph G(n - j, k, delta) below, store-first above"
    return lower, upper, method


def shared_incompatible_distances(n: int, k: int, l: int) -> np.ndarray:
    """Brute force, shared-element variant: for every distance d = |S \\ S'| in 0..k, whether two
    k-sets at that distance are incompatible (bool [k + 1]).

    Computed from the matrix row of S0 = {0..k-1} against every row S' and every column T (by
    symmetry of SD under permutations of [n] the answer depends on d only); independent of the
    lemma in :func:`one_way_states_closed_form`, which it is used to check.
    """
    n, k, l = _check_sizes(n, k, l)
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
    and any other graph goes to :func:`sdtheory.graphs.chromatic_number` (exact or bounds).
    """
    n, k, l = _check_sizes(n, first, second)
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
        lower, upper, method = distance_graph_states(n, k, delta, tabu_iters)
        return OneWayStates(n, k, l, variant, lower, upper, lower == upper, method)
    if total > max_vertices:
        lower = _star_family_size(n, k, inc_d)
        return OneWayStates(n, k, l, variant, lower, total, False, "bounds (graph too large)")
    masks = subset_masks(n, k)
    res = chromatic_number(_graph_from_distances(masks, inc_d), node_budget=node_budget)
    return OneWayStates(n, k, l, variant, res.lower, res.upper, res.exact, res.method)


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

    Closed forms: decision 2^n (T = {x} separates S from S' for x in S Δ S'); shared element
    C(n, floor(n/2)): S, S' are incompatible iff neither contains the other (T = {a, b} with
    a in S \\ S', b in S' \\ S), so classes are chains and by Dilworth's and Sperner's theorems the
    least chain partition of the Boolean lattice has C(n, floor(n/2)) chains.
    """
    n = check_universe(n, max_n=8)
    variant = Variant.parse(variant)
    m = sd_matrix_full(n, variant)
    if variant is Variant.DECISION:
        return distinct_rows(m), 2**n
    res = chromatic_number(incompatibility(m), node_budget=200_000)
    if not res.exact:
        raise RuntimeError(f"chromatic number of the full shared-element graph not settled for n={n}")
    return res.lower, math.comb(n, n // 2)


# --------------------------------------------------------------------------------------------
# memory profile: least number of states at every position of the stream
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfilePoint:
    """Least number of states of any correct deterministic streaming algorithm after
    ``position`` tokens (0 = before the first token), as a certified interval.

    ``configurations``: distinct prefix contents at this cut (sets read so far) over valid
    streams; ``lower`` / ``upper``: bounds on the chromatic number of their incompatibility
    graph; ``method``: how they were obtained.
    """

    position: int
    pass_index: int
    offset: int
    phase: str
    configurations: int
    lower: int
    upper: int
    exact: bool
    method: str

    @property
    def bits(self) -> int:
        """ceil(log2(lower)): bits any correct algorithm needs here (exact when ``bits_exact``)."""
        return _bits(self.lower)

    @property
    def bits_upper(self) -> int:
        """ceil(log2(upper)): bits that suffice here."""
        return _bits(self.upper)

    @property
    def bits_exact(self) -> bool:
        """Whether the memory in bits is determined, ceil(log2(lower)) == ceil(log2(upper)), even
        where the state count itself is only bounded."""
        return self.bits == self.bits_upper


def _phase(offset: int, first: int) -> str:
    if offset == 0:
        return "start"
    if offset <= first:
        return "first set"
    if offset == first + 1:
        return "separator"
    return "second set"


def _combo_masks(elements: np.ndarray, size: int) -> np.ndarray:
    """All size-subsets of each row's elements: uint64 [rows, C(width, size)]."""
    rows, width = elements.shape
    combos = list(itertools.combinations(range(width), size))
    out = np.zeros((rows, len(combos)), dtype=np.uint64)
    bits = np.uint64(1) << elements.astype(np.uint64)
    for c, idx in enumerate(combos):
        for i in idx:
            out[:, c] |= bits[:, i]
    return out


def _cut_matrix(
    n: int, k: int, l: int, variant: Variant, offset: int, max_triples: int
) -> tuple[np.ndarray, int] | None:
    """Prefix-configuration x completion matrix at a cut of a one-pass stream (set level).

    Prefix configuration: the set P read so far (inside the first set) or (S, Q) with Q the
    part of the second set read so far; completion: (rest of the first set, second set) or the
    rest of the second set. Entry: the answer, -1 if the combination is not a valid input.
    The order of the tokens inside a prefix or a completion does not matter to validity or to
    the answer, so this set-level matrix has the same incompatibility graph as the matrix of
    token sequences (checked against :func:`memory_profile_sequences` in the tests).
    Returns (matrix, number of prefix configurations) or None if it would exceed max_triples.
    """
    n_comb = math.comb(k, min(offset, k)) if offset <= k else math.comb(l, offset - k - 1)
    if math.comb(n, k) * math.comb(n, l) * n_comb > max_triples:
        return None  # checked before anything is enumerated
    s_all = subset_masks(n, k)
    t_all = subset_masks(n, l)
    si, ti = np.meshgrid(np.arange(s_all.size), np.arange(t_all.size), indexing="ij")
    s = s_all[si.ravel()]
    t = t_all[ti.ravel()]
    ans = _answers(s, t, variant).astype(np.int16)
    if variant is Variant.SHARED:
        keep = ans != UNDEFINED
        s, t, ans, si_r, ti_r = s[keep], t[keep], ans[keep], si.ravel()[keep], ti.ravel()[keep]
    else:
        si_r, ti_r = si.ravel(), ti.ravel()
    if s.size == 0:
        return None
    n64 = np.uint64(n)
    if offset <= k:
        i = offset
        n_comb = math.comb(k, i)
        if s.size * n_comb > max_triples:
            return None
        sub = _combo_masks(masks_to_sorted_elements(s_all, n, k), i)[si_r]  # [pairs, n_comb]
        prefix = sub
        completion = (s[:, None] ^ sub) | (t[:, None] << n64)
    else:
        j = offset - k - 1
        n_comb = math.comb(l, j)
        if s.size * n_comb > max_triples:
            return None
        sub = _combo_masks(masks_to_sorted_elements(t_all, n, l), j)[ti_r]
        prefix = s[:, None] | (sub << n64)
        completion = t[:, None] ^ sub
    ans_rep = np.broadcast_to(ans[:, None], prefix.shape)
    p_keys, p_inv = np.unique(prefix.ravel(), return_inverse=True)
    c_keys, c_inv = np.unique(completion.ravel(), return_inverse=True)
    mat = np.full((p_keys.size, c_keys.size), UNDEFINED, dtype=np.int16)
    mat[p_inv, c_inv] = ans_rep.ravel()
    return mat, int(p_keys.size)


def _chromatic_of_matrix(
    mat: np.ndarray, max_vertices: int, node_budget: int
) -> tuple[ChromaticResult | None, int]:
    reduced = np.unique(mat, axis=0)  # twins (identical rows) need no separate colour
    if reduced.shape[0] > max_vertices:
        return None, int(reduced.shape[0])
    return chromatic_number(incompatibility(reduced), node_budget=node_budget), int(reduced.shape[0])


def _decision_region1_graph(n: int, k: int, i: int) -> np.ndarray:
    """Decision, i elements of the first set read, k + l <= n, l >= 1: prefixes P, P' (i-sets)
    are incompatible iff 1 <= |P \\ P'| <= n - k (a common rest R of size k - i must avoid
    P ∪ P', and T = {x} ∪ ... with x in P \\ P' must avoid P' ∪ R)."""
    masks = subset_masks(n, i)
    d = popcount(masks[:, None] & ~masks[None, :])
    return (d >= 1) & (d <= n - k)


def _decision_region2_bounds(n: int, k: int, l: int, j: int, max_window: int = 6) -> tuple[int, int, str]:
    """Bounds on the least number of states after j of the l second-set elements (decision,
    1 <= j < l, k >= 1, k + l <= n).

    Upper: C(n, k) + 1 (keep the first set, plus one state "an intersection was seen") or
    C(n, k + j) + 1 (keep S ∪ Q, :mod:`sdtheory.decision_second`). When j = l - 1 and k + l = n
    also n: in the zero-set reformulation of :func:`decision_last_element_cover`, a clean (S, Q)
    misses exactly one element z of [n] and fits Z = [n] \\ {z} = S ∪ Q; a dirty Q' fits
    [n] \\ {z} for any z in Q'.
    Lower 1 (a clique): fix a j-set Q0; the configurations (S, Q0), S a k-subset of [n] \\ Q0,
    and one configuration whose S meets Q0 are pairwise incompatible, because m = l - j >= 1
    elements remain and n - j - k >= m of them avoid S: C(n - j, k) + 1.
    Lower 2 and upper 2: sandwich families, link charging on the instance and its complement, and
    the restriction lemma (:func:`sdtheory.decision_second.second_set_lower` with window
    programmes on up to ``max_window`` points, :func:`sdtheory.decision_second.second_set_upper`).
    """
    upper = math.comb(n, k) + 1
    lower = math.comb(n - j, k) + 1
    lo_why, up_why = "fixed-Q clique", "store-first"
    if j == l - 1 and k + l == n and n < upper:
        # tight, last element pending: the zero sets [n] \ {z} cover everything (n states)
        upper, up_why = n, "zero sets [n] minus a point"
    s_lower, s_lo_why = second_set_lower(n, k, l, j, max_window)
    s_upper, s_up_why = second_set_upper(n, k, l, j)
    if s_lower > lower:
        lower, lo_why = s_lower, s_lo_why
    if s_upper < upper:
        upper, up_why = s_upper, s_up_why
    if lower == upper:
        return lower, upper, f"closed form: {lo_why} = {up_why}"
    return lower, upper, f"bounds: {lo_why} below, {up_why} above"


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

    n, k, l = _check_sizes(n, k, l)
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


def _decision_cover_point(n: int, k: int, l: int, j: int, max_cover_n: int) -> tuple[int, int, str] | None:
    """Bounds from :func:`decision_last_element_cover` (j = l - 1, n <= max_cover_n), else None."""
    if j != l - 1 or n > max_cover_n:
        return None
    cover = decision_last_element_cover(n, k, l)
    if cover is None:
        return None
    return cover[0], cover[1], "set cover ILP over zero sets"


def memory_profile(
    n: int,
    first: int,
    second: int,
    variant: Variant | str = Variant.DECISION,
    passes: int = 1,
    *,
    max_vertices: int = 400,
    node_budget: int = 20_000,
    max_triples: int = 3_000_000,
    tabu_iters: int = 3000,
    max_cover_n: int = 7,
    max_window: int = 6,
) -> list[ProfilePoint]:
    """Least number of states at every position of the stream, as certified intervals.

    Model: a deterministic streaming algorithm (Def G.12) whose update may depend on the position
    and on the layout (n, first, second, passes); it must answer correctly on every valid
    stream (sets without repeats, any order inside a set; shared element: |A ∩ B| = 1). At a cut
    after t tokens, two prefixes can share a state iff no completion valid for both gets
    different answers, so the least number of states at t is the chromatic number of the
    incompatibility graph of the prefixes (this is a per-position minimum; it is a lower bound
    for every algorithm at that position). It equals the number of Myhill–Nerode classes when
    every prefix has the same valid completions (at the separator, for the decision variant).
    Inside a set, the completions depend on the prefix (no element may repeat), compatibility is
    not transitive, and merges beyond Myhill–Nerode classes are possible.

    One pass (``passes=1``), per position:
    * 0 tokens: 1;
    * decision, k = 0, l = 0 or k + l > n (constant answer): 1 everywhere;
    * decision, i <= n - k elements of the first set read: C(n, i) (all prefixes pairwise
      incompatible, see :func:`_decision_region1_graph`); i > n - k: graph colouring;
    * after the separator: as after the first set (:func:`one_way_states`);
    * decision, end of the stream: 2; inside the second set: the closed forms and bounds of
      :func:`_decision_region2_bounds` (link-cost window programmes on up to ``max_window``
      points), the last-element set cover for n <= ``max_cover_n``, and exact graph colouring
      when the set-level graph has at most ``max_vertices`` vertices after merging identical rows;
    * shared element, inside the first set: the closed forms of :func:`shared_first_set_states`
      (the separator lemma holds at every i); otherwise, and inside the second set, exact graph
      colouring of the set-level cut matrix when small enough, else bounds flagged as such.

    JR-p (``passes >= 2``): see :func:`_jrp_profile`; the per-cut minimum is at most the number
    of distinct answers, because after the first pass the prefix determines the input and
    before the last pass the completion does. Memory lower bounds for JR-p need the multi-round
    argument of Prop G.29 (:mod:`sdtheory.bounds`), not cuts.
    """
    n, k, l = _check_sizes(n, first, second)
    variant = Variant.parse(variant)
    if isinstance(passes, bool) or not isinstance(passes, int) or passes < 1:
        raise ValueError(f"passes={passes!r} must be an integer >= 1")
    if passes >= 2:
        return _jrp_profile(n, k, l, variant, passes)
    length = k + 1 + l
    points: list[ProfilePoint] = []
    trivial = (
        (k == 0 or l == 0 or k + l > n)
        if variant is Variant.DECISION
        else (k == 0 or l == 0 or k + l - 1 > n)
    )
    for t in range(length + 1):
        phase = _phase(t, k)
        if t == 0 or trivial:
            why = "start of the stream" if t == 0 else "no two valid inputs with different answers"
            points.append(ProfilePoint(t, 0, t, phase, 1, 1, 1, True, f"closed form: {why}"))
            continue
        points.append(
            _profile_point(
                n,
                k,
                l,
                variant,
                t,
                max_vertices,
                node_budget,
                max_triples,
                tabu_iters,
                max_cover_n,
                max_window,
            )
        )
    return points


def _shared_second_bounds(n: int, k: int, l: int, j: int) -> tuple[int, int, str]:
    """Shared element inside the second set: :func:`sdtheory.shared_second.shared_second_set_bounds`
    (closed forms of :func:`shared_second_set_states`, the bounds of
    :func:`_shared_second_set_bounds`, and the chain / clique theorems of that module)."""
    from sdtheory.shared_second import shared_second_set_bounds  # it builds on this module

    return shared_second_set_bounds(n, k, l, j)


def _profile_point(
    n: int,
    k: int,
    l: int,
    variant: Variant,
    t: int,
    max_vertices: int,
    node_budget: int,
    max_triples: int,
    tabu_iters: int = 3000,
    max_cover_n: int = 7,
    max_window: int = 6,
) -> ProfilePoint:
    phase = _phase(t, k)
    cut = min(t, k) if t <= k + 1 else t  # the separator carries no information
    if variant is Variant.DECISION:
        if cut <= k:
            i = cut
            configs = math.comb(n, i)
            if min(i, n - i) <= n - k:  # every two distinct i-sets are at distance <= n - k
                return ProfilePoint(t, 0, t, phase, configs, configs, configs, True, "closed form: C(n, i)")
            lower, upper, method = distance_graph_states(n, i, n - k, tabu_iters)
            return ProfilePoint(t, 0, t, phase, configs, lower, upper, lower == upper, method)
        j = t - k - 1
        if j == l:
            return ProfilePoint(t, 0, t, phase, 2, 2, 2, True, "closed form: the answer bit")
        lower, upper, method = _decision_region2_bounds(n, k, l, j, max_window)
        if lower == upper:
            return ProfilePoint(t, 0, t, phase, -1, lower, upper, True, method)
    if variant is Variant.SHARED and cut <= k:
        closed = shared_first_set_states(n, k, l, cut)
        if closed is not None:
            return ProfilePoint(
                t, 0, t, phase, math.comb(n, cut), closed, closed, True, "closed form: distance lemma"
            )
        # distance lemma: the graph is G(n, cut, n - k - l + 2), a partition into codes
        lower, upper, method = distance_graph_states(n, cut, n - k - l + 2, tabu_iters)
        return ProfilePoint(t, 0, t, phase, math.comb(n, cut), lower, upper, lower == upper, method)
    if variant is Variant.SHARED and k + 1 < cut < k + 1 + l:
        lower, upper, method = _shared_second_bounds(n, k, l, cut - k - 1)
        if lower == upper:
            return ProfilePoint(t, 0, t, phase, -1, lower, upper, True, method)
    built = _cut_matrix(n, k, l, variant, cut, max_triples)
    if built is not None:
        mat, configs = built
        res, _ = _chromatic_of_matrix(mat, max_vertices, node_budget)
        if res is not None and variant is Variant.SHARED and k + 1 < cut < k + 1 + l:
            # lower, upper, method: the second-set bounds computed above
            if not res.exact and (lower > res.lower or upper < res.upper):
                lower, upper = max(lower, res.lower), min(upper, res.upper)
                method = f"{res.method}; {method}"
                return ProfilePoint(t, 0, t, phase, configs, lower, upper, lower == upper, method)
        if res is not None and not res.exact and variant is Variant.DECISION:
            lower, upper = max(lower, res.lower), min(upper, res.upper)  # region-2 bounds from above
            cover = _decision_cover_point(n, k, l, t - k - 1, max_cover_n)
            if cover is not None:
                lower, upper, method = max(lower, cover[0]), min(upper, cover[1]), cover[2]
            return ProfilePoint(t, 0, t, phase, configs, lower, upper, lower == upper, method)
        if res is not None:
            return ProfilePoint(t, 0, t, phase, configs, res.lower, res.upper, res.exact, res.method)
    else:
        configs = -1
    if variant is Variant.DECISION:  # lower, upper, method: the region-2 bounds from above
        cover = _decision_cover_point(n, k, l, t - k - 1, max_cover_n)
        if cover is not None:
            lower, upper, method = max(lower, cover[0]), min(upper, cover[1]), cover[2]
        return ProfilePoint(t, 0, t, phase, configs, lower, upper, lower == upper, method)
    if cut <= k:
        ow = (
            one_way_states(
                n, k, l, variant, node_budget=node_budget, max_vertices=max_vertices, tabu_iters=tabu_iters
            )
            if cut == k
            else None
        )
        if ow is not None:
            return ProfilePoint(t, 0, t, phase, configs, ow.lower, ow.upper, ow.exact, ow.method)
        upper = math.comb(n, cut)
    elif cut < k + 1 + l:  # lower, upper, method: the second-set bounds from above
        return ProfilePoint(t, 0, t, phase, configs, lower, upper, lower == upper, method)
    else:
        upper = math.comb(n, k) + n
    return ProfilePoint(t, 0, t, phase, configs, 1, upper, False, "not computed (too large): trivial bounds")


def _jrp_profile(n: int, k: int, l: int, variant: Variant, passes: int) -> list[ProfilePoint]:
    """Per-cut minimum for JR-p streams (p >= 2), length p * N with N = k + l + 1.

    Claim: for t <= (p - 1) N the completion (tokens t..pN-1) contains a whole aligned pass, which
    determines the input; two prefixes sharing a valid completion then come from the same input
    and agree: 1 state. For (p - 1) N < t <= p N the prefix contains pass 1, so it determines the
    input, and its only valid completion is the last p N - t tokens of a pass. The graph is a
    disjoint union, over those tails, of complete multipartite graphs split by answer: the least
    number of states is the largest number of distinct answers among inputs sharing a tail.
    That number is computed here by enumerating inputs at the set level (a tail fixes the sets
    of its tokens; the prefix part of the pass varies).
    """
    length_one = k + 1 + l
    points: list[ProfilePoint] = []
    s_all = subset_masks(n, k)
    t_all = subset_masks(n, l)
    s = np.repeat(s_all, t_all.size)
    t = np.tile(t_all, s_all.size)
    ans = _answers(s, t, variant).astype(np.int16)
    valid = ans != UNDEFINED if variant is Variant.SHARED else np.ones(ans.shape, dtype=bool)
    s, t, ans = s[valid], t[valid], ans[valid]
    n64 = np.uint64(n)
    s_elems = masks_to_sorted_elements(s, n, k) if s.size else np.zeros((0, k), dtype=np.int64)
    t_elems = masks_to_sorted_elements(t, n, l) if t.size else np.zeros((0, l), dtype=np.int64)
    for pos in range(passes * length_one + 1):
        r, off = divmod(pos, length_one)
        if pos == passes * length_one:
            r, off = passes - 1, length_one
        phase = "start" if pos == 0 else f"pass {r + 1}: {_phase(off, k) if off else 'start'}"
        if pos <= (passes - 1) * length_one or s.size == 0:
            method = "closed form: the completion holds a full pass"
            points.append(ProfilePoint(pos, r, off, phase, -1, 1, 1, True, method))
            continue
        o = pos - (passes - 1) * length_one  # tokens of the last pass already read
        if o <= k:
            sub = _combo_masks(s_elems, o) if o else np.zeros((s.size, 1), dtype=np.uint64)
            tail = (s[:, None] ^ sub) | (t[:, None] << n64)  # rest of first set, second set
        else:
            j = o - k - 1
            sub = _combo_masks(t_elems, j)
            tail = t[:, None] ^ sub
        a = np.broadcast_to(ans[:, None], tail.shape).ravel().astype(np.uint64)
        key = np.unique(np.stack([tail.ravel(), a], axis=1), axis=0)
        _, counts = np.unique(key[:, 0], return_counts=True)
        chi = int(counts.max())
        points.append(
            ProfilePoint(pos, r, off, phase, -1, chi, chi, True, "closed form: distinct answers per tail")
        )
    return points


def memory_profile_sequences(
    n: int, first: int, second: int, variant: Variant | str = Variant.DECISION, passes: int = 1
) -> list[int]:
    """Ground truth for tiny universes: the exact per-position minimum computed on token
    sequences (every order of every valid input, every cut), with no set-level shortcut.
    Returns the chromatic numbers, one per position 0..p*N. Feasible for n <= 4 (n = 5 may
    raise RuntimeError when the exact colouring does not finish).
    """
    n, k, l = _check_sizes(n, first, second)
    variant = Variant.parse(variant)
    if n > 5:
        raise ValueError(f"memory_profile_sequences enumerates token orders; n={n} must be <= 5")
    streams: list[tuple[tuple[int, ...], int | bool]] = []
    for s in itertools.combinations(range(n), k):
        for t in itertools.combinations(range(n), l):
            inter = set(s) & set(t)
            if variant is Variant.SHARED:
                if len(inter) != 1:
                    continue
                answer: int | bool = next(iter(inter))
            else:
                answer = not inter
            for ps in itertools.permutations(s):
                for pt in itertools.permutations(t):
                    one = (*ps, n, *pt)
                    streams.append((one * passes, answer))
    length = (k + l + 1) * passes
    out = []
    for cut in range(length + 1):
        prefixes: dict[tuple[int, ...], int] = {}
        groups: dict[tuple[int, ...], dict[int | bool, set[int]]] = {}
        for tokens, answer in streams:
            p = prefixes.setdefault(tokens[:cut], len(prefixes))
            groups.setdefault(tokens[cut:], {}).setdefault(answer, set()).add(p)
        adj = np.zeros((len(prefixes), len(prefixes)), dtype=bool)
        for by_answer in groups.values():
            parts = list(by_answer.values())
            for x in range(len(parts)):
                for y in range(x + 1, len(parts)):
                    ix = np.array(sorted(parts[x]))
                    iy = np.array(sorted(parts[y]))
                    adj[np.ix_(ix, iy)] = True
                    adj[np.ix_(iy, ix)] = True
        res = chromatic_number(adj, node_budget=200_000)
        if not res.exact:
            raise RuntimeError(f"sequence-level chromatic number not settled at cut {cut}")
        out.append(max(1, res.lower))
    return out


def profile_frame(points: list[ProfilePoint]) -> pd.DataFrame:
    """Tidy table of a profile: one row per position with bounds in states and bits."""
    rows = []
    for p in points:
        rows.append(
            dict(
                position=p.position,
                pass_index=p.pass_index,
                offset=p.offset,
                phase=p.phase,
                configurations=p.configurations,
                states_lower=p.lower,
                states_upper=p.upper,
                bits_lower=_bits(p.lower),
                bits_upper=_bits(p.upper),
                exact=p.exact,
                method=p.method,
            )
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# two-way complexity: fooling sets and rank
# --------------------------------------------------------------------------------------------


def fooling_set(n: int, k: int, l: int) -> np.ndarray:
    """A fooling set for decision SD on k-subsets x l-subsets of [n] (needs k + l <= n).

    With m = min(k, l), W = {0..2m-1}, A0 = the next k - m elements, B0 the l - m after them:
    pairs (Y ∪ A0, (W \\ Y) ∪ B0) for every m-subset Y of W. Each pair is disjoint; for Y != Y'
    the set Y ∪ A0 meets (W \\ Y') ∪ B0 in Y \\ Y' != ∅. Size C(2m, m).
    Returns uint64 [C(2m, m), 2] (first-set mask, second-set mask).
    """
    n, k, l = _check_sizes(n, k, l)
    if k + l > n:
        raise ValueError(f"a disjoint fooling set needs k + l <= n (k={k}, l={l}, n={n})")
    m = min(k, l)
    w_mask = np.uint64((1 << (2 * m)) - 1)
    a0 = np.uint64(((1 << (k - m)) - 1) << (2 * m))
    b0 = np.uint64(((1 << (l - m)) - 1) << (2 * m + k - m))
    ys = subset_masks(2 * m, m) if m else np.zeros(1, dtype=np.uint64)
    return np.stack([ys | a0, (w_mask & ~ys) | b0], axis=1).astype(np.uint64)


def verify_fooling_set(n: int, pairs: np.ndarray, variant: Variant | str = Variant.DECISION) -> bool:
    """Check the fooling-set property: all pairs (x_i, y_i) have the same answer z, and for i != j
    (x_i, y_j) or (x_j, y_i) has an answer != z (for the shared-element variant "!= z" means
    defined and different). Then no two pairs can share a leaf of a deterministic protocol, so
    D >= log2(size)."""
    variant = Variant.parse(variant)
    p = np.asarray(pairs, dtype=np.uint64)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"pairs must have shape [m, 2], got {p.shape}")
    if p.shape[0] == 0:
        return True
    full = np.uint64((1 << n) - 1)
    if np.any(p & ~full):
        raise ValueError(f"pairs contain elements outside [0, {n - 1}]")
    f = _answers(p[:, 0][:, None], p[:, 1][None, :], variant)
    diag = np.diagonal(f)
    if not np.all(diag == diag[0]) or (variant is Variant.SHARED and diag[0] == UNDEFINED):
        return False
    z = diag[0]
    differs = f != z
    if variant is Variant.SHARED:
        differs &= f != UNDEFINED
    off = differs | differs.T
    np.fill_diagonal(off, True)
    return bool(off.all())


RANK_PRIME = 2_147_483_647  # 2^31 - 1


def rank_mod_prime(matrix: np.ndarray, prime: int = RANK_PRIME) -> int:
    """Rank of an integer matrix over GF(prime), by exact Gaussian elimination in int64.

    Over the integers a nonzero minor stays nonzero unless ``prime`` divides it, so
    rank_GF(p)(M) <= rank_Q(M) = rank_R(M) always, with equality for all but finitely many p.
    """
    m = np.asarray(matrix)
    if m.dtype.kind not in "biu":
        raise TypeError(f"rank_mod_prime needs an integer or bool matrix, got dtype {m.dtype}")
    if not 2 <= prime < 2**31:
        raise ValueError(f"prime={prime} must be in [2, 2^31) so that products fit in int64")
    a = np.mod(m.astype(np.int64), prime)
    rank = 0
    rows, cols = a.shape
    for col in range(cols):
        if rank == rows:
            break
        hits = np.flatnonzero(a[rank:, col])
        if hits.size == 0:
            continue
        piv = rank + int(hits[0])
        a[[rank, piv]] = a[[piv, rank]]
        inv = pow(int(a[rank, col]), prime - 2, prime)
        a[rank] = (a[rank] * inv) % prime
        below = rank + 1 + np.flatnonzero(a[rank + 1 :, col])
        if below.size:
            factors = a[below, col][:, None]
            a[below] = (a[below] - (factors * a[rank][None, :]) % prime) % prime
        rank += 1
    return rank


def rank_real(matrix: np.ndarray) -> int:
    """Rank over the reals of a 0/1 (or integer) matrix, certified from below.

    Computed exactly over GF(2^31 - 1) (:func:`rank_mod_prime`), which is a lower bound on the
    real rank and equal to it except for primes dividing every maximal nonzero minor. When it
    equals min(rows, columns) the real rank is certified full. (Exact arithmetic; no SVD.)
    """
    m = np.asarray(matrix)
    if m.size == 0:
        return 0
    return rank_mod_prime(m)


def rank_gf2(matrix: np.ndarray) -> int:
    """Rank over GF(2) by Gaussian elimination on bit-packed rows."""
    m = np.asarray(matrix).astype(bool)
    if m.size == 0:
        return 0
    rows = np.packbits(m, axis=1, bitorder="little")
    pad = (-rows.shape[1]) % 8
    rows = np.ascontiguousarray(np.pad(rows, ((0, 0), (0, pad)))).view(np.uint64).copy()
    rank = 0
    n_rows = rows.shape[0]
    for col in range(m.shape[1]):
        word, bit = divmod(col, 64)
        sel = (rows[rank:, word] >> np.uint64(bit)) & np.uint64(1)
        hits = np.flatnonzero(sel)
        if hits.size == 0:
            continue
        piv = rank + int(hits[0])
        rows[[rank, piv]] = rows[[piv, rank]]
        below = rank + 1 + np.flatnonzero((rows[rank + 1 :, word] >> np.uint64(bit)) & np.uint64(1))
        rows[below] ^= rows[rank]
        rank += 1
        if rank == n_rows:
            break
    return rank


def disjointness_rank_closed_form(n: int, k: int, l: int, field: str = "real") -> int:
    """Rank of the decision SD matrix (k-subsets x l-subsets, k + l <= n).

    S ∩ T = ∅ iff S ⊆ [n] \\ T, so the matrix is the inclusion matrix W_{t,K}(n) of t-subsets
    versus K-subsets with t = min(k, l), K = n - max(k, l) (transposed if k > l), and
    t <= min(K, n - K) holds. Gottlieb–Kantor: over the reals it has full rank C(n, t).
    Wilson (1990): over GF(p) its rank is the sum over i = 0..t with p not dividing C(K-i, t-i) of
    C(n, i) - C(n, i-1). ``field``: "real" or "gf2".
    """
    n, k, l = _check_sizes(n, k, l)
    if k + l > n:
        raise ValueError(f"the closed form needs k + l <= n (k={k}, l={l}, n={n})")
    t, big = min(k, l), n - max(k, l)
    if field == "real":
        return math.comb(n, t)
    if field == "gf2":
        total = 0
        for i in range(t + 1):
            if math.comb(big - i, t - i) % 2:
                total += math.comb(n, i) - (math.comb(n, i - 1) if i else 0)
        return total
    raise ValueError(f"field={field!r}; allowed: 'real', 'gf2'")
