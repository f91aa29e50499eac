"""Where a training step's GPU time goes: torch.profiler over steps of one ensemble.

    python bench/profile_step.py [--variant "Based (causal)"] [--d-model 36] [--f 4] [--members 8]
                                 [--warmup 72] [--steps 24] [--top 15] [--pairs N] [--explain]

Builds an ensemble at the paper profile's shapes (bench/train_throughput.py's configs), trains
``--warmup`` optimiser steps unprofiled (with CUDA graphs, the default on CUDA, every batch shape
needs 3 eager steps and a capture first: 72 steps give each of the 12 shapes about 6), then
``--steps`` more under the profiler, and prints the kernels with the most GPU time (self CUDA time,
summed), the GPU-busy time a step and the wall time a step. READTWICE_TRAIN_STEP and
READTWICE_FUSED_NORM choose what is profiled (printed in the first line).

A replayed CUDA graph hides which operator launched a kernel. ``--by-source`` (with
READTWICE_TRAIN_STEP=eager: the same kernels, launched one by one) also prints each operator's GPU
time a step grouped by where it was called: the innermost line of the package's code for the
forward pass, the autograd node (``MulBackward0``, ...) for the backward pass; so the elementwise
kernels of the graphed table can be traced to the lines of the model that run them.

``--pairs N`` trains on the first N of the paper's 12 train pairs only (the same number of steps,
so N = 1 is one batch shape): with READTWICE_COMPILE=1 each batch shape compiles once
(``dynamic``: once in all), and one
shape keeps the warm-up short. The warm-up's wall time (compiles and captures included) is printed.
``--explain`` prints what ``torch._dynamo.explain`` finds in the step's forward and loss on the first
batch (compiled graphs, graph breaks and their reasons) and exits.
"""

from __future__ import annotations

import argparse
import functools
import re
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch.autograd import DeviceType

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.train_throughput import VARIANTS, run_config
from synthetic.config import RunConfig
from synthetic.devices import autocast, to_device
from synthetic.ensemble import _Ensemble, _labelled_losses, _stack_batches, load_splits
from synthetic.kernels.member_norm import fused_norm_enabled
from synthetic.step_graphs import compile_mode, train_step_mode


def _caller(event: Any) -> str:
    """Where an operator was called: the innermost frame of the package's code (forward), or the
    autograd node that ran it (backward); ``?`` when neither is among its ancestors."""
    parent = event.cpu_parent
    while parent is not None:
        name = parent.name
        if "synthetic/" in name:
            return name[name.index("synthetic/") :]
        if re.search(r"Backward\d*$", name):
            return name.rsplit(" ", 1)[-1]  # "autograd::engine::evaluate_function: MulBackward0"
        parent = parent.cpu_parent
    return "?"


def by_source(events: list[Any], steps: int, top: int, *, device_time: bool = True) -> str:
    """The ``top`` (operator, caller) pairs by self GPU time a step (self CPU time where
    ``device_time`` is false: the CPU smoke test), as aligned text: ms a step, calls a step."""
    totals: dict[tuple[str, str], list[float]] = {}
    for event in events:
        if not event.name.startswith("aten::"):
            continue
        spent = event.self_device_time_total if device_time else event.self_cpu_time_total
        if spent <= 0:
            continue
        entry = totals.setdefault((event.name, _caller(event)), [0.0, 0])
        entry[0] += spent
        entry[1] += 1
    unit = "GPU" if device_time else "CPU"
    lines = [f"operators by caller (self {unit} time, ms a step; calls a step):"]
    for (name, caller), (spent, calls) in sorted(totals.items(), key=lambda kv: -kv[1][0])[:top]:
        lines.append(f"{spent / steps / 1e3:8.3f} ms {calls / steps:6.1f}  {name:<28} {caller}")
    return "\n".join(lines)


def first_pairs(cfg: RunConfig, pairs: int) -> RunConfig:
    """``cfg`` trained on its first ``pairs`` train segments only, with as many examples in all (so
    as many optimiser steps)."""
    d = cfg.model_dump()
    segments = d["data"]["train_segments"]
    if not 1 <= pairs <= len(segments):
        raise SystemExit(f"--pairs {pairs}: expected 1 to {len(segments)} (the paper's train pairs)")
    total = sum(s["num_examples"] for s in segments)
    kept = segments[:pairs]
    for s in kept:
        s["num_examples"] = total // pairs
    d["data"]["train_segments"] = kept
    return RunConfig.model_validate(d)


def explain(run: _Ensemble) -> None:
    """Dynamo's graphs and graph breaks in the step's forward and loss, on the next batch."""
    inputs, prefix_len, where = _stack_batches([next(m.batches)[1] for m in run.members])
    dev = run.device
    fn = functools.partial(_labelled_losses, run.model)
    with autocast(dev, run.precision, cache=False):
        found = torch._dynamo.explain(fn)(to_device(inputs, dev), to_device(prefix_len, dev), where.to(dev))
    print(f"dynamo: {found.graph_count} graphs, {found.graph_break_count} graph breaks")
    for reason in found.break_reasons:
        frame = reason.user_stack[-1] if reason.user_stack else None
        where_ = f"{frame.filename}:{frame.lineno}" if frame is not None else "?"
        print(f"  break at {where_}: {reason.reason[:300]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", default="Based (causal)", choices=list(VARIANTS))
    parser.add_argument("--d-model", type=int, default=36)
    parser.add_argument("--f", type=int, default=4)
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=72)
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--device", default="cuda", help="cuda (cpu: a smoke test of this script)")
    parser.add_argument(
        "--by-source",
        action="store_true",
        help="also print the operators' GPU time by the line or autograd node that ran them (use with "
        "READTWICE_TRAIN_STEP=eager: a replayed graph has no operators)",
    )
    parser.add_argument("--pairs", type=int, default=None, help="train on the first N train pairs only")
    parser.add_argument("--explain", action="store_true", help="print dynamo's graph breaks and exit")
    args = parser.parse_args(argv)
    total = args.warmup + args.steps
    device = torch.device(args.device)
    cfgs = [
        run_config("paper", args.variant, args.d_model, args.f, s, total, args.device)
        for s in range(args.members)
    ]
    if args.pairs is not None:
        cfgs = [first_pairs(c, args.pairs) for c in cfgs]
    load_splits(cfgs[0].data)
    run = _Ensemble(cfgs, device, keep_models=False)
    if run.total_steps < total:
        raise SystemExit(f"the configs train {run.total_steps} steps, fewer than {total}")
    if args.explain:
        explain(run)
        return 0
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    t_warm = time.perf_counter()
    for step in range(1, args.warmup + 1):
        run.train_step(step)
    sync()
    warm_s = time.perf_counter() - t_warm
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    t0 = time.perf_counter()
    with torch.profiler.profile(activities=activities, with_stack=args.by_source) as prof:
        for step in range(args.warmup + 1, total + 1):
            run.train_step(step)
        sync()
    wall = (time.perf_counter() - t0) / args.steps
    events = prof.key_averages()
    busy = sum(e.self_device_time_total for e in events if e.device_type == DeviceType.CUDA) / args.steps
    graphs = 0 if run.graphs is None else len(run.graphs.graphs)
    fused = int(fused_norm_enabled() and device.type == "cuda")
    print(
        f"{args.variant} d_model={args.d_model} f={args.f} K={args.members}: train_step="
        f"{train_step_mode(device)} ({graphs} shapes graphed) fused_norm={fused} "
        f"compile={compile_mode()}; warm-up {args.warmup} steps {warm_s:.1f} s; {args.steps} steps "
        f"profiled after it: GPU busy {busy / 1e3:.2f} ms a step, wall {wall * 1e3:.2f} ms "
        "a step (under the profiler)"
    )
    print(events.table(sort_by="self_device_time_total", row_limit=args.top, max_name_column_width=60))
    if args.by_source:
        print(by_source(prof.events(), args.steps, args.top, device_time=device.type == "cuda"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
