"""The copy intervention and position profiles, against constructed models whose answer is known:
counting adds the copies' evidence (interaction 0), storing the first set needs both copies
(interaction = its gain), and position weights come back as the copies' gains."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from synthetic.analysis import (
    CountingModel,
    StoreFirstModel,
    copy_intervention,
    effects,
    position_profile,
    shared_copies,
    summarize_intervention,
)
from synthetic.analysis.sd_layout import absent_tokens, order_of, segments_of
from synthetic.model import ModelConfig, build_model
from synthetic.tasks import DataConfig, build_split
from synthetic.tasks.data import SplitData
from synthetic.tasks.tokens import NUM_SPECIAL

VOCAB = 48


def _split(
    kind: Any = "sd",
    passes: int = 1,
    sizes: tuple[tuple[int, int], ...] = ((3, 6), (6, 3)),
    n: int = 60,
    seed: int = 0,
) -> SplitData:
    segments = [{"size_a": a, "size_b": b, "num_examples": n} for a, b in sizes]
    cfg = DataConfig(
        task=kind, vocab_size=VOCAB, passes=passes, seed=seed, train_segments=segments, test_segments=segments
    )
    return build_split(cfg, "test")


@st.composite
def splits(draw: st.DrawFn) -> SplitData:
    kind = draw(st.sampled_from(["sd", "sd_distractor"]))
    a = draw(st.integers(1, 8))
    b = draw(st.integers(3, 8))
    return _split(
        kind,
        draw(st.integers(1, 2)),
        ((a, b), (b, a)) if a >= 3 and a != b else ((a, b),),
        12,
        draw(st.integers(0, 99)),
    )


@settings(max_examples=15)
@given(splits(), st.floats(0.25, 4.0))
def test_counting_adds_the_copies_evidence(data: SplitData, gain: float) -> None:
    """A counting model: each copy (in every JR-p pass) adds ``gain`` to the shared token's logit,
    alone or with the other: both gains are ``passes * gain`` and the interaction is 0."""
    table = copy_intervention(CountingModel(VOCAB, gain=gain), data)
    eff = effects(table)
    passes = data.segments[0].passes
    for name in ("gain_first", "gain_second", "gain_first_alone", "gain_second_alone"):
        np.testing.assert_allclose(eff[name], passes * gain, rtol=1e-12)
    np.testing.assert_allclose(eff["interaction"], 0.0, atol=1e-12)


@settings(max_examples=15)
@given(splits(), st.floats(0.25, 4.0))
def test_storing_the_first_set_needs_both_copies(data: SplitData, gain: float) -> None:
    """sdtheory's causal construction (store the first set, check the second): the answer fires only
    with both copies, so the interaction equals its gain and a copy alone gains nothing; it answers
    every example of both tasks."""
    model = StoreFirstModel(VOCAB, max_first=8, gain=gain)
    table = copy_intervention(model, data)
    eff = effects(table)
    assert table["correct"].all()
    np.testing.assert_allclose(eff["interaction"], gain, rtol=1e-9)
    np.testing.assert_allclose(eff[["gain_first", "gain_second"]], gain, rtol=1e-9)
    np.testing.assert_allclose(eff[["gain_first_alone", "gain_second_alone"]], 0.0, atol=1e-9)


def test_counting_fails_the_distractor_task_and_storing_does_not() -> None:
    plain, distractor = _split("sd", n=200), _split("sd_distractor", n=200)
    counting = CountingModel(VOCAB)
    assert copy_intervention(counting, plain)["correct"].all()
    assert copy_intervention(counting, distractor)["correct"].mean() < 0.75  # ties with the distractor
    assert copy_intervention(StoreFirstModel(VOCAB, max_first=6), distractor)["correct"].all()


def test_position_profiles_recover_position_weights() -> None:
    """Weights that fall with the position (primacy) come back as each copy's gain at its index:
    the first copy at index i of A sits at column 1 + i, the second at index j of B at a + 2 + j."""
    weights = [1.0 / (1 + t) for t in range(20)]
    table = copy_intervention(CountingModel(VOCAB, weights), _split(n=200))
    first = position_profile(table, "first")
    np.testing.assert_allclose(first["gain"], [weights[1 + i] for i in first["position"]], rtol=1e-12)
    np.testing.assert_allclose(first["gain_alone"], first["gain"], rtol=1e-12)
    assert (first["from_end"] == first["size_a"] - 1 - first["position"]).all()
    second = position_profile(table, "second", ("order",))
    expected = [weights[a + 2 + j] for a, j in zip(second["size_a"], second["position"], strict=True)]
    np.testing.assert_allclose(second["gain"], expected, rtol=1e-12)
    assert set(second["order"]) == {"short-first", "long-first"}
    assert first["n"].sum() == len(table) == second["n"].sum()


def test_table_columns_replacements_and_seed() -> None:
    data = _split(passes=2, n=40)
    table = copy_intervention(CountingModel(VOCAB), data, seed=3)
    assert len(table) == 80 and list(table["slice"].unique()) == ["A=3,B=6", "A=6,B=3"]
    assert set(table["order"]) == {"short-first", "long-first"} and (table["passes"] == 2).all()
    for seg in data.segments:
        part = table[table["slice"] == seg.name]
        rows = seg.inputs
        for col in ("replace_first", "replace_second"):
            assert not (rows == part[col].to_numpy()[:, None]).any()  # absent from the example
            assert (part[col] >= NUM_SPECIAL).all()
        assert (part["replace_first"] != part["replace_second"]).all()
        copies = shared_copies(seg)
        np.testing.assert_array_equal(part["pos_first"], copies.first_index)
        np.testing.assert_array_equal(
            rows[np.arange(len(rows))[:, None], copies.first_cols], np.repeat(copies.shared[:, None], 2, 1)
        )
        np.testing.assert_array_equal(
            rows[np.arange(len(rows))[:, None], copies.second_cols], np.repeat(copies.shared[:, None], 2, 1)
        )
    again = copy_intervention(CountingModel(VOCAB), data, seed=3)
    pd.testing.assert_frame_equal(table, again)
    other = copy_intervention(CountingModel(VOCAB), data, seed=4)
    assert not np.array_equal(table["replace_first"], other["replace_first"])
    # a segment gets the same replacements whatever else the data holds
    alone = copy_intervention(CountingModel(VOCAB), data.segments[1], seed=3)
    np.testing.assert_array_equal(alone["replace_first"], table["replace_first"][40:])


def test_summary_means_standard_errors_and_groups() -> None:
    weights = list(np.linspace(2.0, 0.1, 20))
    table = copy_intervention(CountingModel(VOCAB, weights), _split(n=100))
    summary = summarize_intervention(table, ("order",))
    assert list(summary["order"]) == ["long-first", "short-first"] and summary["n"].tolist() == [100, 100]
    eff = effects(table)
    for order, part in eff.groupby(table["order"]):
        row = summary[summary["order"] == order].iloc[0]
        values = part["gain_first"].to_numpy()
        assert row["gain_first"] == pytest.approx(values.mean())
        assert row["gain_first_se"] == pytest.approx(values.std(ddof=1) / np.sqrt(values.size))
        assert row["accuracy_se"] == pytest.approx(np.sqrt(row["accuracy"] * (1 - row["accuracy"]) / 100))
    overall = summarize_intervention(table, ())
    assert len(overall) == 1 and overall["n"].item() == 200
    logprob = summarize_intervention(table, ("slice",), measure="logprob")
    assert np.isfinite(logprob[["gain_first", "interaction"]].to_numpy()).all()


def test_a_language_model_is_read_not_changed() -> None:
    """On a real (untrained) model: a finite table; parameters and the training mode unchanged."""
    cfg = ModelConfig(d_model=16, n_layers=2, pattern=["base_conv", {"kind": "based", "feature_dim": 4}])
    model = build_model(cfg, VOCAB, seed=1)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    table = copy_intervention(model, _split(n=20), batch_size=7)
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert len(table) == 40 and np.isfinite(table.filter(like="log").to_numpy()).all()


def test_errors_name_what_is_wrong() -> None:
    decision = DataConfig(
        task="sd_decision", vocab_size=VOCAB, train_segments="tiny_sd_test", test_segments="tiny_sd_test"
    )
    with pytest.raises(
        ValueError, match=r"segment 'A=2,B=6': the label of example 0 \([45]\) occurs 0 times in A"
    ):
        copy_intervention(CountingModel(VOCAB), build_split(decision, "test"))
    mqar = DataConfig(
        task="mqar", vocab_size=VOCAB, train_segments="quick_mqar_test", test_segments="quick_mqar_test"
    )
    with pytest.raises(ValueError, match=r"its config is a MQARSegmentConfig"):
        copy_intervention(CountingModel(VOCAB), build_split(mqar, "test").segments[0])
    table = copy_intervention(CountingModel(VOCAB), _split(n=5))
    with pytest.raises(ValueError, match=r"measure='prob' is not one of logit, logprob"):
        summarize_intervention(table, measure="prob")
    with pytest.raises(ValueError, match=r"by=\['nope'\]: \['nope'\] are not columns"):
        summarize_intervention(table, ("nope",))
    with pytest.raises(ValueError, match=r"which='third' is not one of first, second"):
        position_profile(table, "third")
    with pytest.raises(ValueError, match=r"table lacks the columns \['logit_11'"):
        effects(table.drop(columns=["logit_11"]))
    with pytest.raises(TypeError, match=r"a SplitData, a Segment or a non-empty sequence of Segments"):
        segments_of([])
    with pytest.raises(ValueError, match=r"holds token 47, outside the model's vocabulary \[0, 40\)"):
        copy_intervention(CountingModel(40), _split(n=200))
    with pytest.raises(ValueError, match=r"leaves 1 set tokens .* fewer than the 2 absent tokens"):
        absent_tokens(np.array([[1, 4, 5, 2, 6, 3]]), 8, 2, np.random.default_rng(0))


@given(st.integers(1, 40), st.integers(1, 40))
def test_order_labels(a: int, b: int) -> None:
    assert order_of(a, b) == ("short-first" if a < b else "long-first" if a > b else "equal")


def test_checks_membership_needs_both_orders_above_the_threshold() -> None:
    from synthetic.analysis.intervention import CHECKING_LOGITS, checks_membership

    def frame(**interaction: float) -> pd.DataFrame:
        return pd.DataFrame(
            {"order": [k.replace("_", "-") for k in interaction], "interaction": list(interaction.values())}
        )

    assert CHECKING_LOGITS == 2.0
    assert checks_membership(frame(short_first=3.0, long_first=2.5))
    assert not checks_membership(frame(short_first=3.0, long_first=1.5))
    assert not checks_membership(frame(short_first=3.0))  # one order only
    assert checks_membership(frame(short_first=1.5, long_first=1.2), threshold=1.0)
    with pytest.raises(ValueError, match="threshold"):
        checks_membership(frame(short_first=3.0, long_first=3.0), threshold=0)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(0, 12),
    vocab=st.integers(8, 40),
    count=st.integers(0, 3),
    seed=st.integers(0, 2**32 - 1),
    data=st.data(),
)
def test_absent_tokens_are_a_stable_sorts_first_columns(
    n: int, vocab: int, count: int, seed: int, data: st.DataObject
) -> None:
    """The partial selection draws exactly what sorting every key would: the same tokens in the
    same order for the same generator state."""
    width = data.draw(st.integers(1, max(1, vocab - 4 - count)))
    inputs = np.array(
        data.draw(
            st.lists(
                st.lists(st.integers(0, vocab - 1), min_size=width, max_size=width), min_size=n, max_size=n
            )
        ),
        dtype=np.int64,
    ).reshape(n, width)
    lo = 4
    present = np.zeros((n, vocab), dtype=bool)
    present[np.arange(n)[:, None], inputs] = True
    present[:, :lo] = True
    keys = np.random.default_rng(seed).random((n, vocab))
    keys[present] = np.inf
    want = np.argsort(keys, axis=1, kind="stable")[:, :count]
    got = absent_tokens(inputs, vocab, count, np.random.default_rng(seed))
    assert got.shape == (n, count) and got.dtype == np.int64
    np.testing.assert_array_equal(got, want)
    assert not present[np.arange(n)[:, None], got].any()


@settings(max_examples=25, deadline=None)
@given(tokens=st.integers(1, 200), passes=st.integers(1, 2))
def test_a_token_budget_changes_the_batches_not_the_rows(tokens: int, passes: int) -> None:
    """``batch_tokens``: forward passes of as many whole examples as fit in the budget (at least
    one); the table is the one of fixed batches, to float rounding, on a real model (fp32, CPU)."""
    from synthetic.analysis.intervention import MAX_BUDGET_ROWS, _rows_per_batch

    cfg = ModelConfig(d_model=16, n_layers=2, pattern=["base_conv", {"kind": "based", "feature_dim": 4}])
    model = build_model(cfg, VOCAB, seed=1)
    data = _split(passes=passes, n=9)
    fixed = copy_intervention(model, data, batch_size=256, batch_tokens=None)
    budget = copy_intervention(model, data, batch_tokens=tokens)
    floats = fixed.filter(regex="^log").columns
    pd.testing.assert_frame_equal(fixed.drop(columns=floats), budget.drop(columns=floats))
    np.testing.assert_allclose(budget[floats].to_numpy(), fixed[floats].to_numpy(), rtol=1e-5, atol=1e-5)
    for seg in data.segments:
        t = seg.inputs.shape[1]
        rows = _rows_per_batch(256, tokens, t)
        assert rows >= 1 and (rows * t <= tokens or rows == 1) and (rows + 1) * t > tokens
    # never more rows than the GPU kernels' grids take (B x H on an axis of at most 65,535 blocks)
    assert _rows_per_batch(256, 10**9, 36) == MAX_BUDGET_ROWS and MAX_BUDGET_ROWS * 8 <= 65_535


def test_the_budget_sets_the_batches_the_model_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each segment's forward passes take ``batch_tokens // T`` examples (at least one), and
    ``batch_size`` without a budget; a budget that runs out of device memory falls back to
    ``batch_size`` for that segment."""
    import synthetic.analysis.intervention as intervention

    seen: list[tuple[int, int]] = []
    real = intervention.final_logits

    def spy(model: Any, inputs: np.ndarray, prefix_len: np.ndarray, *, batch_size: int) -> np.ndarray:
        seen.append((inputs.shape[1], batch_size))
        return real(model, inputs, prefix_len, batch_size=batch_size)

    monkeypatch.setattr(intervention, "final_logits", spy)
    data = _split(sizes=((3, 6), (20, 9)), n=5)
    lengths = [seg.inputs.shape[1] for seg in data.segments]
    copy_intervention(CountingModel(VOCAB), data, batch_size=7, batch_tokens=100)
    assert sorted(set(seen)) == sorted({(t, max(1, 100 // t)) for t in lengths})
    seen.clear()
    copy_intervention(CountingModel(VOCAB), data, batch_size=7, batch_tokens=None)
    assert {b for _, b in seen} == {7}

    def out_of_memory(
        model: Any, inputs: np.ndarray, prefix_len: np.ndarray, *, batch_size: int
    ) -> np.ndarray:
        if batch_size > 7:
            raise torch.OutOfMemoryError("too big")
        return spy(model, inputs, prefix_len, batch_size=batch_size)

    monkeypatch.setattr(intervention, "final_logits", out_of_memory)
    seen.clear()
    fallback = copy_intervention(CountingModel(VOCAB), data, batch_size=7, batch_tokens=10_000)
    assert {b for _, b in seen} == {7} and len(fallback) == 10
    with pytest.raises(torch.OutOfMemoryError):  # no budget: nothing smaller to fall back to
        copy_intervention(CountingModel(VOCAB), data, batch_size=8, batch_tokens=None)


def test_the_token_budget_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset or empty: fixed batches; an integer >= 1: that budget; anything else: an error naming
    the variable and what it allows, as does a bad ``batch_tokens`` argument."""
    from synthetic.analysis.intervention import BATCH_TOKENS_ENV, batch_tokens_from_env

    monkeypatch.delenv(BATCH_TOKENS_ENV, raising=False)
    assert batch_tokens_from_env() is None
    monkeypatch.setenv(BATCH_TOKENS_ENV, " ")
    assert batch_tokens_from_env() is None
    monkeypatch.setenv(BATCH_TOKENS_ENV, "524288")
    assert batch_tokens_from_env() == 524288
    data = _split(n=4)
    assert len(copy_intervention(CountingModel(VOCAB), data)) == 8  # the default reads the variable
    for bad in ("0", "-5", "1e5", "lots"):
        monkeypatch.setenv(BATCH_TOKENS_ENV, bad)
        with pytest.raises(ValueError, match=rf"READTWICE_ANALYSIS_TOKENS='{bad}' must be an integer >= 1"):
            copy_intervention(CountingModel(VOCAB), data)
    monkeypatch.delenv(BATCH_TOKENS_ENV)
    for arg in (0, -1, True, 2.5, "all"):
        with pytest.raises(ValueError, match=r"batch_tokens=.*allowed: an integer >= 1, None or 'env'"):
            copy_intervention(CountingModel(VOCAB), data, batch_tokens=arg)  # type: ignore[arg-type]
