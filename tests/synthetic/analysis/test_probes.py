"""State probes and the information estimate: the estimate against exact cases, the ridge probe and
its metrics against brute force, and the probes against hand-built models whose state does, or
does not, hold the first set."""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from sdtheory.bounds import binomial
from synthetic.analysis import (
    StateComponent,
    decoded_set_bits,
    first_set_bits,
    fit_ridge,
    log2_binomial,
    one_pass_bound_bits,
    probe_first_set,
    state_features,
    state_tensors,
)
from synthetic.analysis.probes import _rowwise_auc_pairs, rowwise_auc, top_k_hits
from synthetic.layers import Based
from synthetic.model import LanguageModel, ModelConfig, build_model
from synthetic.tasks import DataConfig, build_split
from synthetic.tasks.data import SplitData

VOCAB = 16  # 12 set tokens


# ------------------------------------------------------------------------------------ information


@given(st.integers(1, 60), st.data())
def test_perfect_decoding_recovers_every_bit(n: int, data: st.DataObject) -> None:
    a = data.draw(st.integers(0, n))
    assert decoded_set_bits(n, a, np.zeros(7, dtype=np.int64)) == pytest.approx(math.log2(binomial(n, a)))
    assert first_set_bits(n, a) == log2_binomial(n, a) == pytest.approx(math.log2(math.comb(n, a)))


@given(st.integers(2, 16), st.data())
def test_a_blind_decoder_recovers_nothing(n: int, data: st.DataObject) -> None:
    """Misses distributed as for a random guess (hypergeometric, in exact proportions: one row per
    pair of a-sets) give 0 bits."""
    a = data.draw(st.integers(1, n - 1))
    top = min(a, n - a)
    counts = [math.comb(a, j) * math.comb(n - a, j) for j in range(top + 1)]  # sum = C(n, a)
    misses = np.repeat(np.arange(top + 1), counts)
    assert decoded_set_bits(n, a, misses) == pytest.approx(0.0, abs=1e-9)


def test_information_falls_with_misses_and_its_errors() -> None:
    n, a = 50, 8
    bits = [decoded_set_bits(n, a, np.array([0, j, j, 0])) for j in range(0, 5)]
    assert bits == sorted(bits, reverse=True) and bits[0] == pytest.approx(first_set_bits(n, a))
    assert one_pass_bound_bits(252, 32, 8) == math.ceil(first_set_bits(252, 32))
    with pytest.raises(
        ValueError, match=r"misses must lie in \[0, min\(size, universe - size\)\] = \[0, 2\]"
    ):
        decoded_set_bits(10, 8, np.array([3]))
    with pytest.raises(ValueError, match=r"misses must be a non-empty 1-D integer array"):
        decoded_set_bits(10, 3, np.array([], dtype=np.int64))
    with pytest.raises(ValueError, match=r"size=11 must be <= universe=10"):
        decoded_set_bits(10, 11, np.array([0]))


# ------------------------------------------------------------------------------- probe machinery


@given(st.integers(0, 2**32 - 1))
def test_ridge_recovers_a_linear_map(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(80, 6)) * rng.uniform(0.1, 10, size=6) + rng.normal(size=6)
    w = rng.normal(size=(6, 3))
    probe = fit_ridge(x[:60], x[:60] @ w + 2.0)
    np.testing.assert_allclose(probe.predict(x[60:]), x[60:] @ w + 2.0, atol=1e-3)


def test_ridge_with_constant_features_predicts_the_mean() -> None:
    x = np.ones((10, 4))
    y = np.arange(20.0).reshape(10, 2)
    np.testing.assert_allclose(fit_ridge(x, y).predict(np.ones((3, 4))), np.tile(y.mean(0), (3, 1)))
    with pytest.raises(ValueError, match=r"same rows >= 2"):
        fit_ridge(x[:1], y[:1])
    with pytest.raises(ValueError, match=r"ridges=\[0.0\] must be a non-empty list of finite numbers > 0"):
        fit_ridge(x, y, ridges=[0.0])
    with pytest.raises(ValueError, match=r"x must be \[rows, 4\]"):
        fit_ridge(x, y).predict(np.ones((3, 5)))


@given(st.integers(1, 5), st.integers(2, 7), st.integers(0, 2**32 - 1))
def test_auc_and_hits_equal_brute_force(rows: int, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, n))
    scores = rng.integers(0, 3, size=(rows, n)).astype(float)  # many ties
    positive = np.stack([rng.permutation(n)[:k] for _ in range(rows)])
    negative = rng.random((rows, n)) < 0.7
    negative[np.arange(rows)[:, None], positive] = False
    auc, hits = rowwise_auc(scores, positive, negative), top_k_hits(scores, positive)
    for r in range(rows):
        negs = np.flatnonzero(negative[r])
        pairs = [
            (scores[r, p] > scores[r, q]) + 0.5 * (scores[r, p] == scores[r, q])
            for p in positive[r]
            for q in negs
        ]
        assert (np.isnan(auc[r]) and not pairs) or auc[r] == pytest.approx(np.mean(pairs))
        top = sorted(range(n), key=lambda c: (-scores[r, c], c))[:k]
        assert hits[r] == len(set(top) & set(positive[r].tolist()))


@given(st.integers(1, 6), st.integers(1, 40), st.integers(0, 2**32 - 1), st.booleans())
def test_auc_by_sorting_is_the_pair_count_exactly(rows: int, n: int, seed: int, nans: bool) -> None:
    """Sorted negatives give the very float of comparing every pair: ties, overlapping or repeated
    positives, rows without negatives, and rows with NaN scores (those take the pairs)."""
    rng = np.random.default_rng(seed)
    k = int(rng.integers(0, n + 1))
    scores = rng.integers(0, 4, size=(rows, n)) / 3.0
    if nans:
        scores[rng.random((rows, n)) < 0.1] = np.nan
    positive = rng.integers(0, n, size=(rows, k))  # repeats and overlaps with the negatives allowed
    negative = rng.random((rows, n)) < rng.random()
    fast, pairs = rowwise_auc(scores, positive, negative), _rowwise_auc_pairs(scores, positive, negative)
    assert np.array_equal(fast, pairs, equal_nan=True)


def test_auc_names_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match=r"scores \[rows, cols\], positive \[rows, positives\]"):
        rowwise_auc(np.zeros((2, 3)), np.zeros((2, 1), dtype=np.int64), np.zeros((2, 4), dtype=bool))


class _PairState(NamedTuple):
    kv: torch.Tensor
    pos: torch.Tensor


def test_state_tensors_reads_dicts_and_named_tuples() -> None:
    kv, pos = torch.zeros(2, 3), torch.zeros(2, dtype=torch.long)
    assert list(state_tensors({"kv": kv, "pos": pos})) == ["kv"]
    assert list(state_tensors(_PairState(kv, pos))) == ["kv"]
    with pytest.raises(TypeError, match=r"a layer state must be a mapping or a NamedTuple"):
        state_tensors((kv, pos))


# ------------------------------------------------------------------------------ hand-built models


def _split(
    kind: str = "sd", sizes: tuple[tuple[int, int], ...] = ((3, 5), (5, 3)), n: int = 160
) -> SplitData:
    segments = [{"size_a": a, "size_b": b, "num_examples": n} for a, b in sizes]
    cfg = DataConfig(task=kind, vocab_size=VOCAB, seed=7, train_segments=segments, test_segments=segments)
    return build_split(cfg, "test")


def _bag_of_tokens(values: bool) -> LanguageModel:
    """One Based layer, one head, F = 1, d_model = V, a one-hot embedding, k = 0 (so phi(k) = e_0)
    and v the layer-normed embedding: row 0 of the kv state is the sum of the tokens read (an
    affine image of their counts); with ``values=False`` (v = 0) the state holds nothing about them."""
    cfg = ModelConfig(
        d_model=VOCAB, n_layers=1, pattern=[{"kind": "based", "num_heads": 1, "feature_dim": 1}]
    )
    model = build_model(cfg, VOCAB)
    with torch.no_grad():
        model.embedding.weight.copy_(torch.eye(VOCAB))
        mixer = model.mixers[0]
        assert isinstance(mixer, Based)
        mixer.proj_k.weight.zero_()
        mixer.proj_v.weight.copy_(torch.eye(VOCAB) if values else torch.zeros(VOCAB, VOCAB))
    return model


def _row(table: object, point: str, component: str, slice_name: str) -> dict[str, float]:
    import pandas as pd

    assert isinstance(table, pd.DataFrame)
    sel = table[
        (table["point"] == point) & (table["component"] == component) & (table["slice"] == slice_name)
    ]
    assert len(sel) == 1
    return sel.iloc[0].to_dict()


def test_a_state_that_holds_the_first_set_is_read_exactly() -> None:
    """At the separator the kv state holds A (and the start token): AUC 1, recall 1 and every bit
    of log2 C(12, |A|). At the end it holds A and B together: the first set still stands out
    from absent tokens, but not from B's."""
    table = probe_first_set(_bag_of_tokens(True), _split())
    for name, a, b in (("A=3,B=5", 3, 5), ("A=5,B=3", 5, 3)):
        sep = _row(table, "separator", "kv", name)
        assert sep["auc"] == 1.0 and sep["recall"] == 1.0 and sep["chance_recall"] == a / 12
        assert (
            sep["info_bits"] == pytest.approx(first_set_bits(12, a)) == pytest.approx(sep["first_set_bits"])
        )
        assert sep["bound_bits"] == one_pass_bound_bits(12, a, b) and sep["values"] == 3 * VOCAB
        end = _row(table, "end", "kv", name)
        assert end["auc"] > 0.75 and end["auc_vs_second"] < 0.75 and end["info_bits"] < sep["info_bits"]
    assert set(table["point"]) == {"separator", "end"} and set(table["layer"]) == {0, -1}
    assert (table["n_fit"] == 80).all() and (table["n_eval"] == 80).all()


def test_a_state_without_the_tokens_reads_at_chance() -> None:
    table = probe_first_set(_bag_of_tokens(False), _split("sd_distractor"), points=("separator",))
    kv = table[table["component"] == "kv"]
    # the features are constant: every example gets the same scores (the fitting half's token
    # frequencies), so the held-out AUC is chance up to those frequencies' noise
    assert (abs(kv["auc"] - 0.5) < 0.05).all() and (kv["info_bits"] < 0.5).all()


def test_state_features_cover_the_whole_recurrent_state() -> None:
    """Every floating tensor of every layer, at the model's own state sizes, and the whole state."""
    cfg = ModelConfig(d_model=8, n_layers=3, pattern=["base_conv", {"kind": "based", "feature_dim": 2}])
    model = build_model(cfg, VOCAB, seed=2)
    seg = _split(n=9).segments[0]
    feats = state_features(model, seg.inputs, seg.prefix_len, 5, batch_size=4)
    parts = {k: v for k, v in feats.items() if k.layer >= 0}
    assert [(k.layer, k.mixer, k.component) for k in parts] == [
        (0, "base_conv", "window"),
        (1, "based", "kv"),
        (1, "based", "z"),
        (2, "base_conv", "window"),
    ]
    assert sum(v.shape[1] for v in parts.values()) == model.state_size()
    whole = feats[StateComponent(-1, "all", "all")]
    np.testing.assert_array_equal(whole, np.concatenate(list(parts.values()), axis=1))
    # a causal model's state after `upto` tokens is its state at that column, whatever follows
    edited = seg.inputs.copy()
    edited[:, 5:] = 4
    again = state_features(model, edited, seg.prefix_len, 5)
    np.testing.assert_allclose(again[StateComponent(-1, "all", "all")], whole, rtol=1e-6, atol=1e-6)


def test_max_examples_takes_a_subset_of_each_segment() -> None:
    table = probe_first_set(_bag_of_tokens(True), _split(n=160), points=("separator",), max_examples=60)
    assert (table["n_fit"] == 30).all() and (table["n_eval"] == 30).all()
    again = probe_first_set(_bag_of_tokens(True), _split(n=160), points=("separator",), max_examples=60)
    assert table.equals(again)
    with pytest.raises(ValueError, match=r"max_examples=2 must be >= 3"):
        probe_first_set(_bag_of_tokens(True), _split(n=8), max_examples=2)


def test_probe_errors_name_what_is_wrong() -> None:
    model, data = _bag_of_tokens(True), _split(n=8)
    with pytest.raises(ValueError, match=r"points=\['middle'\]: each must be one of separator, end"):
        probe_first_set(model, data, points=("middle",))
    with pytest.raises(ValueError, match=r"fit_fraction=1.0 must be in \(0, 1\)"):
        probe_first_set(model, data, fit_fraction=1.0)
    with pytest.raises(ValueError, match=r"fit_fraction=0.1 of 8 examples leaves 1 to fit and 7 to score"):
        probe_first_set(model, data, fit_fraction=0.1)
    with pytest.raises(TypeError, match=r"model must be a synthetic.model.LanguageModel"):
        ids = np.zeros((1, 3), dtype=np.int64)
        state_features(torch.nn.Linear(2, 2), ids, ids[:, 0], 2)  # type: ignore[arg-type]


def test_every_pair_of_tiny_sets_decodes_from_a_bitmap_like_state() -> None:
    """Exhaustive over the sizes that fit 12 set tokens with |A| + |B| <= 8: the bag-of-tokens
    state at the separator is read exactly at every size pair."""
    sizes = tuple((a, b) for a, b in itertools.product(range(1, 6), range(1, 6)) if a + b <= 8 and a != b)
    table = probe_first_set(_bag_of_tokens(True), _split(sizes=sizes, n=120), points=("separator",))
    kv = table[table["component"] == "kv"]
    assert len(kv) == len(sizes) and (kv["recall"] == 1.0).all()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_probes_of_a_gpu_model_give_the_cpu_table() -> None:
    """Fitted and scored on the GPU (as the paper sweep analyses its models), the probes give the
    CPU's table, up to float rounding in the states."""
    model = _bag_of_tokens(True)
    cpu = probe_first_set(model, _split())
    gpu = probe_first_set(model.cuda(), _split())
    assert list(gpu.slice) == list(cpu.slice) and list(gpu.component) == list(cpu.component)
    for column in ("auc", "auc_vs_second", "recall"):
        np.testing.assert_allclose(gpu[column], cpu[column], atol=0.02)


def test_the_ridge_and_the_ranks_read_tensors_as_numpy() -> None:
    """fit_ridge, predict, rowwise_auc and top_k_hits give the same numbers for float64 tensors
    as for the numpy arrays they hold (predict: a tensor for a tensor)."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(30, 5)), rng.normal(size=(30, 2))
    probe_np, probe_t = fit_ridge(x[:20], y[:20]), fit_ridge(torch.tensor(x[:20]), torch.tensor(y[:20]))
    scores = probe_t.predict(torch.tensor(x[20:]))
    assert isinstance(scores, torch.Tensor) and probe_np.ridge == probe_t.ridge
    np.testing.assert_allclose(scores.numpy(), probe_np.predict(x[20:]))
    positive, negative = rng.integers(0, 2, size=(10, 1)), rng.random((10, 2)) < 0.5
    auc_t, auc_np = rowwise_auc(scores, positive, negative), rowwise_auc(scores.numpy(), positive, negative)
    assert np.array_equal(auc_t, auc_np, equal_nan=True)
    assert np.array_equal(top_k_hits(scores, positive), top_k_hits(scores.numpy(), positive))
