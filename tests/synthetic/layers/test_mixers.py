"""Every mixer: parallel form == recurrent form token by token (fp64), state sizes equal the
values the recurrent state holds, causality / prefix dependence, and clear errors."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from synthetic.layers import MIXER_CONFIGS, Based, build_mixer, floating_numel, parse_mixer
from synthetic.layers.base import Mixer, State, repeat_state, state_rows

KINDS = tuple(MIXER_CONFIGS)
RECURRENT_KINDS = ("attention", "sliding_window", "base_conv", "based", "prefix_linear_attention", "ssm")

# tiny tensors: one intra-op thread per test worker is much faster (and -n 2 uses both cores)
torch.set_num_threads(1)


@st.composite
def mixer_cases(draw: st.DrawFn, kind: str) -> tuple[Mixer, torch.Tensor, int]:
    """A random fp64 mixer of ``kind``, an input x [B, T, D] and a split point M in [0, T]."""
    heads = draw(st.integers(1, 3))
    d_model = heads * draw(st.integers(1, 4))
    spec: dict = {"kind": kind}
    if kind in ("attention", "sliding_window", "based", "prefix_linear_attention"):
        spec["num_heads"] = heads
    if kind in ("based", "prefix_linear_attention"):
        spec["feature_dim"] = draw(st.integers(1, 4))
    if kind == "based":
        spec["causal"] = True
    if kind == "sliding_window":
        spec["window"] = draw(st.integers(1, 5))
    if kind == "base_conv":
        spec["kernel_size"] = draw(st.integers(1, 4))
    if kind == "ssm":
        spec.update(
            d_state=draw(st.integers(1, 4)),
            expand=draw(st.integers(1, 2)),
            conv_kernel=draw(st.integers(1, 4)),
        )
    seed = draw(st.integers(0, 2**16))
    mixer = build_mixer(spec, d_model).double()
    mixer.reset_parameters_(torch.Generator().manual_seed(seed))
    batch, t = draw(st.integers(1, 3)), draw(st.integers(1, 10))
    x = torch.randn(batch, t, d_model, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    return mixer, x, draw(st.integers(0, t))


def recurrent_outputs(mixer: Mixer, x: torch.Tensor, m: int, room: int = 0) -> tuple[torch.Tensor, State]:
    """prefill(x[:, :m]) then step over x[:, m:]; returns (y [B, T, D], final state), a growing
    state sized for ``room`` more tokens."""
    b, t, _ = x.shape
    if m == 0:
        state = mixer.init_state(b, seq_len=t + room, dtype=x.dtype)
        ys = []
    else:
        prefix = torch.full((b,), m, dtype=torch.int64)
        y0, state = mixer.prefill(x[:, :m], prefix, seq_len=t + room)
        ys = [y0]
    for i in range(m, t):
        y_t, state = mixer.step(x[:, i], state)
        ys.append(y_t.unsqueeze(1))
    return torch.cat(ys, dim=1), state


@pytest.mark.parametrize("kind", RECURRENT_KINDS)
@given(data=st.data())
def test_parallel_equals_recurrent(kind: str, data: st.DataObject) -> None:
    mixer, x, m = data.draw(mixer_cases(kind))
    b, t, _ = x.shape
    prefix = torch.full((b,), m, dtype=torch.int64)
    y_par = mixer(x, prefix)
    y_rec, state = recurrent_outputs(mixer, x, m)
    torch.testing.assert_close(y_rec, y_par, rtol=1e-9, atol=1e-11)
    # the state the recurrence holds is exactly state_size() values per example
    assert floating_numel(state) == b * mixer.state_size(t)
    assert floating_numel(mixer.init_state(b, seq_len=t)) == b * mixer.state_size(t)


@pytest.mark.parametrize("kind", [*RECURRENT_KINDS, "based_noncausal"])
@given(data=st.data())
def test_step_each_is_a_step_of_each_candidate(kind: str, data: st.DataObject) -> None:
    """step_each of C candidates per example from R examples' states (state_rows of a prefill)
    gives, entry for entry, the output of step of that candidate alone from that example's state
    (fp64); the state is untouched."""
    mixer, x, m = data.draw(mixer_cases("based" if kind == "based_noncausal" else kind))
    if kind == "based_noncausal":
        mixer.causal = False
    b, _, d = x.shape
    _, state = recurrent_outputs(mixer, x, m, room=1)
    before = [u.clone() for u in state]
    start = data.draw(st.integers(0, b - 1))
    stop = data.draw(st.integers(start + 1, b))
    count = data.draw(st.integers(1, 5))
    cand = torch.randn(
        stop - start, count, d, generator=torch.Generator().manual_seed(count), dtype=torch.float64
    )
    got = mixer.step_each(cand, state_rows(state, start, stop))
    assert got.shape == (stop - start, count, d)
    for r in range(stop - start):
        for c in range(count):
            one, _ = mixer.step(cand[r, c : c + 1], state_rows(state, start + r, start + r + 1))
            torch.testing.assert_close(got[r, c : c + 1], one, rtol=1e-9, atol=1e-11)
    for u, v in zip(state, before, strict=True):
        assert torch.equal(u, v)
    assert mixer.step_each_bytes(state_rows(state, 0, 1)) >= 0  # 0 for a conv of one tap


def test_state_helpers_copy_rows_and_refuse_what_is_not_a_state() -> None:
    """repeat_state puts example r's copies at rows r * count ..; state_rows takes views."""
    kv = _fixed("based", num_heads=1, feature_dim=2).init_state(2, dtype=torch.float64)
    kv = type(kv)(*(torch.randn_like(t) for t in kv))
    twice = repeat_state(kv, 3)
    assert twice.kv.shape[0] == 6 and torch.equal(twice.kv[3], kv.kv[1]) and torch.equal(twice.z[2], kv.z[0])
    assert state_rows(kv, 1, 2).kv.data_ptr() == kv.kv[1].data_ptr()
    with pytest.raises(TypeError, match=r"a state must be a NamedTuple of tensors \(got dict\)"):
        state_rows({"kv": torch.zeros(2, 3)}, 0, 1)  # type: ignore[type-var]
    with pytest.raises(
        ValueError, match=r"x must be \[R, C, 8\] with R = the state's batch \(2\); got \(3, 1, 8\)"
    ):
        _fixed("based", num_heads=1, feature_dim=2).step_each(torch.zeros(3, 1, 8, dtype=torch.float64), kv)


@pytest.mark.parametrize("kind", ["attention", "sliding_window", "base_conv", "based", "ssm"])
@given(data=st.data())
def test_causal_mixers_ignore_the_future(kind: str, data: st.DataObject) -> None:
    mixer, x, t0 = data.draw(mixer_cases(kind))
    t = x.shape[1]
    if t0 >= t:
        t0 = t - 1
    x2 = x.clone()
    x2[:, t0 + 1 :] = torch.randn_like(x2[:, t0 + 1 :]) * 3
    torch.testing.assert_close(mixer(x2)[:, : t0 + 1], mixer(x)[:, : t0 + 1], rtol=1e-10, atol=1e-12)


@given(data=st.data())
def test_prefix_mixer_reads_only_prefix_and_past(data: st.DataObject) -> None:
    mixer, x, _ = data.draw(mixer_cases("prefix_linear_attention"))
    b, t, _ = x.shape
    prefix = torch.tensor(data.draw(st.lists(st.integers(0, t), min_size=b, max_size=b)), dtype=torch.int64)
    t0 = data.draw(st.integers(0, t - 1))
    x2 = x.clone()
    for i in range(b):  # change every token that output t0 must not see: j > max(t0, M_b - 1)
        start = max(t0 + 1, int(prefix[i]))
        x2[i, start:] = torch.randn_like(x2[i, start:]) * 3
    torch.testing.assert_close(
        mixer(x2, prefix)[:, : t0 + 1], mixer(x, prefix)[:, : t0 + 1], rtol=1e-10, atol=1e-12
    )


def _fixed(kind: str, d_model: int = 8, **kw: object) -> Mixer:
    mixer = build_mixer({"kind": kind, **kw}, d_model).double()
    mixer.reset_parameters_(torch.Generator().manual_seed(3))
    return mixer


def test_prefix_mixer_does_read_the_prefix_beyond_t() -> None:
    """Non-vacuity: output 0 changes when a later prefix token changes, not when one past the prefix does."""
    mixer = _fixed("prefix_linear_attention", feature_dim=3)
    x = torch.randn(1, 6, 8, dtype=torch.float64)
    prefix = torch.tensor([4])
    x_in, x_out = x.clone(), x.clone()
    x_in[0, 3] += 1.0  # inside the prefix, after t = 0
    x_out[0, 4] += 1.0  # past the prefix
    y = mixer(x, prefix)
    assert (mixer(x_in, prefix)[0, 0] - y[0, 0]).abs().max() > 1e-6
    torch.testing.assert_close(mixer(x_out, prefix)[0, :4], y[0, :4])
    # with an empty prefix it is causal Based with the decoder projections
    torch.testing.assert_close(mixer(x_in, torch.tensor([0]))[0, :3], mixer(x, torch.tensor([0]))[0, :3])


@given(data=st.data())
def test_noncausal_based_two_pass_recurrence(data: st.DataObject) -> None:
    """Non-causal Based == read the whole input into the state token by token (pass 1), then read
    every output from that fixed state (pass 2)."""
    causal, x, _ = data.draw(mixer_cases("based"))
    assert isinstance(causal, Based)
    mixer = Based(causal.d_model, causal.feature_dim, causal.num_heads, causal=False).double()
    mixer.load_state_dict(causal.state_dict())
    state = mixer.init_state(x.shape[0], dtype=x.dtype)
    for i in range(x.shape[1]):
        _, state = causal.step(x[:, i], state)  # pass 1: accumulate (the causal step adds then reads)
    y_two_pass = mixer.read(x, state)
    torch.testing.assert_close(y_two_pass, mixer(x), rtol=1e-9, atol=1e-11)
    y_pre, state_pre = mixer.prefill(x)
    torch.testing.assert_close(y_pre, y_two_pass, rtol=1e-9, atol=1e-11)
    for name in state._fields:
        torch.testing.assert_close(getattr(state_pre, name), getattr(state, name), rtol=1e-9, atol=1e-11)
    assert floating_numel(state_pre) == x.shape[0] * mixer.state_size()


def test_noncausal_based_sees_the_future() -> None:
    mixer = _fixed("based", causal=False, feature_dim=2)
    x = torch.randn(1, 5, 8, dtype=torch.float64)
    x2 = x.clone()
    x2[0, -1] += 1.0
    assert (mixer(x2)[0, 0] - mixer(x)[0, 0]).abs().max() > 1e-6


def test_paper_state_sizes() -> None:
    assert _fixed("based", d_model=36, feature_dim=4).paper_state_size() == 15 * 38
    assert _fixed("based", d_model=36, feature_dim=4).state_size() == 2 * 21 * 19
    assert _fixed("base_conv", d_model=36).paper_state_size() == 3 * 36
    assert _fixed("base_conv", d_model=36).state_size() == 2 * 36
    assert _fixed("ssm", d_model=8, d_state=4).paper_state_size() == 16 * 4
    assert _fixed("attention").state_size(10) == 2 * 10 * 8
    assert _fixed("sliding_window", window=4).state_size() == 2 * 4 * 8


def test_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="num_heads=3 must be >= 1 and divide d_model=8"):
        build_mixer({"kind": "based", "num_heads": 3}, 8)
    with pytest.raises(ValidationError, match="window_size"):
        parse_mixer({"kind": "sliding_window", "window_size": 3})
    with pytest.raises(ValidationError, match="feature_dim"):
        parse_mixer({"kind": "based", "feature_dim": 0})
    with pytest.raises(ValueError, match="unknown mixer kind 'mamba'"):
        parse_mixer("mamba")
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        parse_mixer({"kind": "mamba"})
    pla = _fixed("prefix_linear_attention")
    x = torch.randn(2, 4, 8, dtype=torch.float64)
    with pytest.raises(ValueError, match="needs prefix_len"):
        pla(x)
    with pytest.raises(ValueError, match=r"prefix_len values must lie in \[0, T=4\]"):
        pla(x, torch.tensor([1, 5]))
    with pytest.raises(ValueError, match="needs seq_len"):
        _fixed("attention").init_state(2)
    with pytest.raises(ValueError, match="x must be"):
        _fixed("base_conv")(torch.randn(2, 4, 7))
    attn = _fixed("attention")
    state = attn.init_state(1, seq_len=1, dtype=torch.float64)
    _, state = attn.step(torch.randn(1, 8, dtype=torch.float64), state)
    with pytest.raises(ValueError, match="KV cache is full"):
        attn.step(torch.randn(1, 8, dtype=torch.float64), state)


@pytest.mark.parametrize("kind", KINDS)
def test_step_does_not_modify_the_input_state(kind: str) -> None:
    mixer = _fixed(kind, **({"feature_dim": 2} if kind in ("based", "prefix_linear_attention") else {}))
    state = mixer.init_state(2, seq_len=4, dtype=torch.float64)
    before = {k: v.clone() for k, v in state._asdict().items()}
    mixer.step(torch.randn(2, 8, dtype=torch.float64), state)
    for name, tensor in state._asdict().items():
        assert torch.equal(tensor, before[name]), name


@settings(max_examples=10)
@given(kind=st.sampled_from(KINDS), seed=st.integers(0, 100))
def test_reset_parameters_is_deterministic(kind: str, seed: int) -> None:
    a, b = build_mixer(kind, 8), build_mixer(kind, 8)
    a.reset_parameters_(torch.Generator().manual_seed(seed))
    b.reset_parameters_(torch.Generator().manual_seed(seed))
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb), name


@pytest.mark.parametrize("kind", [*KINDS, "based_noncausal"])
@given(data=st.data())
def test_forward_at_equals_forward_at_those_positions(kind: str, data: st.DataObject) -> None:
    """forward_at(x, prefix_len, cols) == forward(x, prefix_len)[b, cols[b]], values and the
    gradients of x and of every parameter (fp64), for any positions (repeats allowed)."""
    mixer, x, m = data.draw(mixer_cases("based" if kind == "based_noncausal" else kind))
    if kind == "based_noncausal":
        assert isinstance(mixer, Based)
        mixer.causal = False
    b, t, d = x.shape
    q = data.draw(st.integers(1, 4))
    rows = st.lists(st.integers(0, t - 1), min_size=q, max_size=q)
    cols = torch.tensor(data.draw(st.lists(rows, min_size=b, max_size=b)))
    prefix = torch.tensor(data.draw(st.lists(st.integers(0, t), min_size=b, max_size=b)), dtype=torch.int64)
    w = torch.randn(b, cols.shape[1], d, generator=torch.Generator().manual_seed(m), dtype=torch.float64)
    results = []
    for at in (True, False):
        mixer.zero_grad(set_to_none=True)
        xg = x.clone().requires_grad_()
        if at:
            y = mixer.forward_at(xg, prefix, cols)
        else:
            y = mixer(xg, prefix)[torch.arange(b)[:, None], cols]
        (y * w).sum().backward()
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in mixer.parameters()]
        results.append([y, xg.grad, *grads])
    for got, want in zip(*results, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-11)
