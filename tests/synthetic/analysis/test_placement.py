"""Placing the shared token's copies (synthetic.analysis.placement): the move keeps every set and
the answer; a position-weighted counter has exactly no placed order effect by column, a bounded
memory of the first set keeps its effect under both placements."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthetic.analysis import CountingModel, StoreFirstModel, shared_copies
from synthetic.analysis.placement import place_copies, placed_order_effect
from tests.synthetic.analysis.test_matched import VOCAB, _split


@settings(max_examples=12, deadline=None)
@given(st.sampled_from([(3, 7), (7, 3), (1, 4)]), st.integers(1, 3), st.integers(0, 99), st.data())
def test_placing_keeps_the_sets_and_puts_the_copies_there(
    sizes: tuple[int, int], passes: int, seed: int, data: st.DataObject
) -> None:
    copies = shared_copies(_split((sizes,), n=15, seed=seed, passes=passes).segments[0])
    a, b = sizes
    first = np.array(data.draw(st.lists(st.integers(0, a - 1), min_size=15, max_size=15)))
    second = np.array(data.draw(st.lists(st.integers(0, b - 1), min_size=15, max_size=15)))
    placed = place_copies(copies, first, second)
    rows, c = np.arange(15), copies.context_len
    for p in range(passes):
        for lo, hi in ((p * c + 1, p * c + 1 + a), (p * c + a + 2, p * c + a + 2 + b)):
            np.testing.assert_array_equal(np.sort(placed[:, lo:hi], 1), np.sort(copies.inputs[:, lo:hi], 1))
        assert (placed[rows, p * c + 1 + first] == copies.shared).all()
        assert (placed[rows, p * c + a + 2 + second] == copies.shared).all()
    outside = np.where(np.arange(placed.shape[1]) % c == 0, 1, 0)  # start tokens and the answer stay
    assert (placed[:, outside == 1] == copies.inputs[:, outside == 1]).all()
    with pytest.raises(ValueError, match=rf"second_index must be 15 indices in \[0, {b}\)"):
        place_copies(copies, first, second + b)


def test_position_weighted_counting_has_no_placed_order_effect_by_column() -> None:
    """Strong primacy (weights 0.8^t): short-first far better as generated; with the copies at the
    same columns in both orders, example by example, exactly as good."""
    split = _split(((3, 12), (12, 3)), n=400, seed=2)
    (row,) = placed_order_effect(
        CountingModel(VOCAB, weights=(0.8 ** np.arange(40)).tolist()), split
    ).to_dict("records")
    assert row["difference"] > 5 * row["difference_se"]
    assert row["placed_difference"] == 0.0 and row["n"] == 400


def test_bounded_memory_keeps_its_order_effect_wherever_the_copies_are() -> None:
    split = _split(((4, 20), (20, 4)), n=1200, seed=1)
    model = StoreFirstModel.bounded(VOCAB, feature_dim=24, seed=3)
    for matching in ("column", "index"):
        (row,) = placed_order_effect(model, split, matching).to_dict("records")
        assert row["difference"] > 5 * row["difference_se"]
        assert row["placed_difference"] > 4 * row["placed_difference_se"]


def test_bad_arguments() -> None:
    split = _split(((3, 12), (12, 3)), n=10)
    with pytest.raises(ValueError, match="matching='place'; allowed: column, index"):
        placed_order_effect(CountingModel(VOCAB), split, "place")
    with pytest.raises(ValueError, match="no mirror pair"):
        placed_order_effect(CountingModel(VOCAB), split.segments[:1])


@settings(max_examples=6, deadline=None)
@given(st.integers(0, 99), st.sampled_from([1, 2]))
def test_both_matchings_in_one_call_with_known_answers_equal_separate_calls(seed: int, passes: int) -> None:
    """The shared draws, the long-first placed pass run once and the answers read from the copy
    intervention give, row for row, what one call per matching computes from scratch."""
    from synthetic.analysis import copy_intervention

    split = _split(((3, 9), (9, 3), (2, 5), (5, 2)), n=60, seed=seed, passes=passes)
    model = StoreFirstModel.bounded(VOCAB, feature_dim=12, seed=seed)
    separate = [placed_order_effect(model, split, m, seed=seed) for m in ("column", "index")]
    table = copy_intervention(model, split, seed=seed)
    correct = {str(k): g.sort_values("example").correct.to_numpy() for k, g in table.groupby("slice")}
    joint = placed_order_effect(model, split, ("column", "index"), seed=seed, correct=correct)
    for m, alone in zip(("column", "index"), separate, strict=True):
        got = joint[joint.matching == m].reset_index(drop=True)
        assert got.equals(alone), (got, alone)


def test_known_answers_must_cover_each_slice() -> None:
    split = _split(((3, 12), (12, 3)), n=10)
    with pytest.raises(ValueError, match=r"correct\['A=12,B=3'\] must hold at least 10 answers"):
        placed_order_effect(CountingModel(VOCAB), split, correct={"A=3,B=12": np.ones(10, bool)})
    with pytest.raises(ValueError, match="one or several"):
        placed_order_effect(CountingModel(VOCAB), split, ())


def test_the_record_refuses_an_intervention_table_that_is_not_one_segment_a_slice() -> None:
    import pandas as pd

    from synthetic.analysis import copy_intervention
    from synthetic.analysis.record import _placed_rows

    split = _split(((3, 9), (9, 3)), n=20)
    model = CountingModel(VOCAB)
    table = copy_intervention(model, split)
    assert _placed_rows(model, split.segments, table, 0)  # one segment a slice: fine
    doubled = pd.concat([table, table], ignore_index=True)  # two segments under one name
    with pytest.raises(ValueError, match=r"slice 'A=3,B=9' of the intervention table is not one segment"):
        _placed_rows(model, split.segments, doubled, 0)
