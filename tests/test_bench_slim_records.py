"""bench/slim_records.py: the slim records a GPU call is sent keep what its sweep reads, and the
merge afterwards keeps every committed record and appends exactly what the call added. The
committed paper records are whole (a slim file committed by mistake would lose the analyses)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.slim_records import KEPT, commit_subject, merge, new_results_summary, slim_lines  # noqa: E402
from synthetic.results import ResultsStore  # noqa: E402

PAPER = ROOT / "results" / "sd_order" / "paper" / "runs.jsonl"

records = st.lists(
    st.fixed_dictionaries(
        {
            "schema": st.integers(1, 3),
            "config_hash": st.text("0123456789abcdef", min_size=16, max_size=16),
            "status": st.sampled_from(["ok", "failed", "error"]),
            "summary": st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
            "config": st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
            "history": st.lists(st.floats(allow_nan=False), max_size=4),
            "mechanism": st.dictionaries(st.text(max_size=5), st.floats(allow_nan=False), max_size=3),
        }
    ),
    max_size=6,
)


def _lines(rs: list[dict[str, object]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rs)


@given(old=records, new=records)
def test_slim_then_merge_gives_the_committed_records_and_the_new_ones(
    old: list[dict[str, object]], new: list[dict[str, object]]
) -> None:
    full = _lines(old)
    sent = slim_lines(full)
    assert [json.loads(line) for line in sent.splitlines()] == [{k: r[k] for k in KEPT} for r in old]
    returned = sent + _lines(new)  # the sweep on the device only appends
    assert merge(full, sent, returned) == full + _lines(new)


def test_merge_refuses_what_does_not_extend_what_was_sent() -> None:
    full = _lines([{"schema": 1, "config_hash": "a" * 16, "status": "ok", "summary": {}, "config": {}}])
    sent = slim_lines(full)
    with pytest.raises(ValueError, match="do not begin with the slim records"):
        merge(full, sent, _lines([]))
    with pytest.raises(ValueError, match="partial line"):
        merge(full, sent, sent + '{"schema": 1')
    with pytest.raises(ValueError, match="line 1 lacks"):
        slim_lines('{"config_hash": "x"}\n')
    with pytest.raises(ValueError, match="line 2 is not JSON"):
        slim_lines(full + "nope\n")


def test_a_slim_file_is_what_the_sweep_needs(tmp_path: Path) -> None:
    """The store reads a slim file and finds the same runs done as in the whole one."""
    slim = tmp_path / "runs.jsonl"
    whole = "".join(json.dumps(r) + "\n" for r in ResultsStore(PAPER).records())  # archive + live file
    slim.write_text(slim_lines(whole), encoding="utf-8")
    assert ResultsStore(slim).done_hashes() == ResultsStore(PAPER).done_hashes()


def test_the_committed_paper_records_are_whole() -> None:
    """In the archive and the live file (a slim record is valid, so the store would not say)."""
    records = ResultsStore(PAPER).records()
    assert len(records) >= 182
    for i, record in enumerate(records, start=1):
        assert "history" in record and "accuracy" in record, f"record {i} of {PAPER} is slim"


def test_the_merge_names_the_shapes_of_its_new_results() -> None:
    """One line per shape, protocol and status of the new result records, counting runs; records
    that are not results (a run's start, an error) are not counted."""

    def record(d: int, f: int, variant: str, status: str = "ok") -> dict[str, object]:
        shape = {"d_model": d, "feature_dim": f, "variant": variant, "init": "torch"}
        return {"config_hash": "a" * 16, "status": status, "summary": shape}

    causal = "Based (causal)"
    added = _lines([record(128, 8, causal), record(128, 8, causal),
                    record(128, 16, causal, "failed"), record(128, 16, causal, "error")])  # fmt: skip
    assert new_results_summary(added) == [
        "  d_model 128 f 8 Based (causal) init torch: 2 ok",
        "  d_model 128 f 16 Based (causal) init torch: 1 failed",
    ]
    assert new_results_summary("") == []


def test_the_commit_subject_counts_runs_by_width_and_f_from_the_records() -> None:
    """The subject names the profile, GPU and commit the records name, every result once (failed
    ones counted apart) and no record that is not a result."""

    def record(d: int, f: int, status: str = "ok", device: str = "cuda:0 (NVIDIA H100 80GB HBM3)") -> dict:
        shape = {"d_model": d, "feature_dim": f, "variant": "Based (causal)", "profile": "paper"}
        return {"status": status, "summary": shape, "device": device, "commit": "5e3592a4e2eb" + "0" * 28}

    added = _lines([record(128, 16)] * 15 + [record(128, 24)] * 3 + [record(96, 4, "error")])
    assert commit_subject(added) == "paper chunk (H100, 5e3592a): 18 runs, d_model 128 f=16 x15, f=24 x3"
    mixed = _lines([record(36, 4), record(36, 8, "failed", "cuda:0 (NVIDIA H200)"), record(48, 4)])
    assert commit_subject(mixed) == (
        "paper chunk (H100/H200, 5e3592a): 3 runs (1 failed), d_model 36 f=4 x1, f=8 x1; d_model 48 f=4 x1"
    )
    assert commit_subject(_lines([record(36, 4, "error")])) is None and commit_subject("") is None
