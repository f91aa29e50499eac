"""The LM: recurrent == parallel, state sizes in both conventions (the paper's Figure-2 numbers),
deterministic init, config errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from synthetic.analysis.readout import final_logits
from synthetic.layers import floating_numel
from synthetic.model import ModelConfig, build_model

from .test_ensemble import MIXERS

# tiny tensors: one intra-op thread per test worker is much faster (and -n 2 uses both cores)
torch.set_num_threads(1)


def figure2_config(d_model: int, f: int, causal: bool = True) -> ModelConfig:
    """The paper's Figure-2 model: 4 layers alternating BaseConv (K=3) / Based (2 heads)."""
    return ModelConfig(
        d_model=d_model,
        n_layers=4,
        pattern=["base_conv", {"kind": "based", "feature_dim": f, "num_heads": 2, "causal": causal}],
    )


# digest §4.3: bytes = 4 * [2 * 3 * d_model + 2 * E_sym * (d_model + 2)]
PAPER_BYTES = {
    (36, 4): 5_424,
    (36, 8): 14_544,
    (36, 16): 47_376,
    (36, 24): 99_664,
    (128, 4): 18_672,
    (128, 8): 49_872,
    (128, 16): 162_192,
    (128, 24): 341_072,
}


@pytest.mark.parametrize(("d_model", "f"), list(PAPER_BYTES))
def test_paper_convention_reproduces_digest_table(d_model: int, f: int) -> None:
    model = build_model(figure2_config(d_model, f), vocab_size=16)
    assert model.state_size_bytes(convention="paper") == PAPER_BYTES[(d_model, f)]
    # causal and non-causal models of the same shape hold the same state
    assert (
        build_model(figure2_config(d_model, f, causal=False), 16).state_size_bytes(convention="paper")
        == (PAPER_BYTES[(d_model, f)])
    )


@settings(max_examples=15)
@given(d_half=st.integers(1, 40), f=st.integers(1, 24))
def test_paper_formula_and_actual_count(d_half: int, f: int) -> None:
    d = 2 * d_half
    model = build_model(figure2_config(d, f), vocab_size=8)
    e_sym = 1 + f + f * (f + 1) // 2
    assert model.state_size_bytes(convention="paper") == 4 * (2 * 3 * d + 2 * e_sym * (d + 2))
    # actual: 2 BaseConv windows of K-1 = 2 inputs, 2 Based states with E = 1 + f + f^2
    e = 1 + f + f * f
    assert model.state_size() == 2 * 2 * d + 2 * 2 * e * (d // 2 + 1)
    assert model.state_size_bytes(torch.bfloat16) == 2 * model.state_size()
    assert sum(floating_numel(s) for s in model.init_state(3)) == 3 * model.state_size()


PATTERNS = [
    ["base_conv", {"kind": "based", "feature_dim": 3}],
    ["base_conv", {"kind": "prefix_linear_attention", "feature_dim": 2}],
    [{"kind": "sliding_window", "window": 3}, {"kind": "attention", "num_heads": 1}],
    [{"kind": "ssm", "d_state": 3}],
]


@pytest.mark.parametrize("pattern", PATTERNS, ids=["based", "jrt_rnn", "attention", "ssm"])
@pytest.mark.parametrize("mlp", [False, True])
@settings(max_examples=8)
@given(seed=st.integers(0, 1000), b=st.integers(1, 3), t=st.integers(1, 9), data=st.data())
def test_model_prefill_then_steps_equal_forward(
    pattern: list, mlp: bool, seed: int, b: int, t: int, data: st.DataObject
) -> None:
    cfg = ModelConfig(d_model=8, n_layers=3, pattern=pattern, mlp=mlp, norm="rmsnorm" if mlp else "layernorm")
    model = build_model(cfg, vocab_size=11, seed=seed).double()
    ids = torch.randint(0, 11, (b, t), generator=torch.Generator().manual_seed(seed))
    m = data.draw(st.integers(1, t))
    prefix = torch.full((b,), m, dtype=torch.int64)
    logits = model(ids, prefix)
    pre, states = model.prefill(ids[:, :m], prefix, seq_len=t)
    outs = [pre]
    for i in range(m, t):
        step_logits, states = model.step(ids[:, i], states)
        outs.append(step_logits.unsqueeze(1))
    torch.testing.assert_close(torch.cat(outs, 1), logits, rtol=1e-9, atol=1e-10)
    assert sum(floating_numel(s) for s in states) == b * model.state_size(t)


def test_causal_model_steps_from_empty_state() -> None:
    model = build_model(
        ModelConfig(d_model=8, n_layers=2, pattern=["base_conv", "based"]), 9, seed=1
    ).double()
    ids = torch.randint(0, 9, (2, 6), generator=torch.Generator().manual_seed(0))
    states = model.init_state(2)
    outs = []
    for i in range(6):
        logit, states = model.step(ids[:, i], states)
        outs.append(logit)
    torch.testing.assert_close(torch.stack(outs, 1), model(ids))
    assert model.causal and not model.uses_prefix


def test_init_is_seeded_and_independent_of_global_rng() -> None:
    cfg = figure2_config(16, 2)
    torch.manual_seed(0)
    a = build_model(cfg, 20, seed=5)
    torch.manual_seed(1)
    b = build_model(cfg, 20, seed=5)
    c = build_model(cfg, 20, seed=6)
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb)
    assert not torch.equal(pa, pc)
    # tied head: the embedding is the only [V, D] parameter
    assert sum(p.shape == (20, 16) for p in a.parameters()) == 1


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValidationError, match=r"pattern\[1\]\.num_heads=3 must divide d_model=16"):
        ModelConfig(d_model=16, pattern=["base_conv", {"kind": "based", "num_heads": 3}])
    with pytest.raises(ValidationError, match="n_layer"):
        ModelConfig(d_model=16, pattern=["based"], n_layer=2)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="pattern"):
        ModelConfig(d_model=16, pattern=[])
    with pytest.raises(ValueError, match="unknown mixer kind 'mamba'"):
        ModelConfig(d_model=16, pattern=["mamba"])
    model = build_model(figure2_config(8, 2), 10)
    with pytest.raises(ValueError, match="convention='zoology'"):
        model.state_size(convention="zoology")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="paper convention counts fp32"):
        model.state_size_bytes(torch.bfloat16, convention="paper")
    with pytest.raises(TypeError, match="input_ids must be an integer tensor"):
        model(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="vocab_size=1"):
        build_model(figure2_config(8, 2), 1)


@settings(max_examples=12, deadline=None)
@given(
    mixer=st.sampled_from(
        ["attention", "based", "based_noncausal", "prefix_linear_attention", "sliding_window", "ssm"]
    ),
    b=st.integers(1, 3),
    t=st.integers(1, 9),
    q=st.integers(1, 3),
    data=st.data(),
)
def test_logits_at_some_positions_equal_the_full_forward_there(
    mixer: str, b: int, t: int, q: int, data: st.DataObject
) -> None:
    """logits_at (the last block and the head at Q positions only) = forward's logits there; and
    the analysis' final_logits, which uses it, = forward's last column."""
    model = build_model(
        ModelConfig(d_model=8, n_layers=2, pattern=["base_conv", MIXERS[mixer]]), 11, seed=1
    ).eval()
    ids = torch.tensor(
        data.draw(st.lists(st.lists(st.integers(0, 10), min_size=t, max_size=t), min_size=b, max_size=b))
    )
    prefix = torch.tensor(data.draw(st.lists(st.integers(0, t), min_size=b, max_size=b)))
    cols = torch.tensor(
        data.draw(st.lists(st.lists(st.integers(0, t - 1), min_size=q, max_size=q), min_size=b, max_size=b))
    )
    with torch.no_grad():
        full = model(ids, prefix)
        some = model.logits_at(ids, prefix, cols)
    torch.testing.assert_close(some, torch.gather(full, 1, cols[..., None].expand(-1, -1, full.shape[-1])))
    last = final_logits(model, ids.numpy(), prefix.numpy())
    np.testing.assert_allclose(last, full[:, -1].double().numpy(), rtol=1e-5, atol=1e-6)


def test_logits_at_refuses_bad_shapes() -> None:
    model = build_model(figure2_config(8, 2), 11)
    with pytest.raises(
        ValueError, match=r"input_ids must be \[B, T\] and cols \[B, Q\]; got \(2, 3\) and \(3, 1\)"
    ):
        model.logits_at(torch.zeros(2, 3, dtype=torch.long), None, torch.zeros(3, 1, dtype=torch.long))
