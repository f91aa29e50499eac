"""The sd_order profiles of issue 22 (``mechanism``, ``anticount``): what they train, and a smoke
check that a trained model of each variant goes through the analysis into a JSON-able record."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from synthetic.analysis.first_set_read import WAYS
from synthetic.analysis.record import RECORD_VERSION, mechanism_record
from synthetic.ensemble import load_splits, train_ensemble
from synthetic.sweep import expand, load_experiment

VARIANTS = {"Based (causal)", "Based (non-causal)", "JRT-Prompt", "JRT-RNN"}


@pytest.mark.parametrize(("profile", "task"), [("mechanism", "sd"), ("anticount", "sd_distractor")])
def test_profiles_cover_both_inits_widths_and_eight_seeds(profile: str, task: str) -> None:
    exp = load_experiment("sd_order")
    runs = expand(exp, profile)
    assert {r.data.task.kind for r in runs} == {task}
    points = Counter((r.variant, r.model.d_model, r.model.init) for r in runs)
    assert set(points) == {(v, d, i) for v in VARIANTS for d in (32, 64) for i in ("reference", "torch")}
    assert set(points.values()) == {8} and len(runs) == 128
    quick = expand(exp, "quick")[0]
    # the quick profile's data, budget and learning rate
    assert runs[0].data.train_segments == quick.data.train_segments
    assert runs[0].data.test_segments == quick.data.test_segments
    assert runs[0].train == quick.train


def test_smoke_profile_trains_and_every_variant_is_analysed() -> None:
    """anticount_smoke: seconds of training per variant, then the analysis reads each model."""
    for cfg in expand(load_experiment("sd_order"), "anticount_smoke"):
        (outcome,) = train_ensemble([cfg], keep_models=True)
        assert outcome.error is None and outcome.model is not None
        _, test = load_splits(cfg.data)
        record = mechanism_record(outcome.model, test, probe_examples=32)
        json.dumps(record, allow_nan=False)  # plain JSON, as a run record stores it
        assert record["version"] == RECORD_VERSION
        assert [r["slice"] for r in record["intervention_by_slice"]] == ["A=3,B=6", "A=6,B=3"]
        assert {r["order"] for r in record["intervention_by_order"]} == {"short-first", "long-first"}
        assert [(r["short"], r["long"], r["matching"]) for r in record["placed"]] == [
            (3, 6, "column"),
            (3, 6, "index"),
        ]
        assert {(r["slice"], r["point"]) for r in record["probes"]} == {
            (s, p) for s in ("A=3,B=6", "A=6,B=3") for p in ("separator", "end")
        }
        assert [r["slice"] for r in record["seen_before"]] == ["A=3,B=6", "A=6,B=3"]
        by_position = record["by_position"]
        for name in ("A=3,B=6", "A=6,B=3"):  # each set's parts hold every example of the slice once
            n = next(r["n"] for r in record["intervention_by_slice"] if r["slice"] == name)
            for which in ("A", "B"):
                assert sum(r["n"] for r in by_position if r["slice"] == name and r["set"] == which) == n
        accuracy = {r["slice"]: r["accuracy"] for r in record["intervention_by_slice"]}
        assert accuracy == pytest.approx(
            outcome.metrics.final.evaluation.slice_accuracy if outcome.metrics else {}
        )
        # version 9: the copy's rank and the places of B, every model; their accuracy is the same
        assert {r["slice"]: r["accuracy"] for r in record["copy_rank"]} == pytest.approx(accuracy)
        places = record["b_places"]
        if cfg.variant == "JRT-Prompt":  # two passes: no single B to profile
            assert places == []
        else:
            separators = ("as trained", "hidden from the convolutions")
            assert {r["separator"] for r in places} == set(separators)
            trained = [r for r in places if r["separator"] == separators[0]]
            assert {r["slice"]: r["accuracy"] for r in trained} == pytest.approx(accuracy)
            for name in ("A=3,B=6", "A=6,B=3"):  # the zones' answers and the right ones are disjoint
                assert sum(r["answers"] for r in trained if r["slice"] == name) + accuracy[name] <= 1 + 1e-9
        # the first-set read: causal linear attention only, on both orders' slices; its answers
        # as trained are the evaluation's
        read = record["first_set_read"]
        assert "first_set_read_error" not in record
        if cfg.variant != "Based (causal)":
            assert read == []
            continue
        assert {r["slice"] for r in read} == {"A=3,B=6", "A=6,B=3"} and {r["way"] for r in read} == set(WAYS)
        for name in ("A=3,B=6", "A=6,B=3"):
            n = next(r["n"] for r in record["intervention_by_slice"] if r["slice"] == name)
            for way in WAYS:
                rows = [r for r in read if r["way"] == way and r["slice"] == name]
                assert sorted(r["part"] for r in rows) == [0, 1, 2, 3]
                assert sum(r["n"] for r in rows) == n
            trained = [r for r in read if r["way"] == WAYS[0] and r["slice"] == name and r["n"]]
            pooled = sum(r["accuracy"] * r["n"] for r in trained) / sum(r["n"] for r in trained)
            assert pooled == pytest.approx(accuracy[name])
