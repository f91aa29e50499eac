"""The swap of the linear-attention states at the shared token's copy: the unchanged token-by-token
read is the parallel forward; the swap changes exactly the examples it can change; bad input is
refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from synthetic.analysis.first_set_read import (
    WAYS,
    answers_with_first_set_read,
    first_examples,
    first_set_read_table,
    linear_attention_layers,
    logits_with_first_set_read,
    readable,
    swapped_index,
)
from synthetic.analysis.readout import final_logits
from synthetic.analysis.sd_layout import SharedCopies, segments_of, shared_copies
from synthetic.model import LanguageModel, ModelConfig, build_model
from synthetic.tasks import DataConfig, SplitData, build_split

VOCAB = 48
BASED = {"kind": "based", "feature_dim": 4}


def _copies(a: int, b: int, n: int = 24, seed: int = 0, passes: int = 1) -> SharedCopies:
    segments = [{"size_a": a, "size_b": b, "num_examples": n}]
    cfg = DataConfig(task="sd", vocab_size=VOCAB, passes=passes, seed=seed, train_segments=segments,
                     test_segments=segments)  # fmt: skip
    return shared_copies(segments_of(build_split(cfg, "test"))[0])


def _model(seed: int, pattern: list | None = None, mlp: bool = True) -> LanguageModel:
    pattern = pattern or ["base_conv", BASED]
    cfg = ModelConfig(d_model=16, n_layers=len(pattern), pattern=pattern, mlp=mlp)
    return build_model(cfg, VOCAB, seed=seed).double()


@settings(max_examples=10, deadline=None)
@given(a=st.integers(1, 5), extra=st.integers(1, 6), seed=st.integers(0, 50))
def test_the_unchanged_read_is_the_parallel_forward(a: int, extra: int, seed: int) -> None:
    """swap_at="none": token by token, the logits of the model's forward (fp64)."""
    copies = _copies(a, a + extra, seed=seed)
    model = _model(seed)
    want = final_logits(model, copies.inputs, copies.prefix_len)
    got = logits_with_first_set_read(model, copies, swap_at="none", batch_size=7)
    assert np.allclose(got, want, rtol=1e-9, atol=1e-9)
    assert np.array_equal(answers_with_first_set_read(model, copies, swap_at="none"), want.argmax(1))


def _token_by_token(
    model: LanguageModel, copies: SharedCopies, swap_at: str, layers: list[int]
) -> np.ndarray:
    """The definition, read left to right: every block steps token by token; at row b's swapped
    column the chosen layers step from their state after the separator instead. float64 [n, V]."""
    blocks = model._block_list
    ids = torch.tensor(copies.inputs)
    separator = 1 + copies.size_a
    cols = torch.tensor(separator + 1 + swapped_index(copies, swap_at))
    with torch.no_grad():
        states = model.init_state(ids.shape[0])
        after_first: list | None = None
        h = torch.empty(0)
        for t in range(ids.shape[1]):
            h = model.embedding(ids[:, t])
            here = cols == t
            new = []
            for i, (block, state) in enumerate(zip(blocks, states, strict=True)):
                x = block.norm1(h)
                y, state = block.mixer.step(x, state)
                if after_first is not None and i in layers:
                    y_first, _ = block.mixer.step(x, after_first[i])
                    y = torch.where(here[:, None], y_first, y)
                h = block._mlp(h + y)
                new.append(state)
            states = new
            if t == separator:
                after_first = list(states)
        return model._head(h).double().numpy()


@settings(max_examples=12, deadline=None)
@given(
    a=st.integers(1, 5),
    b=st.integers(1, 8),
    seed=st.integers(0, 50),
    where=st.sampled_from(["copy", "other"]),
    layers=st.sampled_from([[1], [2], [1, 2]]),
)
def test_the_swap_is_the_token_by_token_swap(
    a: int, b: int, seed: int, where: str, layers: list[int]
) -> None:
    """The parallel read with the swap equals its definition read token by token (fp64), for every
    choice of swapped layers, at the copy and at the control's token."""
    copies = _copies(a, b, n=9, seed=seed)
    model = _model(seed, ["base_conv", BASED, BASED])
    got = logits_with_first_set_read(model, copies, swap_at=where, layers=layers, batch_size=4)
    np.testing.assert_allclose(got, _token_by_token(model, copies, where, layers), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("where", ["copy", "other"])
def test_the_swap_changes_exactly_the_examples_whose_swapped_token_follows_b_tokens(where: str) -> None:
    """Two linear-attention layers: the swapped output at the chosen B token enters the second
    layer's state, so the answer's logits change unless that token is B's first (then the state
    after the separator is the current state). The model and its mode are left as they were."""
    copies = _copies(3, 8, n=60, seed=2)
    model = _model(5, [BASED, BASED])
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    none = logits_with_first_set_read(model, copies, swap_at="none")
    swapped = logits_with_first_set_read(model, copies, swap_at=where)
    index = swapped_index(copies, where)
    assert where == "copy" or not np.array_equal(index, copies.second_index)
    same = np.isclose(swapped, none, rtol=0, atol=1e-12).all(axis=1)
    assert np.array_equal(same, index == 0) and same.any() and not same.all()
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_a_single_linear_attention_layer_never_changes_the_answer() -> None:
    """One layer, no MLP: its state holds the embeddings, which the swap does not touch, so the
    answer's logits are the same with or without it."""
    copies = _copies(3, 8, n=30, seed=4)
    model = _model(3, [BASED], mlp=False)
    none = logits_with_first_set_read(model, copies, swap_at="none")
    assert np.allclose(logits_with_first_set_read(model, copies, swap_at="copy"), none, rtol=0, atol=1e-12)


def test_only_layers_below_the_last_can_carry_the_swap_to_the_answer() -> None:
    """[Based, Based]: the last block's output at the copy reaches no later state, so swapping it
    alone changes nothing, and swapping the first alone is the whole swap (exactly)."""
    copies = _copies(3, 8, n=40, seed=6)
    model = _model(7, [BASED, BASED])
    assert linear_attention_layers(model) == [0, 1]
    none = logits_with_first_set_read(model, copies, swap_at="none")
    both = logits_with_first_set_read(model, copies)
    assert np.array_equal(logits_with_first_set_read(model, copies, layers=[1]), none)
    assert np.array_equal(logits_with_first_set_read(model, copies, layers=[0]), both)
    assert not np.array_equal(both, none)


def test_bad_input_is_refused() -> None:
    copies = _copies(3, 6)
    with pytest.raises(ValueError, match="swap_at='both'; allowed: copy, other, none"):
        answers_with_first_set_read(_model(0), copies, swap_at="both")
    with pytest.raises(ValueError, match="no linear-attention layer"):
        answers_with_first_set_read(_model(0, ["base_conv", "base_conv"]), copies)
    noncausal = _model(0, ["base_conv", {"kind": "based", "feature_dim": 4, "causal": False}])
    with pytest.raises(ValueError, match="non-causal linear-attention layer"):
        answers_with_first_set_read(noncausal, copies)
    with pytest.raises(ValueError, match="passes=2"):
        answers_with_first_set_read(_model(0), _copies(3, 6, passes=2))
    with pytest.raises(ValueError, match=r"layers=\[0\]; allowed: a non-empty subset of \[1\]"):
        answers_with_first_set_read(_model(0), copies, layers=[0])
    with pytest.raises(ValueError, match="batch_size"):
        answers_with_first_set_read(_model(0), copies, batch_size=0)


def _split(pairs: list[tuple[int, int]], n: int, passes: int = 1) -> SplitData:
    segments = [{"size_a": a, "size_b": b, "num_examples": n} for a, b in pairs]
    cfg = DataConfig(task="sd", vocab_size=VOCAB, passes=passes, seed=3, train_segments=segments,
                     test_segments=segments)  # fmt: skip
    return build_split(cfg, "test")


def test_the_table_reads_the_short_first_slices_by_part_of_b() -> None:
    """Short-first one-pass slices only (or those asked for), at most max_examples each; every
    way's parts hold each example once; the answers as trained are the parallel forward's; the
    swap at the copy matches answers_with_first_set_read; the binomial s.e. from n."""
    model = _model(4, [BASED, BASED])
    split = _split([(2, 9), (9, 2), (3, 6)], n=40)
    table = first_set_read_table(model, split, max_examples=30, parts=3)
    assert list(table.columns) == ["slice", "size_a", "size_b", "way", "part", "n", "accuracy", "accuracy_se"]
    assert set(table.slice) == {"A=2,B=9", "A=3,B=6"} and set(table.way) == set(WAYS)
    assert (table.groupby(["slice", "way"]).n.sum() == 30).all()
    assert sorted(set(table.part)) == [0, 1, 2]
    full = table[table.n > 0]
    assert np.allclose(full.accuracy_se, np.sqrt(full.accuracy * (1 - full.accuracy) / full.n))
    copies = shared_copies(segments_of(split)[0])
    head = copies.inputs[:30], copies.prefix_len[:30]
    for way, answers in (
        (WAYS[0], final_logits(model, *head).argmax(1)),
        (WAYS[1], answers_with_first_set_read(model, first_examples(copies, 30), swap_at="copy")),
    ):
        rows = table[(table.slice == "A=2,B=9") & (table.way == way) & (table.n > 0)]
        right = (answers == copies.shared[:30]).sum()
        assert (rows.accuracy * rows.n).sum() == pytest.approx(right)
    only = first_set_read_table(model, split, slices=[(3, 6)], max_examples=5)
    assert set(only.slice) == {"A=3,B=6"} and (only.groupby("way").n.sum() == 5).all()
    none = first_set_read_table(model, _split([(6, 3)], n=8))
    assert none.empty and list(none.columns) == list(table.columns)


def test_the_table_reads_the_order_it_is_asked_for() -> None:
    """order="long-first" reads the |A| > |B| slices alone, "both" every one-pass slice, each the
    same rows as read alone; equal sizes belong to neither order; an unknown order is refused."""
    model = _model(4, [BASED, BASED])
    split = _split([(2, 9), (9, 2), (4, 4)], n=12)
    long_first = first_set_read_table(model, split, max_examples=6, order="long-first")
    assert set(long_first.slice) == {"A=9,B=2"} and (long_first.groupby("way").n.sum() == 6).all()
    both = first_set_read_table(model, split, max_examples=6, order="both")
    assert set(both.slice) == {"A=2,B=9", "A=9,B=2"}
    short_first = first_set_read_table(model, split, max_examples=6)
    keys = ["slice", "way", "part"]
    expected = pd.concat([short_first, long_first]).sort_values(keys).reset_index(drop=True)
    got = both.sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected)
    assert first_set_read_table(model, split, slices=[(2, 9)], order="long-first").empty
    with pytest.raises(ValueError, match="order='mirror'; allowed: short-first, long-first, both"):
        first_set_read_table(model, split, order="mirror")


def test_the_table_refuses_models_it_cannot_read() -> None:
    non_causal = _model(1, [{**BASED, "causal": False}])
    assert readable(_model(1)) and not readable(non_causal)
    assert not readable(_model(1, ["base_conv", "base_conv"]))
    with pytest.raises(ValueError, match="causal linear-attention layers only"):
        first_set_read_table(non_causal, _split([(2, 5)], n=4))
    with pytest.raises(ValueError, match="max_examples"):
        first_set_read_table(_model(1), _split([(2, 5)], n=4), max_examples=0)
