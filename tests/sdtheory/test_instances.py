"""SD instances and stream encodings."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdtheory import strategies as sds
from sdtheory.instances import (
    GARInstance,
    Order,
    SDInstance,
    StreamLayout,
    Variant,
    decode_stream,
    encode_stream,
    gar_code_bits,
    gar_to_sd_calls,
    sd_to_gar,
    solve_gar_via_sd,
    solve_sd_via_gar,
)


@st.composite
def instances(draw: st.DrawFn, max_n: int = 40) -> SDInstance:
    n = draw(st.integers(1, max_n))
    a = draw(st.lists(st.integers(0, n - 1), unique=True, max_size=n))
    b = draw(st.lists(st.integers(0, n - 1), unique=True, max_size=n))
    return SDInstance(n, tuple(a), tuple(b))


@given(instances(), st.sampled_from(list(Order)), st.integers(1, 4))
def test_encode_decode_roundtrip(inst: SDInstance, order: Order, passes: int) -> None:
    tokens = encode_stream(inst, order, passes)
    layout = inst.layout(order, passes)
    assert tokens.shape == (layout.length,)
    assert tokens.shape[0] == passes * (inst.k + inst.l + 1)
    first, second = decode_stream(tokens, layout)
    assert (first, second) == inst.first_second(order)
    # exactly one separator per pass, at the declared positions
    assert np.flatnonzero(tokens == inst.n).tolist() == layout.separator_positions().tolist()


@given(instances(), st.integers(1, 4))
def test_jrp_copies_identical_and_orders_swap(inst: SDInstance, passes: int) -> None:
    a_first = encode_stream(inst, Order.A_FIRST, passes)
    b_first = encode_stream(inst, "B-first", passes)
    n_one = inst.k + inst.l + 1
    for p in range(passes):
        np.testing.assert_array_equal(a_first[p * n_one : (p + 1) * n_one], a_first[:n_one])
    assert list(a_first[: inst.k]) == list(inst.a)
    assert list(b_first[: inst.l]) == list(inst.b)
    assert sorted(a_first.tolist()) == sorted(b_first.tolist())


def test_disjoint_exhaustive_small() -> None:
    n = 5
    for ra in range(n + 1):
        for a in itertools.combinations(range(n), ra):
            for rb in range(n + 1):
                for b in itertools.combinations(range(n), rb):
                    inst = SDInstance(n, a, b)
                    assert inst.disjoint == (not set(a) & set(b))


@given(st.integers(1, 30), st.data())
def test_random_respects_sizes_and_answer(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, n))
    l = data.draw(st.integers(0, n - k))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    inst = SDInstance.random(n, k, l, rng, intersecting=False)
    assert (inst.k, inst.l) == (k, l) and inst.disjoint
    if k and l:
        inst = SDInstance.random(n, k, l, rng, intersecting=True)
        assert (inst.k, inst.l) == (k, l) and not inst.disjoint


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(n=0, a=(), b=()), "n=0 must be >= 1"),
        (dict(n=4, a=(1, 1), b=()), "duplicate"),
        (dict(n=4, a=(4,), b=()), "outside the universe"),
        (dict(n=4, a=(0,), b=(-1,)), "outside the universe"),
    ],
)
def test_bad_instances_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SDInstance(**kwargs)


def test_declared_sizes_and_bad_layouts() -> None:
    with pytest.raises(ValueError, match="k=3 was declared"):
        SDInstance.make(5, (0, 1), (2,), k=3)
    with pytest.raises(ValueError, match="passes=0 must be >= 1"):
        StreamLayout(5, 1, 1, passes=0)
    with pytest.raises(ValueError, match="order='C-first'"):
        Order.parse("C-first")


def test_decode_rejects_wrong_separator() -> None:
    inst = SDInstance(6, (0, 1), (2, 3, 4))
    tokens = encode_stream(inst, Order.A_FIRST, 2)
    layout = inst.layout(Order.A_FIRST, 2)
    moved = tokens.copy()
    moved[[2, 3]] = moved[[3, 2]]  # separator one step late
    with pytest.raises(ValueError, match="separator"):
        decode_stream(moved, layout)
    changed = tokens.copy()
    changed[-1] = 5
    with pytest.raises(ValueError, match="pass 1 differs"):
        decode_stream(changed, layout)


# ---- variants, the shared-element promise, GAR and the reductions (Props G.25 / G.26) ----


def test_variant_parse() -> None:
    assert Variant.parse("shared-element") is Variant.SHARED
    assert Variant.parse("DECISION") is Variant.DECISION
    with pytest.raises(ValueError, match="variant='bogus'"):
        Variant.parse("bogus")


@given(sds.shared_instances(max_n=40))
def test_shared_answer_is_the_unique_common_element(inst: SDInstance) -> None:
    assert inst.satisfies_promise(Variant.SHARED)
    z = inst.answer(Variant.SHARED)
    assert z in inst.set_a and z in inst.set_b and len(inst.intersection) == 1
    assert inst.answer(Variant.DECISION) is False


def test_shared_answer_outside_promise_raises() -> None:
    with pytest.raises(ValueError, match=r"\|A ∩ B\| = 2"):
        SDInstance(5, (0, 1), (0, 1)).answer(Variant.SHARED)


@given(st.integers(1, 30), st.data())
def test_random_shared_has_exactly_one_common_element(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(1, n))
    l = data.draw(st.integers(1, n - k + 1))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    inst = SDInstance.random_shared(n, k, l, rng)
    assert (inst.k, inst.l) == (k, l) and len(inst.intersection) == 1


def test_random_shared_rejects_impossible_sizes() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="k \\+ l - 1 <= n"):
        SDInstance.random_shared(4, 3, 3, rng)


@given(sds.gar_instances())
def test_gar_answers_match_dictionary_semantics(gar: GARInstance) -> None:
    table = dict(zip(gar.keys, gar.values, strict=True))
    assert gar.answers() == tuple(table.get(q) for q in gar.queries)
    assert gar.tokens().shape == (2 * len(gar.keys) + len(gar.queries),)


@given(sds.sd_instances(max_n=30))
def test_sd_to_gar_decides_sd(inst: SDInstance) -> None:
    assert solve_sd_via_gar(inst, lambda g: g.answers()) == inst.disjoint


@given(sds.shared_instances(max_n=30))
def test_sd_to_gar_finds_the_shared_element(inst: SDInstance) -> None:
    gar = sd_to_gar(inst)
    assert gar.keys == inst.a and gar.values == inst.a and gar.queries == inst.b
    assert solve_sd_via_gar(inst, lambda g: g.answers(), Variant.SHARED) == inst.answer(Variant.SHARED)


@given(sds.gar_instances())
def test_gar_via_sd_uses_ceil_log2_c_plus_1_calls(gar: GARInstance) -> None:
    calls: list[SDInstance] = []

    def routine(inst: SDInstance) -> frozenset[int]:
        calls.append(inst)
        return inst.intersection

    assert solve_gar_via_sd(gar, routine) == gar.answers()
    assert len(calls) == gar_code_bits(gar.c) == math.ceil(math.log2(gar.c + 1))
    assert calls == gar_to_sd_calls(gar)


def test_gar_via_sd_rejects_a_routine_that_invents_elements() -> None:
    gar = GARInstance(4, (0, 1), (2, 3), (0, 2))
    with pytest.raises(ValueError, match="not inside A ∩ B"):
        solve_gar_via_sd(gar, lambda inst: {3})


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(c=0, keys=(), values=(), queries=()), ValueError, "c=0 must be >= 1"),
        (dict(c=4, keys=(1, 1), values=(0, 0), queries=()), ValueError, "duplicate"),
        (dict(c=4, keys=(1,), values=(0, 1), queries=()), ValueError, "1 keys but 2 values"),
        (dict(c=4, keys=(1,), values=(4,), queries=()), ValueError, "outside the vocabulary"),
        (dict(c=4, keys=(1,), values=(0,), queries=(9,)), ValueError, "outside the vocabulary"),
        (dict(c=4, keys=(1,), values=(0,), queries=("a",)), TypeError, "must be an integer"),
    ],
)
def test_bad_gar_raises(kwargs: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        GARInstance(**kwargs)
