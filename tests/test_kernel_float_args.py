"""Every Triton kernel the training step can launch compiles for an H100 (sm_90) however a
launcher types its scalar arguments: floats (scales, eps) as fp64 and integers as i32 or i64, as
torch.compile's launcher may pass a Python float or int. A float that reached the arithmetic as
fp64 once turned a loop-carried fp32 sum into fp64 and stopped Inductor's compile of the short-path
forward on an H100 (bench/NOTES-training.md, 2026-12-06); an i64 length made a helper return two
integer types. The kernels cast such arguments first, so every typing compiles.

Runs in a subprocess (compiling needs no GPU, but the test session imports the kernels under
TRITON_INTERPRET=1, where they are not compilable); bench/kernel_static.py types the arguments."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SNIPPET = """
import json, sys
sys.path.insert(0, "bench")
import triton.language as tl
import kernel_static as ks
from synthetic.kernels.depthwise_conv import _conv_bwd_kernel, _conv_fwd_kernel
from synthetic.kernels.member_norm import _member_norm_bwd_kernel, _member_norm_fwd_kernel
from synthetic.kernels.short.kernels import short_bwd_dkv_kernel, short_bwd_dq_kernel, short_fwd_kernel

int_type = sys.argv[1]
short = dict(F=16, D=64, FP=16, DP=64, BM=64, BN=64, PRECISION="ieee")
flags = dict(HAS_OWN=True, HAS_ENC=True, HAS_LENS=True)
bf16 = {name: "*bf16" for name in ("Y", "DY", "DQ", "DK", "DV", "X", "DX")}  # besides Q, K, V, KE, VE
conv = dict(KC=4, BLOCK_T=64, BLOCK_C=64, ACC=tl.float32)
kernels = {
    "short_fwd": (short_fwd_kernel, dict(short, **flags), bf16),
    "short_fwd_no_lens": (short_fwd_kernel, dict(short, **dict(flags, HAS_LENS=False)), bf16),
    "short_bwd_dq": (short_bwd_dq_kernel, dict(short, **flags), bf16),
    "short_bwd_dkv": (short_bwd_dkv_kernel, dict(short, CAUSAL=False, HAS_LENS=True), bf16),
    "member_norm_fwd": (_member_norm_fwd_kernel, dict(BLOCK_R=32, DP=64), dict(bf16, W="*fp32", B="*fp32")),
    "member_norm_bwd": (_member_norm_bwd_kernel, dict(BLOCK_R=32, DP=64), dict(bf16, W="*fp32")),
    "conv_fwd": (_conv_fwd_kernel, conv, dict(bf16, TAPS="*fp32", BIAS="*fp32")),
    "conv_bwd": (_conv_bwd_kernel, dict(conv, KCP=4), dict(bf16, TAPS="*fp32")),
}
done = []
for name, (fn, const, types) in kernels.items():
    ks.compile_kernel(fn, const, "bf16", 90, "fp64", types, int_type, num_warps=4)
    done.append(name)
cfg = dict(BT=32, DB=64, num_warps=4, num_stages=2)
for name in ("state", "fwd", "bwd_dq", "bwd_dkv", "bwd_enc"):
    ks.compile_facts(name, 16, 64, "bf16", cfg, 90, float_type="fp64", int_type=int_type)
    done.append(name)
print(json.dumps(done))
"""


@pytest.mark.parametrize("int_type", ["i32", "i64"])
def test_the_training_kernels_compile_whatever_the_scalar_types(int_type: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    out = subprocess.run(
        [sys.executable, "-c", SNIPPET, int_type],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    done = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(done) == 13
