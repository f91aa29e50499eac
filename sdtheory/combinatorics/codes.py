"""Distance graphs G(n, w, delta) and partitions of the w-subsets of [n] into constant-weight codes.

G(n, w, delta) joins two w-subsets P, P' of [n] when 1 <= |P \\ P'| <= delta; a colour class is a
constant-weight code of weight w and Hamming distance 2 (delta + 1), so chi(n, w, delta) is the
least number of codes partitioning the w-sets. :func:`code_partition` certifies it from both
sides: ceil(V / alpha) with alpha exact (:func:`max_code`) or Johnson-bounded
(:func:`johnson_bound`), star cliques and the integer arguments of :mod:`.packings` and
:mod:`.quadruple_systems` below; Graham–Sloane, complementary-pair, stored
(:mod:`.code_certificates`, checked on every use), DSATUR, tabu and exact colourings above.
:func:`distance_graph_bounds` adds the closed forms (complete graph, Baranyai). Proofs, and which
chi(n, w, delta) with n <= 16 stay open: docs/theory/constant-weight-codes.md.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from sdtheory.combinatorics import code_certificates, packings, quadruple_systems
from sdtheory.combinatorics.bitsets import masks_to_sorted_elements, popcount, subset_masks
from sdtheory.combinatorics.graphs import (
    dsatur_coloring,
    exact_coloring,
    is_proper_coloring,
    max_clique,
    rlf_coloring,
    tabu_coloring,
)
from sdtheory.combinatorics.interval import Bounds

__all__ = [
    "CodePartition",
    "baranyai_states",
    "code_partition",
    "distance_graph",
    "distance_graph_bounds",
    "distance_graph_closed_form",
    "distance_graph_lower",
    "johnson_bound",
    "max_code",
    "power_sum_coloring",
    "smallest_prime_at_least",
    "stored_coloring",
    "sum_mod_coloring",
]


def distance_graph(n: int, w: int, delta: int) -> np.ndarray:
    """Adjacency bool [C(n, w), C(n, w)] of G(n, w, delta) in the order of
    :func:`sdtheory.combinatorics.bitsets.subset_masks`: P ~ P' iff 1 <= |P \\ P'| <= delta."""
    masks = subset_masks(n, w)
    d = popcount(masks[:, None] & ~masks[None, :])
    return (d >= 1) & (d <= delta)


def _elements(n: int, w: int) -> np.ndarray:
    masks = subset_masks(n, w)
    if w == 0:
        return np.zeros((masks.size, 0), dtype=np.int64)
    return masks_to_sorted_elements(masks, n, w).astype(np.int64)


def _compress(keys: np.ndarray) -> np.ndarray:
    """Relabel arbitrary colour keys (one row per vertex) as 0..(number of distinct keys - 1)."""
    _, inv = np.unique(keys, axis=0, return_inverse=True)
    return inv.reshape(-1).astype(np.int64)


def sum_mod_coloring(n: int, w: int) -> np.ndarray:
    """Graham–Sloane colouring for delta = 1: c(P) = (sum of the elements of P) mod n; proper on
    G(n, w, 1) with at most n colours (the count is taken from the colouring). Proof:
    docs/theory/constant-weight-codes.md, fact 6.
    """
    e = _elements(n, w)
    return _compress((e.sum(axis=1) % n)[:, None])


def smallest_prime_at_least(m: int) -> int:
    """The least prime p >= max(m, 2)."""
    p = max(m, 2)
    while any(p % q == 0 for q in range(2, math.isqrt(p) + 1)):
        p += 1
    return p


def power_sum_coloring(n: int, w: int, delta: int) -> np.ndarray:
    """Graham–Sloane colouring for any delta >= 1: c(P) = (sum_{x in P} x^e mod q) for e = 1..delta,
    q the least prime >= n; proper on G(n, w, delta) with at most q^delta colours (Newton's
    identities). Proof: docs/theory/constant-weight-codes.md, fact 7.
    """
    if delta < 1:
        raise ValueError(f"delta={delta} must be >= 1")
    p = smallest_prime_at_least(n)
    e = _elements(n, w)
    keys = np.stack([np.sum(np.mod(e**j, p), axis=1) % p for j in range(1, delta + 1)], axis=1)
    return _compress(keys)


def complement_pair_coloring(n: int, w: int) -> np.ndarray:
    """n = 2w: colour P and [n] \\ P alike (C(n, w) / 2 colours). Proper on G(2w, w, delta) for
    every delta <= w - 1, because complementary w-sets are at distance w."""
    if n != 2 * w:
        raise ValueError(f"complement pairs need n = 2w (n={n}, w={w})")
    masks = subset_masks(n, w)
    full = np.uint64((1 << n) - 1)
    return _compress(np.minimum(masks, full ^ masks)[:, None])


def stored_coloring(n: int, w: int, delta: int) -> np.ndarray | None:
    """The colouring of G(n, w, delta) stored in :mod:`sdtheory.combinatorics.code_certificates`, checked, or
    None if there is none.

    Entries are stored for w <= n / 2; for w > n / 2 the entry of (n, n - w, delta) is carried over
    by complementation (P gets the colour of [n] \\ P; an isomorphism, see the module docstring).
    The decoded colouring is verified to be proper on :func:`distance_graph` with exactly the
    stated number of colours every time; a ValueError is raised otherwise (a corrupt entry is
    never used).
    """
    m = min(w, n - w)
    entry = code_certificates.COLORINGS.get((n, m, delta))
    if entry is None:
        return None
    k, hexdata = entry
    col = np.frombuffer(bytes.fromhex(hexdata), dtype=np.uint8).astype(np.int64)
    if col.size != math.comb(n, m):
        raise ValueError(f"stored colouring of G({n}, {m}, {delta}) has {col.size} entries")
    if m != w:
        small = subset_masks(n, m)
        comp = np.uint64((1 << n) - 1) ^ subset_masks(n, w)
        col = col[np.searchsorted(small, comp)]
    proper = is_proper_coloring(distance_graph(n, w, delta), col)
    if not proper or np.unique(col).size != k or col.max() != k - 1:
        raise ValueError(f"stored colouring of G({n}, {w}, {delta}) is not a proper {k}-colouring")
    return col


@functools.cache
def johnson_bound(n: int, d: int, w: int) -> int:
    """Upper bound on A(n, 2d, w), the largest family of w-subsets of [n] with |P \\ P'| >= d
    for all distinct members (a constant-weight code of Hamming distance 2d): the minimum of the
    trivial bounds, floor(n / w) for d = w, Johnson's first bound and his two recursive bounds.
    Proofs: docs/theory/constant-weight-codes.md, fact 4.
    """
    if d <= 1:
        return math.comb(n, w)
    if min(w, n - w) < d:
        return 1
    best = math.comb(n, w)
    if d == w:
        best = min(best, n // w)
    if d == n - w:
        best = min(best, n // (n - w))
    t = w - d
    if w * w > n * t:
        best = min(best, n * (w - t) // (w * w - n * t))
    best = min(best, n * johnson_bound(n - 1, d, w - 1) // w)
    best = min(best, n * johnson_bound(n - 1, d, w) // (n - w))
    return best


def max_code(n: int, w: int, delta: int, node_budget: int = 20_000) -> tuple[np.ndarray, bool]:
    """A largest independent set of G(n, w, delta) (a code of Hamming distance 2 delta + 2).

    By symmetry the code may contain P0 = {0..w-1} and a canonical second member P1_t for some
    overlap t; the rest is a maximum clique (:func:`sdtheory.combinatorics.graphs.max_clique`)
    of the complement graph on the w-sets far from both (docs/theory/constant-weight-codes.md,
    fact 5). Stops early when the code meets :func:`johnson_bound`. Returns (indices into
    subset_masks(n, w), exact); ``exact`` False means a budget ran out and the code is only the
    largest found.
    """
    masks = subset_masks(n, w)
    p0_mask = (1 << w) - 1
    p0 = int(np.flatnonzero(masks == np.uint64(p0_mask))[0])
    far0 = popcount(masks & ~masks[p0]) > delta
    if not far0.any():
        return np.array([p0], dtype=np.int64), True
    best = np.array([p0, int(np.flatnonzero(far0)[0])], dtype=np.int64)
    all_exact = True
    for t in range(max(0, 2 * w - n), w - delta):
        p1_mask = ((1 << t) - 1) | (((1 << (w - t)) - 1) << w)
        p1 = int(np.flatnonzero(masks == np.uint64(p1_mask))[0])
        far = np.flatnonzero(far0 & (popcount(masks & ~masks[p1]) > delta))
        if far.size == 0:
            code = np.array([p0, p1], dtype=np.int64)
        else:
            sub = masks[far]
            comp = popcount(sub[:, None] & ~sub[None, :]) > delta
            clique, exact = max_clique(comp, node_budget=node_budget)
            all_exact &= exact
            code = np.concatenate([[p0, p1], far[clique]]).astype(np.int64)
        if code.size > best.size:
            best = code
        if best.size >= johnson_bound(n, delta + 1, w):
            return np.sort(best), True  # meets a proven upper bound: maximum
    return np.sort(best), all_exact


@dataclass(frozen=True)
class CodePartition:
    """Certified bounds on chi(n, w, delta) with the certificates.

    ``coloring``: a proper colouring of :func:`distance_graph` with ``upper`` colours;
    ``code``: an independent set (a code) found; ``alpha_upper``: a proven upper bound on the
    independence number (exact when ``alpha_exact``); ``lower`` = max(clique, ceil(V / alpha_upper)).
    """

    n: int
    w: int
    delta: int
    lower: int
    upper: int
    coloring: np.ndarray
    code: np.ndarray
    alpha_upper: int
    alpha_exact: bool
    exact: bool
    method: str

    @property
    def bounds(self) -> Bounds:
        """The interval on chi(n, w, delta) as a :class:`~sdtheory.combinatorics.interval.Bounds`."""
        return Bounds.of(self.lower, self.upper, self.method)


# Integer arguments that raise ceil(V / alpha) by one for particular graphs; each returns
# (new lower bound, reason) or None, and is tried in this order (see the modules for the proofs).
_INTEGER_ARGUMENTS = (packings.partition_lower_bound, quadruple_systems.partition_lower_bound)


def _star_clique(n: int, w: int, delta: int) -> int:
    """All w-sets through a fixed (w - delta)-set are pairwise at distance <= delta: a clique of
    size C(n - w + delta, delta) (for w' = min(w, n - w))."""
    m = min(w, n - w)
    return math.comb(n - m + min(delta, m), min(delta, m))


@functools.cache
def code_partition(
    n: int,
    w: int,
    delta: int,
    *,
    node_budget: int = 20_000,
    tabu_iters: int = 20_000,
    max_vertices: int = 3500,
) -> CodePartition:
    """Certified bounds on the least number of codes partitioning the w-subsets of [n] (the
    chromatic number of G(n, w, delta)); cached per arguments.

    Lower: max(star clique, ceil(V / alpha_upper)), alpha_upper the exact maximum code size when
    :func:`max_code` finishes, else :func:`johnson_bound` (and at least the code found); for
    (9, 4, 1) and (9, 5, 1) the bound 7 is raised to 8 when the exhaustive search
    :func:`sdtheory.combinatorics.packings.packing_partition_search` finds no partition into 7 packings;
    for (10, 4, 1), (10, 5, 1), (11, 5, 1) (and their complements) from 7 to 8 when
    :func:`sdtheory.combinatorics.quadruple_systems.disjoint_sqs_search` finds at most 6 pairwise disjoint
    SQS(10) (the lemma of :mod:`sdtheory.combinatorics.quadruple_systems`: 7 classes would give 7).
    Upper: the best proper colouring among complete-graph (V colours), Graham–Sloane
    (:func:`sum_mod_coloring` for delta = 1, :func:`power_sum_coloring`), complementary pairs
    (n = 2w), a stored certificate (:func:`stored_coloring`, checked), DSATUR, tabu search below
    the best count (down to the lower bound), and exact DSATUR branch and bound
    (:func:`sdtheory.combinatorics.graphs.exact_coloring`) for small graphs.
    Above ``max_vertices`` vertices no graph is built: Johnson below, the Graham–Sloane colour
    counts (proper by the theorems in their docstrings) above; ``coloring`` is then empty.
    """
    v = math.comb(n, w)
    m = min(w, n - w)
    if delta < 1 or m == 0:
        raise ValueError(f"code_partition needs delta >= 1 and 0 < w < n (n={n}, w={w}, delta={delta})")
    if v > max_vertices:
        # no graph: proven bounds only (Johnson below; Graham–Sloane colour counts above)
        lower = max(_star_clique(n, w, delta), -(-v // johnson_bound(n, delta + 1, w)))
        counts = [(v, "all distinct")]
        if delta < m:
            counts.append((smallest_prime_at_least(n) ** delta, "Graham–Sloane power sums mod p"))
        if delta == 1:
            counts.append((n, "Graham–Sloane sum mod n"))
        upper, name = min(counts)
        none = np.zeros(0, dtype=np.int64)
        method = f"bounds (graph not built): ceil(V / Johnson bound) below, {name} above"
        return CodePartition(
            n,
            w,
            delta,
            lower,
            upper,
            none,
            none,
            johnson_bound(n, delta + 1, w),
            False,
            lower == upper,
            method,
        )
    adj = distance_graph(n, w, delta)
    code, alpha_exact = max_code(n, w, delta, node_budget=node_budget)
    alpha_upper = code.size if alpha_exact else max(code.size, johnson_bound(n, delta + 1, w))
    lower = max(_star_clique(n, w, delta), -(-v // alpha_upper))
    lower_method = "ceil(V / alpha)" if alpha_exact else "ceil(V / Johnson bound)"
    for argument in _INTEGER_ARGUMENTS:  # integer (non-fractional) arguments for single graphs
        raised = argument(n, w, delta, lower)
        if raised is not None:
            lower, lower_method = raised
    candidates: list[tuple[str, np.ndarray]] = [("all distinct", np.arange(v, dtype=np.int64))]
    if delta == 1:
        candidates.append(("Graham–Sloane sum mod n", sum_mod_coloring(n, w)))
    if delta < m:
        candidates.append(("Graham–Sloane power sums mod p", power_sum_coloring(n, w, delta)))
    if n == 2 * w and delta < w:
        candidates.append(("complementary pairs", complement_pair_coloring(n, w)))
    stored = stored_coloring(n, w, delta)
    if stored is not None:
        candidates.append(("stored certificate", stored))
    candidates.append(("DSATUR", dsatur_coloring(adj)))
    candidates.append(("recursive largest first", rlf_coloring(adj)))
    name, best = min(candidates, key=lambda c: int(c[1].max()) + 1)
    upper = int(best.max()) + 1
    # aim at the lower bound first; after a failure, once more halfway between the two
    for k in sorted({lower, (lower + upper) // 2}):
        if tabu_iters <= 0 or k >= upper:
            break
        found = tabu_coloring(adj, k, max_iters=tabu_iters, seed=k, start=best)
        if found is not None:
            name, best, upper = "tabu search", found, int(found.max()) + 1
            break
    exact_done = False
    if upper > lower and v <= 200:
        k, col, exact_done = exact_coloring(adj, upper, best, node_budget=node_budget)
        if k < upper:
            name, best, upper = "exact DSATUR branch and bound", col, k
        if exact_done:
            lower = upper
    if not is_proper_coloring(adj, best):
        raise AssertionError(f"improper colouring from {name} for G({n}, {w}, {delta})")
    exact = lower == upper
    if exact_done:
        method = "exact DSATUR branch and bound"
    elif exact:
        method = f"{lower_method} = {name} colouring"
    else:
        method = f"bounds: {lower_method} below, {name} colouring above"
    return CodePartition(n, w, delta, lower, upper, best, code, alpha_upper, alpha_exact, exact, method)


def baranyai_states(n: int, m: int) -> int:
    """ceil(C(n, m) / floor(n / m)): the chromatic index of the complete m-uniform hypergraph on
    [n] (Baranyai 1975), i.e. the least number of classes of pairwise disjoint m-subsets that
    partition all m-subsets of [n]."""
    if not 1 <= m <= n:
        raise ValueError(f"baranyai_states needs 1 <= m <= n (m={m}, n={n})")
    return -(-math.comb(n, m) // (n // m))


def distance_graph_closed_form(n: int, w: int, delta: int) -> int | None:
    """chi(G(n, w, delta)) when known in closed form, else None: C(n, w) if
    delta >= min(w, n - w) (complete graph), Baranyai's ceil(C(n, m) / floor(n / m)) if
    delta = m - 1 with m = min(w, n - w) (the classes are matchings of the complete m-uniform
    hypergraph, :func:`baranyai_states`)."""
    m = min(w, n - w)
    if m == 0 or delta >= m:
        return math.comb(n, w)
    if delta == m - 1:
        return baranyai_states(n, m)
    return None


def distance_graph_bounds(n: int, w: int, delta: int, tabu_iters: int = 3000) -> Bounds:
    """Certified bounds on chi(G(n, w, delta)) (delta >= 1, 0 < w < n): the closed forms of
    :func:`distance_graph_closed_form` when they apply, else :func:`code_partition` on the smaller
    side min(w, n - w) (complementation P -> [n] \\ P preserves |P \\ P'|, so the graphs for w
    and n - w are isomorphic). ``tabu_iters``: the colouring search effort."""
    closed = distance_graph_closed_form(n, w, delta)
    if closed is not None:
        why = "complete graph" if delta >= min(w, n - w) else "Baranyai"
        return Bounds.exactly(closed, f"closed form: {why}")
    part = code_partition(n, min(w, n - w), delta, tabu_iters=tabu_iters)
    return Bounds.of(part.lower, part.upper, f"code partition: {part.method}")


def distance_graph_lower(n: int, w: int, delta: int) -> int:
    """A lower bound on chi(G(n, w, delta)) without building the graph: the closed forms, else
    max(star clique, ceil(C(n, w) / Johnson bound)); 0 if w is not in 0..n."""
    if w < 0 or w > n:
        return 0
    closed = distance_graph_closed_form(n, w, delta)
    if closed is not None:
        return closed
    return max(_star_clique(n, w, delta), -(-math.comb(n, w) // johnson_bound(n, delta + 1, w)))
