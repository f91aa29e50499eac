"""The memory profile: the least number of states at every position of an SD stream.

A deterministic streaming algorithm (Def G.12; its update may depend on the position and the
layout) must answer every valid stream. At a cut, two prefixes can share a state iff no
completion valid for both gets different answers, so the least number of states there is the
chromatic number of the prefixes' incompatibility graph. :func:`memory_profile` reports it at
every position as a certified interval, region by region: inside the first set and at the
separator (:mod:`~sdtheory.profile.first_set`), inside the second set
(:mod:`~sdtheory.profile.decision_second`, :mod:`~sdtheory.profile.shared_second`, and exact
colouring of the cut graph, :mod:`~sdtheory.profile.cuts`), and for JR-p streams
(:mod:`~sdtheory.profile.multi_pass`). Proofs: docs/theory/memory-profile.md; symbols:
docs/theory/glossary.md (A-first convention: the first set has k elements).
"""

from __future__ import annotations

import math

import pandas as pd

from sdtheory.combinatorics.integers import check_int
from sdtheory.combinatorics.interval import Bounds
from sdtheory.instances import Variant
from sdtheory.matrices import check_sizes
from sdtheory.profile.cuts import cut_bounds, prefix_configurations
from sdtheory.profile.decision_second import decision_second_set_bounds, last_element_cover_bounds
from sdtheory.profile.first_set import first_set_bounds
from sdtheory.profile.multi_pass import jrp_profile
from sdtheory.profile.point import ProfileBudget, ProfilePoint, phase_name
from sdtheory.profile.shared_second import shared_second_set_bounds

__all__ = ["memory_profile", "profile_frame"]


def memory_profile(
    n: int,
    first: int,
    second: int,
    variant: Variant | str = Variant.DECISION,
    passes: int = 1,
    *,
    max_vertices: int = 400,
    node_budget: int = 20_000,
    max_triples: int = 3_000_000,
    tabu_iters: int = 3000,
    max_cover_n: int = 7,
    max_window: int = 6,
) -> list[ProfilePoint]:
    """Least number of states at every position 0..p N of the stream, as certified intervals.

    One pass, per position (k = ``first``, l = ``second``):

    * 0 tokens, or no two valid inputs with different answers: 1;
    * inside the first set and at the separator: :func:`~sdtheory.profile.first_set.first_set_bounds`
      (C(n, i), closed forms of the distance lemma, or a partition into codes);
    * inside the second set: the analytic bounds of
      :func:`~sdtheory.profile.decision_second.decision_second_set_bounds` or
      :func:`~sdtheory.profile.shared_second.shared_second_set_bounds`; where they do not meet,
      exact colouring of the set-level cut graph (:func:`~sdtheory.profile.cuts.cut_bounds`, at
      most ``max_vertices`` vertices after merging identical rows, ``max_triples`` entries) and,
      for the decision variant with one element left, the set cover of
      :func:`~sdtheory.profile.decision_second.last_element_cover_bounds` (n <= ``max_cover_n``);
    * end of the stream: 2 (decision); the colouring of the cut graph (shared element).

    JR-p (``passes`` >= 2): :func:`~sdtheory.profile.multi_pass.jrp_profile`. The budgets
    (:class:`~sdtheory.profile.point.ProfileBudget`) only decide how many intervals close.
    """
    n, k, l = check_sizes(n, first, second)
    variant = Variant.parse(variant)
    passes = check_int("passes", passes, 1)
    if passes >= 2:
        return jrp_profile(n, k, l, variant, passes)
    budget = ProfileBudget(max_vertices, node_budget, max_triples, tabu_iters, max_cover_n, max_window)
    if variant is Variant.DECISION:
        trivial = k == 0 or l == 0 or k + l > n
    else:
        trivial = k == 0 or l == 0 or k + l - 1 > n
    points = []
    for t in range(k + 1 + l + 1):
        if t == 0:
            bounds = Bounds.exactly(1, "closed form: start of the stream")
        elif trivial:
            bounds = Bounds.exactly(1, "closed form: no two valid inputs with different answers")
        else:
            bounds = _one_pass_bounds(n, k, l, variant, t, budget)
        configs = prefix_configurations(n, k, l, variant, t)
        points.append(ProfilePoint.from_bounds(t, 0, t, phase_name(t, k), configs, bounds))
    return points


def _one_pass_bounds(n: int, k: int, l: int, variant: Variant, t: int, budget: ProfileBudget) -> Bounds:
    """Bounds after t >= 1 tokens of a one-pass stream whose inputs do not all share one answer."""
    if t <= k + 1:  # inside the first set, or the separator (which carries no information)
        return first_set_bounds(n, k, l, variant, min(t, k), budget.tabu_iters)
    j = t - k - 1
    if j == l:  # end of the stream
        if variant is Variant.DECISION:
            return Bounds.exactly(2, "closed form: the answer bit")
        colouring = cut_bounds(n, k, l, variant, t, budget)
        if colouring is not None:
            return colouring
        return Bounds.of(1, math.comb(n, k) + n, "not computed (too large): trivial bounds")
    if variant is Variant.DECISION:
        analytic = decision_second_set_bounds(n, k, l, j, budget.max_window)
    else:
        analytic = shared_second_set_bounds(n, k, l, j)
    if analytic.is_exact:
        return analytic
    colouring = cut_bounds(n, k, l, variant, t, budget)
    if colouring is not None and colouring.is_exact:
        return colouring  # a finished search is taken as it is
    if variant is Variant.SHARED:
        return analytic if colouring is None else colouring.tighten(analytic)
    bounds = analytic if colouring is None else analytic.tighten(colouring)
    cover = last_element_cover_bounds(n, k, l, j, budget.max_cover_n)
    if cover is None:
        return bounds
    return cover if cover.is_exact else bounds.tighten(cover)


def profile_frame(points: list[ProfilePoint]) -> pd.DataFrame:
    """Tidy table of a profile: one row per position with bounds in states and bits."""
    rows = []
    for p in points:
        rows.append(
            dict(
                position=p.position,
                pass_index=p.pass_index,
                offset=p.offset,
                phase=p.phase,
                configurations=p.configurations,
                states_lower=p.lower,
                states_upper=p.upper,
                bits_lower=p.bits,
                bits_upper=p.bits_upper,
                exact=p.exact,
                method=p.method,
            )
        )
    return pd.DataFrame(rows)
