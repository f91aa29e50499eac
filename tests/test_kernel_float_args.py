"""Every Triton kernel the training step can launch compiles for an H100 (sm_90) with its float
arguments (scales, eps) typed fp64, as torch.compile's launcher passes a Python float: a float
that reached the arithmetic as fp64 once turned a loop-carried fp32 sum into fp64 and stopped
Inductor's compile of the short-path forward on an H100 (bench/NOTES-training.md, 2026-12-06).
The kernels cast those arguments to fp32 first, so both types compile.

Runs in a subprocess (compiling needs no GPU, but the test session imports the kernels under
TRITON_INTERPRET=1, where they are not compilable); bench/kernel_static.py types the arguments."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNIPPET = """
import json, sys
sys.path.insert(0, "bench")
import kernel_static as ks
from synthetic.kernels.member_norm import _member_norm_fwd_kernel
from synthetic.kernels.short.kernels import short_bwd_dkv_kernel, short_bwd_dq_kernel, short_fwd_kernel

short = dict(F=16, D=64, FP=16, DP=64, BM=64, BN=64, PRECISION="ieee")
flags = dict(HAS_OWN=True, HAS_ENC=True, HAS_LENS=True)
bf16 = {name: "*bf16" for name in ("Y", "DY", "DQ", "DK", "DV", "X")}  # besides Q, K, V, KE, VE
kernels = {
    "short_fwd": (short_fwd_kernel, dict(short, **flags), bf16),
    "short_bwd_dq": (short_bwd_dq_kernel, dict(short, **flags), bf16),
    "short_bwd_dkv": (short_bwd_dkv_kernel, dict(short, CAUSAL=True, HAS_LENS=False), bf16),
    "member_norm_fwd": (_member_norm_fwd_kernel, dict(BLOCK_R=32, DP=64), dict(bf16, W="*fp32", B="*fp32")),
}
done = []
for name, (fn, const, types) in kernels.items():
    ks.compile_kernel(fn, const, "bf16", 90, "fp64", types, num_warps=4)
    done.append(name)
cfg = dict(BT=32, DB=64, num_warps=4, num_stages=2)
for name in ("state", "fwd", "bwd_dq", "bwd_dkv", "bwd_enc"):
    ks.compile_facts(name, 16, 64, "bf16", cfg, 90, float_type="fp64")
    done.append(name)
print(json.dumps(done))
"""


def test_the_training_kernels_compile_with_fp64_float_arguments() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    out = subprocess.run(
        [sys.executable, "-c", SNIPPET], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    done = json.loads(out.stdout.strip().splitlines()[-1])
    assert done == ["short_fwd", "short_bwd_dq", "short_bwd_dkv", "member_norm_fwd",
                    "state", "fwd", "bwd_dq", "bwd_dkv", "bwd_enc"]  # fmt: skip
