"""The set-level cut matrix of a one-pass stream and the colouring of its incompatibility graph.

At a cut after some tokens, rows are the prefix configurations (what was read, as sets), columns
the completions; an entry is the answer, or -1 if the combination is not a valid input. The
least number of states at the cut is the chromatic number of the rows' incompatibility graph
(docs/theory/memory-profile.md). Also: the number of prefix configurations at any position.
Symbols as in docs/theory/glossary.md.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from sdtheory.combinatorics.bitsets import masks_to_sorted_elements, subset_masks
from sdtheory.combinatorics.graphs import chromatic_number
from sdtheory.combinatorics.interval import Bounds
from sdtheory.instances import Variant
from sdtheory.matrices import UNDEFINED, incompatibility, sd_answers
from sdtheory.profile.point import ProfileBudget

__all__ = ["combo_masks", "cut_bounds", "cut_matrix", "prefix_configurations"]


def combo_masks(elements: np.ndarray, size: int) -> np.ndarray:
    """All size-subsets of each row's elements: uint64 [rows, C(width, size)]."""
    rows, width = elements.shape
    combos = list(itertools.combinations(range(width), size))
    out = np.zeros((rows, len(combos)), dtype=np.uint64)
    bits = np.uint64(1) << elements.astype(np.uint64)
    for c, idx in enumerate(combos):
        for i in idx:
            out[:, c] |= bits[:, i]
    return out


def cut_matrix(
    n: int, k: int, l: int, variant: Variant, offset: int, max_triples: int
) -> tuple[np.ndarray, int] | None:
    """Prefix-configuration x completion matrix at a cut of a one-pass stream (set level).

    Prefix configuration: the set P read so far (inside the first set) or (S, Q) with Q the
    part of the second set read so far; completion: (rest of the first set, second set) or the
    rest of the second set. Entry: the answer, -1 if the combination is not a valid input.
    The order of the tokens inside a prefix or a completion does not matter to validity or to
    the answer, so this set-level matrix has the same incompatibility graph as the matrix of
    token sequences (checked against :func:`sdtheory.profile.sequences.memory_profile_sequences`
    in the tests). ``offset`` <= k: that many first-set elements read (offset = k is also the cut
    at the separator, which carries no information); offset = k + 1 + j: j second-set elements
    read. Rows are sorted by the key P, or S | Q << n. Returns (matrix, number of prefix
    configurations), or None if the enumeration would exceed ``max_triples`` (input pairs times
    prefix choices; checked before anything is built).
    """
    n_comb = math.comb(k, min(offset, k)) if offset <= k else math.comb(l, offset - k - 1)
    if math.comb(n, k) * math.comb(n, l) * n_comb > max_triples:
        return None  # checked before anything is enumerated
    s_all = subset_masks(n, k)
    t_all = subset_masks(n, l)
    si, ti = np.meshgrid(np.arange(s_all.size), np.arange(t_all.size), indexing="ij")
    s = s_all[si.ravel()]
    t = t_all[ti.ravel()]
    ans = sd_answers(s, t, variant).astype(np.int16)
    if variant is Variant.SHARED:
        keep = ans != UNDEFINED
        s, t, ans, si_r, ti_r = s[keep], t[keep], ans[keep], si.ravel()[keep], ti.ravel()[keep]
    else:
        si_r, ti_r = si.ravel(), ti.ravel()
    if s.size == 0:
        return None
    n64 = np.uint64(n)
    if offset <= k:
        i = offset
        n_comb = math.comb(k, i)
        if s.size * n_comb > max_triples:
            return None
        sub = combo_masks(masks_to_sorted_elements(s_all, n, k), i)[si_r]  # [pairs, n_comb]
        prefix = sub
        completion = (s[:, None] ^ sub) | (t[:, None] << n64)
    else:
        j = offset - k - 1
        n_comb = math.comb(l, j)
        if s.size * n_comb > max_triples:
            return None
        sub = combo_masks(masks_to_sorted_elements(t_all, n, l), j)[ti_r]
        prefix = s[:, None] | (sub << n64)
        completion = t[:, None] ^ sub
    ans_rep = np.broadcast_to(ans[:, None], prefix.shape)
    p_keys, p_inv = np.unique(prefix.ravel(), return_inverse=True)
    c_keys, c_inv = np.unique(completion.ravel(), return_inverse=True)
    mat = np.full((p_keys.size, c_keys.size), UNDEFINED, dtype=np.int16)
    mat[p_inv, c_inv] = ans_rep.ravel()
    return mat, int(p_keys.size)


def cut_bounds(n: int, k: int, l: int, variant: Variant, offset: int, budget: ProfileBudget) -> Bounds | None:
    """Certified bounds on the least number of states at the cut ``offset`` tokens into a one-pass
    stream: the chromatic number of :func:`cut_matrix`'s incompatibility graph, after merging
    identical rows (twins need no colour of their own). None when the matrix exceeds
    ``budget.max_triples`` or the merged graph ``budget.max_vertices`` vertices."""
    built = cut_matrix(n, k, l, variant, offset, budget.max_triples)
    if built is None:
        return None
    reduced = np.unique(built[0], axis=0)
    if reduced.shape[0] > budget.max_vertices:
        return None
    return chromatic_number(incompatibility(reduced), node_budget=budget.node_budget).bounds


def _valid_inputs(n: int, k: int, l: int, variant: Variant) -> int:
    """Number of valid inputs (first set, second set) of sizes k, l over [n]."""
    if variant is Variant.DECISION:
        return math.comb(n, k) * math.comb(n, l)
    if k == 0 or l == 0:
        return 0
    return math.comb(n, k) * k * math.comb(n - k, l - 1)


def prefix_configurations(
    n: int, k: int, l: int, variant: Variant | str, position: int, passes: int = 1
) -> int:
    """Distinct prefix configurations after ``position`` tokens of a stream with first set size k,
    second set size l and ``passes`` passes, over all valid streams: what was read, as sets
    (completed sets, and the subset read of the current one). 0 when no stream is valid.

    One pass: C(n, i) after i first-set elements (and at the separator, i = k); after j
    second-set elements C(n, k) C(n, j) (decision; every (S, Q) occurs) or, shared element,
    C(n, k) (C(n - k, j) + k C(n - k, j - 1)) for j < l (Q misses S, or meets it in one element)
    and C(n, k) k C(n - k, l - 1) at the end (the valid inputs). From the second pass on, the
    prefix holds a whole pass: valid inputs times the subsets read of the current set.
    """
    variant = Variant.parse(variant)
    inputs = _valid_inputs(n, k, l, variant)
    if inputs == 0:
        return 0
    length = k + 1 + l
    if position > length:  # a later pass: the input and the part of the current pass read
        offset = position - (position - 1) // length * length  # 1..length
        if offset <= k:
            return inputs * math.comb(k, offset)
        return inputs * math.comb(l, max(0, offset - k - 1))
    if position <= k + 1:
        return math.comb(n, min(position, k))
    j = position - k - 1
    if j == l or variant is Variant.DECISION:
        return inputs if j == l else math.comb(n, k) * math.comb(n, j)
    return math.comb(n, k) * (math.comb(n - k, j) + k * math.comb(n - k, j - 1))
