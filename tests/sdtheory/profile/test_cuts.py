"""The number of prefix configurations at every position, against enumeration."""

from __future__ import annotations

import itertools

import pytest

from sdtheory.instances import Variant
from sdtheory.profile import cuts, memory_profile


def _set_level_prefixes(n: int, k: int, l: int, variant: Variant, passes: int) -> list[int]:
    """Distinct prefixes at every cut, as sets per segment, over every order of every valid input."""
    length = (k + l + 1) * passes
    seen: list[set] = [set() for _ in range(length + 1)]
    for s in itertools.combinations(range(n), k):
        for t in itertools.combinations(range(n), l):
            inter = set(s) & set(t)
            if variant is Variant.SHARED and len(inter) != 1:
                continue
            for ps in itertools.permutations(s):
                for pt in itertools.permutations(t):
                    tokens = (*ps, n, *pt) * passes
                    for cut in range(length + 1):
                        # the prefix as its sets: pass by pass, first set / second set read so far
                        parts = []
                        for r in range(passes):
                            base = r * (k + l + 1)
                            parts.append(frozenset(tokens[base : min(cut, base + k)]))
                            parts.append(frozenset(tokens[base + k + 1 : min(cut, base + k + 1 + l)]))
                        seen[cut].add(tuple(parts))
    return [len(x) for x in seen]


@pytest.mark.parametrize("variant", list(Variant))
@pytest.mark.parametrize("passes", [1, 2])
@pytest.mark.parametrize(
    ("n", "k", "l"), [(4, 2, 2), (4, 1, 3), (5, 2, 1), (4, 0, 2), (3, 2, 2), (4, 3, 2), (3, 3, 2)]
)
def test_prefix_configurations_match_enumeration(
    n: int, k: int, l: int, variant: Variant, passes: int
) -> None:
    truth = _set_level_prefixes(n, k, l, variant, passes)
    counted = [cuts.prefix_configurations(n, k, l, variant, t, passes) for t in range(len(truth))]
    assert counted == truth
    assert [p.configurations for p in memory_profile(n, k, l, variant, passes)] == truth


@pytest.mark.parametrize("variant", list(Variant))
def test_prefix_configurations_are_the_cut_matrix_rows(variant: Variant) -> None:
    for n in range(1, 8):
        for k, l in itertools.product(range(n + 1), repeat=2):
            for t in range(1, k + l + 2):
                offset = min(t, k) if t <= k + 1 else t
                built = cuts.cut_matrix(n, k, l, variant, offset, 10**6)
                if built is not None:
                    assert built[1] == cuts.prefix_configurations(n, k, l, variant, t), (n, k, l, t)
