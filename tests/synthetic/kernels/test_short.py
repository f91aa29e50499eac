"""The short-sequence path (synthetic.kernels.short) against the float64 kernel-matrix reference:
outputs and the gradients of q, k, v, k_enc, v_enc for every mask (causal, whole, prefix), in the
interpreter on the CPU (fp32, exact dots) and compiled on a GPU (every dtype, marker `gpu`).
Every launch is guarded (helpers.guarded_launches): a load or store outside the tensors fails."""

from __future__ import annotations

import os

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from synthetic.kernels import based_linear_attention, prefix_linear_attention
from synthetic.kernels.based.kernel_matrix import kernel_attention
from synthetic.kernels.short import kernels as short_kernels
from synthetic.kernels.short import op as short_op
from synthetic.kernels.short import short_attention, takes_short_path

from .helpers import guarded_launches, nan_poisoned_allocations, rel_err

INTERPRETED = os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")
HAS_CUDA = torch.cuda.is_available()
pytestmark = pytest.mark.skipif(
    not (INTERPRETED or HAS_CUDA), reason="Triton needs a GPU or TRITON_INTERPRET=1"
)
DEVICE = "cuda" if HAS_CUDA else "cpu"
KERNELS = ["short_fwd_kernel", "short_bwd_dq_kernel", "short_bwd_dkv_kernel"]
# ||got - ref|| / ||ref|| against fp64, per dtype (fp32 dots are tf32 on the GPU) ...
TOL = {torch.float32: 1e-5 if INTERPRETED else 5e-3, torch.float16: 1e-2, torch.bfloat16: 3e-2}
# ... or an RMS error this small: a gradient that is exactly zero (dq and dk at T = 1, where
# y_0 = v_0 whatever q and k are) has only rounding noise, no meaningful relative error
ATOL = {torch.float32: 1e-6 if INTERPRETED else 1e-2, torch.float16: 1e-2, torch.bfloat16: 2e-2}
MODES = ("causal", "whole", "prefix")


def _reference(
    mode: str, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, k_enc: torch.Tensor, v_enc: torch.Tensor,
    lengths: torch.Tensor,
) -> torch.Tensor:  # fmt: skip
    """The same read through materialised [T, Tk] matrices (fp64 in, fp64 out)."""
    t = q.shape[1]
    if mode == "causal":
        return kernel_attention(q, k, v, causal_cols=t)
    if mode == "whole":
        return kernel_attention(q, k_enc, v_enc)
    keys = torch.cat(
        [torch.ones(q.shape[0], t, dtype=torch.bool), torch.arange(k_enc.shape[1])[None] < lengths[:, None]],
        1,
    )
    return kernel_attention(q, torch.cat([k, k_enc], 1), torch.cat([v, v_enc], 1), causal_cols=t, keys=keys)


def _short(
    mode: str, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, k_enc: torch.Tensor, v_enc: torch.Tensor,
    lengths: torch.Tensor,
) -> torch.Tensor:  # fmt: skip
    if mode == "causal":
        return short_attention(q, k, v)
    if mode == "whole":
        return short_attention(q, None, None, k_enc=k_enc, v_enc=v_enc)
    return short_attention(q, k, v, k_enc=k_enc, v_enc=v_enc, lengths=lengths)


def check_short(
    mode: str, b: int, t: int, h: int, f: int, d: int, te: int, lengths: list[int],
    dtype: torch.dtype = torch.float32, seed: int = 0,
) -> None:  # fmt: skip
    """Outputs and every input gradient of :func:`short_attention` against the fp64 reference."""
    g = torch.Generator().manual_seed(seed)
    shapes = [(b, t, h, f), (b, t, h, f), (b, t, h, d), (b, te, h, f), (b, te, h, d), (b, t, h, d)]
    q, k, v, k_enc, v_enc, dy = (torch.randn(*s, generator=g, dtype=torch.float64) for s in shapes)
    lens = torch.tensor(lengths, dtype=torch.int64)
    used = {"causal": (0, 1, 2), "whole": (0, 3, 4), "prefix": (0, 1, 2, 3, 4)}[mode]
    inputs = [q, k, v, k_enc, v_enc]
    ref_leaves = [x.clone().requires_grad_(i in used) for i, x in enumerate(inputs)]
    ref = _reference(mode, ref_leaves[0], ref_leaves[1], ref_leaves[2], ref_leaves[3], ref_leaves[4], lens)
    ref_grads = torch.autograd.grad(ref, [ref_leaves[i] for i in used], dy)
    leaves = [x.to(DEVICE, dtype).requires_grad_(i in used) for i, x in enumerate(inputs)]
    with nan_poisoned_allocations(), guarded_launches(short_op, KERNELS) as launched:
        y = _short(mode, leaves[0], leaves[1], leaves[2], leaves[3], leaves[4], lens.to(DEVICE))
        grads = torch.autograd.grad(y, [leaves[i] for i in used], dy.to(DEVICE, dtype))
    assert all(kernel.launches for kernel in launched.values())
    for name, got, want in zip(
        ["y", *("q k v k_enc v_enc".split()[i] for i in used)], [y, *grads], [ref, *ref_grads], strict=True
    ):
        err = rel_err(got.cpu(), want)
        rms = (got.cpu().double() - want).pow(2).mean().sqrt().item()
        assert err < TOL[dtype] or rms <= ATOL[dtype], (
            f"{name} ({mode}, T={t}, Te={te}, lengths={lengths}, {dtype}): "
            f"relative error {err:.2e}, RMS {rms:.2e}"
        )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("t", [1, 17, 63, 100, 257])
def test_short_path_matches_reference(mode: str, t: int) -> None:
    """The issue's lengths; prefix lengths 0, T and one between (per example of a batch of 3)."""
    check_short(mode, b=3, t=t, h=2, f=5, d=7, te=t, lengths=[0, t, t // 2])


@settings(max_examples=12, deadline=None)
@given(
    mode=st.sampled_from(MODES),
    t=st.integers(1, 80),
    te=st.integers(1, 80),
    f=st.integers(1, 33),
    d=st.integers(1, 40),
    data=st.data(),
)
def test_short_path_any_shape(mode: str, t: int, te: int, f: int, d: int, data: st.DataObject) -> None:
    """Any feature dim (padded to 16 or 32 or 64 inside), value dim, lengths and encoder length."""
    te = t if mode == "causal" else te
    lengths = data.draw(st.lists(st.integers(0, te), min_size=2, max_size=2))
    check_short(mode, b=2, t=t, h=1, f=f, d=d, te=te, lengths=lengths, seed=data.draw(st.integers(0, 99)))


def test_short_path_rejects_bad_input() -> None:
    q = torch.randn(2, 5, 1, 4)
    v = torch.randn(2, 5, 1, 3)
    with pytest.raises(ValueError, match="needs own keys"):
        short_attention(q, None, None)
    with pytest.raises(ValueError, match="in pairs"):
        short_attention(q, q, None)
    with pytest.raises(ValueError, match="Tk == T"):
        short_attention(q, q[:, :3], v[:, :3])
    with pytest.raises(ValueError, match=r"encoder keys must be k \[B, Tk, H, F\]"):
        short_attention(q, None, None, k_enc=torch.randn(2, 5, 1, 5), v_enc=v)
    with pytest.raises(TypeError, match="share one dtype"):
        short_attention(q, q.double(), v)
    with pytest.raises(ValueError, match="feature dim F=65"):
        short_attention(torch.randn(1, 2, 1, 65), torch.randn(1, 2, 1, 65), torch.randn(1, 2, 1, 3))
    with pytest.raises(ValueError, match=r"lengths must be an integer tensor of shape \[2\]"):
        short_attention(q, None, None, k_enc=q, v_enc=v, lengths=torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"lengths values must lie in \[0, Te=5\]; got min 0, max 6"):
        short_attention(q, None, None, k_enc=q, v_enc=v, lengths=torch.tensor([0, 6]))


def test_more_rows_than_a_grid_axis_takes_are_refused_up_front() -> None:
    """B x H beyond the 65,535 blocks of a CUDA grid's y / z axis, where the short path and the
    Based engine put a call's rows: a ValueError naming the op, the sizes and the limit, before
    any launch; one row fewer is accepted."""
    from synthetic.kernels.dispatch import MAX_GRID_ROWS
    from synthetic.kernels.engine.launch import Dims

    rows = MAX_GRID_ROWS // 2 + 1  # x 2 heads: one over
    q = torch.randn(rows, 1, 2, 2)
    with pytest.raises(
        ValueError, match=rf"the short path: B x H = {rows} x 2 = {2 * rows} rows .* at most 65535"
    ):
        short_attention(q, q, torch.randn(rows, 1, 2, 2))
    with pytest.raises(ValueError, match=rf"the Based engine: B x H = {rows} x 2 = {2 * rows} rows"):
        Dims.of(q, q)
    assert Dims.of(q[: rows - 1], q[: rows - 1]).b == rows - 1


def test_crossover_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only stateless calls within the kernel's limits, up to the crossover; the environment can
    force either path and a bad value is refused."""
    monkeypatch.delenv(short_op.FORWARD_CROSSOVER_ENV, raising=False)
    for with_grad in (True, False):
        limit = short_op.crossover(8, records_grad=with_grad)
        call = dict(need_state=False, has_initial_state=False, with_grad=with_grad)
        assert takes_short_path(limit, 8, 32, **call)
        assert not takes_short_path(limit + 1, 8, 32, **call)
        assert not takes_short_path(10, 8, 32, **{**call, "need_state": True})
        assert not takes_short_path(10, 8, 32, **{**call, "has_initial_state": True})
        assert not takes_short_path(10, 65, 32, **call)
        monkeypatch.setenv("READTWICE_SHORT_PATH", "always")
        assert takes_short_path(10**6, 8, 32, **call)
        monkeypatch.setenv("READTWICE_SHORT_PATH", "never")
        assert not takes_short_path(10, 8, 32, **call)
        monkeypatch.setenv("READTWICE_SHORT_PATH", "sometimes")
        with pytest.raises(
            ValueError, match="READTWICE_SHORT_PATH='sometimes'; allowed: auto, always, never"
        ):
            takes_short_path(10, 8, 32, **call)
        monkeypatch.delenv("READTWICE_SHORT_PATH")


def test_forward_crossover_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """READTWICE_FORWARD_CROSSOVER puts its entries over the forward table (the largest key <= F
    applies) and leaves the training table alone; T = 0 sends every call to the engine."""
    monkeypatch.setattr(short_op, "CROSSOVER_T", {1: 1024})
    monkeypatch.setattr(short_op, "FORWARD_CROSSOVER_T", {1: 1024})
    monkeypatch.setenv(short_op.FORWARD_CROSSOVER_ENV, " 8:2048, 24:0 ")
    assert short_op.forward_crossover_table() == {1: 1024, 8: 2048, 24: 0}
    got = {f: short_op.crossover(f, records_grad=False) for f in (1, 4, 7, 8, 16, 23, 24, 64)}
    assert got == {1: 1024, 4: 1024, 7: 1024, 8: 2048, 16: 2048, 23: 2048, 24: 0, 64: 0}
    assert all(short_op.crossover(f, records_grad=True) == 1024 for f in got)
    forward = dict(need_state=False, has_initial_state=False, with_grad=False)
    assert takes_short_path(2048, 16, 32, **forward)
    assert not takes_short_path(2049, 16, 32, **forward)
    assert not takes_short_path(1, 24, 32, **forward)
    assert not takes_short_path(2048, 16, 32, **{**forward, "with_grad": True})
    monkeypatch.setenv(short_op.FORWARD_CROSSOVER_ENV, "  ")
    assert short_op.forward_crossover_table() == {1: 1024}


@given(st.dictionaries(st.integers(1, 10**4), st.integers(0, 10**6), min_size=1, max_size=8))
def test_crossover_text_round_trips(table: dict[int, int]) -> None:
    """format_crossover's text parses back to the same table."""
    assert short_op.parse_crossover(short_op.format_crossover(table)) == table


@pytest.mark.parametrize("text", ["", "4", "4:", ":4", "0:10", "4:-1", "4:1.5", "a:b", "4:10,4:20", "4:10,"])
def test_bad_crossover_text_is_refused(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Anything but F:T items (F >= 1 once each, T >= 0) is a ValueError naming the variable, the
    value and the form, whether parsed directly or read from the environment."""
    with pytest.raises(
        ValueError, match=r"READTWICE_FORWARD_CROSSOVER=.*each comma-separated item must be F:T"
    ):
        short_op.parse_crossover(text)
    if text.strip():
        monkeypatch.setenv(short_op.FORWARD_CROSSOVER_ENV, text)
        with pytest.raises(ValueError, match=r"READTWICE_FORWARD_CROSSOVER="):
            short_op.crossover(4, records_grad=False)


def test_records_grad() -> None:
    """True only in grad mode with a tensor that requires grad; None entries are skipped."""
    a, b = torch.zeros(1), torch.zeros(1, requires_grad=True)
    assert short_op.records_grad(a, None, b)
    assert not short_op.records_grad(a, None)
    with torch.no_grad():
        assert not short_op.records_grad(a, b)
    with torch.inference_mode():
        assert not short_op.records_grad(b)


@pytest.mark.parametrize("op", ["based_causal", "based_whole", "prefix"])
def test_public_ops_take_the_short_path_for_training_calls(op: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """need_state=False on the Triton path goes through the short kernels and gives the engine's
    outputs and gradients (need_state=True keeps the engine)."""
    g = torch.Generator().manual_seed(3)
    b, t, h, f, d = 2, 19, 2, 4, 6
    q, k, v, k_enc, v_enc = (
        torch.randn(b, t, h, n, generator=g).to(DEVICE).requires_grad_() for n in (f, f, d, f, d)
    )
    prefix_len = torch.tensor([0, 11], device=DEVICE)

    def call(need_state: bool) -> torch.Tensor:
        if op == "prefix":
            return prefix_linear_attention(
                q, k, v, k_enc, v_enc, prefix_len, impl="triton", need_state=need_state
            )[0]
        return based_linear_attention(
            q, k, v, causal=op == "based_causal", impl="triton", need_state=need_state
        )[0]

    monkeypatch.setenv("READTWICE_SHORT_PATH", "auto")
    leaves = [q, k, v] + ([k_enc, v_enc] if op == "prefix" else [])
    dy = torch.randn(b, t, h, d, generator=g).to(DEVICE)
    with guarded_launches(short_op, KERNELS) as launched:
        y_engine = call(need_state=True)
        grads_engine = torch.autograd.grad(y_engine, leaves, dy)
        assert launched["short_fwd_kernel"].launches == 0
        y_short = call(need_state=False)
        grads_short = torch.autograd.grad(y_short, leaves, dy)
        assert launched["short_fwd_kernel"].launches == 1
    for got, want in zip([y_short, *grads_short], [y_engine, *grads_engine], strict=True):
        assert rel_err(got, want) < TOL[torch.float32]


@pytest.mark.parametrize("op", ["based_causal", "based_whole", "prefix"])
def test_calls_without_autograd_follow_the_forward_crossover(
    op: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A call that autograd does not record takes the short path up to the forward table's T, a
    recorded one up to the training table's, with the same outputs either way."""
    g = torch.Generator().manual_seed(5)
    b, t, h, f, d = 2, 19, 2, 4, 6
    q, k, v, k_enc, v_enc = (torch.randn(b, t, h, n, generator=g).to(DEVICE) for n in (f, f, d, f, d))
    prefix_len = torch.tensor([3, 19], device=DEVICE)

    def call() -> torch.Tensor:
        if op == "prefix":
            return prefix_linear_attention(
                q, k, v, k_enc, v_enc, prefix_len, impl="triton", need_state=False
            )[0]
        return based_linear_attention(q, k, v, causal=op == "based_causal", impl="triton", need_state=False)[
            0
        ]

    monkeypatch.setenv("READTWICE_SHORT_PATH", "auto")
    monkeypatch.setattr(short_op, "CROSSOVER_T", {1: t})
    outputs = []
    with guarded_launches(short_op, KERNELS) as launched:
        for forward_t, expected in ((t - 1, 0), (t, 1)):
            monkeypatch.setenv(short_op.FORWARD_CROSSOVER_ENV, f"1:{forward_t}")
            before = launched["short_fwd_kernel"].launches
            with torch.no_grad():
                outputs.append(call())
            assert launched["short_fwd_kernel"].launches - before == expected
        monkeypatch.setenv(short_op.FORWARD_CROSSOVER_ENV, "1:0")
        q.requires_grad_()
        before = launched["short_fwd_kernel"].launches
        outputs.append(call().detach())
        assert launched["short_fwd_kernel"].launches - before == 1
    for got in outputs[1:]:
        assert rel_err(got, outputs[0]) < TOL[torch.float32]


def test_kernels_module_is_what_the_op_launches() -> None:
    """The guarded launches above wrap the op module's names; they must be the kernels module's."""
    for name in KERNELS:
        assert getattr(short_op, name) is getattr(short_kernels, name)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("mode", MODES)
def test_short_path_gpu_dtypes(mode: str, dtype: torch.dtype) -> None:
    """Every dtype compiled, at training-like sizes (f = 24 pads to 32; D = 64)."""
    for t, f, d in [(137, 24, 64), (275, 4, 18), (63, 16, 32)]:
        check_short(mode, b=4, t=t, h=2, f=f, d=d, te=t, lengths=[0, t, t // 3, 1], dtype=dtype)
