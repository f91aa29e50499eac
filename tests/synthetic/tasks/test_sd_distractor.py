"""SD with a repeated distractor: layout, counts, uniform placement, errors, the data pipeline,
counting fails on it and the one-pass "store the first set" algorithm solves it."""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from scipy import stats

from sdtheory.instances import StreamLayout, Variant
from sdtheory.streaming import StoreFirst, run_batch
from synthetic.tasks import build_split, generate_sd, quick_sd_distractor_config
from synthetic.tasks.config import DataConfig
from synthetic.tasks.sd import sd_min_vocab
from synthetic.tasks.sd_distractor import generate_sd_distractor
from synthetic.tasks.tokens import ANSWER, IGNORE_INDEX, NUM_SPECIAL, SEP, START


@st.composite
def distractor_args(draw: st.DrawFn) -> tuple[int, int, int, int, int, int]:
    """(examples, |A|, |B|, V, copies, seed) with room for the distractor."""
    copies = draw(st.integers(2, 5))
    n = draw(st.integers(1, 40))
    a = draw(st.integers(1, 20))
    b = draw(st.integers(copies + 1, 24))
    v = sd_min_vocab(a, b) + draw(st.integers(0, 30))
    return n, a, b, v, copies, draw(st.integers(0, 2**32 - 1))


def _sets(inputs: np.ndarray, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    return inputs[:, 1 : a + 1], inputs[:, a + 2 : a + b + 2]


@given(distractor_args())
def test_layout_counts_and_label(args: tuple[int, int, int, int, int, int]) -> None:
    """A is a set; the label is the one token in A and B (once in each); one token outside A occurs
    ``copies`` times in B; every other token occurs once."""
    n, a, b, v, copies, seed = args
    ex = generate_sd_distractor(np.random.default_rng(seed), n, a, b, v, copies=copies)
    assert ex.inputs.shape == ex.labels.shape == (n, a + b + 3) and ex.context_len == a + b + 2
    assert np.all(ex.inputs[:, 0] == START) and np.all(ex.inputs[:, a + 1] == SEP)
    assert np.all(ex.inputs[:, -1] == ANSWER) and np.all(ex.labels[:, :-1] == IGNORE_INDEX)
    set_a, set_b = _sets(ex.inputs, a, b)
    for row_a, row_b, label in zip(set_a.tolist(), set_b.tolist(), ex.labels[:, -1].tolist(), strict=True):
        assert len(set(row_a)) == a and all(NUM_SPECIAL <= t < v for t in row_a + row_b)
        assert set(row_a) & set(row_b) == {label} and row_b.count(label) == 1
        counts_b = {t: row_b.count(t) for t in set(row_b)}
        repeated = [t for t, c in counts_b.items() if c > 1]
        assert len(repeated) == 1 and counts_b[repeated[0]] == copies and repeated[0] not in row_a
        assert sorted(counts_b.values()) == [1] * (b - copies) + [copies]


@given(distractor_args())
def test_same_seed_same_arrays(args: tuple[int, int, int, int, int, int]) -> None:
    n, a, b, v, copies, seed = args
    one = generate_sd_distractor(np.random.default_rng(seed), n, a, b, v, copies=copies)
    two = generate_sd_distractor(np.random.default_rng(seed), n, a, b, v, copies=copies)
    np.testing.assert_array_equal(one.inputs, two.inputs)
    np.testing.assert_array_equal(one.labels, two.labels)


def test_positions_are_uniform() -> None:
    """The shared token's position in B and the distractor's set of positions (among the others)
    are uniform: every (shared position, distractor positions) cell of b * C(b - 1, copies) is
    equally likely; the shared token's position in A too."""
    a, b, copies, n = 4, 5, 2, 40_000
    ex = generate_sd_distractor(np.random.default_rng(11), n, a, b, 4 + 30, copies=copies)
    set_a, set_b = _sets(ex.inputs, a, b)
    label = ex.labels[:, -1]
    shared_b = np.argmax(set_b == label[:, None], axis=1)
    others = [[p for p in range(b) if p != s] for s in range(b)]
    cells = {
        (s, pair): i
        for i, (s, pair) in enumerate(
            (s, pair) for s in range(b) for pair in itertools.combinations(others[s], copies)
        )
    }
    keys = []
    for row, s in zip(set_b, shared_b.tolist(), strict=True):
        values, counts = np.unique(row, return_counts=True)
        distractor = values[counts == copies][0]
        keys.append(cells[(s, tuple(np.flatnonzero(row == distractor).tolist()))])
    assert stats.chisquare(np.bincount(keys, minlength=len(cells))).pvalue > 1e-4
    assert stats.chisquare(np.bincount(np.argmax(set_a == label[:, None], axis=1), minlength=a)).pvalue > 1e-4


def test_errors_name_field_value_and_rule() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"size_b=3 is too small for copies=3.*>= copies \+ 1 = 4"):
        generate_sd_distractor(rng, 4, 2, 3, 64, copies=3)
    with pytest.raises(ValueError, match=r"copies=1 must be >= 2"):
        generate_sd_distractor(rng, 4, 2, 5, 64, copies=1)
    with pytest.raises(TypeError, match=r"copies=True must be an integer"):
        generate_sd_distractor(rng, 4, 2, 5, 64, copies=True)
    with pytest.raises(ValueError, match=r"vocab_size=10 is too small for size_a=2, size_b=5.*>= 11"):
        generate_sd_distractor(rng, 4, 2, 5, 10)
    base = {"vocab_size": 64, "train_segments": "tiny_sd_distractor_train", "test_segments": "tiny_sd_test"}
    with pytest.raises(
        ValidationError, match=r"test_segments\[1\] \(A=6,B=2\): size_b=2 is too small for copies=2"
    ):
        DataConfig(task="sd_distractor", **base)
    with pytest.raises(ValidationError, match=r"copies\n.*greater than or equal to 2.*input_value=1"):
        DataConfig(
            task={"kind": "sd_distractor", "copies": 1},
            **{**base, "test_segments": "tiny_sd_distractor_test"},
        )


def _count_answers(inputs: np.ndarray, context_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Counting, the shortcut trained models take on plain SD: per example, the set token that
    occurs most often in the context (ties broken by the smaller id), and how many set tokens share
    the label's count (a rule that reads only the counts cannot tell them apart)."""
    context = inputs[:, 1:context_len]
    counts = np.zeros((inputs.shape[0], int(inputs.max()) + 1), dtype=np.int64)
    np.add.at(counts, (np.arange(inputs.shape[0])[:, None], context), 1)
    counts[:, :NUM_SPECIAL] = 0
    return np.argmax(counts, axis=1), counts


@pytest.mark.parametrize(("a", "b"), [(4, 16), (16, 4), (8, 32), (32, 8)])
def test_counting_solves_sd_but_not_the_distractor_task(a: int, b: int) -> None:
    """Plain SD: the most frequent token is always the answer. With the distractor (copies = 2) the
    label shares its count with the distractor in every example, so any rule of the counts alone is
    right at most half of the time (the most-frequent rule here: about 1/2); with copies = 3 the
    most frequent token is never the answer."""
    rng = np.random.default_rng(3)
    plain = generate_sd(rng, 2000, a, b, 256)
    guess, _ = _count_answers(plain.inputs, plain.context_len)
    assert np.all(guess == plain.labels[:, -1])

    ex = generate_sd_distractor(rng, 2000, a, b, 256)
    label = ex.labels[:, -1]
    guess, counts = _count_answers(ex.inputs, ex.context_len)
    label_count = counts[np.arange(label.size), label]
    assert np.all(label_count == 2) and np.all((counts == 2).sum(axis=1) == 2)  # shared + distractor
    accuracy = float(np.mean(guess == label))
    assert abs(accuracy - 0.5) < 4 * np.sqrt(0.25 / label.size)

    ex3 = generate_sd_distractor(rng, 2000, a, b, 256, copies=3)
    guess3, _ = _count_answers(ex3.inputs, ex3.context_len)
    assert not np.any(guess3 == ex3.labels[:, -1])


def _streams(inputs: np.ndarray, vocab_size: int) -> tuple[np.ndarray, int]:
    """Task examples ``1 A 2 B 3`` as sdtheory streams ``A sep B`` over the universe of set tokens
    [0, n), n = V - 4 (set token t -> t - 4, the separator -> n)."""
    n = vocab_size - NUM_SPECIAL
    body = inputs[:, 1:-1]
    return np.where(body == SEP, n, body - NUM_SPECIAL), n


@given(distractor_args())
def test_store_first_streaming_algorithm_solves_every_example(
    args: tuple[int, int, int, int, int, int],
) -> None:
    """sdtheory's one-pass StoreFirst (store the first set, check the second against it) answers
    every example, in either order of the sizes, whatever the number of distractor copies."""
    n_ex, a, b, v, copies, seed = args
    ex = generate_sd_distractor(np.random.default_rng(seed), n_ex, a, b, v, copies=copies)
    streams, n = _streams(ex.inputs, v)
    answers, _ = run_batch(StoreFirst(Variant.SHARED), streams, StreamLayout(n, a, b))
    assert answers is not None
    np.testing.assert_array_equal(answers + NUM_SPECIAL, ex.labels[:, -1])


def _digest(arrays: list[np.ndarray]) -> str:
    h = hashlib.sha256()
    for arr in arrays:
        h.update(np.ascontiguousarray(arr, dtype="<i8").tobytes())
    return h.hexdigest()[:16]


def test_data_pipeline_jrp_and_golden_bytes() -> None:
    """The task runs through DataConfig / build_split like the others: JR-2 repeats the same
    instances, train and test differ, and a fixed config gives fixed bytes (bump GENERATOR_VERSION
    if an intended change breaks this)."""
    cfg = quick_sd_distractor_config(seed=5, train_examples=40, test_examples=16)
    assert cfg.task.kind == "sd_distractor" and cfg.vocab_size == 256
    train, test = build_split(cfg, "train"), build_split(cfg, "test")
    assert train.slice_names == ["A=4,B=16", "A=16,B=4", "A=8,B=32", "A=32,B=8"] == test.slice_names
    assert not np.array_equal(train.segments[0].inputs[:16], test.segments[0].inputs)
    jr2 = build_split(
        quick_sd_distractor_config(seed=5, passes=2, train_examples=40, test_examples=16), "train"
    )
    for one, two in zip(train.segments, jr2.segments, strict=True):
        c = one.context_len
        np.testing.assert_array_equal(two.inputs[:, :c], one.inputs[:, :c])
        np.testing.assert_array_equal(two.inputs[:, c : 2 * c], one.inputs[:, :c])
        assert two.prefix_len[0] == 2 * c
    got = _digest([arr for s in train.segments for arr in (s.inputs, s.labels)])
    assert got == GOLDEN_TRAIN


GOLDEN_TRAIN = "39304dc7e25c5dff"
