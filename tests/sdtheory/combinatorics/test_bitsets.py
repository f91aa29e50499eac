"""Bitmask helpers."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdtheory.combinatorics.bitsets import (
    elements_to_mask,
    mask_to_elements,
    masks_to_bool,
    masks_to_sorted_elements,
    popcount,
    single_bit_index,
    subset_masks,
)


@pytest.mark.parametrize("n", range(1, 11))
def test_subset_masks_enumerate_every_subset_once(n: int) -> None:
    for size in range(n + 1):
        masks = subset_masks(n, size)
        expected = sorted(elements_to_mask(c) for c in itertools.combinations(range(n), size))
        assert masks.tolist() == expected and masks.size == math.comb(n, size)
    assert subset_masks(n).size == 2**n


@given(st.lists(st.integers(0, 23), unique=True))
def test_mask_roundtrip(elements: list[int]) -> None:
    mask = elements_to_mask(elements)
    assert mask_to_elements(mask) == tuple(sorted(elements))
    assert popcount(np.array([mask], dtype=np.uint64))[0] == len(elements)
    row = masks_to_bool(np.array([mask], dtype=np.uint64), 24)[0]
    assert np.flatnonzero(row).tolist() == sorted(elements)
    expected = elements[0] if len(elements) == 1 else -1
    assert single_bit_index(np.array([mask], dtype=np.uint64))[0] == expected


def test_sorted_elements_and_bad_input() -> None:
    masks = subset_masks(6, 3)
    elems = masks_to_sorted_elements(masks, 6, 3)
    assert elems.shape == (20, 3) and np.all(np.diff(elems, axis=1) > 0)
    with pytest.raises(ValueError, match="must all have 2 elements"):
        masks_to_sorted_elements(masks, 6, 2)
    with pytest.raises(ValueError, match="n=0"):
        subset_masks(0)
    with pytest.raises(ValueError, match="size=7"):
        subset_masks(6, 7)


@given(st.lists(st.integers(0, 2**64 - 1), max_size=50))
def test_swar_popcount_matches_python(values: list[int]) -> None:
    from sdtheory.combinatorics.bitsets import _popcount_swar

    arr = np.array(values, dtype=np.uint64)
    with np.errstate(over="ignore"):
        got = _popcount_swar(arr).astype(np.int64).tolist()
    assert got == [bin(v).count("1") for v in values]
