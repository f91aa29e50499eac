"""Vectorised sampling primitives: exact laws on small cases, structure on random ones."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from synthetic.tasks import sampling
from synthetic.tasks.limits import MAX_SEGMENT_TOKENS, MAX_VOCAB_SIZE
from synthetic.tasks.sampling import powerlaw_slots, sample_distinct

METHODS = ["fisher_yates", "rejection", "auto"]


@given(
    st.integers(0, 50),
    st.integers(1, 60),
    st.data(),
    st.sampled_from(METHODS),
    st.integers(0, 2**32 - 1),
)
def test_sample_distinct_rows_are_distinct_and_in_range(
    rows: int, population: int, data: st.DataObject, method: str, seed: int
) -> None:
    k = data.draw(st.integers(0, population))
    if method == "rejection":
        k = min(k, int(np.sqrt(2 * population)))  # keep rejection's acceptance rate reasonable
    out = sample_distinct(np.random.default_rng(seed), rows, population, k, method=method)
    assert out.shape == (rows, k)
    assert np.issubdtype(out.dtype, np.signedinteger)
    if rows and k:
        assert out.min() >= 0 and out.max() < population
        srt = np.sort(out, axis=1)
        assert not np.any(srt[:, 1:] == srt[:, :-1])
    again = sample_distinct(np.random.default_rng(seed), rows, population, k, method=method)
    np.testing.assert_array_equal(out, again)


@pytest.mark.parametrize("method", ["fisher_yates", "rejection", "sequential", "sort"])
@pytest.mark.parametrize(("population", "k"), [(4, 2), (5, 3), (3, 3), (6, 3)])
def test_sample_distinct_is_uniform_over_ordered_tuples(method: str, population: int, k: int) -> None:
    """Every ordered k-tuple of distinct values is equally likely (chi-square, fixed seed)."""
    if method == "sequential" and 2 * k > population:
        pytest.skip("sequential takes k <= population / 2")
    tuples = list(itertools.permutations(range(population), k))
    index = {t: i for i, t in enumerate(tuples)}
    out = sample_distinct(np.random.default_rng(7), 60 * len(tuples) * 10, population, k, method=method)
    counts = np.bincount([index[tuple(r)] for r in out.tolist()], minlength=len(tuples))
    assert counts.min() > 0
    assert stats.chisquare(counts).pvalue > 1e-4


def test_sample_distinct_fisher_yates_spans_chunks() -> None:
    """Rows beyond the first Fisher-Yates chunk are fresh draws, not copies."""
    out = sample_distinct(np.random.default_rng(3), 5000, 3000, 5, method="fisher_yates")
    assert len({tuple(r) for r in out.tolist()}) == 5000


def test_sample_distinct_errors() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"k=5 distinct values cannot come from population=4"):
        sample_distinct(rng, 3, 4, 5)
    with pytest.raises(ValueError, match=r"method='rejection' with k=40, population=50 accepts a row with"):
        sample_distinct(rng, 3, 50, 40, method="rejection")
    with pytest.raises(ValueError, match=r"method='bogus'"):
        sample_distinct(rng, 3, 4, 2, method="bogus")
    with pytest.raises(TypeError, match=r"rng=0 must be a numpy.random.Generator"):
        sample_distinct(0, 3, 4, 2)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"num_rows=2.0 must be an integer"):
        sample_distinct(rng, 2.0, 4, 2)  # type: ignore[arg-type]


@given(
    st.integers(0, 40),
    st.integers(1, 50),
    st.data(),
    st.floats(0.01, 3.0),
    st.integers(0, 2**32 - 1),
)
def test_powerlaw_slots_sorted_distinct_in_range(
    rows: int, num_slots: int, data: st.DataObject, power_a: float, seed: int
) -> None:
    m = data.draw(st.integers(0, num_slots))
    out = powerlaw_slots(np.random.default_rng(seed), rows, num_slots, m, power_a)
    assert out.shape == (rows, m)
    assert out.dtype == np.int64
    if rows and m:
        assert out.min() >= 0 and out.max() < num_slots
        assert np.all(np.diff(out, axis=1) > 0)


def _successive_prob(subset: tuple[int, ...], w: np.ndarray) -> float:
    """P(the unordered set `subset` is drawn) under successive sampling proportional to w."""
    total = 0.0
    for order in itertools.permutations(subset):
        p, left = 1.0, w.sum()
        for g in order:
            p *= w[g] / left
            left -= w[g]
        total += p
    return total


@pytest.mark.parametrize(("num_slots", "m", "power_a"), [(4, 1, 0.01), (5, 2, 0.3), (4, 2, 1.0)])
def test_powerlaw_slots_follow_successive_sampling_law(num_slots: int, m: int, power_a: float) -> None:
    w = np.arange(1, num_slots + 1, dtype=float) ** (power_a - 1)
    subsets = list(itertools.combinations(range(num_slots), m))
    expected = np.array([_successive_prob(s, w) for s in subsets])
    assert expected.sum() == pytest.approx(1.0)
    n = 40_000
    out = powerlaw_slots(np.random.default_rng(11), n, num_slots, m, power_a)
    index = {s: i for i, s in enumerate(subsets)}
    counts = np.bincount([index[tuple(r)] for r in out.tolist()], minlength=len(subsets))
    assert stats.chisquare(counts, expected * n).pvalue > 1e-4


def test_powerlaw_slots_errors() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"m=4 distinct slots cannot come from num_slots=3"):
        powerlaw_slots(rng, 2, 3, 4, 0.5)
    with pytest.raises(ValueError, match=r"power_a=0 must be a finite number > 0"):
        powerlaw_slots(rng, 2, 3, 1, 0)
    with pytest.raises(ValueError, match=r"power_a=nan"):
        powerlaw_slots(rng, 2, 3, 1, float("nan"))


def test_powerlaw_slots_blocks_do_not_change_the_draws() -> None:
    """Row blocks (memory only) give the same slots as one exponential race over all rows."""
    rows, num_slots, m, a = 6000, 400, 7, 0.2  # 2.4M race values: several blocks
    got = powerlaw_slots(np.random.default_rng(9), rows, num_slots, m, a)
    race = np.random.default_rng(9).standard_exponential(size=(rows, num_slots))
    race *= np.arange(1, num_slots + 1, dtype=float) ** (1 - a)
    expected = np.sort(np.argpartition(race, m - 1, axis=1)[:, :m], axis=1)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(("population", "k"), [(100_000, 600), (100_000, 40_000), (70_000, 70_000)])
def test_large_populations_are_sampled_without_a_python_loop_per_element(population: int, k: int) -> None:
    """Above FISHER_YATES_MAX_POPULATION "auto" discards repeats of i.i.d. draws (k <= population / 2)
    or sorts random keys; rows stay distinct, in range and reproducible, and blocks of rows do
    not change the draws of the sort method."""
    assert population > sampling.FISHER_YATES_MAX_POPULATION
    out = sample_distinct(np.random.default_rng(5), 40, population, k)
    assert out.shape == (40, k) and out.min() >= 0 and out.max() < population
    srt = np.sort(out, axis=1)
    assert not np.any(srt[:, 1:] == srt[:, :-1])
    method = "sequential" if 2 * k <= population else "sort"
    np.testing.assert_array_equal(
        out, sample_distinct(np.random.default_rng(5), 40, population, k, method=method)
    )


def test_sort_blocks_do_not_change_the_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    whole = sample_distinct(np.random.default_rng(2), 30, 1000, 700, method="sort")
    monkeypatch.setattr(sampling, "_SORT_BLOCK_ELEMENTS", 1000 * 7)
    np.testing.assert_array_equal(
        whole, sample_distinct(np.random.default_rng(2), 30, 1000, 700, method="sort")
    )


def test_sample_distinct_refuses_work_it_cannot_do() -> None:
    rng = np.random.default_rng(0)
    big = sampling.FISHER_YATES_MAX_POPULATION + 1
    with pytest.raises(ValueError, match=r"method='fisher_yates' with population=65,537 > FISHER_YATES"):
        sample_distinct(rng, 1, big, 1000, method="fisher_yates")
    with pytest.raises(ValueError, match=r"method='sequential' with k=6 > population / 2"):
        sample_distinct(rng, 1, 10, 6, method="sequential")
    with pytest.raises(ValueError, match=r"population=2,147,483,648 is larger than 2\*\*31 - 1"):
        sample_distinct(rng, 1, 2**31, 2)
    with pytest.raises(ValueError, match=r"method='sort' with population=16,777,217 .* MAX_VOCAB_SIZE"):
        sample_distinct(rng, 1, MAX_VOCAB_SIZE + 1, 10, method="sort")
    with pytest.raises(ValueError, match=r"num_rows=268,435,457 x k=1 .* MAX_SEGMENT_TOKENS"):
        sample_distinct(rng, MAX_SEGMENT_TOKENS + 1, 10, 1)
    with pytest.raises(ValueError, match=r"num_rows x m = 268,435,457 .* MAX_SEGMENT_TOKENS"):
        powerlaw_slots(rng, MAX_SEGMENT_TOKENS + 1, 10, 1, 0.5)
