"""Two-way communication complexity of SD: fooling sets and the rank of the matrix.

The decision matrix of k-subsets x l-subsets (k + l <= n) has real rank C(n, min(k, l)) and the
GF(2) rank of Wilson's formula; a fooling set of size C(2m, m), m = min(k, l), is built and
verified. So D(SD) lies in [lg C(n, m), lg C(n, m) + 1] (the party with the smaller set sends it).
Proofs: docs/theory/two-way.md. Symbols as in docs/theory/glossary.md.
"""

from __future__ import annotations

import math

import numpy as np

from sdtheory.combinatorics.bitsets import subset_masks
from sdtheory.instances import Variant
from sdtheory.matrices import UNDEFINED, check_sizes, sd_answers

__all__ = [
    "RANK_PRIME",
    "disjointness_rank_closed_form",
    "fooling_set",
    "rank_gf2",
    "rank_mod_prime",
    "rank_real",
    "verify_fooling_set",
]


def fooling_set(n: int, k: int, l: int) -> np.ndarray:
    """A fooling set for decision SD on k-subsets x l-subsets of [n] (needs k + l <= n).

    With m = min(k, l), W = {0..2m-1}, A0 = the next k - m elements, B0 the l - m after them:
    pairs (Y ∪ A0, (W \\ Y) ∪ B0) for every m-subset Y of W. Each pair is disjoint; for Y != Y'
    the set Y ∪ A0 meets (W \\ Y') ∪ B0 in Y \\ Y' != ∅. Size C(2m, m).
    Returns uint64 [C(2m, m), 2] (first-set mask, second-set mask).
    """
    n, k, l = check_sizes(n, k, l)
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
    f = sd_answers(p[:, 0][:, None], p[:, 1][None, :], variant)
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
    packed = np.packbits(m, axis=1, bitorder="little")
    pad = (-packed.shape[1]) % 8
    rows = np.ascontiguousarray(np.pad(packed, ((0, 0), (0, pad)))).view(np.uint64).copy()
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
    n, k, l = check_sizes(n, k, l)
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
