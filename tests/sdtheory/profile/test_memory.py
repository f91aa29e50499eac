"""The memory profile: set level against token sequences, consistency, documented examples."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sdtheory import matrices, one_way, profile
from sdtheory.combinatorics.graphs import chromatic_number
from sdtheory.instances import Variant
from sdtheory.profile import cuts

SIZES_12 = [(n, k, l) for n in range(1, 13) for k in range(n + 1) for l in range(n + 1)]


@pytest.mark.parametrize("n", range(1, 5))
def test_profile_matches_sequence_level_ground_truth(n: int) -> None:
    """Every position, both variants, one to three passes: set-level == token-sequence level."""
    for k, l in itertools.product(range(n + 1), repeat=2):
        for variant in Variant:
            for p in (1, 2, 3) if n <= 3 else (1, 2):
                pts = profile.memory_profile(n, k, l, variant, p)
                assert [q.position for q in pts] == list(range(p * (k + l + 1) + 1))
                assert all(q.exact for q in pts)
                truth = profile.memory_profile_sequences(n, k, l, variant, p)
                assert [q.lower for q in pts] == truth, (n, k, l, variant, p)


@pytest.mark.parametrize(("n", "k", "l"), [(5, 2, 2), (5, 1, 3), (6, 2, 3), (6, 4, 1), (6, 3, 3), (7, 2, 2)])
@pytest.mark.parametrize("variant", list(Variant))
def test_profile_bounds_consistent(n: int, k: int, l: int, variant: Variant) -> None:
    pts = profile.memory_profile(n, k, l, variant, node_budget=3000)
    for q in pts:
        assert 1 <= q.lower <= q.upper and q.exact == (q.lower == q.upper)
    # after the separator: the one-way count; nothing at the separator token itself changes
    sep = one_way.one_way_states(n, k, l, variant)
    assert (pts[k].lower, pts[k + 1].lower) == (sep.lower, sep.lower)
    if variant is Variant.DECISION and k + l <= n and k and l:
        assert pts[-1].lower == 2 and pts[k].exact


def test_jrp_profile_is_trivial_before_the_last_pass() -> None:
    for n, k, l, p in [(6, 2, 3, 2), (6, 3, 2, 3), (5, 2, 2, 4)]:
        pts = profile.memory_profile(n, k, l, "decision", p)
        length = k + l + 1
        assert all(q.lower == 1 for q in pts if q.position <= (p - 1) * length)
        assert pts[-1].lower == 2 and max(q.lower for q in pts) == 2


def test_documented_profile_examples() -> None:
    # merging inside the first set beyond Myhill-Nerode classes
    assert [p.lower for p in profile.memory_profile(5, 4, 1)] == [1, 5, 5, 5, 5, 5, 2]
    # one state more than at the separator, one token into the second set: 3 bits instead of 2
    pts = profile.memory_profile(4, 1, 2)
    assert [p.lower for p in pts] == [1, 4, 4, 5, 2] and all(p.exact for p in pts)
    assert max(p.bits for p in pts) == one_way.one_way_states(4, 1, 2).bits + 1


def test_code_partition_positions_contain_the_brute_force_value() -> None:
    """Every first-set / separator position sent to the code partitions (n <= 8): the interval
    contains the chromatic number of the brute-force cut graph wherever that one is settled."""
    checked = 0
    for n in range(4, 9):
        for k, l in itertools.product(range(1, n + 1), repeat=2):
            for variant in Variant:
                pts = profile.memory_profile(n, k, l, variant, max_triples=0, max_cover_n=0)  # no brute force
                for q in pts[1 : k + 2]:
                    if not q.method.startswith("code partition"):
                        continue
                    cut = min(q.offset, k)
                    built = cuts.cut_matrix(n, k, l, variant, cut, 10**7)
                    assert built is not None
                    graph = matrices.incompatibility(np.unique(built[0], axis=0))
                    if graph.shape[0] > 40:
                        continue
                    res = chromatic_number(graph, node_budget=100_000)
                    if res.exact:
                        assert q.lower <= res.lower <= q.upper, (n, k, l, variant, q)
                        checked += 1
    assert checked >= 10


def test_code_partitions_close_former_intervals() -> None:
    # shared element at the separator: G(8, 3, 1) needs 7 (ceil(56 / A(8, 4, 3) = 8)); G(8, 4, 2) 35
    assert (
        one_way.one_way_states(8, 3, 6, Variant.SHARED).lower,
        one_way.one_way_states(8, 3, 6, "shared-element").exact,
    ) == (
        7,
        True,
    )
    res = one_way.one_way_states(8, 4, 4, Variant.SHARED)
    assert res.exact and res.states == 35
    # decision inside the first set, i = 4 > n - k = 2: complementary pairs, 35 states
    q = profile.memory_profile(8, 6, 1)[4]
    assert q.exact and q.lower == 35


def test_passes_must_be_at_least_one() -> None:
    with pytest.raises(ValueError, match="passes=0"):
        profile.memory_profile(4, 1, 1, passes=0)


def test_too_large_profiles_are_refused() -> None:
    with pytest.raises(ValueError, match="MAX_JRP_ENTRIES"):
        profile.memory_profile(16, 8, 8, passes=2)
    with pytest.raises(ValueError, match="MAX_SEQUENCES_N"):
        profile.memory_profile_sequences(6, 1, 1)
    with pytest.raises(ValueError, match="n <= 16"):
        profile.memory_profile(17, 1, 1)
