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

__all__ = [
    "ChromaticResult",
    "chromatic_number",
    "dsatur_coloring",
    "greedy_clique",
    "is_clique",
    "is_proper_coloring",
    "max_clique",
]


@dataclass(frozen=True)
class ChromaticResult:
    """A certified interval for the chromatic number.

    ``coloring``: int64 [V], a proper colouring with ``upper`` colours.
    ``clique``: int64 indices of a clique (the clique part of the lower bound).
    """

    lower: int
    upper: int
    coloring: np.ndarray
    clique: np.ndarray
    exact: bool
    method: str


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
    method = "clique = DSATUR colouring"
    if lower < upper and small:
        comp = ~a
        np.fill_diagonal(comp, False)
        indep, indep_exact = max_clique(comp, node_budget=node_budget)
        if indep_exact:
            frac = math.ceil(v_count / indep.size)
            if frac > lower:
                lower, method = frac, "ceil(V / alpha) = colouring"
    if lower < upper and small:
        k, col, done = _exact_coloring(a, clique, upper, coloring, node_budget)
        upper, coloring = k, col
        if done:
            lower = upper
            method = "exact DSATUR branch and bound"
    exact = lower == upper
    if not exact:
        method = "bounds (clique / ceil(V/alpha) below, colouring above)"
    assert is_proper_coloring(a, coloring)
    return ChromaticResult(lower, upper, coloring, clique, exact, method)
