"""Benchmark: vectorised task generators vs a simple per-example Python loop, same run, one core.

    .venv/bin/python bench/tasks_gen.py                 # 100,000 examples per case, pinned to 1 core
    .venv/bin/python bench/tasks_gen.py --examples 20000 --loop-examples 5000

Cases: SD with |A| + |B| = 512 (balanced, short-first, decision variant), V = 2048 (the paper's);
MQAR with 512 tokens per example (64 pairs, all asked; pad and random filler, both orders),
V = 8192 (Zoology's default); and ``build_split`` end to end (seeding, JR-2, read-only int64).

The loop baselines draw one example at a time with the same Generator API, the way the
reference generators do (shuffle the set vocabulary and split it in halves for SD;
``Generator.choice`` with the power-law ``p`` for MQAR gaps). They produce the same distributions
(not the same bytes). Vectorised timings are the median of ``--repeats`` runs (the min and the
first, cold run are in the CSV: on a VM the first touch of fresh memory can cost more than the
generation itself, so by default 2 GB are touched once before timing); a loop is run once.
Both wall time and process CPU time (user + sys) are recorded; the speed-up and the target use
CPU time, which a busy machine does not inflate. Prints a table and writes CSV (default
figures/data/tasks_gen.csv). Target: under 5 s per 100,000 examples on one CPU core.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from synthetic.tasks.data import DataConfig, build_split
from synthetic.tasks.mqar import generate_mqar, mqar_context_len
from synthetic.tasks.sd import generate_sd, generate_sd_decision
from synthetic.tasks.tokens import (
    ANSWER,
    IGNORE_INDEX,
    NO,
    NUM_SPECIAL,
    PAD,
    SEP,
    START,
    YES,
    mqar_key_range,
    mqar_value_range,
)

TARGET_S = 5.0

# ------------------------------------------------------------------------------ loop baselines


def sd_loop(
    rng: np.random.Generator, n: int, a: int, b: int, v: int, decision: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """One example at a time: shuffle the set tokens, A from one half, B from the other."""
    lo = NO + 1 if decision else NUM_SPECIAL
    t = a + b + 3
    inputs = np.empty((n, t), dtype=np.int64)
    labels = np.full((n, t), IGNORE_INDEX, dtype=np.int64)
    for i in range(n):
        vocab = rng.permutation(np.arange(lo, v))
        half = len(vocab) // 2
        set_a = rng.choice(vocab[:half], size=a, replace=False)
        set_b = rng.choice(vocab[half:], size=b, replace=False)
        intersect = (not decision) or rng.random() < 0.5
        label = YES if intersect else NO
        if intersect:
            shared = set_a[rng.integers(a)]
            set_b[rng.integers(b)] = shared
            if not decision:  # SD: the shared element itself
                label = shared
        inputs[i] = np.concatenate([[START], set_a, [SEP], set_b, [ANSWER]])
        labels[i, -1] = label
    return inputs, labels


def mqar_loop(
    rng: np.random.Generator,
    n: int,
    kv: int,
    t: int,
    v: int,
    *,
    power_a: float = 0.01,
    filler: str = "pad",
    order: str = "context-first",
) -> tuple[np.ndarray, np.ndarray]:
    """One example at a time with ``Generator.choice`` (keys, values, asks, power-law slots)."""
    k_lo, k_hi = mqar_key_range(v)
    v_lo, v_hi = mqar_value_range(v)
    c = mqar_context_len(kv, kv, order)
    num_slots = (t - c) // 2
    p = np.arange(1, num_slots + 1, dtype=np.float64) ** (power_a - 1)
    p /= p.sum()
    inputs = np.empty((n, t), dtype=np.int64)
    labels = np.full((n, t), IGNORE_INDEX, dtype=np.int64)
    for i in range(n):
        keys = rng.choice(np.arange(k_lo, k_hi), size=kv, replace=False)
        values = rng.choice(np.arange(v_lo, v_hi), size=kv, replace=False)
        asked = rng.permutation(kv)
        slots = np.sort(rng.choice(num_slots, size=kv, replace=False, p=p))
        row = inputs[i]
        if filler == "random":
            row[c + 1 :] = rng.integers(NUM_SPECIAL, v, size=t - c - 1)
        else:
            row[c + 1 :] = PAD
        row[0] = START
        start = 1
        if order == "queries-first":
            row[1 : 1 + kv] = keys[asked]
            row[1 + kv] = SEP
            start = 2 + kv
        row[start : start + 2 * kv : 2] = keys
        row[start + 1 : start + 2 * kv : 2] = values
        row[c] = ANSWER
        pos = c + 1 + 2 * slots
        row[pos] = keys[asked]
        labels[i, pos] = values[asked]
    return inputs, labels


# ------------------------------------------------------------------------------------- harness


def _cpu() -> tuple[float, float]:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime, ru.ru_stime


def _time(fn: Callable[[], object], repeats: int) -> dict[str, float]:
    """Median / min / first wall seconds and median user / system CPU seconds over ``repeats`` calls.

    CPU time is the fair "one core" measure when other processes share the core: it does not
    count time spent waiting for the CPU. System time is mostly page faults on fresh output
    memory (large on a VM); user time is the generator's own work.
    """
    wall, user, sys_ = [], [], []
    for _ in range(repeats):
        w0, (u0, s0) = time.perf_counter(), _cpu()
        fn()
        u1, s1 = _cpu()
        wall.append(time.perf_counter() - w0)
        user.append(u1 - u0)
        sys_.append(s1 - s0)
    cpu = [u + s for u, s in zip(user, sys_, strict=True)]
    return {
        "wall": statistics.median(wall),
        "wall_min": min(wall),
        "wall_first": wall[0],
        "cpu": statistics.median(cpu),
        "user": statistics.median(user),
        "sys": statistics.median(sys_),
    }


def _pin(cores: int) -> str:
    if cores <= 0 or not hasattr(os, "sched_setaffinity"):
        return "unpinned"
    cpus = sorted(os.sched_getaffinity(0))[:cores]
    os.sched_setaffinity(0, set(cpus))
    return f"pinned to CPU {cpus}"


def main(argv: list[str] | None = None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--examples", type=int, default=100_000, help="examples per vectorised case")
    ap.add_argument("--loop-examples", type=int, default=None, help="examples per loop case (default: same)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per vectorised case (median reported)")
    ap.add_argument("--cores", type=int, default=1, help="pin to this many cores (0: do not pin)")
    ap.add_argument("--out", type=Path, default=Path("figures/data/tasks_gen.csv"))
    ap.add_argument(
        "--prefault-gb",
        type=float,
        default=2.0,
        help="touch this much memory once before timing (a VM backs fresh pages slowly; 0: off)",
    )
    args = ap.parse_args(argv)
    n = args.examples
    n_loop = args.loop_examples or n
    pinning = _pin(args.cores)
    seed = 0

    sd_v, mq_v, mq_t, kv = 2048, 8192, 512, 64
    cases: list[tuple[str, str, int, Callable[[int], object], Callable[[int], object] | None]] = [
        (
            "SD",
            "|A|=256,|B|=256,V=2048",
            256 + 256 + 3,
            lambda m: generate_sd(np.random.default_rng(seed), m, 256, 256, sd_v),
            lambda m: sd_loop(np.random.default_rng(seed), m, 256, 256, sd_v),
        ),
        (
            "SD",
            "|A|=16,|B|=496,V=2048",
            16 + 496 + 3,
            lambda m: generate_sd(np.random.default_rng(seed), m, 16, 496, sd_v),
            lambda m: sd_loop(np.random.default_rng(seed), m, 16, 496, sd_v),
        ),
        (
            "SD decision",
            "|A|=256,|B|=256,V=2048",
            256 + 256 + 3,
            lambda m: generate_sd_decision(np.random.default_rng(seed), m, 256, 256, sd_v),
            lambda m: sd_loop(np.random.default_rng(seed), m, 256, 256, sd_v, decision=True),
        ),
        (
            "MQAR",
            f"kv=q={kv},T={mq_t},V={mq_v},pad,context-first",
            mq_t,
            lambda m: generate_mqar(np.random.default_rng(seed), m, kv, mq_t, mq_v),
            lambda m: mqar_loop(np.random.default_rng(seed), m, kv, mq_t, mq_v),
        ),
        (
            "MQAR",
            f"kv=q={kv},T={mq_t},V={mq_v},random filler,queries-first",
            mq_t,
            lambda m: generate_mqar(
                np.random.default_rng(seed), m, kv, mq_t, mq_v, filler="random", order="queries-first"
            ),
            lambda m: mqar_loop(
                np.random.default_rng(seed), m, kv, mq_t, mq_v, filler="random", order="queries-first"
            ),
        ),
    ]

    def split_case(m: int) -> object:
        cfg = DataConfig(
            task="sd",
            vocab_size=sd_v,
            passes=2,
            train_segments=[{"size_a": 256, "size_b": 256, "num_examples": m}],
            test_segments=[{"size_a": 1, "size_b": 1, "num_examples": 1}],
        )
        return build_split(cfg, "train")

    cases.append(("SD build_split", "|A|=256,|B|=256,V=2048,JR-2", 2 * 514 + 1, split_case, None))

    generate_sd(np.random.default_rng(1), 1000, 256, 256, sd_v)  # warm-up (imports, allocator)
    if args.prefault_gb > 0:  # back fresh memory once so the first case does not pay for all
        np.ones(int(args.prefault_gb * 2**30) // 8)
    rows = []
    for task, setting, tokens, vec, loop in cases:
        vt = _time(functools.partial(vec, n), args.repeats)
        lt = {"wall": float("nan"), "cpu": float("nan"), "user": float("nan"), "sys": float("nan")}
        if loop is not None:
            lt = _time(functools.partial(loop, n_loop), 1)
            lt = {k: v * n / n_loop for k, v in lt.items()}  # per n examples
        rows.append(
            {
                "task": task,
                "setting": setting,
                "tokens_per_example": tokens,
                "examples": n,
                "vectorised_s": round(vt["wall"], 3),
                "vectorised_cpu_s": round(vt["cpu"], 3),
                "vectorised_user_s": round(vt["user"], 3),
                "vectorised_sys_s": round(vt["sys"], 3),
                "vectorised_min_s": round(vt["wall_min"], 3),
                "vectorised_first_s": round(vt["wall_first"], 3),
                "loop_s": round(lt["wall"], 3),
                "loop_cpu_s": round(lt["cpu"], 3),
                "loop_user_s": round(lt["user"], 3),
                "loop_examples_run": n_loop if loop is not None else 0,
                "speedup_wall": round(lt["wall"] / vt["wall"], 1),
                "speedup_cpu": round(lt["cpu"] / vt["cpu"], 1),
                "vectorised_examples_per_cpu_s": round(n / vt["cpu"]),
                "meets_5s_target_per_100k": bool(vt["cpu"] * 100_000 / n < TARGET_S),
            }
        )
        r = rows[-1]
        line = (
            f"  {task:15s} {setting:48s} CPU s: vec {r['vectorised_cpu_s']:7.3f}  loop {r['loop_cpu_s']:8.2f}"
        )
        print(line, flush=True)
    df = pd.DataFrame(rows)
    df["machine"] = f"{platform.machine()} {platform.processor() or ''}".strip()
    df["cpus_visible"] = os.cpu_count()
    df["pinning"] = pinning
    df["numpy"] = np.__version__
    cols = ["task", "setting", "vectorised_cpu_s", "vectorised_user_s", "loop_cpu_s", "speedup_cpu"]
    cols += ["vectorised_s", "loop_s", "speedup_wall"]
    print()
    print(f"{n:,} examples per case; {pinning}; numpy {np.__version__}; loop run on {n_loop:,} and scaled")
    print(df[cols].to_string(index=False))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False)
    print(f"\nwrote {args.out}")
    return df


if __name__ == "__main__":
    main()
