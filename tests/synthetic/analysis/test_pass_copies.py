"""The copy intervention resolved by pass: condition codes, agreement with the per-set
intervention, the edits a model actually reads, and the pair interactions and summaries derived
from the table."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from synthetic.analysis import CountingModel, StoreFirstModel, copy_intervention
from synthetic.analysis.pass_copies import (
    MAX_PASSES,
    all_conditions,
    condition_code,
    condition_summary,
    copy_names,
    kept_copies,
    pair_conditions,
    pair_interaction,
    pair_summary,
    pass_copy_intervention,
)
from synthetic.model import ModelConfig, build_model
from synthetic.tasks import DataConfig, build_split
from synthetic.tasks.data import SplitData

VOCAB = 48
#: the per-set intervention's conditions as pass codes: every pass of a set kept or replaced alike
PER_SET = {
    1: {"11": "11", "10": "10", "01": "01", "00": "00"},
    2: {"1111": "11", "1010": "10", "0101": "01", "0000": "00"},
}


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Any:
    """Tiny models: one intra-op thread is fastest (and is not slowed by other work on the CPUs)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _split(
    passes: int = 2,
    sizes: tuple[tuple[int, int], ...] = ((3, 6), (6, 3)),
    n: int = 12,
    seed: int = 0,
    kind: Any = "sd",
) -> SplitData:
    segments = [{"size_a": a, "size_b": b, "num_examples": n} for a, b in sizes]
    cfg = DataConfig(
        task=kind, vocab_size=VOCAB, passes=passes, seed=seed, train_segments=segments, test_segments=segments
    )
    return build_split(cfg, "test")


def _tiny_model() -> nn.Module:
    """An untrained (random, deterministic) LanguageModel: logits that depend on every token in a
    non-additive way, so agreement with the per-set intervention is not an accident of addition."""
    cfg = ModelConfig(d_model=16, n_layers=2, pattern=["base_conv", {"kind": "based", "feature_dim": 4}])
    return build_model(cfg, VOCAB, seed=1)


def _index(passes: int) -> dict[str, int]:
    """Each copy's digit in a code, derived here from the layout ``1 A 2 B`` repeated: A then B,
    pass after pass."""
    return {f"{s}{k + 1}": 2 * k + i for k in range(passes) for i, s in enumerate("AB")}


def _code(passes: int, kept: set[str]) -> str:
    index = _index(passes)
    digits = ["0"] * (2 * passes)
    for name in kept:
        digits[index[name]] = "1"
    return "".join(digits)


# ---- names and codes ----------------------------------------------------------------------------


@pytest.mark.parametrize("passes", [1, 2, 3])
def test_names_codes_and_kept_copies_round_trip(passes: int) -> None:
    """Every subset of the copies has one code, whose kept copies are that subset in reading
    order; the codes of all subsets are exactly :func:`all_conditions`."""
    names = copy_names(passes)
    assert names == tuple(f"{s}{k}" for k in range(1, passes + 1) for s in "AB")
    assert names[:2] == ("A1", "B1")
    codes = set()
    for size in range(len(names) + 1):
        for subset in itertools.combinations(names, size):
            code = condition_code(subset[::-1], passes)  # the order given does not matter
            assert code == condition_code(subset, passes) == _code(passes, set(subset))
            assert kept_copies(code) == subset  # combinations keep reading order
            codes.add(code)
    assert codes == set(all_conditions(passes))
    for code in all_conditions(passes):
        assert condition_code(kept_copies(code), passes) == code
    assert (
        condition_code(names, passes) == "1" * 2 * passes and condition_code([], passes) == "0" * 2 * passes
    )


@pytest.mark.parametrize("passes", [1, 2, 3])
def test_all_conditions_are_distinct_with_the_example_as_generated_first(passes: int) -> None:
    conditions = all_conditions(passes)
    assert len(conditions) == len(set(conditions)) == 2 ** (2 * passes)
    assert conditions[0] == "1" * 2 * passes
    assert all(len(c) == 2 * passes and set(c) <= {"0", "1"} for c in conditions)


def test_name_and_code_errors_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match=r"\['C1'\] are not copies of a 2-pass prompt"):
        condition_code(["A1", "C1"], 2)
    with pytest.raises(ValueError, match=r"\['A3', 'B3'\] are not copies of a 2-pass prompt"):
        condition_code(["B3", "A3"], 2)
    for bad in ("", "1", "101", "1a", "1210", "11 0"):
        with pytest.raises(ValueError, match=r"one digit 0 / 1 per copy, two copies a pass"):
            kept_copies(bad)
    with pytest.raises(ValueError, match=rf"passes={MAX_PASSES + 1}: all conditions are offered up to 3"):
        all_conditions(MAX_PASSES + 1)
    for fn in (all_conditions, copy_names):
        with pytest.raises(ValueError, match=r"passes=0 must be >= 1"):
            fn(0)
    with pytest.raises(ValueError, match=r"passes=-1 must be >= 1"):
        condition_code([], -1)


def test_intervention_argument_errors() -> None:
    """A condition of the wrong length or alphabet, no conditions, or max_examples < 1: refused
    with the segment named; the per-pass table refuses a mixed or malformed pair request."""
    data = _split(n=3)
    model = CountingModel(VOCAB)
    with pytest.raises(ValueError, match=r"segment 'A=3,B=6' \(2 passes\): conditions \['11'\]"):
        pass_copy_intervention(model, data, conditions=["11"])
    with pytest.raises(ValueError, match=r"conditions \['01a0'\]; allowed, 'all' or codes of 4 digits"):
        pass_copy_intervention(model, data, conditions=["0110", "01a0"])
    with pytest.raises(ValueError, match=r"conditions none"):
        pass_copy_intervention(model, data, conditions=[])
    with pytest.raises(ValueError, match=r"max_examples=0 must be >= 1"):
        pass_copy_intervention(model, data, max_examples=0)
    table = pass_copy_intervention(model, data, conditions="all")
    with pytest.raises(ValueError, match=r"background='both'; allowed: kept, removed"):
        pair_interaction(table, ("A1", "B1"), background="both")
    with pytest.raises(ValueError, match=r"two different copies"):
        pair_interaction(table, ("A1", "A1"))
    with pytest.raises(ValueError, match=r"measure='prob' is not one of logit, logprob"):
        pair_interaction(table, ("A1", "B1"), measure="prob")
    with pytest.raises(ValueError, match=r"\['C1'\] are not copies"):
        pair_interaction(table, ("A1", "C1"))
    one_pass = pass_copy_intervention(model, _split(passes=1, n=3))
    with pytest.raises(ValueError, match=r"mixes prompts of \[1, 2\] passes"):
        pair_interaction(pd.concat([table, one_pass], ignore_index=True), ("A1", "B1"))


# ---- agreement with the per-set intervention ---------------------------------------------------


@pytest.mark.parametrize("passes", [1, 2])
@pytest.mark.parametrize("which", ["counting", "language_model"])
def test_whole_set_conditions_equal_copy_intervention(passes: int, which: str) -> None:
    """With every pass of a set kept or replaced alike, the rows are copy_intervention's: the same
    replacement tokens (same seed), the same logits and log-probabilities, the same answers."""
    model = (
        CountingModel(VOCAB, weights=list(np.linspace(2.0, 0.1, 30)))
        if which == "counting"
        else _tiny_model()
    )
    data = _split(passes=passes, n=10, seed=passes)
    old = copy_intervention(model, data, seed=7, batch_size=8, batch_tokens=None)
    new = pass_copy_intervention(
        model, data, seed=7, conditions=list(PER_SET[passes]), batch_size=8, batch_tokens=None
    )
    shared = ["slice", "size_a", "size_b", "order", "passes", "example", "shared", "pos_first", "pos_second",
              "replace_first", "replace_second"]  # fmt: skip
    pd.testing.assert_frame_equal(new[shared], old[shared])
    for code, fs in PER_SET[passes].items():
        for measure in ("logit", "logprob"):
            np.testing.assert_allclose(
                new[f"{measure}_{code}"],
                old[f"{measure}_{fs}"],
                rtol=1e-6,
                atol=1e-6,
                err_msg=f"{measure}_{code}",
            )
    np.testing.assert_array_equal(new["correct_" + "1" * 2 * passes], old["correct"])
    assert [c.split("_", 1)[1] for c in new.columns if c.startswith("logit_")] == list(PER_SET[passes])


# ---- the edit is what it claims ------------------------------------------------------------------


class SpyModel(nn.Module):
    """Records the input ids of every forward pass; logits of zeros but for a bump at each input
    token (so the table is well defined), [B, T, V]."""

    def __init__(self, vocab: int, declare: bool = True) -> None:
        super().__init__()
        if declare:
            self.vocab_size = vocab
        self.width = vocab
        self.seen: list[np.ndarray] = []

    def forward(self, input_ids: torch.Tensor, prefix_len: torch.Tensor | None = None) -> torch.Tensor:
        self.seen.append(input_ids.cpu().numpy().copy())
        onehot = nn.functional.one_hot(input_ids.long(), self.width).to(torch.float64)
        return onehot.cumsum(dim=1)  # logit of a token: how often it has occurred so far


@pytest.mark.parametrize("passes", [1, 2, 3])
def test_each_condition_replaces_exactly_its_copies(passes: int) -> None:
    """For every condition the model reads the example with the replaced copies' columns (found
    here as the shared token's occurrences, in reading order) holding ``replace_first`` (copies in
    A) or ``replace_second`` (copies in B), and every other column unchanged."""
    data = _split(passes=passes, n=5, seed=3)
    spy = SpyModel(VOCAB)
    table = pass_copy_intervention(spy, data, seed=1, batch_size=64)
    conditions = all_conditions(passes)
    assert len(spy.seen) == len(conditions) * len(data.segments)  # one batch a condition and segment
    names = copy_names(passes)
    for s, seg in enumerate(data.segments):
        part = table[table["slice"] == seg.name].reset_index(drop=True)
        original = seg.inputs
        cols = np.stack(
            [np.flatnonzero(row == label) for row, label in zip(original, part["shared"], strict=True)]
        )
        assert cols.shape == (len(original), 2 * passes)  # the shared token's copies, reading order
        for c, code in enumerate(conditions):
            read = spy.seen[s * len(conditions) + c]
            expected = original.copy()
            for i, (name, digit) in enumerate(zip(names, code, strict=True)):
                if digit == "0":
                    token = part["replace_first" if name[0] == "A" else "replace_second"].to_numpy()
                    expected[np.arange(len(original)), cols[:, i]] = token
            np.testing.assert_array_equal(read, expected, err_msg=f"{seg.name} {code}")
            changed = read != original
            assert changed.sum(axis=1).tolist() == [code.count("0")] * len(original)
            # the logit under the spy: how often the shared token occurs in what was read
            np.testing.assert_array_equal(part[f"logit_{code}"], [code.count("1")] * len(original))
    assert (table["replace_first"] != table["replace_second"]).all()


def test_a_model_without_vocab_size_gets_the_same_table() -> None:
    """A model that declares no ``vocab_size``: the vocabulary is read from its logits' width (one
    extra forward pass of one example), and the table is the same."""
    data = _split(n=4)
    declared = pass_copy_intervention(SpyModel(VOCAB), data, conditions=["0110"])
    spy = SpyModel(VOCAB, declare=False)
    undeclared = pass_copy_intervention(spy, data, conditions=["0110"])
    pd.testing.assert_frame_equal(declared, undeclared)
    assert len(spy.seen) == 3 * len(data.segments) and spy.seen[0].shape[0] == 1


def test_max_examples_takes_the_first_examples_with_the_same_replacements() -> None:
    """``max_examples`` keeps the first examples of each segment, read with the replacement tokens
    the full run gives them; more than a segment holds: all of it."""
    model = _tiny_model()
    data = _split(n=9)
    conditions = ["0110", "1001", "0000"]
    full = pass_copy_intervention(model, data, conditions=conditions, seed=4)
    few = pass_copy_intervention(model, data, conditions=conditions, seed=4, max_examples=4)
    assert few.groupby("slice").size().tolist() == [4, 4]
    head = full.groupby("slice", sort=False).head(4).reset_index(drop=True)
    floats = [c for c in full.columns if c.startswith("log")]
    pd.testing.assert_frame_equal(few.drop(columns=floats), head.drop(columns=floats))
    np.testing.assert_allclose(few[floats], head[floats], rtol=1e-6, atol=1e-6)
    everything = pass_copy_intervention(model, data, conditions=conditions, seed=4, max_examples=50)
    pd.testing.assert_frame_equal(everything.drop(columns=floats), full.drop(columns=floats))


def test_table_columns_and_conditions_read() -> None:
    """The example as generated is read first and once, whatever the conditions given."""
    table = pass_copy_intervention(CountingModel(VOCAB), _split(n=3), conditions=["0110", "1111", "0110"])
    assert [c for c in table.columns if c.endswith(("_1111", "_0110"))] == [
        "logit_1111", "logprob_1111", "correct_1111", "logit_0110", "logprob_0110", "correct_0110",
    ]  # fmt: skip
    assert len(table) == 6 and (table["passes"] == 2).all() and table["correct_1111"].all()


# ---- pair interactions ---------------------------------------------------------------------------


def _table(passes: int, level: Any, n: int = 3) -> pd.DataFrame:
    """A hand-built table: ``logit_<code>`` = level(kept copies, example), for every code."""
    names = copy_names(passes)
    index = _index(passes)
    columns: dict[str, Any] = {"passes": [passes] * n, "order": ["long-first"] * n}
    for digits in itertools.product("10", repeat=2 * passes):
        code = "".join(digits)
        kept = {name for name in names if code[index[name]] == "1"}
        columns[f"logit_{code}"] = [float(level(kept, e)) for e in range(n)]
        columns[f"logprob_{code}"] = [float(level(kept, e)) - 10.0 for e in range(n)]
        columns[f"correct_{code}"] = [bool(level(kept, e) > 0) for e in range(n)]
    return pd.DataFrame(columns)


def test_pair_interaction_is_the_docstring_formula() -> None:
    """For arbitrary logits, interaction(X, Y) = L[X, Y] - L[X only removed] - L[Y only removed]
    + L[X, Y removed], the other copies all kept ("kept") or all replaced ("removed")."""
    rng = np.random.default_rng(0)
    values: dict[str, np.ndarray] = {}

    def level(kept: set[str], e: int) -> float:
        key = " ".join(sorted(kept))
        values.setdefault(key, rng.normal(size=4))
        return float(values[key][e])

    table = _table(2, level, n=4)
    everything = set(copy_names(2))
    for x, y in itertools.combinations(copy_names(2), 2):
        for background, others in (("kept", everything - {x, y}), ("removed", set())):

            def column(kept: set[str], others: set[str] = others) -> pd.Series:
                return table[f"logit_{_code(2, others | kept)}"]

            want = column({x, y}) - column({y}) - column({x}) + column(set())
            got = pair_interaction(table, (x, y), background=background)
            pd.testing.assert_series_equal(got, want, check_names=False)
            # symmetric in the pair, and the same in log-probabilities (a constant shift here)
            pd.testing.assert_series_equal(pair_interaction(table, (y, x), background=background), got)
            np.testing.assert_allclose(
                pair_interaction(table, (x, y), background=background, measure="logprob"), got, atol=1e-12
            )


@settings(max_examples=20)
@given(passes=st.integers(1, 3), data=st.data())
def test_additive_evidence_has_no_interaction(passes: int, data: st.DataObject) -> None:
    """A model that adds up per-copy evidence (logit = bias + the kept copies' weights): every
    pair's interaction is 0 in both backgrounds."""
    names = copy_names(passes)
    weights = data.draw(st.lists(st.floats(-10, 10), min_size=len(names), max_size=len(names)))
    bias = data.draw(st.floats(-10, 10))
    table = _table(
        passes, lambda kept, e: bias + sum(w for n, w in zip(names, weights, strict=True) if n in kept)
    )
    for pair in itertools.combinations(names, 2):
        for background in ("kept", "removed"):
            np.testing.assert_allclose(pair_interaction(table, pair, background=background), 0.0, atol=1e-9)


def test_a_conjunction_of_b1_and_a2_is_the_one_interaction() -> None:
    """The reader that stores B in pass 1 and checks A in pass 2: the answer's logit is large only
    with both B1 and A2 kept. Their interaction is that gain, every other pair's about 0."""
    gain = 6.0
    table = _table(2, lambda kept, e: gain * ({"B1", "A2"} <= kept) + 0.3 * len(kept) + 0.1 * e)
    for background in ("removed", "kept"):
        for pair in itertools.combinations(copy_names(2), 2):
            want = gain if set(pair) == {"B1", "A2"} else 0.0
            np.testing.assert_allclose(pair_interaction(table, pair, background=background), want, atol=1e-9)
    summary = pair_summary(table, background="removed")
    assert summary.set_index("pair")["interaction"].idxmax() == "B1 A2"


def test_a_missing_condition_is_named() -> None:
    table = _table(2, lambda kept, e: len(kept)).drop(columns=["logit_0010"])
    with pytest.raises(ValueError, match=r"the table has no condition '0010' \(column logit_0010\)"):
        pair_interaction(table, ("B1", "A2"), background="removed")
    pair_interaction(table, ("B1", "A2"), background="kept")  # reads 1111, 1011, 1101, 1001: all there
    with pytest.raises(ValueError, match=r"no condition '0010'"):
        condition_summary(table)


def test_pair_summary_reads_the_pairs_whose_conditions_were_read() -> None:
    """A table of some conditions: pair_summary gives the pairs those conditions cover, and each
    pair's mean interaction is the one pair_interaction gives, per group."""
    model = StoreFirstModel(VOCAB, max_first=8, gain=3.0)
    table = pass_copy_intervention(model, _split(n=6), conditions=["0110", "0100", "0010", "0000"])
    summary = pair_summary(table, background="removed")
    assert summary["pair"].unique().tolist() == ["B1 A2"]
    values = pair_interaction(table, ("B1", "A2"), background="removed")
    for order, part in values.groupby(table["order"]):
        row = summary[summary["order"] == order].iloc[0]
        assert row["n"] == 6 and row["interaction"] == pytest.approx(part.mean())
        assert row["interaction_se"] == pytest.approx(part.std(ddof=1) / np.sqrt(6))
    assert pair_summary(table, background="kept").empty  # none of the "kept" conditions was read


# ---- summaries --------------------------------------------------------------------------------------


def test_condition_summary_counts_accuracy_and_standard_errors() -> None:
    """Per group and condition: n, the accuracy with its binomial s.e. sqrt(acc (1 - acc) / n),
    the mean logit with its s.e. over examples, and the kept copies by name."""
    table = pd.DataFrame(
        {
            "passes": 1,
            "order": ["short-first"] * 4 + ["long-first"] * 2,
            "correct_11": [True, True, True, False, True, True],
            "correct_10": [True, False, False, False, False, True],
            "correct_01": [False] * 6,
            "correct_00": [True] * 6,
            "logit_11": [1.0, 2.0, 3.0, 4.0, 5.0, 7.0],
            "logit_10": [0.0] * 6,
            "logit_01": [1.0, -1.0, 1.0, -1.0, 2.0, 2.0],
            "logit_00": [0.5] * 6,
        }
    )
    summary = condition_summary(table)
    assert summary["order"].tolist() == ["long-first"] * 4 + ["short-first"] * 4
    assert summary["condition"].tolist() == ["11", "10", "01", "00"] * 2
    assert summary["kept"].tolist() == ["A1 B1", "A1", "B1", "none"] * 2
    assert summary["n"].tolist() == [2] * 4 + [4] * 4
    short = summary[summary["order"] == "short-first"].set_index("condition")
    long = summary[summary["order"] == "long-first"].set_index("condition")
    assert short.loc["11", "accuracy"] == 0.75 and short.loc["10", "accuracy"] == 0.25
    assert short.loc["11", "accuracy_se"] == pytest.approx(np.sqrt(0.75 * 0.25 / 4))
    assert long.loc["10", "accuracy_se"] == pytest.approx(np.sqrt(0.5 * 0.5 / 2))
    assert short.loc["01", "accuracy_se"] == 0.0 and short.loc["00", "accuracy"] == 1.0
    assert short.loc["11", "logit"] == 2.5 and long.loc["11", "logit"] == 6.0
    assert short.loc["11", "logit_se"] == pytest.approx(np.std([1, 2, 3, 4], ddof=1) / 2)
    assert short.loc["00", "logit_se"] == 0.0
    overall = condition_summary(table, ())
    assert len(overall) == 4 and overall["n"].tolist() == [6] * 4
    assert overall.set_index("condition").loc["10", "accuracy"] == pytest.approx(2 / 6)


def test_pair_summary_of_a_hand_built_table() -> None:
    """One pass, one pair (A1 B1): its interaction per example is L11 - L10 - L01 + L00, averaged
    per group with its s.e."""
    table = pd.DataFrame(
        {
            "passes": 1,
            "order": ["short-first", "short-first", "short-first", "long-first"],
            "logit_11": [4.0, 5.0, 9.0, 1.0],
            "logit_10": [1.0, 1.0, 1.0, 1.0],
            "logit_01": [1.0, 2.0, 3.0, 1.0],
            "logit_00": [0.0, 0.0, 0.0, 1.0],
        }
    )  # interactions: 2, 2, 5 (short-first); 0 (long-first)
    summary = pair_summary(table).set_index("order")
    assert summary["pair"].tolist() == ["A1 B1", "A1 B1"] and summary["n"].tolist() == [1, 3]
    assert summary.loc["short-first", "interaction"] == pytest.approx(3.0)
    assert summary.loc["short-first", "interaction_se"] == pytest.approx(
        np.std([2, 2, 5], ddof=1) / np.sqrt(3)
    )
    assert summary.loc["long-first", "interaction"] == 0.0 and np.isnan(
        summary.loc["long-first", "interaction_se"]
    )


@pytest.mark.parametrize("passes", range(1, MAX_PASSES + 1))
def test_pair_conditions_every_pair(passes: int) -> None:
    """Exhaustively: each pair's four conditions are distinct conditions of the prompt; with the
    others kept, both-kept is the example as generated and each other copy is kept in all four;
    with them removed, none-kept removes every copy."""
    names = copy_names(passes)
    every = set(all_conditions(passes))
    for x, y in itertools.combinations(names, 2):
        for background in ("kept", "removed"):
            codes = pair_conditions((x, y), passes, background)
            assert set(codes) == {(a, b) for a in (True, False) for b in (True, False)}
            assert len(set(codes.values())) == 4 and set(codes.values()) <= every
            for (kx, ky), code in codes.items():
                kept = set(kept_copies(code))
                assert (x in kept, y in kept) == (kx, ky)
                others = set(names) - {x, y}
                assert kept - {x, y} == (others if background == "kept" else set())
    with pytest.raises(ValueError, match="background='some'"):
        pair_conditions(("A1", "B1"), 1, "some")
    with pytest.raises(ValueError, match="two different copies"):
        pair_conditions(("A1", "A1"), 1)
