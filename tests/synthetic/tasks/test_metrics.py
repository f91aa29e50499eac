"""Per-slice accuracy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from synthetic.tasks.metrics import SliceAccuracy


def test_slice_accuracy_counts() -> None:
    acc = SliceAccuracy()
    labels = np.array([[-100, 5, -100, 6], [-100, 7, -100, 8]])
    preds = np.array([[0, 5, 0, 6], [0, 7, 0, 9]])
    acc.update("kv=2", preds, labels)
    acc.update("A=1,B=2", torch.tensor([[1, 3]]), torch.tensor([[-100, 3]]))
    assert acc.token_accuracy() == {"kv=2": 0.75, "A=1,B=2": 1.0}
    assert acc.example_accuracy() == {"kv=2": 0.5, "A=1,B=2": 1.0}
    assert acc.counts()["kv=2"] == (3, 4)
    assert acc.overall_token_accuracy() == pytest.approx(4 / 5)
    with pytest.raises(ValueError, match=r"must both be \[B, T\]"):
        acc.update("x", preds[:, :2], labels)
    assert math.isnan(SliceAccuracy().overall_token_accuracy())


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(-1, 3)), min_size=1, max_size=40))
def test_slice_accuracy_matches_direct_count(pairs: list[tuple[int, int]]) -> None:
    preds = np.array([[p for p, _ in pairs]])
    labels = np.array([[-100 if y < 0 else y for _, y in pairs]])
    acc = SliceAccuracy()
    acc.update("s", preds, labels)
    mask = labels != -100
    if mask.any():
        assert acc.token_accuracy()["s"] == pytest.approx((preds == labels)[mask].mean())
    else:
        assert math.isnan(acc.token_accuracy()["s"])
