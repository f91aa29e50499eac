"""bench/kernel_static.py: compiling the Triton kernels for an H100 (sm_90) needs no GPU, and the
transposed-state forward really is what it was built to be: with the value block on the M side
of its big dots, Hopper's warpgroup MMA (HGMMA) takes more of them than in the row-state forward,
and it spills less.

Runs in a subprocess: the tests import the kernels under TRITON_INTERPRET=1, where they are not
compilable."""

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
cfg = dict(BT=32, DB=64, num_warps=4, num_stages=2)
print(json.dumps([ks.compile_facts("fwd", 16, 64, "bf16", cfg, 90),
                  ks.compile_facts("fwd_t", 16, 64, "bf16", dict(cfg, TS=1), 90)]))
"""


def test_transposed_state_forward_uses_warpgroup_mma() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    out = subprocess.run(
        [sys.executable, "-c", SNIPPET], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    rows, transposed = json.loads(out.stdout.strip().splitlines()[-1])
    for facts in (rows, transposed):
        assert 0 < facts["regs"] <= 255
        assert facts["hmma"] + facts["hgmma"] > 0  # the dots run on the tensor cores
    assert transposed["hgmma"] > rows["hgmma"]
    assert transposed["stack_bytes"] < rows["stack_bytes"]
