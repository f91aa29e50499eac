r"""Shared element SD inside the second set: certified bounds on the least number of states.

Setting (as in :mod:`sdtheory.comm`): universe [n], first set S (|S| = k), separator, second set
T (|T| = l); under the promise |S ∩ T| = 1 the algorithm outputs the shared element. The cut
lies after j of the l second-set elements, 1 <= j < l, m = l - j >= 1 elements remain; an
instance exists iff k >= 1 and k + l - 1 <= n. Throughout

    u = k + j - 1,    delta = n - k - l + 2.

A prefix configuration is (S, Q), Q the j elements of T read, |S ∩ Q| <= 1; its completions are
the m-sets R ⊆ [n] \ Q, valid iff |S ∩ (Q ∪ R)| = 1, answering the shared element. The least
number of states is the chromatic number chi of the incompatibility graph (two configurations
conflict iff a completion valid for both gets different answers); a colour class is a family of
pairwise compatible configurations, i.e. one total answer function extending all of them.

* clean (S ∩ Q = ∅): valid R are those with |R ∩ S| = 1; the answer is that element.
* found (S ∩ Q = {a}): valid R are those with R ∩ U = ∅, U = S ∪ Q (|U| = u); the answer is a.
  So a found configuration is determined, as a partial function, by (a, U); every (a, U) with
  a in U and |U| = u occurs (split U \ {a} into k - 1 and j - 1 elements).

**Lemma 1 (conflicts).** Let m >= 2.

(CC) Clean (S, Q), (S', Q') conflict iff some x in S \ (S' ∪ Q') and y in S' \ (S ∪ Q) exist and
     n - |S ∪ S' ∪ Q ∪ Q'| >= m - 2.
(FF) Found (a, U), (a', U') conflict iff a != a' and n - |U ∪ U'| >= m.
(CF) Clean (S, Q) and found (a, U) conflict iff S ⊄ U and n - |S ∪ Q ∪ U| >= m - 1.

Proof. (CC) A conflicting R avoids Q ∪ Q' and has R ∩ S = {x}, R ∩ S' = {y}, x != y. Then
x ∉ S' (else x in R ∩ S' = {y}) and x ∉ Q' (R avoids Q'); likewise y ∉ S ∪ Q; the other m - 2
elements of R avoid S ∪ S' ∪ Q ∪ Q'. Conversely R = {x, y} plus m - 2 elements outside
S ∪ S' ∪ Q ∪ Q' avoids Q and Q' (x in S is not in Q, y ∉ Q by choice) and meets S in {x}, S' in
{y}. (FF) The common valid R are the m-sets avoiding U ∪ U', answered a and a'. (CF) A common
valid R avoids U ∪ Q and meets S in one element x; x ∉ U, so x != a: every common valid R is a
conflict. Such an R exists iff some x in S \ U exists (x ∉ Q as S ∩ Q = ∅) and m - 1 further
elements avoid S ∪ Q ∪ U. ∎

**Lemma 2 (nested sandwich sets).** If S ⊆ W ⊆ S ∪ Q, S' ⊆ W' ⊆ S' ∪ Q' and W ⊆ W', the clean
configurations (S, Q) and (S', Q') are compatible (any m >= 1). Proof: a common valid R meets S
in one element x; x in S ⊆ W' ⊆ S' ∪ Q' and R avoids Q', so x in S', hence R ∩ S' = {x} too
(it has one element): equal answers. ∎ Consequently, for a chain W_1 ⊂ W_2 ⊂ ... all clean
configurations "sandwiching" some W_i are pairwise compatible and share one state (answer
function: the element of R ∩ W_i for any i with |R ∩ W_i| = 1; the sets R ∩ W_i are nested, so
all such singletons coincide).

**Theorem A (upper bound; all 1 <= j < l, k >= 1, an instance).**
chi <= min(C(n - 1, k), C(n - 1, u)) + n.
Fix an element x (here x = n - 1). Found configurations get the class of their answer a (n
classes; equal answers on every common completion). Clean ones, two alternative chain families:

* (k-chains) {A, A ∪ {x}} for every k-set A ∌ x: (S, Q) with x ∉ S sandwiches W = A = S; with
  x in S pick q in Q (j >= 1; q != x) and W = A ∪ {x}, A = (S \ {x}) ∪ {q}: S ⊆ W ⊆ S ∪ Q.
* (u-chains) {B, B ∪ {x}} for every u-set B ∌ x: if x ∉ S ∪ Q, W = B = (S ∪ Q) \ {q} for some
  q in Q; if x in S ∪ Q, W = B ∪ {x} = S ∪ Q with B = (S ∪ Q) \ {x}.

By Lemma 2 each chain is one class: C(n - 1, k), resp. C(n - 1, u) clean classes. ∎
:func:`chain_colouring` builds both colourings. This improves on store-first C(n, k) + n by
C(n - 1, k - 1) at least.

**Theorem B (lower bound; k >= 2, m >= 2, k + l <= n, so delta >= 2).** With t = max(0, k - delta),
chi >= C(n - j - t, k - t) + n, by an explicit clique (:func:`clique_configurations`):
fix a j-set Q0, a set C ⊇ Q0 of size u - 1 = k + j - 2, an element z ∉ C, and a t-set
T0 ⊆ C \ Q0 (|C \ Q0| = k - 2 >= t since delta >= 2). The clique is

* clean (S, Q0) for every k-set S with T0 ⊆ S ⊆ [n] \ Q0: C(n - j - t, k - t) configurations;
* found (a, C ∪ {a}) for a ∉ C and (a, C ∪ {z}) for a in C: n configurations, one per answer.

Checks with Lemma 1. CC: d = |S \ S'| is between 1 and k - t <= delta, x in S \ S', y in S' \ S
are outside Q0 and |S ∪ S' ∪ Q0| = k + d + j <= n - m + 2 (that is d <= delta). FF: all the
U's are C plus one element, so |U ∪ U'| <= u + 1 = k + j <= n - m (k + l <= n), answers
distinct. CF: U = C ∪ {y} meets [n] \ Q0 in k - 1 elements, so the k-set S ⊄ U; T0 ⊆ S ∩ U
gives |S \ U| <= k - t <= delta, so |S ∪ Q0 ∪ U| = u + |S \ U| <= n - m + 1. ∎

**Corollary (closed form).** k >= 2, j = 1, m >= 2 and delta >= k (n >= 2k + l - 2):
chi = C(n - 1, k) + n (Theorem B with t = 0 meets Theorem A's k-chains). For k = 2 every
position with m >= 2 and k + l <= n has delta >= 2 = k, so t = 0 and C(n - j, 2) + n <= chi.

Open: for j >= 2 the gap between C(n - j, k) + n and Theorem A. The clean part is the least
number of classes of the graph of Lemma 1 (CC); by Lemma 2 any family of chains whose members
sandwich every clean configuration is an upper bound, and families better than {A, A + x} exist
for small n, but no closed form is proved here. For delta < k found configurations can share
classes with clean ones ((CF) fails for lack of room), which Theorem A does not use.

:func:`shared_second_set_bounds` combines these with the closed forms of
:func:`sdtheory.comm.shared_second_set_states` and the bounds of
:func:`sdtheory.comm._shared_second_set_bounds`, so it is never weaker than either.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from sdtheory.combinatorics.codes import distance_graph_lower
from sdtheory.combinatorics.integers import check_int
from sdtheory.combinatorics.interval import Bounds
from sdtheory.matrices import check_sizes

__all__ = [
    "chain_colouring",
    "clique_configurations",
    "configurations",
    "partial_functions",
    "shared_second_set_basic_bounds",
    "shared_second_set_bounds",
    "shared_second_set_states",
    "theorem_a_upper",
    "theorem_b_lower",
]


def _check(n: int, k: int, l: int, j: int) -> None:
    for name, v in (("n", n), ("k", k), ("l", l), ("j", j)):
        check_int(name, v)
    if not (1 <= j < l and k >= 1 and k + l - 1 <= n and l <= n):
        raise ValueError(f"needs 1 <= j < l, k >= 1 and k + l - 1 <= n (n={n}, k={k}, l={l}, j={j})")


def theorem_a_upper(n: int, k: int, l: int, j: int) -> int:
    """Theorem A: min(C(n - 1, k), C(n - 1, k + j - 1)) + n (k-chains / u-chains plus answers)."""
    _check(n, k, l, j)
    return min(math.comb(n - 1, k), math.comb(n - 1, k + j - 1)) + n


def theorem_b_lower(n: int, k: int, l: int, j: int) -> int | None:
    """Theorem B: C(n - j - t, k - t) + n with t = max(0, k - delta), delta = n - k - l + 2, when
    k >= 2, m = l - j >= 2 and k + l <= n; None outside these hypotheses."""
    _check(n, k, l, j)
    if k < 2 or l - j < 2 or k + l > n:
        return None
    t = max(0, k - (n - k - l + 2))
    return math.comb(n - j - t, k - t) + n


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
    n, k, l = check_sizes(n, k, l)
    if not 1 <= j < l or k == 0 or k + l - 1 > n:
        raise ValueError(f"needs 1 <= j < l and an instance (n={n}, k={k}, l={l}, j={j})")
    if k == 1 or k + l == n + 1:
        return n
    if j == l - 1 and k + l <= n:
        return n + 1
    return None


def shared_second_set_basic_bounds(n: int, k: int, l: int, j: int) -> Bounds:
    """Shared element, after j of l second-set elements (1 <= j < l, k >= 1, an instance exists):
    n distinct answers (a clique) or, with l - j >= 2 elements left, the fixed-Q sub-graph
    G(n - j, k, n - k - l + 2) below; store-first C(n, k) + n above (docs/theory/shared-second-set.md)."""
    bounds = Bounds(n, math.comb(n, k) + n, "n distinct answers", "store-first C(n, k) + n")
    if l - j >= 2:
        sub = distance_graph_lower(n - j, k, n - k - l + 2)
        bounds = bounds.tighten_lower(sub, "fixed-Q sub-graph G(n - j, k, delta)")
    return bounds


def shared_second_set_bounds(n: int, k: int, l: int, j: int) -> Bounds:
    """Certified bounds on the least number of states of the shared element variant after j of
    the l second-set elements (1 <= j < l, k >= 1, k + l - 1 <= n): the closed forms of
    :func:`shared_second_set_states` first (k = 1, k + l = n + 1, one element left); otherwise
    the better end of :func:`shared_second_set_basic_bounds` and Theorems A and B."""
    _check(n, k, l, j)
    closed = shared_second_set_states(n, k, l, j)
    if closed is not None:
        return Bounds.exactly(closed, "closed form: shared second set")
    bounds = shared_second_set_basic_bounds(n, k, l, j)
    b = theorem_b_lower(n, k, l, j)
    if b is not None:
        t = max(0, k - (n - k - l + 2))
        bounds = bounds.tighten_lower(b, f"clique C(n - j - {t}, k - {t}) + n")
    which = "k" if math.comb(n - 1, k) <= math.comb(n - 1, k + j - 1) else "k + j - 1"
    return bounds.tighten_upper(
        theorem_a_upper(n, k, l, j), f"chains {{A, A + x}} of ({which})-sets + n answers"
    )


# --------------------------------------------------------------------------------------------
# explicit constructions (small n), in the row order of sdtheory.profile.cuts.cut_matrix
# --------------------------------------------------------------------------------------------


def configurations(n: int, k: int, l: int, j: int) -> tuple[np.ndarray, np.ndarray]:
    """All prefix configurations (S, Q) as uint64 masks, sorted by the key S | Q << n: the row
    order of :func:`sdtheory.profile.cuts.cut_matrix` at offset k + 1 + j (shared element)."""
    _check(n, k, l, j)
    out = []
    for s in itertools.combinations(range(n), k):
        sm = sum(1 << e for e in s)
        for q in itertools.combinations(range(n), j):
            qm = sum(1 << e for e in q)
            if (sm & qm).bit_count() <= 1:
                out.append((sm | (qm << n), sm, qm))
    out.sort()
    return (
        np.array([o[1] for o in out], dtype=np.uint64),
        np.array([o[2] for o in out], dtype=np.uint64),
    )


def partial_functions(n: int, k: int, l: int, j: int) -> np.ndarray:
    """Rows of answers (int16, -1 where invalid) of :func:`configurations` against every m-set R
    in increasing mask order, computed directly from the definition (for tests)."""
    s, q = configurations(n, k, l, j)
    rs = [sum(1 << e for e in r) for r in itertools.combinations(range(n), l - j)]
    rs.sort()
    out = np.full((s.size, len(rs)), -1, dtype=np.int16)
    for i, (sm, qm) in enumerate(zip(s.tolist(), q.tolist(), strict=True)):
        for c, r in enumerate(rs):
            if r & qm:
                continue
            hit = sm & (qm | r)
            if hit.bit_count() == 1:
                out[i, c] = hit.bit_length() - 1
    return out


def chain_colouring(n: int, k: int, l: int, j: int, family: str = "k") -> np.ndarray:
    """Theorem A's colouring of :func:`configurations` (int64 colours 0..C(n - 1, w) + n - 1,
    w = k for ``family="k"``, w = k + j - 1 for ``family="u"``): found configurations coloured by
    their answer (0..n-1), clean ones by the chain {A, A + x} (x = n - 1) they sandwich."""
    _check(n, k, l, j)
    if family not in ("k", "u"):
        raise ValueError(f"family={family!r} must be 'k' or 'u'")
    w = k if family == "k" else k + j - 1
    x = 1 << (n - 1)
    index = {sum(1 << e for e in a): i for i, a in enumerate(itertools.combinations(range(n - 1), w))}
    s_all, q_all = configurations(n, k, l, j)
    col = np.empty(s_all.size, dtype=np.int64)
    for i, (s, q) in enumerate(zip(s_all.tolist(), q_all.tolist(), strict=True)):
        if s & q:
            col[i] = (s & q).bit_length() - 1
            continue
        if family == "k":
            if s & x:
                low = q & -q  # q != x since x in S and S ∩ Q = ∅
                base = (s & ~x) | low
            else:
                base = s
        else:
            v = s | q
            if v & x:
                base = v & ~x
            else:
                low = q & -q
                base = v & ~low
        col[i] = n + index[base]
    return col


def clique_configurations(n: int, k: int, l: int, j: int) -> tuple[np.ndarray, np.ndarray]:
    """Theorem B's clique as (S masks, Q masks), C(n - j - t, k - t) + n configurations, with
    Q0 = {0..j-1}, C = {0..k+j-3}, T0 = {j..j+t-1}, z = k + j - 2; hypotheses of Theorem B."""
    if theorem_b_lower(n, k, l, j) is None:
        raise ValueError("Theorem B needs k >= 2, l - j >= 2 and k + l <= n")
    t = max(0, k - (n - k - l + 2))
    q0 = (1 << j) - 1
    c = (1 << (k + j - 2)) - 1
    t0 = ((1 << t) - 1) << j
    z = k + j - 2
    ss, qs = [], []
    rest = [e for e in range(j + t, n)]
    for extra in itertools.combinations(rest, k - t):
        ss.append(t0 | sum(1 << e for e in extra))
        qs.append(q0)
    for a in range(n):
        u_set = c | (1 << a) if not (c >> a) & 1 else c | (1 << z)
        # realise (a, U): S = a plus k - 1 others of U, Q = a plus the remaining j - 1 of U
        others = [e for e in range(n) if (u_set >> e) & 1 and e != a]
        s_m = (1 << a) | sum(1 << e for e in others[: k - 1])
        q_m = (1 << a) | sum(1 << e for e in others[k - 1 :])
        ss.append(s_m)
        qs.append(q_m)
    return np.array(ss, dtype=np.uint64), np.array(qs, dtype=np.uint64)
