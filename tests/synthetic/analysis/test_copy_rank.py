"""synthetic.analysis.copy_rank: the rank AUC against a direct count, the table's rows against the
model's own logits, the competitors matched across a mirror pair, and bad input refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthetic.analysis.copy_rank import COPY_RANK_COLUMNS, READS, copy_rank_table, rank_auc
from synthetic.analysis.first_set_read import logits_with_first_set_read, mirror_pair_gaps
from synthetic.analysis.mechanisms import CountingModel, StoreFirstModel
from synthetic.analysis.readout import final_logits
from synthetic.analysis.sd_layout import segments_of, shared_copies
from synthetic.model import ModelConfig, build_model
from synthetic.tasks import DataConfig, SplitData, build_split

VOCAB = 48


def _split(pairs: list[tuple[int, int]], n: int = 12, seed: int = 0, passes: int = 1) -> SplitData:
    segments = [{"size_a": a, "size_b": b, "num_examples": n} for a, b in pairs]
    cfg = DataConfig(task="sd", vocab_size=VOCAB, passes=passes, seed=seed, train_segments=segments,
                     test_segments=segments)  # fmt: skip
    return build_split(cfg, "test")


def _auc_by_counting(logits: np.ndarray, shared: int, tokens: np.ndarray) -> float:
    """One example's AUC, token by token: 1 for each other token below, 1/2 for each tie."""
    own = logits[shared]
    scores = [1.0 if logits[t] < own else 0.5 if logits[t] == own else 0.0 for t in tokens if t != shared]
    return float(np.mean(scores)) if scores else float("nan")


@settings(max_examples=60, deadline=None)
@given(
    n_ex=st.integers(1, 5),
    k=st.integers(1, 7),
    vocab=st.integers(2, 9),
    seed=st.integers(0, 10_000),
)
def test_the_auc_counts_each_other_token_below_and_half_of_each_tie(
    n_ex: int, k: int, vocab: int, seed: int
) -> None:
    """Integer logits in a small range, so ties are common; tokens may repeat and may hold the
    shared token (which does not count)."""
    rng = np.random.default_rng(seed)
    logits = rng.integers(-2, 3, size=(n_ex, vocab)).astype(float)
    shared = rng.integers(0, vocab, size=n_ex)
    tokens = rng.integers(0, vocab, size=(n_ex, k))
    got = rank_auc(logits, shared, tokens)
    want = [_auc_by_counting(logits[e], int(shared[e]), tokens[e]) for e in range(n_ex)]
    np.testing.assert_allclose(got, want, equal_nan=True)


def test_the_auc_ends_and_middle() -> None:
    """Ranked above all: 1; below all: 0; all tied: 1/2; no other token: NaN."""
    logits = np.array([[0, 5, 1, 2], [9, 0, 1, 2], [1, 1, 1, 1], [0, 1, 2, 3]], dtype=float)
    shared = np.array([1, 1, 0, 2])
    tokens = np.array([[0, 2, 3], [0, 2, 3], [1, 2, 3], [2, 2, 2]])
    np.testing.assert_array_equal(rank_auc(logits, shared, tokens), [1.0, 0.0, 0.5, np.nan])


def test_bad_shapes_and_ids_are_refused() -> None:
    logits = np.zeros((2, 5))
    with pytest.raises(ValueError, match=r"shared \[n_ex\]"):
        rank_auc(logits, np.array([1]), np.zeros((2, 3), dtype=int))
    with pytest.raises(ValueError, match=r"tokens \[n_ex, k\]"):
        rank_auc(logits, np.array([1, 2]), np.zeros(2, dtype=int))
    with pytest.raises(ValueError, match=r"tokens holds token ids outside 0 \.\. 4"):
        rank_auc(logits, np.array([1, 2]), np.array([[0, 5], [1, 2]]))
    with pytest.raises(ValueError, match="shared holds token ids outside"):
        rank_auc(logits, np.array([-1, 2]), np.array([[0, 1], [1, 2]]))


def _model(seed: int = 0):
    cfg = ModelConfig(d_model=16, n_layers=2, pattern=["base_conv", {"kind": "based", "feature_dim": 4}])
    return build_model(cfg, VOCAB, seed=seed).double()


PAIRS = [(1, 6), (6, 1), (3, 5), (5, 3), (2, 2)]


def test_one_row_per_one_pass_slice_from_the_models_own_logits() -> None:
    """Accuracy is the argmax's; the AUCs are rank_auc's over A and B (and B alone) of the
    model's final logits; |B| = 1 has no B competitor; two-pass segments only as trained."""
    model = _model()
    data = _split(PAIRS, n=10)
    table = copy_rank_table(model, data, max_examples=8)
    assert list(table.columns) == COPY_RANK_COLUMNS
    assert list(table.slice) == [s.name for s in segments_of(data)]
    assert (table.n == 8).all() and (table.read == READS[0]).all()
    for segment, row in zip(segments_of(data), table.itertuples(), strict=True):
        copies = shared_copies(segment)
        logits = final_logits(model, copies.inputs[:8], copies.prefix_len[:8])
        shared = copies.shared[:8]
        both = np.concatenate([copies.first_set(), copies.second_set()], axis=1)[:8]
        assert row.accuracy == pytest.approx((logits.argmax(1) == shared).mean())
        assert row.auc_sets == pytest.approx(rank_auc(logits, shared, both).mean())
        assert row.auc_sets_se == pytest.approx(rank_auc(logits, shared, both).std(ddof=1) / np.sqrt(8))
        if copies.size_b == 1:
            assert np.isnan(row.auc_b) and np.isnan(row.auc_b_se)
        else:
            assert row.auc_b == pytest.approx(rank_auc(logits, shared, copies.second_set()[:8]).mean())
    two_pass = _split([(2, 3)], passes=2)  # JR-2: ranked as trained, not read against A alone
    assert len(copy_rank_table(model, two_pass)) == 1
    assert copy_rank_table(model, two_pass, read=READS[1]).empty


def test_the_set_competitors_are_the_same_number_in_both_orders() -> None:
    """|A| + |B| - 2 other set tokens whichever set comes first (the sets are unique tokens)."""
    for a, b in [(1, 6), (3, 5)]:
        counts = []
        for first, second in [(a, b), (b, a)]:
            copies = shared_copies(segments_of(_split([(first, second)]))[0])
            both = np.concatenate([copies.first_set(), copies.second_set()], axis=1)
            counts.append(set((both != copies.shared[:, None]).sum(axis=1).tolist()))
        assert counts[0] == counts[1] == {a + b - 2}


def test_the_first_set_read_is_the_swapped_logits() -> None:
    """read="copy reads A alone": the table's numbers come from the logits with the swap at the copy."""
    model = _model(seed=3)
    data = _split([(2, 5), (5, 2)], n=6)
    table = copy_rank_table(model, data, read=READS[1])
    assert (table.read == READS[1]).all()
    for segment, row in zip(segments_of(data), table.itertuples(), strict=True):
        copies = shared_copies(segment)
        logits = logits_with_first_set_read(model, copies, swap_at="copy")
        assert row.accuracy == pytest.approx((logits.argmax(1) == copies.shared).mean())
        assert row.auc_b == pytest.approx(rank_auc(logits, copies.shared, copies.second_set()).mean())


def test_constructed_models_rank_the_shared_token_first() -> None:
    """The exact store-first construction and plain counting both put the shared token above every
    other set token: AUC 1 in both orders (a mirror gap of 0)."""
    data = _split([(2, 5), (5, 2)], n=8)
    for model in (StoreFirstModel(VOCAB, max_first=8), CountingModel(VOCAB)):
        table = copy_rank_table(model, data)
        assert (table.auc_sets == 1.0).all() and (table.auc_b == 1.0).all() and (table.accuracy == 1.0).all()
        assert mirror_pair_gaps(table, "auc_sets").tolist() == [0.0]


def test_bad_reads_are_refused() -> None:
    data = _split([(2, 3)])
    with pytest.raises(ValueError, match=r"read='backwards'; allowed: as trained, copy reads A alone"):
        copy_rank_table(_model(), data, read="backwards")
    with pytest.raises(ValueError, match=r"needs a synthetic\.model\.LanguageModel"):
        copy_rank_table(CountingModel(VOCAB), data, read=READS[1])
    with pytest.raises(ValueError, match="max_examples"):
        copy_rank_table(_model(), data, max_examples=0)


def test_mirror_gaps_of_any_column_skip_nan_pairs() -> None:
    """Short-first minus long-first of the column; a pair NaN in one order is left out."""
    rows = pd.DataFrame(
        {
            "size_a": [1, 6, 3, 5],
            "size_b": [6, 1, 5, 3],
            "n": [10, 10, 10, 10],
            "auc_b": [0.9, np.nan, 0.8, 0.6],
            "accuracy": [0.5, 0.7, 0.4, 0.1],
        }
    )
    assert mirror_pair_gaps(rows, "auc_b").to_dict() == {(3, 5): pytest.approx(0.2)}
    gaps = mirror_pair_gaps(rows)
    assert gaps[(1, 6)] == pytest.approx(-0.2) and gaps[(3, 5)] == pytest.approx(0.3)
