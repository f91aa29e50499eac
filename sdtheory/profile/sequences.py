"""Ground truth for tiny universes: the per-position minimum on token sequences, no set-level shortcut.

Every order of every valid input is a stream; at every cut the prefixes are coloured exactly
(their incompatibility graph, docs/theory/memory-profile.md). The set-level profile of
:func:`sdtheory.profile.memory_profile` is checked against it in the tests.
"""

from __future__ import annotations

import itertools

import numpy as np

from sdtheory.combinatorics.graphs import chromatic_number
from sdtheory.instances import Variant
from sdtheory.matrices import check_sizes

__all__ = ["MAX_SEQUENCES_N", "memory_profile_sequences"]

MAX_SEQUENCES_N = 5  # n! orders per set: n = 5 has up to 14,400 streams per cut


def memory_profile_sequences(
    n: int, first: int, second: int, variant: Variant | str = Variant.DECISION, passes: int = 1
) -> list[int]:
    """Ground truth for tiny universes: the exact per-position minimum computed on token
    sequences (every order of every valid input, every cut), with no set-level shortcut.
    Returns the chromatic numbers, one per position 0..p*N. Feasible for n <= 4 (n = 5 may
    raise RuntimeError when the exact colouring does not finish).
    """
    n, k, l = check_sizes(n, first, second)
    variant = Variant.parse(variant)
    if n > MAX_SEQUENCES_N:
        raise ValueError(
            f"memory_profile_sequences enumerates token orders; n={n} must be <= MAX_SEQUENCES_N = "
            f"{MAX_SEQUENCES_N}"
        )
    streams: list[tuple[tuple[int, ...], int | bool]] = []
    for s in itertools.combinations(range(n), k):
        for t in itertools.combinations(range(n), l):
            inter = set(s) & set(t)
            if variant is Variant.SHARED:
                if len(inter) != 1:
                    continue
                answer: int | bool = next(iter(inter))
            else:
                answer = not inter
            for ps in itertools.permutations(s):
                for pt in itertools.permutations(t):
                    one = (*ps, n, *pt)
                    streams.append((one * passes, answer))
    length = (k + l + 1) * passes
    out = []
    for cut in range(length + 1):
        prefixes: dict[tuple[int, ...], int] = {}
        groups: dict[tuple[int, ...], dict[int | bool, set[int]]] = {}
        for tokens, answer in streams:
            p = prefixes.setdefault(tokens[:cut], len(prefixes))
            groups.setdefault(tokens[cut:], {}).setdefault(answer, set()).add(p)
        adj = np.zeros((len(prefixes), len(prefixes)), dtype=bool)
        for by_answer in groups.values():
            parts = list(by_answer.values())
            for x in range(len(parts)):
                for y in range(x + 1, len(parts)):
                    ix = np.array(sorted(parts[x]))
                    iy = np.array(sorted(parts[y]))
                    adj[np.ix_(ix, iy)] = True
                    adj[np.ix_(iy, ix)] = True
        res = chromatic_number(adj, node_budget=200_000)
        if not res.exact:
            raise RuntimeError(f"sequence-level chromatic number not settled at cut {cut}")
        out.append(max(1, res.lower))
    return out
