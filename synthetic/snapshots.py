"""An ensemble's training state saved at its evaluations, so that an interrupted ensemble resumes
where it was instead of starting again.

GPU time comes in jobs of a few minutes; an ensemble of the paper profile's largest shapes takes
most of one. A sweep given a snapshot folder (``snapshots/`` beside its ``runs.jsonl``, see
:func:`folder_of`) has each ensemble write one file there after every evaluation, overwritten each
time (at an evaluation where members finish, before their outcomes go out to be analysed and stored,
so that a job ending meanwhile does not train them again); an ensemble whose runs are all in a saved
one resumes from it (:func:`find`), and a sweep plans the runs of saved snapshots as they were
grouped (:func:`in_flight`), so an interrupt costs at most the steps since the last evaluation. The
file stays when its ensemble ends: whoever stores the outcomes deletes it once they are stored (the
sweep: :func:`prune` with the recorded runs, when it starts and when it ends), so a record lost on
its way never loses its training.

A file (``<ensemble id>.safetensors``, :func:`write` / :func:`read`) holds the stacked model's flat
parameters and the optimiser's two moments, each [K, P] fp32 (K members still training, P
parameters a member), and in its metadata (format :data:`SNAPSHOT_FORMAT`) everything else the
ensemble needs to go on exactly as if it had not stopped (:class:`EnsembleSnapshot`). Members train
independently, so a snapshot of members {a, b, c} also resumes the ensemble of {b, c} (a recorded
meanwhile): the ensemble keeps the rows of its own members.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save as save_bytes

from synthetic.files import write_whole
from synthetic.tasks.config import stable_digest

__all__ = [
    "READABLE_FORMATS",
    "SNAPSHOTS_DIR",
    "SNAPSHOT_FORMAT",
    "TENSORS",
    "EnsembleSnapshot",
    "ensemble_id",
    "find",
    "folder_of",
    "in_flight",
    "path_of",
    "peek",
    "prune",
    "read",
    "write",
]

#: the ``format`` metadata of the files this module writes (2: with ``commits``, which code before
#: it cannot read; it skips such a file with a warning naming the format)
SNAPSHOT_FORMAT = "readtwice.ensemble_snapshot.2"
#: the formats this module reads (1: before ``commits``; read as "not known")
READABLE_FORMATS = ("readtwice.ensemble_snapshot.1", SNAPSHOT_FORMAT)
#: the folder beside a ``runs.jsonl`` where its sweep's ensembles keep their snapshots
SNAPSHOTS_DIR = "snapshots"
#: the tensors of a snapshot, each [K, P] fp32
TENSORS = ("flat", "exp_avg", "exp_avg_sq")


@dataclass
class EnsembleSnapshot:
    """An ensemble after the evaluation at optimiser step ``step``, its finished members dropped.

    ensemble_id      names the file (:func:`ensemble_id` of the members it started with)
    members          the config hashes of the members still training, in the stacked model's order
    size             members the ensemble started with (the records' ``ensemble_size``)
    step             optimiser steps done (the optimiser's step count)
    epochs_done      whole epochs done
    train_time_s     seconds of training steps so far; ``wall_time_s``: since the ensemble started
    tokens           per member: training tokens so far
    best_accuracy    per member: the best test accuracy so far
    history          per member: its checkpoints so far, as JSON objects (the ensemble's own form)
    resumed_at       the steps at which this ensemble was resumed before
    commits          the source commit (:func:`synthetic.record.source_commit`) of each stretch of
                     training so far, in order: the one from step 0, then one from each step of
                     ``resumed_at``; the last is the writer's (files written before this field
                     have none: an empty list)
    precision, device   what it trained in and on (a resume elsewhere warns)
    flat, exp_avg, exp_avg_sq   [K, P] fp32 on the CPU: parameters and the optimiser's moments
    """

    ensemble_id: str
    members: list[str]
    size: int
    step: int
    epochs_done: int
    train_time_s: float
    wall_time_s: float
    tokens: list[int]
    best_accuracy: list[float]
    history: list[list[dict[str, Any]]]
    flat: torch.Tensor
    exp_avg: torch.Tensor
    exp_avg_sq: torch.Tensor
    resumed_at: list[int] = field(default_factory=list)
    commits: list[str | None] = field(default_factory=list)
    precision: str = ""
    device: str = ""

    def __post_init__(self) -> None:
        k = len(self.members)
        if k == 0 or len(set(self.members)) != k:
            raise ValueError(f"members={self.members!r} must name at least one run, each once")
        for name in ("tokens", "best_accuracy", "history"):
            if len(getattr(self, name)) != k:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries for {k} members")
        if self.commits and len(self.commits) != len(self.resumed_at) + 1:
            raise ValueError(
                f"commits has {len(self.commits)} entries; {len(self.resumed_at)} resumes make "
                f"{len(self.resumed_at) + 1} stretches of training"
            )
        shape = tuple(self.flat.shape)
        for name in TENSORS:
            t = getattr(self, name)
            if t.dim() != 2 or t.shape[0] != k or tuple(t.shape) != shape or t.dtype != torch.float32:
                raise ValueError(
                    f"{name} is {t.dtype} {list(t.shape)}; a snapshot of {k} members needs float32 "
                    f"[{k}, P] tensors of one shape (flat is {list(shape)})"
                )

    def rows_of(self, hashes: Iterable[str]) -> list[int]:
        """The positions of runs ``hashes`` among :attr:`members` (each must be there)."""
        missing = [h for h in hashes if h not in self.members]
        if missing:
            raise ValueError(f"snapshot {self.ensemble_id} holds no run {', '.join(missing)}")
        return [self.members.index(h) for h in hashes]


def ensemble_id(hashes: Iterable[str]) -> str:
    """16 hex digits naming the ensemble of runs ``hashes`` (any order)."""
    return stable_digest({"members": sorted(hashes)})[:16]


def folder_of(runs_path: str | Path) -> Path:
    """The snapshot folder of the sweep that records into ``runs_path`` (a ``runs.jsonl``)."""
    return Path(runs_path).parent / SNAPSHOTS_DIR


def path_of(folder: str | Path, ensemble: str) -> Path:
    """The file of ensemble ``ensemble`` (an :func:`ensemble_id`) in ``folder``."""
    return Path(folder) / f"{ensemble}.safetensors"


def write(folder: str | Path, snap: EnsembleSnapshot) -> Path:
    """Save ``snap`` as its ensemble's file in ``folder`` (whole or not at all); returns the path."""
    meta = {
        name: getattr(snap, name)
        for name in (
            "ensemble_id", "members", "size", "step", "epochs_done", "train_time_s", "wall_time_s",
            "tokens", "best_accuracy", "history", "resumed_at", "commits", "precision", "device",
        )
    }  # fmt: skip
    tensors = {name: getattr(snap, name).detach().to("cpu", torch.float32).contiguous() for name in TENSORS}
    data = save_bytes(tensors, metadata={"format": SNAPSHOT_FORMAT, "state": json.dumps(meta)})
    path = path_of(folder, snap.ensemble_id)
    write_whole(path, data)
    return path


def _check_format(metadata: dict[str, str], path: str | Path) -> None:
    """ValueError naming ``path``, its format and :data:`READABLE_FORMATS` for a file of another."""
    if metadata.get("format") not in READABLE_FORMATS:
        raise ValueError(f"{path}: format={metadata.get('format')!r}; this package reads {READABLE_FORMATS}")


def read(path: str | Path) -> EnsembleSnapshot:
    """The snapshot saved at ``path``. Raises FileNotFoundError without a file and ValueError
    naming what is wrong with one that is not a readable snapshot of this format."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no ensemble snapshot at {path}")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            metadata = fh.metadata() or {}
            tensors = {name: fh.get_tensor(name) for name in fh.keys()}
    except Exception as err:  # safetensors raises its own error types for a damaged file
        raise ValueError(f"{path} is not a readable safetensors file ({type(err).__name__}: {err})") from None
    _check_format(metadata, path)
    if sorted(tensors) != sorted(TENSORS):
        raise ValueError(f"{path} holds tensors {sorted(tensors)}; a snapshot holds {sorted(TENSORS)}")
    try:
        state = json.loads(metadata["state"])
        return EnsembleSnapshot(**state, **tensors)
    except (KeyError, TypeError, ValueError) as err:  # json.JSONDecodeError is a ValueError
        raise ValueError(f"{path}: not a valid snapshot ({type(err).__name__}: {err})") from None


def peek(path: str | Path) -> dict[str, Any]:
    """A snapshot file's state metadata alone (no tensors read): members, step, epochs_done, ...
    Raises ValueError for a file of another format."""
    with safe_open(str(path), framework="pt", device="cpu") as fh:
        metadata = fh.metadata() or {}
    _check_format(metadata, path)
    state: dict[str, Any] = json.loads(metadata["state"])
    return state


def _headers(folder: str | Path | None, *, warn: bool = False) -> list[tuple[Path, list[str], int]]:
    """(path, members, step) of every snapshot in ``folder`` whose metadata reads (no tensors);
    an unreadable file is left out, with a RuntimeWarning naming it when ``warn``."""
    if folder is None or not Path(folder).is_dir():
        return []
    out = []
    for path in sorted(Path(folder).glob("*.safetensors")):
        try:
            state = peek(path)
            out.append((path, list(state["members"]), int(state["step"])))
        except Exception as err:  # a damaged or foreign file must not stop a sweep
            if warn:
                _skip(path, err)
    return out


def find(folder: str | Path | None, hashes: Iterable[str]) -> EnsembleSnapshot | None:
    """The snapshot in ``folder`` that holds every run of ``hashes`` (the latest step if several),
    or None. A file that cannot be read is skipped with a RuntimeWarning naming it and why."""
    wanted = set(hashes)
    holding = [(step, path) for path, members, step in _headers(folder, warn=True) if wanted <= set(members)]
    for _, path in sorted(holding, key=lambda sp: -sp[0]):
        try:
            return read(path)
        except ValueError as err:  # read() names the file and the reason
            _skip(path, err)
    return None


def _skip(path: Path, err: Exception) -> None:
    warnings.warn(f"skipping {path}: not a readable ensemble snapshot ({err})", RuntimeWarning, stacklevel=3)


def in_flight(folder: str | Path | None) -> list[list[str]]:
    """The runs of each readable snapshot in ``folder`` (config hashes, in the stacked model's
    order), the latest step first: the ensembles a sweep goes on with before any other."""
    return [members for _, members, _ in sorted(_headers(folder), key=lambda h: -h[2])]


def prune(folder: str | Path | None, recorded: Iterable[str]) -> list[Path]:
    """Delete the snapshots in ``folder`` whose runs are all ``recorded`` (config hashes): no
    ensemble will go on from them. Returns the paths deleted; unreadable files are left alone."""
    done, gone = set(recorded), []
    for path, members, _ in _headers(folder):
        if set(members) <= done:
            path.unlink(missing_ok=True)
            gone.append(path)
    return gone
