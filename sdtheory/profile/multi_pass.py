"""Memory profile of JR-p streams (p >= 2 passes): at most the number of distinct answers.

Before the last pass the completion holds a whole pass and determines the input, so 1 state
suffices; in the last pass the prefix determines the input, and the least number of states is
the largest number of distinct answers among inputs that share the rest of the stream. Cuts say
nothing more here: JR-p memory lower bounds need the multi-round argument of Prop G.29
(:mod:`sdtheory.bounds`). Proof: docs/theory/jrp-profile.md; symbols: docs/theory/glossary.md.
"""

from __future__ import annotations

import math

import numpy as np

from sdtheory.combinatorics.bitsets import masks_to_sorted_elements, subset_masks
from sdtheory.instances import Variant
from sdtheory.matrices import UNDEFINED, sd_answers
from sdtheory.profile.cuts import combo_masks, prefix_configurations
from sdtheory.profile.point import ProfilePoint, phase_name

__all__ = ["MAX_JRP_ENTRIES", "check_jrp_size", "jrp_profile"]

MAX_JRP_ENTRIES = 20_000_000
"""Largest (input, subset of a set) enumeration of :func:`jrp_profile`, about 1 GB at the peak
(measured: 1.7e7 entries for n = 12, k = l = 6, two passes, 0.9 GB and 6 s on one core)."""


def check_jrp_size(n: int, k: int, l: int, variant: Variant | str) -> int:
    """The number of entries :func:`jrp_profile` enumerates, or ValueError beyond
    :data:`MAX_JRP_ENTRIES` (checked before anything is built)."""
    entries = _entries(n, k, l, Variant.parse(variant))
    if entries > MAX_JRP_ENTRIES:
        raise ValueError(
            f"the JR-p profile of n={n}, first={k}, second={l} would enumerate {entries} (input, subset) "
            f"pairs, more than MAX_JRP_ENTRIES = {MAX_JRP_ENTRIES} (about 1 GB)"
        )
    return entries


def _entries(n: int, k: int, l: int, variant: Variant) -> int:
    """Largest array :func:`jrp_profile` builds: all (first, second) pairs, or the valid inputs
    times the most subsets of one set that a position can have read."""
    pairs = math.comb(n, k) * math.comb(n, l)
    valid = pairs
    if variant is Variant.SHARED:
        valid = math.comb(n, k) * k * math.comb(n - k, l - 1) if k and l and k + l - 1 <= n else 0
    return max(pairs, valid * max(math.comb(k, k // 2), math.comb(l, l // 2)))


def jrp_profile(n: int, k: int, l: int, variant: Variant, passes: int) -> list[ProfilePoint]:
    """Per-position minimum for JR-p streams (p >= 2), length p N with N = k + l + 1 (k, l: the
    first and second set sizes; docs/theory/jrp-profile.md for the proof).

    Up to (p - 1) N tokens the completion holds a whole pass, so 1 state suffices; later the
    least number of states is the largest number of distinct answers among inputs sharing the
    rest of the last pass, computed by enumerating inputs at the set level. Refused (ValueError)
    beyond :data:`MAX_JRP_ENTRIES` (valid inputs times the largest number of subsets of a set).
    """
    check_jrp_size(n, k, l, variant)
    length_one = k + 1 + l
    points: list[ProfilePoint] = []

    def configs(pos: int) -> int:
        return prefix_configurations(n, k, l, variant, pos, passes)

    s_all = subset_masks(n, k)
    t_all = subset_masks(n, l)
    s = np.repeat(s_all, t_all.size)
    t = np.tile(t_all, s_all.size)
    ans = sd_answers(s, t, variant).astype(np.int16)
    valid = ans != UNDEFINED if variant is Variant.SHARED else np.ones(ans.shape, dtype=bool)
    s, t, ans = s[valid], t[valid], ans[valid]
    n64 = np.uint64(n)
    s_elems = masks_to_sorted_elements(s, n, k) if s.size else np.zeros((0, k), dtype=np.int64)
    t_elems = masks_to_sorted_elements(t, n, l) if t.size else np.zeros((0, l), dtype=np.int64)
    for pos in range(passes * length_one + 1):
        r, off = divmod(pos, length_one)
        if pos == passes * length_one:
            r, off = passes - 1, length_one
        phase = "start" if pos == 0 else f"pass {r + 1}: {phase_name(off, k) if off else 'start'}"
        if pos <= (passes - 1) * length_one or s.size == 0:
            method = "closed form: the completion holds a full pass"
            points.append(ProfilePoint(pos, r, off, phase, configs(pos), 1, 1, True, method))
            continue
        o = pos - (passes - 1) * length_one  # tokens of the last pass already read
        if o <= k:
            sub = combo_masks(s_elems, o) if o else np.zeros((s.size, 1), dtype=np.uint64)
            tail = (s[:, None] ^ sub) | (t[:, None] << n64)  # rest of first set, second set
        else:
            j = o - k - 1
            sub = combo_masks(t_elems, j)
            tail = t[:, None] ^ sub
        a = np.broadcast_to(ans[:, None], tail.shape).ravel().astype(np.uint64)
        # distinct (tail, answer) pairs as one key: tails use 2n <= 32 bits, answers < 32
        key = np.unique((tail.ravel() << np.uint64(5)) | a)
        _, counts = np.unique(key >> np.uint64(5), return_counts=True)
        chi = int(counts.max())
        method = "closed form: distinct answers per tail"
        points.append(ProfilePoint(pos, r, off, phase, configs(pos), chi, chi, True, method))
    return points
