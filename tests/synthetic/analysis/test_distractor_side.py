"""The distractor-side intervention (synthetic.analysis.distractor_side): swapping the sets keeps
every token and the label; a membership check answers both sides, counting ties on both, a vote
weighted by 1 / |set| follows the distractor's set (the order effect flips sign), primacy fails
the swapped side."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from synthetic.analysis import CountingModel, StoreFirstModel, distractor_side, shared_copies, swap_sets
from synthetic.analysis.distractor_side import distractor_tokens
from synthetic.tasks.tokens import NUM_SPECIAL, SEP
from tests.synthetic.analysis.test_intervention import VOCAB, _split

SIZES = ((3, 7), (7, 3))


class SetVote(nn.Module):
    """Each set token's logit at the end: the sum over its copies of a weight of the set the copy
    is in, ``first(|A|)`` for the set read first and ``second(|B|)`` for the other (one pass)."""

    def __init__(self, first: str, second: str) -> None:
        super().__init__()
        self.rules = {"inverse": lambda size: 1.0 / size, "one": lambda size: 1.0, "two": lambda size: 2.0}
        self.first, self.second = self.rules[first], self.rules[second]

    def forward(self, input_ids: torch.Tensor, prefix_len: torch.Tensor | None = None) -> torch.Tensor:
        ids = input_ids.numpy()
        out = np.zeros((*ids.shape, VOCAB))
        for r, row in enumerate(ids):
            sep = int(np.flatnonzero(row == SEP)[0])
            a, b = sep - 1, len(row) - sep - 2
            for t in row[1:sep]:
                out[r, -1, t] += self.first(a)
            for t in row[sep + 1 : sep + 1 + b]:
                out[r, -1, t] += self.second(b)
        out[..., :NUM_SPECIAL] = -1e9
        return torch.tensor(out)


def _table(model: nn.Module, passes: int = 1) -> pd.DataFrame:
    return distractor_side(model, _split("sd_distractor", passes=passes, sizes=SIZES, n=80)).set_index(
        ["side", "order"]
    )


@settings(max_examples=10, deadline=None)
@given(st.sampled_from(SIZES), st.integers(1, 3), st.integers(0, 50))
def test_swapping_keeps_tokens_and_label_and_swaps_twice_back(
    sizes: tuple[int, int], passes: int, seed: int
) -> None:
    seg = _split("sd_distractor", passes=passes, sizes=(sizes,), n=20, seed=seed).segments[0]
    copies = shared_copies(seg)
    swapped = swap_sets(copies)
    a, b = sizes
    np.testing.assert_array_equal(np.sort(swapped, axis=1), np.sort(copies.inputs, axis=1))
    np.testing.assert_array_equal(swapped[:, 1 : 1 + b], copies.inputs[:, a + 2 : a + 2 + b])
    assert (swapped[:, b + 1] == SEP).all() and (swapped[:, -1] == copies.inputs[:, -1]).all()
    back = np.array(swapped)
    for p in range(passes):  # swap again by hand with the sizes exchanged
        c = copies.context_len
        first, second = swapped[:, p * c + 1 : p * c + 1 + b], swapped[:, p * c + b + 2 : p * c + b + 2 + a]
        back[:, p * c + 1 : p * c + 1 + a], back[:, p * c + a + 2 : p * c + a + 2 + b] = second, first
        back[:, p * c + a + 1] = SEP
    np.testing.assert_array_equal(back, copies.inputs)
    distractor = distractor_tokens(copies)
    assert ((copies.inputs[:, a + 2 : a + 2 + b] == distractor[:, None]).sum(1) == 2).all()
    assert not (copies.inputs[:, 1 : 1 + a] == distractor[:, None]).any()


def test_a_plain_sd_segment_has_no_distractor() -> None:
    copies = shared_copies(_split("sd", sizes=((3, 7),), n=10).segments[0])
    with pytest.raises(ValueError, match="repeats 0 distinct tokens; a distractor segment"):
        distractor_tokens(copies)


@pytest.mark.parametrize("passes", [1, 2])
def test_a_membership_check_answers_both_sides(passes: int) -> None:
    table = _table(StoreFirstModel(VOCAB, max_first=7), passes)
    assert (table.accuracy == 1.0).all() and (table.distractor_rate == 0.0).all()
    assert (table.accuracy_se == 0.0).all() and (table.n == 80).all()


def test_counting_ties_on_both_sides() -> None:
    table = _table(CountingModel(VOCAB))
    np.testing.assert_allclose(table.accuracy + table.distractor_rate, 1.0)


def test_a_vote_by_inverse_set_size_follows_the_distractor() -> None:
    """1/|set|: right exactly where the distractor's set is the longer one, so short-first on the
    generated side and long-first on the swapped side (the order effect flips)."""
    table = _table(SetVote("inverse", "inverse"))
    expected = {
        ("second", "short-first"): 1.0,
        ("second", "long-first"): 0.0,
        ("first", "short-first"): 0.0,
        ("first", "long-first"): 1.0,
    }
    for key, accuracy in expected.items():
        assert table.loc[key, "accuracy"] == accuracy
        assert table.loc[key, "distractor_rate"] == 1.0 - accuracy


def test_primacy_fails_the_swapped_side_in_both_orders() -> None:
    table = _table(SetVote("two", "one"))
    assert (table.loc["second"].accuracy == 1.0).all()
    assert (table.loc["first"].accuracy == 0.0).all() and (table.loc["first"].distractor_rate == 1.0).all()
