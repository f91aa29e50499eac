"""Size limits: configs and generators refuse, before allocating anything, work larger than the
limits of synthetic.tasks.limits, with messages naming the field, the value and the limit."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from synthetic.tasks.config import DataConfig, MQARSegmentConfig, SDSegmentConfig
from synthetic.tasks.limits import MAX_SEGMENT_TOKENS, MAX_SEGMENTS, MAX_SPLIT_TOKENS, MAX_VOCAB_SIZE
from synthetic.tasks.mqar import generate_mqar
from synthetic.tasks.repeat import repeat_context
from synthetic.tasks.sd import generate_sd, generate_sd_decision

SD: dict[str, Any] = {"task": "sd", "vocab_size": 64, "test_segments": "tiny_sd_test"}
MQAR_SEG: dict[str, Any] = {"num_kv_pairs": 4, "seq_len": 17, "num_examples": 4}


def refused(make: Callable[[], object], *patterns: str) -> str:
    """Run ``make``; it must raise ValueError (pydantic's included) whose message holds ``patterns``,
    and allocate less than 2 MiB on the way."""
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as info:
            make()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    for pattern in patterns:
        assert pattern in message, (pattern, message)
    assert peak < 2 * 2**20, f"allocated {peak} bytes before refusing"
    return message


def test_vocab_size_limit() -> None:
    refused(
        lambda: DataConfig(**{**SD, "vocab_size": 2_000_000_000}, train_segments="tiny_sd_train"),
        "vocab_size",
        "vocab_size=2,000,000,000 is larger than MAX_VOCAB_SIZE = 16,777,216",
    )
    ok = DataConfig(**{**SD, "vocab_size": MAX_VOCAB_SIZE}, train_segments="tiny_sd_train")
    assert ok.vocab_size == MAX_VOCAB_SIZE
    rng = np.random.default_rng(0)
    refused(lambda: generate_sd(rng, 1, 2, 2, MAX_VOCAB_SIZE + 1), "MAX_VOCAB_SIZE")
    refused(lambda: generate_mqar(rng, 1, 2, 9, MAX_VOCAB_SIZE + 1), "MAX_VOCAB_SIZE")


def test_the_issue_sizes_are_refused_up_front() -> None:
    # |A| = |B| = 1e6 with 1000 examples: 2e9 tokens (it used to crawl through a Python shuffle)
    seg = {"size_a": 10**6, "size_b": 10**6, "num_examples": 1000}
    refused(
        lambda: DataConfig(**{**SD, "vocab_size": 2 * 10**6 + 4}, train_segments=[seg]),
        "train_segments.0",
        "num_examples=1,000 x size_a + size_b + 3 = 2,000,003 is 2,000,003,000 tokens",
        "MAX_SEGMENT_TOKENS = 268,435,456",
    )
    refused(
        lambda: SDSegmentConfig(size_a=2, size_b=3, num_examples=2_000_000_000),
        "num_examples=2,000,000,000",
        "MAX_SEGMENT_TOKENS",
    )
    refused(
        lambda: MQARSegmentConfig(**{**MQAR_SEG, "num_examples": 2_000_000_000}),
        "num_examples=2,000,000,000 x seq_len = 17",
        "MAX_SEGMENT_TOKENS",
    )
    refused(lambda: MQARSegmentConfig(**{**MQAR_SEG, "seq_len": 2**40}), "seq_len = 1,099,511,627,776")
    rng = np.random.default_rng(0)
    refused(lambda: generate_sd(rng, 10**9, 2, 2, 64), "num_examples=1,000,000,000", "MAX_SEGMENT_TOKENS")
    refused(lambda: generate_sd_decision(rng, 10**9, 2, 2, 64), "MAX_SEGMENT_TOKENS")
    refused(lambda: generate_mqar(rng, 10**9, 4, 17, 64), "MAX_SEGMENT_TOKENS")


def test_segment_limit_counts_jr_p_copies() -> None:
    seg = {"size_a": 4, "size_b": 4, "num_examples": 10**6}  # 11 M tokens once, 100 M + with passes
    DataConfig(**SD, train_segments=[seg], passes=2)
    refused(
        lambda: DataConfig(**SD, train_segments=[seg], passes=100),
        "train_segments[0] (A=4,B=4)",
        "x T with passes=100 = 1,001",
        "MAX_SEGMENT_TOKENS",
    )


def test_split_limits() -> None:
    n = MAX_SEGMENT_TOKENS // 11  # |A| = |B| = 4: 11 tokens an example; each segment is allowed
    segs = [{"size_a": 4, "size_b": 4, "num_examples": n, "name": f"s{i}"} for i in range(3)]
    DataConfig(**SD, train_segments=segs[:2])
    refused(
        lambda: DataConfig(**SD, train_segments=segs),
        f"train_segments holds {3 * 11 * n:,} tokens",
        f"MAX_SPLIT_TOKENS = {MAX_SPLIT_TOKENS:,}",
    )
    many = [{"size_a": 1, "size_b": 1, "num_examples": 1, "name": f"s{i}"} for i in range(MAX_SEGMENTS + 1)]
    with pytest.raises(ValidationError, match=r"train_segments has 4,097 segments, more than MAX_SEGMENTS"):
        DataConfig(**SD, train_segments=many)


@given(
    a=st.integers(1, 10**9),
    b=st.integers(1, 10**9),
    n=st.integers(1, 10**10),
    passes=st.integers(1, 10**4),
)
def test_any_sd_config_is_within_the_limits_or_refused_naming_one(
    a: int, b: int, n: int, passes: int
) -> None:
    seg = {"size_a": a, "size_b": b, "num_examples": n}
    vocab = min(MAX_VOCAB_SIZE, a + b + 4)
    try:
        cfg = DataConfig(**{**SD, "vocab_size": vocab}, train_segments=[seg], passes=passes)
    except ValidationError as err:
        assert any(k in str(err) for k in ("MAX_SEGMENT_TOKENS", "MAX_SPLIT_TOKENS", "vocab_size=")), str(err)
        return
    tokens = n * cfg.seq_len(cfg.train_segments[0])
    assert tokens <= MAX_SEGMENT_TOKENS and a + b + 4 <= vocab <= MAX_VOCAB_SIZE


def test_repeat_context_copies_every_pass_without_a_loop() -> None:
    ex = generate_sd(np.random.default_rng(1), 5, 3, 2, 32)
    out = repeat_context(ex, 4)
    c = ex.context_len
    for p in range(4):
        np.testing.assert_array_equal(out.inputs[:, p * c : (p + 1) * c], ex.inputs[:, :c])
    np.testing.assert_array_equal(out.inputs[:, 4 * c :], ex.inputs[:, c:])
