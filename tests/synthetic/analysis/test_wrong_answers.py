"""synthetic.analysis.wrong_answers: every possible answer named as a direct reading of the prompt
would name it, and the table's counts by part of B."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthetic.analysis.readout import final_logits
from synthetic.analysis.sd_layout import SharedCopies, segments_of, shared_copies
from synthetic.analysis.wrong_answers import ANSWER_KINDS, answer_kind_table, answer_kinds
from synthetic.model import ModelConfig, build_model
from synthetic.tasks import DataConfig, SplitData, build_split

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
