"""Presets: the paper's SD tuples, and every preset builds with its documented vocabulary."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import numpy as np
import pytest

from synthetic.tasks.config import DataConfig, SDSegmentConfig
from synthetic.tasks.data import build_split
from synthetic.tasks.presets import (
    PAPER_SD_VOCAB,
    PRESETS,
    QUICK_VOCAB,
    paper_sd_config,
    preset_segments,
    quick_mqar_config,
    quick_sd_config,
)

# paper App. B.1 (digest §4.1), written out independently of the preset module
PAPER_TRAIN = {(4, 16), (16, 4), (8, 32), (32, 8), (64, 16), (16, 64)}
PAPER_TRAIN |= {(4, 128), (128, 4), (16, 256), (256, 16), (4, 256), (256, 4)}
PAPER_TEST = {(1, 32), (32, 1), (4, 32), (32, 4), (4, 128), (128, 4), (16, 256), (256, 16), (4, 256)}
PAPER_TEST |= {(256, 4), (16, 512), (512, 16), (4, 512), (512, 4), (8, 768), (768, 8), (16, 768)}
PAPER_TEST |= {(768, 16), (4, 768), (768, 4)}


def test_paper_sd_preset_matches_the_paper() -> None:
    cfg = paper_sd_config()
    assert cfg.vocab_size == PAPER_SD_VOCAB == 2048 and cfg.seed == 123 and cfg.task.kind == "sd"
    assert all(isinstance(s, SDSegmentConfig) for s in cfg.train_segments + cfg.test_segments)
    assert {(s.size_a, s.size_b) for s in cfg.train_segments if isinstance(s, SDSegmentConfig)} == PAPER_TRAIN
    assert {(s.size_a, s.size_b) for s in cfg.test_segments if isinstance(s, SDSegmentConfig)} == PAPER_TEST
    assert len(cfg.train_segments) == 12 and len(cfg.test_segments) == 20
    assert {s.num_examples for s in cfg.train_segments} == {20_000}
    assert {s.num_examples for s in cfg.test_segments} == {1_000}
    assert paper_sd_config(decision=True).task.kind == "sd_decision"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_validates_with_its_vocabulary(name: str) -> None:
    preset = PRESETS[name]
    vocab = PAPER_SD_VOCAB if name.startswith("paper") else QUICK_VOCAB
    kinds = {"sd": ["sd", "sd_decision"], "sd_distractor": ["sd", "sd_decision", "sd_distractor"]}.get(
        preset.task_family, ["mqar"]
    )
    for kind in kinds:
        cfg = DataConfig(task=kind, vocab_size=vocab, train_segments=name, test_segments=name)
        assert len(cfg.train_segments) == len(preset.segments)
    assert {s["num_examples"] for s in preset_segments(name, 3)} == {3}


def test_paper_test_split_generates_with_few_examples() -> None:
    data = build_split(paper_sd_config(test_examples=2), "test")
    assert max(s.seq_len for s in data.segments) == 768 + 16 + 3
    for s in data.segments:
        assert s.num_examples == 2 and np.all(s.labels[:, -1] >= 4)


@pytest.mark.parametrize(
    "make",
    [
        lambda: quick_sd_config(train_examples=5, test_examples=3),
        lambda: quick_sd_config(decision=True, passes=2, train_examples=5, test_examples=3),
        lambda: quick_mqar_config(train_examples=5, test_examples=3),
        lambda: quick_mqar_config(
            both_orders=True, filler="random", passes=2, train_examples=5, test_examples=3
        ),
    ],
)
def test_quick_configs_build(make: Callable[[], DataConfig]) -> None:
    cfg = make()
    for split in ("train", "test"):
        data = build_split(cfg, split)
        assert len(data.segments) == len(cfg.segments(split))


def test_unknown_preset() -> None:
    with pytest.raises(ValueError, match=r"preset='paper' is not a known segment preset"):
        preset_segments("paper")
    with pytest.raises(ValueError, match=r"num_examples=0 must be an integer >= 1"):
        preset_segments("tiny_sd_test", 0)


def test_generators_do_not_import_torch() -> None:
    """The numpy side (generators, configs, presets, cache) imports without torch."""
    code = (
        "import sys, synthetic.tasks, synthetic.tasks.sd, synthetic.tasks.mqar, synthetic.tasks.repeat, "
        "synthetic.tasks.config, synthetic.tasks.segment_presets, synthetic.tasks.presets, "
        "synthetic.tasks.cache, synthetic.tasks.metrics; "
        "assert 'torch' not in sys.modules; "
        "from synthetic.tasks import build_split; assert 'torch' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
