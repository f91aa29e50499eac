"""Static facts about the compiled Triton kernels, without a GPU: registers, spills, shared memory
and the instruction mix of the machine code, per kernel and block shape.

Triton compiles for an NVIDIA target without a device (``triton.compile`` with a ``GPUTarget``;
its wheel ships ``ptxas`` and ``cuobjdump``), so the resources that bound occupancy can be read on
any machine. Registers per thread x threads per program decide how many programs share an SM
(65,536 registers per SM on an H100): a program of 4 warps at 255 registers leaves room for two.
This is not a timing: `bench/prefill.py` on a GPU is. It tells which block shapes spill or starve
occupancy before device time is spent on them.

    READTWICE_EXPERIMENTAL=1 python bench/kernel_static.py [--arch 90] [--f 16] [--d 64] [--dtype bf16]
        [--kernels state,state_kt,fwd,fwd_t,bwd_dq,bwd_dkv,bwd_enc] [--out figures/data]

Each state-pass and forward variant is compiled for the autotune candidates that select it
(KT=1: state_kt; TS=1: fwd_t, the transposed-state forward).

Writes kernel_static_sm<arch>.csv with columns
kernel,f,d,dtype,BT,DB,num_warps,num_stages,regs,stack_bytes,shared_bytes,programs_per_sm,
hmma,hgmma,lds,sts,ldsm,bar,sass_lines,triton.
"""

from __future__ import annotations

import argparse
import csv
import inspect
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synthetic.kernels.engine.autotune import candidate_configs, state_pass_configs
from synthetic.kernels.engine.backward import based_bwd_dkv_kernel, based_bwd_dq_kernel, based_bwd_enc_kernel
from synthetic.kernels.engine.blocks import feature_widths
from synthetic.kernels.engine.forward import based_fwd_kernel
from synthetic.kernels.engine.state import based_state_kernel

COLUMNS = [
    "kernel",
    "f",
    "d",
    "dtype",
    "BT",
    "DB",
    "num_warps",
    "num_stages",
    "regs",
    "stack_bytes",
    "shared_bytes",
    "programs_per_sm",
    "hmma",
    "hgmma",
    "lds",
    "sts",
    "ldsm",
    "bar",
    "sass_lines",
    "triton",
]
# pointer arguments that hold the input dtype; every other pointer is fp32 or int32
INPUT_POINTERS = {"Q", "K", "V", "KE", "VE", "O", "G", "DV", "DVE"}
INT_POINTERS = {"PA", "PB", "PREFIX", "LEN", "LENS"}
FLOAT_SCALARS = {"scale1", "scale_d", "scale_w", "eps", "scale"}
INT_SCALARS = {"B", "T", "TE", "TK", "H", "SEG", "NSEG", "NSTART", "D", "C", "rows_per_member", "chunks",
               "n_tb", "items_per_chunk", "stride_xr", "stride_xt", "stride_dr", "stride_dt"}  # fmt: skip
REGS_PER_SM = 65536
SHARED_PER_SM = 228 * 1024
MAX_WARPS_PER_SM = 64


# the flags each kernel is compiled with (the causal prefix-linear-attention path)
def backward_configs(f: int, d: int) -> list[dict[str, int]]:
    return candidate_configs(f, d, for_backward=True)


KERNELS = {
    "state": (based_state_kernel, dict(HAS_LEN=True), state_pass_configs, lambda c: not c.get("KT")),
    "state_kt": (
        based_state_kernel,
        dict(HAS_LEN=True, KT=True),
        state_pass_configs,
        lambda c: bool(c.get("KT")),
    ),
    "fwd": (
        based_fwd_kernel,
        dict(HAS_START=True, CAUSAL=True),
        candidate_configs,
        lambda c: not c.get("TS"),
    ),
    "fwd_t": (
        based_fwd_kernel,
        dict(HAS_START=True, CAUSAL=True, TS=True),
        candidate_configs,
        lambda c: bool(c.get("TS")),
    ),
    "bwd_dq": (based_bwd_dq_kernel, dict(HAS_START=True, CAUSAL=True), backward_configs, None),
    "bwd_dkv": (
        based_bwd_dkv_kernel,
        dict(HAS_ENC=True, CAUSAL=True, STORE_DINIT=False, STORE_REV=False),
        backward_configs,
        None,
    ),
    "bwd_enc": (based_bwd_enc_kernel, {}, backward_configs, None),
}


def _signature(
    fn: Any,
    dtype: str,
    constexprs: dict[str, Any],
    float_type: str = "fp32",
    types: dict[str, str] | None = None,
    int_type: str = "i32",
) -> dict[str, str]:
    """Triton's signature of ``fn``: pointers, integers and floats by the names above (floats as
    ``float_type``: fp32 as Triton's own launcher passes a Python float, fp64 as torch.compile's
    may; integers as ``int_type``), the ``constexprs`` as such; ``types`` overrides any (another
    kernel's names)."""
    sig = {}
    for name in inspect.signature(fn.fn).parameters:
        if types and name in types:
            sig[name] = types[name]
        elif name in constexprs:
            sig[name] = "constexpr"
        elif name in INPUT_POINTERS:
            sig[name] = f"*{dtype}"
        elif name in INT_POINTERS:
            sig[name] = "*i32"
        elif name in FLOAT_SCALARS:
            sig[name] = float_type
        elif name in INT_SCALARS:
            sig[name] = int_type
        else:  # every other pointer: fp32 state, normaliser or partial-gradient buffers
            sig[name] = "*fp32"
    return sig


def _tool(name: str) -> str:
    return str(Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / name)


def _resource(name: str, usage: str) -> int:
    """The value of ``name`` (REG, STACK) in cuobjdump's resource usage."""
    found = re.search(rf"{name}:(\d+)", usage)
    if found is None:
        raise RuntimeError(f"cuobjdump --dump-resource-usage printed no {name}: {usage!r}")
    return int(found.group(1))


def compile_kernel(
    fn: Any,
    const: dict[str, Any],
    dtype: str,
    arch: int,
    float_type: str = "fp32",
    types: dict[str, str] | None = None,
    int_type: str = "i32",
    **options: int,
) -> Any:
    """``fn`` compiled for sm_``arch`` (no GPU needed) with ``const`` as its constexprs (the rest
    left at their defaults) and the other arguments typed by :func:`_signature`."""
    const = dict(const)
    for name, param in inspect.signature(fn.fn).parameters.items():  # constexprs left at their default
        if name not in const and param.default is not inspect.Parameter.empty:
            const[name] = param.default
    sig = _signature(fn, dtype, const, float_type, types, int_type)
    names = list(sig)
    src = ASTSource(fn=fn, signature=sig, constexprs={(names.index(k),): v for k, v in const.items()})
    return triton.compile(src, target=GPUTarget("cuda", arch, 32), options=options)


def compile_facts(
    kernel: str,
    f: int,
    d: int,
    dtype: str,
    cfg: dict[str, int],
    arch: int,
    float_type: str = "fp32",
    int_type: str = "i32",
) -> dict:
    fn, flags, _, _ = KERNELS[kernel]
    fp, w1, w2 = feature_widths(f)
    precision = "tf32" if dtype == "fp32" else "ieee"
    sel_precision = "tf32x3" if dtype == "fp32" else "ieee"
    const: dict[str, Any] = dict(F=f, FP=fp, W1=w1, W2=w2, D=d, DB=cfg["DB"], BT=cfg["BT"], **flags)
    const.update(PRECISION=precision, SEL_PRECISION=sel_precision)
    compiled = compile_kernel(
        fn,
        const,
        dtype,
        arch,
        float_type,
        None,
        int_type,
        num_warps=cfg["num_warps"],
        num_stages=cfg["num_stages"],
    )
    with tempfile.TemporaryDirectory() as tmp:
        cubin = Path(tmp) / "k.cubin"
        cubin.write_bytes(compiled.asm["cubin"])
        dump = [_tool("cuobjdump"), "", str(cubin)]
        usage, sass = (
            subprocess.run([*dump[:1], flag, *dump[2:]], capture_output=True, text=True, check=True).stdout
            for flag in ("--dump-resource-usage", "--dump-sass")
        )
    regs = _resource("REG", usage)
    stack = _resource("STACK", usage)
    shared = int(compiled.metadata.shared)
    ops = re.findall(r"^\s+/\*[0-9a-f]+\*/\s+(?:@!?U?P\w+\s+)?([A-Z0-9_]+)", sass, flags=re.M)
    count = {op: ops.count(op) for op in ("HMMA", "HGMMA", "LDS", "STS", "LDSM", "BAR")}
    threads = 32 * cfg["num_warps"]
    by_regs = REGS_PER_SM // (max(regs, 1) * threads)
    by_shared = SHARED_PER_SM // max(shared, 1)
    by_warps = MAX_WARPS_PER_SM // cfg["num_warps"]
    return dict(
        kernel=kernel,
        f=f,
        d=d,
        dtype=dtype,
        **{k: cfg[k] for k in ("BT", "DB", "num_warps", "num_stages")},
        regs=regs,
        stack_bytes=stack,
        shared_bytes=shared,
        programs_per_sm=min(by_regs, by_shared, by_warps),
        hmma=count["HMMA"],
        hgmma=count["HGMMA"],
        lds=count["LDS"],
        sts=count["STS"],
        ldsm=count["LDSM"],
        bar=count["BAR"],
        sass_lines=len(ops),
        triton=triton.__version__,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--arch", type=int, default=90, help="compute capability x 10 (90 = H100)")
    parser.add_argument("--f", type=int, default=16)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--dtype", default="bf16", choices=["bf16", "fp16", "fp32"])
    parser.add_argument("--kernels", default=",".join(KERNELS))
    parser.add_argument("--out", type=Path, default=Path("figures/data"))
    args = parser.parse_args(argv)
    kernels = [k for k in args.kernels.split(",") if k]
    unknown = set(kernels) - set(KERNELS)
    if unknown:
        parser.error(f"unknown kernels {sorted(unknown)}; known: {list(KERNELS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"kernel_static_sm{args.arch}.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for kernel in kernels:
            _, _, configs_of, selects = KERNELS[kernel]
            for cfg in configs_of(args.f, args.d):
                if selects is not None and not selects(cfg):  # each variant: its own candidates
                    continue
                row = compile_facts(kernel, args.f, args.d, args.dtype, cfg, args.arch)
                writer.writerow(row)
                fh.flush()
                print(
                    f"{kernel:9s} BT={row['BT']:3d} DB={row['DB']:3d} "
                    f"w={row['num_warps']} s={row['num_stages']} "
                    f"regs={row['regs']:3d} stack={row['stack_bytes']:4d} smem={row['shared_bytes']:6d} "
                    f"progs/SM={row['programs_per_sm']} HMMA={row['hmma']:4d} HGMMA={row['hgmma']:3d} "
                    f"LDS/STS/LDSM={row['lds']}/{row['sts']}/{row['ldsm']} BAR={row['bar']}",
                    flush=True,
                )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
