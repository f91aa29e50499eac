"""Configs of the synthetic data: which task, which size settings ("segments"), vocabulary, JR-p.

All models are frozen pydantic v2 models with ``extra="forbid"``: an unknown key, a wrong type or
an impossible value raises ``pydantic.ValidationError`` (a ``ValueError``) naming the field, the
value given and the rule. Integers are strict (``True``, ``"4"`` or ``4.0`` are not sizes).

A :class:`DataConfig` reads straight from TOML, e.g.::

    [data]
    task = "sd"                      # or {kind = "mqar", power_a = 0.01, filler = "random"}
    vocab_size = 2048
    passes = 1                       # JR-p
    seed = 123
    train_segments = "paper_sd_train"                          # a preset name ...
    test_segments = {preset = "paper_sd_test", num_examples = 200}   # ... with fewer examples
    # or an explicit list: train_segments = [{size_a = 4, size_b = 16, num_examples = 20000}, ...]

SD tasks (``sd``, ``sd_decision``, ``sd_distractor``) take :class:`SDSegmentConfig` segments, MQAR
takes :class:`MQARSegmentConfig` segments; presets are listed in :mod:`synthetic.tasks.segment_presets`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from synthetic.tasks.limits import (
    MAX_SEGMENTS,
    MAX_SPLIT_TOKENS,
    check_segment_tokens,
    check_vocab_size,
    split_tokens_message,
)
from synthetic.tasks.mqar import check_mqar_sizes, mqar_context_len
from synthetic.tasks.sd import check_sd_sizes, sd_context_len
from synthetic.tasks.sd_distractor import DEFAULT_COPIES, check_distractor_sizes
from synthetic.tasks.segment_presets import resolve_segments
from synthetic.tasks.tokens import NUM_SPECIAL

__all__ = [
    "DataConfig",
    "MQARSegmentConfig",
    "MQARTaskConfig",
    "SDDecisionTaskConfig",
    "SDDistractorTaskConfig",
    "SDSegmentConfig",
    "SDTaskConfig",
    "SegmentConfig",
    "TaskConfig",
    "parse_slice_name",
    "stable_digest",
]

PositiveInt = Annotated[int, Field(strict=True, ge=1)]
SliceName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\s/\\]+$")]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def stable_digest(payload: Mapping[str, Any]) -> str:
    """SHA-256 hex digest of ``payload`` as canonical JSON (sorted keys, no spaces).

    Stable across processes and Python versions, unlike ``hash()``.
    """
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


# ----------------------------------------------------------------------------------------- tasks


class SDTaskConfig(_Frozen):
    """SD, "output the shared element" (the paper's task; :func:`synthetic.tasks.sd.generate_sd`)."""

    kind: Literal["sd"] = "sd"


class SDDecisionTaskConfig(_Frozen):
    """SD decision, YES/NO answer, balanced (:func:`synthetic.tasks.sd.generate_sd_decision`)."""

    kind: Literal["sd_decision"] = "sd_decision"


class SDDistractorTaskConfig(_Frozen):
    """SD with a distractor repeated ``copies`` times in the second set, which counting cannot
    solve (:func:`synthetic.tasks.sd_distractor.generate_sd_distractor`). Its segments need
    ``size_b >= copies + 1``."""

    kind: Literal["sd_distractor"] = "sd_distractor"
    copies: Annotated[int, Field(strict=True, ge=2)] = DEFAULT_COPIES


class MQARTaskConfig(_Frozen):
    """MQAR (:func:`synthetic.tasks.mqar.generate_mqar`).

    power_a  exponent of the query-gap law ``p(slot g) ∝ (g + 1) ** (power_a - 1)``; > 0
    filler   ``"pad"``: non-query positions of the query region are 0; ``"random"``: uniform
             tokens from ``[4, V)`` drawn from the segment's seeded generator
    """

    kind: Literal["mqar"] = "mqar"
    power_a: Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)] = 0.01
    filler: Literal["pad", "random"] = "pad"


TaskConfig = Annotated[
    SDTaskConfig | SDDecisionTaskConfig | SDDistractorTaskConfig | MQARTaskConfig, Field(discriminator="kind")
]
"""Any task config; the ``kind`` field ("sd", "sd_decision", "sd_distractor", "mqar") selects the model."""


# -------------------------------------------------------------------------------------- segments


class SDSegmentConfig(_Frozen):
    """One SD size setting: ``num_examples`` sequences with ``|A| = size_a``, ``|B| = size_b``.

    ``name`` overrides the slice label (default ``"A={size_a},B={size_b}"``); it is a label only
    and does not change the data.
    """

    size_a: PositiveInt
    size_b: PositiveInt
    num_examples: PositiveInt
    name: SliceName | None = None

    @model_validator(mode="after")
    def _check_tokens(self) -> SDSegmentConfig:
        check_segment_tokens(self.num_examples, self.size_a + self.size_b + 3, length="size_a + size_b + 3")
        return self

    @property
    def slice_name(self) -> str:
        return self.name if self.name is not None else f"A={self.size_a},B={self.size_b}"

    def context_len(self, task: TaskConfig) -> int:
        """Tokens before the answer region in one pass (``a + b + 2``)."""
        return sd_context_len(self.size_a, self.size_b)

    def one_pass_len(self, task: TaskConfig) -> int:
        """Input length T of one pass (``a + b + 3``)."""
        return self.size_a + self.size_b + 3

    def check_vocab(self, task: TaskConfig, vocab_size: int) -> None:
        check_sd_sizes(self.size_a, self.size_b, vocab_size, decision=task.kind == "sd_decision")
        if isinstance(task, SDDistractorTaskConfig):
            check_distractor_sizes(self.size_b, task.copies)


class MQARSegmentConfig(_Frozen):
    """One MQAR size setting.

    num_kv_pairs  key-value pairs in the context (n)
    num_queries   keys asked at the end (m <= n; default n)
    seq_len       one-pass input length T (JR-p adds ``(p - 1) * context`` tokens)
    num_examples  sequences in this segment
    order         ``"context-first"`` or ``"queries-first"`` (the asked keys announced up front)
    name          slice label override (default ``"kv=8,q=8,T=64,order=context-first"``)
    """

    num_kv_pairs: PositiveInt
    num_queries: PositiveInt
    seq_len: PositiveInt
    num_examples: PositiveInt
    order: Literal["context-first", "queries-first"] = "context-first"
    name: SliceName | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_queries(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("num_queries") is None and "num_kv_pairs" in data:
            data = {**data, "num_queries": data["num_kv_pairs"]}
        return data

    @model_validator(mode="after")
    def _check_sizes(self) -> MQARSegmentConfig:
        check_mqar_sizes(self.num_kv_pairs, self.num_queries, self.seq_len, None, self.order)
        check_segment_tokens(self.num_examples, self.seq_len)
        return self

    @property
    def slice_name(self) -> str:
        if self.name is not None:
            return self.name
        return f"kv={self.num_kv_pairs},q={self.num_queries},T={self.seq_len},order={self.order}"

    def context_len(self, task: TaskConfig) -> int:
        """Tokens before the query region in one pass (``1 + 2n``, or ``2 + m + 2n`` queries-first)."""
        return mqar_context_len(self.num_kv_pairs, self.num_queries, self.order)

    def one_pass_len(self, task: TaskConfig) -> int:
        """Input length T of one pass (``seq_len``)."""
        return self.seq_len

    def check_vocab(self, task: TaskConfig, vocab_size: int) -> None:
        check_mqar_sizes(self.num_kv_pairs, self.num_queries, self.seq_len, vocab_size, self.order)


def _segment_tag(value: Any) -> str:
    if isinstance(value, MQARSegmentConfig):
        return "mqar"
    if isinstance(value, Mapping) and "num_kv_pairs" in value:
        return "mqar"
    return "sd"


SegmentConfig = Annotated[
    Annotated[SDSegmentConfig, Tag("sd")] | Annotated[MQARSegmentConfig, Tag("mqar")],
    Discriminator(_segment_tag),
]
"""An SD segment (has ``size_a``/``size_b``) or an MQAR segment (has ``num_kv_pairs``)."""

_SEGMENT_CLASS = {
    "sd": SDSegmentConfig,
    "sd_decision": SDSegmentConfig,
    "sd_distractor": SDSegmentConfig,
    "mqar": MQARSegmentConfig,
}


def parse_slice_name(name: str) -> dict[str, str]:
    """Split a default slice label into its fields: ``"A=4,B=16"`` -> ``{"A": "4", "B": "16"}``.

    Raises ValueError for a label that is not ``key=value`` pairs joined by commas (e.g. a custom
    ``name``).
    """
    fields: dict[str, str] = {}
    for part in name.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key or not value or key in fields:
            raise ValueError(f"slice name {name!r} is not of the form 'key=value,key=value,...'")
        fields[key] = value
    return fields


# ----------------------------------------------------------------------------------------- data


class DataConfig(_Frozen):
    """Everything that determines a dataset (train and test splits).

    task            task config (``kind`` = "sd" | "sd_decision" | "sd_distractor" | "mqar"); a bare
                    kind string is accepted as shorthand
    vocab_size      V, token ids are in ``[0, V)``; large enough for every segment (checked)
    passes          JR-p: copies of the context before the answer region (>= 1; 1 = plain)
    seed            base seed (>= 0); each segment's stream comes from (seed, split, segment)
    train_segments  segments of the train split, or a preset reference (see module docstring)
    test_segments   segments of the test split, likewise
    cache_dir       optional folder for the ``.npz`` cache of generated segments (not part of the
                    data's identity)

    Size limits (:mod:`synthetic.tasks.limits`): ``vocab_size <= MAX_VOCAB_SIZE``; per segment
    ``num_examples * T <= MAX_SEGMENT_TOKENS`` with T after JR-p; per split at most
    ``MAX_SEGMENTS`` segments and ``MAX_SPLIT_TOKENS`` tokens.
    """

    task: TaskConfig
    vocab_size: Annotated[int, Field(strict=True, gt=NUM_SPECIAL)]
    passes: PositiveInt = 1
    seed: Annotated[int, Field(strict=True, ge=0)] = 0
    train_segments: tuple[SegmentConfig, ...]
    test_segments: tuple[SegmentConfig, ...]
    cache_dir: Path | None = None

    @field_validator("vocab_size")
    @classmethod
    def _vocab_limit(cls, value: int) -> int:
        return check_vocab_size(value)

    @field_validator("train_segments", "test_segments")
    @classmethod
    def _non_empty(cls, value: tuple[Any, ...], info: ValidationInfo) -> tuple[Any, ...]:
        if not value:
            raise ValueError(f"{info.field_name} is empty; give at least one segment")
        if len(value) > MAX_SEGMENTS:
            raise ValueError(
                f"{info.field_name} has {len(value):,} segments, more than MAX_SEGMENTS = {MAX_SEGMENTS:,} "
                "(synthetic.tasks.limits)"
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _expand_shorthands(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        if isinstance(data.get("task"), str):
            data["task"] = {"kind": data["task"]}
        for key in ("train_segments", "test_segments"):
            if key in data:
                data[key] = resolve_segments(data[key], field=key)
        return data

    @model_validator(mode="after")
    def _check_segments(self) -> DataConfig:
        want = _SEGMENT_CLASS[self.task.kind]
        for field in ("train_segments", "test_segments"):
            seen: dict[str, int] = {}
            total = 0
            for i, seg in enumerate(getattr(self, field)):
                where = f"{field}[{i}] ({seg.slice_name})"
                if not isinstance(seg, want):
                    raise ValueError(
                        f"{where} is a {type(seg).__name__} but task kind={self.task.kind!r} "
                        f"takes {want.__name__} segments"
                    )
                try:
                    seg.check_vocab(self.task, self.vocab_size)
                except ValueError as err:
                    raise ValueError(f"{where}: {err}") from None
                if seg.slice_name in seen:
                    raise ValueError(
                        f"{where} repeats the slice name of {field}[{seen[seg.slice_name]}]; "
                        "slice names must be unique within a split (set `name` or change a size)"
                    )
                seen[seg.slice_name] = i
                try:
                    total += check_segment_tokens(
                        seg.num_examples, self.seq_len(seg), length=f"T with passes={self.passes}"
                    )
                except ValueError as err:
                    raise ValueError(f"{where}: {err}") from None
            if total > MAX_SPLIT_TOKENS:
                raise ValueError(split_tokens_message(field, total))
        return self

    def segments(self, split: Literal["train", "test"]) -> tuple[SDSegmentConfig | MQARSegmentConfig, ...]:
        """The segments of ``split`` ("train" or "test")."""
        if split == "train":
            return self.train_segments
        if split == "test":
            return self.test_segments
        raise ValueError(f"split={split!r} is not 'train' or 'test'")

    def seq_len(self, segment: SDSegmentConfig | MQARSegmentConfig) -> int:
        """Input length T of ``segment``'s examples after JR-p: one pass + ``(passes - 1) * context``."""
        return segment.one_pass_len(self.task) + (self.passes - 1) * segment.context_len(self.task)

    def prefix_len(self, segment: SDSegmentConfig | MQARSegmentConfig) -> int:
        """Context tokens of ``segment``'s examples including repeats: ``passes * context``."""
        return self.passes * segment.context_len(self.task)

    def max_seq_len(self, split: Literal["train", "test"] | None = None) -> int:
        """Longest input length T in ``split`` (both splits when None), e.g. to size a model."""
        splits: tuple[Literal["train", "test"], ...] = ("train", "test") if split is None else (split,)
        return max(self.seq_len(seg) for sp in splits for seg in self.segments(sp))

    def segment_identity(self, segment: SDSegmentConfig | MQARSegmentConfig) -> dict[str, Any]:
        """What determines a segment's JR-1 data apart from (seed, split): task, V, the segment's
        sizes. Excludes ``name`` (a label), ``passes`` (JR-p copies the same instances) and
        ``cache_dir``."""
        return {
            "task": self.task.model_dump(mode="json"),
            "vocab_size": self.vocab_size,
            "segment": segment.model_dump(mode="json", exclude={"name"}),
        }
