"""Where a training step's GPU time goes: torch.profiler over a few steps of one ensemble.

    python bench/profile_step.py [--variant "Based (causal)"] [--d-model 36] [--f 4] [--members 32]
                                 [--steps 12] [--top 15]

Trains ``--steps`` optimiser steps of an ensemble at the paper profile's shapes (bench/
train_throughput.py's configs), the last third under the profiler, and prints the kernels with
the most GPU time (self CUDA time, summed) and the step's GPU-busy fraction.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.autograd import DeviceType

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.train_throughput import VARIANTS, run_config
from synthetic.ensemble import load_splits, train_ensemble


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", default="Based (causal)", choices=list(VARIANTS))
    parser.add_argument("--d-model", type=int, default=36)
    parser.add_argument("--f", type=int, default=4)
    parser.add_argument("--members", type=int, default=32)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    cfgs = [
        run_config("paper", args.variant, args.d_model, args.f, s, args.steps, "cuda")
        for s in range(args.members)
    ]
    load_splits(cfgs[0].data)
    list(train_ensemble(cfgs))  # warm-up: compiles, autotunes, allocator
    activities = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
    with torch.profiler.profile(activities=activities) as prof:
        list(train_ensemble(cfgs))
    events = prof.key_averages()
    total = sum(e.self_device_time_total for e in events if e.device_type == DeviceType.CUDA)  # kernels
    print(
        f"{args.variant} d_model={args.d_model} f={args.f} K={args.members}: {args.steps} steps "
        f"(+ one eval), GPU busy {total / 1e3:.1f} ms"
    )
    print(events.table(sort_by="self_device_time_total", row_limit=args.top, max_name_column_width=60))
    return 0


if __name__ == "__main__":
    sys.exit(main())
