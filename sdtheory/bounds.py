"""Closed-form memory bounds for set disjointness (SD), in bits; no brute force here.

Symbols (n, k = |A|, l = |B|, first / second, p, N, lg) as in docs/theory/glossary.md; lg n bits
name one element. "State" is the recurrent state of Def G.12: the layout (n, sizes, passes) and
the position are not state (:func:`position_counter_bits` is what a position counter would cost).

Every function names, in its docstring, the result it rests on and its hypotheses. Lower bounds
hold for every deterministic algorithm of the stated kind; upper bounds are the exact register
sizes of the algorithms in :mod:`sdtheory.streaming` (tests check the serialised states against
them). The brute force that checks the closed forms is :mod:`sdtheory.one_way`; the table of every
bound is :mod:`sdtheory.table`. Binomials above :data:`MAX_BINOMIAL_BITS` bits are refused.
"""

from __future__ import annotations

import math

from sdtheory.combinatorics.codes import distance_graph_closed_form
from sdtheory.combinatorics.integers import ceil_log2, check_int
from sdtheory.instances import Variant

__all__ = [
    "MAX_BINOMIAL_BITS",
    "based_g18_state_values",
    "based_g22_state_values",
    "based_g23_state_values",
    "binomial",
    "bloom_filter_bits",
    "data_dependent_feature_dim",
    "element_bits",
    "fingerprint_bits",
    "jrp_lower_bound_paper_bits",
    "jrp_lower_bound_rank_bits",
    "jrt_intersection_bits",
    "jrt_two_pass_bits",
    "multi_pass_bits",
    "multi_pass_chunk",
    "one_pass_exact_bits",
    "one_way_states_closed_form",
    "position_counter_bits",
    "random_feature_dim",
    "set_encoding_bits",
    "store_first_bits",
    "two_way_fooling_set_bits",
    "two_way_log_rank_bits",
    "two_way_upper_bits",
]


MAX_BINOMIAL_BITS = 2**17
"""Largest binomial coefficient C(n, m), in bits, that the closed forms compute exactly (about
0.2 s for C(2^17, 2^16) with math.comb; the time grows faster than linearly in the bits)."""


def _sizes(
    n: int, first: int, second: int, names: tuple[str, str] = ("first", "second")
) -> tuple[int, int, int]:
    n = check_int("n", n, 1)
    first = check_int(names[0], first, 0)
    second = check_int(names[1], second, 0)
    for name, v in zip(names, (first, second), strict=True):
        if v > n:
            raise ValueError(f"{name}={v} exceeds the universe n={n}")
    return n, first, second


def binomial(n: int, m: int) -> int:
    """C(n, m) exactly, refused (ValueError) when it would have more than :data:`MAX_BINOMIAL_BITS`
    bits (estimated from log-gamma before anything is computed)."""
    if 0 <= m <= n:
        est = (math.lgamma(n + 1) - math.lgamma(m + 1) - math.lgamma(n - m + 1)) / math.log(2)
        if est > MAX_BINOMIAL_BITS:
            raise ValueError(
                f"C({n}, {m}) has about {est:.0f} bits, more than MAX_BINOMIAL_BITS = "
                f"{MAX_BINOMIAL_BITS} that the closed forms compute exactly"
            )
    return math.comb(n, m)


def element_bits(n: int) -> int:
    """w = ceil(log2 n): bits of one element of [n] in binary (0 for n = 1)."""
    return ceil_log2(check_int("n", n, 1))


def set_encoding_bits(n: int, size: int) -> int:
    """min(n, size * w): a bitmap of [n] or a list of ``size`` elements of w bits, whichever is
    smaller (exact register size of the set store used by every algorithm here)."""
    n = check_int("n", n, 1)
    size = check_int("size", size, 0)
    return min(n, size * element_bits(n))


# --------------------------------------------------------------------------------------------
# lower bounds
# --------------------------------------------------------------------------------------------


def one_way_states_closed_form(
    n: int, first: int, second: int, variant: Variant | str = Variant.DECISION
) -> int | None:
    """Least number of states of a one-pass algorithm after the first set, in closed form (None
    where none is known). Proofs: docs/theory/one-way-states.md.

    decision: 1 if first = 0, second = 0 or first + second > n (the answer is constant), else
    C(n, first) (all rows of the communication matrix differ).
    shared element, delta = n - first - second + 2, m = min(first, n - first): 1 if no instance
    satisfies the promise (first = 0, second = 0 or first + second - 1 > n) or second = 1;
    C(n, first) if delta >= m; Baranyai's ceil(C(n, m) / floor(n / m)) if delta = m - 1; None
    below (a partition into constant-weight codes: :func:`sdtheory.one_way.one_way_states`).
    """
    n, k, l = _sizes(n, first, second)
    variant = Variant.parse(variant)
    if variant is Variant.DECISION:
        if k == 0 or l == 0 or k + l > n:
            return 1
        return binomial(n, k)
    if k == 0 or l == 0 or k + l - 1 > n or l == 1:
        return 1
    binomial(n, min(k, n - k))  # refuse too large a closed form before computing it
    return distance_graph_closed_form(n, k, n - k - l + 2)


def one_pass_exact_bits(n: int, first: int, second: int, variant: Variant | str = Variant.DECISION) -> int:
    """Exact one-pass (one-way) bound after the first set: lg of the least number of states.

    Result: Myhill–Nerode for streams / one-way communication complexity: log2 of the least
    number of states after the first set (:func:`one_way_states_closed_form`, checked by brute
    force in :mod:`sdtheory.one_way`). Hypotheses: deterministic algorithm, one pass, correct on
    every valid stream of the layout; the first set has ``first`` elements, the second ``second``.
    decision: lg C(n, first) if first, second >= 1 and first + second <= n, else 0: it depends on
    the FIRST set only, which is the order effect. shared element: lg of the closed form (0 bits
    when second <= 1: the answer is then the second set's element); where no closed form is
    known a ValueError says so (:func:`sdtheory.one_way.one_pass_states` adds the brute force).
    This is the bound at the separator; one token later the count can be one larger
    (C(n, first) + 1, "intersection already seen"): :func:`sdtheory.profile.memory_profile`.
    """
    n, first, second = _sizes(n, first, second)
    states = one_way_states_closed_form(n, first, second, variant)
    if states is None:
        raise ValueError(
            f"no closed form for the shared-element one-way states at n={n}, first={first}, "
            f"second={second}; sdtheory.one_way.one_pass_states computes them by brute force (n <= 16)"
        )
    return ceil_log2(states)


def two_way_log_rank_bits(n: int, k: int, l: int) -> int:
    """Two-way deterministic lower bound for decision SD: ceil(log2 rank) = ceil(log2 C(n, min(k, l))).

    Results: Mehlhorn–Schmidt (1982), D(f) >= log2 rank_R(M_f); Gottlieb–Kantor, the
    disjointness matrix of k-sets x l-sets is an inclusion matrix of full rank C(n, min(k, l))
    (see :func:`sdtheory.rank.disjointness_rank_closed_form`).
    Hypotheses: deterministic protocols; k + l <= n (otherwise the answer is constant: 0 bits).
    Independent of the order; holds for any number of rounds.
    """
    n, k, l = _sizes(n, k, l, ("k", "l"))
    if k == 0 or l == 0 or k + l > n:
        return 0
    return ceil_log2(binomial(n, min(k, l)))


def two_way_fooling_set_bits(n: int, k: int, l: int) -> int:
    """Two-way deterministic lower bound for decision SD from the fooling set of
    :func:`sdtheory.rank.fooling_set`: ceil(log2 C(2m, m)), m = min(k, l).

    Result: the fooling-set method (Yao 1979): D(f) >= log2 |fooling set|.
    Hypotheses: deterministic protocols; k + l <= n. Weaker than :func:`two_way_log_rank_bits`.
    """
    n, k, l = _sizes(n, k, l, ("k", "l"))
    if k == 0 or l == 0 or k + l > n:
        return 0
    m = min(k, l)
    return ceil_log2(binomial(2 * m, m))


def two_way_upper_bits(n: int, k: int, l: int) -> int:
    """Two-way deterministic upper bound for decision SD: the party holding the smaller set
    sends its index among the C(n, m) sets (m = min(k, l)), the other replies with the answer bit:
    ceil(log2 C(n, m)) + 1. With :func:`two_way_log_rank_bits` this pins D(SD) to within 1 bit.
    """
    n, k, l = _sizes(n, k, l, ("k", "l"))
    if k == 0 or l == 0 or k + l > n:
        return 0
    return ceil_log2(binomial(n, min(k, l))) + 1


def jrp_lower_bound_paper_bits(n: int, k: int, l: int, passes: int) -> float:
    """JR-p lower bound in the form of Prop G.29 (= Prop 3.1): state >= D(SD) / (2p), with the
    deterministic two-way bound :func:`two_way_log_rank_bits` for D(SD) (the paper uses the
    randomized one, Thm G.27). Hypotheses: deterministic recurrent model (Def G.12), JR-p prompt,
    correct on every input; decision variant. A real number of bits (not rounded). Proof:
    docs/theory/jrp-lower-bound.md.
    """
    passes = check_int("passes", passes, 1)
    return two_way_log_rank_bits(n, k, l) / (2 * passes)


def jrp_lower_bound_rank_bits(n: int, k: int, l: int, passes: int) -> float:
    """Sharper JR-p bound (ours, DERIVED from the same simulation): log2 C(n, min(k, l)) / (2p - 1)
    (the state at the 2p - 1 crossings of the cut is a transcript; rank_R(M) <= states^(2p-1)).
    Hypotheses: deterministic, decision variant, k + l <= n (else 0). A real number of bits.
    Proof: docs/theory/jrp-lower-bound.md.
    """
    n, k, l = _sizes(n, k, l, ("k", "l"))
    passes = check_int("passes", passes, 1)
    if k == 0 or l == 0 or k + l > n:
        return 0.0
    return math.log2(binomial(n, min(k, l))) / (2 * passes - 1)


def position_counter_bits(length: int) -> int:
    """ceil(log2(length + 1)): bits of a counter of the tokens read (0..length), the O(log N) cost
    of making a position-independent update track the position that Def G.12 gives for free
    (the update f^i may depend on i). ``length`` = tokens in the stream (p * N)."""
    length = check_int("length", length, 0)
    return ceil_log2(length + 1)


# --------------------------------------------------------------------------------------------
# upper bounds: exact register sizes of the algorithms in sdtheory.streaming
# --------------------------------------------------------------------------------------------


def store_first_bits(n: int, first: int) -> int:
    """One-pass "store the first set": min(n, first * w) + 1.

    The set store (bitmap or list, whichever is smaller) plus one flag bit "an intersection was
    seen" (decision) / "the shared element was found", in which case the element overwrites the
    set store (shared element). Correct for both variants in one pass, any order.
    Depends on the FIRST set only.
    """
    return set_encoding_bits(n, check_int("first", first, 0)) + 1


def jrt_two_pass_bits(n: int, k: int, l: int) -> int:
    """JRT two-pass algorithm (paper Algorithm 3, Thm G.15): min(n, min(k, l) * w) + 1.

    The layout tells which set is smaller. Smaller set first: ignore pass 1, store the smaller set
    in pass 2 and check the larger one after it. Smaller set second: store it in pass 1 and check
    the larger set at the start of pass 2. Thm G.15's O(n min(|A|,|B|)) with n-bit rows becomes
    min(k, l) * ceil(log2 n) bits here (elements of [n], not of {0,1}^n). Same in both orders.
    """
    n, k, l = _sizes(n, k, l, ("k", "l"))
    return set_encoding_bits(n, min(k, l)) + 1


def jrt_intersection_bits(n: int, k: int, l: int) -> int:
    """Algorithm 3 as written (outputs the whole intersection): the smaller set plus one match
    bit per stored element: min(2n, min(k, l) * (w + 1)) (a bitmap of [n] and a bitmap of
    matches, or a list of (element, match bit))."""
    n, k, l = _sizes(n, k, l, ("k", "l"))
    m = min(k, l)
    return min(2 * n, m * (element_bits(n) + 1))


def multi_pass_chunk(first: int, second: int, passes: int) -> tuple[str, int]:
    """The plan of the p-pass algorithm: ("first", ceil(first / p)) or ("second",
    ceil(second / (p - 1))), whichever stores fewer elements (ties: "first").

    Chunking the first set: pass r stores chunk r of the first set and checks it against the
    second set of the same pass (p chunks). Chunking the second set (p >= 2): pass r stores chunk
    r of the second set and checks it against the first set of pass r + 1 (p - 1 chunks).
    """
    first = check_int("first", first, 0)
    second = check_int("second", second, 0)
    passes = check_int("passes", passes, 1)
    c_first = -(-first // passes)
    if passes == 1:
        return "first", c_first
    c_second = -(-second // (passes - 1))
    return ("first", c_first) if c_first <= c_second else ("second", c_second)


def multi_pass_bits(n: int, first: int, second: int, passes: int) -> int:
    """p-pass algorithm on JR-p streams: min(n, c * w) + 1 with c from :func:`multi_pass_chunk`,
    about min(first / p, second / (p - 1)) elements. p = 1 is store-first; p = 2 stores
    min(ceil(first / 2), second) elements, at most Algorithm 3's min(k, l).
    Compare with the Ω(min(k, l) / p) lower bound (Prop G.29, :func:`jrp_lower_bound_rank_bits`).
    """
    n, first, second = _sizes(n, first, second)
    _, c = multi_pass_chunk(first, second, passes)
    return set_encoding_bits(n, c) + 1


def bloom_filter_bits(filter_bits: int, n: int, variant: Variant | str = Variant.DECISION) -> int:
    """Bloom-filter sketch of the first set: filter_bits + 1 flag (+ w bits for the candidate
    element in the shared-element variant). Not correct in general: an under-budget algorithm."""
    filter_bits = check_int("filter_bits", filter_bits, 1)
    extra = element_bits(n) if Variant.parse(variant) is Variant.SHARED else 0
    return filter_bits + 1 + extra


def fingerprint_bits(first: int, fp_bits: int, n: int, variant: Variant | str = Variant.DECISION) -> int:
    """Hash-fingerprint sketch: first * fp_bits + 1 flag (+ w for the shared-element variant)."""
    first = check_int("first", first, 0)
    fp_bits = check_int("fp_bits", fp_bits, 1)
    extra = element_bits(n) if Variant.parse(variant) is Variant.SHARED else 0
    return first * fp_bits + 1 + extra


# --------------------------------------------------------------------------------------------
# the paper's Based constructions (App. G.3), state sizes as stated and with log c made explicit
# --------------------------------------------------------------------------------------------


def data_dependent_feature_dim(set_size: int, c: int) -> int:
    """f = |A| + ceil(log2 c): the input-dependent IP kernel of Eq. 19 (a in A -> [e_a, 0],
    b not in A -> [0, binary code of b]); inner products are exactly delta for pairs involving A."""
    set_size = check_int("set_size", set_size, 0)
    c = check_int("c", c, 1)
    return set_size + ceil_log2(c)


def random_feature_dim(set_size: int, c: int) -> int:
    """f for the random +-1/sqrt(f) kernel of Eq. 20 with explicit constants (DERIVED).

    Pr[<phi(x), phi(y)> > t / sqrt(f)] <= exp(-t^2 / 2); with t^2 = 2 ln(100 c^2) each of the c^2
    pairs fails with probability <= 1 / (100 c^2), so all succeed with probability >= 0.99 by the
    union bound. Prop G.18 needs t / sqrt(f) < eps = 1 / (3 |A|), i.e. f > 9 |A|^2 t^2 =
    18 |A|^2 ln(100 c^2). Returns the least such integer (the paper: Θ(|A|^2 log c)).
    """
    set_size = check_int("set_size", set_size, 1)
    c = check_int("c", c, 1)
    return math.floor(18 * set_size**2 * math.log(100 * c * c)) + 1


def based_g18_state_values(d: int, f: int, normalizer: bool = False) -> int:
    """Prop G.18 (one LinearAttention + MLP layer, A first, IP kernel with eps = 1 / (3|A|)):
    state O(d f), counted as the d * f values of the KV-state (f x d, recurrent view of Eq. 2);
    ``normalizer=True`` adds the f values of the K-state. The MLP is stateless.

    The feature dimension f comes from :func:`data_dependent_feature_dim` or
    :func:`random_feature_dim` applied to the FIRST set's size: that is the order effect of this
    construction. Multiply by the bits per value for bits (the paper has no precision analysis).
    """
    d = check_int("d", d, 1)
    f = check_int("f", f, 1)
    return d * f + (f if normalizer else 0)


def based_g22_state_values(n_bits: int, k: int, l: int, explicit_log_c: bool = True) -> int:
    """Thm G.22 (= Thm 3.2): data-dependent Based on a JRT prompt, state O(min(|A|, |B|) * n).

    Elements are n-bit vectors (universe c = 2^n, d = n + 1 columns with the separator bit).
    As stated: min(k, l) * n values. With the log c term made explicit (``explicit_log_c``):
    G.21 moves the smaller set first, then G.18 with the data-dependent kernel of dimension
    f = min(k, l) + log2 c = min(k, l) + n and d = n + 1: (n + 1) * f values.
    """
    n_bits = check_int("n_bits", n_bits, 1)
    k = check_int("k", k, 0)
    l = check_int("l", l, 0)
    m = min(k, l)
    if not explicit_log_c:
        return m * n_bits
    return based_g18_state_values(n_bits + 1, max(1, data_dependent_feature_dim(m, 2**n_bits)))


def based_g23_state_values(n_bits: int, k: int, l: int, explicit_log_c: bool = True) -> int:
    """Remark G.23: the same with the random (input-independent) kernel, O(min(|A|, |B|)^2 * n).

    As stated: min(k, l)^2 * n values. Explicit: f = :func:`random_feature_dim` (min(k, l),
    c = 2^n) = Θ(min^2 * n), d = n + 1: (n + 1) * f values.
    """
    n_bits = check_int("n_bits", n_bits, 1)
    m = min(check_int("k", k, 0), check_int("l", l, 0))
    if not explicit_log_c:
        return m * m * n_bits
    return based_g18_state_values(n_bits + 1, random_feature_dim(max(1, m), 2**n_bits))
