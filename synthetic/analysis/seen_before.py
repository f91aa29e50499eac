"""The seen-before probe: can the model tell, from its state after the first set, whether the next
token is in A?

The state probes (:mod:`synthetic.analysis.probes`) regress A's membership on the raw state, a
vector of up to tens of thousands of values, from a few hundred examples: at paper scale they read
only a few percent of the bits A holds, and more examples give more bits
(docs/results/paper-scale.md).
A one-pass reader does not decode its whole state: it reads it with each token of B as the query,
and must notice the one it has seen before. This probe asks exactly that. For each example, the
model reads the input up to the first pass's separator (A read, B not), then, from that state,
reads each set token x once as the next token (:meth:`~synthetic.model.LanguageModel.step_each_hidden`,
every candidate from the same state); the last block's output h(x) [D] is the model's response to
x. One linear map, shared by all tokens and examples, is fitted by ridge regression to say from
h(x) whether x is in A (fitting examples x every set token: thousands of rows a feature, so the
fit is not starved as the state probes are), and scored on the held-out examples with the same
measures as the state probes: ``auc`` (A's tokens against every other set token), ``auc_vs_second``
(against B's), ``recall`` at |A| and ``info_bits``, the bits about A its top-|A| tokens recover (a
lower bound on what the state holds *in a form the model's own read reaches through one linear
map*), beside ``first_set_bits`` and the one-pass bound ``bound_bits``.

What it does not say: a model may use the signal later than the next token, or in a form no
linear map of h(x) shows; a high score shows the information is there and read, a low score shows
neither that it is absent from the state nor that the model cannot use it.

Cost: examples x set tokens single-token reads from one shared state, none of which builds its
new state (:meth:`~synthetic.layers.base.Mixer.step_each`): on a 2-core CPU about 0.03 s an
example at d_model 96, f = 16, V = 2048 (2,044 candidates), 17.6x faster than stepping copies of
the state (bench/NOTES-training.md, thirteenth session).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import torch

from synthetic.analysis.probes import Array, ProbeRows, as_float64, set_read_measures, standardised_columns
from synthetic.analysis.readout import evaluating, model_device
from synthetic.analysis.sd_layout import SharedCopies, check_vocab, segments_of, shared_copies
from synthetic.analysis.states import check_language_model
from synthetic.layers.base import State, state_rows
from synthetic.model import LanguageModel
from synthetic.tasks._checks import check_int
from synthetic.tasks.data import Segment, SplitData
from synthetic.tasks.tokens import sd_set_range

__all__ = [
    "SEEN_BEFORE_RIDGE",
    "fit_shared_ridge",
    "seen_before_probe",
    "step_response_tensors",
    "step_responses",
]

#: bytes one step's candidates may take (:meth:`~synthetic.model.LanguageModel.step_each_bytes` a
#: candidate: a Based layer's features, or two copies of the state for a mixer that has no own
#: step_each), by device type: on a GPU the candidates of many examples in one step, on a CPU
#: smaller steps
STEP_STATE_BYTES = {"cuda": 2 << 30, "cpu": 256 << 20}
#: at most this many candidates a step, whatever the budget (None: no cap; tests set it)
CANDIDATES_PER_STEP: int | None = None
#: the shared map's ridge strength, relative to the mean eigenvalue of the standardised features'
#: covariance (thousands of rows a feature: the fit barely depends on it)
SEEN_BEFORE_RIDGE = 1e-3


def _candidates_per_step(model: LanguageModel, states: Sequence[State], device: torch.device) -> int:
    """How many candidates one step reads: as many as :data:`STEP_STATE_BYTES` of the device type
    allows at :meth:`~synthetic.model.LanguageModel.step_each_bytes` each (``states``: the
    prefill's, one example's counted), at least 1, at most :data:`CANDIDATES_PER_STEP`."""
    per_candidate = model.step_each_bytes([state_rows(s, 0, 1) for s in states])
    budget = STEP_STATE_BYTES.get(device.type, STEP_STATE_BYTES["cpu"])
    return max(1, min(budget // max(1, per_candidate), CANDIDATES_PER_STEP or budget))


def _steps(examples: int, count: int, fits: int) -> list[tuple[int, int, int, int]]:
    """The steps that read ``count`` candidates for each of ``examples`` examples, at most ``fits``
    (example, candidate) pairs a step: (first example, last + 1, first candidate, last + 1) each,
    whole rows of candidates for several examples where a row fits, else one example's row in
    pieces."""
    if count <= fits:
        rows = fits // count
        return [(r, min(r + rows, examples), 0, count) for r in range(0, examples, rows)]
    return [(r, r + 1, c, min(c + fits, count)) for r in range(examples) for c in range(0, count, fits)]


def step_response_tensors(
    model: LanguageModel, inputs: np.ndarray, prefix_len: np.ndarray, upto: int, tokens: np.ndarray
) -> torch.Tensor:
    """float32 [n_ex, len(tokens), D] on the model's device: for each row of ``inputs`` int64
    [n_ex, T], the last block's output when the model, having read the row's first ``upto`` columns
    as a prompt, reads each of ``tokens`` int64 [C] as the next token (every token from the same
    state)."""
    check_language_model(model)
    upto = check_int("upto", upto)
    if upto > inputs.shape[1]:
        raise ValueError(f"upto={upto} is beyond the input's T={inputs.shape[1]}")
    device = model_device(model)
    candidates = torch.as_tensor(tokens, dtype=torch.long, device=device)
    out = torch.empty((inputs.shape[0], candidates.numel(), model.cfg.d_model), device=device)
    with evaluating(model):
        ids = torch.tensor(inputs[:, :upto], device=device)
        plen = torch.tensor(prefix_len, device=device).clamp(max=upto)
        _, states = model.prefill(ids, plen, seq_len=upto + 1)
        fits = _candidates_per_step(model, states, device)
        for r0, r1, c0, c1 in _steps(inputs.shape[0], candidates.numel(), fits):  # bounds a step's memory
            h = model.step_each_hidden(candidates[c0:c1], [state_rows(s, r0, r1) for s in states])
            out[r0:r1, c0:c1] = h.float()
    return out


def step_responses(
    model: LanguageModel, inputs: np.ndarray, prefix_len: np.ndarray, upto: int, tokens: np.ndarray
) -> np.ndarray:
    """:func:`step_response_tensors` as a float32 numpy array [n_ex, len(tokens), D] on the host."""
    return step_response_tensors(model, inputs, prefix_len, upto, tokens).cpu().numpy()


def fit_shared_ridge(x: Array, y: Array, ridge: float = SEEN_BEFORE_RIDGE) -> tuple[torch.Tensor, float]:
    """Ridge regression in the primal of targets y [rows] on features x [rows, D] (standardised;
    constant columns left out): returns (w float64 [D + 1], the last entry the intercept, applied to
    the raw features; on x's device, numpy: the CPU), for rows >> D."""
    xt = as_float64(x)
    yt = as_float64(y, xt.device)
    mean, scale, keep, z = standardised_columns(xt)
    cov = z.T @ z / z.shape[0]
    level = max(float(torch.trace(cov)) / max(cov.shape[0], 1), 1e-300)
    eye = torch.eye(cov.shape[0], dtype=torch.float64, device=xt.device)
    beta = torch.linalg.solve(cov + ridge * level * eye, z.T @ (yt - yt.mean()) / z.shape[0])
    w = torch.zeros(xt.shape[1] + 1, dtype=torch.float64, device=xt.device)
    w[:-1][keep] = beta / scale[keep]
    w[-1] = yt.mean() - mean[keep] @ (beta / scale[keep])
    return w, ridge


def _segment_rows(
    model: LanguageModel, copies: SharedCopies, fit_fraction: float, seed: int, max_examples: int | None
) -> dict[str, object]:
    check_vocab(model.vocab_size, [copies])
    lo, hi = sd_set_range(model.vocab_size)
    a = copies.size_a
    sets = ProbeRows.of(copies, model.vocab_size, fit_fraction, seed, max_examples)
    fit, held = sets.fit, sets.held
    upto = copies.separator_col + 1
    inputs, prefix_len = copies.inputs[sets.used], copies.prefix_len[sets.used]
    h = step_response_tensors(model, inputs, prefix_len, upto, np.arange(lo, hi))  # on the model's device
    d = h.shape[2]
    w, ridge = fit_shared_ridge(h[fit].reshape(-1, d), sets.in_first[fit].reshape(-1))
    scores = h[held].double() @ w[:-1] + w[-1]  # [n_held, universe]
    row: dict[str, object] = {
        "slice": copies.name, "size_a": a, "size_b": copies.size_b, "order": copies.order,
        "passes": copies.passes, "column": upto - 1, "values": d, "n_fit": fit.size,
        "n_eval": held.size, "ridge": ridge,
    }  # fmt: skip
    row.update(
        set_read_measures(scores, sets.first[held], sets.in_first[held], sets.in_second[held], copies.size_b)
    )
    return row


def seen_before_probe(
    model: LanguageModel,
    data: SplitData | Segment | Iterable[Segment],
    *,
    fit_fraction: float = 0.5,
    seed: int = 0,
    max_examples: int | None = None,
) -> pd.DataFrame:
    """The seen-before probe (module docstring) on every SD segment of ``data``: one row per
    segment with ``slice``, ``size_a``, ``size_b``, ``order``, ``passes``, ``column`` (the
    separator's), ``values`` (D, the response's width), ``n_fit``, ``n_eval``, ``ridge``, ``auc``,
    ``auc_vs_second``, ``recall`` (each with ``_se`` over held-out examples), ``chance_recall``,
    ``info_bits``, ``first_set_bits`` and ``bound_bits`` (bits). The examples are split as the
    state probes split them (the same ``seed`` gives the same halves)."""
    check_language_model(model)
    if not 0.0 < fit_fraction < 1.0:
        raise ValueError(f"fit_fraction={fit_fraction} must be in (0, 1)")
    if max_examples is not None:
        check_int("max_examples", max_examples, 3)
    return pd.DataFrame(
        [_segment_rows(model, shared_copies(s), fit_fraction, seed, max_examples) for s in segments_of(data)]
    )
