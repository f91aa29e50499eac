"""Why a training step's CUDA-graph capture fails: one ensemble of the paper's shapes trained with
graphed steps under each of torch's capture error modes, printing each failed capture's traceback.

``global`` (torch's default) also fails a capture when any thread makes an unsafe CUDA call
meanwhile (a module load, a synchronising query); ``thread_local`` only this thread's; ``relaxed``
none. A capture that fails under ``global`` but not ``relaxed`` was broken by such a call, not by a
stream operation of the step itself.

    python bench/capture_probe.py --variant "Based (non-causal)" --d-model 36 --f 4 --members 8
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

import synthetic.step_graphs as step_graphs
from bench.train_throughput import run_config, time_ours

MODES = ("global", "thread_local", "relaxed")


def probe(variant: str, d_model: int, f: int, members: int, steps: int, mode: str) -> int:
    """Trains one ensemble with captures in ``mode``; returns how many captures failed."""
    failures: list[str] = []
    real_graph, real_warn = torch.cuda.graph, step_graphs.warnings.warn
    step_graphs.torch.cuda.graph = functools.partial(real_graph, capture_error_mode=mode)  # type: ignore[misc,assignment]

    def warn(message: str, *args: object, **kwargs: object) -> None:
        failures.append(message)
        print(f"[{mode}] {message}\n{traceback.format_exc()}", flush=True)

    step_graphs.warnings.warn = warn  # type: ignore[assignment]
    try:
        cfgs = [run_config("paper", variant, d_model, f, seed, steps, "cuda") for seed in range(members)]
        seconds, done, tokens = time_ours(cfgs)
    finally:
        step_graphs.torch.cuda.graph = real_graph  # type: ignore[misc]
        step_graphs.warnings.warn = real_warn
    rate = tokens / seconds / 1e6
    print(f"[{mode}] {variant} d={d_model} f={f} K={members}: {done} steps, {rate:.1f}M tokens/s, "
          f"{len(failures)} failed captures", flush=True)  # fmt: skip
    return len(failures)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", default="Based (non-causal)")
    ap.add_argument("--d-model", type=int, default=36)
    ap.add_argument("--f", type=int, default=4)
    ap.add_argument("--members", type=int, default=8)
    ap.add_argument("--steps", type=int, default=60, help="5 a batch shape: 3 eager, 1 captured, 1 replayed")
    ap.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    args = ap.parse_args(argv)
    print(f"READTWICE_FUSED_NORM={os.environ.get('READTWICE_FUSED_NORM', '1')}", flush=True)
    for mode in args.modes:
        probe(args.variant, args.d_model, args.f, args.members, args.steps, mode)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
