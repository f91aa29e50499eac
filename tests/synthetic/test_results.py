"""The results store: append + fsync, partial last line ignored and repaired, last record per
hash wins, bad lines named by file:line (or skipped with a warning), experiment / profile names
that stay inside the results folder, tidy loading. Claims across processes: test_results_claims.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthetic.results import ResultsStore, load, load_history, load_runs, results_path


def record(h: str, status: str = "ok", acc: float = 0.5, **extra: object) -> dict:
    return {
        "schema": 1,
        "config_hash": h,
        "config": {"experiment": "exp"},
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


@pytest.mark.parametrize("bad", ["..", ".", "", "a/b", "../x", "a\\b", "a\0b", "/abs"])
@pytest.mark.parametrize("field", ["experiment", "profile"])
def test_results_path_refuses_names_that_are_not_one_folder(field: str, bad: str) -> None:
    names = {"experiment": "exp", "profile": "quick", field: bad}
    with pytest.raises(ValueError, match=re.escape(f"{field}={bad!r} is not allowed")):
        results_path("res", names["experiment"], names["profile"])
    with pytest.raises(TypeError, match=f"{field}=3 must be a string"):
        results_path("res", **{**names, field: 3})  # type: ignore[arg-type]


@given(name=st.text(max_size=12))
def test_results_path_stays_inside_the_results_folder(name: str) -> None:
    try:
        path = results_path("res", name, "quick")
    except ValueError:
        assert name in ("", ".", "..") or any(c in name for c in "/\\\0")
        return
    assert path.parent.parent.name == name and path.parent.parent.parent == Path("res")


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


def lines_file(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "runs.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    return path


@pytest.mark.parametrize(
    ("line", "what"),
    [
        ('{"foo": 1}', "not a run record: missing field(s) config, config_hash, schema, status, summary"),
        ("[1, 2]", "not a run record: a JSON list, expected an object"),
        ("garbage", "malformed record"),
        (json.dumps({**record("x"), "status": "done"}), "not a run record: status='done' is not one of"),
        (json.dumps({**record("x"), "config_hash": 7}), "not a run record: config_hash=7 must be a str"),
        (json.dumps({**record("x"), "summary": None}), "not a run record: summary=None must be a dict"),
    ],
)
def test_bad_line_names_file_line_and_what_is_wrong_or_is_skipped(
    tmp_path: Path, line: str, what: str
) -> None:
    path = lines_file(tmp_path, json.dumps(record("a")), line, json.dumps(record("b")))
    store = ResultsStore(path)
    for read_store in (store.records, store.latest, store.done_hashes):
        with pytest.raises(ValueError, match=f"runs.jsonl:2: {re.escape(what)}") as err:
            read_store()
        assert "--skip-bad-lines" in str(err.value)
    for read in (load, load_runs):
        with pytest.raises(ValueError, match=r"runs\.jsonl:2: "):
            read(path)
    # skipped on request: reported (a warning naming file:line, and counted), never silently
    with pytest.warns(UserWarning, match=r"skipping bad line .*runs.jsonl:2: "):
        assert [r["config_hash"] for r in store.records(skip_bad_lines=True)] == ["a", "b"]
    assert len(store.bad_lines) == 1 and ":2: " in store.bad_lines[0]
    skipping = ResultsStore(path, skip_bad_lines=True)
    with pytest.warns(UserWarning, match="runs.jsonl:2"):
        assert skipping.done_hashes() == {"a", "b"}
    with pytest.warns(UserWarning, match="runs.jsonl:2"):
        assert set(skipping.latest()) == {"a", "b"}
    for read in (load, load_runs):
        with pytest.warns(UserWarning, match="runs.jsonl:2"):
            df = read(path, skip_bad_lines=True)
        assert set(df.config_hash) == {"a", "b"} and len(df.attrs["bad_lines"]) == 1
    assert path.read_text().count("\n") == 3  # the file itself is never changed by a read


def test_append_refuses_what_reading_would_refuse(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "runs.jsonl")
    for bad, what in [
        ({"foo": 1}, "missing field"),
        ({**record("a"), "status": "okay"}, "status='okay'"),
        ({**record("a"), "config_hash": ""}, "config_hash is empty"),
        ({**record("a"), "schema": True}, "schema=True must be a int"),
    ]:
        with pytest.raises(ValueError, match=re.escape(what)):
            store.append(bad)
    assert not store.path.exists()
    with pytest.raises(TypeError, match="skip_bad_lines"):
        ResultsStore(store.path, skip_bad_lines=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lease_s"):
        ResultsStore(store.path, lease_s=0)


def test_an_error_record_is_not_a_result_and_never_hides_one(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "runs.jsonl")
    store.append(record("e", status="error"))
    assert store.done_hashes() == set() and store.latest()["e"]["status"] == "error"
    store.append(record("a", status="failed"))
    store.append(record("a", status="error"))  # a retry hit an environment error
    assert store.latest()["a"]["status"] == "failed" and store.done_hashes() == {"a"}
    store.append(record("e"))
    assert store.done_hashes(include_failed=False) == {"e"}
    assert set(load_runs(store.path).status) == {"ok", "failed"}


def test_summary_fields_of_older_records_come_from_their_config(tmp_path: Path) -> None:
    """Records written before the summary named the init scheme (and optimiser preset, weight
    decay) still group by them: the loader reads them from the record's config."""
    store = ResultsStore(tmp_path / "runs.jsonl")
    old = record("a")
    old["config"] = {"model": {"init": "torch"}, "train": {"optimizer": "reference", "weight_decay": 0.0}}
    new = record("b")
    new["summary"] = {**new["summary"], "init": "reference", "optimizer": "package", "weight_decay": 0.1}
    store.append(old)
    store.append(new)
    runs = load_runs(store.path).set_index("config_hash")
    assert runs.loc["a", ["init", "optimizer", "weight_decay"]].tolist() == ["torch", "reference", 0.0]
    assert runs.loc["b", ["init", "optimizer", "weight_decay"]].tolist() == ["reference", "package", 0.1]


def test_load_history_has_a_row_per_evaluation_of_each_ok_run(tmp_path: Path) -> None:
    """Each ok run's evaluations in order, with the run's flat row beside them; the last record of
    a config hash wins, and failed runs have no rows."""

    def entry(epoch: int, acc: float) -> dict:
        return {
            "epoch": epoch,
            "step": 10 * epoch,
            "accuracy": acc,
            "train_loss": 1.0 / epoch,
            "test_loss": 2.0,
        }

    path = tmp_path / "runs.jsonl"
    lines = [
        record("a", acc=0.1, history=[entry(1, 0.05)]),  # superseded by the next record of "a"
        record("a", acc=0.4, history=[entry(1, 0.2), entry(2, 0.3), entry(3, 0.4)]),
        record("b", status="failed", history=[entry(1, 0.9)]),
        record("c", acc=0.7, history=[entry(1, 0.7)]),
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    df = load_history(path)
    assert df.config_hash.tolist() == ["a", "a", "a", "c"]
    assert df.epoch.tolist() == [1, 2, 3, 1] and df.step.tolist() == [10, 20, 30, 10]
    assert df.eval_accuracy.tolist() == [0.2, 0.3, 0.4, 0.7]
    assert df.accuracy.tolist() == [0.4, 0.4, 0.4, 0.7]
    assert df.eval_train_loss.tolist() == [1.0, 0.5, 1.0 / 3, 1.0] and set(df.eval_test_loss) == {2.0}
    assert (df.variant == "v").all()
