"""IP kernels: dimensions, achieved ε, the random kernel's generator and failure bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdtheory.ipkernels import (
    CodeKernel,
    CodeSpec,
    DataDependentKernel,
    DataDependentSpec,
    RandomSignKernel,
    RandomSignSpec,
    code_bits,
    code_kernel_params,
    random_failure_bound,
    random_kernel_dim,
    random_kernel_dim_uniform,
    uniform_failure_bound,
)


@st.composite
def universe_and_set(draw: st.DrawFn, max_c: int = 4096, max_size: int = 64) -> tuple[int, list[int]]:
    c = draw(st.integers(1, max_c))
    m = draw(st.integers(0, min(c, max_size)))
    stored = draw(st.lists(st.integers(0, c - 1), unique=True, min_size=m, max_size=m))
    return c, stored


# --- data-dependent kernel ---------------------------------------------------------------------


@given(universe_and_set())
def test_data_dependent_kernel_is_exact_against_the_stored_set(cs: tuple[int, list[int]]) -> None:
    c, stored = cs
    k = DataDependentKernel(c, stored)
    assert k.f == len(stored) + code_bits(c) == DataDependentSpec().dim(c, len(stored), 5)
    feats = k.features(np.arange(c))
    assert feats.shape == (c, k.f)
    np.testing.assert_allclose(np.einsum("tf,tf->t", feats, feats), 1.0, atol=1e-12)
    g = feats @ k.features(stored).T  # [c, m]: exactly the indicator [x = a]
    expected = (np.arange(c)[:, None] == np.asarray(stored, dtype=np.int64)[None, :]).astype(float)
    assert np.array_equal(g, expected)
    assert k.report(against=stored).epsilon == 0.0


@settings(max_examples=20)
@given(universe_and_set(max_c=40, max_size=8))
def test_data_dependent_universe_epsilon_matches_brute_force(cs: tuple[int, list[int]]) -> None:
    c, stored = cs
    k = DataDependentKernel(c, stored)
    g = k.gram(np.arange(c), np.arange(c))
    brute = max((abs(g[x, y]) for x in range(c) for y in range(c) if x != y), default=0.0)
    rep = k.report()
    assert rep.epsilon == pytest.approx(brute, abs=1e-12)
    assert rep.against_size is None and rep.f == k.f
    # two elements outside the stored set whose codes are complements give ε = 1 (the paper's
    # "δ_xy" holds only against the stored set)
    outside = [x for x in range(c) if x not in set(stored)]
    top = (1 << code_bits(c)) - 1
    if 0 in outside and top in outside and c > 1:
        assert rep.epsilon == pytest.approx(1.0)


def test_data_dependent_kernel_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="duplicates"):
        DataDependentKernel(10, [1, 1])
    with pytest.raises(ValueError, match="outside the universe"):
        DataDependentKernel(10, [10])
    k = DataDependentKernel(10, [1])
    with pytest.raises(ValueError, match=r"token 10 at index 1 is outside"):
        k.features([0, 10])
    with pytest.raises(TypeError, match="integers"):
        k.features(np.array([0.5]))


# --- random sign kernel ------------------------------------------------------------------------


def test_random_sign_kernel_is_a_deterministic_nested_function_of_the_seed() -> None:
    toks = np.array([0, 5, 4095, 5])
    big = RandomSignKernel(4096, 200, seed=7).signs(toks)
    again = RandomSignKernel(4096, 200, seed=7).signs(toks)
    small = RandomSignKernel(4096, 37, seed=7).signs(toks)
    other = RandomSignKernel(4096, 200, seed=8).signs(toks)
    assert big.dtype == np.int8 and set(np.unique(big).tolist()) == {-1, 1}
    assert np.array_equal(big, again)
    assert np.array_equal(big[:, :37], small)  # nested in f
    assert np.array_equal(big[1], big[3])  # a function of the token
    assert not np.array_equal(big, other)
    feats = RandomSignKernel(4096, 200, seed=7).features(toks)
    np.testing.assert_allclose(np.abs(feats), 1 / math.sqrt(200))


def test_random_sign_kernel_inner_products_have_the_rademacher_law() -> None:
    """Independent pairs: f·⟨φ(x), φ(y)⟩ is a sum of f independent signs, so mean 0 and variance
    1/f; the tail obeys Hoeffding P(|⟨⟩| >= t) <= 2 exp(-f t² / 2). 20,000 disjoint pairs: the
    sample variance has relative standard error sqrt(2/20000) = 1%, the test allows 5%; tail
    frequencies may exceed the bound by at most 4 binomial standard deviations."""
    f, pairs = 64, 20_000
    k = RandomSignKernel(1 << 20, f, seed=2024)
    x = k.features(np.arange(pairs))
    y = k.features(np.arange(pairs, 2 * pairs))
    ip = np.einsum("tf,tf->t", x, y)
    assert abs(ip.mean()) < 4 * math.sqrt(1 / f / pairs)
    assert ip.var() == pytest.approx(1 / f, rel=0.05)
    signs = k.signs(np.arange(2000))
    assert abs(signs.mean()) < 4 / math.sqrt(signs.size)
    for t in (0.2, 0.25, 0.3, 0.35):
        bound = 2 * math.exp(-f * t * t / 2)
        assert 0.01 < bound < 0.6
        freq = float(np.mean(np.abs(ip) >= t - 1e-12))
        assert freq <= bound + 4 * math.sqrt(bound * (1 - bound) / pairs)


def test_random_kernel_with_the_paper_dimension_is_an_epsilon_kernel() -> None:
    """f = 18 m² ln(c(c-1)/δ) makes every pair |⟨⟩| <= 1/(3m) with probability >= 1 - δ; here
    δ = 0.05 and 10 seeds: the bound allows 0.5 failures on average; we require none (the union
    bound is loose: the empirical failure rate is ~0)."""
    c, m = 128, 2
    f = random_kernel_dim_uniform(m, c, 0.05)
    assert uniform_failure_bound(f, m, c) <= 0.05
    for seed in range(10):
        rep = RandomSignKernel(c, f, seed).report()
        assert rep.epsilon <= 1 / (3 * m)
        assert rep.norm_error < 1e-12


@given(st.integers(1, 300), st.integers(1, 1000), st.floats(1e-4, 0.5))
def test_random_kernel_dim_is_the_smallest_f_meeting_delta(m: int, q: int, delta: float) -> None:
    f = random_kernel_dim(m, q, delta)
    assert random_failure_bound(f, m, q) <= delta
    if f > 1:
        assert random_failure_bound(f - 1, m, q) > delta
    assert RandomSignSpec(delta=delta).dim(1000, m, q) == f
    assert RandomSignSpec(f=17).dim(1000, m, q) == 17


@given(st.integers(1, 100), st.integers(2, 5000), st.floats(1e-4, 0.5))
def test_uniform_dim_is_the_smallest_f_meeting_delta(m: int, c: int, delta: float) -> None:
    f = random_kernel_dim_uniform(m, c, delta)
    assert uniform_failure_bound(f, m, c) <= delta
    if f > 1:
        assert uniform_failure_bound(f - 1, m, c) > delta
    assert f >= 18 * m * m * math.log(c * (c - 1) / delta) - 1  # Θ(m² log c)
    assert RandomSignSpec(delta=delta, rule="uniform").dim(c, m, 7) == f


def test_failure_bound_edge_cases_and_validation() -> None:
    assert random_failure_bound(1, 0, 10) == 0.0
    assert random_failure_bound(1, 10, 0) == 0.0
    assert random_failure_bound(1, 10, 10) == 1.0
    assert random_kernel_dim(0, 5, 0.1) == 1
    assert uniform_failure_bound(5, 3, 1) == 0.0
    with pytest.raises(ValueError, match="delta"):
        random_kernel_dim(3, 5, 1.5)
    with pytest.raises(ValueError, match="rule"):
        RandomSignSpec(rule="worst")
    with pytest.raises(ValueError, match="f=0"):
        RandomSignSpec(f=0)
    with pytest.raises(TypeError, match="stored"):
        random_kernel_dim(2.0, 5, 0.1)  # type: ignore[arg-type]


# --- code kernel -------------------------------------------------------------------------------


def _is_prime(p: int) -> bool:
    return p >= 2 and all(p % d for d in range(2, math.isqrt(p) + 1))


@given(st.integers(1, 4096), st.integers(1, 64))
def test_code_params_meet_the_target(c: int, m: int) -> None:
    eps = 1 / (3 * m)
    pr = code_kernel_params(c, eps)
    assert pr.epsilon <= eps + 1e-15
    assert pr.p**pr.k >= c and pr.k <= pr.q <= pr.p and (1 << pr.r) >= pr.p
    if pr.k >= 2:
        assert _is_prime(pr.p)
        assert pr.q == math.ceil((pr.k - 1) / eps - 1e-12)  # shortest RS length for this p
    assert pr.f <= 1 << (c - 1).bit_length()  # never worse than the K = 1 Hadamard code
    assert pr.relative_distance >= (1 - eps) / 2 - 1e-15
    assert CodeSpec().dim(c, m, 3) == pr.f


@settings(max_examples=15)
@given(st.integers(2, 400), st.integers(1, 16))
def test_code_kernel_achieves_its_guaranteed_epsilon_on_the_universe(c: int, m: int) -> None:
    k = CodeKernel.for_epsilon(c, 1 / (3 * m))
    rep = k.report()
    assert rep.f == k.params.f and rep.norm_error < 1e-12
    assert rep.epsilon <= k.params.epsilon + 1e-12
    # as a binary code (±1 signs): minimum relative distance >= (1 - ε)/2, and no two codewords
    # are farther apart than 1/2 (inner products are >= 0)
    g = k.gram(np.arange(c), np.arange(c))
    assert g.min() >= -1e-12
    signs = np.sign(k.features(np.arange(c)))
    dist = (signs[:, None, :] != signs[None, :, :]).mean(axis=2)
    off = dist[~np.eye(c, dtype=bool)]
    assert off.min() >= k.params.relative_distance - 1e-12


def test_code_kernel_symbol_agreements_on_a_large_universe() -> None:
    """c = 4096: distinct elements agree on at most K - 1 of the Q Reed–Solomon symbols (checked on
    3000 random pairs, and via features on 300 of them)."""
    k = CodeKernel.for_epsilon(4096, 1 / 24)
    assert k.params.k >= 2
    rng = np.random.default_rng(0)
    x = rng.integers(0, 4096, 3000)
    y = (x + rng.integers(1, 4096, 3000)) % 4096
    agree = (k.symbols(x) == k.symbols(y)).sum(axis=1)
    assert agree.max() <= k.params.k - 1
    ip = np.einsum("tf,tf->t", k.features(x[:300]), k.features(y[:300]))
    np.testing.assert_allclose(ip, agree[:300] / k.params.q, atol=1e-12)
    assert abs(k.features([17]) @ k.features([17]).T - 1.0) < 1e-12


def test_code_params_validation() -> None:
    with pytest.raises(ValueError, match="epsilon"):
        code_kernel_params(10, 1.0)
    with pytest.raises(TypeError, match="epsilon"):
        code_kernel_params(10, "small")  # type: ignore[arg-type]
    assert code_kernel_params(100, 0).k == 1
