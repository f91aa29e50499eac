"""Chromatic number of small graphs: the exact one-way bound of a *promise* problem.

For a function with a promise (inputs outside the promise may get any answer) the rows of the
communication matrix are not compared for equality but for *compatibility*: two prefixes are
compatible iff no completion valid for both gets different answers. The least number of states
after the prefix is then the chromatic number of the incompatibility graph (each colour class is
a set of pairwise compatible prefixes, and one state can serve all of them). Chromatic number
is NP-hard in general, so :func:`chromatic_number` returns a certified interval:

* ``lower``: the size of a clique it found (pairwise incompatible prefixes, i.e. a fooling
  family) or ceil(V / alpha) when the independence number alpha was computed exactly;
* ``upper``: the number of colours of a proper colouring it found (DSATUR, then exact
  branch and bound within a node budget);
* ``exact``: lower == upper.

Graphs are dense boolean adjacency matrices [V, V] (symmetric, False diagonal).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sdtheory.combinatorics.interval import Bounds

__all__ = [
    "ChromaticResult",
    "chromatic_number",
    "dsatur_coloring",
    "exact_coloring",
    "greedy_clique",
    "is_clique",
    "is_proper_coloring",
    "max_clique",
    "rlf_coloring",
    "tabu_coloring",
]


@dataclass(frozen=True)
class ChromaticResult:
    """A certified interval for the chromatic number.

    ``coloring``: int64 [V], a proper colouring with ``upper`` colours.
    ``clique``: int64 indices of a clique (the clique part of the lower bound).
    ``method``: how both ends were found; ``lower_proof`` / ``upper_proof``: the argument behind
    each end on its own (see :attr:`bounds`).
    """

    lower: int
    upper: int
    coloring: np.ndarray
    clique: np.ndarray
    exact: bool
    method: str
    lower_proof: str = "clique"
    upper_proof: str = "colouring"

    @property
    def bounds(self) -> Bounds:
        """The interval as a :class:`~sdtheory.combinatorics.interval.Bounds` (summary: ``method``)."""
        return Bounds(self.lower, self.upper, self.lower_proof, self.upper_proof, self.method)


def _check_adj(adj: np.ndarray) -> np.ndarray:
    a = np.asarray(adj)
    if a.dtype != bool:
        raise TypeError(f"adjacency must be a bool array, got dtype {a.dtype}")
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"adjacency must be square [V, V], got shape {a.shape}")
    if a.shape[0] and (a.diagonal().any() or not np.array_equal(a, a.T)):
        raise ValueError("adjacency must be symmetric with a False diagonal")
    return a


def is_proper_coloring(adj: np.ndarray, coloring: np.ndarray) -> bool:
    """No edge joins two vertices of the same colour."""
    a = _check_adj(adj)
    c = np.asarray(coloring)
    if c.shape != (a.shape[0],) or (c.size and c.min() < 0):
        return False
    return not np.any(a & (c[:, None] == c[None, :]))


def is_clique(adj: np.ndarray, vertices: np.ndarray) -> bool:
    """Every two distinct listed vertices are adjacent."""
    a = _check_adj(adj)
    v = np.unique(np.asarray(vertices, dtype=np.int64))
    sub = a[np.ix_(v, v)]
    return bool(np.all(sub | np.eye(v.size, dtype=bool)))


def dsatur_coloring(adj: np.ndarray) -> np.ndarray:
    """DSATUR greedy colouring (Brélaz 1979), vectorised: int64 colours [V]."""
    a = _check_adj(adj)
    v_count = a.shape[0]
    colors = np.full(v_count, -1, dtype=np.int64)
    if v_count == 0:
        return colors
    sat = np.zeros((v_count, v_count + 1), dtype=bool)
    satcount = np.zeros(v_count, dtype=np.int64)
    deg = a.sum(axis=1).astype(np.int64)
    uncolored = np.ones(v_count, dtype=bool)
    big = v_count + 1
    for _ in range(v_count):
        key = np.where(uncolored, satcount * big + deg, -1)
        v = int(np.argmax(key))
        c = int(np.argmin(sat[v]))  # first colour not used by a neighbour
        colors[v] = c
        uncolored[v] = False
        newly = a[v] & uncolored & ~sat[:, c]
        sat[newly, c] = True
        satcount[newly] += 1
    return colors


def greedy_clique(adj: np.ndarray, tries: int = 32) -> np.ndarray:
    """A maximal clique grown greedily from the ``tries`` highest-degree start vertices."""
    a = _check_adj(adj)
    v_count = a.shape[0]
    if v_count == 0:
        return np.zeros(0, dtype=np.int64)
    deg = a.sum(axis=1)
    best: list[int] = []
    for start in np.argsort(-deg, kind="stable")[:tries].tolist():
        clique = [start]
        cand = a[start].copy()
        while cand.any():
            # pick the candidate with the most neighbours among the remaining candidates
            score = np.where(cand, (a & cand[None, :]).sum(axis=1), -1)
            v = int(np.argmax(score))
            clique.append(v)
            cand &= a[v]
        if len(clique) > len(best):
            best = clique
    return np.array(sorted(best), dtype=np.int64)


def _bitsets(a: np.ndarray) -> list[int]:
    packed = np.packbits(a, axis=1, bitorder="little")
    return [int.from_bytes(row.tobytes(), "little") for row in packed]


def max_clique(adj: np.ndarray, node_budget: int = 200_000) -> tuple[np.ndarray, bool]:
    """Maximum clique by branch and bound with a greedy-colouring bound (Tomita-Seki MCQ).

    Returns (clique, exact): ``exact`` is False when the node budget ran out (the clique is
    then only the largest one found).
    """
    a = _check_adj(adj)
    v_count = a.shape[0]
    if v_count == 0:
        return np.zeros(0, dtype=np.int64), True
    nbr = _bitsets(a)
    best = greedy_clique(a, tries=8).tolist()
    nodes = 0
    exhausted = False

    def color_sort(cand: int) -> list[tuple[int, int]]:
        # greedy colouring of the candidate set; returns (vertex, colour bound) in order
        out: list[tuple[int, int]] = []
        color = 0
        rest = cand
        while rest:
            color += 1
            avail = rest
            while avail:
                low = avail & -avail
                v = low.bit_length() - 1
                avail &= ~nbr[v] & ~low
                rest &= ~low
                out.append((v, color))
        return out

    def expand(clique: list[int], cand: int) -> None:
        nonlocal best, nodes, exhausted
        nodes += 1
        if nodes > node_budget:
            exhausted = True
            return
        for v, bound in reversed(color_sort(cand)):
            if len(clique) + bound <= len(best):
                return
            new_cand = cand & nbr[v]
            clique.append(v)
            if new_cand:
                expand(clique, new_cand)
            elif len(clique) > len(best):
                best = list(clique)
            clique.pop()
            if exhausted:
                return
            cand &= ~(1 << v)

    expand([], (1 << v_count) - 1)
    return np.array(sorted(best), dtype=np.int64), not exhausted


def _exact_coloring(
    a: np.ndarray, clique: np.ndarray, upper: int, coloring: np.ndarray, node_budget: int
) -> tuple[int, np.ndarray, bool]:
    """DSATUR branch and bound; the clique is precoloured 0..|clique|-1 (breaks symmetry)."""
    v_count = a.shape[0]
    nbr = _bitsets(a)
    best_k = upper
    best_col = coloring.copy()
    col = [-1] * v_count
    classes: list[int] = []
    for i, v in enumerate(clique.tolist()):
        col[v] = i
        classes.append(1 << v)
    uncolored = (1 << v_count) - 1
    for v in clique.tolist():
        uncolored &= ~(1 << v)
    nodes = 0
    exhausted = False
    lower = len(clique)

    def pick(unc: int) -> int:
        best_v, best_s, best_d = -1, -1, -1
        rest = unc
        while rest:
            low = rest & -rest
            v = low.bit_length() - 1
            rest &= ~low
            s = 0
            for cm in classes:
                if nbr[v] & cm:
                    s += 1
            if s > best_s or (s == best_s and (nbr[v] & unc).bit_count() > best_d):
                best_v, best_s, best_d = v, s, (nbr[v] & unc).bit_count()
        return best_v

    def rec(unc: int) -> None:
        nonlocal best_k, best_col, nodes, exhausted
        if exhausted or len(classes) >= best_k:
            return
        if unc == 0:
            best_k = len(classes)
            best_col = np.array(col, dtype=np.int64)
            return
        nodes += 1
        if nodes > node_budget:
            exhausted = True
            return
        v = pick(unc)
        bit = 1 << v
        for c in range(len(classes)):
            if not nbr[v] & classes[c]:
                classes[c] |= bit
                col[v] = c
                rec(unc & ~bit)
                classes[c] &= ~bit
                col[v] = -1
                if exhausted or best_k == lower:
                    return
        if len(classes) + 1 < best_k:
            classes.append(bit)
            col[v] = len(classes) - 1
            rec(unc & ~bit)
            classes.pop()
            col[v] = -1

    rec(uncolored)
    return best_k, best_col, not exhausted


def exact_coloring(
    adj: np.ndarray, upper: int, coloring: np.ndarray, node_budget: int = 100_000
) -> tuple[int, np.ndarray, bool]:
    """Exact DSATUR branch and bound below a known proper ``coloring`` with ``upper`` colours.

    A maximum clique (searched within the budget) is precoloured to break colour symmetry.
    Returns (colours, proper colouring, done): ``done`` True means no colouring with fewer
    colours exists, so the count is the chromatic number.
    """
    a = _check_adj(adj)
    clique, _ = max_clique(a, node_budget=node_budget)
    return _exact_coloring(a, clique, upper, np.asarray(coloring, dtype=np.int64), node_budget)


def rlf_coloring(adj: np.ndarray) -> np.ndarray:
    """Recursive largest first (Leighton 1979): build one colour class at a time, starting from
    the uncoloured vertex of largest uncoloured degree and adding the candidate (uncoloured,
    not adjacent to the class) with most neighbours among the excluded uncoloured vertices (ties:
    fewest neighbours among the candidates). Returns int64 colours [V], a proper colouring."""
    a = _check_adj(adj)
    v_count = a.shape[0]
    col = np.full(v_count, -1, dtype=np.int64)
    unc = np.ones(v_count, dtype=bool)
    deg = a.sum(axis=1).astype(np.int64)
    c = 0
    while unc.any():
        v = int(np.argmax(np.where(unc, deg, -1)))
        members = [v]
        cand = unc & ~a[v]
        cand[v] = False
        excl = unc & a[v]
        while cand.any():
            idx = np.flatnonzero(cand)
            rows = a[idx]
            score = (rows & excl).sum(axis=1) * (v_count + 1) - (rows & cand).sum(axis=1)
            u = int(idx[int(np.argmax(score))])
            members.append(u)
            cand &= ~a[u]
            cand[u] = False
            excl |= unc & a[u]
        m = np.array(members)
        col[m] = c
        unc[m] = False
        deg -= a[m].sum(axis=0)
        c += 1
    return col


def tabu_coloring(
    adj: np.ndarray, k: int, *, max_iters: int = 20_000, seed: int = 0, start: np.ndarray | None = None
) -> np.ndarray | None:
    """Search for a proper colouring with ``k`` colours by tabu search (TabuCol, Hertz and de
    Werra 1987), deterministic for a given ``seed``; None if none is found within ``max_iters``
    moves. A returned colouring is checked to be proper (an upper bound certificate only: a
    failure proves nothing). ``start``: initial colouring (default DSATUR); colours >= k are
    replaced by random ones.

    State: a complete assignment; ``gamma[v, c]`` = neighbours of v with colour c. Each move
    recolours one conflicting vertex to the colour that lowers the conflicts most, among
    moves not tabu (a move back to an abandoned colour is tabu for 0.6 * conflicts + r
    iterations, r random in 0..9) unless it beats the best conflict count seen.
    """
    a = _check_adj(adj)
    v_count = a.shape[0]
    if k < 1 or v_count == 0:
        return None
    rng = np.random.default_rng(seed)
    col = dsatur_coloring(a) if start is None else np.asarray(start, dtype=np.int64).copy()
    col = np.where(col < k, col, rng.integers(0, k, size=v_count))  # DSATUR start, extras random
    onehot = np.zeros((v_count, k), dtype=np.int32)
    onehot[np.arange(v_count), col] = 1
    gamma = a.astype(np.int32) @ onehot  # [V, k]
    nbrs = [np.flatnonzero(row) for row in a]
    tabu = np.zeros((v_count, k), dtype=np.int64)
    conflicts = int(gamma[np.arange(v_count), col].sum()) // 2
    best_conf = conflicts
    for it in range(max_iters):
        if conflicts == 0:
            break
        own = gamma[np.arange(v_count), col]
        cand = np.flatnonzero(own > 0)
        g = gamma[cand]  # [C, k]
        delta = g - own[cand][:, None]
        delta[np.arange(cand.size), col[cand]] = np.iinfo(np.int32).max
        allowed = (tabu[cand] <= it) | (conflicts + delta < best_conf)
        delta = np.where(allowed, delta, np.iinfo(np.int32).max)
        best = delta.min()
        if best == np.iinfo(np.int32).max:
            continue
        choices = np.argwhere(delta == best)
        ci, c_new = choices[rng.integers(choices.shape[0])]
        v = int(cand[ci])
        c_old = int(col[v])
        col[v] = c_new
        nb = nbrs[v]
        gamma[nb, c_old] -= 1
        gamma[nb, c_new] += 1
        conflicts += int(best)
        tabu[v, c_old] = it + int(0.6 * conflicts) + int(rng.integers(10))
        best_conf = min(best_conf, conflicts)
    if conflicts != 0:
        return None
    assert is_proper_coloring(a, col)
    return col.astype(np.int64)


def chromatic_number(
    adj: np.ndarray, *, node_budget: int = 100_000, exact_max_vertices: int = 400
) -> ChromaticResult:
    """Certified bounds on the chromatic number of ``adj`` (bool [V, V]); exact when they meet.

    Lower bound: the largest clique found (exact maximum clique search within ``node_budget``
    when V <= ``exact_max_vertices``), and ceil(V / alpha) when the maximum independent set
    could be found exactly (every colour class is independent). Upper bound: DSATUR, then exact
    DSATUR branch and bound (V <= ``exact_max_vertices``, within ``node_budget`` nodes).
    A graph with no vertex has chromatic number 0.
    """
    a = _check_adj(adj)
    v_count = a.shape[0]
    if v_count == 0:
        empty = np.zeros(0, dtype=np.int64)
        return ChromaticResult(0, 0, empty, empty, True, "empty graph")
    coloring = dsatur_coloring(a)
    upper = int(coloring.max()) + 1
    if not a.any():
        return ChromaticResult(1, 1, coloring, np.array([0]), True, "no edges")
    small = v_count <= exact_max_vertices
    if small:
        clique, _ = max_clique(a, node_budget=node_budget)
    else:
        clique = greedy_clique(a)
    lower = int(clique.size)
    lower_proof = "clique"
    method = "clique = DSATUR colouring"
    if lower < upper and small:
        comp = ~a
        np.fill_diagonal(comp, False)
        indep, indep_exact = max_clique(comp, node_budget=node_budget)
        if indep_exact:
            frac = math.ceil(v_count / indep.size)
            if frac > lower:
                lower, lower_proof, method = frac, "ceil(V / alpha)", "ceil(V / alpha) = colouring"
    if lower < upper and small:
        k, col, done = _exact_coloring(a, clique, upper, coloring, node_budget)
        upper, coloring = k, col
        if done:
            lower = upper
            lower_proof = method = "exact DSATUR branch and bound"
    exact = lower == upper
    if not exact:
        method = "bounds (clique / ceil(V/alpha) below, colouring above)"
    assert is_proper_coloring(a, coloring)
    return ChromaticResult(lower, upper, coloring, clique, exact, method, lower_proof)
