"""Read the shared token's second copy against the state after the first set alone.

A causal model that checks membership meets the shared token's copy in B after A and the B tokens
before it have all been written into the same linear-attention states. Its accuracy falls with the
number of those B tokens (``bench/accuracy_by_position.py``): either the check at the copy is
worse against a state that holds more than A, or the result of the check fades on its way to the
answer. This intervention separates the two. The model reads the prompt as it was trained to (its layers'
parallel forms, equal to their left-to-right recurrent reads); at the copy's column, and there
only, every linear-attention layer computes its output from its state after the first set (the
separator column: A alone, plus the copy's own key and value as a step adds them) instead of its
current state. The states the later tokens read are the usual ones, updated with the copy as
always. If the check itself degrades with the B tokens in
the state, this read restores the accuracy of late copies; if the result fades afterwards, it
does not.

Causal models only (the recurrent form reads left to right); a mixer that is not a
:class:`~synthetic.layers.linear_attention.TaylorLinearAttention` (BaseConv's short convolution)
keeps its own state.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import torch

from synthetic.analysis.matched import binomial_se
from synthetic.analysis.positions import position_part
from synthetic.analysis.readout import evaluating, final_logits, model_device
from synthetic.analysis.sd_layout import SharedCopies, segments_of, shared_copies
from synthetic.layers.linear_attention import TaylorLinearAttention
from synthetic.model import LanguageModel
from synthetic.tasks._checks import check_int
from synthetic.tasks.data import Segment, SplitData

__all__ = [
    "ORDERS",
    "SWAP_AT",
    "WAYS",
    "answers_with_first_set_read",
    "first_examples",
    "first_set_read_table",
    "linear_attention_layers",
    "logits_with_first_set_read",
    "mirror_pair_gaps",
    "pooled_accuracy_and_fall",
    "readable",
    "swapped_index",
]


#: where the swap happens: at the shared token's copy in B, at another B token (the control: the
#: token |B| // 2 places further on in B, cyclically), or nowhere (the prompt read unchanged)
SWAP_AT = ("copy", "other", "none")


#: which one-pass slices :func:`first_set_read_table` reads: the short set first (|A| < |B|), the
#: long set first (|A| > |B|), or both
ORDERS = ("short-first", "long-first", "both")


#: the three ways :func:`first_set_read_table` answers each example: the parallel forward, the swap at
#: the copy, the swap at another B token (the control)
WAYS = ("as trained", "copy reads A alone", "other token reads A alone")


def swapped_index(copies: SharedCopies, swap_at: str) -> np.ndarray:
    """The index in B of the token whose read is swapped, per example: int64 ``[n_ex]`` (the
    copy's for ``copy`` and ``none``, |B| // 2 places on, cyclically, for ``other``)."""
    if swap_at == "other":
        return (copies.second_index + copies.size_b // 2) % copies.size_b
    return copies.second_index


def linear_attention_layers(model: LanguageModel) -> list[int]:
    """The indices of the model's blocks whose mixer is a linear-attention layer."""
    return [i for i, b in enumerate(model._block_list) if isinstance(b.mixer, TaylorLinearAttention)]


def readable(model: LanguageModel) -> bool:
    """Whether :func:`logits_with_first_set_read` can read ``model``: at least one linear-attention
    layer, and all of them causal."""
    blocks = model._block_list
    layers = linear_attention_layers(model)
    return bool(layers) and all(getattr(blocks[i].mixer, "causal", True) for i in layers)


def first_examples(copies: SharedCopies, n: int) -> SharedCopies:
    """The first ``n`` examples of ``copies`` (all of them when it has fewer)."""
    check_int("n", n, 1)
    return copies.take(np.arange(min(n, copies.num_examples)))


def first_set_read_table(
    model: LanguageModel,
    data: SplitData | Segment | Iterable[Segment],
    *,
    slices: Sequence[tuple[int, int]] | None = None,
    max_examples: int = 256,
    parts: int = 4,
    order: str = "short-first",
) -> pd.DataFrame:
    """Accuracy by the part of B that holds the copy, each of :data:`WAYS`, on the one-pass
    segments of ``data`` of the given ``order`` (:data:`ORDERS`: ``short-first`` |A| < |B|,
    ``long-first`` |A| > |B|, or ``both``; only the (|A|, |B|) pairs in ``slices`` when given),
    their first ``max_examples`` examples: one row per (slice, way, part) with ``slice``,
    ``size_a``, ``size_b``, ``way``, ``part`` (0 .. parts - 1; ``quarter`` in older CSVs), ``n``
    (examples), ``accuracy`` (NaN where ``n`` is 0) and ``accuracy_se`` (binomial,
    sqrt(acc (1 - acc) / n)). Empty (with those columns) when no segment qualifies.

    Long first, B is short (1-16 elements at the paper's pairs): the copy has at most |B| - 1 B
    tokens before it, so the swap measures the check against a state that holds the long first set;
    where |B| = 1 the control's token (|B| // 2 places on) is the copy itself.

    Raises ValueError for a model :func:`readable` refuses, or an ``order`` not in :data:`ORDERS`."""
    check_int("max_examples", max_examples, 1)
    check_int("parts", parts, 1)
    if order not in ORDERS:
        raise ValueError(f"order={order!r}; allowed: {', '.join(ORDERS)}")
    if not readable(model):
        raise ValueError("the first-set read needs a model with causal linear-attention layers only")
    wanted = None if slices is None else {tuple(pair) for pair in slices}
    rows = []
    for segment in segments_of(data):
        copies = shared_copies(segment)
        taken = {"short-first": copies.size_a < copies.size_b, "long-first": copies.size_a > copies.size_b}
        if copies.passes != 1 or not taken.get(order, copies.size_a != copies.size_b):
            continue
        if wanted is not None and (copies.size_a, copies.size_b) not in wanted:
            continue
        copies = first_examples(copies, max_examples)
        answers = {
            WAYS[0]: final_logits(model, copies.inputs, copies.prefix_len).argmax(1),
            WAYS[1]: answers_with_first_set_read(model, copies, swap_at="copy"),
            WAYS[2]: answers_with_first_set_read(model, copies, swap_at="other"),
        }
        part = position_part(copies.second_index, copies.size_b, parts)
        for way, answer in answers.items():
            right = np.asarray(answer) == copies.shared
            for q in range(parts):
                chosen = part == q
                n = int(chosen.sum())
                acc = float(right[chosen].mean()) if n else float("nan")
                rows.append((copies.name, copies.size_a, copies.size_b, way, q, n, acc, binomial_se(acc, n)))
    columns = ["slice", "size_a", "size_b", "way", "part", "n", "accuracy", "accuracy_se"]
    return pd.DataFrame(rows, columns=columns)


def pooled_accuracy_and_fall(rows: pd.DataFrame, part: str = "part") -> tuple[float, float]:
    """One model's rows of one way of :func:`first_set_read_table` (``part`` names the column of
    the part of B; older CSVs call it ``quarter``) -> (its accuracy, examples pooled over the slices
    and parts; its fall from B's first part to its last, mean over the slices)."""
    counted = rows[rows.n > 0]
    accuracy = float((counted.accuracy * counted.n).sum() / counted.n.sum())
    by_slice = rows.set_index("slice")
    first = by_slice[by_slice[part] == 0].accuracy
    last = by_slice[by_slice[part] == rows[part].max()].accuracy
    return accuracy, float((first - last).mean())


def mirror_pair_gaps(rows: pd.DataFrame, column: str = "accuracy") -> pd.Series:
    """One model's rows of one way of :func:`first_set_read_table` (or of one read of
    :func:`~synthetic.analysis.copy_rank.copy_rank_table`) -> short-first minus long-first
    ``column`` (each slice's rows pooled, weighted by ``n``) per mirror pair read in both orders,
    indexed by (``short``, ``long``): the two set sizes whichever comes first. Empty when no pair
    was read both ways; a pair whose ``column`` is NaN in either order is left out."""
    counted = rows[(rows.n > 0) & rows[column].notna()]
    total = (counted[column] * counted.n).groupby([counted.size_a, counted.size_b]).sum()
    value = total / counted.groupby([counted.size_a, counted.size_b]).n.sum()
    gaps = {(a, b): value[(a, b)] - value[(b, a)] for a, b in value.index if a < b and (b, a) in value.index}
    pairs = sorted(gaps)
    index = pd.MultiIndex.from_arrays([[a for a, _ in pairs], [b for _, b in pairs]], names=["short", "long"])
    return pd.Series([gaps[k] for k in pairs], index=index, name="gap", dtype=float)


def answers_with_first_set_read(
    model: LanguageModel,
    copies: SharedCopies,
    *,
    swap_at: str = "copy",
    layers: Sequence[int] | None = None,
    batch_size: int = 256,
) -> np.ndarray:
    """The model's answer (argmax of :func:`logits_with_first_set_read`) for every example:
    int64 ``[n_ex]``."""
    logits = logits_with_first_set_read(model, copies, swap_at=swap_at, layers=layers, batch_size=batch_size)
    return logits.argmax(1)


def logits_with_first_set_read(
    model: LanguageModel,
    copies: SharedCopies,
    *,
    swap_at: str = "copy",
    layers: Sequence[int] | None = None,
    batch_size: int = 256,
) -> np.ndarray:
    """The model's logits at the last column for every example of a one-pass SD segment:
    float64 ``[n_ex, V]`` (computed in the model's dtype).

    ``swap_at`` (:data:`SWAP_AT`): ``copy``: at the column of the shared token's copy in B, the
    linear-attention layers read from their state after the separator (see the module docstring);
    ``other``: the same at another token of B, |B| // 2 places from the copy (cyclically; for
    |B| = 1 the copy itself), which the check does not need; ``none``: the prompt
    unchanged (the parallel forward). ``layers``: the block indices
    whose read is swapped (:func:`linear_attention_layers`; default all of them), to find which
    layer's state the check needs clean.

    Raises ValueError for a multi-pass segment, a model with no linear-attention layer, a layer
    index that is not one, and a non-causal linear-attention layer (its output is not a
    left-to-right read)."""
    check_int("batch_size", batch_size)
    if copies.num_examples == 0:
        raise ValueError(f"segment {copies.name} has no examples")
    if swap_at not in SWAP_AT:
        raise ValueError(f"swap_at={swap_at!r}; allowed: {', '.join(SWAP_AT)}")
    if copies.passes != 1:
        raise ValueError(f"copies.passes={copies.passes}: the swap is defined for one-pass prompts only")
    blocks = model._block_list
    available = linear_attention_layers(model)
    if not available:
        raise ValueError("the model has no linear-attention layer whose state could be swapped")
    chosen = available if layers is None else list(layers)
    wrong = [i for i in chosen if i not in available]
    if wrong or not chosen:
        raise ValueError(f"layers={list(chosen)}; allowed: a non-empty subset of {available}")
    swapped = [i in chosen for i in range(len(blocks))]
    for i in available:
        if not getattr(blocks[i].mixer, "causal", True):
            raise ValueError("a non-causal linear-attention layer cannot be read token by token")
    separator = 1 + copies.size_a  # START, A, then SEP: the state after it holds A alone
    copy_cols = separator + 1 + swapped_index(copies, swap_at)  # B starts right after SEP
    device = model_device(model)
    out = []
    with evaluating(model), torch.no_grad():
        for start in range(0, copies.num_examples, batch_size):
            ids = torch.tensor(copies.inputs[start : start + batch_size], device=device)
            cols = torch.tensor(copy_cols[start : start + batch_size], device=device)
            swap = None if swap_at == "none" else cols
            out.append(_last_logits(model, blocks, swapped, ids, separator, swap).double().cpu().numpy())
    return np.concatenate(out)


def _last_logits(
    model: LanguageModel,
    blocks: list,
    swapped: list[bool],
    ids: torch.Tensor,
    separator: int,
    copy_cols: torch.Tensor | None,
) -> torch.Tensor:
    """ids [B, T] -> the logits [B, V] at the last column; with ``copy_cols`` [B] the swap at those
    columns. Each block runs in its parallel form (equal to its token-by-token read, the mixers'
    contract); a swapped layer's output at row b's column ``copy_cols[b]`` is then replaced by
    its step from its state after the separator (its prefill of the columns up to it), and the
    blocks above read the changed column, as the token-by-token read with the swap gives them."""
    h = model.embedding(ids)  # [B, T, D]
    rows = torch.arange(ids.shape[0], device=ids.device)
    for block, swap in zip(blocks, swapped, strict=True):
        x = block.norm1(h)
        y = block.mixer(x)
        if copy_cols is not None and swap:
            _, after_first = block.mixer.prefill(x[:, : separator + 1])  # A alone
            y_first, _ = block.mixer.step(x[rows, copy_cols], after_first)  # A alone, plus this token
            y = y.index_put((rows, copy_cols), y_first.to(y.dtype))
        h = block._mlp(h + y)
    return model._head(h[:, -1])
