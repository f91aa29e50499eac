"""The analysis of one trained model as JSON-able numbers, to be stored with its run record.

:func:`mechanism_record` runs the copy intervention (summarised per slice and per order) and the
state probes on a model's SD test split and returns plain lists of dicts (floats, ints, strings),
the form a run record (``results/<experiment>/<profile>/runs.jsonl``) holds. It reads the model;
it never trains it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from synthetic.analysis.b_places import conv_reach, place_profile_table, place_zones
from synthetic.analysis.copy_rank import copy_rank_table
from synthetic.analysis.first_set_read import first_set_read_table, readable
from synthetic.analysis.intervention import (
    CHECKING_LOGITS,
    batch_tokens_from_env,
    checks_membership,
    copy_intervention,
    summarize_intervention,
)
from synthetic.analysis.matched import MATCHINGS, has_mirror_pairs, matched_order_effect
from synthetic.analysis.placement import placed_order_effect
from synthetic.analysis.positions import position_summary
from synthetic.analysis.probes import POINTS, probe_first_set
from synthetic.analysis.seen_before import seen_before_probe
from synthetic.analysis.states import check_language_model
from synthetic.tasks.data import Segment, SplitData

__all__ = ["RECORD_VERSION", "mechanism_record"]

#: bump when the fields of :func:`mechanism_record` change meaning (2: ``matched`` added;
#: 3: ``placed`` added; 4: ``probe_rule`` added, probes possibly only for models that check;
#: 5: ``seen_before`` added, run with the state probes; 6: ``by_position`` added; 7: ``first_set_read``
#: added, run with the state probes; 8: ``first_set_read`` reads the long-first slices too;
#: 9: ``copy_rank`` and ``b_places`` added, for every analysed model)
RECORD_VERSION = 9
#: when the state probes run (:func:`mechanism_record`'s ``probes``)
PROBE_RULES = ("always", "never", "checking")


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Records with plain Python scalars; NaN becomes None (JSON has no NaN)."""
    out = []
    for row in frame.to_dict(orient="records"):
        clean: dict[str, Any] = {}
        for key, value in row.items():
            value = value.item() if hasattr(value, "item") else value
            clean[str(key)] = None if isinstance(value, float) and math.isnan(value) else value
        out.append(clean)
    return out


def mechanism_record(
    model: nn.Module,
    data: SplitData | Segment | Iterable[Segment],
    *,
    seed: int = 0,
    probe_examples: int | None = 1024,
    probes: bool | str = True,
    probe_points: Sequence[str] = POINTS,
    first_set_examples: int = 256,
) -> dict[str, Any]:
    """``{"version", "batch_tokens", "intervention_by_slice", "intervention_by_order", "by_position",
    "matched", "placed", "copy_rank", "b_places", "probes", "seen_before", "first_set_read",
    "probe_rule"}``: ``batch_tokens`` the intervention's token budget a batch (None: batches of 256
    examples; :func:`~synthetic.analysis.intervention.batch_tokens_from_env`); the rows of
    :func:`~synthetic.analysis.intervention.summarize_intervention` by ``slice`` and by ``order``
    (logits) and of :func:`~synthetic.analysis.positions.position_summary` (accuracy and
    interaction by the quarter of A and of B that holds the shared token; from the same table), of
    :func:`~synthetic.analysis.matched.matched_order_effect` and of
    :func:`~synthetic.analysis.placement.placed_order_effect` per mirror pair of slices and
    matching (column, index; empty without mirror pairs; the places drawn with ``seed``), of
    :func:`~synthetic.analysis.copy_rank.copy_rank_table` (as trained) and of
    :func:`~synthetic.analysis.b_places.place_zones` of
    :func:`~synthetic.analysis.b_places.place_profile_table` (as trained and, for a model with
    short convolutions, with the separator hidden from them) on the first ``first_set_examples``
    examples of each one-pass segment (version 9 on), and of
    :func:`~synthetic.analysis.probes.probe_first_set` on at most ``probe_examples`` examples per
    segment (needs a :class:`~synthetic.model.LanguageModel`) and, with them, of
    :func:`~synthetic.analysis.seen_before.seen_before_probe` (after the first set, on the same
    examples) and of :func:`~synthetic.analysis.first_set_read.first_set_read_table` (the copy read
    against the state after the first set, on the first ``first_set_examples`` examples of each
    one-pass segment of either order, short-first rows where |A| < |B| (version 7: short-first
    only); causal linear-attention models only, else empty). ``probes``:
    True or "always", False or "never", or "checking": only when the model
    checks one set against the other (:func:`~synthetic.analysis.intervention.checks_membership`:
    its copies interact by more than :data:`~synthetic.analysis.intervention.CHECKING_LOGITS`
    logits in both orders); the record's ``probe_rule`` names the rule (with the threshold),
    ``probes``, ``seen_before`` and ``first_set_read`` are empty when they did not run. ``seconds``:
    the wall seconds each part took (``intervention``, ``matched``, ``placed``, ``copy_rank``,
    ``b_places``, and ``probes``, ``seen_before``, ``first_set_read`` where they ran), so that a
    record says where its analysis spent its time.
    ``probe_points``: where the state probes read the state
    (:data:`~synthetic.analysis.probes.POINTS`). Probes that fail leave ``probes`` empty and say
    why in ``probe_error`` (the seen-before probe: ``seen_before`` and ``seen_before_error``; the
    first-set read: ``first_set_read`` and ``first_set_read_error``); the rest is kept."""
    rule = ("always" if probes else "never") if isinstance(probes, bool) else probes
    if rule not in PROBE_RULES:
        raise ValueError(f"probes={probes!r}; allowed: True, False, {', '.join(map(repr, PROBE_RULES))}")
    segments = data if isinstance(data, SplitData | Segment) else list(data)
    clock = _Clock()
    batch_tokens = batch_tokens_from_env()
    table = copy_intervention(model, segments, seed=seed, batch_tokens=batch_tokens)
    by_order = summarize_intervention(table, ("order",))
    clock.lap("intervention")
    out: dict[str, Any] = {
        "version": RECORD_VERSION,
        "batch_tokens": batch_tokens,
        "intervention_by_slice": _rows(summarize_intervention(table, ("slice",))),
        "intervention_by_order": _rows(by_order),
        "by_position": _rows(position_summary(table)),
        "matched": _matched_rows(table),
    }
    clock.lap("matched")
    out["placed"] = _placed_rows(model, segments, table, seed)
    clock.lap("placed")
    out["copy_rank"] = _rows(copy_rank_table(model, segments, max_examples=first_set_examples))
    clock.lap("copy_rank")
    out["b_places"] = _place_rows(model, segments, first_set_examples)
    clock.lap("b_places")
    out.update(probes=[], seen_before=[], first_set_read=[])
    out["probe_rule"] = (
        f"checking (interaction > {CHECKING_LOGITS:g} logits in both orders)" if rule == "checking" else rule
    )
    if rule == "always" or (rule == "checking" and checks_membership(by_order)):
        language_model = check_language_model(model)
        try:  # the probes fail alone: the intervention's numbers above stay in the record
            out["probes"] = _rows(
                probe_first_set(
                    language_model, segments, points=probe_points, seed=seed, max_examples=probe_examples
                )
            )
        except Exception as err:
            out["probe_error"] = f"{type(err).__name__}: {err}"
        clock.lap("probes")
        try:  # the model's own read of each set token after the first set
            out["seen_before"] = _rows(
                seen_before_probe(language_model, segments, seed=seed, max_examples=probe_examples)
            )
        except Exception as err:
            out["seen_before_error"] = f"{type(err).__name__}: {err}"
        clock.lap("seen_before")
        if readable(language_model):
            try:  # the copy read against A alone (causal models)
                out["first_set_read"] = _rows(
                    first_set_read_table(
                        language_model, segments, max_examples=first_set_examples, order="both"
                    )
                )
            except Exception as err:
                out["first_set_read_error"] = f"{type(err).__name__}: {err}"
            clock.lap("first_set_read")
    out["seconds"] = clock.laps
    return out


class _Clock:
    """Wall seconds of each part of an analysis, in the order they ran (``laps``: part -> s, rounded
    to 0.01 s), each from the end of the part before. On a GPU a part's time includes waiting for
    its kernels only where the part reads results back to the host (every part here does)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, part: str) -> None:
        now = time.perf_counter()
        self.laps[part] = round(now - self._last, 2)
        self._last = now


def _matched_rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    """:func:`matched_order_effect` under both matchings, one row per mirror pair and matching."""
    if not has_mirror_pairs(table):
        return []
    frames = [matched_order_effect(table, m).assign(matching=m) for m in MATCHINGS]
    return _rows(pd.concat(frames, ignore_index=True))


def _placed_rows(
    model: nn.Module, segments: SplitData | Segment | list[Segment], table: pd.DataFrame, seed: int
) -> list[dict[str, Any]]:
    """:func:`placed_order_effect` under both placements, one row per mirror pair and placement."""
    if not has_mirror_pairs(table):
        return []
    seg_list = [segments] if isinstance(segments, Segment) else segments
    # the answers as generated come from the intervention's table (the same examples, the same
    # batches), and both matchings share one call: the forward passes the two would repeat run once
    correct = {}
    for name, g in table.groupby("slice"):
        if not np.array_equal(np.sort(g.example.to_numpy()), np.arange(len(g))):
            raise ValueError(f"slice {name!r} of the intervention table is not one segment's examples 0..n-1")
        correct[str(name)] = g.sort_values("example").correct.to_numpy()
    frame = placed_order_effect(model, seg_list, MATCHINGS, seed=seed, correct=correct)
    order = {m: i for i, m in enumerate(MATCHINGS)}
    frame = frame.sort_values("matching", key=lambda col: col.map(order), kind="stable")
    return _rows(frame.reset_index(drop=True))


def _place_rows(
    model: nn.Module, segments: SplitData | Segment | list[Segment], max_examples: int
) -> list[dict[str, Any]]:
    """:func:`place_zones` of the model's place profile as trained and, where it has short
    convolutions, with the separator hidden from them."""
    reach = conv_reach(model)
    readings = (False, True) if reach > 0 else (False,)
    frames = [
        place_profile_table(model, segments, max_examples=max_examples, hide_separator=hide)
        for hide in readings
    ]
    return _rows(place_zones(pd.concat(frames, ignore_index=True), reach))
