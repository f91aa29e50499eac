"""The lower-bound witness: breaks every under-budget algorithm, never a correct one."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdtheory import one_way
from sdtheory.instances import Order, StreamLayout, Variant, encode_stream
from sdtheory.streaming import (
    BloomFilter,
    FingerprintSketch,
    JRTTwoPass,
    MultiPass,
    StoreFirst,
    StreamingAlgorithm,
    TruncatedStoreFirst,
    exhaustive_correct,
    reached_states,
    run_stream,
)
from sdtheory.witness import Witness, find_failure


def _check_witness(w: Witness, alg: StreamingAlgorithm) -> None:
    """Rerun the witness inputs: one wrong answer at least, and for collisions the same state."""
    assert w.wrong, w.describe()
    runs = []
    for inst, correct, out in zip(w.instances, w.correct, w.outputs, strict=True):
        run = run_stream(alg, encode_stream(inst, w.order, w.passes), inst.layout(w.order, w.passes))
        assert run.answer == out and inst.answer(alg.variant) == correct
        runs.append(run)
    if w.kind in ("collision", "transcript-collision"):
        assert len(runs) == 2 and w.cut is not None
        assert runs[0].states[w.cut] == runs[1].states[w.cut] == w.state
        assert w.correct[0] != w.correct[1] and w.outputs[0] == w.outputs[1]
        first0, second0 = w.instances[0].first_second(w.order)
        first1, second1 = w.instances[1].first_second(w.order)
        assert set(second0) == set(second1)  # the same second set: Bob cannot tell them apart
        assert set(first0) != set(first1)


@pytest.mark.parametrize("n", range(1, 7))
def test_never_breaks_correct_algorithms(n: int) -> None:
    for k, l, order, variant in itertools.product(range(n + 1), range(n + 1), Order, Variant):
        for p in (1, 2, 3):
            algs: list[StreamingAlgorithm] = [StoreFirst(variant), MultiPass(variant)]
            if p >= 2:
                algs.append(JRTTwoPass(variant))
            for alg in algs:
                assert find_failure(alg, n, k, l, order, p) is None, (alg, n, k, l, order, p)


@st.composite
def under_budget(draw: st.DrawFn, variant: Variant) -> StreamingAlgorithm:
    kind = draw(st.sampled_from(["truncated", "bloom", "fingerprint"]))
    if kind == "truncated":
        return TruncatedStoreFirst(draw(st.integers(0, 4)), variant)
    if kind == "bloom":
        return BloomFilter(
            draw(st.integers(1, 8)), draw(st.integers(1, 3)), draw(st.integers(0, 99)), variant
        )
    return FingerprintSketch(draw(st.integers(1, 3)), draw(st.integers(0, 99)), variant)


@settings(max_examples=60)
@given(st.data())
def test_breaks_every_algorithm_with_too_few_states(data: st.DataObject) -> None:
    n = data.draw(st.integers(2, 7))
    k = data.draw(st.integers(1, n))
    l = data.draw(st.integers(1, n))
    order = data.draw(st.sampled_from(list(Order)))
    variant = data.draw(st.sampled_from(list(Variant)))
    alg = data.draw(under_budget(variant))
    first, second = (k, l) if order is Order.A_FIRST else (l, k)
    need = one_way.one_way_states(n, first, second, variant, node_budget=500)
    reached = reached_states(alg, n, k, l, order, 1)[first + 1]
    w = find_failure(alg, n, k, l, order)
    if reached < need.lower or 2 ** alg.stated_bits(StreamLayout(n, first, second)) < need.lower:
        assert w is not None and w.kind == "collision", (alg, n, k, l, order, reached, need)
    # in every case: a witness iff the algorithm is wrong on some valid input
    _, wrong = exhaustive_correct(alg, n, k, l, order, 1)
    assert (w is None) == (wrong == 0)
    if w is not None:
        _check_witness(w, alg)


def test_breaks_bloom_filters_with_fewer_bits_than_the_exact_bound() -> None:
    n, k, l = 8, 4, 3
    need = one_way.one_way_states(n, k, l).bits  # ceil(log2 C(8, 4)) = 7
    for bits, hashes, seed in itertools.product(range(1, need - 1), (1, 2, 3), range(5)):
        alg = BloomFilter(bits, hashes, seed)
        assert alg.stated_bits(StreamLayout(n, k, l)) < need
        w = find_failure(alg, n, k, l, Order.A_FIRST)
        assert w is not None and w.kind == "collision"
        _check_witness(w, alg)


def test_truncated_store_first_is_broken_in_the_expensive_order_only() -> None:
    # |A| = 4, |B| = 1: keeping 1 element suffices B-first (the first set then has 1 element)
    alg = TruncatedStoreFirst(1)
    w = find_failure(alg, 7, 4, 1, Order.A_FIRST)
    assert w is not None and w.kind == "collision"
    _check_witness(w, alg)
    assert find_failure(alg, 7, 4, 1, Order.B_FIRST) is None


@pytest.mark.parametrize("passes", [2, 3])
def test_multi_pass_witness(passes: int) -> None:
    for alg in (TruncatedStoreFirst(1), BloomFilter(3, 1, 0), FingerprintSketch(1, 1)):
        for order in Order:
            w = find_failure(alg, 6, 3, 2, order, passes)
            assert w is not None, alg
            _check_witness(w, alg)
            assert w.kind in ("transcript-collision", "wrong-answer")


def test_witness_describe_mentions_the_inputs() -> None:
    w = find_failure(BloomFilter(3, 1, 0), 6, 3, 2, Order.A_FIRST)
    assert w is not None
    text = w.describe()
    assert "collision witness" in text and "A=" in text and "shared state" in text


def test_find_failure_handles_empty_layouts() -> None:
    assert find_failure(StoreFirst("shared-element"), 4, 0, 2, Order.A_FIRST) is None
    assert find_failure(StoreFirst(), 3, 3, 3, Order.B_FIRST) is None
    assert np.all(reached_states(StoreFirst("shared-element"), 3, 3, 3) == 1)


def test_too_many_inputs_are_refused_before_any_work() -> None:
    """n = 24, |A| = |B| = 8 used to die in numpy after asking for terabytes."""
    with pytest.raises(ValueError, match="MAX_BATCH_TOKENS"):
        find_failure(StoreFirst(), 24, 8, 8)
