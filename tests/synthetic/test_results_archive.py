"""The results store's archive (``runs.archive.jsonl.gz`` beside ``runs.jsonl``): archiving never
changes what a reader sees, loses or repeats nothing (also after a crash between its two steps),
refuses a live file with bad lines, names a damaged archive; folders and paths holding only an
archive still load; the CLI's ``archive`` command."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthetic.__main__ import main
from synthetic.results import ResultsStore, archive_path, load, load_runs, results_path

from .test_results import record


def test_archive_path_sits_beside_the_live_file() -> None:
    assert archive_path("res/sd_order/paper/runs.jsonl") == Path("res/sd_order/paper/runs.archive.jsonl.gz")


@settings(max_examples=25, deadline=None)
@given(ops=st.lists(st.one_of(st.just("archive"), st.integers(0, 5)), max_size=14))
def test_archiving_between_appends_changes_nothing_a_reader_sees(
    tmp_path_factory: pytest.TempPathFactory, ops: list[str | int]
) -> None:
    """Any sequence of appends (of hash i, some repeated: a retried run) and archivings: the store
    reads every appended record once, in append order, and the last record per hash wins."""
    store = ResultsStore(tmp_path_factory.mktemp("store") / "runs.jsonl")
    appended: list[dict] = []
    for n, op in enumerate(ops):
        if op == "archive":
            moved = store.archive()
            live = store.path.read_text() if store.path.exists() else ""
            assert live == "" and moved >= 0
        else:
            rec = record(f"h{op}", acc=n / 100)
            store.append(rec)
            appended.append(rec)
        got = store.records()
        assert [(r["config_hash"], r["accuracy"]) for r in got] == [
            (r["config_hash"], r["accuracy"]) for r in appended
        ]
        assert {h: r["accuracy"] for h, r in store.latest().items()} == {
            r["config_hash"]: r["accuracy"] for r in appended
        }
    if store.archive_path.exists():  # one gzip member per archiving that moved records
        with gzip.open(store.archive_path, "rt") as fh:
            assert len(fh.read().splitlines()) == sum(1 for op in ops if op != "archive") - len(
                store.path.read_text().splitlines()
            )


def test_a_crash_between_the_two_steps_loses_and_repeats_nothing(tmp_path: Path) -> None:
    """The archive was replaced but the live file not yet emptied: the live file begins with the
    archive's last member, which readers skip and the next archiving drops; records appended
    after the crash are kept."""
    store = ResultsStore(tmp_path / "runs.jsonl")
    for h in ("a", "b"):
        store.append(record(h))
    live = store.path.read_text()
    assert store.archive() == 2
    store.path.write_text(live)  # the state a crash before the truncation leaves
    assert [r["config_hash"] for r in store.records()] == ["a", "b"]
    store.append(record("c"))
    assert [r["config_hash"] for r in store.records()] == ["a", "b", "c"]
    assert store.archive() == 1  # only c is new
    assert [r["config_hash"] for r in store.records()] == ["a", "b", "c"]


def test_a_retried_run_appended_again_is_kept(tmp_path: Path) -> None:
    """A line equal to an archived one but not the crash prefix (a run recorded, retried, then its
    first record appended again) stays: the last record per hash is the one appended last."""
    store = ResultsStore(tmp_path / "runs.jsonl")
    first, second = record("h", acc=0.5), record("h", acc=0.6)
    store.append(first)
    store.append(second)
    store.archive()
    store.append(record("x"))
    store.append(first)
    assert store.latest()["h"]["accuracy"] == 0.5
    assert store.archive() == 2
    assert store.latest()["h"]["accuracy"] == 0.5
    assert [r["config_hash"] for r in store.records()] == ["h", "h", "x", "h"]


def test_archive_paths_name_their_store(tmp_path: Path) -> None:
    """The archive is never taken for a live file (that would cut it at its last newline byte);
    tables and the CLI given the archive's path read its store."""
    store = ResultsStore(tmp_path / "runs.jsonl")
    store.append(record("a"))
    store.archive()
    before = store.archive_path.read_bytes()
    with pytest.raises(ValueError, match="is a compressed archive, not a store's live file"):
        ResultsStore(store.archive_path)
    assert main(["archive", str(store.archive_path)]) == 0
    assert store.archive_path.read_bytes() == before
    assert list(load_runs(store.archive_path).config_hash) == ["a"]


def test_a_live_file_with_a_bad_line_is_not_archived(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    path.write_text(json.dumps(record("a")) + "\n{not json\n")
    before = path.read_text()
    with pytest.raises(ValueError, match=r"cannot archive: .*runs.jsonl:2: malformed record.*mend or remove"):
        ResultsStore(path).archive()
    assert path.read_text() == before and not archive_path(path).exists()


def test_a_partial_last_line_is_cut_before_archiving(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "runs.jsonl")
    store.append(record("a"))
    with store.path.open("a") as fh:
        fh.write(json.dumps(record("crashed"))[:40])
    assert store.archive() == 1
    assert [r["config_hash"] for r in store.records()] == ["a"]


def test_a_damaged_archive_is_named(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "runs.jsonl")
    store.append(record("a"))
    store.archive()
    whole = store.archive_path.read_bytes()
    for damaged in (whole[:-6], whole[:-6] + whole, b"not gzip"):  # cut short; garbage
        store.archive_path.write_bytes(damaged)
        with pytest.raises(ValueError, match=r"runs.archive.jsonl.gz is not a readable gzip file"):
            store.records()


def test_a_bad_archived_line_is_named_by_the_archive_and_its_line(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    archive_path(path).write_bytes(gzip.compress((json.dumps(record("a")) + "\n[1]\n").encode()))
    with pytest.raises(ValueError, match=r"runs.archive.jsonl.gz:2: "):
        ResultsStore(path).records()
    with pytest.warns(UserWarning, match=r"skipping bad line .*runs.archive.jsonl.gz:2"):
        assert [r["config_hash"] for r in ResultsStore(path, skip_bad_lines=True).records()] == ["a"]


def test_archived_runs_count_as_done_and_are_not_claimed_again(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "runs.jsonl")
    store.append(record("a"))
    store.append(record("b", status="error"))
    store.archive()
    assert store.done_hashes() == {"a"}
    assert store.claim(["a", "b"]) == {"b"}


def test_tables_load_the_same_before_and_after_archiving(tmp_path: Path) -> None:
    path = results_path(tmp_path, "exp", "quick")
    store = ResultsStore(path)
    for i in range(4):
        store.append(record(f"h{i}", acc=i / 4))
    tidy, runs = load(tmp_path), load_runs(path)
    store.archive()
    pd.testing.assert_frame_equal(load(tmp_path), tidy)
    pd.testing.assert_frame_equal(load_runs(path), runs)
    path.unlink()  # an archive alone is still a store, found in its folder and by its path
    assert ResultsStore(path).exists()
    pd.testing.assert_frame_equal(load(tmp_path), tidy)
    pd.testing.assert_frame_equal(load_runs(path), runs)


def test_the_archive_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = ResultsStore(results_path(tmp_path, "exp", "quick"))
    for h in ("a", "b", "c"):
        store.append(record(h))
    assert main(["archive", "exp/quick", "--results", str(tmp_path)]) == 0
    assert "3 records moved into runs.archive.jsonl.gz (3 archived in all)" in capsys.readouterr().out
    assert store.path.read_text() == ""
    store.path.unlink()  # all archived: the store is still found, and shown
    assert main(["archive", "exp/quick", "--results", str(tmp_path)]) == 0
    assert "0 records moved" in capsys.readouterr().out
    assert main(["show", "exp/quick", "--results", str(tmp_path)]) == 0
    assert "no runs recorded" not in capsys.readouterr().out
    assert main(["archive", "exp/none", "--results", str(tmp_path)]) == 2
    assert "neither a results file/folder" in capsys.readouterr().err


def test_the_archive_grows_in_volumes_that_read_as_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ARCHIVE_VOLUME_BYTES an archiving starts the next volume (runs.archive.2.jsonl.gz, ...);
    the store reads every volume in order, so its records are the same as with one file, and a
    crash leftover of the last volume's member is still skipped."""
    import synthetic.results as results

    monkeypatch.setattr(results, "ARCHIVE_VOLUME_BYTES", 1)  # every archiving after the first: a new volume
    store = ResultsStore(results_path(tmp_path, "e", "p"))
    appended = []
    for i in range(3):
        rec = record(f"h{i}", acc=i / 10)
        store.append(rec)
        appended.append(rec)
        assert store.archive() == 1
    names = [p.name for p in results.archive_volumes(store.path)]
    assert names == ["runs.archive.jsonl.gz", "runs.archive.2.jsonl.gz", "runs.archive.3.jsonl.gz"]
    assert [r["config_hash"] for r in store.records()] == ["h0", "h1", "h2"]
    # a crash after the last archiving's replace: the live file still begins with what it moved
    with gzip.open(store.path.with_name("runs.archive.3.jsonl.gz"), "rt") as fh:
        store.path.write_text(fh.read())
    assert [r["config_hash"] for r in store.records()] == ["h0", "h1", "h2"]
    store.append(record("h3", acc=0.3))
    assert store.archive() == 1 and [r["config_hash"] for r in store.records()] == ["h0", "h1", "h2", "h3"]
