"""bench/gpu_session.sh's local modes. ``archive`` and ``restore``: snapshots and kept weights
(ignored by git) go into one commit and out of the index in the next, the files staying where they
are; ``restore`` in a fresh clone puts the same bytes back, untracked; both refuse what they cannot
do. ``slim`` and ``unpack``: every committed record comes back, the call's records are appended,
and a live file past 4 MB moves into the records' archive."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from synthetic.results import ResultsStore
from tests.synthetic.test_results import record

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "gpu_session.sh"
DEST = Path("results/sd_order/paper")

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def _session(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "bench/gpu_session.sh", *args], cwd=repo, capture_output=True, text=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with the script, the ignore rules of ours and a committed runs.jsonl."""
    root = tmp_path / "repo"
    (root / "bench").mkdir(parents=True)
    shutil.copy(SCRIPT, root / "bench" / "gpu_session.sh")
    (root / ".gitignore").write_text("results/**/models/\nresults/**/snapshots/\n")
    (root / DEST).mkdir(parents=True)
    (root / DEST / "runs.jsonl").write_text('{"run": 1}\n')
    _git(root, "init", "-q", "-b", "main")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "start")
    _git(root, "config", "user.name", "t")
    _git(root, "config", "user.email", "t@t")
    return root


def _files(root: Path) -> dict[str, bytes]:
    base = root / DEST
    return {
        str(p.relative_to(root)): p.read_bytes()
        for sub in ("snapshots", "models")
        if (base / sub).is_dir()
        for p in sorted((base / sub).iterdir())
    }


def test_archive_commits_then_untracks_and_restore_brings_the_same_bytes_back(
    repo: Path, tmp_path: Path
) -> None:
    (repo / DEST / "snapshots").mkdir()
    (repo / DEST / "models").mkdir()
    (repo / DEST / "snapshots" / "abc.safetensors").write_bytes(bytes(range(256)) * 3)
    (repo / DEST / "models" / "m1.safetensors").write_bytes(b"\x00\xff" * 50)
    (repo / DEST / "runs.jsonl").write_text('{"run": 1, "slim": true}\n')  # as after `slim`
    before = _files(repo)
    done = _session(repo, "archive")
    assert done.returncode == 0, done.stderr
    log = _git(repo, "log", "--format=%s").splitlines()
    assert log[0].startswith(f"archive {DEST}: untracked again")
    assert log[1] == f"archive {DEST}: snapshots and kept weights"
    archived = _git(repo, "show", "--name-only", "--format=", "HEAD~1").split()
    assert sorted(archived) == sorted(before)  # the slim runs.jsonl stayed out
    assert _git(repo, "ls-files", str(DEST)).split() == [str(DEST / "runs.jsonl")]
    assert _files(repo) == before  # the files stay, untracked and ignored
    assert _git(repo, "status", "--porcelain") == f" M {DEST / 'runs.jsonl'}\n"

    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "-q", str(repo), str(clone))
    assert _files(clone) == {}
    back = _session(clone, "restore")
    assert back.returncode == 0, back.stderr
    assert "restored from" in back.stdout and "2 files" in back.stdout
    assert _files(clone) == before
    assert _git(clone, "status", "--porcelain") == ""


def test_archive_and_restore_refuse_what_they_cannot_do(repo: Path) -> None:
    empty = _session(repo, "archive")
    assert empty.returncode == 1 and "nothing in results/sd_order/paper/snapshots" in empty.stderr
    nothing = _session(repo, "restore")
    assert nothing.returncode == 1 and "no commit 'archive results/sd_order/paper" in nothing.stderr
    (repo / DEST / "snapshots").mkdir()
    (repo / DEST / "snapshots" / "abc.safetensors").write_bytes(b"x")
    (repo / "other.txt").write_text("staged")
    _git(repo, "add", "other.txt")
    staged = _session(repo, "archive")
    assert staged.returncode == 1 and "staged changes" in staged.stderr
    assert _git(repo, "log", "--format=%s").splitlines() == ["start"]


def _device_returns(root: Path, sent: str, new: list[dict], folder: str = "files_at") -> Path:
    """The files a `paper` call brings back (in ``root/folder``): the records it was sent, then the
    ones it added."""
    files = root / folder
    files.mkdir()
    returned = sent + "".join(json.dumps(r) + "\n" for r in new)
    (files / "runs.jsonl.gz").write_bytes(gzip.compress(returned.encode()))
    return files


@pytest.mark.parametrize("history", [3, 90_000], ids=["small", "past 4 MB"])
def test_slim_then_unpack_keeps_every_record_and_archives_past_4_mb(repo: Path, history: int) -> None:
    """`slim` sends the sweep's fields of the committed records; `unpack` restores them and appends
    what the call added; once the live file passes 4 MB its records move into the archive, and the
    store reads the same records in the same order."""
    shutil.copy(SCRIPT.parent / "slim_records.py", repo / "bench" / "slim_records.py")
    (repo / ".venv").symlink_to(sys.prefix)  # the script's Python: .venv/bin/python, this one
    (repo / "synthetic").symlink_to(SCRIPT.parents[1] / "synthetic")
    (repo / ".gitignore").write_text("results/**/models/\nresults/**/snapshots/\n.venv\nsynthetic\n")
    committed = [record(f"h{i}", history=[0.125] * history) for i in range(8)]
    live = repo / DEST / "runs.jsonl"
    live.write_text("".join(json.dumps(r) + "\n" for r in committed))
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "records")
    slim = _session(repo, "slim")
    assert slim.returncode == 0, slim.stderr
    # the commit the call sends, for READTWICE_COMMIT: HEAD, the slim records being the only change
    assert (repo / ".gpu_next_commit").read_text() == _git(repo, "rev-parse", "HEAD")
    sent = live.read_text()
    assert all("history" not in json.loads(line) for line in sent.splitlines())
    shape = {"variant": "v", "d_model": 8, "feature_dim": 2, "profile": "paper"}
    gpu = "cuda:0 (NVIDIA H100 80GB HBM3)"
    new = [record(n, device=gpu, commit="c" * 40, summary=shape) for n in ("n1", "n2")]
    files = _device_returns(repo, sent, new)
    back = _session(repo, "unpack", str(files))
    assert back.returncode == 0, back.stderr
    store = ResultsStore(live)
    assert store.records() == [*committed, *new]
    archived = store.archive_path.exists()
    assert archived == (history > 3) and (live.read_text() == "") == archived
    assert "no snapshots returned" in back.stdout
    subject = "commit subject: paper chunk (H100, ccccccc): 2 runs, d_model 8 f=2 x2"
    assert back.stdout.splitlines()[-1] == subject
    again = _session(repo, "unpack", str(files))  # the same files once more: refused, nothing changes
    assert again.returncode == 1
    assert ("merged before" if archived else "do not begin with the slim records") in again.stderr
    assert store.records() == [*committed, *new]


def _unpack_repo(repo: Path) -> str:
    """``repo`` set up for `unpack` (this Python, slim_records.py) with one committed record,
    slimmed as a call is sent; returns what was sent."""
    shutil.copy(SCRIPT.parent / "slim_records.py", repo / "bench" / "slim_records.py")
    (repo / ".venv").symlink_to(sys.prefix)
    (repo / "synthetic").symlink_to(SCRIPT.parents[1] / "synthetic")
    (repo / ".gitignore").write_text("results/**/models/\nresults/**/snapshots/\n.venv\nsynthetic\n")
    live = repo / DEST / "runs.jsonl"
    live.write_text(json.dumps(record("h0")) + "\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "records")
    assert _session(repo, "slim").returncode == 0
    return live.read_text()


def _snapshot_pieces(files: Path, *, listed: bool) -> dict[str, bytes]:
    """A snapshots tar split into pieces of 100 bytes as a `paper` call returns it, with
    snapshots.sha256 (the tar's line, then with ``listed`` a line per piece); the tar's files."""
    import hashlib
    import io
    import tarfile

    content = {"snapshots/e1.safetensors": bytes(range(256)), "models/h9.safetensors": b"w" * 70}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in content.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    whole = buf.getvalue()
    pieces = {
        f"snapshots.tar.part-a{chr(97 + i)}": whole[o : o + 4096]
        for i, o in enumerate(range(0, len(whole), 4096))
    }
    lines = [f"{hashlib.sha256(whole).hexdigest()}  /tmp/snapshots.tar"]
    for name, data in pieces.items():
        (files / name).write_bytes(data)
        if listed:
            lines.append(f"{hashlib.sha256(data).hexdigest()}  {name}")
    (files / "snapshots.sha256").write_text("\n".join(lines) + "\n")
    assert len(pieces) >= 2
    return content


@pytest.mark.parametrize("listed", [True, False], ids=["pieces listed", "tar line only (older calls)"])
def test_unpack_checks_the_snapshot_pieces_and_names_one_left_from_another_call(
    repo: Path, listed: bool
) -> None:
    """With the pieces listed, one that is not listed (left in the folder by an earlier call) is
    named and a damaged listed piece is refused; without the list, an extra or damaged piece fails
    the tar's check. A refusal changes nothing (records, snapshots), so unpacking again after the
    fix works; then the pieces unpack into results/sd_order/paper."""
    sent = _unpack_repo(repo)
    live = repo / DEST / "runs.jsonl"
    files = _device_returns(repo, sent, [record("n1")])
    content = _snapshot_pieces(files, listed=listed)
    (files / "snapshots.tar.part-zz").write_bytes(b"old")  # an older call's piece in the same folder
    stale = _session(repo, "unpack", str(files))
    assert stale.returncode == 1
    if listed:
        assert "snapshots.tar.part-zz is not one of this call's snapshot pieces" in stale.stderr
    else:
        assert "snapshot pieces do not match snapshots.sha256" in stale.stderr
    assert live.read_text() == sent and not (repo / DEST / "snapshots").exists()
    (files / "snapshots.tar.part-zz").unlink()
    first = files / "snapshots.tar.part-aa"
    good_bytes = first.read_bytes()
    first.write_bytes(good_bytes[:-1] + b"!")
    damaged = _session(repo, "unpack", str(files))
    assert damaged.returncode == 1
    want = "a snapshot piece listed in" if listed else "snapshot pieces do not match snapshots.sha256"
    assert want in damaged.stderr, damaged.stderr
    assert live.read_text() == sent
    first.unlink()  # a piece gone: refused, and not as a piece of another call
    missing = _session(repo, "unpack", str(files))
    assert missing.returncode == 1 and "not one of this call's" not in missing.stderr
    first.write_bytes(good_bytes)
    good = _session(repo, "unpack", str(files))
    assert good.returncode == 0, good.stderr
    assert {n: (repo / DEST / n).read_bytes() for n in content} == content
    assert live.read_text() != sent  # the call's record merged


def test_land_commits_the_new_records_slims_and_names_the_next_commit(repo: Path) -> None:
    """`land` = unpack + commit (unpack's subject) + slim + the commit the next call sends in
    .gpu_next_commit; "-dirty" when other tracked files differ; a failure (the same files again)
    commits nothing and removes .gpu_next_commit, so a next call sent anyway stops at once."""
    sent = _unpack_repo(repo)
    live = repo / DEST / "runs.jsonl"
    shape = {"variant": "v", "d_model": 8, "feature_dim": 2, "profile": "paper"}
    gpu = "cuda:0 (NVIDIA H100 80GB HBM3)"
    new = [record(n, device=gpu, commit="c" * 40, summary=shape) for n in ("n1", "n2")]
    files = _device_returns(repo, sent, new)
    content = _snapshot_pieces(files, listed=True)
    done = _session(repo, "land", str(files))
    assert done.returncode == 0, done.stdout + done.stderr
    head = _git(repo, "rev-parse", "HEAD").strip()
    assert (repo / ".gpu_next_commit").read_text() == head + "\n"
    assert (
        _git(repo, "log", "-1", "--format=%s").strip()
        == "paper chunk (H100, ccccccc): 2 runs, d_model 8 f=2 x2"
    )
    committed = [json.loads(line) for line in _git(repo, "show", f"HEAD:{DEST / 'runs.jsonl'}").splitlines()]
    assert [r["config_hash"] for r in committed] == ["h0", "n1", "n2"]
    assert committed[1:] == new  # whole records committed; the working tree holds the slim ones
    assert _git(repo, "status", "--porcelain", "--untracked-files=no") == f" M {DEST / 'runs.jsonl'}\n"
    assert all("history" not in json.loads(line) for line in live.read_text().splitlines())
    assert {n: (repo / DEST / n).read_bytes() for n in content} == content

    again = _session(repo, "land", str(files))  # the same records once more: refused by unpack
    assert again.returncode == 1 and "unpack failed" in again.stderr
    assert not (repo / ".gpu_next_commit").exists()
    assert _git(repo, "rev-parse", "HEAD").strip() == head

    extra = [record("n3", device=gpu, commit="c" * 40, summary=shape)]
    more = _device_returns(repo, live.read_text(), extra, folder="files_at_2")
    (repo / "bench" / "slim_records.py").write_text((repo / "bench" / "slim_records.py").read_text() + "\n")
    dirty = _session(repo, "land", str(more))
    assert dirty.returncode == 0, dirty.stdout + dirty.stderr
    assert "differ from" in dirty.stderr
    assert (repo / ".gpu_next_commit").read_text() == _git(repo, "rev-parse", "HEAD").strip() + "-dirty\n"


# A stand-in for the device's python3 in `paper` mode: the sweep prints the forward crossover it
# was given, the forward bench writes the CSV in $STUB_CSV after $STUB_SLEEP seconds, and
# --crossover-from and the records' keeper run for real.
_STUB = """#!/bin/bash
case "$1" in
  -c) if [[ $2 == *device_count* ]]; then echo 1
      elif [[ $2 == *gzip* ]]; then exec {py} "$@"
      else echo stub; fi ;;
  -m) if [[ $2 == synthetic && $3 == run ]]; then
        echo "sweep READTWICE_FORWARD_CROSSOVER=${{READTWICE_FORWARD_CROSSOVER:-unset}}"
      fi ;;
  bench/short_attention.py)
    if [[ $2 == --forward ]]; then
      sleep "${{STUB_SLEEP:-0}}"; while [[ $# -gt 0 && $1 != --out ]]; do shift; done
      cp "$STUB_CSV" "$2/short_attention_forward_GPU.csv"
    else
      shift; exec {py} {bench} "$@"
    fi ;;
esac
"""


def _paper_call(repo: Path, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`bash bench/gpu_session.sh paper` in ``repo`` with the stand-ins for python3 and nvidia-smi."""
    import os

    from tests.test_bench_short_attention import _rows, _write

    stubs = tmp_path / "stubs"
    stubs.mkdir(exist_ok=True)
    bench = SCRIPT.parent / "short_attention.py"
    (stubs / "python3").write_text(_STUB.format(py=sys.executable, bench=bench))
    (stubs / "nvidia-smi").write_text("#!/bin/bash\necho stub GPU\n")
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    ratios = {("fp32", 24, t): 4.0 for t in (128, 512, 1024)} | {("fp32", 4, 128): 1.2, ("fp32", 4, 512): 0.6}
    csv_path = _write(tmp_path / "forward.csv", _rows(ratios))
    out = tmp_path / "out"
    environ = {
        **os.environ,
        "PATH": f"{stubs}:{os.environ['PATH']}",
        "OUT": str(out),
        "STUB_CSV": str(csv_path),
    }
    environ.pop("READTWICE_FORWARD_CROSSOVER", None)
    return subprocess.run(
        ["bash", "bench/gpu_session.sh", "paper"],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**environ, **env},
    )


def test_paper_sweep_runs_with_the_forward_crossover_its_bench_measured(repo: Path, tmp_path: Path) -> None:
    """FORWARD_BENCH=1: the sweep gets READTWICE_FORWARD_CROSSOVER from the CSV the call's bench
    wrote (printed too); without it the sweep gets none. The records come back, and the command
    ends when the sweep does (the records' keeper leaves no sleep holding its output: each call
    here took 30 s more before)."""
    done = _paper_call(repo, tmp_path, FORWARD_BENCH="1", PAPER_MINUTES="2")
    assert done.returncode == 0, done.stderr
    assert "forward crossover measured in this call: READTWICE_FORWARD_CROSSOVER=4:128,24:1024" in done.stdout
    assert "sweep READTWICE_FORWARD_CROSSOVER=4:128,24:1024" in done.stdout
    with gzip.open(tmp_path / "out" / "runs.jsonl.gz", "rt") as fh:  # the records come back
        assert fh.read() == (repo / DEST / "runs.jsonl").read_text()
    plain = _paper_call(repo, tmp_path, PAPER_MINUTES="2")
    assert plain.returncode == 0, plain.stderr
    assert "sweep READTWICE_FORWARD_CROSSOVER=unset" in plain.stdout


def test_paper_limit_counts_what_ran_before_the_sweep(repo: Path, tmp_path: Path) -> None:
    """The sweep stops PAPER_MINUTES into the whole command: a bench that leaves it under a minute
    is refused with the seconds it left, and no sweep runs."""
    done = _paper_call(repo, tmp_path, FORWARD_BENCH="1", PAPER_MINUTES="1", STUB_SLEEP="1")
    assert done.returncode == 2
    assert "PAPER_MINUTES=1 leaves" in done.stderr and "at least 60 needed" in done.stderr
    assert "sweep READTWICE_FORWARD_CROSSOVER" not in done.stdout
