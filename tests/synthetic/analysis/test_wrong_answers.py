"""synthetic.analysis.wrong_answers: every possible answer named as a direct reading of the prompt
would name it, and the table's counts by part of B."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthetic.analysis.first_set_read import first_examples
from synthetic.analysis.readout import final_logits
from synthetic.analysis.sd_layout import SharedCopies, segments_of, shared_copies
from synthetic.analysis.wrong_answers import (
    ANSWER_KINDS,
    FALSE_MATCH_COLUMNS,
    answer_kind_table,
    answer_kinds,
    false_match_table,
    with_b_token_replaced,
)
from synthetic.model import ModelConfig, build_model
from synthetic.tasks import DataConfig, SplitData, build_split
from synthetic.tasks.tokens import NUM_SPECIAL

VOCAB = 40


def _split(pairs: list[tuple[int, int]], n: int, seed: int = 0, passes: int = 1) -> SplitData:
    segments = [{"size_a": a, "size_b": b, "num_examples": n} for a, b in pairs]
    cfg = DataConfig(task="sd", vocab_size=VOCAB, passes=passes, seed=seed, train_segments=segments,
                     test_segments=segments)  # fmt: skip
    return build_split(cfg, "test")


def _copies(a: int, b: int, n: int, seed: int = 0) -> SharedCopies:
    return shared_copies(segments_of(_split([(a, b)], n, seed))[0])


def _kind_by_reading(row: np.ndarray, a: int, b: int, shared: int, copy_at: int, answer: int) -> str:
    """The kind of ``answer`` found by reading the prompt ``START A SEP B ... ANSWER`` directly."""
    set_a, set_b = list(row[1 : 1 + a]), list(row[a + 2 : a + 2 + b])
    if answer == shared:
        return "right"
    if answer in set_b:
        return "B before the copy" if set_b.index(answer) < copy_at else "B after the copy"
    return "A alone" if answer in set_a else "neither set"


@settings(max_examples=25, deadline=None)
@given(a=st.integers(1, 8), b=st.integers(1, 8), seed=st.integers(0, 100))
def test_every_answer_is_named_as_the_prompt_reads(a: int, b: int, seed: int) -> None:
    """Exhaustive over the vocabulary for each example: the kind of every token as the answer."""
    copies = _copies(a, b, n=6, seed=seed)
    for token in range(VOCAB):
        answers = np.full(copies.num_examples, token)
        got = answer_kinds(copies, answers)
        for e in range(copies.num_examples):
            want = _kind_by_reading(
                copies.inputs[e], a, b, int(copies.shared[e]), int(copies.second_index[e]), token
            )
            assert ANSWER_KINDS[got[e]] == want


def test_bad_input_is_refused() -> None:
    copies = _copies(2, 5, n=4)
    with pytest.raises(ValueError, match=r"answers has shape \(3,\); expected \(4,\)"):
        answer_kinds(copies, np.zeros(3, dtype=np.int64))
    two_pass = shared_copies(segments_of(_split([(2, 5)], 4, passes=2))[0])
    with pytest.raises(ValueError, match="passes=2"):
        answer_kinds(two_pass, np.zeros(4, dtype=np.int64))


def test_the_table_counts_the_models_answers_by_part_of_b() -> None:
    """Per slice and part: the fractions of the kinds sum to 1 and match the model's argmax
    answers; first_index is the part's smallest copy index; max_examples takes the first ones."""
    pattern: list[str | dict[str, object]] = ["base_conv", {"kind": "based", "feature_dim": 4}]
    model = build_model(ModelConfig(d_model=16, n_layers=2, pattern=pattern), VOCAB, seed=1).double()
    split = _split([(3, 8), (8, 3)], n=40, seed=3)
    table = answer_kind_table(model, split, max_examples=30, parts=4)
    assert list(table.columns) == ["slice", "size_a", "size_b", "part", "first_index", "n", *ANSWER_KINDS]
    assert np.allclose(table[list(ANSWER_KINDS)].sum(axis=1), 1.0)
    assert (table.groupby("slice").n.sum() == 30).all()
    for segment in segments_of(split):
        copies = shared_copies(segment)
        answers = final_logits(model, copies.inputs[:30], copies.prefix_len[:30]).argmax(1)
        right = (answers == copies.shared[:30]).sum()
        rows = table[table.slice == copies.name]
        assert (rows.right * rows.n).sum() == pytest.approx(right)
        index = copies.second_index[:30]
        part = index * 4 // copies.size_b
        assert rows.first_index.tolist() == [int(index[part == p].min()) for p in rows.part]
    with pytest.raises(ValueError, match="parts"):
        answer_kind_table(model, split, parts=0)


@settings(max_examples=20, deadline=None)
@given(a=st.integers(1, 6), b=st.integers(2, 8), seed=st.integers(0, 100))
def test_the_replacing_token_is_in_neither_set_and_only_its_place_changes(a: int, b: int, seed: int) -> None:
    copies = _copies(a, b, n=8, seed=seed)
    index = (copies.second_index + 1) % b  # never the copy
    out = with_b_token_replaced(copies, index, VOCAB, np.random.default_rng(seed))
    rows = np.arange(copies.num_examples)
    cols = a + 2 + index
    changed = out != copies.inputs
    assert changed.sum() == copies.num_examples and changed[rows, cols].all()
    for e in rows:
        token = out[e, cols[e]]
        assert token >= NUM_SPECIAL and token not in copies.inputs[e, 1 : a + 2 + b]


def test_replacing_refuses_the_copy_and_bad_indices() -> None:
    copies = _copies(2, 5, n=4)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="shared token's copy"):
        with_b_token_replaced(copies, copies.second_index, VOCAB, rng)
    with pytest.raises(ValueError, match=r"indices in B, 0 \.\. 4"):
        with_b_token_replaced(copies, np.full(4, 5), VOCAB, rng)
    with pytest.raises(ValueError, match="no set token is in neither set"):
        with_b_token_replaced(copies, (copies.second_index + 1) % 5, NUM_SPECIAL + 6, rng)


def test_the_false_match_table_reanswers_the_early_b_answers() -> None:
    """n counts the examples answered with a B token before the copy; the shares are fractions of
    them (of n_control for the control); slices filters; a slice with none gives n 0."""
    pattern: list[str | dict[str, object]] = ["base_conv", {"kind": "based", "feature_dim": 4}]
    model = build_model(ModelConfig(d_model=16, n_layers=2, pattern=pattern), VOCAB, seed=2).double()
    split = _split([(8, 6), (3, 8)], n=60, seed=5)
    table = false_match_table(model, split, VOCAB, max_examples=50, seed=1)
    assert list(table.columns) == FALSE_MATCH_COLUMNS and len(table) == 2
    for segment in segments_of(split):
        copies = shared_copies(segment)
        answers = final_logits(model, copies.inputs[:50], copies.prefix_len[:50]).argmax(1)
        kinds = answer_kinds(first_examples(copies, 50), answers)
        row = table[table.slice == copies.name].iloc[0]
        assert row.n == (kinds == 1).sum() and row.examples == 50 and row.n_control <= row.n
        shares = row[[c for c in FALSE_MATCH_COLUMNS if c.endswith("_gone")]].dropna()
        assert shares.between(0, 1).all()
    only = false_match_table(model, split, VOCAB, slices=[(8, 6)], max_examples=10)
    assert only.slice.tolist() == ["A=8,B=6"]
