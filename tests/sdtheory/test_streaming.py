"""Streaming algorithms: correctness, exact state sizes, serialisation, bad input."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdtheory import bounds, one_way
from sdtheory import strategies as sds
from sdtheory.instances import (
    GARInstance,
    Order,
    SDInstance,
    StreamLayout,
    Variant,
    encode_stream,
    solve_gar_via_sd,
)
from sdtheory.streaming import (
    MAX_BATCH_TOKENS,
    BloomFilter,
    FingerprintSketch,
    JRTIntersection,
    JRTTwoPass,
    MultiPass,
    StoreFirst,
    StreamingAlgorithm,
    TruncatedStoreFirst,
    check_batch_size,
    exhaustive_correct,
    instance_batch,
    make_algorithm,
    measure_memory,
    reached_states,
    run_batch,
    run_stream,
)


def correct_algorithms(variant: Variant, passes: int) -> list[StreamingAlgorithm]:
    algs: list[StreamingAlgorithm] = [
        StoreFirst(variant),
        StoreFirst(variant, "bitmap"),
        StoreFirst(variant, "list"),
        MultiPass(variant),
    ]
    if passes >= 2:
        algs.append(JRTTwoPass(variant))
    return algs


@pytest.mark.parametrize("variant", list(Variant))
@pytest.mark.parametrize("n", range(1, 9))
def test_every_correct_algorithm_answers_every_instance(n: int, variant: Variant) -> None:
    """Exhaustive: every k, l, both orders, p = 1..3 (each set in increasing order)."""
    checked = 0
    for k, l in itertools.product(range(n + 1), repeat=2):
        for order, p in itertools.product(Order, (1, 2, 3)):
            for alg in correct_algorithms(variant, p):
                if n == 8 and isinstance(alg, StoreFirst) and alg.encoding != "auto":
                    continue  # the forced encodings are covered up to n = 7 (time budget)
                count, wrong = exhaustive_correct(alg, n, k, l, order, p)
                assert wrong == 0, (alg, n, k, l, order, p)
                checked += count
    assert checked > 0


@settings(max_examples=40)
@given(sds.streams(max_n=64, max_passes=4), st.sampled_from(list(Variant)))
def test_correct_on_random_streams_any_order(draw: tuple[SDInstance, Order, int], variant: Variant) -> None:
    inst, order, p = draw
    if variant is Variant.SHARED and not inst.satisfies_promise(variant):
        inst = SDInstance.random_shared(
            max(inst.n, 2), 1, min(2, max(inst.n, 2)), np.random.default_rng(inst.n)
        )
    tokens = encode_stream(inst, order, p)
    layout = inst.layout(order, p)
    for alg in correct_algorithms(variant, p):
        run = run_stream(alg, tokens, layout)
        assert run.answer == inst.answer(variant), (alg, inst, order, p)


@settings(max_examples=40)
@given(sds.layouts(max_n=200, max_passes=5), st.sampled_from(list(Variant)))
def test_state_bits_equal_the_stated_formula_exactly(layout: StreamLayout, variant: Variant) -> None:
    algs: list[StreamingAlgorithm] = [
        *correct_algorithms(variant, layout.passes),
        TruncatedStoreFirst(2, variant),
        BloomFilter(7, 3, 1, variant),
        FingerprintSketch(3, 2, variant),
    ]
    if layout.passes >= 2:
        algs.append(JRTIntersection())
    for alg in algs:
        alg.reset(layout)
        assert len(alg.serialize_state()) == alg.state_bits() == alg.stated_bits(layout), alg
    n, f, s, p = layout.n, layout.first_size, layout.second_size, layout.passes
    assert StoreFirst(variant).stated_bits(layout) == bounds.store_first_bits(n, f)
    assert MultiPass(variant).stated_bits(layout) == bounds.multi_pass_bits(n, f, s, p)
    if p >= 2:
        assert JRTTwoPass(variant).stated_bits(layout) == bounds.jrt_two_pass_bits(n, f, s)
    mp = MultiPass(variant)
    mp.reset(layout)
    assert mp.plan == bounds.multi_pass_chunk(f, s, p)


@settings(max_examples=30)
@given(sds.streams(max_n=40, max_passes=3))
def test_state_size_is_constant_along_the_stream_and_within_bounds(
    draw: tuple[SDInstance, Order, int],
) -> None:
    inst, order, p = draw
    layout = inst.layout(order, p)
    first, second = inst.first_second(order)
    n, f, s = inst.n, len(first), len(second)
    for alg in correct_algorithms(Variant.DECISION, p):
        run = run_stream(alg, encode_stream(inst, order, p), layout)
        assert {len(x) for x in run.states} == {run.state_bits}
        assert run.state_bits <= alg.stated_bits(layout)
        if p == 1:
            assert run.state_bits >= bounds.one_pass_exact_bits(n, f, s)
        assert run.state_bits >= bounds.jrp_lower_bound_rank_bits(n, inst.k, inst.l, p)


@given(st.integers(2, 300), st.integers(0, 300), st.integers(0, 300), st.integers(0, 300))
def test_one_pass_bits_follow_the_first_set_jrt_the_smaller(n: int, k: int, l: int, other: int) -> None:
    k, l, other = k % (n + 1), l % (n + 1), other % (n + 1)
    a_first, b_first = StreamLayout(n, k, l), StreamLayout(n, l, k)
    sf = StoreFirst()
    # store-first depends on the first set only: changing the second set changes nothing
    assert sf.stated_bits(a_first) == sf.stated_bits(StreamLayout(n, k, other))
    assert sf.stated_bits(a_first) == bounds.set_encoding_bits(n, k) + 1
    # JRT: the same in both orders, and it is the cost of min(k, l)
    jrt = JRTTwoPass()
    two_a, two_b = StreamLayout(n, k, l, 2), StreamLayout(n, l, k, 2)
    assert jrt.stated_bits(two_a) == jrt.stated_bits(two_b) == bounds.set_encoding_bits(n, min(k, l)) + 1
    assert jrt.stated_bits(two_a) <= min(sf.stated_bits(a_first), sf.stated_bits(b_first))
    # and the one-pass exact bound is order dependent in the same way
    assert bounds.one_pass_exact_bits(n, k, l) == bounds.one_pass_exact_bits(n, k, other) or not (
        k and l and other and k + l <= n and k + other <= n
    )


@settings(max_examples=25)
@given(sds.streams(max_n=30, max_passes=3), st.data())
def test_restart_from_serialised_state(draw: tuple[SDInstance, Order, int], data: st.DataObject) -> None:
    """The serialised register is the whole memory: restart anywhere, same answer."""
    inst, order, p = draw
    tokens = encode_stream(inst, order, p)
    layout = inst.layout(order, p)
    for alg in correct_algorithms(Variant.DECISION, p):
        run = run_stream(alg, tokens, layout)
        t = data.draw(st.integers(0, layout.length))
        fresh = type(alg)(alg.variant, **({"encoding": alg.encoding} if isinstance(alg, StoreFirst) else {}))
        fresh.reset(layout)
        fresh.load_state(run.states[t], t)
        for tok in tokens[t:].tolist():
            fresh.feed(tok)
        assert fresh.answer() == run.answer == inst.disjoint


@pytest.mark.parametrize("n", range(2, 8))
def test_reached_states_at_the_separator_meet_the_exact_bound(n: int) -> None:
    for k, l, variant in itertools.product(range(n + 1), range(n + 1), Variant):
        need = one_way.one_way_states(n, k, l, variant, node_budget=500)
        for order_alg in (StoreFirst(variant), MultiPass(variant)):
            counts = reached_states(order_alg, n, k, l, Order.A_FIRST, 1)
            assert counts[k + 1] >= need.lower, (order_alg, n, k, l, variant)
            assert counts.max() <= 2 ** order_alg.stated_bits(StreamLayout(n, k, l))


@pytest.mark.parametrize("n", range(1, 7))
def test_jrt_intersection_returns_the_intersection(n: int) -> None:
    for k, l, order in itertools.product(range(n + 1), range(n + 1), Order):
        from sdtheory.streaming import instance_batch

        batch = instance_batch(n, k, l, order, 2)
        out, _ = run_batch(JRTIntersection(), batch.streams, batch.layout)
        assert out is not None
        expected = [
            frozenset(np.flatnonzero((int(a) & int(b)) >> np.arange(n) & 1).tolist())
            for a, b in zip(batch.a, batch.b, strict=True)
        ]
        assert list(out) == expected


@settings(max_examples=30)
@given(sds.gar_instances(max_c=40))
def test_gar_via_streaming_sd(gar: GARInstance) -> None:
    """Prop G.26 with the JRT intersection algorithm as the SD routine, on JRT streams."""

    def routine(inst: SDInstance) -> frozenset[int]:
        answer = run_stream(
            JRTIntersection(), encode_stream(inst, Order.B_FIRST, 2), inst.layout(Order.B_FIRST, 2)
        ).answer
        assert isinstance(answer, frozenset)
        return answer

    assert solve_gar_via_sd(gar, routine) == gar.answers()


def test_under_budget_algorithms_are_wrong_somewhere() -> None:
    for alg in (TruncatedStoreFirst(1), BloomFilter(3, 1, 0), FingerprintSketch(1, 0)):
        _, wrong = exhaustive_correct(alg, 6, 3, 2, Order.A_FIRST, 1)
        assert wrong > 0, alg


# ---- bad input ----


def test_bad_streams_raise() -> None:
    layout = StreamLayout(5, 2, 1)
    alg = StoreFirst()
    with pytest.raises(RuntimeError, match="reset"):
        alg.feed(0)
    alg.reset(layout)
    with pytest.raises(ValueError, match="separator 5 at position 0"):
        alg.feed(5)
    with pytest.raises(ValueError, match="outside \\[0, 5\\]"):
        alg.feed(6)
    with pytest.raises(TypeError, match="integers"):
        alg.feed(1.5)  # type: ignore[arg-type]
    alg.feed(0)
    alg.feed(1)
    with pytest.raises(ValueError, match="must hold the separator 5"):
        alg.feed(2)
    alg.feed(5)
    with pytest.raises(ValueError, match="answer\\(\\) after 3 of 4 tokens"):
        alg.answer()
    alg.feed(3)
    assert alg.answer() is True
    with pytest.raises(ValueError, match="complete"):
        alg.feed(4)
    with pytest.raises(ValueError, match="passes >= 2"):
        JRTTwoPass().reset(layout)
    with pytest.raises(ValueError, match="batch=0"):
        StoreFirst().reset(layout, batch=0)
    with pytest.raises(ValueError, match="6 characters"):
        alg.reset(layout)
        alg.load_state("01", 0)


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: StoreFirst(encoding="zip"), "encoding='zip'"),
        (lambda: StoreFirst(variant="maybe"), "variant='maybe'"),
        (lambda: BloomFilter(0), "filter_bits=0"),
        (lambda: BloomFilter(4, seed=-1), "seed=-1"),
        (lambda: FingerprintSketch(0), "fp_bits=0"),
        (lambda: TruncatedStoreFirst(-1), "max_elements=-1"),
        (lambda: make_algorithm("nope"), "algorithm='nope'"),
        (lambda: make_algorithm("bloom"), r"missing \['filter_bits'\]; its parameters are"),
        (lambda: make_algorithm("bloom", filter_bits=2, foo=1), r"unknown \['foo'\]"),
        (lambda: StreamLayout(4, 1, 1, passes=0), "passes=0"),
        (lambda: StreamLayout(0, 0, 0), "n=0"),
        (lambda: StreamLayout(4, 5, 0), "first_size=5 exceeds"),
    ],
)
def test_bad_parameters_raise(build, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize(("n", "k", "l"), [(6, 3, 2), (7, 2, 4), (5, 1, 1)])
def test_memory_measures(n: int, k: int, l: int) -> None:
    for order in Order:
        m = measure_memory(StoreFirst(), n, k, l, order)
        first = k if order is Order.A_FIRST else l
        assert m.register_bits == bounds.store_first_bits(n, first)
        assert m.reached_bits <= m.register_bits
        assert m.reached_bits >= one_way.one_way_states(n, first, k + l - first).bits
        assert m.reached[0] == 1 and m.reached.shape == (k + l + 2,)


@pytest.mark.parametrize(
    ("n", "k", "l", "passes", "limit"),
    [(24, 8, 8, 1, "MAX_BATCH_TOKENS"), (12, 6, 6, 4, "MAX_BATCH_TOKENS"), (25, 1, 1, 1, "n=25")],
)
def test_instance_batch_refuses_too_large_layouts(n: int, k: int, l: int, passes: int, limit: str) -> None:
    with pytest.raises(ValueError, match=limit):
        instance_batch(n, k, l, passes=passes)
    with pytest.raises(ValueError, match=limit):
        measure_memory(MultiPass(), n, k, l, passes=passes)
    assert check_batch_size(12, 6, 6, 2) == math.comb(12, 6) ** 2 * 2 * 13 <= MAX_BATCH_TOKENS
