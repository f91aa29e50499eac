"""Sweeps: TOML parsing (unknown keys named), grid expansion, resume after a kill, failed runs
recorded, worker processes."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch

from synthetic.config import RunConfig
from synthetic.layers import BasedConfig
from synthetic.members import StackedLanguageModel
from synthetic.record import RunRecord
from synthetic.results import ResultsStore, results_path
from synthetic.sweep import available_experiments, expand, load_experiment, parse_experiment, run_sweep
from synthetic.train import Keep

torch.set_num_threads(1)

TINY = textwrap.dedent(
    """
    name = "tiny"
    description = "smoke"

    [[variants]]
    name = "causal"
    pattern = ["base_conv", {kind = "based", num_heads = 1, causal = true}]

    [[variants]]
    name = "jrt"
    pattern = ["base_conv", {kind = "based", num_heads = 1}]
    passes = 2

    [[variants]]
    name = "conv only"
    pattern = ["base_conv"]

    [profiles.quick]
    data = {task = "sd", vocab_size = 16, train_segments = "tiny_sd_train", test_segments = "tiny_sd_test"}
    model = {n_layers = 2}
    train = {epochs = 1, batch_size = 32, device = "cpu"}
    [profiles.quick.grid]
    d_model = [4, 8]
    feature_dim = [1, 2]
    seed = [0]
    """
)


def write(tmp_path: Path, text: str = TINY) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(text)
    return path


def test_expand_grid(tmp_path: Path) -> None:
    exp = load_experiment(write(tmp_path))
    runs = expand(exp, "quick")
    # 2 Based variants x 2 d_model x 2 feature_dim, and the conv-only variant has no feature_dim axis
    assert len(runs) == 2 * 2 * 2 + 2
    assert len({r.config_hash() for r in runs}) == len(runs)
    jrt = [r for r in runs if r.variant == "jrt"]
    assert all(r.data.passes == 2 for r in jrt) and all(
        r.data.passes == 1 for r in runs if r.variant != "jrt"
    )
    jrt_mixers = [r.model.pattern[1] for r in jrt]
    assert all(isinstance(m, BasedConfig) for m in jrt_mixers)
    assert {m.feature_dim for m in jrt_mixers if isinstance(m, BasedConfig)} == {1, 2}
    assert {r.model.d_model for r in runs} == {4, 8}
    assert all(r.seed == r.data.seed == 0 for r in runs)
    assert expand(exp, "quick") == runs  # deterministic


def test_bundle_axis_sets_its_fields_together(tmp_path: Path) -> None:
    text = TINY.replace(
        "seed = [0]",
        'seed = [0]\nprotocol = [{init = "torch"}, {init = "reference", optimizer = "reference"}]',
    )
    runs = expand(load_experiment(write(tmp_path, text)), "quick")
    assert len(runs) == 2 * (2 * 2 * 2 + 2)
    pairs = {(r.model.init, r.train.optimizer) for r in runs}
    assert pairs == {("torch", "package"), ("reference", "reference")}  # never crossed
    assert len({r.config_hash() for r in runs}) == len(runs)


@pytest.mark.parametrize(
    ("axis", "message"),
    [
        ('protocol = [{init = "torch"}, 3]', "mixes tables and plain values"),
        ("protocol = [{seed = 1}]", "a bundle may not set 'seed'"),
        ("protocol = [{d_model = 4}]", "a bundle may not set 'd_model'"),
        ("protocol = [{colour = 1}]", "grid key 'colour'"),
    ],
)
def test_bundle_axis_errors(tmp_path: Path, axis: str, message: str) -> None:
    text = TINY.replace("seed = [0]", f"seed = [0]\n{axis}")
    with pytest.raises(ValueError, match=message):
        expand(load_experiment(write(tmp_path, text)), "quick")


def test_profile_order_sorts_runs_by_its_keys(tmp_path: Path) -> None:
    text = TINY.replace("passes = 2", "passes = 2\nstage = 1").replace(
        'train = {epochs = 1, batch_size = 32, device = "cpu"}',
        'train = {epochs = 1, batch_size = 32, device = "cpu"}\norder = ["stage", "d_model", "variant"]',
    )
    runs = expand(load_experiment(write(tmp_path, text)), "quick")
    keys = [(r.variant == "jrt", r.model.d_model) for r in runs]
    assert keys == sorted(keys)  # stage 0 (causal, conv only) first, then by d_model
    first = [r.variant for r in runs if r.model.d_model == 4 and r.variant != "jrt"]
    assert first == ["causal", "causal", "conv only"]  # then variant; ties keep the grid's order
    unsorted = expand(load_experiment(write(tmp_path)), "quick")
    assert sorted(r.config_hash() for r in runs) == sorted(r.config_hash() for r in unsorted)


@pytest.mark.parametrize(
    ("order", "message"),
    [('["colour"]', r"order has unknown key\(s\) \['colour'\]"), ('["stage", "stage"]', "repeats a key")],
)
def test_profile_order_errors(tmp_path: Path, order: str, message: str) -> None:
    text = TINY.replace(
        'train = {epochs = 1, batch_size = 32, device = "cpu"}',
        f'train = {{epochs = 1, batch_size = 32, device = "cpu"}}\norder = {order}',
    )
    with pytest.raises(ValueError, match=message):
        expand(load_experiment(write(tmp_path, text)), "quick")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("epochs = 1,", "epoch = 1,", r"profiles.quick.train.*epoch"),
        ('description = "smoke"', 'description = "smoke"\ncolour = "red"', r"unknown key 'colour'"),
        ("passes = 2", "passes = 2\nlayers = 3", r"variants.1.layers: unknown key 'layers'"),
        ("num_heads = 1, causal", "num_heads = 1, causl", r"causl"),
        ("seed = [0]", "seed = [0]\nfeature_dimm = [2]", r"grid key 'feature_dimm'"),
        ("vocab_size = 16,", "vocab_size = 16, passes = 2,", r"data.passes is set per variant"),
        ('test_segments = "tiny_sd_test"', 'test_segments = "tiny_sd_test", colour = 1', r"colour"),
        ("seed = [0]", "seed = [0, 0]", r"repeats a value"),
    ],
)
def test_schema_errors_name_the_key(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in TINY
    with pytest.raises(ValueError, match=message):
        load_experiment(write(tmp_path, TINY.replace(old, new, 1)))


def test_unknown_experiment_and_profile(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown experiment 'nope'"):
        load_experiment("nope")
    with pytest.raises(ValueError, match="has no profile 'paper'"):
        expand(load_experiment(write(tmp_path)), "paper")


def test_shipped_experiments_parse() -> None:
    found = available_experiments()
    assert {"sd_order", "mqar_order"} <= set(found)
    for name in found:
        exp = load_experiment(name)
        assert {"quick", "paper"} <= set(exp.profiles)
        for profile in exp.profiles:
            runs = expand(exp, profile)
            assert runs
            # workers receive configs as JSON: the hash (the resume key) must survive the trip
            for cfg in runs:
                assert RunConfig.model_validate_json(cfg.model_dump_json()).config_hash() == cfg.config_hash()


def _hashes(path: Path) -> list[str]:
    return [r["config_hash"] for r in ResultsStore(path).records()]


def test_kill_midway_then_resume_loses_and_repeats_nothing(tmp_path: Path) -> None:
    exp = load_experiment(write(tmp_path))
    wanted = sorted(c.config_hash() for c in expand(exp, "quick"))
    store_path = results_path(tmp_path / "res", "tiny", "quick")

    class Killed(Exception):
        pass

    seen: list[RunRecord] = []

    def kill_after_three(record: RunRecord) -> None:
        seen.append(record)
        if len(seen) == 3:
            raise Killed

    with pytest.raises(Killed):
        run_sweep(exp, "quick", results_dir=tmp_path / "res", on_record=kill_after_three, progress=False)
    assert len(_hashes(store_path)) == 3
    # the kill also hit in the middle of writing a 4th record
    with store_path.open("a") as fh:
        fh.write('{"config_hash": "half-writ')
    with pytest.warns(UserWarning, match="partial last line"):
        summary = run_sweep(exp, "quick", results_dir=tmp_path / "res", progress=False)
    assert (summary.total, summary.skipped, summary.ok, summary.failed) == (
        len(wanted),
        3,
        len(wanted) - 3,
        0,
    )
    got = _hashes(store_path)
    assert sorted(got) == wanted  # none lost, none repeated
    again = run_sweep(exp, "quick", results_dir=tmp_path / "res", progress=False)
    assert (again.skipped, again.ok) == (len(wanted), 0)
    assert sorted(_hashes(store_path)) == wanted


def test_nan_run_is_recorded_as_failed_and_the_sweep_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exp = load_experiment(write(tmp_path))
    real_logits = StackedLanguageModel.labelled_logits

    def nan_for_jr2(self: Any, input_ids: torch.Tensor, *args: Any) -> torch.Tensor:
        """NaN training logits for JR-2 inputs (tiny SD: T = 2 * 10 + 1), the real ones otherwise."""
        out = real_logits(self, input_ids, *args)
        return out * float("nan") if input_ids.shape[1] == 21 and torch.is_grad_enabled() else out

    monkeypatch.setattr(StackedLanguageModel, "labelled_logits", nan_for_jr2)
    kw: dict[str, Any] = dict(results_dir=tmp_path, progress=False, only=lambda c: c.model.d_model == 4)
    summary = run_sweep(exp, "quick", **kw)
    assert (summary.total, summary.ok, summary.failed) == (5, 3, 2)
    records = ResultsStore(results_path(tmp_path, "tiny", "quick")).records()
    failed = [r for r in records if r["status"] == "failed"]
    assert {r["summary"]["variant"] for r in failed} == {"jrt"}
    assert all("NonFiniteLossError" in str(r.get("error")) and "nan" in str(r.get("error")) for r in failed)
    assert all("config" in r and r["config_hash"] for r in failed)
    # a recorded failure counts as done, unless retried
    monkeypatch.setattr(StackedLanguageModel, "labelled_logits", real_logits)
    assert run_sweep(exp, "quick", **kw).skipped == 5
    retried = run_sweep(exp, "quick", retry_failed=True, **kw)
    assert (retried.skipped, retried.ok, retried.failed) == (3, 2, 0)
    store = ResultsStore(results_path(tmp_path, "tiny", "quick"))
    assert len(store.done_hashes(include_failed=False)) == 5


def test_worker_processes(tmp_path: Path) -> None:
    exp = load_experiment(write(tmp_path))
    only: dict[str, Any] = dict(only=lambda c: c.model.d_model == 4 and c.variant != "jrt")
    summary = run_sweep(exp, "quick", results_dir=tmp_path, workers=2, progress=False, **only)
    assert (summary.ok, summary.failed) == (3, 0)
    records = ResultsStore(results_path(tmp_path, "tiny", "quick")).records()
    assert len(records) == 3 and all(r["status"] == "ok" for r in records)
    # the same runs in this process give the same metrics (CPU reproducibility across processes)
    from synthetic.train import run_record

    by_hash = {r["config_hash"]: r for r in records}
    for cfg in expand(exp, "quick"):
        if cfg.config_hash() in by_hash and cfg.variant == "causal":
            again = run_record(cfg)
            assert again["slice_accuracy"] == by_hash[cfg.config_hash()]["slice_accuracy"]


def _dies_at_width_8(cfg_jsons: list[str], device: str | None, keep: Keep) -> list[Any]:
    """A Ray task whose worker process dies (as under the OOM killer) when its runs have d_model 8."""
    import os
    import signal

    from synthetic.config import RunConfig
    from synthetic.sweep import _train_jsons

    if RunConfig.model_validate_json(cfg_jsons[0]).model.d_model == 8:
        os.kill(os.getpid(), signal.SIGKILL)
    return list(_train_jsons(cfg_jsons, device, keep))


def test_ray_runner_equals_the_local_runner_and_a_lost_task_costs_only_its_ensemble(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A local Ray cluster with 2 worker slots trains a small ensemble sweep; every record equals
    the local runner's (same metrics on the CPU), none lost or repeated. Then a sweep whose task
    dies with its worker: that ensemble's runs are recorded as errors, the other's as results."""
    ray = pytest.importorskip("ray")
    from synthetic import sweep

    text = TINY.replace("seed = [0]", "seed = [0]\nlr = [3e-3, 1e-2]")
    exp = load_experiment(write(tmp_path, text))
    only: dict[str, Any] = dict(only=lambda c: c.model.d_model == 4 and c.variant != "jrt")
    local = run_sweep(exp, "quick", results_dir=tmp_path / "local", progress=False, ensemble=2, **only)
    conv_only: dict[str, Any] = dict(only=lambda c: c.variant == "conv only")  # d_model 4 and 8
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True)
    try:
        remote = run_sweep(
            exp, "quick", results_dir=tmp_path / "ray", runner="ray", progress=False, ensemble=2, **only
        )
        monkeypatch.setattr(sweep, "_run_ensemble", _dies_at_width_8)
        monkeypatch.setattr(sweep, "RAY_TASK_RETRIES", 0)
        lossy = run_sweep(
            exp, "quick", results_dir=tmp_path / "lost", runner="ray", progress=False, ensemble=2, **conv_only
        )
    finally:
        ray.shutdown()
    assert (lossy.ok, lossy.errored) == (2, 2)
    lost = ResultsStore(results_path(tmp_path / "lost", "tiny", "quick")).records()
    assert {r["summary"]["d_model"]: r["status"] for r in lost} == {4: "ok", 8: "error"}
    errors = [r for r in lost if r["status"] == "error"]
    assert len(errors) == 2 and all(
        "WorkerLost: the Ray task of this ensemble was lost" in str(r["error"]) for r in errors
    )
    assert (remote.ok, remote.ensembles) == (local.ok, local.ensembles) == (6, 3)
    by_runner = [
        {r["config_hash"]: r for r in ResultsStore(results_path(tmp_path / d, "tiny", "quick")).records()}
        for d in ("local", "ray")
    ]
    assert by_runner[0].keys() == by_runner[1].keys() and len(by_runner[0]) == 6
    for h, rec in by_runner[0].items():
        other = by_runner[1][h]
        assert rec["ensemble_size"] == other["ensemble_size"] == 2
        for key in ("slice_accuracy", "train_loss", "test_loss", "steps"):
            assert rec[key] == other[key], key


def test_parse_experiment_from_dict() -> None:
    import tomllib

    exp = parse_experiment(tomllib.loads(TINY))
    assert exp.name == "tiny" and [v.name for v in exp.variants] == ["causal", "jrt", "conv only"]


def test_two_sweep_processes_on_one_folder_train_each_run_once(tmp_path: Path) -> None:
    """Two real `python -m synthetic run` processes started together on one results folder: every
    run is recorded exactly once (claims), and both exit 0."""
    import subprocess
    import sys

    toml = write(tmp_path, TINY.replace("seed = [0]", "seed = [0, 1]"))
    cmd = [sys.executable, "-m", "synthetic", "run", str(toml), "--results", str(tmp_path / "res"), "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    wanted = sorted(c.config_hash() for c in expand(load_experiment(toml), "quick"))
    got = _hashes(results_path(tmp_path / "res", "tiny", "quick"))
    assert sorted(got) == wanted  # each run once: none repeated, none lost


def test_killed_ensemble_sweep_rerun_trains_only_the_missing_members(tmp_path: Path) -> None:
    """Ensembles of 2 (two learning rates per shape): a kill after the 3rd record loses only the
    unrecorded member of the ensemble in flight; the rerun trains exactly the missing runs."""
    exp = load_experiment(write(tmp_path, TINY.replace("seed = [0]", "seed = [0]\nlr = [3e-3, 1e-2]")))
    only: dict[str, Any] = dict(only=lambda c: c.variant == "causal" and c.model.d_model == 4)
    store_path = results_path(tmp_path / "res", "tiny", "quick")

    class Killed(Exception):
        pass

    seen: list[str] = []

    def kill_after_three(record: RunRecord) -> None:
        seen.append(record["config_hash"])
        if len(seen) == 3:
            raise Killed

    with pytest.raises(Killed):
        run_sweep(
            exp,
            "quick",
            results_dir=tmp_path / "res",
            ensemble=2,
            on_record=kill_after_three,
            progress=False,
            **only,
        )
    assert sorted(_hashes(store_path)) == sorted(seen)
    assert not ResultsStore(store_path).claims()  # the interrupted sweep released its claims
    rerun: list[str] = []
    summary = run_sweep(
        exp,
        "quick",
        results_dir=tmp_path / "res",
        ensemble=2,
        progress=False,
        on_record=lambda r: rerun.append(r["config_hash"]),
        **only,
    )
    wanted = sorted(c.config_hash() for c in expand(exp, "quick") if only["only"](c))
    assert (summary.skipped, summary.ok, summary.ensembles) == (3, 1, 1)
    assert sorted(seen + rerun) == wanted and len(_hashes(store_path)) == 4


def test_snapshot_cap_cuts_ensembles_of_large_models() -> None:
    """snapshot_cap: members whose snapshot (12 bytes a parameter a member) stays within the
    megabytes given; plan_ensembles cuts each group to that many (at least 1), nearly equal."""
    from synthetic.model import build_model
    from synthetic.sweep import plan_ensembles, snapshot_cap

    exp = load_experiment("sd_order")
    configs = [
        c
        for c in expand(exp, "paper")
        if c.model.d_model in (36, 128) and getattr(c.model.pattern[1], "feature_dim", None) == 24
    ]
    small = next(c for c in configs if c.model.d_model == 36)
    large = next(c for c in configs if c.model.d_model == 128)
    member = {
        c.model.d_model: 12 * build_model(c.model, c.data.vocab_size).num_parameters() for c in (small, large)
    }
    cap = snapshot_cap(18)
    assert cap(large) == int(18e6 // member[128]) == 3 and cap(small) == int(18e6 // member[36])
    plan = plan_ensembles(configs, 8, cap=cap)
    for ensemble in plan:
        d_model = ensemble[0].model.d_model
        assert len(ensemble) * member[d_model] <= 18e6 and len(ensemble) <= 8
    sizes = sorted(len(e) for e in plan if e[0].model.d_model == 128)
    assert set(sizes) == {2, 3}  # groups of 8 in three ensembles: 3 + 3 + 2
    assert sum(len(e) for e in plan) == len(configs)
    assert all(len(e) == 1 for e in plan_ensembles(configs, 8, cap=snapshot_cap(0.5)))  # never below 1
    for bad, err in ((0, ValueError), (float("nan"), ValueError), (True, TypeError), ("18", TypeError)):
        with pytest.raises(err, match="snapshot_mb="):
            snapshot_cap(bad)  # type: ignore[arg-type]
