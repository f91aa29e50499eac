"""Closed-form bounds: against brute force, against each other, and the memory table."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdtheory import bounds, matrices, one_way, rank, table
from sdtheory.instances import Variant


@pytest.mark.parametrize("n", range(1, 11))
def test_one_pass_exact_bits_is_the_brute_force_bound(n: int) -> None:
    for k, l in itertools.product(range(n + 1), repeat=2):
        brute = one_way.one_way_states(n, k, l)
        assert bounds.one_pass_exact_bits(n, k, l) == brute.bits
        closed = bounds.one_way_states_closed_form(n, k, l, Variant.SHARED)
        if closed is not None:
            assert (
                bounds.one_pass_exact_bits(n, k, l, "shared-element")
                == one_way.one_way_states(n, k, l, Variant.SHARED).bits
            )


@given(st.integers(1, 2000), st.data())
def test_one_pass_bound_depends_on_the_first_set(n: int, data: st.DataObject) -> None:
    first = data.draw(st.integers(1, n))
    s1 = data.draw(st.integers(1, n))
    s2 = data.draw(st.integers(1, n))
    if first + s1 <= n and first + s2 <= n:
        assert bounds.one_pass_exact_bits(n, first, s1) == bounds.one_pass_exact_bits(n, first, s2)
        assert bounds.one_pass_exact_bits(n, first, s1) == math.ceil(math.log2(math.comb(n, first))) or (
            math.comb(n, first) == 1
        )


@pytest.mark.parametrize("n", range(1, 10))
def test_two_way_bounds_against_rank_and_each_other(n: int) -> None:
    for k, l in itertools.product(range(n + 1), repeat=2):
        lr = bounds.two_way_log_rank_bits(n, k, l)
        if k and l and k + l <= n:
            assert lr == math.ceil(math.log2(rank.rank_real(matrices.sd_matrix(n, k, l))))
        fool = bounds.two_way_fooling_set_bits(n, k, l)
        up = bounds.two_way_upper_bits(n, k, l)
        assert fool <= lr <= up <= lr + 1
        # the one-way bound in either order is at least the two-way bound
        assert lr <= min(bounds.one_pass_exact_bits(n, k, l), bounds.one_pass_exact_bits(n, l, k)) or not (
            k and l and k + l <= n
        )


@given(st.integers(2, 4096), st.data())
def test_lower_bounds_never_exceed_the_algorithms(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, n))
    l = data.draw(st.integers(0, n))
    for p in (1, 2, 3, 5, 8):
        for first, second in ((k, l), (l, k)):
            upper = bounds.multi_pass_bits(n, first, second, p)
            assert bounds.jrp_lower_bound_rank_bits(n, k, l, p) <= upper
            assert bounds.jrp_lower_bound_paper_bits(n, k, l, p) <= upper
        if p == 2:
            assert bounds.jrt_two_pass_bits(n, k, l) >= bounds.jrp_lower_bound_rank_bits(n, k, l, 2)
            assert bounds.multi_pass_bits(n, k, l, 2) <= bounds.jrt_two_pass_bits(n, k, l)
    assert bounds.store_first_bits(n, k) >= bounds.one_pass_exact_bits(n, k, l)
    assert bounds.multi_pass_bits(n, k, l, 1) == bounds.store_first_bits(n, k)


@given(st.integers(2, 500), st.integers(0, 500), st.integers(0, 500))
def test_jrp_bounds_fall_with_passes(n: int, k: int, l: int) -> None:
    k, l = k % (n + 1), l % (n + 1)
    rank = [bounds.jrp_lower_bound_rank_bits(n, k, l, p) for p in range(1, 8)]
    paper = [bounds.jrp_lower_bound_paper_bits(n, k, l, p) for p in range(1, 8)]
    assert rank == sorted(rank, reverse=True) and paper == sorted(paper, reverse=True)
    assert (
        rank[0] == pytest.approx(math.log2(math.comb(n, min(k, l))))
        if k and l and k + l <= n
        else rank[0] == 0
    )


def test_position_counter_and_element_bits() -> None:
    assert [bounds.position_counter_bits(x) for x in (0, 1, 2, 3, 7, 8)] == [0, 1, 2, 2, 3, 4]
    assert [bounds.element_bits(n) for n in (1, 2, 3, 4, 5, 1024, 1025)] == [0, 1, 2, 2, 3, 10, 11]
    assert bounds.set_encoding_bits(1024, 8) == 80 and bounds.set_encoding_bits(1024, 200) == 1024


@given(st.integers(1, 64), st.integers(1, 2**20))
def test_feature_dimensions(size: int, c: int) -> None:
    f = bounds.random_feature_dim(size, c)
    t2 = 2 * math.log(100 * c * c)
    assert f > 9 * size**2 * t2 >= f - 1  # the least integer with t / sqrt(f) < 1 / (3 |A|)
    assert bounds.data_dependent_feature_dim(size, c) == size + math.ceil(math.log2(c))


@given(st.integers(1, 32), st.integers(0, 64), st.integers(0, 64))
def test_based_constructions_explicit_vs_stated(n_bits: int, k: int, l: int) -> None:
    m = min(k, l)
    assert bounds.based_g22_state_values(n_bits, k, l, explicit_log_c=False) == m * n_bits
    assert bounds.based_g23_state_values(n_bits, k, l, explicit_log_c=False) == m * m * n_bits
    g22 = bounds.based_g22_state_values(n_bits, k, l)
    assert g22 == (n_bits + 1) * (max(1, m + n_bits)) >= m * n_bits
    assert bounds.based_g23_state_values(n_bits, k, l) >= m * m * n_bits
    assert bounds.based_g18_state_values(n_bits, 7, normalizer=True) == n_bits * 7 + 7


def test_memory_table_is_tidy_and_consistent() -> None:
    df = table.memory_table([16, 64], [0, 2, 8], [1, 4], passes=(1, 2, 3))
    assert set(df.columns) == {
        "n",
        "k",
        "l",
        "order",
        "first",
        "second",
        "passes",
        "variant",
        "quantity",
        "kind",
        "measure",
        "bits",
        "reference",
    }
    assert not df.bits.isna().any()
    assert set(df.kind) == {"lower", "upper"}
    algos = df[(df.kind == "upper") & (df.measure == "state")]
    for key, grp in df.groupby(["n", "k", "l", "order", "passes"]):
        lower = grp[(grp.kind == "lower") & (grp.measure == "state")].bits.max()
        upper = algos.set_index(["n", "k", "l", "order", "passes"]).loc[key].bits
        assert lower <= np.min(upper), key
    a_first = df[(df.quantity == "store-first") & (df.order == "A-first") & (df.n == 64) & (df.l == 4)]
    assert a_first.sort_values("k").bits.is_monotonic_increasing and a_first.bits.nunique() == 3
    b_first = df[(df.quantity == "store-first") & (df.order == "B-first") & (df.n == 64) & (df.l == 4)]
    assert b_first.bits.nunique() == 1
    shared = table.memory_table([8], [3], [2], passes=(1,), variant="shared-element")
    assert shared[shared.quantity == "two-way log-rank"].bits.isna().all()


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: bounds.store_first_bits(0, 1), ValueError, "n=0"),
        (lambda: bounds.one_pass_exact_bits(4, 5, 1), ValueError, "first=5 exceeds"),
        (lambda: bounds.multi_pass_bits(4, 1, 1, 0), ValueError, "passes=0"),
        (lambda: bounds.jrp_lower_bound_rank_bits(4, 1, 1, True), TypeError, "passes=True"),
        (lambda: bounds.two_way_log_rank_bits(4, 1.5, 1), TypeError, "k=1.5"),  # type: ignore[arg-type]
        (lambda: bounds.bloom_filter_bits(0, 4), ValueError, "filter_bits=0"),
    ],
)
def test_bad_input(call, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call()


def test_binomials_beyond_the_limit_are_refused() -> None:
    assert bounds.binomial(2**17, 3) == math.comb(2**17, 3)
    with pytest.raises(ValueError, match="MAX_BINOMIAL_BITS"):
        bounds.binomial(10**8, 5 * 10**7)
    with pytest.raises(ValueError, match="MAX_BINOMIAL_BITS"):
        bounds.one_pass_exact_bits(10**8, 5 * 10**7, 3)
    with pytest.raises(ValueError, match="MAX_BINOMIAL_BITS"):
        bounds.two_way_log_rank_bits(10**6, 5 * 10**5, 5 * 10**5)
    assert bounds.one_pass_exact_bits(10**8, 3, 3) == math.ceil(math.log2(math.comb(10**8, 3)))


def test_closed_forms_never_fall_back_to_brute_force() -> None:
    """bounds.py holds closed forms only: where the shared-element count has none it says so, and
    sdtheory.one_way.one_pass_states (closed form, else brute force) gives the number."""
    assert bounds.one_way_states_closed_form(8, 4, 4, "shared-element") is None
    with pytest.raises(ValueError, match="no closed form"):
        bounds.one_pass_exact_bits(8, 4, 4, "shared-element")
    res = one_way.one_pass_states(8, 4, 4, "shared-element")
    assert res.exact and res.bits == 6
