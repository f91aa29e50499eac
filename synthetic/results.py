"""The results store: one JSON line per finished run, append-only, crash-safe, resumable, shared.

Layout: ``<results_dir>/<experiment>/<profile>/runs.jsonl`` (:func:`results_path`), with two
helper files beside it: ``runs.jsonl.lock`` (the lock) and ``runs.jsonl.claims`` (runs being
trained now, see *Claims*), and, for sweeps asked to keep trained weights, ``models/`` with one
``<config_hash>.safetensors`` per run (:func:`model_path`; :func:`load_model` reads one back).

Archive
    Records that will not change can be moved, all of them at once, into a gzip-compressed file
    beside the live one, ``runs.archive.jsonl.gz`` (:meth:`ResultsStore.archive`, CLI ``python -m
    synthetic archive RESULTS``; about a sixth of the size), in volumes of at most about 4 MB
    (``runs.archive.2.jsonl.gz``, ... :data:`ARCHIVE_VOLUME_BYTES`). A store reads the archive's records
    first, then the live file's: to every reader the store holds the same records in the same
    order as before. New records go to the live file only. Each archiving appends the live file's
    text as one gzip member and replaces the archive atomically before the live file is emptied; a
    crash between the two leaves the live file beginning with exactly the archive's last member,
    a prefix that readers skip and the next archiving drops, so a record is never read twice, lost
    or archived twice. A store is always named by its live file (``runs.jsonl``, which need not
    exist); :func:`load` and the CLI also accept the archive's path.

Records
    One JSON object per line, a :class:`synthetic.record.RunRecord` (built by
    :mod:`synthetic.record` only). A record needs the fields ``schema`` (int), ``config_hash``
    (non-empty str), ``status`` (one of :data:`synthetic.record.STATUSES`), ``summary`` and
    ``config`` (objects); :func:`synthetic.record.validate_record` checks them on every write and
    every read.

    ``status``: ``"ok"`` (a result), ``"failed"`` (the run itself failed, e.g. a NaN loss: a
    result too, kept and counted as done), ``"error"`` (the environment failed, e.g. out of
    memory or a lost worker: not a result; the run is done again by the next sweep).

- :meth:`ResultsStore.append` writes one record as one line under the lock and flushes +
  fsyncs it, so a run that finished is on disk before the next one starts.
- A crash in the middle of a write leaves a partial last line; loading ignores it (with a
  warning) and the next append first cuts it off.
- A bad line anywhere else (not JSON, or JSON that is not a run record) is an error naming
  ``file:line`` and what is wrong. With ``skip_bad_lines=True`` (CLI: ``--skip-bad-lines``) each
  bad line is skipped with a warning naming ``file:line`` and counted
  (:attr:`ResultsStore.bad_lines`); it is never dropped silently, and never removed from the file.
- A run is identified by its config hash; when a hash appears more than once (a failed run
  retried), the last record wins, except that an ``"error"`` record never hides an earlier
  result of the same hash.

Claims (several sweeps, processes or Ray drivers on one folder)
    :meth:`ResultsStore.claim` takes, atomically under an exclusive ``flock`` on
    ``runs.jsonl.lock``, every given hash that is neither recorded nor claimed by a live owner,
    and returns the set it took; a group of hashes (an ensemble) is claimed in one call. A claim
    names its owner: pid, host (hostname + kernel boot id), the process start time and a random
    token, so a reused pid is not mistaken for the owner. A claim is live while

    * same host: its process is alive (and was started at the recorded time);
    * another host: less than ``lease_s`` seconds (default :data:`DEFAULT_LEASE_S`) passed since
      the owner last called :meth:`~ResultsStore.claim`, :meth:`~ResultsStore.append` or
      :meth:`~ResultsStore.refresh` (each refreshes all of its claims on the store).

    A dead or expired claim is taken over by the next :meth:`~ResultsStore.claim`. Appending a
    record releases the writer's claim of that hash; :meth:`~ResultsStore.release` gives back
    claims that will not be recorded (e.g. on interrupt; :meth:`~ResultsStore.claimed` does it
    on exit). The lock is ``fcntl.flock`` (POSIX; on network file systems only where the
    kernel supports flock there, e.g. NFSv4 on Linux).

:func:`load` gives a tidy DataFrame, one row per (run, slice), with the run's summary fields
(variant, d_model, feature_dim, lr, seed, ...), its metrics and state sizes, the slice name, the
slice's accuracy and the slice's fields parsed from its name (``A``, ``B`` for SD; ``kv``, ``q``,
``T``, ``order`` for MQAR). :func:`load_runs` gives one row per run.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import math
import os
import socket
import time
import uuid
import warnings
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import pandas as pd

from synthetic.files import write_whole
from synthetic.record import RESULT_STATUSES, RunRecord, table_row, validate_record
from synthetic.tasks.config import parse_slice_name

if TYPE_CHECKING:
    from synthetic.model import LanguageModel

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

RUNS_FILE = "runs.jsonl"
ARCHIVE_SUFFIX = ".archive.jsonl.gz"
"""The archive of a ``runs.jsonl``: ``runs.archive.jsonl.gz`` beside it (module docstring)."""
ARCHIVE_VOLUME_BYTES = 4_000_000
"""Most bytes an archiving grows a volume of the archive to; past it the new member starts the next
volume, ``runs.archive.2.jsonl.gz``, ``.3``, ... (so that no tracked file passes 5 MB)."""
MODELS_DIR = "models"
LOCK_SUFFIX = ".lock"
CLAIMS_SUFFIX = ".claims"
DEFAULT_LEASE_S = 3600.0
"""Seconds a claim made on another host stays live without being refreshed."""


def _check_component(field: str, value: object) -> str:
    """``value`` if it is one plain path component; ValueError/TypeError naming ``field`` otherwise."""
    if not isinstance(value, str):
        raise TypeError(f"{field}={value!r} must be a string (got {type(value).__name__})")
    bad = [c for c in ("/", "\\", "\0") if c in value]
    if value in ("", ".", "..") or bad:
        raise ValueError(
            f"{field}={value!r} is not allowed: it must be one plain folder name (not empty, '.' or "
            "'..', and without '/', '\\' or NUL), so that results stay inside the results folder"
        )
    return value


def results_path(results_dir: str | Path, experiment: str, profile: str) -> Path:
    """``<results_dir>/<experiment>/<profile>/runs.jsonl``.

    ``experiment`` and ``profile`` must each be one plain path component (ValueError otherwise).
    """
    _check_component("experiment", experiment)
    _check_component("profile", profile)
    return Path(results_dir) / experiment / profile / RUNS_FILE


def archive_path(runs_path: str | Path) -> Path:
    """The archive beside ``runs_path``: ``runs.jsonl`` -> ``runs.archive.jsonl.gz``."""
    path = Path(runs_path)
    return path.with_name(path.name.removesuffix(".jsonl") + ARCHIVE_SUFFIX)


def archive_volumes(runs_path: str | Path) -> list[Path]:
    """The archive's volumes beside ``runs_path`` that exist, in reading order: ``runs.archive.jsonl.gz``,
    then ``runs.archive.2.jsonl.gz``, ``runs.archive.3.jsonl.gz``, ... (up to the first missing)."""
    first = archive_path(runs_path)
    volumes = [first] if first.exists() else []
    number = 2
    while volumes and (nxt := _volume(first, number)).exists():
        volumes.append(nxt)
        number += 1
    return volumes


def _volume(first: Path, number: int) -> Path:
    """Volume ``number`` (>= 2) of the archive whose first volume is ``first``."""
    return first.with_name(first.name.removesuffix(ARCHIVE_SUFFIX) + f".archive.{number}.jsonl.gz")


def live_path(path: str | Path) -> Path:
    """The live file of a store named by ``path``: its ``runs.jsonl`` when ``path`` names the
    archive (``runs.archive.jsonl.gz``), else ``path`` itself."""
    path = Path(path)
    if path.name.endswith(ARCHIVE_SUFFIX):
        return path.with_name(path.name.removesuffix(ARCHIVE_SUFFIX) + ".jsonl")
    return path


def _volume_members(path: Path) -> list[str]:
    """The text of each gzip member of the archive volume ``path``, in order; ValueError naming the
    file if it is not a whole gzip file of whole lines."""
    data = path.read_bytes()
    members = []
    try:
        while data:
            unzip = zlib.decompressobj(wbits=31)  # one gzip member
            members.append(unzip.decompress(data).decode("utf-8"))
            if not unzip.eof:
                raise EOFError("the last member is cut short")
            data = unzip.unused_data
    except (zlib.error, EOFError, UnicodeDecodeError) as err:
        raise ValueError(
            f"{path} is not a readable gzip file of run records ({err}); it is only "
            "ever replaced whole, so it was damaged after it was written: restore it from git"
        ) from None
    if any(m and not m.endswith("\n") for m in members):
        raise ValueError(f"{path}: a member ends with a partial line; restore it from git")
    return members


def _leftover(members: list[str], live: str) -> str:
    """The prefix of ``live`` that a crash in :meth:`ResultsStore.archive` left: the archive's last
    member's text when ``live`` begins with it, else ``""``."""
    return members[-1] if members and members[-1] and live.startswith(members[-1]) else ""


def model_file(config_hash: str) -> str:
    """Where run ``config_hash``'s trained weights are kept, relative to the folder of its
    ``runs.jsonl``: ``models/<config_hash>.safetensors`` (the record's ``model_file``)."""
    _check_component("config_hash", config_hash)
    return f"{MODELS_DIR}/{config_hash}.safetensors"


def model_path(runs_path: str | Path, config_hash: str) -> Path:
    """The weights file of run ``config_hash`` recorded in ``runs_path`` (a ``runs.jsonl``)."""
    return Path(runs_path).parent / model_file(config_hash)


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy / torch scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"record value of type {type(value).__name__} is not JSON-serialisable")


def _clean(value: Any) -> Any:
    """Replace NaN / inf floats by None (strict JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


# ------------------------------------------------------------------------------------ claim owners


def _machine_id() -> str:
    """``hostname/boot id`` (the boot id tells two boots, and two hosts of one name, apart)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = "-"
    return f"{socket.gethostname()}/{boot}"


def _process_state(pid: int) -> tuple[bool, int | None]:
    """(alive, start time in clock ticks since boot or None where unknown) of process ``pid``.

    Uses ``/proc/<pid>/stat`` (a zombie counts as dead); without procfs, ``os.kill(pid, 0)``.
    """
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return False, None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False, None
        except PermissionError:
            return True, None
        return True, None
    except OSError:
        return True, None  # cannot tell: keep the claim (never take a live owner's run)
    fields = text[text.rfind(")") + 2 :].split()
    return fields[0] not in ("Z", "X", "x"), int(fields[19])


@dataclass(frozen=True)
class ClaimOwner:
    """Who holds a claim: a process on a host, told apart from a later process with its pid."""

    pid: int
    host: str
    start: int | None
    token: str

    def as_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "host": self.host, "start": self.start, "token": self.token}


_OWNER: ClaimOwner | None = None


def current_owner() -> ClaimOwner:
    """The :class:`ClaimOwner` of this process (a new one after a fork)."""
    global _OWNER
    pid = os.getpid()
    if _OWNER is None or _OWNER.pid != pid:
        _OWNER = ClaimOwner(pid, _machine_id(), _process_state(pid)[1], uuid.uuid4().hex)
    return _OWNER


def _is_mine(claim: Mapping[str, Any]) -> bool:
    me = current_owner()
    return claim.get("token") == me.token and claim.get("pid") == me.pid


def _claim_live(claim: Mapping[str, Any], now: float, lease_s: float) -> bool:
    if _is_mine(claim):
        return True
    if claim.get("host") == current_owner().host:
        alive, start = _process_state(int(claim["pid"]))
        return alive and (claim.get("start") is None or start is None or start == claim["start"])
    return now - float(claim.get("refreshed", 0.0)) < lease_s


# ------------------------------------------------------------------------------------------ store


class ResultsStore:
    """Append-only JSON-lines file of run records, shared safely by many writers (module docstring).

    path            the ``runs.jsonl`` file
    skip_bad_lines  default for reads: skip (and warn about) bad lines instead of raising
    lease_s         seconds a claim from another host stays live unless refreshed (> 0)

    ``bad_lines`` lists, after each read, a ``"file:line: what is wrong"`` message per line that
    was skipped.
    """

    def __init__(
        self, path: str | Path, *, skip_bad_lines: bool = False, lease_s: float = DEFAULT_LEASE_S
    ) -> None:
        if not isinstance(skip_bad_lines, bool):
            raise TypeError(f"skip_bad_lines={skip_bad_lines!r} must be a bool")
        if isinstance(lease_s, bool) or not isinstance(lease_s, int | float):
            raise TypeError(f"lease_s={lease_s!r} must be a number of seconds")
        if not (math.isfinite(lease_s) and lease_s > 0):
            raise ValueError(f"lease_s={lease_s!r} must be a finite number of seconds > 0")
        if Path(path).suffix == ".gz":  # e.g. the archive (live_path names its store)
            raise ValueError(
                f"{path} is a compressed archive, not a store's live file: name the runs.jsonl beside "
                "it (the store reads both)"
            )
        self.path = Path(path)
        self.skip_bad_lines = skip_bad_lines
        self.lease_s = float(lease_s)
        self.bad_lines: list[str] = []

    def __repr__(self) -> str:
        return f"ResultsStore({str(self.path)!r})"

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + LOCK_SUFFIX)

    @property
    def claims_path(self) -> Path:
        return self.path.with_name(self.path.name + CLAIMS_SUFFIX)

    @property
    def archive_path(self) -> Path:
        """The compressed archive of this store's older records (``runs.archive.jsonl.gz``)."""
        return archive_path(self.path)

    def exists(self) -> bool:
        """Whether the store has a live file or an archive (an empty store has neither)."""
        return self.path.exists() or self.archive_path.exists()

    # ---- locking -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _lock(self, *, exclusive: bool) -> Iterator[None]:
        """Hold the store's flock (exclusive for writers, shared for readers).

        A reader of a folder it cannot write (no lock file, read-only) reads without the lock.
        """
        if fcntl is None:  # pragma: no cover
            raise RuntimeError("the results store needs fcntl.flock (a POSIX system)")
        fh: BinaryIO | None
        if exclusive:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fh = self.lock_path.open("ab")
        else:
            try:
                fh = self.lock_path.open("ab") if self.path.parent.exists() else None
            except OSError:
                fh = self.lock_path.open("rb") if self.lock_path.exists() else None
        if fh is None:
            yield
            return
        with fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    # ---- writing -------------------------------------------------------------------------------
    def _cut_partial_tail(self) -> None:
        """Remove a partial last line (no trailing newline) left by a crash mid-write."""
        if not self.path.exists():
            return
        with self.path.open("rb+") as fh:
            size = fh.seek(0, os.SEEK_END)
            if size == 0:
                return
            fh.seek(size - 1)
            if fh.read(1) == b"\n":
                return
            # find the last newline; everything after it is the partial line
            chunk = 4096
            pos = size
            keep = 0
            while pos > 0:
                start = max(0, pos - chunk)
                fh.seek(start)
                data = fh.read(pos - start)
                idx = data.rfind(b"\n")
                if idx >= 0:
                    keep = start + idx + 1
                    break
                pos = start
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())

    def append(self, record: Mapping[str, Any]) -> None:
        """Append ``record`` as one line under the lock; flush and fsync before returning.

        Raises ValueError if ``record`` is not a run record (:func:`validate_record`). Releases
        this process's claim of the record's hash (a claim held by another process stays: a
        driver whose workers append must :meth:`release` its claims itself) and refreshes its
        other claims.
        """
        try:
            validate_record(record)
        except ValueError as err:
            raise ValueError(f"cannot append to {self.path}: {err}") from None
        line = json.dumps(_clean(record), default=_json_default, allow_nan=False, sort_keys=True)
        if "\n" in line:
            raise ValueError("a record must serialise to a single line")
        with self._lock(exclusive=True):
            self._cut_partial_tail()
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            claims = self._read_claims()
            if claims:
                if _is_mine(claims.get(record["config_hash"], {})):
                    del claims[record["config_hash"]]
                self._write_claims(self._refreshed(claims))

    def archive(self) -> int:
        """Move every record of the live file into the archive; return how many were moved.

        Under the store's exclusive lock: a partial last line (a crash mid-write) is cut off first;
        every live line must be a run record (ValueError naming ``file:line`` otherwise, and
        nothing moves). The live file's text becomes one gzip member appended to a copy of the
        archive, which replaces it atomically (fsynced); only then is the live file emptied (it
        stays, empty, so that paths naming it keep working). A crash between the two leaves the
        live file beginning with exactly the archive's last member: readers skip that prefix
        (:meth:`_read`) and the next archiving drops it first, so no record is read twice, lost
        or archived twice. Readers see the same records in the same order before and after.
        """
        with self._lock(exclusive=True):
            if not self.path.exists():
                return 0
            self._cut_partial_tail()
            members = self._archive_members()
            live = self.path.read_text(encoding="utf-8")
            leftover = _leftover(members, live)
            if leftover:  # a crash after the last archiving's replace: drop what it archived
                live = live[len(leftover) :]
                self._replace_live(live)
            try:
                moved = len(self._parse(self.path, live, skip=False))
            except ValueError as err:
                raise ValueError(
                    f"cannot archive: {str(err).split('; the file is corrupt')[0]}; only run records "
                    "are archived: mend or remove that line first (nothing was moved)"
                ) from None
            if live:
                member = gzip.compress(live.encode("utf-8"), mtime=0)
                volumes = archive_volumes(self.path) or [self.archive_path]
                last = volumes[-1]
                held = last.read_bytes() if last.exists() else b""
                if held and len(held) + len(member) > ARCHIVE_VOLUME_BYTES:  # the next volume
                    last, held = _volume(self.archive_path, len(volumes) + 1), b""
                write_whole(last, held + member)
            self._replace_live("")
        return moved

    def _replace_live(self, text: str) -> None:
        """Make the live file hold ``text``, durably (emptied in place; otherwise written beside it
        and renamed over it, so that a crash leaves the old or the new content, never a mix)."""
        if not text:
            with self.path.open("r+b") as fh:
                fh.truncate(0)
                fh.flush()
                os.fsync(fh.fileno())
            return
        write_whole(self.path, text.encode("utf-8"))

    # ---- reading -------------------------------------------------------------------------------
    def _skip(self, skip_bad_lines: bool | None) -> bool:
        skip = self.skip_bad_lines if skip_bad_lines is None else skip_bad_lines
        if not isinstance(skip, bool):
            raise TypeError(f"skip_bad_lines={skip!r} must be a bool or None")
        return skip

    def _read(self, skip: bool) -> list[RunRecord]:
        """Validated records in file order: the archive's, then the live file's (no locking;
        callers hold the lock). A live file that begins with exactly the archive's last member is
        what a crash in :meth:`archive` leaves: that prefix is skipped, as already archived."""
        self.bad_lines = []
        members = self._archive_members()
        out = self._parse(self.archive_path, "".join(members), skip) if members else []
        if self.path.exists():
            live = self.path.read_text(encoding="utf-8")
            out.extend(self._parse(self.path, live[len(_leftover(members, live)) :], skip))
        return out

    def _archive_members(self) -> list[str]:
        """The text of each gzip member of the archive, volume after volume, in order ([] without an
        archive); ValueError naming the volume if it is not a whole gzip file of whole lines."""
        return [m for volume in archive_volumes(self.path) for m in _volume_members(volume)]

    def _parse(self, path: Path, text: str, skip: bool) -> list[RunRecord]:
        """The validated records of ``text`` (the content of ``path``), in order; bad lines raise or
        are skipped as in :meth:`records`; a partial last line is skipped with a warning."""
        lines = text.split("\n")
        complete, tail = lines[:-1], lines[-1]  # tail is "" when the file ends with a newline
        out: list[RunRecord] = []
        for i, line in enumerate(complete, start=1):
            if not line.strip():
                continue
            try:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise ValueError(f"malformed record ({err.msg} at column {err.colno})") from None
                validate_record(record)
            except ValueError as err:
                where = f"{path}:{i}: {err}"
                if not skip:
                    raise ValueError(
                        f"{where}; the file is corrupt at that line (skip such lines with "
                        "skip_bad_lines=True, CLI --skip-bad-lines)"
                    ) from None
                self.bad_lines.append(where)
                warnings.warn(f"skipping bad line {where}", stacklevel=4)
                continue
            out.append(record)
        if tail.strip():
            warnings.warn(
                f"{path}: ignoring a partial last line ({len(tail)} characters; a run was "
                "interrupted while its record was written)",
                stacklevel=4,
            )
        return out

    def records(self, *, skip_bad_lines: bool | None = None) -> list[RunRecord]:
        """All complete records, in file order (a partial last line is skipped with a warning).

        A bad line raises ValueError naming ``file:line``, or is skipped with a warning when
        ``skip_bad_lines`` (default: the store's setting); skipped lines are in ``bad_lines``.
        """
        with self._lock(exclusive=False):
            return self._read(self._skip(skip_bad_lines))

    @staticmethod
    def _latest_of(records: Iterable[RunRecord]) -> dict[str, RunRecord]:
        out: dict[str, RunRecord] = {}
        for r in records:
            h = r["config_hash"]
            if r["status"] == "error" and h in out and out[h]["status"] in RESULT_STATUSES:
                continue  # an environment error never hides a result
            out[h] = r.copy()
        return out

    def latest(self, *, skip_bad_lines: bool | None = None) -> dict[str, RunRecord]:
        """The last record of each config hash (an ``"error"`` record never hides a result)."""
        return self._latest_of(self.records(skip_bad_lines=skip_bad_lines))

    @staticmethod
    def _done_of(latest: Mapping[str, RunRecord], include_failed: bool) -> set[str]:
        wanted = RESULT_STATUSES if include_failed else ("ok",)
        return {h for h, r in latest.items() if r["status"] in wanted}

    def done_hashes(self, *, include_failed: bool = True, skip_bad_lines: bool | None = None) -> set[str]:
        """Hashes with a result: status ``ok`` or ``failed`` (only ``ok`` if not ``include_failed``).

        A hash whose only records are ``"error"`` records is not done (it is run again).
        """
        return self._done_of(self.latest(skip_bad_lines=skip_bad_lines), include_failed)

    # ---- claims --------------------------------------------------------------------------------
    def _read_claims(self) -> dict[str, dict[str, Any]]:
        if not self.claims_path.exists():
            return {}
        try:
            data = json.loads(self.claims_path.read_text(encoding="utf-8"))
            claims = data["claims"]
            if not isinstance(claims, dict) or not all(
                isinstance(c, dict)
                and isinstance(c.get("pid"), int)
                and isinstance(c.get("host"), str)
                and isinstance(c.get("token"), str)
                for c in claims.values()
            ):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise ValueError(
                f"{self.claims_path} is not a claims file ({{'claims': {{hash: owner}}}}); it holds only "
                "claims of runs in progress: delete it when no sweep is running on this folder"
            ) from None
        return claims

    def _write_claims(self, claims: Mapping[str, Mapping[str, Any]]) -> None:
        if not claims:
            self.claims_path.unlink(missing_ok=True)
            return
        tmp = self.claims_path.with_name(f"{self.claims_path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"claims": claims}, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.claims_path)

    def _live(self, claims: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
        now = time.time()
        return {h: dict(c) for h, c in claims.items() if _claim_live(c, now, self.lease_s)}

    @staticmethod
    def _refreshed(claims: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
        now = time.time()
        return {h: {**c, "refreshed": now} if _is_mine(c) else dict(c) for h, c in claims.items()}

    def claim(
        self,
        hashes: Iterable[str],
        *,
        retry_failed: bool = False,
        skip_bad_lines: bool | None = None,
    ) -> set[str]:
        """Claim, atomically, every hash of ``hashes`` that is free; return the set claimed.

        Free: no result recorded (``retry_failed``: no ``ok`` result) and no live claim by
        another owner (dead or expired claims are taken over). Hashes this process already holds
        are returned again (and refreshed). The caller trains the returned runs and
        :meth:`append` s their records (which releases the claims) or :meth:`release` s them.
        """
        if isinstance(hashes, str):
            raise TypeError(f"hashes={hashes!r} must be an iterable of config hashes, not one string")
        wanted = list(dict.fromkeys(hashes))
        for h in wanted:
            if not isinstance(h, str) or not h:
                raise TypeError(f"config hash {h!r} must be a non-empty string")
        skip = self._skip(skip_bad_lines)
        with self._lock(exclusive=True):
            done = self._done_of(self._latest_of(self._read(skip)), include_failed=not retry_failed)
            claims = self._live(self._read_claims())
            me = current_owner().as_json()
            got = set()
            for h in done:  # a result came in (from anyone): this process's claim is void
                if h in claims and _is_mine(claims[h]):
                    del claims[h]
            for h in wanted:
                if h in done or (h in claims and not _is_mine(claims[h])):
                    continue
                claims[h] = {**me, "claimed_at": claims.get(h, {}).get("claimed_at", time.time())}
                got.add(h)
            self._write_claims(self._refreshed(claims))
        return got

    def release(self, hashes: Iterable[str] | None = None) -> set[str]:
        """Give back this process's claims of ``hashes`` (all of them when None); return those released.

        Claims of other owners are never touched.
        """
        if isinstance(hashes, str):
            raise TypeError(f"hashes={hashes!r} must be an iterable of config hashes, not one string")
        which = None if hashes is None else set(hashes)
        with self._lock(exclusive=True):
            claims = self._live(self._read_claims())
            gone = {h for h, c in claims.items() if _is_mine(c) and (which is None or h in which)}
            self._write_claims(self._refreshed({h: c for h, c in claims.items() if h not in gone}))
        return gone

    def refresh(self) -> set[str]:
        """Renew the lease of this process's claims (and drop dead claims); return the hashes held.

        Needed only where other hosts share the folder and a run takes longer than ``lease_s``
        without this process appending a record.
        """
        with self._lock(exclusive=True):
            claims = self._refreshed(self._live(self._read_claims()))
            self._write_claims(claims)
        return {h for h, c in claims.items() if _is_mine(c)}

    def claims(self) -> dict[str, dict[str, Any]]:
        """Live claims: hash -> owner (pid, host, start, token, claimed_at, refreshed)."""
        with self._lock(exclusive=False):
            return self._live(self._read_claims())

    @contextlib.contextmanager
    def claimed(
        self, hashes: Iterable[str], *, retry_failed: bool = False, skip_bad_lines: bool | None = None
    ) -> Iterator[set[str]]:
        """``with store.claimed(hashes) as mine:`` claim, and release what was not recorded on exit."""
        got = self.claim(hashes, retry_failed=retry_failed, skip_bad_lines=skip_bad_lines)
        try:
            yield got
        finally:
            if got:
                self.release(got)


# ------------------------------------------------------------------------------------- DataFrames


def _as_paths(source: str | Path | Iterable[str | Path]) -> list[Path]:
    if isinstance(source, str | Path):
        source = [source]
    paths = []
    for s in source:
        p = Path(s)
        if p.is_dir():
            archived = {a.with_name(RUNS_FILE) for a in p.rglob(archive_path(RUNS_FILE).name)}
            found = sorted(set(p.rglob(RUNS_FILE)) | archived)
            if not found:
                raise FileNotFoundError(f"no {RUNS_FILE} (or its archive) under {p}")
            paths.extend(found)
        elif p.exists() or archive_path(p).exists():
            paths.append(live_path(p))
        else:
            raise FileNotFoundError(f"results file {p} does not exist")
    return paths


def _latest_records(
    source: str | Path | Iterable[str | Path], skip_bad_lines: bool
) -> tuple[list[RunRecord], list[str]]:
    records: list[RunRecord] = []
    bad: list[str] = []
    for path in _as_paths(source):
        store = ResultsStore(path, skip_bad_lines=skip_bad_lines)
        records.extend(store.latest().values())
        bad.extend(store.bad_lines)
    return records, bad


def load_runs(source: str | Path | Iterable[str | Path], *, skip_bad_lines: bool = False) -> pd.DataFrame:
    """One row per run (last record per config hash) from runs.jsonl files or folders holding them.

    ``skip_bad_lines``: skip bad lines with a warning each instead of raising; the skipped
    lines' messages are in ``df.attrs["bad_lines"]``.
    """
    records, bad = _latest_records(source, skip_bad_lines)
    df = pd.DataFrame([table_row(r) for r in records])
    df.attrs["bad_lines"] = bad
    return df


def _slice_fields(name: str) -> dict[str, Any]:
    try:
        fields = parse_slice_name(name)
    except ValueError:
        return {}
    out: dict[str, Any] = {}
    for key, value in fields.items():
        try:
            out[key] = int(value)
        except ValueError:
            out[key] = value
    return out


def load(
    source: str | Path | Iterable[str | Path], *, include_failed: bool = False, skip_bad_lines: bool = False
) -> pd.DataFrame:
    """Tidy table, one row per (run, test slice): run summary + metrics, ``slice``,
    ``slice_accuracy``, ``slice_labels`` and the slice's parsed fields. Runs that are not ``ok``
    (no slices) are dropped unless ``include_failed`` (then they appear once, with ``slice`` =
    None). ``skip_bad_lines`` as in :func:`load_runs` (messages in ``df.attrs["bad_lines"]``)."""
    records, bad = _latest_records(source, skip_bad_lines)
    rows = []
    for record in records:
        base = table_row(record)
        slices = record.get("slice_accuracy") or {}
        if record.get("status") != "ok" or not slices:
            if include_failed:
                rows.append({**base, "slice": None, "slice_accuracy": None, "slice_labels": None})
            continue
        counts = record.get("slice_counts") or {}
        for name, acc in slices.items():
            labelled = counts.get(name, [None, None])[1]
            rows.append(
                {
                    **base,
                    "slice": name,
                    "slice_accuracy": acc,
                    "slice_labels": labelled,
                    **_slice_fields(name),
                }
            )
    df = pd.DataFrame(rows)
    df.attrs["bad_lines"] = bad
    return df


#: the parts of a record's ``mechanism`` field (synthetic.analysis.record.mechanism_record)
MECHANISM_PARTS = (
    "intervention_by_slice",
    "intervention_by_order",
    "matched",
    "placed",
    "probes",
    "seen_before",
    "by_position",
    "first_set_read",
    "copy_rank",
    "b_places",
)


def load_history(source: str | Path | Iterable[str | Path], *, skip_bad_lines: bool = False) -> pd.DataFrame:
    """One row per (run, evaluation during training): the run's flat row
    (:func:`synthetic.record.table_row`) with the evaluation's ``epoch``, ``step``,
    ``eval_accuracy`` (over the whole test set then; the run's final ``accuracy`` stays beside it),
    ``eval_train_loss`` and ``eval_test_loss``. Only ``ok`` runs, in their evaluations' order;
    ``skip_bad_lines`` as in :func:`load_runs`."""
    records, bad = _latest_records(source, skip_bad_lines)
    rows = []
    for record in records:
        if record.get("status") != "ok":
            continue
        base = table_row(record)
        for entry in record.get("history") or []:
            rows.append(
                {
                    **base,
                    "epoch": entry.get("epoch"),
                    "step": entry.get("step"),
                    "eval_accuracy": entry.get("accuracy"),
                    "eval_train_loss": entry.get("train_loss"),
                    "eval_test_loss": entry.get("test_loss"),
                }
            )
    df = pd.DataFrame(rows)
    df.attrs["bad_lines"] = bad
    return df


def load_mechanism(
    source: str | Path | Iterable[str | Path], part: str, *, skip_bad_lines: bool = False
) -> pd.DataFrame:
    """One row per (run, row of ``part`` of its ``mechanism`` field): the run's flat row
    (:func:`synthetic.record.table_row`) beside the analysis row. ``part``: one of
    :data:`MECHANISM_PARTS`. Runs without an analysis, or whose analysis failed, have no rows;
    how many there were is in ``df.attrs["unanalysed"]`` and ``df.attrs["analysis_errors"]``."""
    if part not in MECHANISM_PARTS:
        raise ValueError(f"part={part!r}; allowed: {', '.join(MECHANISM_PARTS)}")
    records, bad = _latest_records(source, skip_bad_lines)
    rows: list[dict[str, Any]] = []
    unanalysed, errors = 0, []
    for record in records:
        if record.get("status") != "ok":
            continue
        mechanism = record.get("mechanism")
        if not mechanism:
            unanalysed += 1
            continue
        if "error" in mechanism:
            errors.append(f"{record['config_hash']}: {mechanism['error']}")
            continue
        base = table_row(record)
        rows.extend({**base, **row} for row in mechanism.get(part, []))
    df = pd.DataFrame(rows)
    df.attrs.update(bad_lines=bad, unanalysed=unanalysed, analysis_errors=errors)
    return df


# ---------------------------------------------------------------------------------- trained models


def _runs_folder(record: Mapping[str, Any], results: str | Path) -> Path:
    """The folder of the ``runs.jsonl`` that holds ``record``: ``results`` itself when it is that
    file or its folder, else ``<results>/<experiment>/<profile>`` from the record's summary."""
    path = live_path(results)
    if path.is_file() or archive_path(path).is_file():
        return path.parent
    if (path / RUNS_FILE).is_file() or archive_path(path / RUNS_FILE).is_file():
        return path
    summary = record.get("summary") or {}
    return results_path(path, summary.get("experiment", ""), summary.get("profile", "")).parent


def load_model(
    record: Mapping[str, Any], results: str | Path = "results", *, device: str = "cpu"
) -> LanguageModel:
    """The trained model of ``record`` (a run record with ``model_file``: the sweep that trained
    it kept its weights, ``run --save-models``), rebuilt from the record's config, in eval mode on
    ``device``: a :class:`synthetic.model.LanguageModel`.

    ``results`` is the results folder (default ``results``, as the command line's), the record's
    ``runs.jsonl`` or the folder holding it. Raises ValueError if the record is not an ``ok`` run
    with kept weights, its config does not validate, or the file does not fit it (another run's
    file, or tensors whose names or shapes differ from the config's model: each is named), and
    FileNotFoundError if the file is missing.
    """
    from synthetic.config import RunConfig
    from synthetic.weights import read

    validate_record(record)
    h = record["config_hash"]
    if record["status"] != "ok":
        raise ValueError(f"run {h} has status={record['status']!r}: only an 'ok' run has a trained model")
    relative = record.get("model_file")
    if not relative:
        raise ValueError(
            f"run {h} was recorded without its trained weights (no model_file): the sweep that "
            "trained it did not keep them (run --save-models, or save_models = true in the profile)"
        )
    try:
        cfg = RunConfig.model_validate(record["config"])
    except ValueError as err:
        raise ValueError(f"run {h}: its recorded config does not validate any more: {err}") from None
    return read(_runs_folder(record, results) / relative, cfg, config_hash=h, device=device)
