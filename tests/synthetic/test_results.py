"""The results store: append + fsync, partial last line ignored and repaired, last record per
hash wins, tidy loading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthetic.results import ResultsStore, load, load_runs, results_path


def record(h: str, status: str = "ok", acc: float = 0.5, **extra: object) -> dict:
    return {
        "config_hash": h,
        "status": status,
        "error": None if status == "ok" else "NonFiniteLossError: nan",
        "summary": {"variant": "v", "d_model": 8, "feature_dim": 2, "lr": 1e-3, "seed": 0},
        "accuracy": acc,
        "slice_accuracy": {"A=4,B=16": acc, "A=16,B=4": 1 - acc} if status == "ok" else {},
        "slice_counts": {"A=4,B=16": [1, 2], "A=16,B=4": [1, 2]} if status == "ok" else {},
        "paper_state_bytes": 100,
        **extra,
    }


def test_results_path() -> None:
    assert results_path("res", "sd_order", "quick") == Path("res/sd_order/quick/runs.jsonl")


@settings(max_examples=20)
@given(n=st.integers(1, 6), cut=st.integers(1, 200))
def test_partial_last_line_is_ignored_then_repaired(
    tmp_path_factory: pytest.TempPathFactory, n: int, cut: int
) -> None:
    path = tmp_path_factory.mktemp("store") / "runs.jsonl"
    store = ResultsStore(path)
    for i in range(n):
        store.append(record(f"h{i}"))
    # a crash mid-write: a prefix of one more record, no newline
    partial = json.dumps(record("crashed"))[: cut % 150 + 1]
    with path.open("a") as fh:
        fh.write(partial)
    with pytest.warns(UserWarning, match="partial last line"):
        assert [r["config_hash"] for r in store.records()] == [f"h{i}" for i in range(n)]
    store.append(record("next"))  # cuts the partial line first
    assert [r["config_hash"] for r in store.records()] == [*(f"h{i}" for i in range(n)), "next"]
    assert path.read_text().endswith("\n")


def test_malformed_middle_line_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    path.write_text(json.dumps(record("a")) + "\n{not json\n" + json.dumps(record("b")) + "\n")
    with pytest.raises(ValueError, match=r"runs.jsonl:2: malformed record"):
        ResultsStore(path).records()


def test_last_record_per_hash_wins_and_done_hashes(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "x" / "runs.jsonl")
    assert store.records() == [] and store.done_hashes() == set()
    store.append(record("a", status="failed"))
    store.append(record("b"))
    assert store.done_hashes() == {"a", "b"}
    assert store.done_hashes(include_failed=False) == {"b"}
    store.append(record("a", acc=0.9))
    assert store.latest()["a"]["accuracy"] == 0.9
    assert store.done_hashes(include_failed=False) == {"a", "b"}
    runs = load_runs(store.path)
    assert sorted(runs.config_hash) == ["a", "b"]


def test_append_rejects_bad_records_and_cleans_nan(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "runs.jsonl")
    with pytest.raises(ValueError, match="config_hash"):
        store.append({"status": "ok"})
    store.append(record("n", test_loss=float("nan")))
    assert store.records()[0]["test_loss"] is None  # strict JSON on disk
    assert "NaN" not in store.path.read_text()


def test_tidy_load(tmp_path: Path) -> None:
    store = ResultsStore(results_path(tmp_path, "exp", "quick"))
    store.append(record("a", acc=0.75))
    store.append(record("f", status="failed"))
    df = load(tmp_path)  # a folder is searched for runs.jsonl files
    assert len(df) == 2 and set(df.slice) == {"A=4,B=16", "A=16,B=4"}
    row = df[df.slice == "A=4,B=16"].iloc[0]
    assert (row.A, row.B, row.slice_accuracy, row.slice_labels, row.variant) == (4, 16, 0.75, 2, "v")
    with_failed = load(store.path, include_failed=True)
    assert len(with_failed) == 3 and with_failed.slice.isna().sum() == 1
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing")
