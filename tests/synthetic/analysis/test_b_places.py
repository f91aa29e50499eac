"""synthetic.analysis.b_places: the centred place logits, the convolutions' reach, the separator
hidden from the convolutions (exactly a changed input for a one-block model; nothing before the
column changes; the hooks go away), and the table against the model's own logits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from synthetic.analysis.b_places import (
    PLACE_COLUMNS,
    centred_place_logits,
    conv_reach,
    place_profile_table,
    separator_hidden_from_convs,
)
from synthetic.analysis.readout import final_logits
from synthetic.analysis.sd_layout import segments_of, shared_copies
from synthetic.model import LanguageModel, ModelConfig, build_model
from synthetic.tasks import DataConfig, SplitData, build_split

VOCAB = 48
BASED = {"kind": "based", "feature_dim": 4}


def _model(pattern: list, seed: int = 0, n_layers: int | None = None) -> LanguageModel:
    cfg = ModelConfig(d_model=16, n_layers=n_layers or len(pattern), pattern=pattern)
    return build_model(cfg, VOCAB, seed=seed).double()


def _split(pairs: list[tuple[int, int]], n: int = 10, seed: int = 0) -> SplitData:
    segments = [{"size_a": a, "size_b": b, "num_examples": n} for a, b in pairs]
    cfg = DataConfig(task="sd", vocab_size=VOCAB, seed=seed, train_segments=segments, test_segments=segments)
    return build_split(cfg, "test")


def test_conv_reach_sums_the_taps_beyond_the_current_column() -> None:
    conv3, conv5 = {"kind": "base_conv", "kernel_size": 3}, {"kind": "base_conv", "kernel_size": 5}
    assert conv_reach(_model([conv3, BASED], n_layers=4)) == 4  # two blocks of each
    assert conv_reach(_model([conv3, conv5], n_layers=2)) == 6
    assert conv_reach(_model([{"kind": "base_conv", "kernel_size": 1}, BASED])) == 0
    assert conv_reach(_model([BASED], n_layers=1)) == 0


@settings(max_examples=40, deadline=None)
@given(n_ex=st.integers(1, 6), size_b=st.integers(2, 9), seed=st.integers(0, 10_000))
def test_centred_logits_are_nan_at_the_copy_and_mean_zero_elsewhere(
    n_ex: int, size_b: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n_ex, 20))
    second = np.stack([rng.permutation(20)[:size_b] for _ in range(n_ex)])
    copy = rng.integers(0, size_b, size=n_ex)
    got = centred_place_logits(logits, second, copy)
    assert np.isnan(got[np.arange(n_ex), copy]).all()
    assert np.isnan(got).sum() == n_ex
    np.testing.assert_allclose(np.nanmean(got, axis=1), 0.0, atol=1e-12)
    for e in range(n_ex):  # the differences between places are the logits' own
        j, k = [i for i in range(size_b) if i != copy[e]][:2] if size_b > 2 else ([1 - copy[e]] * 2)
        assert got[e, j] - got[e, k] == pytest.approx(logits[e, second[e, j]] - logits[e, second[e, k]])


def test_centred_logits_refuse_bad_input() -> None:
    with pytest.raises(ValueError, match=r"\|B\|=1"):
        centred_place_logits(np.zeros((2, 5)), np.zeros((2, 1), dtype=int), np.zeros(2, dtype=int))
    with pytest.raises(ValueError, match=r"copy_index must lie in 0 \.\. 2"):
        centred_place_logits(np.zeros((2, 5)), np.zeros((2, 3), dtype=int), np.array([0, 3]))
    with pytest.raises(ValueError, match=r"second_set \[n_ex, \|B\|\]"):
        centred_place_logits(np.zeros((2, 5)), np.zeros((3, 3), dtype=int), np.zeros(2, dtype=int))


@settings(max_examples=10, deadline=None)
@given(a=st.integers(1, 6), b=st.integers(2, 6), seed=st.integers(0, 100))
def test_hiding_is_the_previous_token_read_twice_for_one_conv_block(a: int, b: int, seed: int) -> None:
    """One BaseConv block: the column after the separator's sees only the convolution's window, so
    hiding the separator equals replacing its token by A's last one, at every later column; at and
    before the separator nothing changes."""
    model = _model([{"kind": "base_conv", "kernel_size": 3}], seed=seed)
    copies = shared_copies(segments_of(_split([(a, b)], n=4, seed=seed))[0])
    ids = torch.tensor(copies.inputs)
    sep = copies.separator_col
    with torch.no_grad():
        plain = model(ids)
        with separator_hidden_from_convs(model, sep):
            hidden = model(ids)
        swapped_ids = ids.clone()
        swapped_ids[:, sep] = ids[:, sep - 1]
        swapped = model(swapped_ids)
    torch.testing.assert_close(hidden[:, : sep + 1], plain[:, : sep + 1])
    torch.testing.assert_close(hidden[:, sep + 1 :], swapped[:, sep + 1 :])
    with torch.no_grad():  # the hooks are gone
        torch.testing.assert_close(model(ids), plain)


def test_hiding_refuses_what_it_cannot_do() -> None:
    with pytest.raises(ValueError, match="no BaseConv"):
        with separator_hidden_from_convs(_model([BASED], n_layers=1), 3):
            pass
    with pytest.raises(ValueError, match="column"):
        with separator_hidden_from_convs(_model([{"kind": "base_conv"}, BASED]), 0):
            pass


def test_the_table_reads_the_models_own_logits() -> None:
    """Per slice and index: n is the examples whose copy is elsewhere, the answered share and the
    accuracy are the argmax's; with the separator hidden the logits come from inside the hooks."""
    model = _model([{"kind": "base_conv"}, BASED], seed=2)
    data = _split([(3, 5), (5, 3), (2, 1)], n=12)
    for hide in (False, True):
        table = place_profile_table(model, data, max_examples=10, hide_separator=hide)
        assert list(table.columns) == PLACE_COLUMNS
        assert set(table.slice) == {"A=3,B=5", "A=5,B=3"}  # |B| = 1 has no place but the copy's
        for segment in segments_of(data):
            copies = shared_copies(segment)
            if copies.size_b < 2:
                continue
            rows = table[table.slice == copies.name]
            inputs, plen = copies.inputs[:10], copies.prefix_len[:10]
            if hide:
                with separator_hidden_from_convs(model, copies.separator_col):
                    logits = final_logits(model, inputs, plen)
            else:
                logits = final_logits(model, inputs, plen)
            copy_at = copies.second_index[:10]
            assert list(rows["index"]) == list(range(copies.size_b))
            assert list(rows.n) == [int((copy_at != i).sum()) for i in range(copies.size_b)]
            assert rows.accuracy.iloc[0] == pytest.approx((logits.argmax(1) == copies.shared[:10]).mean())
            centred = centred_place_logits(logits, copies.second_set()[:10], copy_at)
            for i, row in zip(range(copies.size_b), rows.itertuples(), strict=True):
                kept = copy_at != i
                assert row.logit == pytest.approx(centred[kept, i].mean())
                drawn = logits.argmax(1)[kept] == copies.second_set()[:10][kept, i]
                assert row.answered == pytest.approx(drawn.mean())


def test_zones_follow_the_reach_from_either_end() -> None:
    from synthetic.analysis.b_places import ZONES, zone_of

    got = zone_of(np.array([1, 4, 5, 6, 7]), np.array([10, 7, 6, 5, 4]), 4)
    assert list(got) == [ZONES[0], ZONES[0], ZONES[2], ZONES[2], ZONES[1]]
    assert list(zone_of(np.array([1, 2, 3]), np.array([3, 2, 1]), 4)) == [ZONES[0]] * 3  # separator first
    assert list(zone_of(np.array([1, 2]), np.array([2, 1]), 0)) == [ZONES[2]] * 2  # no convolution


def test_place_zones_pool_places_by_their_examples() -> None:
    """A zone's logit is its places' means weighted by n; its answers the examples drawn over the
    slice's examples."""
    from synthetic.analysis.b_places import place_zones

    model = _model([{"kind": "base_conv"}, BASED], seed=4)
    table = place_profile_table(model, _split([(3, 12)], n=10))
    zones = place_zones(table, reach=2).set_index("zone")
    assert set(zones.index) == {"after the separator", "before the answer", "between"}
    first = table[table.from_separator <= 2]
    assert zones.loc["after the separator", "logit"] == pytest.approx(
        (first.logit * first.n).sum() / first.n.sum()
    )
    assert zones.loc["after the separator", "answers"] == pytest.approx((first.answered * first.n).sum() / 10)
    assert zones.answers.sum() <= 1.0 - table.accuracy.iloc[0] + 1e-9
