"""Files written whole or not at all: the one way the package replaces a file it keeps (trained
weights, snapshots, the results archive)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["fsync_folder", "write_whole"]


def write_whole(path: str | Path, data: bytes) -> None:
    """Write ``data`` (bytes) to ``path`` whole or not at all: a hidden temporary file beside it,
    fsynced, renamed over it, then the folder fsynced, so that after a crash ``path`` holds its old
    or its new content, never a mix, and no temporary file is left behind. Creates the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:  # an interrupt or a full disk: no half-written file left behind
        tmp.unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)


def fsync_folder(folder: str | Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platform without folder file descriptors
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
