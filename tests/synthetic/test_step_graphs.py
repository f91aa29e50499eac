"""The training step as CUDA graphs (synthetic.step_graphs): the mode switch, and on a GPU the
same training as eager steps; the step's forward through torch.compile (READTWICE_COMPILE) trains
as the eager one, on the CPU and (gpu-marked) inside the graphs."""

from __future__ import annotations

import gc
import warnings
from typing import Any

import pytest
import torch

from synthetic.ensemble import Outcome, train_ensemble
from synthetic.members import LabelPositions
from synthetic.record import metrics_of
from synthetic.step_graphs import (
    COMPILE_ENV,
    MODE_ENV,
    StepGraphs,
    compile_mode,
    compiled,
    train_step_mode,
)
from tests.synthetic.test_ensemble import MIXERS, cfg, in_order

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_mode_defaults_to_graphs_on_cuda_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MODE_ENV, raising=False)
    assert train_step_mode(torch.device("cpu")) == "eager"
    assert train_step_mode(torch.device("cuda", 0)) == "graph"
    monkeypatch.setenv(MODE_ENV, "eager")
    assert train_step_mode(torch.device("cuda", 0)) == "eager"


def test_bad_modes_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MODE_ENV, "graphs")
    with pytest.raises(ValueError, match=rf"{MODE_ENV}='graphs'.*auto, graph, eager"):
        train_step_mode(torch.device("cpu"))
    monkeypatch.setenv(MODE_ENV, "graph")
    with pytest.raises(ValueError, match=r"needs a CUDA device.*cpu"):
        train_step_mode(torch.device("cpu"))
    with pytest.raises(ValueError, match="CUDA device"):
        StepGraphs(lambda *a: torch.zeros(1), torch.device("cpu"))


def test_compile_is_off_by_default_and_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(COMPILE_ENV, raising=False)
    assert compile_mode() == "off"
    for value, mode in (("0", "off"), ("1", "static"), ("dynamic", "dynamic"), ("auto", "auto")):
        monkeypatch.setenv(COMPILE_ENV, value)
        assert compile_mode() == mode
    monkeypatch.setenv(COMPILE_ENV, "yes")
    with pytest.raises(ValueError, match=rf"{COMPILE_ENV}='yes'.*0, 1, dynamic or auto"):
        compile_mode()
    with pytest.raises(ValueError, match="compile mode 'off'"):
        compiled(lambda x: x, "off")


def test_a_step_that_fails_to_compile_trains_eagerly_with_one_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What Inductor raised on the CPU for ``dynamic`` (an undecidable symbolic stride): the step
    runs eagerly from that call on, and one warning names the error."""
    attempts: list[int] = []

    class InductorFailed(torch._dynamo.exc.TorchDynamoException):
        """Stands for InductorError / BackendCompilerFailed (their arguments differ by version)."""

    def failing_compile(fn: Any, dynamic: bool | None) -> Any:
        def run(*args: Any) -> Any:
            attempts.append(1)
            raise InductorFailed("TypeError: cannot determine truth value of Relational")

        return run

    monkeypatch.setattr(torch, "compile", failing_compile)
    step = compiled(lambda x: x * 2, "auto")
    with pytest.warns(RuntimeWarning, match=r"READTWICE_COMPILE=auto: compiling the training step failed "
                      r"\(InductorFailed: .*cannot determine truth value"):  # fmt: skip
        assert step(torch.ones(2)).tolist() == [2.0, 2.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert step(torch.ones(3)).tolist() == [2.0, 2.0, 2.0]
    assert len(attempts) == 1


def _train(
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    precision: str,
    mixer: str,
    *,
    compile_step: str = "0",
    device: str = "cuda",
    epochs: int = 6,
) -> list[Outcome]:
    monkeypatch.setenv(MODE_ENV, mode)
    monkeypatch.setenv(COMPILE_ENV, compile_step)
    train: dict[str, Any] = {"device": device, "precision": precision, "epochs": epochs}
    cfgs = [
        cfg(mixer, seed=0, **train),
        cfg(mixer, seed=1, **train, lr=1e-2, early_stop_accuracy=1e-9),
        cfg(mixer, seed=2, **train, lr=5e-3),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a failed capture warns: fail the test
        return in_order(train_ensemble(cfgs, keep_models=True))


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("mixer", sorted(MIXERS))
def test_graphed_steps_train_as_eager_steps(
    monkeypatch: pytest.MonkeyPatch, precision: str, mixer: str
) -> None:
    """Every mixer; four batch shapes, 6 epochs (well past the warm-up of each shape), one member leaving at
    the first evaluation (the graphs are captured again for the two left): the same histories
    and weights as eager steps, up to rounding."""
    eager = _train(monkeypatch, "eager", precision, mixer)
    graphed = _train(monkeypatch, "graph", precision, mixer)
    _assert_same_training(eager, graphed, precision)


def _assert_same_training(eager: list[Outcome], graphed: list[Outcome], precision: str) -> None:
    """The same steps, histories and weights up to rounding (fp32: 1e-4; bf16: 3e-2)."""
    rtol, atol = (1e-4, 1e-5) if precision == "fp32" else (3e-2, 3e-2)
    # member 1 leaves at the first evaluation (step 3), so the others' graphs are captured anew
    assert [metrics_of(o.metrics)["steps"] for o in (eager[1], graphed[1]) if o.metrics] == [3, 3]
    for e, g in zip(eager, graphed, strict=True):
        assert e.error is None and g.error is None
        assert e.metrics is not None and g.metrics is not None
        assert e.model is not None and g.model is not None
        me, mg = metrics_of(e.metrics), metrics_of(g.metrics)
        assert me["steps"] == mg["steps"] and me["train_tokens"] == mg["train_tokens"]
        for he, hg in zip(me["history"], mg["history"], strict=True):
            assert hg["train_loss"] == pytest.approx(he["train_loss"], rel=rtol, abs=atol)
            assert hg["test_loss"] == pytest.approx(he["test_loss"], rel=rtol, abs=atol)
        for (name, pe), (_, pg) in zip(e.model.named_parameters(), g.model.named_parameters(), strict=True):
            torch.testing.assert_close(pg.detach(), pe.detach(), rtol=rtol, atol=atol, msg=name)


def test_compiled_step_trains_as_eager_step_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """One mixer, two batch shapes, one member leaving at step 3 (a recompile for the two left):
    the same histories and weights as the eager forward, up to fp32 rounding. Static shapes only
    (about 80 s with a cold Inductor cache on 2 cores; ``dynamic`` took 210 s, so it is tested on
    the GPU only, where it is meant to run)."""
    compile_step = "1"
    torch._dynamo.reset()
    eager = _train(monkeypatch, "eager", "fp32", "based", device="cpu", epochs=1)
    compiled = _train(
        monkeypatch, "eager", "fp32", "based", device="cpu", epochs=1, compile_step=compile_step
    )
    _assert_same_training(eager, compiled, "fp32")


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize("compile_step", ["1", "dynamic"])
@pytest.mark.parametrize("mixer", sorted(MIXERS))
def test_compiled_graphed_steps_train_as_eager_steps(
    monkeypatch: pytest.MonkeyPatch, mixer: str, compile_step: str
) -> None:
    """Every mixer in bf16: graphs of the compiled forward train as eager steps (6 epochs, four
    batch shapes, a member leaving at step 3), up to bf16 rounding."""
    torch._dynamo.reset()
    eager = _train(monkeypatch, "eager", "bf16", mixer)
    compiled = _train(monkeypatch, "graph", "bf16", mixer, compile_step=compile_step)
    _assert_same_training(eager, compiled, "bf16")


@pytest.mark.gpu
@cuda
def test_a_dead_graph_is_not_freed_during_a_capture() -> None:
    """A CUDA graph that only the cyclic collector can free (an earlier ensemble's, held through
    its bound step body) must not be freed while StepGraphs records: with a collection due at
    every allocation, the capture still succeeds and replays."""
    device = torch.device("cuda")
    x = torch.arange(4, dtype=torch.float32, device=device)
    old = torch.cuda.CUDAGraph()
    with torch.cuda.graph(old):
        doubled = x * 2
    cycle: list[object] = [old, doubled]
    cycle.append(cycle)
    del old, doubled, cycle  # now garbage that only the cyclic collector frees

    def body(inputs: torch.Tensor, prefix_len: torch.Tensor, where: LabelPositions) -> torch.Tensor:
        allocations = [[i] for i in range(1000)]  # each may start a collection at threshold 1
        return (inputs.float().sum() + prefix_len.sum() + len(allocations) + x.sum()).reshape(1)

    labels = torch.full((2, 3), -100, dtype=torch.long)
    labels[:, -1] = 1
    where = LabelPositions.of([labels])
    inputs, prefix_len = torch.ones(2, 3, dtype=torch.long), torch.zeros(2, dtype=torch.long)
    graphs = StepGraphs(body, device, warmup_steps=1)
    threshold = gc.get_threshold()
    gc.set_threshold(1, 1, 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # a failed capture warns: fail the test
            losses = [graphs(inputs, prefix_len, where) for _ in range(3)]
    finally:
        gc.set_threshold(*threshold)
    assert len(graphs.graphs) == 1
    assert [v.item() for v in losses] == [6 + 1000 + 6] * 3
