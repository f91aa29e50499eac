"""Configs: strict fields, cross-field rules, presets, TOML, error messages."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from synthetic.tasks.config import (
    DataConfig,
    MQARSegmentConfig,
    MQARTaskConfig,
    SDSegmentConfig,
    parse_slice_name,
)

SD_BASE: dict[str, Any] = {
    "task": "sd",
    "vocab_size": 64,
    "train_segments": [{"size_a": 2, "size_b": 3, "num_examples": 4}],
    "test_segments": "tiny_sd_test",
}
MQAR_BASE: dict[str, Any] = {
    "task": {"kind": "mqar", "power_a": 0.5, "filler": "random"},
    "vocab_size": 64,
    "train_segments": [{"num_kv_pairs": 4, "seq_len": 32, "num_examples": 4}],
    "test_segments": [{"num_kv_pairs": 4, "num_queries": 2, "seq_len": 32, "num_examples": 4}],
}


def _error(base: dict[str, Any], **override: Any) -> str:
    with pytest.raises(ValidationError) as info:
        DataConfig(**{**base, **override})
    return str(info.value)


@pytest.mark.parametrize(
    ("override", "patterns"),
    [
        ({"passes": 0}, ["passes", "greater than or equal to 1", "input_value=0"]),
        ({"passes": 2.0}, ["passes", "valid integer", "input_value=2.0"]),
        ({"seed": -1}, ["seed", "greater than or equal to 0", "input_value=-1"]),
        ({"vocab_size": 4}, ["vocab_size", "greater than 4", "input_value=4"]),
        ({"bogus": 1}, ["bogus", "Extra inputs are not permitted"]),
        ({"task": "xx"}, ["task", "'xx'", "'sd', 'sd_decision', 'sd_distractor', 'mqar'"]),
        (
            {"train_segments": [{"size_a": 2, "sizeB": 3, "num_examples": 4}]},
            ["train_segments.0.sd.sizeB", "Extra inputs are not permitted", "train_segments.0.sd.size_b"],
        ),
        (
            {"train_segments": [{"size_a": 0, "size_b": 3, "num_examples": 4}]},
            ["train_segments.0.sd.size_a", "greater than or equal to 1", "input_value=0"],
        ),
        (
            {"train_segments": [{"size_a": 2, "size_b": 3, "num_examples": True}]},
            ["train_segments.0.sd.num_examples", "valid integer", "input_value=True"],
        ),
        (
            {"vocab_size": 8},
            ["train_segments[0] (A=2,B=3): vocab_size=8 is too small for size_a=2, size_b=3", ">= 9"],
        ),
        (
            {"task": "sd_decision", "vocab_size": 10},
            ["train_segments[0] (A=2,B=3): vocab_size=10 is too small", "[6, vocab_size)", ">= 11"],
        ),
        ({"task": "mqar"}, ["train_segments[0] (A=2,B=3) is a SDSegmentConfig but task kind='mqar'"]),
        ({"train_segments": []}, ["train_segments is empty"]),
        (
            {"train_segments": [{"size_a": 2, "size_b": 3, "num_examples": 4}] * 2},
            ["train_segments[1] (A=2,B=3) repeats the slice name of train_segments[0]"],
        ),
        (
            {"test_segments": "nope"},
            ["test_segments: preset='nope' is not a known segment preset", "paper_sd_test"],
        ),
        (
            {"test_segments": {"preset": "tiny_sd_test", "n": 3}},
            ["test_segments=", "takes the keys 'preset' and optionally 'num_examples'", "unknown: ['n']"],
        ),
        ({"test_segments": {"preset": "tiny_sd_test", "num_examples": 0}}, ["num_examples=0 must be"]),
        ({"cache_dir": 3}, ["cache_dir"]),
    ],
)
def test_sd_config_errors(override: dict[str, Any], patterns: list[str]) -> None:
    message = _error(SD_BASE, **override)
    for pattern in patterns:
        assert pattern in message, (pattern, message)


@pytest.mark.parametrize(
    ("override", "patterns"),
    [
        ({"task": {"kind": "mqar", "power_a": 0}}, ["task.mqar.power_a", "greater than 0", "input_value=0"]),
        ({"task": {"kind": "mqar", "power_a": float("inf")}}, ["task.mqar.power_a", "finite number"]),
        ({"task": {"kind": "mqar", "filler": "noise"}}, ["task.mqar.filler", "'pad' or 'random'"]),
        (
            {"task": {"kind": "mqar", "num_passes": 2}},
            ["task.mqar.num_passes", "Extra inputs are not permitted"],
        ),
        (
            {"train_segments": [{"num_kv_pairs": 4, "num_queries": 5, "seq_len": 32, "num_examples": 4}]},
            ["train_segments.0.mqar", "num_queries=5 must be <= num_kv_pairs=4"],
        ),
        (
            {"train_segments": [{"num_kv_pairs": 4, "seq_len": 16, "num_examples": 4}]},
            ["train_segments.0.mqar", "seq_len=16 is too short for num_kv_pairs=4", ">= 17"],
        ),
        (
            {
                "train_segments": [
                    {"num_kv_pairs": 4, "seq_len": 20, "num_examples": 4, "order": "queries-first"}
                ]
            },
            ["seq_len=20 is too short", "order='queries-first'", ">= 22"],
        ),
        (
            {"train_segments": [{"num_kv_pairs": 4, "seq_len": 32, "num_examples": 4, "order": "last"}]},
            ["train_segments.0.mqar.order", "'context-first' or 'queries-first'"],
        ),
        (
            {"vocab_size": 11},
            ["train_segments[0] (kv=4,q=4,T=32,order=context-first): vocab_size=11 is too small", ">= 12"],
        ),
        ({"task": "sd"}, ["is a MQARSegmentConfig but task kind='sd' takes SDSegmentConfig segments"]),
    ],
)
def test_mqar_config_errors(override: dict[str, Any], patterns: list[str]) -> None:
    message = _error(MQAR_BASE, **override)
    for pattern in patterns:
        assert pattern in message, (pattern, message)


def test_defaults_shorthands_and_names() -> None:
    cfg = DataConfig(**MQAR_BASE)
    train, test = cfg.train_segments[0], cfg.test_segments[0]
    assert isinstance(train, MQARSegmentConfig) and train.num_queries == 4  # default: every key
    assert train.slice_name == "kv=4,q=4,T=32,order=context-first"
    assert test.slice_name == "kv=4,q=2,T=32,order=context-first"
    assert isinstance(cfg.task, MQARTaskConfig) and cfg.task.filler == "random"
    sd = DataConfig(**SD_BASE)
    assert sd.task.kind == "sd" and sd.passes == 1 and sd.seed == 0 and sd.cache_dir is None
    assert [s.slice_name for s in sd.test_segments] == ["A=2,B=6", "A=6,B=2"]
    named = DataConfig(
        **{**SD_BASE, "train_segments": [{"size_a": 2, "size_b": 3, "num_examples": 4, "name": "x"}]}
    )
    assert named.train_segments[0].slice_name == "x"
    with pytest.raises(ValidationError, match="name"):
        SDSegmentConfig(size_a=1, size_b=1, num_examples=1, name="has space")


def test_frozen_and_roundtrip() -> None:
    cfg = DataConfig(**{**SD_BASE, "cache_dir": "/tmp/x", "passes": 3})
    with pytest.raises(ValidationError, match="frozen"):
        cfg.passes = 2  # type: ignore[misc]
    assert DataConfig.model_validate(cfg.model_dump()) == cfg
    assert DataConfig.model_validate_json(cfg.model_dump_json()) == cfg


def test_toml_parses_into_config() -> None:
    text = """
    task = {kind = "mqar", power_a = 0.01}
    vocab_size = 256
    passes = 2
    seed = 7
    train_segments = [
      {num_kv_pairs = 4, seq_len = 32, num_examples = 100},
      {num_kv_pairs = 4, seq_len = 32, num_examples = 100, order = "queries-first"},
    ]
    test_segments = {preset = "quick_mqar_orders_test", num_examples = 10}
    """
    cfg = DataConfig.model_validate(tomllib.loads(text))
    assert cfg.passes == 2 and cfg.seed == 7
    orders = [s.order for s in cfg.train_segments if isinstance(s, MQARSegmentConfig)]
    assert orders == ["context-first", "queries-first"]
    assert len(cfg.test_segments) == 6 and {s.num_examples for s in cfg.test_segments} == {10}


def test_segments_accessor() -> None:
    cfg = DataConfig(**SD_BASE)
    assert cfg.segments("train") == cfg.train_segments
    with pytest.raises(ValueError, match=r"split='valid' is not 'train' or 'test'"):
        cfg.segments("valid")  # type: ignore[arg-type]


@given(st.integers(1, 999), st.integers(1, 999))
def test_parse_slice_name_roundtrip(a: int, b: int) -> None:
    assert parse_slice_name(SDSegmentConfig(size_a=a, size_b=b, num_examples=1).slice_name) == {
        "A": str(a),
        "B": str(b),
    }


def test_parse_slice_name_rejects_custom() -> None:
    assert parse_slice_name("kv=4,q=4,T=32,order=context-first")["order"] == "context-first"
    with pytest.raises(ValueError, match=r"slice name 'custom' is not of the form"):
        parse_slice_name("custom")
