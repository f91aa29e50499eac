"""The order effect at matched copy positions tells position weighting from memory: a counter
with decaying position weights has an order effect that vanishes exactly at matched positions; a
store-first model with a bounded memory keeps its order effect there."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthetic.analysis import CountingModel, StoreFirstModel, copy_intervention
from synthetic.analysis.matched import matched_order_effect
from synthetic.tasks import DataConfig, build_split
from synthetic.tasks.data import SplitData

VOCAB = 132


def _split(sizes: tuple[tuple[int, int], ...], n: int, seed: int = 0, passes: int = 1) -> SplitData:
    segments = [{"size_a": a, "size_b": b, "num_examples": n} for a, b in sizes]
    cfg = DataConfig(
        task="sd", vocab_size=VOCAB, passes=passes, seed=seed, train_segments=segments, test_segments=segments
    )
    return build_split(cfg, "test")


def _table(
    correct: list[bool], size_a: int, size_b: int, pos_first: list[int], pos_second: list[int]
) -> pd.DataFrame:
    order = "short-first" if size_a < size_b else "long-first"
    return pd.DataFrame(
        {"slice": f"A={size_a},B={size_b}", "size_a": size_a, "size_b": size_b, "order": order, "passes": 1,
         "pos_first": pos_first, "pos_second": pos_second, "correct": correct}
    )  # fmt: skip


def test_matched_cells_and_weights_by_hand() -> None:
    """(2, 4) short-first: copies at columns (1 + i, 4 + j); (4, 2) long-first: (1 + i, 6 + j).
    Shared cells here: (1, 6) with short 1/1 vs long 0/1 (weight 1/2) and (2, 7) with short 1/1
    vs long 2/2 (weight 2/3); (1, 7), (1, 4) and (4, 6) occur in one order only."""
    short = _table([True, True, False, True], 2, 4, [0, 1, 0, 0], [2, 3, 3, 0])
    long = _table([False, True, True, True], 4, 2, [0, 1, 1, 3], [0, 1, 1, 0])
    (row,) = matched_order_effect(pd.concat([short, long])).to_dict("records")
    assert (row["short"], row["long"], row["passes"], row["cells"]) == (2, 4, 1, 2)
    assert (row["n_short"], row["n_long"], row["matched_n_short"], row["matched_n_long"]) == (4, 4, 2, 3)
    assert row["difference"] == 0.0
    assert row["difference_se"] == pytest.approx(np.hypot(*[np.sqrt(0.75 * 0.25 / 4)] * 2))
    w = np.array([1 / 2, 2 / 3])
    assert row["matched_difference"] == pytest.approx((w * [1.0, 0.0]).sum() / w.sum())
    var = (
        w**2 * (np.array([0.0, 0.0]) + (2 / 3) * (1 / 3) / np.array([1.0, 2.0]))
    ).sum()  # q_s = 1, q_l = 2/3
    assert row["matched_difference_se"] == pytest.approx(np.sqrt(var) / w.sum())


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 50), passes=st.integers(1, 2))
def test_position_weighted_counting_has_no_matched_order_effect(seed: int, passes: int) -> None:
    """Strong primacy (weights 0.8^t): short-first is far better over all examples, and exactly as
    good within every shared cell (its answer depends on the copies' columns only)."""
    split = _split(((3, 12), (12, 3)), n=400, seed=seed, passes=passes)
    model = CountingModel(VOCAB, weights=(0.8 ** np.arange(80)).tolist())
    (row,) = matched_order_effect(copy_intervention(model, split)).to_dict("records")
    assert row["difference"] > 5 * row["difference_se"]
    assert row["cells"] > 0 and row["matched_difference"] == 0.0


def test_bounded_memory_keeps_its_order_effect_at_matched_positions() -> None:
    """A store-first model with 24 random-sign features: the first set of 20 collides with the
    second set's tokens far more often than the first set of 4, whatever the copies' columns or
    indices: the gap survives both matchings."""
    split = _split(((4, 20), (20, 4)), n=1200, seed=1)
    model = StoreFirstModel.bounded(VOCAB, feature_dim=24, seed=3)
    table = copy_intervention(model, split)
    for matching in ("column", "index"):
        (row,) = matched_order_effect(table, matching).to_dict("records")
        assert row["difference"] > 5 * row["difference_se"]
        assert row["matched_difference"] > 4 * row["matched_difference_se"]
        assert abs(row["matched_difference"] - row["difference"]) < 4 * np.hypot(
            row["matched_difference_se"], row["difference_se"]
        )


def test_matched_order_effect_refuses_what_it_cannot_use() -> None:
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['correct'\]"):
        matched_order_effect(_table([True], 2, 4, [0], [0]).drop(columns="correct"))
    with pytest.raises(ValueError, match="no mirror pair"):
        matched_order_effect(_table([True], 2, 4, [0], [0]))


def test_index_matching_cancels_set_relative_position_effects() -> None:
    """Correctness a function of the copies' indices in their sets: zero at matched indices (not
    at matched columns), whatever the set sizes."""
    rng = np.random.default_rng(0)
    tables = []
    for a, b in ((3, 9), (9, 3)):
        pos_first, pos_second = rng.integers(0, a, 500), rng.integers(0, b, 500)
        correct = ((pos_first + 2 * pos_second) % 3 == 0).tolist()
        tables.append(_table(correct, a, b, pos_first.tolist(), pos_second.tolist()))
    (row,) = matched_order_effect(pd.concat(tables), matching="index").to_dict("records")
    assert row["cells"] == 9 and row["matched_difference"] == 0.0
    with pytest.raises(ValueError, match="matching='cells'; allowed: column, index"):
        matched_order_effect(pd.concat(tables), matching="cells")
