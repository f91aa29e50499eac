"""bench/kernel_static.py: compiling the Triton kernels for an H100 (sm_90) needs no GPU, and the
column-blocked state pass really holds fewer registers than the plain one (the reason it exists).

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
cfg = dict(BT=64, DB=64, num_warps=4, num_stages=2)
print(json.dumps([ks.compile_facts("state", 16, 64, "bf16", cfg, 90),
                  ks.compile_facts("state_blocked", 16, 64, "bf16", dict(cfg, WB=32), 90)]))
"""


def test_blocked_state_pass_needs_fewer_registers() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    out = subprocess.run(
        [sys.executable, "-c", SNIPPET], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    plain, blocked = json.loads(out.stdout.strip().splitlines()[-1])
    for facts in (plain, blocked):
        assert 0 < facts["regs"] <= 255
        assert facts["hmma"] + facts["hgmma"] > 0  # the dots run on the tensor cores
    assert blocked["regs"] < plain["regs"]
    assert blocked["stack_bytes"] == 0  # no spills
    assert blocked["programs_per_sm"] > plain["programs_per_sm"]
