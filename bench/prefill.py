"""Prefill (and training-step) benchmark of sequence-mixing ops on one GPU: the paper's Table 5 shape.

    python bench/prefill.py --out figures/data [--sweep N,B] [--modes fwd,fwdbwd] [--quick]

Shape: bf16, H=16, Based feature dim f=16, value head dim dv=64. Sweeps N in {2k..32k} at B=16 and
B in {1..64} at N=16k. Providers (all in one run, on one GPU):
  sdpa_flash, sdpa_cudnn    torch scaled_dot_product_attention, causal, head dim 64
  fla_fused_chunk_based, fla_parallel_based   flash-linear-attention (when installed)
  based                     our causal Based (Triton)
  pla                       our prefix linear attention, encoder length N/2 (JRT-RNN setting)
  jrt_prompt                our causal Based on 2N tokens (JRT-Prompt)
  reference                 our torch reference (chunked), where memory allows
Times are medians of triton.testing.do_bench (ms). Writes prefill_<gpu>.csv with columns
provider,mode,B,N,H,f,dv,dtype,ms,device,torch,triton,commit and prints same-run ratios.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synthetic.kernels import based_linear_attention, prefix_linear_attention

COLUMNS = ["provider", "mode", "B", "N", "H", "f", "dv", "dtype", "ms", "device", "torch", "triton", "commit"]
H, F, DV = 16, 16, 64
DTYPE = torch.bfloat16


def git_commit() -> str:
    """The commit the benchmark measures (:func:`synthetic.record.source_commit`), or "unknown"."""
    from synthetic.record import source_commit

    return source_commit() or "unknown"


def _randn(*shape: int, scale: float = 1.0, grad: bool = False) -> torch.Tensor:
    x = (torch.randn(*shape, device="cuda", dtype=torch.float32) * scale).to(DTYPE)
    return x.requires_grad_(grad)


def make_provider(name: str, b: int, n: int, grad: bool) -> Callable[[], torch.Tensor] | None:
    """A closure running one forward of ``name`` on fresh random inputs; None if unavailable."""
    if name in ("sdpa_flash", "sdpa_cudnn"):
        from torch.nn.attention import SDPBackend, sdpa_kernel

        backend = SDPBackend.FLASH_ATTENTION if name == "sdpa_flash" else SDPBackend.CUDNN_ATTENTION
        q, k, v = (_randn(b, H, n, DV, grad=grad) for _ in range(3))

        def run() -> torch.Tensor:
            with sdpa_kernel(backend):
                return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)

        return run
    # linear-attention providers: q, k [B, N, H, f] scaled like the paper's profiler (randn / f)
    if name.startswith("fla_"):
        try:
            from fla.ops.based import fused_chunk_based, parallel_based
        except ImportError:
            return None
        op = fused_chunk_based if name == "fla_fused_chunk_based" else parallel_based
        q, k = _randn(b, n, H, F, scale=1 / F, grad=grad), _randn(b, n, H, F, scale=1 / F, grad=grad)
        v = _randn(b, n, H, DV, grad=grad)
        return lambda: op(q, k, v)
    length = 2 * n if name == "jrt_prompt" else n
    q, k = _randn(b, length, H, F, scale=1 / F, grad=grad), _randn(b, length, H, F, scale=1 / F, grad=grad)
    v = _randn(b, length, H, DV, grad=grad)
    if name in ("based", "jrt_prompt"):
        return lambda: based_linear_attention(q, k, v, impl="triton")[0]
    if name == "reference":
        return lambda: based_linear_attention(q, k, v, impl="reference")[0]
    if name == "pla":
        ke, ve = _randn(b, n // 2, H, F, scale=1 / F, grad=grad), _randn(b, n // 2, H, DV, grad=grad)
        prefix = torch.full((b,), n // 2, device="cuda", dtype=torch.int32)
        return lambda: prefix_linear_attention(q, k, v, ke, ve, prefix, impl="triton")[0]
    raise ValueError(f"unknown provider {name!r}")


def time_ms(name: str, b: int, n: int, mode: str) -> float:
    import triton

    run = make_provider(name, b, n, grad=mode == "fwdbwd")
    if run is None:
        return math.nan
    if mode == "fwd":
        with torch.no_grad():
            fn = run
            fn()
            return triton.testing.do_bench(fn, warmup=25, rep=100, return_mode="median")
    y = run()
    dy = torch.randn_like(y)

    def step() -> None:
        run().backward(dy)

    step()
    return triton.testing.do_bench(step, warmup=25, rep=100, return_mode="median", grad_to_none=None)


def reference_fits(b: int, n: int, mode: str) -> bool:
    # the chunked reference materialises [B, T, H, 273] features and [B, H, 273, 64] per chunk
    tokens = b * n * (3 if mode == "fwdbwd" else 1)
    return tokens <= 16 * 8192


PROVIDERS = [
    "sdpa_flash",
    "sdpa_cudnn",
    "fla_fused_chunk_based",
    "fla_parallel_based",
    "based",
    "pla",
    "jrt_prompt",
    "reference",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("figures/data"))
    parser.add_argument("--sweep", default="N,B", help="N (B=16, N=2k..32k) and/or B (N=16k, B=1..64)")
    parser.add_argument("--modes", default="fwd,fwdbwd")
    parser.add_argument("--providers", default=",".join(PROVIDERS))
    parser.add_argument("--quick", action="store_true", help="only N in {2k, 32k} at B=16")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench/prefill.py needs a CUDA GPU", file=sys.stderr)
        return 2
    import triton

    device = torch.cuda.get_device_name()
    tag = device.replace("NVIDIA ", "").split()[0].lower()
    points: list[tuple[int, int]] = []
    if "N" in args.sweep:
        ns = [2048, 32768] if args.quick else [2048, 4096, 8192, 16384, 32768]
        points += [(16, n) for n in ns]
    if "B" in args.sweep and not args.quick:
        points += [(b, 16384) for b in (1, 2, 4, 8, 16, 32, 64) if (b, 16384) not in points]
    providers = [p for p in args.providers.split(",") if p]
    unknown = set(providers) - set(PROVIDERS)
    if unknown:
        parser.error(f"unknown providers {sorted(unknown)}; known: {PROVIDERS}")
    meta = dict(
        H=H,
        f=F,
        dv=DV,
        dtype="bf16",
        device=device,
        torch=torch.__version__,
        triton=triton.__version__,
        commit=git_commit(),
    )
    rows = []
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"prefill_{tag}.csv"
    fh = path.open("w", newline="")
    writer = csv.DictWriter(fh, fieldnames=COLUMNS)
    writer.writeheader()
    for mode in args.modes.split(","):
        for b, n in points:
            for name in providers:
                if name == "reference" and not reference_fits(b, n, mode):
                    continue
                try:
                    ms = time_ms(name, b, n, mode)
                except torch.OutOfMemoryError:
                    ms = math.nan
                finally:
                    torch.cuda.empty_cache()
                rows.append(dict(provider=name, mode=mode, B=b, N=n, ms=ms, **meta))
                writer.writerow(rows[-1])
                fh.flush()  # a run cut short keeps what it measured
                print(f"{mode:7s} B={b:3d} N={n:6d} {name:22s} {ms:10.3f} ms", flush=True)
    fh.close()
    print(f"\nwrote {path}")
    from synthetic.kernels.engine import autotune

    for key, cfg in autotune._CACHE.items():
        print("autotuned", key, cfg)
    # same-run ratios vs SDPA flash and fla fused_chunk_based
    print(f"\n{'mode':7s} {'B':>3s} {'N':>6s} {'provider':22s} {'ms':>9s} {'xSDPA':>7s} {'xfla':>7s}")
    for r in rows:
        same = {
            x["provider"]: x["ms"] for x in rows if (x["mode"], x["B"], x["N"]) == (r["mode"], r["B"], r["N"])
        }
        sd, fl = same.get("sdpa_flash", math.nan), same.get("fla_fused_chunk_based", math.nan)
        print(
            f"{r['mode']:7s} {r['B']:3d} {r['N']:6d} {r['provider']:22s} {r['ms']:9.3f} "
            f"{sd / r['ms']:7.2f} {fl / r['ms']:7.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
