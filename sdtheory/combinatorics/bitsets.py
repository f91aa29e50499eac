"""Subsets of a small universe [n] as integer bitmasks (bit e set iff element e is in the set).

All enumerations are vectorised with numpy: a family of subsets is a uint64 array of masks,
so intersections are ``&``, unions ``|`` and sizes :func:`popcount`. Universes up to
:data:`MAX_N` elements are supported (2n <= 64 so that a pair of masks packs into one uint64).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from sdtheory.combinatorics.integers import check_int

__all__ = [
    "MAX_N",
    "check_size",
    "check_universe",
    "elements_to_mask",
    "mask_to_elements",
    "masks_to_bool",
    "masks_to_sorted_elements",
    "popcount",
    "single_bit_index",
    "subset_masks",
]

MAX_N = 24  # 2^24 masks is the largest full enumeration we allow


def check_universe(n: object, max_n: int = MAX_N) -> int:
    """Validate a universe size: an int with 1 <= n <= max_n."""
    n = check_int("n", n)
    if not 1 <= n <= max_n:
        raise ValueError(f"n={n} must satisfy 1 <= n <= {max_n} for exhaustive enumeration")
    return int(n)


def check_size(name: str, size: object, n: int) -> int:
    """Validate a set size: an int with 0 <= size <= n (the universe)."""
    size = check_int(name, size)
    if not 0 <= size <= n:
        raise ValueError(f"{name}={size} must satisfy 0 <= {name} <= n={n}")
    return size


def _popcount_swar(m: np.ndarray) -> np.ndarray:
    """Bit count of uint64 values by the SWAR method (for numpy < 2.0, without bitwise_count)."""
    m = m - ((m >> np.uint64(1)) & np.uint64(0x5555555555555555))
    m = (m & np.uint64(0x3333333333333333)) + ((m >> np.uint64(2)) & np.uint64(0x3333333333333333))
    m = (m + (m >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (m * np.uint64(0x0101010101010101)) >> np.uint64(56)


def popcount(masks: np.ndarray | int) -> np.ndarray:
    """Number of set bits of each mask (int64 array of the input's shape).

    Uses ``np.bitwise_count`` (numpy >= 2.0) when present, else a SWAR bit count (numpy 1.26).
    """
    m = np.asarray(masks, dtype=np.uint64)
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(m).astype(np.int64)
    with np.errstate(over="ignore"):
        return _popcount_swar(m).astype(np.int64)


def subset_masks(n: int, size: int | None = None) -> np.ndarray:
    """All subsets of [n] (``size=None``) or all ``size``-subsets, as ascending uint64 masks.

    Shape [2^n] or [C(n, size)]. The ascending mask order is the colex order of the subsets.
    """
    n = check_universe(n)
    allm = np.arange(1 << n, dtype=np.uint64)
    if size is None:
        return allm
    size = check_size("size", size, n)
    out = allm[popcount(allm) == size]
    assert out.shape[0] == math.comb(n, size)
    return out


def masks_to_bool(masks: np.ndarray, n: int) -> np.ndarray:
    """Membership matrix: bool array [len(masks), n], entry [r, e] = element e in set r."""
    m = np.asarray(masks, dtype=np.uint64).reshape(-1)
    bits = np.arange(n, dtype=np.uint64)
    return ((m[:, None] >> bits[None, :]) & np.uint64(1)).astype(bool)


def masks_to_sorted_elements(masks: np.ndarray, n: int, size: int) -> np.ndarray:
    """Elements of each ``size``-subset in increasing order: int64 array [len(masks), size]."""
    member = masks_to_bool(masks, n)
    counts = member.sum(axis=1)
    if member.shape[0] and not np.all(counts == size):
        raise ValueError(f"masks must all have {size} elements; sizes found {sorted(set(counts.tolist()))}")
    return np.nonzero(member)[1].reshape(member.shape[0], size).astype(np.int64)


def elements_to_mask(elements: Iterable[int]) -> int:
    """Bitmask of a collection of distinct non-negative integers."""
    mask = 0
    for e in elements:
        mask |= 1 << int(e)
    return mask


def mask_to_elements(mask: int | np.integer) -> tuple[int, ...]:
    """Sorted elements of a bitmask."""
    m = int(mask)
    out = []
    e = 0
    while m:
        if m & 1:
            out.append(e)
        m >>= 1
        e += 1
    return tuple(out)


def single_bit_index(masks: np.ndarray) -> np.ndarray:
    """For masks with exactly one set bit, the index of that bit (int64); -1 for other masks."""
    m = np.asarray(masks, dtype=np.uint64)
    one = popcount(m) == 1
    out = np.full(m.shape, -1, dtype=np.int64)
    # log2 of a power of two is exact in float64 for bits < 53; we use at most 2 * MAX_N bits
    out[one] = np.log2(m[one].astype(np.float64)).astype(np.int64)
    return out
