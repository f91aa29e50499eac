"""The seen-before probe: a model whose response to the next token shows whether that token is in
A reads at AUC ~1; a model whose state holds A but whose response to a token does not reach it
reads at chance (where the state probe reads A exactly); the shared ridge and the errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from synthetic.analysis import first_set_bits, one_pass_bound_bits, probe_first_set
from synthetic.analysis.seen_before import fit_shared_ridge, seen_before_probe, step_responses
from synthetic.layers import Based
from synthetic.layers.base_conv import BaseConv
from synthetic.model import LanguageModel, ModelConfig, build_model
from synthetic.tasks import DataConfig, build_split
from synthetic.tasks.data import SplitData

VOCAB = 16  # 12 set tokens


def _split(sizes: tuple[tuple[int, int], ...] = ((3, 5), (5, 3)), n: int = 120) -> SplitData:
    segments = [{"size_a": a, "size_b": b, "num_examples": n} for a, b in sizes]
    cfg = DataConfig(task="sd", vocab_size=VOCAB, seed=3, train_segments=segments, test_segments=segments)
    return build_split(cfg, "test")


def _window_model() -> LanguageModel:
    """One BaseConv layer, d_model = V, one-hot embedding, identity projection, 8 taps of 1: its
    window after the separator holds every token of A (|A| <= 5), and its output at the next token
    x is (x's projection) * (the window's sum): coordinate x carries whether x was read."""
    cfg = ModelConfig(d_model=VOCAB, n_layers=1, pattern=[{"kind": "base_conv", "kernel_size": 8}])
    model = build_model(cfg, VOCAB, seed=0)
    with torch.no_grad():
        model.embedding.weight.copy_(torch.eye(VOCAB))
        mixer = model.mixers[0]
        assert isinstance(mixer, BaseConv)
        mixer.projection.weight.copy_(torch.eye(VOCAB))
        mixer.projection.bias.zero_()
        mixer.filter.fill_(1.0)
        mixer.conv_bias.zero_()
    return model


def _bag_model() -> LanguageModel:
    """One Based layer (one head, F = 1) whose kv state is the sum of the tokens read (k = 0, v the
    normed embedding), but whose read of a token x is that same average for every x: the response
    to x is x's embedding plus a vector of the example, never their interaction."""
    cfg = ModelConfig(
        d_model=VOCAB, n_layers=1, pattern=[{"kind": "based", "num_heads": 1, "feature_dim": 1}]
    )
    model = build_model(cfg, VOCAB, seed=0)
    with torch.no_grad():
        model.embedding.weight.copy_(torch.eye(VOCAB))
        mixer = model.mixers[0]
        assert isinstance(mixer, Based)
        mixer.proj_k.weight.zero_()
        mixer.proj_v.weight.copy_(torch.eye(VOCAB))
    return model


def test_a_response_that_shows_membership_is_read() -> None:
    table = seen_before_probe(_window_model(), _split()).set_index("slice")
    for name, a, b in (("A=3,B=5", 3, 5), ("A=5,B=3", 5, 3)):
        row = table.loc[name]
        assert row["auc"] > 0.99 and row["recall"] > 0.95, row
        assert row["first_set_bits"] == pytest.approx(first_set_bits(12, a))
        assert (
            row["bound_bits"] == one_pass_bound_bits(12, a, b)
            and row["info_bits"] > 0.8 * row["first_set_bits"]
        )
        assert (row["n_fit"], row["n_eval"], row["values"], row["column"]) == (60, 60, VOCAB, a + 1)


def test_a_state_that_holds_a_but_a_read_that_does_not_reach_it_is_chance() -> None:
    model, data = _bag_model(), _split()
    seen = seen_before_probe(model, data)
    assert (abs(seen["auc"] - 0.5) < 0.1).all() and (seen["info_bits"] < 1.0).all(), seen
    state = probe_first_set(model, data, points=("separator",))
    assert (state[state["component"] == "kv"]["auc"] == 1.0).all()  # the state itself holds A


def test_responses_are_the_steps_of_the_model() -> None:
    """Each response is what step_hidden gives for that row's prompt and that token alone."""
    cfg = ModelConfig(d_model=8, n_layers=2, pattern=["base_conv", {"kind": "based", "feature_dim": 2}])
    model = build_model(cfg, VOCAB, seed=4).eval()
    seg = _split(n=3).segments[0]
    tokens = np.array([4, 9, 15])
    got = step_responses(model, seg.inputs, seg.prefix_len, 5, tokens)
    assert got.shape == (3, 3, 8)
    with torch.no_grad():
        for row in range(3):
            _, states = model.prefill(torch.tensor(seg.inputs[row : row + 1, :5]))
            for j, tok in enumerate(tokens):
                h, _ = model.step_hidden(torch.tensor([tok]), states)
                np.testing.assert_allclose(got[row, j], h[0].numpy(), rtol=1e-5, atol=1e-6)
                logits, _ = model.step(torch.tensor([tok]), states)
                torch.testing.assert_close(logits, model._head(h))


def test_candidates_read_in_chunks_give_the_same_responses(monkeypatch: pytest.MonkeyPatch) -> None:
    from synthetic.analysis import seen_before

    cfg = ModelConfig(d_model=8, n_layers=2, pattern=["base_conv", {"kind": "based", "feature_dim": 2}])
    model = build_model(cfg, VOCAB, seed=5).eval()
    seg = _split(n=4).segments[1]
    tokens = np.arange(4, 16)
    whole = step_responses(model, seg.inputs, seg.prefix_len, 7, tokens)
    monkeypatch.setattr(seen_before, "CANDIDATES_PER_STEP", 5)  # chunks of 5, 5 and 2
    np.testing.assert_allclose(
        step_responses(model, seg.inputs, seg.prefix_len, 7, tokens), whole, rtol=1e-6, atol=1e-7
    )
    monkeypatch.setattr(seen_before, "CANDIDATES_PER_STEP", None)
    monkeypatch.setitem(seen_before.STEP_STATE_BYTES, "cpu", 1)  # the budget's floor: one a step
    np.testing.assert_allclose(
        step_responses(model, seg.inputs, seg.prefix_len, 7, tokens), whole, rtol=1e-6, atol=1e-7
    )


def test_a_step_reads_as_many_candidates_as_the_budget_allows(monkeypatch: pytest.MonkeyPatch) -> None:
    from synthetic.analysis import seen_before

    based = {"kind": "based", "feature_dim": 2, "num_heads": 1}
    cfg = ModelConfig(d_model=8, n_layers=2, pattern=[{"kind": "base_conv", "kernel_size": 3}, based])
    model = build_model(cfg, VOCAB, seed=5).eval()
    _, states = model.prefill(torch.tensor(_split(n=3).segments[0].inputs[:, :4]))
    each = model.step_each_bytes([type(s)(*(t[:1] for t in s)) for s in states])
    # the conv's default (2 x its window of 2 x 8 fp32) + Based's (E = 7, one head of Dh 8) + 8 x D
    assert each == 2 * 2 * 8 * 4 + 4 * (3 * 7 + 5 * 8) + 8 * 8 * 4
    monkeypatch.setitem(seen_before.STEP_STATE_BYTES, "cpu", 10 * each + each // 2)
    assert seen_before._candidates_per_step(model, states, torch.device("cpu")) == 10
    monkeypatch.setattr(seen_before, "CANDIDATES_PER_STEP", 4)
    assert seen_before._candidates_per_step(model, states, torch.device("cpu")) == 4
    monkeypatch.setitem(seen_before.STEP_STATE_BYTES, "cpu", 1)
    assert seen_before._candidates_per_step(model, states, torch.device("cpu")) == 1


def test_the_steps_cover_every_pair_once_within_the_budget() -> None:
    """Exhaustive over small sizes: every (example, candidate) pair in exactly one step, no step
    over the budget, whole rows of candidates whenever a row fits."""
    from synthetic.analysis.seen_before import _steps

    for examples in range(1, 7):
        for count in range(1, 7):
            for fits in range(1, 15):
                steps = _steps(examples, count, fits)
                seen = np.zeros((examples, count), dtype=int)
                for r0, r1, c0, c1 in steps:
                    assert 0 <= r0 < r1 <= examples and 0 <= c0 < c1 <= count
                    assert (r1 - r0) * (c1 - c0) <= fits
                    assert count > fits or (c0, c1) == (0, count)
                    seen[r0:r1, c0:c1] += 1
                assert (seen == 1).all()


@given(st.integers(1, 6), st.integers(0, 2**32 - 1))
def test_the_shared_ridge_fits_a_linear_target(d: int, seed: int) -> None:
    """With many rows a feature, targets that are an affine map of the features are fitted to
    within the ridge's small shrinkage, constant columns included."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(400, d)) * rng.uniform(0.1, 10, size=d)
    x[:, 0] = 3.0  # a constant column is left out
    beta = rng.normal(size=d)
    y = x @ beta + 1.5
    w_tensor, _ = fit_shared_ridge(x, y, ridge=1e-9)
    w = w_tensor.numpy()
    np.testing.assert_allclose(x @ w[:-1] + w[-1], y, rtol=1e-5, atol=1e-5 * np.abs(y).max())


def test_seen_before_errors_name_what_is_wrong() -> None:
    model, data = _window_model(), _split(n=8)
    with pytest.raises(ValueError, match=r"fit_fraction=0.0 must be in \(0, 1\)"):
        seen_before_probe(model, data, fit_fraction=0.0)
    with pytest.raises(ValueError, match=r"max_examples=1 must be >= 3"):
        seen_before_probe(model, data, max_examples=1)
    with pytest.raises(TypeError, match=r"model must be a synthetic.model.LanguageModel"):
        seen_before_probe(torch.nn.Linear(2, 2), data)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"upto=99 is beyond the input's T="):
        step_responses(model, data.segments[0].inputs, data.segments[0].prefix_len, 99, np.array([4]))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_probe_on_a_gpu_model_gives_the_cpu_table() -> None:
    """A model on CUDA (as the paper sweep analyses it) gives the same table as on the CPU, up to
    float rounding in the responses."""
    cfg = ModelConfig(d_model=8, n_layers=2, pattern=["base_conv", {"kind": "based", "feature_dim": 2}])
    model, data = build_model(cfg, VOCAB, seed=4), _split(n=40)
    cpu = seen_before_probe(model, data)
    gpu = seen_before_probe(model.cuda(), data)
    assert list(gpu.slice) == list(cpu.slice) and (gpu.n_fit == cpu.n_fit).all()
    np.testing.assert_allclose(gpu.auc, cpu.auc, atol=0.02)
