"""On-disk cache of generated segments: one ``.npz`` per segment, never pickled.

File name: ``<cache_dir>/<kind>-<split>-<digest[:24]>.npz`` where ``digest`` is the SHA-256 of the
canonical JSON of the key (generator version, seed, split, task, vocabulary, segment sizes). The
file stores the key JSON itself (``meta``) and a load checks it, so a hash collision or a file
from another version is detected and the segment regenerated. Arrays are stored in the smallest
signed dtype that holds the vocabulary (int16 up to V = 32767) and widened to int64 on load.

Writes go to a temporary file in the same folder, then ``os.replace``: a crashed or concurrent
writer never leaves a truncated cache file under the final name.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from synthetic.tasks.config import stable_digest
from synthetic.tasks.examples import TaskExamples

__all__ = ["cache_file", "load_segment", "save_segment"]


def _key_json(key: Mapping[str, Any]) -> str:
    return json.dumps(key, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def cache_file(cache_dir: Path, key: Mapping[str, Any]) -> Path:
    """Path of the cache file for ``key`` (which must hold ``task.kind`` and ``split``)."""
    kind = str(key["task"]["kind"])
    return Path(cache_dir) / f"{kind}-{key['split']}-{stable_digest(key)[:24]}.npz"


def _storage_dtype(vocab_size: int) -> type[np.signedinteger]:
    return np.int16 if vocab_size <= np.iinfo(np.int16).max else np.int32


def save_segment(path: Path, key: Mapping[str, Any], examples: TaskExamples, vocab_size: int) -> None:
    """Write plain (JR-1) ``examples`` for ``key`` to ``path`` atomically."""
    if examples.passes != 1:
        raise ValueError(f"the cache stores plain examples (passes=1), got passes={examples.passes}")
    dtype = _storage_dtype(vocab_size)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.stem + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(
                fh,
                inputs=examples.inputs.astype(dtype),
                labels=examples.labels.astype(dtype),
                context_len=np.int64(examples.context_len),
                meta=np.array(_key_json(key)),
            )
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_segment(path: Path, key: Mapping[str, Any]) -> TaskExamples | None:
    """Load the examples cached for ``key`` from ``path``; None if the file is absent.

    A file that cannot be read, or whose stored key differs from ``key``, gives a warning and
    None (the caller regenerates and overwrites it). Never unpickles (``allow_pickle=False``).
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            meta = str(npz["meta"][()])
            if meta != _key_json(key):
                warnings.warn(f"cache file {path} holds another config; regenerating", stacklevel=3)
                return None
            inputs = npz["inputs"].astype(np.int64)
            labels = npz["labels"].astype(np.int64)
            context_len = int(npz["context_len"][()])
        return TaskExamples(inputs, labels, context_len=context_len)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, EOFError) as err:
        warnings.warn(f"cache file {path} is unreadable ({err!r}); regenerating", stacklevel=3)
        return None
