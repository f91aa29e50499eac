"""Triton kernels vs the fp64 torch reference: outputs, final states and every gradient.

On a CPU machine these run in Triton's interpreter (TRITON_INTERPRET=1, set in tests/conftest.py)
in fp32 with exact dots, on tiny shapes whose lengths are not multiples of the chunk. On a GPU
(marker `gpu`) they run compiled in fp32 (tf32 dots), fp16 and bf16.
"""

from __future__ import annotations

import os
import re
import types
from collections.abc import Sequence

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from synthetic.kernels import LinearAttentionState, based_linear_attention, prefix_linear_attention
from synthetic.kernels.based.reference import final_state

from .helpers import nan_poisoned_allocations, rel_err, run_with_grads

INTERPRETED = os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")
HAS_CUDA = torch.cuda.is_available()
pytestmark = pytest.mark.skipif(
    not (INTERPRETED or HAS_CUDA), reason="Triton needs a GPU or TRITON_INTERPRET=1"
)
DEVICE = "cuda" if HAS_CUDA else "cpu"
# relative-error criteria per dtype (||got - ref|| / ||ref|| against fp64)
TOL = {torch.float32: 1e-5 if INTERPRETED else 5e-3, torch.float16: 1e-2, torch.bfloat16: 3e-2}
# ... or an error this small in RMS: a gradient that is zero up to eps (e.g. dq at T=1, where
# y_0 = v_0 whatever q is) has no meaningful relative error, only rounding noise. On the GPU fp32
# dots run in tf32, whose 10-bit mantissa is fp16's, so fp32 gets fp16's noise floor there (a
# GPU run measured RMS 5e-3 for that exactly-zero dq: cancellation of O(1) terms at tf32 precision)
ATOL = {torch.float32: 1e-6 if INTERPRETED else 1e-2, torch.float16: 1e-2, torch.bfloat16: 2e-2}


def _inputs(seed: int, shapes: Sequence[tuple[int, ...]], dtype: torch.dtype) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*s, generator=g, dtype=torch.float64).to(DEVICE, dtype) for s in shapes]


def _check(name: str, got, ref, dtype: torch.dtype, f: int = 16) -> None:
    """Relative error below TOL, or RMS error below ATOL scaled by the number of feature terms
    E = 1 + f + f^2 against f = 16's 273 (the rounding noise of a cancelling sum grows with the
    terms it sums: at T = 1 non-causal, dk is exactly 0 and f = 24 sums 601 terms)."""
    err = rel_err(got, ref)
    rms_err = (got.double() - ref.double()).pow(2).mean().sqrt().item() if got.numel() else 0.0
    atol = ATOL[dtype] * max(1.0, (1 + f + f * f) / 273)
    assert err < TOL[dtype] or rms_err <= atol, (
        f"{name}: relative error {err:.2e} >= {TOL[dtype]:.0e} and RMS error {rms_err:.2e} > {atol:.1e} "
        f"({dtype}, f={f})"
    )


def check_based(b, t, h, f, d, causal, with_init, dtype=torch.float32, seed=0) -> None:
    q, k, v, dy = _inputs(seed, [(b, t, h, f), (b, t, h, f), (b, t, h, d), (b, t, h, d)], dtype)
    extra = []
    if with_init:
        # a realistic initial state: the state after a random 9-token prefix (a random tensor
        # could make phi(q) . z vanish and the problem ill-conditioned)
        k0, v0 = _inputs(seed + 1, [(b, 9, h, f), (b, 9, h, d)], torch.float64)
        extra = [x.float() for x in final_state(k0, v0)]

    def call(impl):
        def fn(q, k, v, *init):
            return based_linear_attention(
                q, k, v, causal=causal, impl=impl, initial_state=LinearAttentionState(*init) if init else None
            )

        return fn

    with nan_poisoned_allocations():
        y, state, grads = run_with_grads(call("triton"), [q, k, v, *extra], dy)
    y_r, state_r, grads_r = run_with_grads(call("reference"), [x.double() for x in [q, k, v, *extra]], dy)
    _check("y", y, y_r, dtype)
    _check("kv state", state[0], state_r[0], dtype)
    _check("z state", state[1], state_r[1], dtype)
    for name, g, g_r in zip(["dq", "dk", "dv", "d kv0", "d z0"], grads, grads_r, strict=False):
        _check(name, g, g_r, dtype, f)


def check_pla(b, t, te, h, f, d, prefix, dtype=torch.float32, seed=0) -> None:
    shapes = [(b, t, h, f), (b, t, h, f), (b, t, h, d), (b, te, h, f), (b, te, h, d), (b, t, h, d)]
    q, k, v, ke, ve, dy = _inputs(seed, shapes, dtype)
    prefix_len = torch.tensor(prefix, device=DEVICE)

    def call(impl):
        return lambda q, k, v, ke, ve: prefix_linear_attention(q, k, v, ke, ve, prefix_len, impl=impl)

    with nan_poisoned_allocations():
        y, state, grads = run_with_grads(call("triton"), [q, k, v, ke, ve], dy)
    y_r, state_r, grads_r = run_with_grads(call("reference"), [x.double() for x in [q, k, v, ke, ve]], dy)
    _check("y", y, y_r, dtype)
    _check("kv state", state[0], state_r[0], dtype)
    _check("z state", state[1], state_r[1], dtype)
    for name, g, g_r in zip(["dq", "dk", "dv", "dk_enc", "dv_enc"], grads, grads_r, strict=True):
        if g_r.abs().max() == 0:  # e.g. every prefix_len is 0: the encoder gets no gradient
            assert g.abs().max() == 0, f"{name} should be exactly zero"
        else:
            _check(name, g, g_r, dtype, f)


# T not a multiple of the chunk; F in the SD sweep's feature dims; non-power-of-two head dims.
BASED_CASES = [
    (1, 1, 1, 4, 5, True, False),
    (2, 17, 2, 8, 18, True, True),
    (1, 63, 1, 16, 24, True, False),
    (1, 100, 2, 16, 32, False, False),
    (1, 257, 1, 4, 16, True, True),
    (1, 40, 1, 24, 20, True, False),
    (2, 33, 1, 24, 9, False, False),
    (1, 37, 1, 16, 128, True, True),  # the largest head dim: two D-blocks in the interpreter
]


@pytest.mark.parametrize(("b", "t", "h", "f", "d", "causal", "with_init"), BASED_CASES)
def test_based_triton_matches_reference(b, t, h, f, d, causal, with_init) -> None:
    check_based(b, t, h, f, d, causal, with_init)


PLA_CASES = [
    (2, 17, 17, 1, 8, 18, [0, 17]),  # prefix 0 and T
    (1, 63, 31, 2, 16, 24, [31]),  # encoder N/2, like the paper's JRT-RNN setting
    (3, 100, 100, 1, 4, 16, [0, 0, 0]),
    (2, 45, 50, 1, 24, 12, [50, 7]),
    (1, 40, 20, 1, 16, 100, [20]),
]


@pytest.mark.parametrize(("b", "t", "te", "h", "f", "d", "prefix"), PLA_CASES)
def test_pla_triton_matches_reference(b, t, te, h, f, d, prefix) -> None:
    check_pla(b, t, te, h, f, d, prefix)


@settings(max_examples=6 if INTERPRETED else 8)
@given(
    st.integers(1, 2),
    st.integers(1, 90),
    st.integers(1, 2),
    st.sampled_from([4, 8, 16, 24]),
    st.integers(1, 40),
    st.booleans(),
    st.integers(0, 2**31 - 1),
)
def test_based_triton_random_shapes(b, t, h, f, d, causal, seed) -> None:
    check_based(b, t, h, f, d, causal, with_init=causal, seed=seed)


@settings(max_examples=6 if INTERPRETED else 8)
@given(
    st.integers(1, 2),
    st.integers(1, 90),
    st.sampled_from([4, 16, 24]),
    st.integers(1, 40) if INTERPRETED else st.sampled_from([5, 18, 48, 64]),
    st.data(),
)
def test_pla_triton_random_shapes(b, t, f, d, data) -> None:
    te = data.draw(st.integers(1, 90))
    prefix = data.draw(st.lists(st.integers(0, te), min_size=b, max_size=b))
    check_pla(b, t, te, 1, f, d, prefix, seed=data.draw(st.integers(0, 2**31 - 1)))


@pytest.mark.parametrize("segments", [2, 3, 5])
def test_sequence_parallel_forward(segments: int) -> None:
    """The causal walk cut into segments (each starting from the parallel state pass's prefix
    sum) gives the reference outputs, states and gradients; with an initial state and with an
    encoder."""
    from synthetic.kernels.engine import autotune

    cfg = dict(autotune.candidate_configs(8, 12)[0], SEGS=segments)
    with autotune.force_config(cfg):
        check_based(2, 150, 1, 8, 12, True, True)
        check_based(1, 150, 2, 8, 12, True, False, seed=1)
        check_based(1, 150, 1, 8, 12, False, False, seed=2)
        check_pla(2, 150, 70, 1, 8, 12, [70, 3])


@pytest.mark.parametrize("key_t", [0, 1])
@pytest.mark.parametrize("segments", [1, 3])
@pytest.mark.parametrize(("f", "d"), [(4, 5), (16, 24), (24, 20)])
def test_transposed_state_forward(segments: int, f: int, d: int, key_t: int) -> None:
    """The forward kernel that holds the state transposed (based_fwd_kernel with TS=1) gives the
    reference outputs, states and gradients: causal with an initial state, non-causal, prefix
    linear attention, with and without sequence segments; with either state pass for the
    encoder and the segment starts (KT=1: key features transposed)."""
    from synthetic.kernels.engine import autotune

    cfg = dict(autotune.candidate_configs(f, d)[0], TS=1, KT=key_t, SEGS=segments)
    with autotune.force_config(cfg):
        check_based(2, 75, 1, f, d, True, True)
        check_based(1, 40, 2, f, d, False, False, seed=2)
        check_pla(2, 75, 33, 1, f, d, [33, 4], seed=3)


@settings(max_examples=5 if INTERPRETED else 10)
@given(
    st.integers(1, 2),
    st.integers(1, 160),
    st.sampled_from([4, 8, 16]),
    st.integers(1, 40),
    st.integers(1, 6),
    st.booleans(),
    st.data(),
)
def test_segments_and_state_passes_random_shapes(b, t, f, d, segments, key_t, data) -> None:
    """Sequence-parallel walks (any segment count) with either forward kernel (row or transposed
    state) and either state pass (plain, or KT: key features transposed) give the reference
    outputs, states and gradients, for Based (causal, with an initial state) and prefix linear
    attention (random prefix lengths)."""
    from synthetic.kernels.engine import autotune

    cfg = dict(
        autotune.candidate_configs(f, d)[0], SEGS=segments, KT=int(key_t), TS=int(data.draw(st.booleans()))
    )
    seed = data.draw(st.integers(0, 2**31 - 1))
    te = data.draw(st.integers(1, 100))
    prefix = data.draw(st.lists(st.integers(0, te), min_size=b, max_size=b))
    with autotune.force_config(cfg):
        check_based(b, t, 1, f, d, True, True, seed=seed)
        check_pla(b, t, te, 1, f, d, prefix, seed=seed)


@pytest.mark.parametrize(("f", "d"), [(8, 12), (24, 20)])  # f=24, d=20: two D-blocks
def test_parallel_encoder_gradients(monkeypatch, f: int, d: int) -> None:
    """Experimental path: the encoder gradients as a parallel map over encoder segments after the
    reverse walk (based_bwd_enc_kernel) give the reference gradients."""
    monkeypatch.setenv("READTWICE_EXPERIMENTAL", "1")
    check_pla(2, 40, 70, 1, f, d, [70, 9])
    check_based(2, 45, 1, f, d, False, False, seed=3)


def test_state_gradient_is_refused() -> None:
    q, k, v = (
        x.requires_grad_(True) for x in _inputs(0, [(1, 5, 1, 4), (1, 5, 1, 4), (1, 5, 1, 3)], torch.float32)
    )
    _, state = based_linear_attention(q, k, v, impl="triton")
    assert state is not None
    kv = state[0]
    with pytest.raises(NotImplementedError, match="returned state"):
        kv.sum().backward()


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
@pytest.mark.parametrize(
    ("t", "f", "d"), [(1, 16, 64), (257, 16, 64), (1000, 16, 64), (300, 24, 48), (513, 4, 18)]
)
def test_gpu_dtypes(dtype, t, f, d) -> None:
    check_based(2, t, 4, f, d, True, True, dtype=dtype)
    check_based(2, t, 4, f, d, False, False, dtype=dtype)
    check_pla(2, t, t // 2 + 1, 4, f, d, [0, t // 2 + 1], dtype=dtype)


@pytest.mark.gpu
@pytest.mark.parametrize(("f", "d"), [(16, 64), (24, 48), (4, 18), (16, 128)])
def test_gpu_every_candidate_config(f, d) -> None:
    """Each block shape the autotuner may pick computes the same function."""
    from synthetic.kernels.engine import autotune
    from synthetic.kernels.engine.blocks import next_pow2

    for cfg in autotune.candidate_configs(next_pow2(f), next_pow2(d)):
        with autotune.force_config(cfg):
            check_based(2, 300, 2, f, d, True, True, dtype=torch.bfloat16)
            check_pla(2, 300, 160, 2, f, d, [0, 160], dtype=torch.float32)


def _symmetrize(kv: torch.Tensor, f: int) -> torch.Tensor:
    """Average the (a, b) and (b, a) second-order rows of a public state [B, H, E, D]."""
    second = kv[:, :, 1 + f :].unflatten(2, (f, f))
    second = 0.5 * (second + second.transpose(2, 3))
    return torch.cat([kv[:, :, : 1 + f], second.flatten(2, 3)], dim=2)


def test_non_symmetric_initial_state() -> None:
    """Any initial state gives the reference outputs and gradients; the returned state is the
    reference state with its (a,b)/(b,a) rows averaged (phi(q) . state cannot tell them apart)."""
    b, t, h, f, d = 1, 21, 2, 4, 6
    q, k, v, dy = _inputs(3, [(b, t, h, f), (b, t, h, f), (b, t, h, d), (b, t, h, d)], torch.float32)
    k0, v0 = _inputs(4, [(b, 9, h, f), (b, 9, h, d)], torch.float64)
    kv0, z0 = (x.float() for x in final_state(k0, v0))
    kv0 = kv0 + 0.3 * _inputs(5, [tuple(kv0.shape)], torch.float32)[0]

    def call(impl):
        return lambda q, k, v, kv0: based_linear_attention(
            q, k, v, impl=impl, initial_state=LinearAttentionState(kv0, z0)
        )

    y, state, grads = run_with_grads(call("triton"), [q, k, v, kv0], dy)
    y_r, state_r, grads_r = run_with_grads(
        call("reference"), [q.double(), k.double(), v.double(), kv0.double()], dy
    )
    _check("y", y, y_r, torch.float32)
    _check("kv state", state[0], _symmetrize(state_r[0], f), torch.float32)
    for name, g, g_r in zip(["dq", "dk", "dv"], grads, grads_r, strict=False):
        _check(name, g, g_r, torch.float32)
    _check("d kv0", grads[3], _symmetrize(grads_r[3], f), torch.float32)


ENGINE_KERNELS = (
    "based_fwd_kernel",
    "based_state_kernel",
    "based_bwd_dq_kernel",
    "based_bwd_dkv_kernel",
    "based_bwd_enc_kernel",
)


@pytest.mark.skipif(not INTERPRETED, reason="guard regions are checked in the interpreter")
def test_guard_regions_catch_out_of_bounds_accesses() -> None:
    """The harness of test_no_access_outside_tensors sees a load and a store one element past a
    tensor as they happen (OutOfBounds), and without that check (as on a GPU) a store into the
    guard after the launch; in bounds it changes nothing."""
    import triton
    import triton.language as tl

    from .helpers import GuardedKernel, OutOfBounds, guarded_launches

    @triton.jit
    def shifted_copy(X, Y, N, READ: tl.constexpr, WRITE: tl.constexpr, BLOCK: tl.constexpr):
        i = tl.arange(0, BLOCK)
        tl.store(Y + i + WRITE, tl.load(X + i + READ, mask=i < N, other=0.0), mask=i < N)

    x, y = torch.arange(8, dtype=torch.float32), torch.zeros(8)
    holder = types.SimpleNamespace(shifted_copy=shifted_copy)
    with guarded_launches(holder, ["shifted_copy"], min_guard=16):
        holder.shifted_copy[(1,)](X=x, Y=y, N=8, READ=0, WRITE=0, BLOCK=8)
        assert torch.equal(y, x)
        with pytest.raises(OutOfBounds, match=r"load of 1 element.* 0 bytes after the end of argument X"):
            holder.shifted_copy[(1,)](X=x, Y=y, N=8, READ=1, WRITE=0, BLOCK=8)
        with pytest.raises(OutOfBounds, match=r"store of 1 element.* 0 bytes after the end of argument Y"):
            holder.shifted_copy[(1,)](X=x, Y=y, N=8, READ=0, WRITE=1, BLOCK=8)
    with pytest.raises(AssertionError, match=re.escape("wrote outside argument Y (8,) (after it)")):
        GuardedKernel(shifted_copy, "shifted_copy", 16)[(1,)](X=x, Y=y, N=8, READ=0, WRITE=1, BLOCK=8)


@pytest.mark.skipif(not INTERPRETED, reason="guard regions are checked in the interpreter")
@pytest.mark.parametrize("db", [16, 64])
@pytest.mark.parametrize("bt", [16, 32, 64])
@pytest.mark.parametrize("ts", [0, 1])
def test_no_access_outside_tensors(monkeypatch, ts: int, bt: int, db: int) -> None:
    """Every kernel of a call reads and writes only inside its tensors, for both forward layouts
    at chunk lengths 16, 32 and 64 (the transposed-state forward with BT = 16 and 64 stopped with
    an illegal memory access on an H200 and is not an autotune candidate): each tensor argument
    of every launch sits between NaN guards; a write into a guard fails the launch, a read of one
    puts NaN into what is compared with the reference. Two sequence segments (start
    states) and two D-blocks (d = 24, DB = 16; one partial block with DB = 64); the encoder
    gradients by the reverse walk (ts = 0) and by the parallel kernel (ts = 1). In the
    interpreter every load and store is also checked against the launch's tensors as it runs
    (helpers.guarded_launches), so reads whose values are thrown away count as well."""
    from synthetic.kernels.engine import autotune, launch

    from .helpers import guarded_launches

    monkeypatch.setenv("READTWICE_EXPERIMENTAL", str(ts))
    cfg = dict(BT=bt, DB=db, num_warps=4, num_stages=2, TS=ts, KT=ts, SEGS=2)
    with autotune.force_config(cfg), guarded_launches(launch, ENGINE_KERNELS) as kernels:
        check_based(2, 150, 2, 16, 24, True, True)
        check_based(1, 40, 1, 16, 24, False, False, seed=2)
        check_pla(2, 75, 33, 1, 16, 24, [33, 4], seed=3)
    expected = set(ENGINE_KERNELS) - ({"based_bwd_enc_kernel"} if not ts else set())
    assert {name for name, k in kernels.items() if k.launches} == expected
