"""Helpers the op benchmarks share: a median time over repeated calls, and their CSV.

Used by bench/member_linear.py and bench/conv_backward.py (import as ``bench.timing``).
"""

from __future__ import annotations

import csv
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch


def median_ms(fn: Callable[[], object], reps: int, device: torch.device) -> float:
    """Median milliseconds of ``fn`` over ``reps`` calls after 3 warm-up calls (CUDA events on a
    GPU, ``perf_counter`` elsewhere)."""
    for _ in range(3):
        fn()
    times = []
    for _ in range(reps):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def write_rows(path: Path, columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> Path:
    """Write ``rows`` (dicts keyed by ``columns``) as a CSV at ``path`` (its folder made if
    needed), print where, and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {path}")
    return path
