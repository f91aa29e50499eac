"""SD generators: layout, exactly one shared element as the label, decision balance, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from synthetic.tasks.sd import generate_sd, generate_sd_decision, sd_min_vocab
from synthetic.tasks.tokens import ANSWER, IGNORE_INDEX, NO, SEP, START, YES


@st.composite
def sd_args(draw: st.DrawFn, decision: bool = False) -> tuple[int, int, int, int, int]:
    n = draw(st.integers(1, 40))
    a = draw(st.integers(1, 24))
    b = draw(st.integers(1, 24))
    v = sd_min_vocab(a, b, decision) + draw(st.integers(0, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    return n, a, b, v, seed


def _check_layout(inputs: np.ndarray, labels: np.ndarray, a: int, b: int) -> None:
    assert inputs.dtype == np.int64 and labels.dtype == np.int64
    assert inputs.shape == labels.shape == (inputs.shape[0], a + b + 3)
    assert np.all(inputs[:, 0] == START)
    assert np.all(inputs[:, a + 1] == SEP)
    assert np.all(inputs[:, -1] == ANSWER)
    # labels only at the last position
    assert np.all(labels[:, :-1] == IGNORE_INDEX)


@given(sd_args())
def test_sd_exactly_one_shared_element_and_it_is_the_label(args: tuple[int, int, int, int, int]) -> None:
    n, a, b, v, seed = args
    ex = generate_sd(np.random.default_rng(seed), n, a, b, v)
    _check_layout(ex.inputs, ex.labels, a, b)
    assert ex.context_len == a + b + 2 and ex.prefix_len == a + b + 2 and ex.passes == 1
    for row, lab in zip(ex.inputs.tolist(), ex.labels[:, -1].tolist(), strict=True):
        set_a, set_b = row[1 : a + 1], row[a + 2 : a + b + 2]
        assert len(set(set_a)) == a and len(set(set_b)) == b  # sets, no repeats
        assert all(4 <= t < v for t in set_a + set_b)
        assert set(set_a) & set(set_b) == {lab}


@given(sd_args(decision=True))
def test_sd_decision_answers_and_exact_balance(args: tuple[int, int, int, int, int]) -> None:
    n, a, b, v, seed = args
    ex = generate_sd_decision(np.random.default_rng(seed), n, a, b, v)
    _check_layout(ex.inputs, ex.labels, a, b)
    answers = ex.labels[:, -1]
    assert set(answers.tolist()) <= {YES, NO}
    num_yes = int((answers == YES).sum())
    assert num_yes in {n // 2, (n + 1) // 2}  # balanced exactly (one extra when n is odd)
    for row, ans in zip(ex.inputs.tolist(), answers.tolist(), strict=True):
        set_a, set_b = row[1 : a + 1], row[a + 2 : a + b + 2]
        assert len(set(set_a)) == a and len(set(set_b)) == b
        assert all(6 <= t < v for t in set_a + set_b)  # answer tokens never inside a set
        shared = set(set_a) & set(set_b)
        assert len(shared) == (1 if ans == YES else 0)


@given(sd_args(), st.booleans())
def test_same_seed_same_arrays(args: tuple[int, int, int, int, int], decision: bool) -> None:
    n, a, b, v, seed = args
    gen = generate_sd_decision if decision else generate_sd
    v += 2  # room for the decision variant too
    one = gen(np.random.default_rng(seed), n, a, b, v)
    two = gen(np.random.default_rng(seed), n, a, b, v)
    np.testing.assert_array_equal(one.inputs, two.inputs)
    np.testing.assert_array_equal(one.labels, two.labels)


def test_sd_marginals_are_uniform() -> None:
    """Position of the shared element in B, its source position in A, and the set tokens are uniform."""
    a, b, v, n = 5, 7, 4 + 30, 30_000
    ex = generate_sd(np.random.default_rng(5), n, a, b, v)
    set_a, set_b, lab = ex.inputs[:, 1 : a + 1], ex.inputs[:, a + 2 : a + b + 2], ex.labels[:, -1]
    pos_b = np.argmax(set_b == lab[:, None], axis=1)
    pos_a = np.argmax(set_a == lab[:, None], axis=1)
    assert stats.chisquare(np.bincount(pos_b, minlength=b)).pvalue > 1e-4
    assert stats.chisquare(np.bincount(pos_a, minlength=a)).pvalue > 1e-4
    assert stats.chisquare(np.bincount(set_a.ravel() - 4, minlength=v - 4)).pvalue > 1e-4
    assert stats.chisquare(np.bincount(lab - 4, minlength=v - 4)).pvalue > 1e-4


def test_sd_decision_balance_large_odd() -> None:
    ex = generate_sd_decision(np.random.default_rng(0), 10_001, 3, 4, 20)
    assert int((ex.labels[:, -1] == YES).sum()) in {5000, 5001}


def test_sd_full_vocabulary_and_single_element_sets() -> None:
    """The tightest vocabulary works (a + b = number of set tokens), and |A| = 1 or |B| = 1."""
    ex = generate_sd(np.random.default_rng(1), 50, 3, 5, sd_min_vocab(3, 5))
    assert np.all(np.sort(np.concatenate([ex.inputs[:, 1:4], ex.inputs[:, 5:10]], 1), 1)[:, -1] < 12)
    ex = generate_sd(np.random.default_rng(1), 50, 1, 32, 64)
    assert np.all(ex.inputs[:, 1] == ex.labels[:, -1])
    ex = generate_sd(np.random.default_rng(1), 50, 32, 1, 64)
    assert np.all(ex.inputs[:, -2] == ex.labels[:, -1])


def test_sd_zero_examples() -> None:
    ex = generate_sd(np.random.default_rng(0), 0, 2, 3, 20)
    assert ex.inputs.shape == (0, 8)


def test_sd_errors_name_field_value_limit() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"vocab_size=20 is too small for size_a=10, size_b=7.*>= 21"):
        generate_sd(rng, 4, 10, 7, 20)
    with pytest.raises(ValueError, match=r"vocab_size=22 is too small .*\[6, vocab_size\).*>= 23"):
        generate_sd_decision(rng, 4, 10, 7, 22)
    with pytest.raises(ValueError, match=r"size_a=0 must be >= 1"):
        generate_sd(rng, 4, 0, 7, 64)
    with pytest.raises(ValueError, match=r"size_b=-2 must be >= 1"):
        generate_sd(rng, 4, 3, -2, 64)
    with pytest.raises(ValueError, match=r"num_examples=-1 must be >= 0"):
        generate_sd(rng, -1, 3, 2, 64)
    with pytest.raises(TypeError, match=r"size_a=True must be an integer"):
        generate_sd(rng, 4, True, 2, 64)
    with pytest.raises(TypeError, match=r"rng=123 must be a numpy.random.Generator"):
        generate_sd(123, 4, 3, 2, 64)  # type: ignore[arg-type]
