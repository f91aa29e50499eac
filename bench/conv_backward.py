"""The fused depthwise convolution's tiles and backward programs, timed against PyTorch's conv1d.

    python bench/conv_backward.py [--device cuda] [--rows 1024] [--t 137 275] [--c 36 128] [--kc 3]
                                  [--programs 256 1024 4096 16384] [--tiles 1024 2048 4096]
                                  [--reps 50] [--out figures/data]

At d_model 128 the convolution's backward kernel took 204 us a call in a training step (H100,
c1eeaac; bench/NOTES-training.md), about a sixth of the memory bandwidth its reads and writes need.
Its programs each loop over a run of (row, time block) tiles of one member, keeping the tap and
bias sums in registers; ``BWD_PROGRAMS`` sets about how many programs run and ``TILE_ELEMENTS`` the
size of a tile. This times forward + backward (x, taps and bias gradients) of
:func:`synthetic.kernels.depthwise_conv.member_causal_conv` under bf16 autocast for each
(programs, tile) pair and the eager ``F.conv1d`` path (``READTWICE_FUSED_CONV=0``'s) at the
training shapes: K = 8 members x 128 examples = 1024 rows, T = 137 (the training segments' mean)
and 275 (the longest), C = d_model (36 and 128), Kc = 3 (BaseConv). Median milliseconds over
``--reps`` (CUDA events; on a CPU, ``perf_counter`` with the kernels in the interpreter: a smoke
test only). Writes ``conv_backward_<device>.csv`` (the default tiles are the row with
``default`` = 1) and prints each row with its ratio to the eager path.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.prefill import git_commit
from bench.timing import median_ms, write_rows
from synthetic.kernels import depthwise_conv
from synthetic.layers.base import causal_depthwise_conv

COLUMNS = [
    "rows", "T", "C", "Kc", "impl", "bwd_programs", "tile_elements", "default", "ms", "ratio_vs_eager",
    "device", "torch", "commit",
]  # fmt: skip


def _step(x: torch.Tensor, taps: torch.Tensor, bias: torch.Tensor, dy: torch.Tensor, fused: bool) -> object:
    """Forward + backward of the members' convolution (bf16 autocast on CUDA), the fused kernels or
    the eager conv1d path."""
    device = x.device.type
    dtype = torch.bfloat16 if device == "cuda" else torch.float16
    with torch.autocast(device, dtype=dtype, enabled=device == "cuda"):
        y = depthwise_conv.member_causal_conv(x, taps, bias) if fused else _eager(x, taps, bias)
    return torch.autograd.grad(y, (x, taps, bias), dy.to(y.dtype))


def _eager(x: torch.Tensor, taps: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """The conv1d path of causal_depthwise_conv whatever the device (READTWICE_FUSED_CONV=0)."""
    saved = os.environ.get(depthwise_conv.FUSED_CONV_ENV)
    os.environ[depthwise_conv.FUSED_CONV_ENV] = "0"
    try:
        return causal_depthwise_conv(x, taps, bias)
    finally:
        if saved is None:
            del os.environ[depthwise_conv.FUSED_CONV_ENV]
        else:
            os.environ[depthwise_conv.FUSED_CONV_ENV] = saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--rows", type=int, default=1024)
    parser.add_argument("--t", type=int, nargs="+", default=[137, 275])
    parser.add_argument("--c", type=int, nargs="+", default=[36, 128])
    parser.add_argument("--kc", type=int, default=3)
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--programs", type=int, nargs="+", default=[256, 1024, 4096, 16384])
    parser.add_argument("--tiles", type=int, nargs="+", default=[1024, 2048, 4096])
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--out", type=Path, default=Path("figures/data"))
    args = parser.parse_args(argv)
    if args.rows % args.members:
        parser.error(f"--rows {args.rows} is not divisible among --members {args.members}")
    device = torch.device(args.device)
    defaults = (depthwise_conv.BWD_PROGRAMS, depthwise_conv.TILE_ELEMENTS)
    commit, rows_out = git_commit(), []
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    for t in args.t:
        for c in args.c:
            g = torch.Generator().manual_seed(t * 1000 + c)
            act = torch.bfloat16 if device.type == "cuda" else torch.float32  # activations reach it in bf16
            x = torch.randn(args.rows, t, c, generator=g).to(device, act).requires_grad_()
            taps = torch.randn(args.members, c, args.kc, generator=g).to(device).requires_grad_()
            bias = torch.randn(args.members, c, generator=g).to(device).requires_grad_()
            dy = torch.randn(args.rows, t, c, generator=g).to(device)
            eager = median_ms(functools.partial(_step, x, taps, bias, dy, False), args.reps, device)
            cases = [("eager", None, None)] + [("fused", p, e) for p in args.programs for e in args.tiles]
            for impl, programs, tile in cases:
                if impl == "eager":
                    ms = eager
                else:
                    depthwise_conv.BWD_PROGRAMS, depthwise_conv.TILE_ELEMENTS = programs, tile
                    try:
                        ms = median_ms(functools.partial(_step, x, taps, bias, dy, True), args.reps, device)
                    finally:
                        depthwise_conv.BWD_PROGRAMS, depthwise_conv.TILE_ELEMENTS = defaults
                rows_out.append({
                    "rows": args.rows, "T": t, "C": c, "Kc": args.kc, "impl": impl, "bwd_programs": programs,
                    "tile_elements": tile, "default": int((programs, tile) == defaults), "ms": round(ms, 4),
                    "ratio_vs_eager": round(eager / ms, 3), "device": name, "torch": torch.__version__,
                    "commit": commit,
                })  # fmt: skip
                print(f"T {t} C {c} {impl:<5} programs {programs} tile {tile}: {ms:8.3f} ms "
                      f"({eager / ms:.2f}x eager)", flush=True)  # fmt: skip
    write_rows(args.out / f"conv_backward_{device.type}.csv", COLUMNS, rows_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
