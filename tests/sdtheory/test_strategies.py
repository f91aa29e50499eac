"""The hypothesis strategies draw valid objects."""

from __future__ import annotations

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
)


@given(sds.sd_instances(max_n=20))
def test_sd_instances_valid(inst: SDInstance) -> None:
    assert 1 <= inst.n <= 20 and inst.k <= inst.n and inst.l <= inst.n


@given(sds.sd_instances(min_n=6, max_n=20, k=3, l=3, disjoint=True))
def test_forced_disjoint(inst: SDInstance) -> None:
    assert inst.disjoint and (inst.k, inst.l) == (3, 3)


@given(sds.sd_instances(max_n=20, disjoint=False))
def test_forced_intersecting(inst: SDInstance) -> None:
    assert not inst.disjoint


@given(sds.shared_instances(max_n=25))
def test_shared_instances_satisfy_the_promise(inst: SDInstance) -> None:
    assert inst.satisfies_promise(Variant.SHARED)


@given(sds.layouts(max_n=30, max_passes=5))
def test_layouts(layout: StreamLayout) -> None:
    assert 1 <= layout.passes <= 5 and layout.length == layout.passes * layout.pass_length


@given(st.sampled_from(list(Variant)), st.data())
def test_streams_roundtrip(variant: Variant, data: st.DataObject) -> None:
    inst, order, p = data.draw(sds.streams(max_n=20, variant=variant))
    assert isinstance(order, Order) and 1 <= p <= 4
    assert inst.satisfies_promise(variant)
    tokens = encode_stream(inst, order, p)
    assert decode_stream(tokens, inst.layout(order, p)) == inst.first_second(order)


@given(sds.gar_instances())
def test_gar_instances(gar: GARInstance) -> None:
    assert len(set(gar.keys)) == len(gar.keys) == len(gar.values)


def test_strategy_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="min_n"):
        sds.universes(5, 2)
    with pytest.raises(ValueError, match="max_passes"):
        sds.passes(0)
    with pytest.raises(ValueError, match="min_size"):
        sds.set_sizes(3, 4)
