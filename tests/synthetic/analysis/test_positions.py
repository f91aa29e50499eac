"""synthetic.analysis.positions: the part of a set that holds an index (exhaustively for small
sets), and the summary of a copy-intervention table by those parts against a direct count."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthetic.analysis.positions import (
    fall_across_second_set,
    position_part,
    position_summary,
    prefix_and_suffix_slopes,
)


def test_parts_cover_every_small_set_in_order() -> None:
    """For every set size up to 40 and 1-5 parts: parts are non-decreasing in the index, start at
    0, end at parts - 1 when the set has at least that many tokens, and split it as evenly as
    integer division allows (sizes differ by at most one)."""
    for size in range(1, 41):
        index = np.arange(size)
        for parts in range(1, 6):
            got = position_part(index, size, parts)
            assert got[0] == 0 and np.all(np.diff(got) >= 0) and got.max() < parts
            if size >= parts:
                counts = np.bincount(got, minlength=parts)
                assert counts.min() >= 1 and counts.max() - counts.min() <= 1
    with pytest.raises(ValueError, match="index must lie in"):
        position_part(np.array([0, 3]), 3, 4)
    with pytest.raises(ValueError, match="parts"):
        position_part(np.array([0]), 3, 0)


def _table(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """A copy-intervention-like table of two slices (3, 9) and (9, 3)."""
    rows = []
    for size_a, size_b in ((3, 9), (9, 3)):
        for example in range(n):
            logits = rng.normal(size=4)
            rows.append({
                "slice": f"A={size_a},B={size_b}", "size_a": size_a, "size_b": size_b,
                "order": "short-first" if size_a < size_b else "long-first", "example": example,
                "pos_first": int(rng.integers(size_a)), "pos_second": int(rng.integers(size_b)),
                "correct": bool(rng.integers(2)), "logit_11": logits[0], "logit_10": logits[1],
                "logit_01": logits[2], "logit_00": logits[3],
                **{f"logprob_{c}": 0.0 for c in ("11", "10", "01", "00")},
            })  # fmt: skip
    return pd.DataFrame(rows)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 40))
def test_summary_counts_each_part_directly(seed: int, n: int) -> None:
    table = _table(np.random.default_rng(seed), n)
    out = position_summary(table, quarters=4)
    for row in out.itertuples():
        pos, size = ("pos_first", "size_a") if row.set == "A" else ("pos_second", "size_b")
        part = table[(table.slice == row.slice) & ((table[pos] * 4) // table[size] == row.part)]
        assert row.n == len(part) > 0
        assert row.accuracy == pytest.approx(part.correct.mean())
        interaction = part.logit_11 - part.logit_10 - part.logit_01 + part.logit_00
        assert row.interaction == pytest.approx(interaction.mean())
    assert out.groupby(["slice", "set"]).n.sum().eq(n).all()  # every example once per set
    with pytest.raises(ValueError, match="pos_first"):
        position_summary(table.drop(columns="pos_first"))


def test_fall_across_the_second_set() -> None:
    """Two runs; the first falls 0.4 at (4, 256) and 0.2 at (4, 512), the second rises 0.1 at
    (4, 256); long-first slices, set A and short B are left out."""
    rows = []
    for run, slices in (("r1", {(4, 256): (0.9, 0.5), (4, 512): (0.5, 0.3)}), ("r2", {(4, 256): (0.4, 0.5)})):
        for (a, b), (first, last) in slices.items():
            for part, acc in ((0, first), (1, (first + last) / 2), (3, last)):
                for which in ("A", "B"):
                    rows.append({"config_hash": run, "slice": f"A={a},B={b}", "size_a": a,
                                 "size_b": b, "set": which, "part": part, "accuracy": acc,
                                 "accuracy_se": 0.03})  # fmt: skip
        rows.append({"config_hash": run, "slice": "A=256,B=4", "size_a": 256, "size_b": 4, "set": "B",
                     "part": 0, "accuracy": 1.0, "accuracy_se": 0.0})  # fmt: skip
        rows.append({"config_hash": run, "slice": "A=4,B=32", "size_a": 4, "size_b": 32, "set": "B",
                     "part": 0, "accuracy": 1.0, "accuracy_se": 0.0})  # fmt: skip
    out = fall_across_second_set(pd.DataFrame(rows)).set_index("config_hash")
    assert out.loc["r1"].slices == 2 and out.loc["r1"].fall == pytest.approx(0.3)
    assert out.loc["r1"].fall_se == pytest.approx(np.sqrt(4 * 0.03**2) / 2)
    assert out.loc["r1"].slices_falling == 2
    assert out.loc["r2"].fall == pytest.approx(-0.1) and out.loc["r2"].slices_falling == 0
    assert fall_across_second_set(pd.DataFrame(rows), min_size=1024).empty


def _linear_rows(
    base: float, per_before: float, per_after: float, parts: int, sizes_b: list[int]
) -> pd.DataFrame:
    """Accuracy = base - per_before * (tokens of B before the copy) - per_after * (after), at each
    part's mean index, for one model; short-first slices (4, |B|) plus a long-first one and a
    short one that do not count."""
    rows = []
    for size_b in sizes_b:
        width = size_b // parts
        for q in range(parts):
            before = q * width + (width - 1) / 2
            after = size_b - 1 - before
            acc = base - per_before * before - per_after * after
            rows.append({"config_hash": "m", "slice": f"A=4,B={size_b}", "size_a": 4, "size_b": size_b,
                         "set": "B", "quarter": q, "n": 100, "accuracy": acc})  # fmt: skip
    for size_a, size_b in ((512, 4), (4, 16)):
        rows += [{"config_hash": "m", "slice": f"A={size_a},B={size_b}", "size_a": size_a, "size_b": size_b,
                  "set": "B", "quarter": q, "n": 100, "accuracy": 0.0} for q in range(parts)]  # fmt: skip
    return pd.DataFrame(rows)


@settings(max_examples=40, deadline=None)
@given(
    per_before=st.floats(0, 0.004),
    per_after=st.floats(0, 0.004),
    parts=st.sampled_from([2, 4, 8]),
)
def test_slopes_recover_a_linear_model(per_before: float, per_after: float, parts: int) -> None:
    """Accuracy linear in the tokens before and after the copy: both slopes come back exactly (per
    100 tokens), from slices of 256, 512 and 768 whose parts' mean indices match across sizes."""
    rows = _linear_rows(0.9, per_before, per_after, parts, [256, 512, 768])
    got = prefix_and_suffix_slopes(rows).iloc[0]
    assert got.slices == 3 and got.matched > 0
    assert got.s_before == pytest.approx(100 * per_before, abs=1e-9)
    assert got.s_after == pytest.approx(100 * per_after, abs=1e-9)
    assert got.fall_per_100 == pytest.approx(100 * (per_before - per_after), abs=1e-9)


def test_slopes_without_matched_parts_and_uneven_parts() -> None:
    """One slice alone has a fall but no matched parts (NaN slopes); parts that do not divide |B|
    are refused."""
    got = prefix_and_suffix_slopes(_linear_rows(0.9, 0.001, 0.0, 4, [256])).iloc[0]
    assert got.matched == 0 and np.isnan(got.s_after) and got.fall_per_100 == pytest.approx(0.1)
    with pytest.raises(ValueError, match="not divided evenly into 3 parts"):
        prefix_and_suffix_slopes(_linear_rows(0.9, 0.001, 0.0, 3, [256]))
