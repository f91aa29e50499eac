"""SD instances and stream encodings."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdtheory.instances import Order, SDInstance, StreamLayout, decode_stream, encode_stream


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
