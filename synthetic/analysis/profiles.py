"""Accuracy and evidence by the shared token's position: primacy and recency profiles.

From :func:`synthetic.analysis.intervention.copy_intervention`'s table: for the copy in the first
set (``which="first"``) or in the second (``which="second"``), group the examples by that copy's
index in its set and report the accuracy of the unedited examples and the copy's evidence (its
gain in the shared token's logit: ``gain_first`` / ``gain_second`` of
:func:`~synthetic.analysis.intervention.effects`, with the other copy present). A profile that
falls with the index is primacy, one that rises is recency. Indices count from the start of the
set (``position``) and from its end (``from_end = size - 1 - position``), so profiles of sets of
different sizes can be lined up either way.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from synthetic.analysis.intervention import summarize_intervention

__all__ = ["SETS", "position_profile"]

#: which copy a profile follows: the one in the first set (A) or in the second (B)
SETS: tuple[str, ...] = ("first", "second")


def position_profile(
    table: pd.DataFrame, which: str = "first", by: Sequence[str] = ("slice",), *, measure: str = "logit"
) -> pd.DataFrame:
    """Per group of ``by`` (and of the set sizes ``size_a``, ``size_b``, always) and per index of
    the ``which`` copy in its set: ``position``,
    ``from_end``, ``n``, ``accuracy`` (``accuracy_se``), ``gain`` (``gain_se``: the standard error
    of the mean over examples) and ``gain_alone`` (``gain_alone_se``: the copy's evidence with the
    other copy replaced). Units: logits (nats for ``measure="logprob"``)."""
    if which not in SETS:
        raise ValueError(f"which={which!r} is not one of {', '.join(SETS)}")
    size = "size_a" if which == "first" else "size_b"
    groups = [*dict.fromkeys([*by, "size_a", "size_b"])]
    summary = summarize_intervention(table, [*groups, f"pos_{which}"], measure=measure)
    out = summary[groups].copy()
    out["position"] = summary[f"pos_{which}"]
    out["from_end"] = summary[size] - 1 - summary[f"pos_{which}"]
    for name in ("n", "accuracy", "accuracy_se"):
        out[name] = summary[name]
    for suffix in ("", "_se"):
        out[f"gain{suffix}"] = summary[f"gain_{which}{suffix}"]
        out[f"gain_alone{suffix}"] = summary[f"gain_{which}_alone{suffix}"]
    return out.reset_index(drop=True)
