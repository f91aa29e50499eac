"""MQAR generator: every ask's label is its key's value, layouts, orders, fillers, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from synthetic.tasks.mqar import generate_mqar, mqar_context_len, mqar_min_seq_len, mqar_min_vocab
from synthetic.tasks.tokens import (
    ANSWER,
    IGNORE_INDEX,
    PAD,
    SEP,
    START,
    mqar_key_range,
    mqar_value_range,
)


@st.composite
def mqar_args(draw: st.DrawFn) -> dict:
    n = draw(st.integers(1, 12))
    m = draw(st.integers(1, n))
    order = draw(st.sampled_from(["context-first", "queries-first"]))
    seq_len = mqar_min_seq_len(n, m, order) + draw(st.integers(0, 30))
    return {
        "num_examples": draw(st.integers(1, 30)),
        "num_kv_pairs": n,
        "num_queries": m,
        "seq_len": seq_len,
        "vocab_size": mqar_min_vocab(n) + draw(st.integers(0, 50)),
        "power_a": draw(st.sampled_from([0.01, 0.5, 1.0, 2.0])),
        "filler": draw(st.sampled_from(["pad", "random"])),
        "order": order,
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


def _generate(kw: dict):
    kw = dict(kw)
    rng = np.random.default_rng(kw.pop("seed"))
    n_ex, n, t, v = kw.pop("num_examples"), kw.pop("num_kv_pairs"), kw.pop("seq_len"), kw.pop("vocab_size")
    return generate_mqar(rng, n_ex, n, t, v, **kw)


@given(mqar_args())
def test_every_query_label_is_its_keys_value(kw: dict) -> None:
    ex = _generate(kw)
    n, m, t, v, order = kw["num_kv_pairs"], kw["num_queries"], kw["seq_len"], kw["vocab_size"], kw["order"]
    c = mqar_context_len(n, m, order)
    assert ex.inputs.shape == ex.labels.shape == (kw["num_examples"], t)
    assert ex.context_len == c == ex.prefix_len
    k_lo, k_hi = mqar_key_range(v)
    v_lo, v_hi = mqar_value_range(v)
    kv_start = 1 if order == "context-first" else 2 + m
    for row, lab in zip(ex.inputs.tolist(), ex.labels.tolist(), strict=True):
        assert row[0] == START and row[c] == ANSWER
        keys, values = row[kv_start : kv_start + 2 * n : 2], row[kv_start + 1 : kv_start + 2 * n : 2]
        assert len(set(keys)) == n and len(set(values)) == n
        assert all(k_lo <= k < k_hi for k in keys) and all(v_lo <= x < v_hi for x in values)
        table = dict(zip(keys, values, strict=True))
        asked = [i for i, y in enumerate(lab) if y != IGNORE_INDEX]
        # labels only in the query region, at odd offsets after the 3, exactly m of them
        assert len(asked) == m
        assert all(i > c and (i - c) % 2 == 1 for i in asked)
        asked_keys = [row[i] for i in asked]
        assert len(set(asked_keys)) == m  # distinct keys from the context
        assert all(lab[i] == table[row[i]] for i in asked)
        if order == "queries-first":
            assert row[1 : 1 + m] == asked_keys  # the same queries, announced in ask order
            assert row[1 + m] == SEP
        region = [row[i] for i in range(c + 1, t) if i not in asked]
        if kw["filler"] == "pad":
            assert all(x == PAD for x in region)  # values never appear after the context
        else:
            assert all(4 <= x < v for x in region)


@given(mqar_args())
def test_same_seed_same_arrays(kw: dict) -> None:
    one, two = _generate(kw), _generate(kw)
    np.testing.assert_array_equal(one.inputs, two.inputs)
    np.testing.assert_array_equal(one.labels, two.labels)


@given(mqar_args())
def test_queries_first_is_context_first_with_the_asks_announced(kw: dict) -> None:
    """Same seed, seq_len longer by the announcement (m keys + SEP): dropping the announcement
    from the queries-first sequence gives the context-first one, and the announcement lists the
    asked keys in ask order."""
    m = kw["num_queries"]
    cf_len = mqar_min_seq_len(kw["num_kv_pairs"], m) + (kw["seq_len"] % 7)
    cf = _generate({**kw, "order": "context-first", "seq_len": cf_len})
    qf = _generate({**kw, "order": "queries-first", "seq_len": cf_len + m + 1})
    assert qf.context_len == cf.context_len + m + 1
    keep = np.r_[0, m + 2 : qf.seq_len]
    np.testing.assert_array_equal(qf.inputs[:, keep], cf.inputs)
    np.testing.assert_array_equal(qf.labels[:, keep], cf.labels)
    asked = qf.labels != IGNORE_INDEX
    np.testing.assert_array_equal(qf.inputs[:, 1 : 1 + m], qf.inputs[asked].reshape(-1, m))


def test_powerlaw_gaps_favour_early_slots() -> None:
    """With m = 1 the ask's slot follows p(g) ∝ (g + 1)^(a - 1) exactly."""
    n_ex, t, a = 40_000, 3 + 2 * 6, 0.3  # context 3 tokens (n = 1), 6 slots
    ex = generate_mqar(np.random.default_rng(2), n_ex, 1, t, 16, power_a=a)
    pos = np.argmax(ex.labels != IGNORE_INDEX, axis=1)
    slot = (pos - 3 - 1) // 2
    w = np.arange(1, 7, dtype=float) ** (a - 1)
    assert stats.chisquare(np.bincount(slot, minlength=6), w / w.sum() * n_ex).pvalue > 1e-4


def test_ask_order_is_independent_of_context_order() -> None:
    """The first ask is each context pair with equal probability."""
    n, n_ex = 4, 20_000
    ex = generate_mqar(np.random.default_rng(4), n_ex, n, 1 + 2 * n + 2 * n, 64)
    first = np.argmax(ex.labels != IGNORE_INDEX, axis=1)
    key = ex.inputs[np.arange(n_ex), first]
    pair = np.argmax(ex.inputs[:, 1 : 1 + 2 * n : 2] == key[:, None], axis=1)
    assert stats.chisquare(np.bincount(pair, minlength=n)).pvalue > 1e-4


def test_minimum_sizes_work() -> None:
    ex = generate_mqar(np.random.default_rng(0), 5, 3, mqar_min_seq_len(3, 3), mqar_min_vocab(3))
    assert (ex.labels != IGNORE_INDEX).sum() == 15
    ex = generate_mqar(
        np.random.default_rng(0),
        5,
        3,
        mqar_min_seq_len(3, 2, "queries-first"),
        10,
        num_queries=2,
        order="queries-first",
    )
    assert (ex.labels != IGNORE_INDEX).sum() == 10


def test_mqar_errors_name_field_value_limit() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"num_queries=5 must be <= num_kv_pairs=4"):
        generate_mqar(rng, 2, 4, 64, 64, num_queries=5)
    with pytest.raises(ValueError, match=r"seq_len=16 is too short for num_kv_pairs=4.*>= 17"):
        generate_mqar(rng, 2, 4, 16, 64)
    with pytest.raises(ValueError, match=r"seq_len=20 is too short .*'queries-first'.*>= 22"):
        generate_mqar(rng, 2, 4, 20, 64, order="queries-first")
    with pytest.raises(ValueError, match=r"vocab_size=11 is too small for num_kv_pairs=4.*>= 12"):
        generate_mqar(rng, 2, 4, 64, 11)
    with pytest.raises(ValueError, match=r"order='backwards' is not one of"):
        generate_mqar(rng, 2, 4, 64, 64, order="backwards")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"filler='noise' is not one of"):
        generate_mqar(rng, 2, 4, 64, 64, filler="noise")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"power_a=0 must be a number > 0"):
        generate_mqar(rng, 2, 4, 64, 64, power_a=0)
    with pytest.raises(ValueError, match=r"num_kv_pairs=0 must be >= 1"):
        generate_mqar(rng, 2, 0, 64, 64)
    with pytest.raises(ValueError, match=r"num_queries=0 must be >= 1"):
        generate_mqar(rng, 2, 4, 64, 64, num_queries=0)
