"""bench/gpu_session.sh's local modes ``archive`` and ``restore``: snapshots and kept weights (ignored
by git) go into one commit and out of the index in the next, the files staying where they are;
``restore`` in a fresh clone puts the same bytes back, untracked; both refuse what they cannot do."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

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
