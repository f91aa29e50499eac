"""The torch references agree with each other and with the definitions (fp64, CPU)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from synthetic.kernels import (
    based_linear_attention,
    expanded_dim,
    prefix_linear_attention,
    symmetric_expanded_dim,
    taylor_feature_map,
    use_impl,
)
from synthetic.kernels.based.reference import based_chunked, based_quadratic, based_step, zero_state
from synthetic.kernels.dispatch import resolve
from synthetic.kernels.prefix_linear_attention.reference import encoder_state

F64 = torch.float64


def _rand(seed: int, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


shapes = st.tuples(
    st.integers(1, 2),  # B
    st.integers(1, 80),  # T
    st.integers(1, 3),  # H
    st.integers(1, 6),  # F
    st.integers(1, 7),  # D
)


@given(st.integers(1, 8), st.integers(0, 2**31 - 1))
def test_taylor_map_matches_kernel_formula(f: int, seed: int) -> None:
    q, k = _rand(seed, 5, f), _rand(seed + 1, 5, f)
    dots = taylor_feature_map(q) @ taylor_feature_map(k).T
    s = q @ k.T / math.sqrt(f)
    torch.testing.assert_close(dots, 1 + s + s * s / 2)
    assert taylor_feature_map(q).shape[-1] == expanded_dim(f) == 1 + f + f * f
    assert symmetric_expanded_dim(f) == 1 + f + f * (f + 1) // 2


@settings(max_examples=20)
@given(shapes, st.integers(1, 40), st.booleans(), st.integers(0, 2**31 - 1))
def test_chunked_equals_quadratic(shape, chunk: int, causal: bool, seed: int) -> None:
    b, t, h, f, d = shape
    q, k, v = _rand(seed, b, t, h, f), _rand(seed + 1, b, t, h, f), _rand(seed + 2, b, t, h, d)
    y_ref, (kv_ref, z_ref) = based_quadratic(q, k, v, causal=causal)
    y, state = based_chunked(q, k, v, causal=causal, chunk_size=chunk)
    assert state is not None
    kv, z = state
    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(kv, kv_ref)
    torch.testing.assert_close(z, z_ref)


@settings(max_examples=15)
@given(shapes, st.integers(0, 2**31 - 1))
def test_recurrent_steps_equal_parallel(shape, seed: int) -> None:
    b, t, h, f, d = shape
    q, k, v = _rand(seed, b, t, h, f), _rand(seed + 1, b, t, h, f), _rand(seed + 2, b, t, h, d)
    y_ref, state_ref = based_quadratic(q, k, v)
    state = zero_state(q, v)
    for i in range(t):
        y_i, state = based_step(q[:, i], k[:, i], v[:, i], state)
        torch.testing.assert_close(y_i, y_ref[:, i])
    torch.testing.assert_close(state[0], state_ref[0])
    torch.testing.assert_close(state[1], state_ref[1])


@settings(max_examples=15)
@given(shapes, st.data())
def test_initial_state_continues_a_sequence(shape, data: st.DataObject) -> None:
    b, t, h, f, d = shape
    seed = data.draw(st.integers(0, 2**31 - 1))
    cut = data.draw(st.integers(0, t))
    q, k, v = _rand(seed, b, t, h, f), _rand(seed + 1, b, t, h, f), _rand(seed + 2, b, t, h, d)
    y_all, state_all = based_quadratic(q, k, v)
    _, state_head = based_quadratic(q[:, :cut], k[:, :cut], v[:, :cut])
    y_tail, state_tail = based_chunked(
        q[:, cut:], k[:, cut:], v[:, cut:], initial_state=state_head, chunk_size=7
    )
    torch.testing.assert_close(y_tail, y_all[:, cut:])
    assert state_tail is not None
    torch.testing.assert_close(state_tail[0], state_all[0])


@settings(max_examples=20)
@given(shapes, st.data())
def test_prefix_linear_attention_definition(shape, data: st.DataObject) -> None:
    b, t, h, f, d = shape
    seed = data.draw(st.integers(0, 2**31 - 1))
    te = data.draw(st.integers(0, t + 3))
    prefix = torch.tensor(data.draw(st.lists(st.integers(0, te), min_size=b, max_size=b)))
    q, k, v = _rand(seed, b, t, h, f), _rand(seed + 1, b, t, h, f), _rand(seed + 2, b, t, h, d)
    ke, ve = _rand(seed + 3, b, te, h, f), _rand(seed + 4, b, te, h, d)
    y, state = prefix_linear_attention(q, k, v, ke, ve, prefix, impl="reference")
    assert state is not None
    kv, z = state
    # definition, example by example: encoder sum over the first prefix[b] encoder tokens, plus causal
    for i in range(b):
        m = int(prefix[i])
        a_dec = taylor_feature_map(q[i]).transpose(0, 1) @ taylor_feature_map(k[i]).permute(
            1, 2, 0
        )  # [H, T, T]
        a_dec = a_dec * torch.ones(t, t, dtype=torch.bool).tril()
        a_enc = taylor_feature_map(q[i]).transpose(0, 1) @ taylor_feature_map(ke[i, :m]).permute(1, 2, 0)
        num = a_dec @ v[i].transpose(0, 1) + a_enc @ ve[i, :m].transpose(0, 1)
        den = a_dec.sum(-1) + a_enc.sum(-1)
        torch.testing.assert_close(y[i], (num / (den[..., None] + 1e-6)).transpose(0, 1))
    # the decode state after prefill is the encoder state plus the whole causal state
    enc = encoder_state(ke, ve, prefix)
    _, dec = based_quadratic(q, k, v)
    torch.testing.assert_close(kv, enc[0] + dec[0])
    torch.testing.assert_close(z, enc[1] + dec[1])


@settings(max_examples=15)
@given(shapes, st.data())
def test_prefix_reads_only_the_prefix(shape, data: st.DataObject) -> None:
    """Encoder tokens at or beyond prefix_len never change any output; future decoder tokens never
    change the past (the decoder term is causal)."""
    b, t, h, f, d = shape
    seed = data.draw(st.integers(0, 2**31 - 1))
    prefix = torch.tensor(data.draw(st.lists(st.integers(0, t), min_size=b, max_size=b)))
    cut = data.draw(st.integers(0, t - 1))
    q, k, v = _rand(seed, b, t, h, f), _rand(seed + 1, b, t, h, f), _rand(seed + 2, b, t, h, d)
    ke, ve = _rand(seed + 3, b, t, h, f), _rand(seed + 4, b, t, h, d)
    y, _ = prefix_linear_attention(q, k, v, ke, ve, prefix, impl="reference")
    beyond = (torch.arange(t)[None, :] >= prefix[:, None])[:, :, None, None]
    ke2 = torch.where(beyond, _rand(seed + 5, b, t, h, f), ke)
    ve2 = torch.where(beyond, _rand(seed + 6, b, t, h, d), ve)
    k2, v2 = k.clone(), v.clone()
    k2[:, cut + 1 :] = _rand(seed + 7, b, t - cut - 1, h, f)
    v2[:, cut + 1 :] = _rand(seed + 8, b, t - cut - 1, h, d)
    y2, _ = prefix_linear_attention(q, k2, v2, ke2, ve2, prefix, impl="reference")
    torch.testing.assert_close(y2[:, : cut + 1], y[:, : cut + 1])


def test_prefix_zero_is_causal_based_and_prefill_then_decode() -> None:
    b, t, h, f, d = 2, 23, 2, 3, 4
    q, k, v = _rand(0, b, t, h, f), _rand(1, b, t, h, f), _rand(2, b, t, h, d)
    ke, ve = _rand(3, b, t, h, f), _rand(4, b, t, h, d)
    y0, _ = prefix_linear_attention(q, k, v, ke, ve, torch.zeros(b, dtype=torch.long), impl="reference")
    y_based, _ = based_linear_attention(q, k, v, impl="reference")
    torch.testing.assert_close(y0, y_based)
    # prefill on the first 15 tokens, then decode the rest step by step == one pass on all 23
    prefix = torch.tensor([15, 9])
    y_all, _ = prefix_linear_attention(q, k, v, ke, ve, prefix, impl="reference")
    _, prefilled = prefix_linear_attention(q[:, :15], k[:, :15], v[:, :15], ke, ve, prefix, impl="reference")
    assert prefilled is not None
    state = prefilled
    for i in range(15, t):
        y_i, state = based_step(q[:, i], k[:, i], v[:, i], state)
        torch.testing.assert_close(y_i, y_all[:, i])


def test_dispatch_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.zeros(1, 1, 1, 1)
    assert resolve(None, x) == "reference"  # CPU tensors under auto
    with use_impl("triton"):
        assert resolve(None, x) == "triton"
        assert resolve("reference", x) == "reference"  # an explicit argument wins
    monkeypatch.setenv("READTWICE_KERNELS", "reference")
    assert resolve(None, x) == "reference"
    monkeypatch.setenv("READTWICE_KERNELS", "fast")
    with pytest.raises(ValueError, match="READTWICE_KERNELS='fast'"):
        resolve(None, x)
    with pytest.raises(ValueError, match="impl='cuda'"):
        resolve("cuda", x)


def test_reference_rejects_bad_shapes() -> None:
    q = torch.zeros(1, 4, 2, 3)
    with pytest.raises(ValueError, match="v must be"):
        based_linear_attention(q, q, torch.zeros(1, 5, 2, 3), impl="reference")
    with pytest.raises(ValueError, match="prefix_len values must lie in"):
        prefix_linear_attention(q, q, q, q, q, torch.tensor([5]), impl="reference")
    with pytest.raises(ValueError, match="k_enc must be"):
        prefix_linear_attention(q, q, q, torch.zeros(1, 4, 2, 2), q, torch.tensor([1]), impl="reference")


@settings(max_examples=15)
@given(shapes, st.integers(1, 40), st.booleans(), st.booleans(), st.integers(0, 2**31 - 1))
def test_need_state_false_same_outputs(shape, chunk: int, causal: bool, with_init: bool, seed: int) -> None:
    """The training path (no state returned) computes exactly the same outputs."""
    b, t, h, f, d = shape
    q, k, v = _rand(seed, b, t, h, f), _rand(seed + 1, b, t, h, f), _rand(seed + 2, b, t, h, d)
    after_five = based_quadratic(
        _rand(seed + 3, b, 5, h, f), _rand(seed + 4, b, 5, h, f), _rand(seed + 5, b, 5, h, d)
    )[1]
    init = after_five if (with_init and causal) else None
    y, state = based_chunked(q, k, v, causal=causal, initial_state=init, chunk_size=chunk)
    y2, none = based_chunked(q, k, v, causal=causal, initial_state=init, chunk_size=chunk, need_state=False)
    assert none is None and state is not None
    torch.testing.assert_close(y2, y)
    ke, ve = _rand(seed + 6, b, t, h, f), _rand(seed + 7, b, t, h, d)
    prefix = torch.full((b,), t // 2)
    y3, _ = prefix_linear_attention(q, k, v, ke, ve, prefix, impl="reference")
    y4, none = prefix_linear_attention(q, k, v, ke, ve, prefix, impl="reference", need_state=False)
    assert none is None
    torch.testing.assert_close(y4, y3)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_out_of_range_prefix_len_on_gpu_fails_loudly() -> None:
    """On the GPU the prefix_len range is checked by a device-side assertion (no read-back that
    would stall every call): a bad value must still stop the program, never be used."""
    import subprocess
    import sys

    code = (
        "import torch\n"
        "from synthetic.kernels import prefix_linear_attention\n"
        "x = torch.randn(1, 8, 1, 4, device='cuda')\n"
        "v = torch.randn(1, 8, 1, 3, device='cuda')\n"
        "y, _ = prefix_linear_attention(x, x, v, x, v, torch.tensor([9], device='cuda'), impl='triton')\n"
        "torch.cuda.synchronize()\n"
        "print('NOT REACHED')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "NOT REACHED" not in out.stdout
    assert "assert" in out.stderr.lower(), out.stderr[-2000:]


@settings(max_examples=20)
@given(
    st.integers(1, 3), st.integers(1, 9), st.integers(1, 9), st.integers(1, 3), st.integers(1, 5),
    st.integers(1, 6), st.booleans(), st.booleans(), st.integers(0, 2**31 - 1),
)  # fmt: skip
def test_kernel_matrix_read_equals_autograd_of_the_formula(
    b: int, tq: int, tk: int, h: int, f: int, d: int, causal: bool, with_keys: bool, seed: int
) -> None:
    """The hand-written backward of the kernel-matrix part: outputs and every gradient equal
    autograd of the plain formula (float64)."""
    from synthetic.kernels.based.kernel_matrix import kernel_matrix_read
    from synthetic.kernels.feature_map import taylor_kernel

    tk = tq if causal else tk
    g = torch.Generator().manual_seed(seed)
    q, k = (torch.randn(b, t, h, f, generator=g, dtype=torch.float64) for t in (tq, tk))
    v = torch.randn(b, tk, h, d, generator=g, dtype=torch.float64)
    keys = torch.rand(b, tk, generator=g) < 0.7 if with_keys else None
    w_num = torch.randn(b, tq, h, d, generator=g, dtype=torch.float64)
    w_den = torch.randn(b, tq, h, generator=g, dtype=torch.float64)

    def plain(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = taylor_kernel(q, k)  # [B, H, Tq, Tk]
        if causal:
            a = a * torch.ones(tq, tk, dtype=torch.bool).tril()
        if keys is not None:
            a = a * keys[:, None, None, :]
        return torch.einsum("bhij,bjhd->bihd", a, v), a.sum(-1).transpose(1, 2)

    results = []
    for fn in (plain, lambda q, k, v: kernel_matrix_read(q, k, v, causal=causal, keys=keys)):
        leaves = [x.clone().requires_grad_() for x in (q, k, v)]
        num, den = fn(*leaves)
        ((num * w_num).sum() + (den * w_den).sum()).backward()
        results.append([num, den, *(x.grad for x in leaves)])
    for got, want in zip(results[1], results[0], strict=True):
        torch.testing.assert_close(got, want)


@settings(max_examples=25)
@given(
    st.integers(1, 3), st.integers(1, 9), st.integers(0, 9), st.integers(1, 3), st.integers(1, 5),
    st.integers(1, 6), st.integers(0, 9), st.booleans(), st.integers(0, 2**31 - 1),
)  # fmt: skip
def test_kernel_attention_equals_autograd_of_the_formula(
    b: int, tq: int, extra: int, h: int, f: int, d: int, causal_cols: int, with_keys: bool, seed: int
) -> None:
    """The normalised read with its hand-written backward: y = num / (den + eps), the first
    ``causal_cols`` keys causal, the rest read by every query, optional per-example key masks;
    output and every gradient equal autograd of the plain formula (float64)."""
    from synthetic.kernels.based.kernel_matrix import kernel_attention
    from synthetic.kernels.feature_map import taylor_kernel

    causal_cols = min(causal_cols, tq)
    tk = causal_cols + extra if causal_cols else max(extra, 1)
    g = torch.Generator().manual_seed(seed)
    q, k = (torch.randn(b, t, h, f, generator=g, dtype=torch.float64) for t in (tq, tk))
    v = torch.randn(b, tk, h, d, generator=g, dtype=torch.float64)
    keys = torch.rand(b, tk, generator=g) < 0.7 if with_keys else None
    w = torch.randn(b, tq, h, d, generator=g, dtype=torch.float64)
    mask = torch.ones(tq, tk, dtype=torch.float64)
    mask[:, :causal_cols] = torch.ones(tq, causal_cols, dtype=torch.float64).tril()

    def plain(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        a = taylor_kernel(q, k) * mask  # [B, H, Tq, Tk]
        if keys is not None:
            a = a * keys[:, None, None, :]
        num = torch.einsum("bhij,bjhd->bihd", a, v)
        return num / (a.sum(-1).transpose(1, 2).unsqueeze(-1) + 1e-6)

    def fused(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return kernel_attention(q, k, v, causal_cols=causal_cols, keys=keys, eps=1e-6)

    results = []
    for fn in (plain, fused):
        leaves = [x.clone().requires_grad_() for x in (q, k, v)]
        y = fn(*leaves)
        (y * w).sum().backward()
        results.append([y, *(x.grad for x in leaves)])
    for got, want in zip(results[1], results[0], strict=True):
        torch.testing.assert_close(got, want)


def test_kernel_attention_rejects_causal_columns_beyond_the_queries() -> None:
    from synthetic.kernels.based.kernel_matrix import kernel_attention

    q = torch.randn(1, 3, 1, 2)
    k, v = torch.randn(1, 5, 1, 2), torch.randn(1, 5, 1, 4)
    with pytest.raises(ValueError, match=r"causal_cols=4 must be in \[0, min\(Tq, Tk\)\] = \[0, 3\]"):
        kernel_attention(q, k, v, causal_cols=4)
