"""MemberLinear's products at the paper's shapes: one batched matmul a layer against the split
weight gradient (READTWICE_SPLIT_WGRAD: each member's rows cut into up to 16 groups).

    python bench/member_linear.py [--device cuda] [--d-model 36 128] [--f 4 24] [--members 8]
                                  [--rows 17536 35200] [--reps 50] [--out figures/data]

For each (d_model, f) pair (zipped), builds the causal Based paper model, stacks ``--members``
copies, and takes the distinct (in, out, bias) shapes of its MemberLinear layers. Each is timed
with ``--rows`` rows a member (128 examples of 137 tokens, the training segments' mean length,
and of 275, the longest) under bf16 autocast (fp16 on a CPU), from an fp32 x as a LayerNorm's
output is: the forward alone and the forward + backward (gradients of x, weight and bias), median
milliseconds over ``--reps`` (CUDA events; ``perf_counter`` on a CPU: a smoke test only), both
ways in the same process (:func:`synthetic.members.member_matmul`). Writes
``member_linear_<device>.csv`` and prints a table with the ratio one / split (> 1: splitting is
faster).

Measured at c1eeaac (H100, figures/data/member_linear_triton_h100.csv, columns ``baddbmm_ms`` and
``triton_ms``): Triton kernels for the three products (since removed) against baddbmm, 0.22-1.20x.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.prefill import git_commit
from bench.timing import median_ms, write_rows
from bench.train_throughput import VARIANTS
from synthetic.config import ModelConfig
from synthetic.members import MemberLinear, member_matmul, stack_models, wgrad_groups
from synthetic.model import build_model

COLUMNS = [
    "d_model", "feature_dim", "members", "rows", "in", "out", "bias", "layers", "pass", "groups", "one_ms",
    "split_ms", "ratio", "device", "torch", "commit",
]  # fmt: skip


def linear_shapes(d_model: int, f: int, members: int) -> dict[tuple[int, int, bool], int]:
    """(in, out, has bias) -> how many MemberLinear layers of that shape the stacked causal Based
    paper model (4 layers, vocabulary 2048) has."""
    mixer, _ = VARIANTS["Based (causal)"]
    cfg = ModelConfig.model_validate(
        {
            "d_model": d_model,
            "n_layers": 4,
            "init": "torch",
            "pattern": ["base_conv", {**mixer, "feature_dim": f}],
        }
    )
    stacked = stack_models([build_model(cfg, 2048, seed=s) for s in range(members)])
    shapes: dict[tuple[int, int, bool], int] = {}
    for module in stacked.modules():
        if isinstance(module, MemberLinear):
            _, out, inp = module.weight.shape
            key = (inp, out, module.bias is not None)
            shapes[key] = shapes.get(key, 0) + 1
    return shapes


def time_shape(
    members: int, rows: int, inp: int, out: int, bias: bool, reps: int, device: torch.device
) -> dict[str, tuple[float, float]]:
    """pass ("forward", "forward+backward") -> (one matmul ms, split ms) for one shape."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(members, rows, inp, generator=g).to(device).requires_grad_()
    w = (torch.randn(members, out, inp, generator=g) / inp**0.5).to(device).requires_grad_()
    b = torch.zeros(members, out).to(device).requires_grad_() if bias else None
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float16
    dy = torch.randn(members, rows, out, generator=g).to(device, dtype)
    params = [x, w] + ([b] if b is not None else [])
    groups = wgrad_groups(rows)

    def forward(groups: int) -> torch.Tensor:
        with torch.autocast(device.type, dtype=dtype):
            return member_matmul(x, w, b, groups=groups)

    result = {}
    for name, backward in (("forward", False), ("forward+backward", True)):
        pair = []
        for n in (1, groups):
            if backward:

                def step(n: int = n) -> object:
                    return torch.autograd.grad(forward(n), params, dy)

                pair.append(median_ms(step, reps, device))
            else:
                with torch.no_grad():
                    pair.append(median_ms(functools.partial(forward, n), reps, device))
        result[name] = (pair[0], pair[1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--d-model", type=int, nargs="+", default=[36, 128])
    parser.add_argument("--f", type=int, nargs="+", default=[4, 24])
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--rows", type=int, nargs="+", default=[128 * 137, 128 * 275])
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--out", type=Path, default=Path("figures/data"))
    args = parser.parse_args(argv)
    if len(args.d_model) != len(args.f):
        parser.error(f"--d-model and --f pair up: got {len(args.d_model)} and {len(args.f)} values")
    device = torch.device(args.device)
    commit = git_commit()
    rows_out = []
    for d_model, f in zip(args.d_model, args.f, strict=True):
        for (inp, out, bias), layers in sorted(linear_shapes(d_model, f, args.members).items()):
            for rows in args.rows:
                groups = wgrad_groups(rows)
                for name, (base, ours) in time_shape(
                    args.members, rows, inp, out, bias, args.reps, device
                ).items():
                    rows_out.append({
                        "d_model": d_model, "feature_dim": f, "members": args.members, "rows": rows,
                        "in": inp, "out": out, "bias": int(bias), "layers": layers, "pass": name,
                        "groups": groups, "one_ms": round(base, 4), "split_ms": round(ours, 4),
                        "ratio": round(base / ours, 3),
                        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                        "torch": torch.__version__, "commit": commit,
                    })  # fmt: skip
                    r = rows_out[-1]
                    print(
                        f"d_model {d_model} f {f}: [{args.members}, {rows}, {inp}] -> {out}"
                        f"{' +b' if bias else ''} x{layers} {name:<16} one {base:8.3f} ms  "
                        f"split in {groups} {ours:8.3f} ms  ratio {r['ratio']:.2f}",
                        flush=True,
                    )
    write_rows(args.out / f"member_linear_{device.type}.csv", COLUMNS, rows_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
