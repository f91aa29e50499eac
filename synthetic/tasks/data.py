"""Datasets for training and evaluation: segments of one length each, batches without padding.

``build_split(cfg, "train")`` generates (or loads from the cache) every segment of the split,
applies JR-p, and returns a :class:`SplitData`. Its :meth:`SplitData.batches` yields
:class:`Batch` objects, each from ONE segment, so a batch never mixes lengths and is never
padded; the slice label (``Batch.slice``) is the segment's name, for per-slice accuracy.

Seeding (all streams independent, no global RNG):

* data of a segment: ``SeedSequence([seed, split_code, 0, *digest_words])`` where the digest is a
  SHA-256 of the segment's identity (task, vocabulary, sizes; see
  :meth:`DataConfig.segment_identity`). Train and test never share a stream; reordering,
  adding or removing other segments changes nothing; renaming a segment or changing ``passes``
  keeps the same instances (JR-p repeats them).
* batch order of an epoch: the examples of each segment are permuted by
  ``SeedSequence([seed, split_code, 1, epoch])``; the order in which the segments' batches
  interleave comes from ``SeedSequence([split_code, 2, epoch])``, which does not depend on the
  seed. So every run whose data has the same segment sizes sees batches of the same shapes in the
  same order, whatever its seed: runs that differ only in seed can train side by side as one
  ensemble (:mod:`synthetic.ensemble`), each member on its own examples.

Bump :data:`GENERATOR_VERSION` whenever generated data would change for the same config; it keys
the cache.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from synthetic.tasks._checks import check_int
from synthetic.tasks.cache import cache_file, load_segment, save_segment
from synthetic.tasks.config import (
    DataConfig,
    MQARSegmentConfig,
    MQARTaskConfig,
    SDDistractorTaskConfig,
    SDSegmentConfig,
    stable_digest,
)
from synthetic.tasks.examples import TaskExamples
from synthetic.tasks.mqar import generate_mqar
from synthetic.tasks.repeat import repeat_context
from synthetic.tasks.sd import generate_sd, generate_sd_decision
from synthetic.tasks.sd_distractor import generate_sd_distractor

__all__ = [
    "GENERATOR_VERSION",
    "Batch",
    "DataConfig",
    "Segment",
    "SplitData",
    "build_split",
    "generate_segment",
    "segment_seed",
]

GENERATOR_VERSION = "readtwice.tasks/2"
# /2: above a population of 65,536 (and k * k > 2 * population) sample_distinct discards repeats
#     of i.i.d. draws or sorts random keys instead of a Fisher-Yates shuffle, so large vocabularies
#     no longer crawl; smaller ones are unchanged
Split = Literal["train", "test"]
_SPLIT_CODE = {"train": 1, "test": 2}
_DATA_DOMAIN = 0
_BATCH_DOMAIN = 1
_PLAN_DOMAIN = 2


def _split_code(split: str) -> int:
    if split not in _SPLIT_CODE:
        raise ValueError(f"split={split!r} is not 'train' or 'test'")
    return _SPLIT_CODE[split]


def segment_seed(
    cfg: DataConfig, split: Split, segment: SDSegmentConfig | MQARSegmentConfig
) -> np.random.SeedSequence:
    """The seed sequence of ``segment``'s data in ``split`` (see the module docstring)."""
    digest = stable_digest(cfg.segment_identity(segment))
    words = [int(digest[i : i + 8], 16) for i in range(0, 32, 8)]  # 128 bits of the digest
    return np.random.SeedSequence([cfg.seed, _split_code(split), _DATA_DOMAIN, *words])


def generate_segment(
    cfg: DataConfig, split: Split, segment: SDSegmentConfig | MQARSegmentConfig
) -> TaskExamples:
    """Plain (JR-1) examples of one segment, from the cache when ``cfg.cache_dir`` is set."""
    key: dict[str, Any] | None = None
    path = None
    if cfg.cache_dir is not None:
        key = {"generator": GENERATOR_VERSION, "seed": cfg.seed, "split": split}
        key.update(cfg.segment_identity(segment))
        path = cache_file(cfg.cache_dir, key)
        cached = load_segment(path, key)
        if cached is not None:
            return cached
    rng = np.random.default_rng(segment_seed(cfg, split, segment))
    task = cfg.task
    if isinstance(task, SDDistractorTaskConfig):
        assert isinstance(segment, SDSegmentConfig)
        examples = generate_sd_distractor(
            rng, segment.num_examples, segment.size_a, segment.size_b, cfg.vocab_size, copies=task.copies
        )
    elif task.kind in ("sd", "sd_decision"):
        assert isinstance(segment, SDSegmentConfig)
        gen = generate_sd if task.kind == "sd" else generate_sd_decision
        examples = gen(rng, segment.num_examples, segment.size_a, segment.size_b, cfg.vocab_size)
    else:
        assert isinstance(segment, MQARSegmentConfig) and isinstance(task, MQARTaskConfig)
        examples = generate_mqar(
            rng,
            segment.num_examples,
            segment.num_kv_pairs,
            segment.seq_len,
            cfg.vocab_size,
            num_queries=segment.num_queries,
            power_a=task.power_a,
            filler=task.filler,
            order=segment.order,
        )
    if path is not None and key is not None:
        save_segment(path, key, examples, cfg.vocab_size)
    return examples


@dataclass(frozen=True, eq=False)
class Segment:
    """One size setting of a split, all examples of one length ``T``.

    name        slice label (e.g. ``"A=4,B=16"``, ``"kv=8,q=8,T=64,order=context-first"``)
    config      the segment's config
    inputs      int64 ``[n_ex, T]`` (read-only)
    labels      int64 ``[n_ex, T]``, -100 where there is no label (read-only)
    prefix_len  int64 ``[n_ex]``: context tokens including JR-p repeats (same for every row)
    context_len tokens in one copy of the context
    passes      JR-p copies of the context
    """

    name: str
    config: SDSegmentConfig | MQARSegmentConfig
    inputs: np.ndarray
    labels: np.ndarray
    prefix_len: np.ndarray
    context_len: int
    passes: int

    @property
    def num_examples(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def seq_len(self) -> int:
        """T, tokens per example (including JR-p copies)."""
        return int(self.inputs.shape[1])


@dataclass(frozen=True)
class Batch:
    """One batch, all examples from one segment.

    inputs      int64 ``[B, T]``
    labels      int64 ``[B, T]``, -100 where there is no label
    prefix_len  int64 ``[B]``: tokens each example may read non-causally (context incl. repeats)
    slice       the segment's name
    """

    inputs: torch.Tensor
    labels: torch.Tensor
    prefix_len: torch.Tensor
    slice: str

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """The same batch with its tensors on ``device``."""
        return Batch(
            self.inputs.to(device, non_blocking=non_blocking),
            self.labels.to(device, non_blocking=non_blocking),
            self.prefix_len.to(device, non_blocking=non_blocking),
            self.slice,
        )


class SplitData:
    """The segments of one split and batching over them.

    vocab_size  V
    split       "train" or "test"
    seed        the base seed (batch order of epoch e comes from (seed, split, e))
    segments    list of :class:`Segment`, in config order
    """

    def __init__(self, vocab_size: int, segments: Sequence[Segment], *, split: Split, seed: int) -> None:
        self.vocab_size = check_int("vocab_size", vocab_size)
        self.split: Split = split
        _split_code(split)
        self.seed = check_int("seed", seed, 0)
        self.segments: list[Segment] = list(segments)
        names = [s.name for s in self.segments]
        if len(set(names)) != len(names):
            raise ValueError(f"segment names must be unique within a split, got {names}")

    def __repr__(self) -> str:
        parts = ", ".join(f"{s.name}: {s.num_examples}x{s.seq_len}" for s in self.segments)
        return f"SplitData({self.split}, V={self.vocab_size}, [{parts}])"

    @property
    def slice_names(self) -> list[str]:
        return [s.name for s in self.segments]

    @property
    def num_examples(self) -> int:
        return sum(s.num_examples for s in self.segments)

    def segment(self, name: str) -> Segment:
        """The segment called ``name``."""
        for s in self.segments:
            if s.name == name:
                return s
        raise KeyError(f"no segment {name!r} in this split; have {self.slice_names}")

    def num_batches(self, batch_size: int) -> int:
        """Batches per epoch: ``sum over segments of ceil(N_s / batch_size)`` (last ones partial)."""
        bs = check_int("batch_size", batch_size)
        return sum(-(-s.num_examples // bs) for s in self.segments)

    def batches(self, batch_size: int, *, shuffle: bool, epoch: int = 0) -> Iterator[Batch]:
        """Yield every example once, in batches of at most ``batch_size`` from a single segment.

        Each segment is cut into ``ceil(N_s / batch_size)`` batches; the last one of a segment is
        kept even if smaller (no example is dropped, nothing is padded). ``shuffle=False``: the
        segments in config order, examples in order. ``shuffle=True``: the examples of every
        segment are permuted (from (seed, split, epoch)) and the batches of all segments
        interleaved in a random order drawn from (split, epoch) alone, so an epoch is
        reproducible, epochs differ, and two seeds give batches of the same shapes in the same
        order (see the module docstring).
        """
        bs = check_int("batch_size", batch_size)
        ep = check_int("epoch", epoch, 0)
        if not isinstance(shuffle, bool):
            raise TypeError(f"shuffle={shuffle!r} must be a bool")
        plan: list[tuple[int, np.ndarray]] = []
        if shuffle:
            code = _split_code(self.split)
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, code, _BATCH_DOMAIN, ep]))
            for si, seg in enumerate(self.segments):
                order = rng.permutation(seg.num_examples)
                plan.extend((si, order[i : i + bs]) for i in range(0, seg.num_examples, bs))
            # the interleaving depends on the segment sizes and the epoch only (not on the seed)
            interleave = np.random.default_rng(np.random.SeedSequence([code, _PLAN_DOMAIN, ep]))
            plan = [plan[i] for i in interleave.permutation(len(plan))]
        else:
            for si, seg in enumerate(self.segments):
                plan.extend(
                    (si, np.arange(i, min(i + bs, seg.num_examples))) for i in range(0, seg.num_examples, bs)
                )
        for si, idx in plan:
            seg = self.segments[si]
            yield Batch(
                inputs=torch.from_numpy(seg.inputs[idx]),
                labels=torch.from_numpy(seg.labels[idx]),
                prefix_len=torch.from_numpy(seg.prefix_len[idx]),
                slice=seg.name,
            )


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


def build_split(cfg: DataConfig, split: Split) -> SplitData:
    """Generate (or load) every segment of ``split`` and apply JR-``cfg.passes``.

    Returns a :class:`SplitData`; each segment's arrays are int64 and read-only.
    """
    if not isinstance(cfg, DataConfig):
        raise TypeError(f"cfg must be a DataConfig (got {type(cfg).__name__})")
    _split_code(split)
    segments = []
    for seg_cfg in cfg.segments(split):
        examples = repeat_context(generate_segment(cfg, split, seg_cfg), cfg.passes)
        segments.append(
            Segment(
                name=seg_cfg.slice_name,
                config=seg_cfg,
                inputs=_readonly(examples.inputs),
                labels=_readonly(examples.labels),
                prefix_len=_readonly(np.full(examples.num_examples, examples.prefix_len, dtype=np.int64)),
                context_len=examples.context_len,
                passes=examples.passes,
            )
        )
    return SplitData(cfg.vocab_size, segments, split=split, seed=cfg.seed)
