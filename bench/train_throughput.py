"""Training throughput of the small experiment models: one run alone, N processes, ensembles of K.

    python bench/train_throughput.py [--profile quick|paper] [--device cpu|cuda] [--members 1 4 8]
                                     [--processes 2 [--process-members 8]] [--steps 60] [--repeats 3]
                                     [--before REV]
                                     [--shapes ends|all] [--ensembles-only] [--out figures/data]
    python bench/train_throughput.py --estimate figures/data/train_throughput_cuda_paper.csv

Every mode trains real runs of the profile's shapes (SD data, the sweep's model and optimiser)
for the same number of optimiser steps and reports the time per member-step and the tokens/s
summed over members; ratios are within one invocation on one machine. Modes:

  before       (with ``--before REV``) the package's own ``train()`` at git revision REV, run from a
               temporary worktree in a subprocess: the training step as it was (e.g. 7e3229c, the
               last commit before ensembles)
  baseline     that old training loop written out here on today's layers and kernels (one model,
               logits at every position, cross-entropy with ignore_index, torch AdamW + LambdaLR +
               clip_grad_norm_): the part of the gain that comes from the trainer
  ours         synthetic.ensemble with K = 1: logits at labelled positions only, MemberAdamW
  ensemble     synthetic.ensemble with K members (different seeds and learning rates)
  processes    N processes at once, each training an ensemble of ``--process-members`` K (1: one run
               alone per process; 8 in 2 processes: what the paper sweep runs on one GPU)

Shapes: ``quick`` = the sd_order quick CPU profile (V = 256, sets (4,16), (16,4), (8,32), (32,8),
batch 64, f = 8, d_model 32 / 64); ``paper`` = the paper profile (V = 2048, the paper's train
tuples, batch 128, d_model 36 / 128, f = 4 / 24). Variants: causal Based, non-causal Based,
JRT-Prompt, JRT-RNN. Writes ``train_throughput_<device>_<profile>.csv`` (medians over
``--repeats``; column ``short_path`` is READTWICE_SHORT_PATH, so ``never`` times the chunked engine
alone in the same run; column ``train_step`` is READTWICE_TRAIN_STEP resolved, ``graph`` for CUDA
graphs of the training step, ``eager`` without; ``fused_norm`` is READTWICE_FUSED_NORM, the fused
member LayerNorm kernel; ``split_wgrad`` is READTWICE_SPLIT_WGRAD, ``auto`` by default) and
prints a table. With CUDA graphs every batch shape runs a few eager steps and one capture first:
use ``--steps`` in the hundreds.

With ``--profile paper`` (and with ``--estimate CSV``, which measures nothing) it prints the paper
profile's cost: the tokens of its runs per (variant, d_model, f), each divided by the measured
rate of ensembles of 8 at that cell (``--shapes all`` measures all 20 shapes), as GPU-hours and
GPU-minutes per 100B tokens; cells not measured are counted, not guessed.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import multiprocessing as mp
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.prefill import git_commit
from synthetic.config import RunConfig
from synthetic.devices import autocast, resolve_precision
from synthetic.ensemble import load_splits, train_ensemble
from synthetic.kernels.member_norm import fused_norm_enabled
from synthetic.kernels.short.op import short_path_mode
from synthetic.members import split_wgrad_mode
from synthetic.model import build_model, decays
from synthetic.optim import lr_factor
from synthetic.step_graphs import train_step_mode
from synthetic.sweep import expand, load_experiment

COLUMNS = [
    "profile", "variant", "d_model", "feature_dim", "mode", "members", "processes", "threads", "steps",
    "seconds", "ms_per_member_step", "tokens_per_s", "speedup_vs_baseline", "speedup_vs_before", "device",
    "torch", "commit", "short_path", "train_step", "fused_norm",
    "split_wgrad",
]  # fmt: skip
VARIANTS: dict[str, tuple[dict[str, Any], int]] = {
    "Based (causal)": ({"kind": "based", "num_heads": 2, "causal": True}, 1),
    "Based (non-causal)": ({"kind": "based", "num_heads": 2, "causal": False}, 1),
    "JRT-Prompt": ({"kind": "based", "num_heads": 2, "causal": True}, 2),
    "JRT-RNN": ({"kind": "prefix_linear_attention", "num_heads": 2}, 1),
}
PROFILES: dict[str, dict[str, Any]] = {
    "quick": {
        "vocab": 256,
        "pairs": [(4, 16), (16, 4), (8, 32), (32, 8)],
        "batch": 64,
        "shapes": [(32, 8), (64, 8)],
    },
    "paper": {
        "vocab": 2048,
        "pairs": [(4, 16), (16, 4), (8, 32), (32, 8), (64, 16), (16, 64), (4, 128), (128, 4),
                  (16, 256), (256, 16), (4, 256), (256, 4)],
        "batch": 128,
        "shapes": [(36, 4), (128, 24)],
        "grid": [(d, f) for d in (36, 48, 64, 96, 128) for f in (4, 8, 16, 24)],
    },
}  # fmt: skip


def run_config(
    profile: str, variant: str, d_model: int, f: int, seed: int, steps: int, device: str
) -> RunConfig:
    """A run of ``profile``'s shapes that trains exactly ``steps`` optimiser steps (one epoch)."""
    p = PROFILES[profile]
    mixer, passes = VARIANTS[variant]
    per_segment = -(-steps // len(p["pairs"])) * p["batch"]
    data = {
        "task": "sd",
        "vocab_size": p["vocab"],
        "seed": seed,
        "passes": passes,
        "train_segments": [{"size_a": a, "size_b": b, "num_examples": per_segment} for a, b in p["pairs"]],
        "test_segments": [{"size_a": a, "size_b": b, "num_examples": 8} for a, b in p["pairs"][:2]],
    }
    return RunConfig.model_validate(
        {
            "seed": seed,
            "data": data,
            "model": {"d_model": d_model, "n_layers": 4, "init": "torch",
                      "pattern": ["base_conv", {**mixer, "feature_dim": f}]},
            "train": {"epochs": 1, "batch_size": p["batch"], "lr": 1e-3 * (1 + seed % 4), "device": device,
                      "early_stop_accuracy": None},
        }
    )  # fmt: skip


def time_baseline(cfg: RunConfig) -> tuple[float, int, int]:
    """(seconds, steps, tokens) of the pre-ensemble training loop on ``cfg`` (training steps only)."""
    device = torch.device(cfg.train.device)
    precision = resolve_precision(cfg.train.precision, device)
    train, _ = load_splits(cfg.data)
    model = build_model(cfg.model, train.vocab_size, seed=cfg.seed).to(device)
    tc = cfg.train
    decayed = {n: tc.decay_all or decays(n, p.dim()) for n, p in model.named_parameters()}
    groups = [
        {"params": [p for n, p in model.named_parameters() if decayed[n] == flag], "weight_decay": wd}
        for flag, wd in ((True, tc.weight_decay), (False, 0.0))
    ]
    opt = torch.optim.AdamW(
        groups,
        lr=tc.lr,
        betas=tc.betas,
        fused=device.type == "cuda",
    )
    total = train.num_batches(tc.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, total, 0, 0.0))
    steps = tokens = 0
    _sync(device)
    t0 = time.perf_counter()
    for batch in train.batches(tc.batch_size, shuffle=True, epoch=0):
        batch = batch.to(device, non_blocking=True)
        with autocast(device, precision):
            logits = model(batch.inputs, batch.prefix_len)
        loss = F.cross_entropy(logits.float().flatten(0, 1), batch.labels.flatten(), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        steps += 1
        tokens += batch.inputs.numel()
    _sync(device)
    return time.perf_counter() - t0, steps, tokens


BEFORE_SCRIPT = """
import json, sys, torch
torch.set_num_threads(int(sys.argv[1]))
from synthetic.config import RunConfig
from synthetic.train import train
m = train(RunConfig.model_validate_json(sys.argv[2]))
print(json.dumps([m["train_time_s"], m["steps"], m["train_tokens"]]))
"""


class Before:
    """The package at another git revision, in a temporary worktree (``--before REV``)."""

    def __init__(self, rev: str) -> None:
        import subprocess
        import tempfile

        self.rev = rev
        self.dir = Path(tempfile.mkdtemp(prefix="readtwice-before-"))
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(self.dir), rev], check=True, capture_output=True
        )

    def time(self, cfg: RunConfig) -> tuple[float, int, int]:
        """(seconds, steps, tokens) of the old ``train(cfg)`` (training steps only)."""
        import json
        import subprocess

        old = cfg.identity()
        old["model"].pop("init")  # fields the old configs did not have (timing does not depend on them)
        old["train"].pop("optimizer")
        env = {**os.environ, "PYTHONPATH": str(self.dir), "OMP_NUM_THREADS": str(torch.get_num_threads())}
        out = subprocess.run(
            [sys.executable, "-c", BEFORE_SCRIPT, str(torch.get_num_threads()), json.dumps(old)],
            cwd=self.dir, env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        seconds, steps, tokens = json.loads(out.stdout.strip().splitlines()[-1])
        return float(seconds), int(steps), int(tokens)

    def close(self) -> None:
        import subprocess

        subprocess.run(
            ["git", "worktree", "remove", "--force", str(self.dir)], check=False, capture_output=True
        )


def time_ours(cfgs: list[RunConfig]) -> tuple[float, int, int]:
    """(seconds, steps, tokens over all members) of one ensemble (training steps only)."""
    metrics = [o.metrics for o in train_ensemble(cfgs) if o.metrics is not None]
    assert len(metrics) == len(cfgs), "a member of the benchmark ensemble failed"
    return metrics[0].train_time_s, metrics[0].final.step, sum(m.train_tokens for m in metrics)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _process_worker(cfg_jsons: list[str], threads: int, queue: Any, barrier: Any) -> None:
    torch.set_num_threads(threads)
    cfgs = [RunConfig.model_validate_json(c) for c in cfg_jsons]
    load_splits(cfgs[0].data)  # the data before the barrier, so that the processes train together
    barrier.wait()
    queue.put(time_ours(cfgs))


def time_processes(groups: list[list[RunConfig]], threads: int) -> tuple[float, int, int]:
    """(wall seconds, steps per process, tokens over all) of len(groups) processes, each training
    one group as an ensemble (a group of one: a run alone), released together once each has its
    data (start-up excluded: each reports its training time; the wall time is the slowest
    process's). Groups of 8 in 2 processes are what the paper sweep runs on one GPU."""
    ctx = mp.get_context("spawn")
    queue, barrier = ctx.Queue(), ctx.Barrier(len(groups))
    procs = [
        ctx.Process(target=_process_worker, args=([c.model_dump_json() for c in g], threads, queue, barrier))
        for g in groups
    ]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    return max(r[0] for r in results), results[0][1], sum(r[2] for r in results)


def measure(args: argparse.Namespace, before: Before | None) -> Iterator[dict[str, Any]]:
    """The rows of the table, one per (variant, shape, mode), each as soon as it is measured."""
    device_name = (
        torch.cuda.get_device_name(0)
        if args.device == "cuda"
        else f"cpu ({platform.machine()}, {os.cpu_count()} cores)"
    )
    threads = torch.get_num_threads()
    prof = PROFILES[args.profile]
    shapes = prof["grid"] if args.shapes == "all" else prof["shapes"]
    for variant in args.variants:
        for d_model, f in shapes:

            def cfg(seed: int, d_model: int = d_model, f: int = f, variant: str = variant) -> RunConfig:
                return run_config(args.profile, variant, d_model, f, seed, args.steps, args.device)

            load_splits(cfg(0).data)  # generate the data outside the timings
            modes: list[tuple[str, int, int, Any]] = []
            if before is not None:
                modes.append(("before", 1, 1, lambda b=before: b.time(cfg(0))))
            if not args.ensembles_only:
                modes.append(("baseline", 1, 1, lambda: time_baseline(cfg(0))))
                modes += [("ours", 1, 1, lambda: time_ours([cfg(0)]))]
            for k in args.members:
                if k > 1:
                    modes.append(("ensemble", k, 1, lambda k=k: time_ours([cfg(s) for s in range(k)])))
            kp = args.process_members
            for n in args.processes:
                groups = [[cfg(i * kp + s) for s in range(kp)] for i in range(n)]  # seeds distinct over all
                modes.append(("processes", kp, n, lambda g=groups: time_processes(g, args.process_threads)))
            base_rate = before_rate = None
            for mode, k, n, fn in modes:
                fn()  # warm-up (caches, allocator, autotune)
                runs = [fn() for _ in range(args.repeats)]
                seconds = statistics.median(r[0] for r in runs)
                steps, tokens = runs[0][1], runs[0][2]
                rate = tokens / seconds
                base_rate = rate if mode == "baseline" else base_rate
                before_rate = rate if mode == "before" else before_rate
                row: dict[str, Any] = {
                    "profile": args.profile, "variant": variant, "d_model": d_model, "feature_dim": f,
                    "mode": mode, "members": k, "processes": n,
                    "threads": args.process_threads if mode == "processes" else threads,
                    "steps": steps, "seconds": round(seconds, 4),
                    "ms_per_member_step": round(1e3 * seconds / (steps * k * n), 3),
                    "tokens_per_s": round(rate),
                    "speedup_vs_baseline": round(rate / base_rate, 2) if base_rate else None,
                    "speedup_vs_before": round(rate / before_rate, 2) if before_rate else None,
                    "device": device_name, "torch": torch.__version__, "commit": git_commit(),
                    "short_path": short_path_mode(),
                    "train_step": train_step_mode(torch.device(args.device)),
                    "fused_norm": int(fused_norm_enabled() and args.device == "cuda"),
                    "split_wgrad": split_wgrad_mode(),
                }  # fmt: skip
                print(
                    f"{variant:20s} d={d_model:3d} f={f:2d} {mode:9s} K={k:2d} N={n} "
                    f"{row['ms_per_member_step']:8.2f} ms/member-step {row['tokens_per_s']:10d} tok/s "
                    f"x{row['speedup_vs_baseline'] or 0:.2f} vs baseline, "
                    f"x{row['speedup_vs_before'] or 0:.2f} vs before",
                    flush=True,
                )
                yield row


def paper_tokens(experiment: str = "sd_order", profile: str = "paper") -> dict[tuple[str, int, int], int]:
    """Training tokens of the profile's runs (epochs x the train split's tokens, JR-p included),
    summed per (variant, d_model, f): what the sweep has to push through the GPU."""
    out: dict[tuple[str, int, int], int] = {}
    for cfg in expand(load_experiment(experiment), profile):
        data, row = cfg.data, cfg.summary()
        per_epoch = sum(seg.num_examples * data.seq_len(seg) for seg in data.segments("train"))
        key = (row["variant"], row["d_model"], row["feature_dim"])
        out[key] = out.get(key, 0) + cfg.train.epochs * per_epoch
    return out


def paper_cost(rows: pd.DataFrame, members: int = 8) -> pd.DataFrame:
    """Per (variant, d_model, f) of the paper profile: its tokens, the measured tokens/s of
    ensembles of ``members`` (the profile's ensemble size; the largest K measured below it where
    it is missing; of the modes measured there, e.g. eager and graphed steps, or several such
    ensembles in parallel processes, the fastest, over all its processes) and the GPU-hours at
    that rate (NaN where the shape was not measured)."""
    ens = rows[
        rows["mode"].isin(["ensemble", "processes"]) | ((rows["mode"] == "ours") & (rows["members"] == 1))
    ]
    ens = ens[ens["members"] <= members]
    out = []
    for (variant, d_model, f), tokens in sorted(paper_tokens().items()):
        m = ens[(ens.variant == variant) & (ens.d_model == d_model) & (ens.feature_dim == f)]
        m = m[m.members == m.members.max()]
        best = m.sort_values("tokens_per_s").iloc[-1] if len(m) else None  # the fastest mode at that K
        rate = float(best["tokens_per_s"]) if best is not None else float("nan")
        out.append({
            "variant": variant, "d_model": d_model, "feature_dim": f, "tokens": tokens,
            "members": int(best["members"]) if best is not None else 0, "tokens_per_s": rate,
            "gpu_hours": tokens / rate / 3600 if best is not None else float("nan"),
        })  # fmt: skip
    return pd.DataFrame(out)


def format_cost(cost: pd.DataFrame, unit: str = "GPU") -> str:
    """The estimate in words: measured shapes, their hours of one ``unit`` (the device measured)
    and minutes per 100B tokens, and what is left unestimated."""
    known = cost.dropna(subset=["gpu_hours"])
    lines = [f"paper profile cost from measured ensemble rates: {len(known)} of {len(cost)} cells measured"]
    if len(known):
        hours, tokens = known.gpu_hours.sum(), known.tokens.sum()
        lines.append(
            f"  measured cells: {tokens / 1e9:.0f}B tokens in {hours:.1f} {unit}-hours, "
            f"{hours * 60 / (tokens / 1e11):.0f} {unit}-minutes per 100B tokens "
            f"({tokens / hours / 3600 / 1e6:.1f}M tokens/s)"
        )
    missing = cost[cost.gpu_hours.isna()]
    if len(missing):
        lines.append(
            f"  not measured: {len(missing)} cells, {missing.tokens.sum() / 1e9:.0f}B tokens "
            "(no estimate: run --shapes all --ensembles-only --members 8)"
        )
    else:
        lines.append(f"  whole profile: {cost.gpu_hours.sum():.1f} {unit}-hours")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quick", help="shapes to train")
    parser.add_argument(
        "--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu"
    )
    parser.add_argument(
        "--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS), help="model variants"
    )
    parser.add_argument("--members", nargs="+", type=int, default=[1, 4, 8], help="ensemble sizes K")
    parser.add_argument(
        "--shapes",
        choices=["ends", "all"],
        default="ends",
        help="d_model x f shapes: the profile's smallest and largest (ends) or, for paper, all 20",
    )
    parser.add_argument(
        "--ensembles-only", action="store_true", help="skip the baseline loop and the run alone (K = 1)"
    )
    parser.add_argument(
        "--estimate",
        type=Path,
        default=None,
        metavar="CSV",
        help="print the sd_order paper profile's cost from this CSV's ensemble rates, measure nothing",
    )
    parser.add_argument(
        "--processes", nargs="*", type=int, default=[], help="numbers of parallel processes N"
    )
    parser.add_argument(
        "--process-threads", type=int, default=1, help="torch threads per process (processes mode)"
    )
    parser.add_argument(
        "--process-members",
        type=int,
        default=1,
        help="runs each process trains as one ensemble (processes mode; the paper sweep: 8 in 2 processes)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads of this process (default: torch's)"
    )
    parser.add_argument("--steps", type=int, default=60, help="optimiser steps per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per mode (median reported)")
    parser.add_argument("--out", type=Path, default=None, help="folder for train_throughput_<device>.csv")
    parser.add_argument(
        "--before", default=None, metavar="REV", help="also time train() at this git revision"
    )
    args = parser.parse_args(argv)
    for name in ("steps", "repeats", "process_threads", "process_members"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.shapes == "all" and "grid" not in PROFILES[args.profile]:
        parser.error(f"--shapes all: the {args.profile} profile has no shape grid (only paper has)")
    if any(k < 1 for k in args.members) or any(n < 1 for n in args.processes):
        parser.error("--members and --processes take integers >= 1")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.estimate is not None:
        rates = pd.read_csv(args.estimate)
        unit = "CPU" if rates["device"].astype(str).str.startswith("cpu").all() else "GPU"
        print(format_cost(paper_cost(rates), unit))
        return 0
    before = Before(args.before) if args.before else None
    path = None
    if args.out is not None:  # written row by row, so a run cut short keeps what it measured
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / f"train_throughput_{args.device}_{args.profile}.csv"
    measured: list[dict[str, Any]] = []
    try:
        with contextlib.ExitStack() as stack:
            fh = stack.enter_context(path.open("w", newline="")) if path is not None else None
            writer = csv.DictWriter(fh, fieldnames=COLUMNS) if fh is not None else None
            if writer is not None:
                writer.writeheader()
            for row in measure(args, before):
                measured.append(row)
                if writer is not None and fh is not None:
                    writer.writerow(row)
                    fh.flush()
    finally:
        if before is not None:
            before.close()
    if path is not None:
        print(f"wrote {path}")
    if args.profile == "paper" and measured:
        print(format_cost(paper_cost(pd.DataFrame(measured)), "GPU" if args.device == "cuda" else "CPU"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
