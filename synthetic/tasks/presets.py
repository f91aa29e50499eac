"""Ready-made data configs over the named segment lists of :mod:`synthetic.tasks.segment_presets`:
:func:`paper_sd_config` (the paper's SD data, Figure 2), :func:`quick_sd_config`,
:func:`quick_sd_distractor_config` and :func:`quick_mqar_config` (CPU-sized). The segment presets'
names (:data:`PRESETS`, :func:`preset_segments`, :func:`resolve_segments`, the vocabulary sizes) are
importable from here too; the table of presets is in :mod:`synthetic.tasks.segment_presets`.

Import order: ``segment_presets`` <- ``config`` <- ``presets`` (this module).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synthetic.tasks.config import DataConfig
from synthetic.tasks.segment_presets import (
    PAPER_SD_VOCAB,
    PRESETS,
    QUICK_VOCAB,
    Preset,
    preset_segments,
    resolve_segments,
)

__all__ = [
    "PAPER_SD_VOCAB",
    "PRESETS",
    "QUICK_VOCAB",
    "Preset",
    "paper_sd_config",
    "preset_segments",
    "quick_mqar_config",
    "quick_sd_config",
    "quick_sd_distractor_config",
    "resolve_segments",
]


def paper_sd_config(
    seed: int = 123,
    passes: int = 1,
    *,
    decision: bool = False,
    train_examples: int | None = None,
    test_examples: int | None = None,
    cache_dir: Path | None = None,
) -> DataConfig:
    """The paper's SD data (Figure 2): V = 2048, ``paper_sd_train`` / ``paper_sd_test``.

    ``train_examples`` / ``test_examples`` override the per-segment counts (20,000 / 1,000).
    """
    return _sd_config(
        PAPER_SD_VOCAB, "paper_sd", seed, passes, _sd_kind(decision), train_examples, test_examples, cache_dir
    )


def quick_sd_config(
    seed: int = 0,
    passes: int = 1,
    *,
    decision: bool = False,
    train_examples: int | None = None,
    test_examples: int | None = None,
    cache_dir: Path | None = None,
) -> DataConfig:
    """A CPU-sized SD dataset: V = 256, ``quick_sd_train`` / ``quick_sd_test``."""
    return _sd_config(
        QUICK_VOCAB, "quick_sd", seed, passes, _sd_kind(decision), train_examples, test_examples, cache_dir
    )


def quick_sd_distractor_config(
    seed: int = 0,
    passes: int = 1,
    *,
    copies: int = 2,
    train_examples: int | None = None,
    test_examples: int | None = None,
    cache_dir: Path | None = None,
) -> DataConfig:
    """SD with a distractor repeated ``copies`` times in the second set (``kind="sd_distractor"``,
    which counting cannot solve), CPU-sized: V = 256, ``quick_sd_distractor_train`` / ``_test``."""
    task = {"kind": "sd_distractor", "copies": copies}
    return _sd_config(
        QUICK_VOCAB, "quick_sd_distractor", seed, passes, task, train_examples, test_examples, cache_dir
    )


def _sd_kind(decision: bool) -> dict[str, Any]:
    return {"kind": "sd_decision" if decision else "sd"}


def _sd_config(
    vocab_size: int,
    preset: str,
    seed: int,
    passes: int,
    task: dict[str, Any],
    train_examples: int | None,
    test_examples: int | None,
    cache_dir: Path | None,
) -> DataConfig:
    """An SD DataConfig (``task``: the task table) over the ``<preset>_train`` / ``<preset>_test``
    segment presets."""
    return DataConfig(
        task=task,
        vocab_size=vocab_size,
        passes=passes,
        seed=seed,
        train_segments=preset_segments(f"{preset}_train", train_examples),
        test_segments=preset_segments(f"{preset}_test", test_examples),
        cache_dir=cache_dir,
    )


def quick_mqar_config(
    seed: int = 0,
    passes: int = 1,
    *,
    both_orders: bool = False,
    power_a: float = 0.01,
    filler: str = "pad",
    train_examples: int | None = None,
    test_examples: int | None = None,
    cache_dir: Path | None = None,
) -> DataConfig:
    """A CPU-sized MQAR dataset: V = 256, ``quick_mqar_*`` (``both_orders`` -> ``quick_mqar_orders_*``)."""
    stem = "quick_mqar_orders" if both_orders else "quick_mqar"
    return DataConfig(
        task={"kind": "mqar", "power_a": power_a, "filler": filler},
        vocab_size=QUICK_VOCAB,
        passes=passes,
        seed=seed,
        train_segments=preset_segments(f"{stem}_train", train_examples),
        test_segments=preset_segments(f"{stem}_test", test_examples),
        cache_dir=cache_dir,
    )
