"""The logit a model gives each place of B, apart from membership: where its wrong answers come from.

Long first, the causal models of the checking profile answer a token early in B far more often
than one late in B, and the answer stays with the place when the token is replaced
(:mod:`synthetic.analysis.wrong_answers`). :func:`place_profile_table` measures that preference
directly: at the answer column, the logit of the token at each index of B that is *not* the shared
token's copy, centred on the mean logit of the example's other B tokens (so a flat profile is 0
everywhere, and membership plays no part: none of these tokens is in A). Beside each index it gives
its distance from the separator (``from_separator``: index + 1) and to the answer column
(``to_answer``: |B| - index), and the share of the examples answered with the token there.

:func:`conv_reach` is how far the model's short convolutions carry a token along the sequence: the
sum over its :class:`~synthetic.layers.base_conv.BaseConv` layers of ``kernel_size - 1`` columns
(two layers of 3 taps: 4). A token of B within that reach of the separator (or of the answer
column) is the only kind whose representation can hold the separator (or be held at the answer
column) through the convolutions alone; the linear-attention layers see every column.
:func:`separator_hidden_from_convs` tests that reading: inside it the convolutions carry nothing of
the separator's column to the columns after it (``place_profile_table(..., hide_separator=True)``):
they see A's last token there instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext

import numpy as np
import pandas as pd
import torch
from torch import nn

from synthetic.analysis.first_set_read import first_examples
from synthetic.analysis.intervention import mean_and_se
from synthetic.analysis.readout import final_logits
from synthetic.analysis.sd_layout import segments_of, shared_copies
from synthetic.layers.base import causal_depthwise_conv
from synthetic.layers.base_conv import BaseConv
from synthetic.tasks._checks import check_int
from synthetic.tasks.data import Segment, SplitData

__all__ = [
    "PLACE_COLUMNS",
    "ZONES",
    "centred_place_logits",
    "conv_reach",
    "place_profile_table",
    "place_zones",
    "separator_hidden_from_convs",
    "zone_of",
]

#: the columns of :func:`place_profile_table`
PLACE_COLUMNS = ["slice", "size_a", "size_b", "separator", "examples", "accuracy", "index", "from_separator",
                 "to_answer", "n", "logit", "logit_se", "answered"]  # fmt: skip

#: how :func:`place_profile_table` names the separator's treatment
SEPARATOR = {False: "as trained", True: "hidden from the convolutions"}

#: the zones of B :func:`zone_of` names: within the convolutions' reach of the separator, within it
#: of the answer column (and not of the separator), and the rest
ZONES = ("after the separator", "before the answer", "between")


def conv_reach(model: nn.Module) -> int:
    """Columns a token travels through the model's short convolutions alone: the sum over its
    :class:`~synthetic.layers.base_conv.BaseConv` modules of ``kernel_size - 1`` (0 without any)."""
    return sum(m.kernel_size - 1 for m in model.modules() if isinstance(m, BaseConv))


@contextmanager
def separator_hidden_from_convs(model: nn.Module, column: int) -> Iterator[nn.Module]:
    """Inside the block, every :class:`~synthetic.layers.base_conv.BaseConv` of ``model`` computes
    its output at every column but ``column`` as if its input at ``column`` were its input at
    ``column - 1`` (for the separator: A's last token, read twice), so nothing of the token at
    ``column`` reaches a later column through a short convolution. Every output up to ``column``
    is unchanged, so the linear-attention layers still read the token there. Parallel
    forwards only (a layer's ``step`` is not hooked); the hooks are removed on exit.

    Raises ValueError for a column < 1 or a model without a short convolution."""
    column = check_int("column", column, 1)
    convs = [m for m in model.modules() if isinstance(m, BaseConv)]
    if not convs:
        raise ValueError("the model has no BaseConv layer whose input could be hidden")

    def hide(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
        assert isinstance(module, BaseConv)
        x = inputs[0]  # [B, T, D]
        if x.shape[1] <= column:
            return output
        hidden = x.clone()
        hidden[:, column] = x[:, column - 1]
        y = module.projection(x) * causal_depthwise_conv(hidden, module.filter, module.conv_bias)
        own = torch.arange(x.shape[1], device=x.device) == column
        return torch.where(own[None, :, None], output, y)

    handles = [conv.register_forward_hook(hide) for conv in convs]
    try:
        yield model
    finally:
        for handle in handles:
            handle.remove()


def centred_place_logits(logits: np.ndarray, second_set: np.ndarray, copy_index: np.ndarray) -> np.ndarray:
    """float64 ``[n_ex, |B|]``: the logit of the token at each index of B, minus the mean over the
    example's B tokens other than the copy; NaN at the copy's index. ``logits`` ``[n_ex, V]``,
    ``second_set`` int ``[n_ex, |B|]``, ``copy_index`` int ``[n_ex]`` (the copy's index in B).

    Raises ValueError for shapes that do not line up, a copy index outside B, or |B| < 2 (no token
    other than the copy)."""
    logits, second_set, copy_index = np.asarray(logits), np.asarray(second_set), np.asarray(copy_index)
    if logits.ndim != 2 or second_set.ndim != 2 or copy_index.shape != (logits.shape[0],) \
            or second_set.shape[0] != logits.shape[0]:  # fmt: skip
        raise ValueError(
            f"logits must be [n_ex, V], second_set [n_ex, |B|] and copy_index [n_ex]; got {logits.shape}, "
            f"{second_set.shape} and {copy_index.shape}"
        )
    size_b = second_set.shape[1]
    if size_b < 2:
        raise ValueError(f"|B|={size_b}: a place profile needs a B token other than the copy")
    if copy_index.size and (copy_index.min() < 0 or copy_index.max() >= size_b):
        raise ValueError(f"copy_index must lie in 0 .. {size_b - 1} (indices in B)")
    picked = np.take_along_axis(logits, second_set, axis=1).astype(np.float64)
    is_copy = np.arange(size_b)[None, :] == copy_index[:, None]
    picked[is_copy] = np.nan
    return picked - np.nanmean(picked, axis=1, keepdims=True)


def place_profile_table(
    model: nn.Module,
    data: SplitData | Segment | Iterable[Segment],
    *,
    slices: Iterable[tuple[int, int]] | None = None,
    max_examples: int | None = None,
    hide_separator: bool = False,
    batch_size: int = 256,
) -> pd.DataFrame:
    """One row per one-pass SD segment of ``data`` with |B| >= 2 (only the (|A|, |B|) pairs in ``slices`` when
    given) and index of B: :data:`PLACE_COLUMNS`, i.e. ``slice``, ``size_a``, ``size_b``, ``separator``
    (:data:`SEPARATOR`), ``examples`` and ``accuracy`` (the segment's, on every row of it), ``index``,
    ``from_separator``, ``to_answer``, ``n`` (examples whose copy is elsewhere), ``logit`` (mean over them of
    :func:`centred_place_logits`) with its standard error over examples, and ``answered`` (the share of those
    examples whose answer, the argmax over the vocabulary, is the token at the index; where the token occurs
    at several places, as the distractor of task ``sd_distractor`` does, the answer counts at the first). On
    the first ``max_examples`` examples of each segment (all when None); with ``hide_separator`` the model
    reads each segment inside :func:`separator_hidden_from_convs` at the separator's column."""
    if max_examples is not None:
        check_int("max_examples", max_examples, 1)
    check_int("batch_size", batch_size, 1)
    wanted = None if slices is None else {tuple(pair) for pair in slices}
    rows = []
    for segment in segments_of(data):
        copies = shared_copies(segment)
        pair = (copies.size_a, copies.size_b)
        if copies.passes != 1 or copies.size_b < 2 or (wanted is not None and pair not in wanted):
            continue
        if max_examples is not None:
            copies = first_examples(copies, max_examples)
        column = copies.separator_col
        with separator_hidden_from_convs(model, column) if hide_separator else nullcontext():
            logits = final_logits(model, copies.inputs, copies.prefix_len, batch_size=batch_size)
        accuracy = float((logits.argmax(axis=1) == copies.shared).mean())
        second = copies.second_set()
        centred = centred_place_logits(logits, second, copies.second_index)
        hit = second == logits.argmax(axis=1)[:, None]
        answered = np.zeros_like(hit)  # at the first place holding the answer (a distractor repeats)
        answered[np.arange(len(hit)), hit.argmax(axis=1)] = hit.any(axis=1)
        for index in range(copies.size_b):
            kept = copies.second_index != index
            values = centred[kept, index]
            n = int(kept.sum())
            mean, se = mean_and_se(pd.Series(values))
            share = float(answered[kept, index].mean()) if n else float("nan")
            rows.append((copies.name, *pair, SEPARATOR[hide_separator], copies.num_examples, accuracy, index,
                         index + 1, copies.size_b - index, n, mean, se, share))  # fmt: skip
    return pd.DataFrame(rows, columns=PLACE_COLUMNS)


def zone_of(from_separator: np.ndarray, to_answer: np.ndarray, reach: int) -> np.ndarray:
    """Each place's zone of B (:data:`ZONES`) for a model whose convolutions carry a token
    ``reach`` columns (:func:`conv_reach`): str ``[n]``; the separator's reach comes first."""
    near_separator = np.asarray(from_separator) <= reach
    near_answer = (np.asarray(to_answer) <= reach) & ~near_separator
    return np.select([near_separator, near_answer], list(ZONES[:2]), ZONES[2])


def place_zones(table: pd.DataFrame, reach: int) -> pd.DataFrame:
    """Rows of :func:`place_profile_table` -> one row per (slice, separator, zone) present:
    ``slice``, ``size_a``, ``size_b``, ``separator``, ``accuracy``, ``zone``, ``logit`` (the
    zone's mean centred logit, its places' means weighted by ``n``) and ``answers`` (the share of
    the slice's examples answered with a B token of the zone other than the copy)."""
    check_int("reach", reach, 0)
    zones = zone_of(table.from_separator.to_numpy(), table.to_answer.to_numpy(), reach)
    work = table.assign(zone=zones, drawn=table.answered * table.n, weighted=table.logit * table.n)
    keys = ["slice", "size_a", "size_b", "separator", "accuracy", "zone"]
    grouped = work.groupby(keys, sort=False).agg(
        drawn=("drawn", "sum"), weighted=("weighted", "sum"), n=("n", "sum"), examples=("examples", "first")
    )
    grouped["logit"] = grouped.weighted / grouped.n
    grouped["answers"] = grouped.drawn / grouped.examples
    return grouped[["logit", "answers"]].reset_index()
