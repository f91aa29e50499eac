"""The analysis of each trained model kept in its record (train.Keep(analysis=...); the sweep's
``analysis`` profile field and ``run --analysis``): what it stores, for which tasks, and that a
failing analysis leaves the run a result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthetic import train as train_module
from synthetic.__main__ import main
from synthetic.analysis.record import RECORD_VERSION
from synthetic.results import ResultsStore, results_path
from synthetic.sweep import expand, load_experiment, run_sweep
from synthetic.train import Keep, ensemble_outputs


def _smoke(experiment: str = "sd_order", variant: str = "Based (causal)") -> list:
    return [c for c in expand(load_experiment(experiment), "smoke") if c.variant == variant]


@pytest.mark.parametrize("analysis", ["intervention", "full"])
def test_an_analysed_run_keeps_the_numbers_in_its_record(analysis: str) -> None:
    (out,) = ensemble_outputs(_smoke(), keep=Keep(analysis=analysis))
    rec = out.record
    assert rec["status"] == "ok" and out.weights is None and "model_file" not in rec
    mech = rec["mechanism"]
    assert mech is not None and mech["version"] == RECORD_VERSION
    json.dumps(mech, allow_nan=False)  # plain JSON, as the store writes it
    assert {r["order"] for r in mech["intervention_by_order"]} == {"short-first", "long-first"}
    assert {r["matching"] for r in mech["matched"]} == {"column", "index"}
    assert {r["matching"] for r in mech["placed"]} == {"column", "index"}
    for placed in mech["placed"]:  # the same model and test split, as generated
        assert placed["accuracy_short"] - placed["accuracy_long"] == pytest.approx(placed["difference"])
    assert bool(mech["probes"]) == (analysis == "full")
    accuracy = {r["slice"]: r["accuracy"] for r in mech["intervention_by_slice"]}
    assert accuracy == pytest.approx(rec["slice_accuracy"])  # the same model, the same test split


def test_no_analysis_and_non_sd_tasks_store_no_mechanism() -> None:
    (plain,) = ensemble_outputs(_smoke())
    assert "mechanism" not in plain.record
    mqar = [c for c in expand(load_experiment("mqar_order"), "smoke")][:1]
    (out,) = ensemble_outputs(mqar, keep=Keep(analysis="intervention"))
    assert out.record["status"] == "ok" and "mechanism" not in out.record


def test_a_failing_analysis_leaves_the_run_a_result(monkeypatch: pytest.MonkeyPatch) -> None:
    import synthetic.analysis.record as analysis_record

    def broken(*args: object, **kwargs: object) -> dict:
        raise RuntimeError("probe exploded")

    monkeypatch.setattr(analysis_record, "mechanism_record", broken)
    (out,) = ensemble_outputs(_smoke(), keep=Keep(analysis="intervention"))
    assert out.record["status"] == "ok"
    assert out.record["mechanism"] == {"version": RECORD_VERSION, "error": "RuntimeError: probe exploded"}


def test_keep_refuses_what_it_does_not_know() -> None:
    with pytest.raises(ValueError, match="analysis='probes'; allowed: none, intervention, checking, full"):
        Keep(analysis="probes")
    with pytest.raises(TypeError, match=r"weights=1 must be True, False or 'checking'"):
        Keep(weights=1)  # type: ignore[arg-type]
    assert not Keep().models and Keep(weights=True).models and Keep(analysis="full").models
    assert train_module.ANALYSES == ("none", "intervention", "checking", "full")


def test_the_sweep_and_the_command_line_pass_the_analysis_on(tmp_path: Path) -> None:
    only = lambda c: c.variant == "Based (causal)"  # noqa: E731
    run_sweep(
        "sd_order", "smoke", results_dir=tmp_path / "a", progress=False, only=only, analysis="intervention"
    )
    (rec,) = ResultsStore(results_path(tmp_path / "a", "sd_order", "smoke")).records()
    mech = rec["mechanism"]
    assert mech is not None and mech["matched"]
    code = main(["run", "sd_order", "--profile", "smoke", "--results", str(tmp_path / "b"), "--quiet",
                 "--analysis", "intervention"])  # fmt: skip
    assert code == 0
    records = ResultsStore(results_path(tmp_path / "b", "sd_order", "smoke")).records()
    assert records and all("mechanism" in r for r in records)
    # READTWICE_ANALYSIS_TOKENS unset: batches of examples, and the record says so
    assert all((r.get("mechanism") or {}).get("batch_tokens", "missing") is None for r in records)


def test_a_bad_token_budget_stops_the_sweep_before_it_trains(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """READTWICE_ANALYSIS_TOKENS that is not an integer >= 1: the sweep (and `run`, exit 2) refuses
    at once, before any run trains and loses its analysis; without an analysis it is not read."""
    monkeypatch.setenv("READTWICE_ANALYSIS_TOKENS", "512k")
    only = lambda c: c.variant == "Based (causal)"  # noqa: E731
    with pytest.raises(ValueError, match="READTWICE_ANALYSIS_TOKENS='512k' must be an integer >= 1"):
        run_sweep(
            "sd_order", "smoke", results_dir=tmp_path, progress=False, only=only, analysis="intervention"
        )
    assert not results_path(tmp_path, "sd_order", "smoke").exists()
    code = main(["run", "sd_order", "--profile", "smoke", "--results", str(tmp_path), "--quiet",
                 "--analysis", "intervention"])  # fmt: skip
    assert code == 2
    done = run_sweep("sd_order", "smoke", results_dir=tmp_path, progress=False, only=only, analysis="none")
    assert done.ok == 1


@pytest.mark.parametrize("checks", [False, True])
def test_the_checking_analysis_probes_only_the_models_that_check(
    monkeypatch: pytest.MonkeyPatch, checks: bool
) -> None:
    from synthetic.analysis import record as analysis_record

    seen: list[set[str]] = []

    def decide(by_order: object, threshold: float = 2.0) -> bool:
        seen.append(set(by_order.order))  # type: ignore[attr-defined]
        return checks

    monkeypatch.setattr(analysis_record, "checks_membership", decide)
    (out,) = ensemble_outputs(_smoke(), keep=Keep(analysis="checking"))
    mech = out.record["mechanism"]
    assert mech is not None
    assert bool(mech["probes"]) == checks and bool(mech["seen_before"]) == checks
    assert {r["point"] for r in mech["probes"]} <= {"separator"}  # the state after the first set
    assert all(r["n_fit"] + r["n_eval"] <= 256 for r in mech["seen_before"])
    assert all(r["n_fit"] + r["n_eval"] <= 256 for r in mech["probes"])
    assert mech["probe_rule"] == "checking (interaction > 2 logits in both orders)"
    assert seen and {"short-first", "long-first"} <= seen[0]


@pytest.mark.parametrize("checks", [False, True])
def test_checking_weights_are_kept_for_the_models_that_check(
    monkeypatch: pytest.MonkeyPatch, checks: bool
) -> None:
    """weights='checking' keeps a run's weights exactly when its analysis finds that it checks
    (and asks the same rule the probes ask); a run without an analysis cannot be judged."""
    from synthetic.analysis import intervention
    from synthetic.analysis import record as analysis_record

    monkeypatch.setattr(analysis_record, "checks_membership", lambda by_order, threshold=2.0: checks)
    monkeypatch.setattr(intervention, "checks_membership", lambda by_order, threshold=2.0: checks)
    (out,) = ensemble_outputs(_smoke(), keep=Keep(weights="checking", analysis="checking"))
    assert (out.weights is not None) == checks
    assert ("model_file" in out.record) == checks
    mech = out.record["mechanism"]
    assert mech is not None and bool(mech["probes"]) == checks
    with pytest.raises(ValueError, match=r"weights='checking' keeps .* analysis must be intervention"):
        Keep(weights="checking")
    with pytest.raises(TypeError, match=r"weights='sometimes' must be True, False or 'checking'"):
        Keep(weights="sometimes", analysis="full")
    assert not Keep(weights="checking", analysis="full").keeps_weights({"version": 5, "error": "boom"})


def test_mechanism_record_names_its_probe_rule() -> None:
    from synthetic.analysis.record import mechanism_record
    from synthetic.ensemble import load_splits
    from synthetic.train import train_ensemble

    cfg = _smoke()[0]
    (outcome,) = train_ensemble([cfg], keep_models=True)
    model = outcome.model
    assert model is not None
    _, test = load_splits(cfg.data)
    for probes, rule in ((True, "always"), (False, "never"), ("always", "always"), ("never", "never")):
        record = mechanism_record(model, test, probes=probes, probe_examples=16)
        assert record["probe_rule"] == rule
        # the seconds of each part that ran, in order; the probes' parts only where they ran
        parts = ["intervention", "matched", "placed", "copy_rank", "b_places"]
        if rule == "always":
            parts += ["probes", "seen_before", "first_set_read"]
        assert list(record["seconds"]) == parts
        assert all(isinstance(s, float) and s >= 0 for s in record["seconds"].values())
    with pytest.raises(
        ValueError, match="probes='sometimes'; allowed: True, False, 'always', 'never', 'checking'"
    ):
        mechanism_record(model, test, probes="sometimes")


def test_failing_probes_keep_the_rest_of_the_analysis(monkeypatch: pytest.MonkeyPatch) -> None:
    from synthetic.analysis import record as analysis_record

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("no state here")

    monkeypatch.setattr(analysis_record, "probe_first_set", broken)
    (out,) = ensemble_outputs(_smoke(), keep=Keep(analysis="full"))
    mech = out.record["mechanism"]
    assert mech is not None and "error" not in mech
    assert mech["probes"] == [] and mech["probe_error"] == "RuntimeError: no state here"
    assert mech["seen_before"] and "seen_before_error" not in mech  # the other probe still ran
    assert mech["first_set_read"] and "first_set_read_error" not in mech
    assert {r["order"] for r in mech["intervention_by_order"]} == {"short-first", "long-first"}
    assert mech["placed"] and mech["matched"]


def test_a_failing_first_set_read_keeps_the_probes(monkeypatch: pytest.MonkeyPatch) -> None:
    from synthetic.analysis import record as analysis_record

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("no recurrent form")

    monkeypatch.setattr(analysis_record, "first_set_read_table", broken)
    (out,) = ensemble_outputs(_smoke(), keep=Keep(analysis="full"))
    mech = out.record["mechanism"]
    assert mech is not None and "error" not in mech
    assert mech["first_set_read"] == [] and mech["first_set_read_error"] == "RuntimeError: no recurrent form"
    assert mech["probes"] and mech["seen_before"]
