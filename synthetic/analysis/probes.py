"""Probes of the recurrent state: how much of the first set can be read from it.

For every SD segment, every probe point (``"separator"``: the state after the first pass's
separator, when A has been read and B not yet; ``"end"``: after the whole input, answer token
included) and every tensor of every layer's state (:mod:`synthetic.analysis.states`: Based's
``kv`` and ``z``, BaseConv's ``window``, ..., and the whole state), a linear probe is fitted on
half of the examples to predict which set tokens are in A, and scored on the other half:

* ``auc``: per held-out example, the probability that a token of A scores above a set token not
  in A (ties count 1/2), averaged over examples (0.5: nothing decoded, 1: A told apart from
  every other token);
* ``auc_vs_second``: the same against B's tokens only (at the end, where B has been read too: does
  the state tell the two sets apart, or only hold their union?);
* ``recall``: the fraction of A among the |A| top-scoring tokens (chance: ``chance_recall`` =
  |A| / n);
* ``info_bits``: the bits about A the probe's top-|A| set recovers
  (:func:`synthetic.analysis.information.decoded_set_bits`, a lower bound on what the state
  holds), beside ``first_set_bits`` = log2 C(n, |A|) and ``bound_bits``, the exact one-pass
  bound of :mod:`sdtheory.bounds` at the same sizes.

n is the number of set tokens, ``V - 4``. The probe is ridge regression in closed form
(:func:`fit_ridge`: standardised features, the ridge chosen by exact leave-one-out error on the
fitting half), fitted and scored in float64 on the model's device. It is fitted to the analysis'
own split of a test segment; the model is only read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from synthetic.analysis.information import decoded_set_bits, first_set_bits, one_pass_bound_bits
from synthetic.analysis.intervention import mean_and_se
from synthetic.analysis.sd_layout import SharedCopies, check_vocab, segments_of, shared_copies
from synthetic.analysis.states import check_language_model, state_feature_tensors
from synthetic.model import LanguageModel
from synthetic.tasks._checks import check_int
from synthetic.tasks.config import stable_digest
from synthetic.tasks.data import Segment, SplitData
from synthetic.tasks.tokens import sd_set_range

__all__ = [
    "POINTS",
    "RIDGE_GRID",
    "Array",
    "RidgeProbe",
    "as_float64",
    "fit_ridge",
    "probe_first_set",
    "rowwise_auc",
    "standardised_columns",
    "top_k_hits",
]

#: where the state is read: after the first pass's separator, or after the whole input
POINTS: tuple[str, ...] = ("separator", "end")
#: ridge strengths tried, relative to the mean eigenvalue of the fitting half's Gram matrix
RIDGE_GRID: tuple[float, ...] = tuple(float(r) for r in np.logspace(-6, 3, 10))
#: rows of held-out examples compared at once by :func:`_rowwise_auc_pairs` (memory only)
_AUC_ROWS = 256


#: an array the probes take: numpy or a torch tensor (on any device)
Array = np.ndarray | torch.Tensor


def as_float64(x: Array, device: torch.device | None = None) -> torch.Tensor:
    """``x`` as a float64 tensor on ``device`` (default: where it is; numpy: the CPU)."""
    t = torch.as_tensor(x)
    return t.to(device=t.device if device is None else device, dtype=torch.float64)


def standardised_columns(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mean, scale, keep, z) of features x float64 [rows, features]: the column means and
    standard deviations, which columns vary (``keep``: scale above 1e-12 of the largest mean, at
    least 1e-12), and those columns standardised, z [rows, kept]. The ridges' shared first step."""
    mean, scale = x.mean(dim=0), x.std(dim=0, correction=0)
    keep = scale > 1e-12 * max(1.0, float(mean.abs().max()) if mean.numel() else 0.0)
    return mean, scale, keep, (x[:, keep] - mean[keep]) / scale[keep]


@dataclass(frozen=True, eq=False)
class RidgeProbe:
    """A linear map from standardised features to targets, fitted by :func:`fit_ridge`. Float64
    tensors on the device the features were fitted on:

    mean, scale  [features]: the fitting features' column means and standard deviations (columns
                 that are constant there have ``keep`` False and are not read)
    basis        [fit rows, kept features]: the standardised fitting features
    alpha        [fit rows, targets]: the dual coefficients; ``offset`` [targets]: the target means
    ridge        the chosen ridge strength (relative to the mean Gram eigenvalue)
    """

    mean: torch.Tensor
    scale: torch.Tensor
    keep: torch.Tensor
    basis: torch.Tensor
    alpha: torch.Tensor
    offset: torch.Tensor
    ridge: float

    def predict(self, x: Array) -> Array:
        """Scores [rows, targets] for features x [rows, features]: numpy for numpy, else a float64
        tensor on the probe's device."""
        if x.ndim != 2 or x.shape[1] != self.mean.numel():
            raise ValueError(f"x must be [rows, {self.mean.numel()}]; got {tuple(x.shape)}")
        xt = as_float64(x, self.mean.device)
        if self.basis.shape[1] == 0:
            out = self.offset.expand(xt.shape[0], self.offset.numel()).clone()
        else:
            z = (xt[:, self.keep] - self.mean[self.keep]) / self.scale[self.keep]
            out = (z @ self.basis.T / self.basis.shape[1]) @ self.alpha + self.offset
        return out.cpu().numpy() if isinstance(x, np.ndarray) else out


def fit_ridge(x: Array, y: Array, ridges: Sequence[float] = RIDGE_GRID) -> RidgeProbe:
    """Ridge regression of targets y [rows, targets] on features x [rows, features], in the dual
    (the rows x rows Gram matrix of the standardised features, divided by their number), with the
    ridge strength among ``ridges`` (times the Gram matrix's mean eigenvalue) that has the least
    exact leave-one-out squared error, summed over targets (the first such). Needs rows >= 2.
    Computed in float64 where x is (a tensor's device; numpy: the CPU)."""
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0] or x.shape[0] < 2:
        raise ValueError(
            f"x must be [rows, features] and y [rows, targets] with the same rows >= 2; "
            f"got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if not ridges or any(not np.isfinite(r) or r <= 0 for r in ridges):
        raise ValueError(f"ridges={list(ridges)} must be a non-empty list of finite numbers > 0")
    xt = as_float64(x)
    yt = as_float64(y, xt.device)
    mean, scale, keep, basis = standardised_columns(xt)
    offset = yt.mean(dim=0)
    yc = yt - offset
    if basis.shape[1] == 0:
        return RidgeProbe(mean, scale, keep, basis, torch.zeros_like(yc), offset, float(ridges[0]))
    eig, vec = torch.linalg.eigh(basis @ basis.T / basis.shape[1])
    eig = eig.clamp(min=0.0)
    level = max(float(eig.mean()), 1e-300)
    proj = vec.T @ yc  # [N, m]
    strengths = torch.tensor([float(r) for r in ridges], dtype=torch.float64, device=xt.device)
    shrink = eig / (eig + strengths[:, None] * level)  # [ridges, N]
    fitted = torch.einsum("nk,rk,km->rnm", vec, shrink, proj)
    leverage = shrink @ (vec**2).T  # [ridges, N]
    loo = (yc - fitted) / (1.0 - leverage).clamp(min=1e-12)[:, :, None]
    chosen = float(ridges[int(torch.argmin((loo**2).sum(dim=(1, 2))))])  # the first least error
    alpha = vec @ (proj / (eig + chosen * level)[:, None])
    return RidgeProbe(mean, scale, keep, basis, alpha, offset, chosen)


def rowwise_auc(scores: Array, positive: Array, negative: Array) -> np.ndarray:
    """Per row, P(score of a positive > score of a negative) + 1/2 P(equal): scores float
    [rows, cols], positive int [rows, positives] (column indices), negative bool [rows, cols]
    (NaN for a row without negatives). float64 numpy [rows].

    Counted against each row's sorted negative scores, all rows at once where ``scores`` is (a
    tensor's device; numpy: the CPU): the same integer counts of wins and ties as comparing every
    pair (:func:`_rowwise_auc_pairs`, which rows holding a NaN score still take)."""
    if scores.ndim != 2 or negative.shape != scores.shape or positive.shape[0] != scores.shape[0]:
        raise ValueError(
            f"scores [rows, cols], positive [rows, positives], negative [rows, cols]; got "
            f"{tuple(scores.shape)}, {tuple(positive.shape)}, {tuple(negative.shape)}"
        )
    s = as_float64(scores)
    neg = torch.as_tensor(negative).to(s.device, torch.bool)
    pos_cols = torch.as_tensor(positive).to(s.device, torch.long)
    finite = ~s.isnan().any(dim=1)
    out = np.full(s.shape[0], np.nan)
    for row in torch.nonzero(~finite).flatten().tolist():
        one = slice(row, row + 1)
        out[row] = _rowwise_auc_pairs(
            s[one].cpu().numpy(), pos_cols[one].cpu().numpy(), neg[one].cpu().numpy()
        )[0]
    if not bool(finite.any()):
        return out
    s, neg, pos_cols = s[finite], neg[finite], pos_cols[finite]
    # each row's negatives sorted, its other columns +inf behind them: a count of values below or
    # at a score is cut at the row's number of negatives, so the padding never counts
    ordered = torch.sort(torch.where(neg, s, torch.inf), dim=1).values
    n_neg = neg.sum(dim=1, keepdim=True)
    pos = torch.gather(s, 1, pos_cols)
    below = torch.minimum(torch.searchsorted(ordered, pos, side="left"), n_neg).sum(dim=1)
    ties = torch.minimum(torch.searchsorted(ordered, pos, side="right"), n_neg).sum(dim=1) - below
    pairs = pos_cols.shape[1] * n_neg[:, 0].cpu().numpy()
    wins = below.cpu().numpy() + 0.5 * ties.cpu().numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        out[finite.cpu().numpy()] = np.where(pairs > 0, wins / np.maximum(pairs, 1), np.nan)
    return out


def _rowwise_auc_pairs(scores: np.ndarray, positive: np.ndarray, negative: np.ndarray) -> np.ndarray:
    """:func:`rowwise_auc` by comparing every (positive, negative) pair (its reference)."""
    out = np.empty(scores.shape[0])
    for start in range(0, scores.shape[0], _AUC_ROWS):
        s = scores[start : start + _AUC_ROWS]
        pos = np.take_along_axis(s, positive[start : start + _AUC_ROWS], axis=1)[:, :, None]
        neg = negative[start : start + _AUC_ROWS][:, None, :]
        wins = ((pos > s[:, None, :]) & neg).sum(axis=(1, 2)) + 0.5 * ((pos == s[:, None, :]) & neg).sum(
            axis=(1, 2)
        )
        pairs = pos.shape[1] * neg.sum(axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start : start + _AUC_ROWS] = np.where(pairs > 0, wins / np.maximum(pairs, 1), np.nan)
    return out


def top_k_hits(scores: Array, positive: Array) -> np.ndarray:
    """Per row, how many of the k = positive.shape[1] top-scoring columns are positives (ties
    broken by the lower column index): int64 numpy [rows]. Computed where ``scores`` is."""
    k = positive.shape[1]
    if k == 0:
        return np.zeros(scores.shape[0], dtype=np.int64)
    s = as_float64(scores)
    top = torch.sort(s, dim=1, descending=True, stable=True).indices[:, :k]
    is_positive = torch.zeros(s.shape, dtype=torch.bool, device=s.device)  # listed twice: one positive
    is_positive.scatter_(1, torch.as_tensor(positive).to(s.device, torch.long), True)
    return torch.gather(is_positive, 1, top).sum(dim=1).cpu().numpy().astype(np.int64)


def set_read_measures(
    scores: Array, first: np.ndarray, in_first: np.ndarray, in_second: np.ndarray, size_b: int
) -> dict[str, float]:
    """How well ``scores`` float [rows, n] (one per set token, higher: more likely in A) read the
    first set: ``auc`` (A's tokens ``first`` int [rows, |A|] against every other set token),
    ``auc_vs_second`` (against B's tokens not in A; ``in_first``, ``in_second`` bool [rows, n]),
    ``recall`` at |A| (each with ``_se`` over rows), ``chance_recall``, ``info_bits`` (the bits its
    top-|A| tokens recover), ``first_set_bits`` and the one-pass bound ``bound_bits`` at |B| =
    ``size_b``: the columns the state probes and the seen-before probe share. The ranks are counted
    where ``scores`` is (a tensor's device; numpy: the CPU)."""
    universe, a = scores.shape[1], first.shape[1]
    hits = top_k_hits(scores, first)
    out: dict[str, float] = {}
    out["auc"], out["auc_se"] = mean_and_se(pd.Series(rowwise_auc(scores, first, ~in_first)))
    out["auc_vs_second"], out["auc_vs_second_se"] = mean_and_se(
        pd.Series(rowwise_auc(scores, first, in_second & ~in_first))
    )
    out["recall"], out["recall_se"] = mean_and_se(pd.Series(hits / a))
    out["chance_recall"] = a / universe
    out["info_bits"] = decoded_set_bits(universe, a, a - hits)
    out["first_set_bits"] = first_set_bits(universe, a)
    out["bound_bits"] = one_pass_bound_bits(universe, a, size_b)
    return out


@dataclass(frozen=True, eq=False)
class ProbeRows:
    """The examples of one segment a probe reads, and who is in which set.

    used       int [n]: the segment's rows read (the fitting ones first)
    fit, held  int: the positions in ``used`` that fit the probe and that score it
    first      int [n, |A|]: A's tokens as indices into the n set tokens
    in_first, in_second  bool [n, universe]: membership in A and in B
    """

    used: np.ndarray
    fit: np.ndarray
    held: np.ndarray
    first: np.ndarray
    in_first: np.ndarray
    in_second: np.ndarray

    @staticmethod
    def of(
        copies: SharedCopies, vocab_size: int, fit_fraction: float, seed: int, max_examples: int | None
    ) -> ProbeRows:
        """Split ``copies``' examples (:func:`_split`) and mark A's and B's tokens for each."""
        lo, hi = sd_set_range(vocab_size)
        fit_rows, held_rows = _split(copies, fit_fraction, seed, max_examples)
        used = np.concatenate([fit_rows, held_rows])
        n, rows = used.size, np.arange(used.size)[:, None]
        first = copies.first_set()[used] - lo
        in_first = np.zeros((n, hi - lo), dtype=bool)
        in_first[rows, first] = True
        in_second = np.zeros((n, hi - lo), dtype=bool)
        in_second[rows, copies.second_set()[used] - lo] = True
        fit, held = np.arange(fit_rows.size), np.arange(fit_rows.size, n)
        return ProbeRows(used, fit, held, first, in_first, in_second)


def _split(
    copies: SharedCopies, fit_fraction: float, seed: int, max_examples: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """(rows that fit, rows that score), disjoint, from a permutation drawn from ``seed`` and the
    segment's name; at most ``max_examples`` rows in all."""
    digest = stable_digest({"analysis": "probe_first_set", "slice": copies.name})
    rng = np.random.default_rng(np.random.SeedSequence([seed, int(digest[:8], 16)]))
    order = rng.permutation(copies.num_examples)[:max_examples]
    n_fit = round(fit_fraction * order.size)
    if n_fit < 2 or n_fit >= order.size:
        raise ValueError(
            f"segment {copies.name!r}: fit_fraction={fit_fraction} of {order.size} examples leaves "
            f"{n_fit} to fit and {order.size - n_fit} to score; need >= 2 and >= 1"
        )
    return np.sort(order[:n_fit]), np.sort(order[n_fit:])


def _segment_rows(
    model: LanguageModel,
    copies: SharedCopies,
    points: Sequence[str],
    fit_fraction: float,
    seed: int,
    max_examples: int | None,
    batch_size: int,
    ridges: Sequence[float],
) -> list[dict[str, object]]:
    check_vocab(model.vocab_size, [copies])
    a = copies.size_a
    sets = ProbeRows.of(copies, model.vocab_size, fit_fraction, seed, max_examples)
    fit, held, first, in_first, in_second = sets.fit, sets.held, sets.first, sets.in_first, sets.in_second
    inputs, prefix_len = copies.inputs[sets.used], copies.prefix_len[sets.used]
    rows = []
    for point in points:
        upto = copies.separator_col + 1 if point == "separator" else copies.inputs.shape[1]
        features = state_feature_tensors(model, inputs, prefix_len, upto, batch_size=batch_size)
        for where, x in features.items():  # fitted and scored on the model's device
            probe = fit_ridge(x[fit], in_first[fit], ridges)  # A's tokens: the targets
            scores = probe.predict(x[held])
            row: dict[str, object] = {
                "slice": copies.name,
                "size_a": a,
                "size_b": copies.size_b,
                "order": copies.order,
                "passes": copies.passes,
                "point": point,
                "column": upto - 1,
                "layer": where.layer,
                "mixer": where.mixer,
                "component": where.component,
                "values": x.shape[1],
                "n_fit": fit.size,
                "n_eval": held.size,
                "ridge": probe.ridge,
            }
            row.update(set_read_measures(scores, first[held], in_first[held], in_second[held], copies.size_b))
            rows.append(row)
    return rows


def probe_first_set(
    model: LanguageModel,
    data: SplitData | Segment | Iterable[Segment],
    *,
    points: Sequence[str] = POINTS,
    fit_fraction: float = 0.5,
    seed: int = 0,
    max_examples: int | None = None,
    batch_size: int = 256,
    ridges: Sequence[float] = RIDGE_GRID,
) -> pd.DataFrame:
    """Probe the state of ``model`` for the first set, on every SD segment of ``data``.

    One row per segment, point and state tensor (see the module docstring), with columns
    ``slice``, ``size_a``, ``size_b``, ``order``, ``passes``, ``point``, ``column`` (the last
    column read), ``layer`` (-1: the whole state), ``mixer``, ``component``, ``values`` (state
    values per example), ``n_fit``, ``n_eval``, ``ridge``, ``auc``, ``auc_vs_second``,
    ``recall`` (each with ``_se``, the standard error over held-out examples),
    ``chance_recall``, ``info_bits``, ``first_set_bits`` and ``bound_bits`` (bits).

    ``fit_fraction`` of each segment's examples (drawn from ``seed`` and the segment's name) fit
    the probes; the rest score them. ``max_examples`` (None: all) uses at most that many examples
    of each segment, drawn the same way: the probes' cost grows as its square to cube (the ridge
    works on the fitting examples' Gram matrix).
    """
    check_language_model(model)
    bad = [p for p in points if p not in POINTS]
    if bad or not points:
        raise ValueError(f"points={list(points)}: each must be one of {', '.join(POINTS)}")
    if not 0.0 < fit_fraction < 1.0:
        raise ValueError(f"fit_fraction={fit_fraction} must be in (0, 1)")
    if max_examples is not None:
        check_int("max_examples", max_examples, 3)
    rows = []
    for seg in segments_of(data):
        copies = shared_copies(seg)
        rows.extend(
            _segment_rows(model, copies, points, fit_fraction, seed, max_examples, batch_size, ridges)
        )
    return pd.DataFrame(rows)
