"""Autotuning of the engine's kernels: dot precisions, candidate block shapes, sequence segments,
and the benchmark-once cache that picks among them.

Under ``TRITON_INTERPRET=1`` (CPU tests) one fixed configuration is used and fp32 dots are exact
("ieee"); on a GPU the candidates below are autotuned per shape class and fp32 dots use tf32.
A configuration is a dict: BT (chunk length), DB (value block), num_warps, num_stages, and
optionally TS=1 (forward with the state transposed), KT=1 (state pass with transposed key
features), SEGS (sequence segments of the causal walk).

Environment: READTWICE_AUTOTUNE=0 (first candidate, no benchmarking), READTWICE_AUTOTUNE_LOG=1
(print every candidate's time), READTWICE_MAX_CANDIDATES=n, READTWICE_FP32_DOT, READTWICE_EXPERIMENTAL.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import torch
import triton

from synthetic.envvars import int_from_env


def interpreting() -> bool:
    """True when Triton runs in its CPU interpreter."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def fp32_precision() -> str:
    """``input_precision`` for fp32 dots: exact in the interpreter, tf32 on the GPU (override with
    READTWICE_FP32_DOT=ieee|tf32|tf32x3)."""
    forced = os.environ.get("READTWICE_FP32_DOT")
    if forced:
        if forced not in ("ieee", "tf32", "tf32x3"):
            raise ValueError(f"READTWICE_FP32_DOT={forced!r}; allowed: ieee, tf32, tf32x3")
        return forced
    return "ieee" if interpreting() else "tf32"


def dot_precision(dtype: torch.dtype) -> str:
    """``input_precision`` of the main dots for inputs of ``dtype``."""
    return fp32_precision() if dtype == torch.float32 else "ieee"


def selection_precision(dtype: torch.dtype) -> str:
    """``input_precision`` of the one-hot selection dots: exact gathers also for fp32 inputs
    (tf32x3 on the GPU, ieee in the interpreter)."""
    if dtype != torch.float32:
        return "ieee"
    return "ieee" if interpreting() else "tf32x3"


def _truncated(configs: list[dict[str, int]]) -> list[dict[str, int]]:
    """The first READTWICE_MAX_CANDIDATES candidates (all when unset): fewer compiles when device
    time is short; the lists are ordered by how often each shape won on an H100."""
    limit = int_from_env(
        "READTWICE_MAX_CANDIDATES",
        minimum=1,
        meaning="block shapes the engine's autotuner tries (unset: all)",
    )
    return configs if limit is None else configs[:limit]


def register_budget_ok(w: int, db: int, bt: int) -> bool:
    """Keep the per-program register tiles (state [W, DB] and features [BT, W]) bounded."""
    return w * db <= 16384 and bt * w <= 16384


def candidate_configs(f: int, d: int, for_backward: bool = False) -> list[dict[str, int]]:
    """Block shapes worth trying for feature dim ``f`` and value head dim ``d``; the first is the
    default when autotuning is off. W = W1 + W2 is the per-token feature width of the state."""
    from synthetic.kernels.engine.blocks import feature_widths, next_pow2

    _, w1, w2 = feature_widths(f)
    w = w1 + w2
    dp = next_pow2(d)
    if interpreting():
        db = dp
        while db > 16 and w * db > 16384:
            db //= 2
        return [dict(BT=32 if w <= 256 else 16, DB=db, num_warps=4, num_stages=1)]
    # measured on an H100 (bf16, f=16, dv=64): BT=32, DB=64, 4 warps won among one-stage shapes;
    # the rest explore software pipelining and neighbours without compiling every combination
    shapes = [
        (32, 64, 4, 1),
        (32, 64, 4, 2),
        (32, 64, 4, 3),
        (32, 64, 8, 2),
        (64, 64, 8, 2),
        (64, 64, 4, 2),
        (32, 32, 4, 2),
        (16, 64, 4, 2),
        (16, 16, 4, 2),
        (32, 16, 4, 1),
    ]
    out = []
    for bt, db, warps, stages in shapes:
        if db > max(dp, 16) or not register_budget_ok(w, db, bt):
            continue
        out.append(dict(BT=bt, DB=db, num_warps=warps, num_stages=stages))
    if not out:
        out.append(dict(BT=16, DB=16, num_warps=4, num_stages=1))
    if not for_backward:
        # the forward kernel with the state held transposed (forward.based_fwd_kernel with TS=1) won
        # on an H200 at every measured shape with BT = 32 (3.66 ms at T = 32k, B = 16, against
        # 4.84 for the row-state kernel); 8 warps and register caps (maxnreg 168) were slower.
        # BT = 16 and 64 are left out: both stopped with an illegal memory access on an H200
        # (Triton 3.6) although every access of the kernel is in bounds for them (hand check and
        # the guard-region test in tests/synthetic/kernels); bench/NOTES-kernels.md has the details
        out = _transposed_state(out, [(32, 64, 4, 3), (32, 64, 4, 2)])
    return _truncated(out)


def _transposed_state(
    configs: list[dict[str, int]], shapes: list[tuple[int, int, int, int]]
) -> list[dict[str, int]]:
    """``configs`` preceded by TS=1 (transposed-state kernel) variants of ``shapes``, in that
    order, where ``configs`` holds them."""
    have = {(c["BT"], c["DB"], c["num_warps"], c["num_stages"]) for c in configs}
    ts = [
        dict(BT=bt, DB=db, num_warps=warps, num_stages=stages, TS=1)
        for bt, db, warps, stages in shapes
        if (bt, db, warps, stages) in have
    ]
    return ts + configs


def state_pass_configs(f: int, d: int) -> list[dict[str, int]]:
    """Block shapes for the state pass (state.py): no outputs, so larger chunks pay off."""
    if interpreting():
        return candidate_configs(f, d)
    from synthetic.kernels.engine.blocks import feature_widths, next_pow2

    _, w1, w2 = feature_widths(f)
    w = w1 + w2
    dp = next_pow2(d)
    shapes = [(64, 64, 4, 2), (32, 64, 4, 2), (64, 64, 8, 2), (128, 64, 8, 2), (64, 32, 4, 2), (32, 16, 4, 2)]
    out = [
        dict(BT=bt, DB=db, num_warps=warps, num_stages=stages)
        for bt, db, warps, stages in shapes
        if db <= max(dp, 16) and register_budget_ok(w, db, bt)
    ]
    # key features built transposed (state.based_state_kernel with KT=1): fastest on an H200
    # (encoder Te = T/2 = 16k, B = 16: 0.73 ms against 1.10 for the plain pass)
    kt = [(64, 64, 4, 3), (64, 64, 4, 2), (128, 64, 8, 2), (32, 64, 4, 2)]
    out = [
        dict(BT=bt, DB=db, num_warps=warps, num_stages=stages, KT=1)
        for bt, db, warps, stages in kt
        if db <= max(dp, 16) and w * db <= 16384
    ] + out
    return _truncated(out) or [dict(BT=16, DB=16, num_warps=4, num_stages=1)]


def compile_options(cfg: dict[str, int]) -> dict[str, int]:
    """The launch's compile options (num_warps, num_stages) of a candidate."""
    return dict(num_warps=cfg["num_warps"], num_stages=cfg["num_stages"])


def experimental() -> bool:
    """READTWICE_EXPERIMENTAL=1 turns on the parallel encoder-gradient kernel
    (backward.based_bwd_enc_kernel) in place of the loop at the end of the reverse walk. It passes
    the interpreter tests and (f = 8) a GPU test; with the transposed-state forward it makes no
    difference to the prefix-linear-attention training step (2.28 vs 2.27 ms at T = 2k, 33.5 vs
    33.6 ms at 32k; B = 16, H200), so it is off by default."""
    value = os.environ.get("READTWICE_EXPERIMENTAL", "0")
    if value not in ("0", "1", ""):
        raise ValueError(f"READTWICE_EXPERIMENTAL={value!r}; allowed: 0, 1")
    return value == "1"


def segment_align() -> int:
    """Decoder segments are a multiple of this many tokens (and of the chunk length BT, which the
    forward and dq kernels need: they mask a chunk at T, not at the end of its segment). Every
    GPU candidate's BT divides it."""
    return 32 if interpreting() else 128


def target_programs(device: torch.device) -> int:
    """How many programs the state pass aims for (enough to hide latency on every SM)."""
    if interpreting() or device.type != "cuda":
        return 8
    return 8 * torch.cuda.get_device_properties(device).multi_processor_count


def decoder_segments(n_tokens: int, programs: int, device: torch.device) -> int:
    """Segments worth trying for a causal walk of ``n_tokens`` with ``programs`` (batch x head)
    programs per segment: enough for two programs per SM, each segment >= 512 tokens; 1 = no split.
    (In the interpreter 1: the tests force segmented configs explicitly.)"""
    if interpreting() or device.type != "cuda":
        return 1
    sms = torch.cuda.get_device_properties(device).multi_processor_count
    want = -(-2 * sms // max(programs, 1))
    return max(1, min(want, n_tokens // 512))


def with_segments(configs: list[dict[str, int]], segments: int) -> list[dict[str, int]]:
    """The candidates, with ``segments``-way sequence-parallel variants first when segments > 1
    (used as is when autotuning is off)."""
    if segments <= 1:
        return configs
    return [dict(c, SEGS=segments) for c in configs] + configs


_FORCED: list[dict[str, int]] = []


@contextlib.contextmanager
def force_config(cfg: dict[str, int]) -> Iterator[None]:
    """Use ``cfg`` for every launch inside the block (tests run each candidate this way)."""
    _FORCED.append(cfg)
    try:
        yield
    finally:
        _FORCED.pop()


def autotune_enabled() -> bool:
    """Autotune on the GPU unless READTWICE_AUTOTUNE=0 (then the first candidate is used)."""
    return not interpreting() and os.environ.get("READTWICE_AUTOTUNE", "1") != "0"


_CACHE: dict[tuple, dict[str, int]] = {}


def pick_config(
    key: tuple, candidates: list[dict[str, int]], run: Callable[[dict[str, int]], Any]
) -> dict[str, int]:
    """Return the fastest of ``candidates`` for ``key`` (benchmarked once, then cached;
    READTWICE_AUTOTUNE_LOG=1 prints every candidate's median time).

    ``run(cfg)`` launches the kernel with that config; failures (e.g. out of shared memory) drop
    the candidate.
    """
    if _FORCED:
        return _FORCED[-1]
    if key in _CACHE:
        return _CACHE[key]
    if len(candidates) == 1 or not autotune_enabled():
        _CACHE[key] = candidates[0]
        return candidates[0]
    best, best_ms, last_error = None, float("inf"), None
    for cfg in candidates:
        try:
            ms = triton.testing.do_bench(lambda cfg=cfg: run(cfg), warmup=5, rep=20, return_mode="median")
        except triton.runtime.errors.OutOfResources as err:  # does not fit: not a candidate
            last_error = err
            continue
        if os.environ.get("READTWICE_AUTOTUNE_LOG") == "1":
            print(f"autotune {key} {cfg}: {ms:.4f} ms", flush=True)
        if ms < best_ms:
            best, best_ms = cfg, ms
    if best is None:
        raise RuntimeError(f"no kernel configuration fits for {key}") from last_error
    _CACHE[key] = best
    return best
