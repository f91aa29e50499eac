"""Named segment lists, so experiment files can say ``train_segments = "paper_sd_train"``.

:class:`synthetic.tasks.config.DataConfig` resolves these names; the ready-made configs built on
them are in :mod:`synthetic.tasks.presets` (above the config in the import order, which re-exports
the names of this module).

=========================  =====  ====================================================  =========
name                       task   segments                                              examples
=========================  =====  ====================================================  =========
``paper_sd_train``         SD     (|A|,|B|) = (4,16) (16,4) (8,32) (32,8) (64,16)        20,000 each
                                  (16,64) (4,128) (128,4) (16,256) (256,16) (4,256)
                                  (256,4) — paper App. B.1, Figure 2
``paper_sd_test``          SD     (1,32) (32,1) (4,32) (32,4) (4,128) (128,4) (16,256)   1,000 each
                                  (256,16) (4,256) (256,4) (16,512) (512,16) (4,512)
                                  (512,4) (8,768) (768,8) (16,768) (768,16) (4,768)
                                  (768,4) — length extrapolation up to 787 tokens
``quick_sd_train``         SD     (4,16) (16,4) (8,32) (32,8) (16,64) (64,16)            2,000 each
``quick_sd_test``          SD     the train sizes, (4,64) (64,4) (1,32) (32,1)           200 each
``tiny_sd_train``          SD     (2,6) (6,2) — smoke tests                             64 each
``tiny_sd_test``           SD     (2,6) (6,2)                                            32 each
``quick_sd_distractor_train`` SD  (4,16) (16,4) (8,32) (32,8) (the ``sd_order`` quick     8,000 each
                                  sizes; every second set has room for a distractor)
``quick_sd_distractor_test``  SD  the same                                              2,048 each
``tiny_sd_distractor_train``  SD  (3,6) (6,3) — smoke tests                             64 each
``tiny_sd_distractor_test``   SD  (3,6) (6,3)                                           32 each
``quick_mqar_train``       MQAR   (kv, T) = (4, 32) (8, 64) (16, 128), all keys asked,   2,000 each
                                  context-first
``quick_mqar_test``        MQAR   the same sizes                                         200 each
``quick_mqar_orders_train`` MQAR  the quick sizes in both orders (context-first and      2,000 each
                                  queries-first)
``quick_mqar_orders_test``  MQAR  the same                                               200 each
=========================  =====  ====================================================  =========

"SD" presets serve ``kind="sd"`` and ``kind="sd_decision"``; the ``*_sd_distractor_*`` ones also
serve ``kind="sd_distractor"`` (every second set has at least 3 elements: the shared token and two
copies of the distractor). Vocabulary sizes that fit
them: :data:`PAPER_SD_VOCAB` (2048, the paper's), :data:`QUICK_VOCAB` (256) for the quick and
tiny presets. Ready-made configs: :func:`~synthetic.tasks.presets.paper_sd_config`,
:func:`~synthetic.tasks.presets.quick_sd_config`, :func:`~synthetic.tasks.presets.quick_mqar_config`.

In a config a preset is referenced by name (``"paper_sd_test"``) or as a table with an
example-count override applied to every segment (``{preset = "paper_sd_test", num_examples = 200}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "PAPER_SD_VOCAB",
    "PRESETS",
    "QUICK_VOCAB",
    "Preset",
    "preset_segments",
    "resolve_segments",
]

PAPER_SD_VOCAB = 2048
QUICK_VOCAB = 256


@dataclass(frozen=True)
class Preset:
    """A named list of segments (raw dicts, validated when a config is built)."""

    description: str
    task_family: str  # "sd" (kinds sd, sd_decision), "sd_distractor" (those and sd_distractor) or "mqar"
    segments: tuple[Mapping[str, Any], ...]


def _sd(pairs: list[tuple[int, int]], n: int) -> tuple[dict[str, int], ...]:
    return tuple({"size_a": a, "size_b": b, "num_examples": n} for a, b in pairs)


def _mqar(sizes: list[tuple[int, int]], n: int, orders: tuple[str, ...]) -> tuple[dict[str, Any], ...]:
    return tuple(
        {"num_kv_pairs": kv, "seq_len": t, "num_examples": n, "order": order}
        for order in orders
        for kv, t in sizes
    )


_PAPER_TRAIN = [(4, 16), (16, 4), (8, 32), (32, 8), (64, 16), (16, 64)]
_PAPER_TRAIN += [(4, 128), (128, 4), (16, 256), (256, 16), (4, 256), (256, 4)]
_PAPER_TEST = [(1, 32), (32, 1), (4, 32), (32, 4), (4, 128), (128, 4), (16, 256), (256, 16)]
_PAPER_TEST += [(4, 256), (256, 4), (16, 512), (512, 16), (4, 512), (512, 4), (8, 768), (768, 8)]
_PAPER_TEST += [(16, 768), (768, 16), (4, 768), (768, 4)]
_QUICK_SD = [(4, 16), (16, 4), (8, 32), (32, 8), (16, 64), (64, 16)]
_QUICK_DISTRACTOR = [(4, 16), (16, 4), (8, 32), (32, 8)]
_TINY_DISTRACTOR = [(3, 6), (6, 3)]
_QUICK_MQAR = [(4, 32), (8, 64), (16, 128)]
_BOTH_ORDERS = ("context-first", "queries-first")

PRESETS: dict[str, Preset] = {
    "paper_sd_train": Preset("paper App. B.1 SD train tuples, 20,000 each", "sd", _sd(_PAPER_TRAIN, 20_000)),
    "paper_sd_test": Preset("paper App. B.1 SD test tuples, 1,000 each", "sd", _sd(_PAPER_TEST, 1_000)),
    "quick_sd_train": Preset("small SD sizes for a CPU run", "sd", _sd(_QUICK_SD, 2_000)),
    "quick_sd_test": Preset(
        "quick SD sizes plus unseen splits of the same lengths",
        "sd",
        _sd([*_QUICK_SD, (4, 64), (64, 4), (1, 32), (32, 1)], 200),
    ),
    "tiny_sd_train": Preset("two tiny SD sizes for smoke tests", "sd", _sd([(2, 6), (6, 2)], 64)),
    "tiny_sd_test": Preset("two tiny SD sizes for smoke tests", "sd", _sd([(2, 6), (6, 2)], 32)),
    "quick_sd_distractor_train": Preset(
        "the sd_order quick sizes, room for a distractor", "sd_distractor", _sd(_QUICK_DISTRACTOR, 8_000)
    ),
    "quick_sd_distractor_test": Preset(
        "the sd_order quick sizes, room for a distractor", "sd_distractor", _sd(_QUICK_DISTRACTOR, 2_048)
    ),
    "tiny_sd_distractor_train": Preset(
        "two tiny sizes with room for a distractor, smoke tests", "sd_distractor", _sd(_TINY_DISTRACTOR, 64)
    ),
    "tiny_sd_distractor_test": Preset(
        "two tiny sizes with room for a distractor, smoke tests", "sd_distractor", _sd(_TINY_DISTRACTOR, 32)
    ),
    "quick_mqar_train": Preset(
        "small MQAR sizes, context-first", "mqar", _mqar(_QUICK_MQAR, 2_000, ("context-first",))
    ),
    "quick_mqar_test": Preset(
        "small MQAR sizes, context-first", "mqar", _mqar(_QUICK_MQAR, 200, ("context-first",))
    ),
    "quick_mqar_orders_train": Preset(
        "small MQAR sizes in both orders", "mqar", _mqar(_QUICK_MQAR, 2_000, _BOTH_ORDERS)
    ),
    "quick_mqar_orders_test": Preset(
        "small MQAR sizes in both orders", "mqar", _mqar(_QUICK_MQAR, 200, _BOTH_ORDERS)
    ),
}


def preset_segments(name: str, num_examples: int | None = None) -> tuple[dict[str, Any], ...]:
    """The segments of preset ``name`` as dicts (``num_examples`` overrides every segment's count).

    Raises ValueError for an unknown name (listing the known ones) or a bad ``num_examples``.
    """
    if name not in PRESETS:
        raise ValueError(f"preset={name!r} is not a known segment preset; known: {sorted(PRESETS)}")
    if num_examples is not None and (
        isinstance(num_examples, bool) or not isinstance(num_examples, int) or num_examples < 1
    ):
        raise ValueError(f"num_examples={num_examples!r} must be an integer >= 1")
    segs = PRESETS[name].segments
    if num_examples is None:
        return tuple(dict(s) for s in segs)
    return tuple({**s, "num_examples": num_examples} for s in segs)


def resolve_segments(value: Any, field: str = "segments") -> Any:
    """Expand a preset reference into a list of segment dicts; return other values unchanged.

    A reference is a preset name (str) or a mapping ``{"preset": name, "num_examples": n}``
    (``num_examples`` optional). Anything else (a list of segments) is left for validation.
    """
    if isinstance(value, str):
        try:
            return preset_segments(value)
        except ValueError as err:
            raise ValueError(f"{field}: {err}") from None
    if isinstance(value, Mapping):
        extra = sorted(set(value) - {"preset", "num_examples"})
        if "preset" not in value or extra:
            raise ValueError(
                f"{field}={dict(value)!r}: a preset reference takes the keys 'preset' and optionally "
                f"'num_examples' (unknown: {extra}, preset given: {'preset' in value})"
            )
        try:
            return preset_segments(value["preset"], value.get("num_examples"))
        except ValueError as err:
            raise ValueError(f"{field}: {err}") from None
    return value
