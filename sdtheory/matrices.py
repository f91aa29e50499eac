"""Communication matrices of SD and what is read off them: distinct rows, incompatibility.

Rows are the first sets (Alice's, read first), columns the second sets, both as uint64 bitmasks
in ascending order (:mod:`sdtheory.combinatorics.bitsets`); an entry is the answer: a bool
(decision) or the shared element, with :data:`UNDEFINED` outside the promise |S ∩ T| = 1
(shared element). Symbols as in docs/theory/glossary.md. Exhaustive, so n <= :data:`MAX_EXACT_N`.
"""

from __future__ import annotations

import numpy as np

from sdtheory.combinatorics.bitsets import check_size, check_universe, single_bit_index, subset_masks
from sdtheory.instances import Variant

__all__ = [
    "MAX_EXACT_N",
    "MAX_FULL_N",
    "UNDEFINED",
    "check_sizes",
    "distinct_rows",
    "incompatibility",
    "sd_answers",
    "sd_matrix",
    "sd_matrix_full",
]

UNDEFINED = -1  # entry of a shared-element matrix outside the promise |A ∩ B| = 1
MAX_EXACT_N = 16  # largest universe of the exhaustive computations (C(16, 8)^2 = 1.7e8 entries)
MAX_FULL_N = 12  # largest universe of the 2^n x 2^n matrix over all subsets
_BLOCK = 4_000_000  # matrix entries computed at once (uint64 intermediates: 32 MB)


def check_sizes(n: int, first: int, second: int, max_n: int = MAX_EXACT_N) -> tuple[int, int, int]:
    """Validate (n, first, second) for an exhaustive computation: 1 <= n <= max_n and
    0 <= first, second <= n; returns them as ints."""
    n = check_universe(n, max_n=max_n)
    return n, check_size("first", first, n), check_size("second", second, n)


def sd_answers(s: np.ndarray, t: np.ndarray, variant: Variant) -> np.ndarray:
    """Answers for first-set masks ``s`` and second-set masks ``t`` (broadcast): bool "disjoint"
    (decision) or int16 shared element, :data:`UNDEFINED` unless |S ∩ T| = 1 (shared element)."""
    inter = s & t
    if variant is Variant.DECISION:
        return inter == 0
    return single_bit_index(inter).astype(np.int16)  # -1 unless |S ∩ T| = 1


def sd_matrix(n: int, k: int, l: int, variant: Variant | str = Variant.DECISION) -> np.ndarray:
    """The SD communication matrix of k-subsets (rows) x l-subsets (columns) of [n].

    Rows and columns are in ascending bitmask order
    (:func:`sdtheory.combinatorics.bitsets.subset_masks`). decision: bool [C(n,k), C(n,l)], True
    iff disjoint. shared element: int16 of the same shape, the shared element when |S ∩ T| = 1
    and -1 (outside the promise) otherwise. Built in row blocks, so memory stays at the matrix
    itself (at most C(16, 8)^2 entries).
    """
    n, k, l = check_sizes(n, k, l)
    variant = Variant.parse(variant)
    return _matrix(subset_masks(n, k), subset_masks(n, l), variant)


def _matrix(s: np.ndarray, t: np.ndarray, variant: Variant) -> np.ndarray:
    out = np.empty((s.size, t.size), dtype=bool if variant is Variant.DECISION else np.int16)
    step = max(1, _BLOCK // max(1, t.size))
    for start in range(0, s.size, step):
        out[start : start + step] = sd_answers(s[start : start + step, None], t[None, :], variant)
    return out


def sd_matrix_full(n: int, variant: Variant | str = Variant.DECISION) -> np.ndarray:
    """The 2^n x 2^n SD matrix over all subsets (sizes not known in advance), n <= 12."""
    n = check_universe(n, max_n=MAX_FULL_N)
    variant = Variant.parse(variant)
    s = subset_masks(n)
    return _matrix(s, s, variant)


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
