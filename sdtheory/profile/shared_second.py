r"""Shared element SD inside the second set: closed forms, chains and cliques.

After j of the l second-set elements (1 <= j < l, k >= 1, k + l - 1 <= n):
:func:`shared_second_set_states` gives the closed forms (n for k = 1 or k + l = n + 1, n + 1
with one element left); otherwise :func:`shared_second_set_bounds` combines n distinct answers
and the fixed-Q sub-graph (:func:`shared_second_set_basic_bounds`), Theorem B's clique
C(n - j - t, k - t) + n below (:func:`theorem_b_lower`) and Theorem A's chains
min(C(n - 1, k), C(n - 1, k + j - 1)) + n above (:func:`theorem_a_upper`); they meet,
C(n - 1, k) + n, after the first element when n >= 2k + l - 2. The explicit colourings and
cliques are built for small n. Proofs: docs/theory/shared-second-set.md; symbols:
docs/theory/glossary.md (A-first convention).
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
    """Shared element, after j of the l second-set elements (1 <= j < l, an instance exists): the
    least number of states in closed form, None if unknown. m = l - j >= 1 elements remain.

    k = 1 or k + l = n + 1 (tight promise): n (colour by the element of S, resp. by
    (sum(S) + sum(Q)) mod n); one element left (m = 1), k >= 2, k + l <= n: n + 1 (one class for
    the configurations with S ∩ Q = ∅, one per shared element found). Proofs, with the cliques
    that make them exact: docs/theory/shared-second-set.md.
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
