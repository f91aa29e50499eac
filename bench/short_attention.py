"""The short-sequence path against the chunked engine: one linear-attention op, forward + backward,
bf16, on one GPU, at the training shapes and over T to find the crossover.

    python bench/short_attention.py --out figures/data [--quick]
    python bench/short_attention.py --out figures/data --forward --dtype fp32 bf16
    python bench/short_attention.py --crossover-from figures/data/short_attention_forward_<gpu>.csv

``--forward``: forward only, without autograd (the evaluation and the analysis of a trained model
read test slices of up to 1,574 tokens in a JRT-Prompt model, fp32 for the analysis and bf16 for
the evaluation during training; training itself stays under 600 tokens), at the lengths (default
128, 512, 1024, 1574, 2048) and dtypes given, in the modes given (default all three; only causal
calls pass 1,024 tokens in the experiments, JRT-Prompt's); the CSV is
short_attention_forward_<gpu>.csv. ``--crossover-from CSV`` prints the forward crossover such a CSV
measured (:func:`forward_crossover`) as READTWICE_FORWARD_CROSSOVER's ``F:T,...`` text, or nothing
if it has no rows.

Modes: causal Based, non-causal ("whole") Based, prefix linear attention (encoder = the whole
sequence, prefix lengths uniform in [0, T]). Providers: ``engine`` (the chunked Triton engine,
READTWICE_SHORT_PATH=never's path) and ``short`` (synthetic.kernels.short). Times are medians of
triton.testing.do_bench (ms) over fresh random inputs (q, k scaled by 1 / sqrt(F) so s stays O(1)).
Shapes: the issue's four (B = members x batch), then T in {128, ..., 2048} at about 512k tokens per
call for f in {4, 8, 16, 24}. Writes short_attention_<gpu>.csv (provider, mode, B, T, H, f, dv,
ms, ratio engine/short, device, torch, triton, commit) and prints, per f and mode, the longest T at
which the short path is faster (the crossover of synthetic.kernels.short.op.CROSSOVER_T).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.prefill import git_commit
from synthetic.kernels.based.op import based_triton
from synthetic.kernels.prefix_linear_attention.op import pla_triton
from synthetic.kernels.short import short_attention
from synthetic.kernels.short.op import format_crossover

COLUMNS = [
    "provider",
    "mode",
    "B",
    "T",
    "H",
    "f",
    "dv",
    "ms",
    "engine_over_short",
    "device",
    "torch",
    "triton",
    "commit",
]
MODES = ("causal", "whole", "prefix")
ISSUE_SHAPES = [(4096, 137, 2, 24, 64), (4096, 275, 2, 24, 64), (4096, 137, 2, 4, 18), (1024, 800, 2, 16, 32)]


def sweep_shapes(quick: bool) -> list[tuple[int, int, int, int, int]]:
    """(B, T, H, f, dv) of the crossover sweep: about 512k tokens per call."""
    ts = [128, 512, 2048] if quick else [128, 256, 512, 1024, 2048]
    fs = [4, 24] if quick else [4, 8, 16, 24]
    return [(max(1, 2**19 // t), t, 2, f, 32) for f in fs for t in ts]


#: the bench's dtype names
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def forward_shapes(lengths: list[int], fs: list[int], dvs: list[int]) -> list[tuple[int, int, int, int, int]]:
    """(B, T, H, f, dv) of the forward sweep: about 512k tokens per call, as :func:`sweep_shapes`."""
    return [(max(1, 2**19 // t), t, 2, f, dv) for f in fs for dv in dvs for t in lengths]


def forward_crossover(rows: list[dict[str, str]]) -> dict[int, int]:
    """The forward crossover per f that rows of short_attention_forward_<gpu>.csv measured: the
    longest measured T such that the short path was faster (engine / short > 1) at every measured
    T' <= T in every dtype, mode and value head dim measured at f; 0 where it was slower already at
    the shortest. A sweep cut short counts only what it measured. Each pair of rows (engine, short)
    carries the same ratio; a NaN ratio (out of memory) counts as slower."""
    wins: dict[int, dict[int, bool]] = {}
    for row in rows:
        f, t, ratio = int(row["f"]), int(row["T"]), float(row["engine_over_short"])
        at_f = wins.setdefault(f, {})
        at_f[t] = at_f.get(t, True) and ratio > 1
    table = {}
    for f, at_t in wins.items():
        table[f] = 0
        for t in sorted(at_t):
            if not at_t[t]:
                break
            table[f] = t
    return table


def make_step(
    provider: str,
    mode: str,
    b: int,
    t: int,
    h: int,
    f: int,
    dv: int,
    *,
    dtype: torch.dtype = torch.bfloat16,
    backward: bool = True,
) -> Callable[[], None]:
    """A closure running one op call on fixed random inputs of ``dtype``: forward + backward, or
    with ``backward=False`` the forward alone without autograd."""
    dt = dtype
    q, k, ke = ((torch.randn(b, t, h, f, device="cuda") * f**-0.5).to(dt).requires_grad_() for _ in range(3))
    v, ve = (torch.randn(b, t, h, dv, device="cuda").to(dt).requires_grad_() for _ in range(2))
    lengths = torch.randint(0, t + 1, (b,), device="cuda", dtype=torch.int32)
    dy = torch.randn(b, t, h, dv, device="cuda").to(dt)

    def forward() -> torch.Tensor:
        if provider == "short":
            if mode == "causal":
                return short_attention(q, k, v)
            if mode == "whole":
                return short_attention(q, None, None, k_enc=k, v_enc=v)
            return short_attention(q, k, v, k_enc=ke, v_enc=ve, lengths=lengths)
        if mode == "prefix":
            return pla_triton(q, k, v, ke, ve, lengths)[0]
        return based_triton(q, k, v, causal=mode == "causal")[0]

    def step() -> None:
        forward().backward(dy)

    def read() -> None:
        with torch.no_grad():
            forward()

    return step if backward else read


def open_csv(
    out: Path | None, stem: str, device: str, columns: list[str]
) -> tuple[TextIO | None, csv.DictWriter | None]:
    """``out/<stem>_<gpu>.csv`` opened for writing with its header (file, writer), or (None, None)
    without ``out``."""
    if out is None:
        return None, None
    out.mkdir(parents=True, exist_ok=True)
    gpu = device.replace(" ", "_").replace("/", "_")
    fh = (out / f"{stem}_{gpu}.csv").open("w", newline="")
    writer = csv.DictWriter(fh, fieldnames=columns)
    writer.writeheader()
    return fh, writer


def time_providers(
    mode: str, shape: tuple[int, int, int, int, int], *, warmup: int, rep: int, **step: Any
) -> dict[str, float]:
    """Median ms of :func:`make_step` (``step``: its dtype and backward) for the engine and the
    short path at one mode and shape (triton's do_bench; NaN where the call runs out of memory)."""
    from triton.testing import do_bench

    ms = {}
    for provider in ("engine", "short"):
        try:
            call = make_step(provider, mode, *shape, **step)
            ms[provider] = do_bench(call, warmup=warmup, rep=rep, return_mode="median")
        except torch.OutOfMemoryError:
            ms[provider] = float("nan")
        torch.cuda.empty_cache()
    return ms


def main(argv: list[str] | None = None) -> int:
    import triton

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="folder for short_attention_<gpu>.csv")
    parser.add_argument("--quick", action="store_true", help="f in {4, 24}, T in {128, 512, 2048}")
    parser.add_argument(
        "--forward", action="store_true", help="forward only, no autograd (evaluation and analysis)"
    )
    parser.add_argument("--dtype", nargs="+", choices=sorted(DTYPES), default=["bf16"], help="with --forward")
    parser.add_argument(
        "--lengths", nargs="+", type=int, default=[128, 512, 1024, 1574, 2048], help="with --forward"
    )
    parser.add_argument("--fs", nargs="+", type=int, default=[4, 8, 16, 24], help="with --forward")
    parser.add_argument("--dv", nargs="+", type=int, default=[32], help="with --forward: value head dims")
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=MODES,
        default=list(MODES),
        help="with --forward (past 1,024 tokens in the experiments: causal, JRT-Prompt's)",
    )
    parser.add_argument(
        "--crossover-from",
        type=Path,
        metavar="CSV",
        help="print the forward crossover a --forward CSV measured (F:T,...; no GPU needed)",
    )
    args = parser.parse_args(argv)
    if args.crossover_from is not None:
        with args.crossover_from.open(newline="") as fh:
            table = forward_crossover(list(csv.DictReader(fh)))
        if table:
            print(format_crossover(table))
        return 0
    if not torch.cuda.is_available():
        parser.error("needs a CUDA GPU")
    if args.forward:
        return forward_sweep(args)
    device = torch.cuda.get_device_name(0)
    rows: list[dict] = []
    fh, writer = open_csv(args.out, "short_attention", device, COLUMNS)
    for shape in ISSUE_SHAPES + sweep_shapes(args.quick):
        b, t, h, f, dv = shape
        for mode in MODES:
            ms = time_providers(mode, shape, warmup=25, rep=100)
            ratio = ms["engine"] / ms["short"]
            print(f"{mode:6s} B={b:5d} T={t:5d} f={f:2d} dv={dv:3d}  engine {ms['engine']:8.3f} ms  "
                  f"short {ms['short']:8.3f} ms  x{ratio:5.2f}", flush=True)  # fmt: skip
            for provider, value in ms.items():
                row = dict(
                    provider=provider, mode=mode, B=b, T=t, H=h, f=f, dv=dv, ms=round(value, 4),
                    engine_over_short=round(ratio, 3), device=device, torch=torch.__version__,
                    triton=triton.__version__, commit=git_commit(),
                )  # fmt: skip
                rows.append(row)
                if writer is not None and fh is not None:
                    writer.writerow(row)
                    fh.flush()
    print("\nlongest T of the sweep at which the short path is faster (engine / short > 1):")
    swept = {(b, t, h, f, dv) for b, t, h, f, dv in sweep_shapes(args.quick)}
    for f in sorted({s[3] for s in swept}):
        for mode in MODES:
            faster = [
                r["T"] for r in rows
                if r["provider"] == "short" and r["mode"] == mode and r["f"] == f
                and (r["B"], r["T"], r["H"], r["f"], r["dv"]) in swept and r["engine_over_short"] > 1
            ]  # fmt: skip
            print(f"  f={f:2d} {mode:6s}: {max(faster) if faster else 'none'}")
    if fh is not None:
        fh.close()
    return 0


def forward_sweep(args: argparse.Namespace) -> int:
    """``--forward``: medians (ms) of the forward alone, engine and short path, per dtype, mode
    (``--modes``) and shape; prints and writes them, then the longest T at which the short path
    is faster, per dtype, f and mode."""
    import triton

    device = torch.cuda.get_device_name(0)
    fh, writer = open_csv(args.out, "short_attention_forward", device, ["dtype", *COLUMNS])
    faster: dict[tuple[str, int, str], list[int]] = {}
    for dtype in args.dtype:
        for shape in forward_shapes(args.lengths, args.fs, args.dv):
            b, t, h, f, dv = shape
            for mode in args.modes:
                ms = time_providers(mode, shape, warmup=10, rep=50, dtype=DTYPES[dtype], backward=False)
                ratio = ms["engine"] / ms["short"]
                timing = f"engine {ms['engine']:8.3f} ms  short {ms['short']:8.3f} ms  x{ratio:5.2f}"
                print(
                    f"forward {dtype} {mode:6s} B={b:4d} T={t:5d} f={f:2d} dv={dv:3d}  {timing}", flush=True
                )
                if ratio > 1:
                    faster.setdefault((dtype, f, mode), []).append(t)
                for provider, value in ms.items():
                    row = dict(
                        dtype=dtype, provider=provider, mode=mode, B=b, T=t, H=h, f=f, dv=dv,
                        ms=round(value, 4), engine_over_short=round(ratio, 3), device=device,
                        torch=torch.__version__, triton=triton.__version__, commit=git_commit(),
                    )  # fmt: skip
                    if writer is not None and fh is not None:
                        writer.writerow(row)
                        fh.flush()
    print("\nlongest T at which the short path's forward is faster (engine / short > 1):")
    for dtype in args.dtype:
        for f in args.fs:
            for mode in args.modes:
                ts = faster.get((dtype, f, mode), [])
                print(f"  {dtype} f={f:2d} {mode:6s}: {max(ts) if ts else 'none'}")
    if fh is not None:
        fh.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
