"""Bounds (certified intervals with their proofs) and the integer helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdtheory.combinatorics.integers import ceil_log2, check_int
from sdtheory.combinatorics.interval import Bounds


def test_method_names_each_end() -> None:
    assert Bounds.exactly(5, "closed form: C(n, i)").method == "closed form: C(n, i)"
    assert Bounds.of(3, 9, "code partition: x").method == "code partition: x"
    assert Bounds(4, 4, "clique", "store-first").method == "closed form: clique = store-first"
    assert Bounds(2, 4, "clique", "store-first").method == "bounds: clique below, store-first above"
    assert Bounds(1, 4, "", "store-first").method == "bounds: store-first above"
    assert Bounds(1, 4, "a", "b", summary="one search").method == "one search"


def test_tighten_keeps_the_better_end_and_its_proof() -> None:
    a = Bounds(3, 10, "clique", "store-first")
    b = Bounds(5, 12, "link charging", "store-union")
    c = a.tighten(b)
    assert (c.lower, c.upper, c.lower_proof, c.upper_proof) == (5, 10, "link charging", "store-first")
    tie = a.tighten(Bounds(3, 10, "other", "other"))
    assert tie is a  # ties keep this interval's proofs
    search = Bounds(4, 6, "clique", "colouring", summary="one search")
    assert a.tighten(search) is search and search.tighten(a) is search  # summary kept when one gives both
    assert a.tighten_lower(2, "x") is a and a.tighten_lower(4, "x").lower_proof == "x"
    assert a.tighten_upper(11, "y") is a and a.tighten_upper(9, "y").method == "bounds: clique below, y above"


def test_contradictory_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="contradictory"):
        Bounds(5, 4, "a", "b")
    with pytest.raises(ValueError, match="contradictory"):
        Bounds(1, 4, "a", "b").tighten(Bounds(6, 9, "c", "d"))


@given(st.integers(0, 2**70))
def test_ceil_log2_is_exact(x: int) -> None:
    expected = 0 if x <= 1 else next(b for b in range(80) if 2**b >= x)
    assert ceil_log2(x) == expected
    if 1 <= x < 2**50:
        assert ceil_log2(x) == math.ceil(math.log2(x))


def test_check_int() -> None:
    assert check_int("n", np.int64(3), 1) == 3 and type(check_int("n", np.int64(3))) is int
    for bad in (True, np.bool_(False), 1.0, "3", None):
        with pytest.raises(TypeError, match="must be an integer"):
            check_int("n", bad)
    with pytest.raises(ValueError, match="n=0 must be >= 1"):
        check_int("n", 0, 1)
    with pytest.raises(ValueError, match="n=9 must satisfy 1 <= n <= 8"):
        check_int("n", 9, 1, 8)
    with pytest.raises(ValueError, match="n=9 must be <= 8"):
        check_int("n", 9, maximum=8)
