"""Synthetic tasks: set disjointness (SD), its YES/NO variant and MQAR, with controllable order,
JR-p repeats and prefix metadata for non-causal models.

Generators (numpy, vectorised over examples; no torch):
  :func:`generate_sd`, :func:`generate_sd_decision`, :func:`generate_sd_distractor` (SD that counting
  cannot solve), :func:`generate_mqar` -> :class:`TaskExamples`;
  :func:`repeat_context` (JR-p).
Data pipeline (torch only in :class:`Batch`):
  :class:`DataConfig` -> :func:`build_split` -> :class:`SplitData` -> :meth:`SplitData.batches`.
Token ids: :mod:`synthetic.tasks.tokens`. Named segment lists: :mod:`synthetic.tasks.segment_presets`;
ready-made configs over them: :mod:`synthetic.tasks.presets`. Size limits
(vocabulary, tokens per segment and per split), checked before generating:
:mod:`synthetic.tasks.limits`.

Importing the package (or any generator module) does not import torch; the names from
:mod:`synthetic.tasks.data` are loaded on first use.
"""

from typing import TYPE_CHECKING, Any

from synthetic.tasks.config import (
    DataConfig,
    MQARSegmentConfig,
    MQARTaskConfig,
    SDDecisionTaskConfig,
    SDDistractorTaskConfig,
    SDSegmentConfig,
    SDTaskConfig,
    parse_slice_name,
)
from synthetic.tasks.examples import TaskExamples
from synthetic.tasks.metrics import SliceAccuracy
from synthetic.tasks.mqar import generate_mqar
from synthetic.tasks.presets import (
    PRESETS,
    paper_sd_config,
    quick_mqar_config,
    quick_sd_config,
    quick_sd_distractor_config,
)
from synthetic.tasks.repeat import repeat_context
from synthetic.tasks.sd import generate_sd, generate_sd_decision
from synthetic.tasks.sd_distractor import generate_sd_distractor

if TYPE_CHECKING:
    from synthetic.tasks.data import GENERATOR_VERSION, Batch, Segment, SplitData, build_split

_LAZY = {"GENERATOR_VERSION", "Batch", "Segment", "SplitData", "build_split"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from synthetic.tasks import data

        return getattr(data, name)
    raise AttributeError(f"module 'synthetic.tasks' has no attribute {name!r}")


__all__ = [
    "GENERATOR_VERSION",
    "PRESETS",
    "Batch",
    "DataConfig",
    "MQARSegmentConfig",
    "MQARTaskConfig",
    "SDDecisionTaskConfig",
    "SDDistractorTaskConfig",
    "SDSegmentConfig",
    "SDTaskConfig",
    "Segment",
    "SliceAccuracy",
    "SplitData",
    "TaskExamples",
    "build_split",
    "generate_mqar",
    "generate_sd",
    "generate_sd_decision",
    "generate_sd_distractor",
    "paper_sd_config",
    "parse_slice_name",
    "quick_mqar_config",
    "quick_sd_config",
    "quick_sd_distractor_config",
    "repeat_context",
]
