"""Ensemble snapshots (synthetic.snapshots): an ensemble stopped after any step and resumed from its
last snapshot ends exactly as if it had not stopped; the files are written whole, found by the
runs they hold, refused with a reason when they are not snapshots, and pruned once their runs are
recorded; a sweep interrupted mid-ensemble goes on from the snapshot."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from synthetic import snapshots
from synthetic.__main__ import main
from synthetic.config import RunConfig
from synthetic.ensemble import Outcome, _Ensemble, train_ensemble
from synthetic.record import RunRecord, metrics_of
from synthetic.results import ResultsStore, results_path
from synthetic.sweep import SweepInterrupted, run_sweep

from . import tiny_sweep
from .test_ensemble import cfg, in_order

torch.set_num_threads(1)

#: record fields that measure time, and the two that say a run was resumed and by what code before
TIMING = {"train_time_s", "wall_time_s", "tokens_per_s", "resumed_at_steps", "resumed_commits"}


def _snapshot(k: int, p: int, step: int = 3, members: list[str] | None = None) -> snapshots.EnsembleSnapshot:
    g = torch.Generator().manual_seed(k * 100 + p)
    flat, exp_avg, exp_avg_sq = (torch.randn(k, p, generator=g) for _ in snapshots.TENSORS)
    return snapshots.EnsembleSnapshot(
        ensemble_id=f"{k:02d}{p:014d}",
        members=members or [f"run{i}" for i in range(k)],
        size=k + 1,
        step=step,
        epochs_done=1,
        train_time_s=1.5,
        wall_time_s=2.25,
        tokens=list(range(k)),
        best_accuracy=[0.5] * k,
        history=[
            [{"epoch": 0, "step": step, "train_loss": 0.1 * i, "evaluation": {"x": [1, 2]}}] for i in range(k)
        ],
        resumed_at=[1],
        flat=flat,
        exp_avg=exp_avg,
        exp_avg_sq=exp_avg_sq,
        precision="fp32",
        device="cpu",
    )


# ------------------------------------------------------------------------------------- the files


@given(k=st.integers(1, 4), p=st.integers(1, 9), loss=st.floats(allow_nan=True, allow_infinity=True))
def test_a_snapshot_reads_back_as_written(
    tmp_path_factory: pytest.TempPathFactory, k: int, p: int, loss: float
) -> None:
    folder = tmp_path_factory.mktemp("snap")
    snap = _snapshot(k, p)
    snap.history[0][0]["train_loss"] = loss
    path = snapshots.write(folder, snap)
    assert path == snapshots.path_of(folder, snap.ensemble_id)
    assert [f.name for f in folder.iterdir()] == [path.name]  # no temporary file left
    back = snapshots.read(path)
    for name in snapshots.TENSORS:
        assert torch.equal(getattr(back, name), getattr(snap, name))
    got, want = back.history[0][0]["train_loss"], loss
    assert got == want or (math.isnan(got) and math.isnan(want))
    back.history[0][0]["train_loss"] = snap.history[0][0]["train_loss"] = 0.0
    for name in ("ensemble_id", "members", "size", "step", "epochs_done", "train_time_s", "wall_time_s",
                 "tokens", "best_accuracy", "history", "resumed_at"):  # fmt: skip
        assert getattr(back, name) == getattr(snap, name), name


def test_find_takes_the_latest_snapshot_that_holds_every_run(tmp_path: Path) -> None:
    """Every subset of 3 runs against two snapshots, {a, b, c} at step 3 and {b, c} at step 6."""
    snapshots.write(tmp_path, _snapshot(3, 2, step=3, members=["a", "b", "c"]))
    snapshots.write(tmp_path, _snapshot(2, 2, step=6, members=["b", "c"]))
    for n in range(4):
        for wanted in itertools.combinations("abc", n):
            found = snapshots.find(tmp_path, wanted)
            assert found is not None
            assert found.step == (3 if "a" in wanted else 6), wanted
    assert snapshots.find(tmp_path, ["a", "d"]) is None
    assert snapshots.find(tmp_path / "none", ["a"]) is None
    assert snapshots.find(None, ["a"]) is None


def test_prune_deletes_the_snapshots_of_recorded_runs_only(tmp_path: Path) -> None:
    ab = snapshots.write(tmp_path, _snapshot(2, 2, members=["a", "b"]))
    c = snapshots.write(tmp_path, _snapshot(1, 2, members=["c"]))
    (tmp_path / "broken.safetensors").write_bytes(b"junk")
    assert snapshots.prune(tmp_path, ["a"]) == []
    assert snapshots.prune(tmp_path, ["a", "b", "d"]) == [ab]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["broken.safetensors", c.name])
    assert snapshots.prune(None, ["c"]) == [] and snapshots.prune(tmp_path / "none", ["c"]) == []


def test_a_damaged_file_is_skipped_with_its_reason(tmp_path: Path) -> None:
    snapshots.write(tmp_path, _snapshot(2, 2, members=["a", "b"]))
    (tmp_path / "broken.safetensors").write_bytes(b"not a snapshot")
    with pytest.warns(
        RuntimeWarning, match=r"skipping .*broken.safetensors: not a readable ensemble snapshot"
    ):
        found = snapshots.find(tmp_path, ["a"])
    assert found is not None and found.members == ["a", "b"]


def test_bad_files_and_bad_snapshots_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no ensemble snapshot at"):
        snapshots.read(tmp_path / "x.safetensors")
    (tmp_path / "x.safetensors").write_bytes(b"junk")
    with pytest.raises(ValueError, match="is not a readable safetensors file"):
        snapshots.read(tmp_path / "x.safetensors")
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(1)}, str(tmp_path / "w.safetensors"), metadata={"format": "other"})
    with pytest.raises(
        ValueError,
        match=r"format='other'; this package reads "
        r"\('readtwice\.ensemble_snapshot\.1', 'readtwice\.ensemble_snapshot\.2'\)",
    ):
        snapshots.read(tmp_path / "w.safetensors")
    # a file of format 1 (before snapshots named their commits) reads with no commits
    old = snapshots.write(tmp_path, replace(_snapshot(2, 3), commits=["a" * 40, "b" * 40]))
    state = snapshots.peek(old)
    del state["commits"]
    tensors = {n: getattr(_snapshot(2, 3), n) for n in snapshots.TENSORS}
    save_file(
        tensors, str(old), metadata={"format": "readtwice.ensemble_snapshot.1", "state": json.dumps(state)}
    )
    assert snapshots.read(old).commits == [] and snapshots.peek(old)["step"] == 3
    snap = _snapshot(2, 3)
    with pytest.raises(ValueError, match=r"exp_avg is torch.float32 \[2, 4\]; a snapshot of 2 members"):
        snapshots.EnsembleSnapshot(**{**snap.__dict__, "exp_avg": torch.zeros(2, 4)})
    with pytest.raises(ValueError, match="tokens has 1 entries for 2 members"):
        snapshots.EnsembleSnapshot(**{**snap.__dict__, "tokens": [1]})
    with pytest.raises(ValueError, match="must name at least one run, each once"):
        snapshots.EnsembleSnapshot(**{**snap.__dict__, "members": ["a", "a"]})
    with pytest.raises(ValueError, match="holds no run zz"):
        snap.rows_of(["run0", "zz"])


# ------------------------------------------------------------------------------------- ensembles


def _cfgs(mixer: str = "based") -> list[RunConfig]:
    """12 steps (6 an epoch), evaluations after steps 3, 6, 9 and 12 (3 and 9 mid-epoch); member 2
    stops early at step 3, member 3 diverges."""
    return [
        cfg(mixer, 0),
        cfg(mixer, 1, lr=1e-2, init="torch"),
        cfg(mixer, 2, early_stop_accuracy=0.01),
        cfg(mixer, 3, lr=1e5, grad_clip=None, weight_decay=0.0),
        cfg(mixer, 4, lr=5e-3, optimizer="reference"),
    ]


class _Stop(Exception):
    """Stands for the job's end (an interrupt, a lost device) after a given step."""


def _train_until(
    cfgs: list[RunConfig], folder: Path, stop_after: int, monkeypatch: pytest.MonkeyPatch
) -> list[Outcome]:
    """The outcomes yielded before the ensemble stops after step ``stop_after``."""
    real = _Ensemble.train_step

    def train_step(self: _Ensemble, step: int) -> tuple[int, bool]:
        if step > stop_after:
            raise _Stop
        return real(self, step)

    got: list[Outcome] = []
    with monkeypatch.context() as m:
        m.setattr(_Ensemble, "train_step", train_step)
        with pytest.raises(_Stop):
            got.extend(train_ensemble(cfgs, keep_models=True, snapshot_dir=folder))
    return got


def _same(resumed: Outcome, whole: Outcome) -> None:
    """Bit for bit the same run, but for times."""
    if whole.error is not None:
        assert str(resumed.error) == str(whole.error)
        return
    assert resumed.metrics is not None and whole.metrics is not None
    a, b = metrics_of(resumed.metrics), metrics_of(whole.metrics)
    assert {k: v for k, v in a.items() if k not in TIMING} == {k: v for k, v in b.items() if k not in TIMING}
    assert resumed.model is not None and whole.model is not None
    for (name, p), (_, q) in zip(
        resumed.model.named_parameters(), whole.model.named_parameters(), strict=True
    ):
        assert torch.equal(p, q), name


@pytest.mark.parametrize("stop_after", [2, 3, 4, 7, 9, 11])
def test_a_stopped_ensemble_resumes_as_if_it_had_not_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop_after: int
) -> None:
    cfgs = _cfgs()
    whole = in_order(train_ensemble(cfgs, keep_models=True))
    first = _train_until(cfgs, tmp_path, stop_after, monkeypatch)
    saved = list(tmp_path.iterdir())
    last_eval = max((s for s in (3, 6, 9, 12) if s <= stop_after), default=None)
    assert len(saved) == (last_eval is not None)
    done = {o.index for o in first}
    left = [c for i, c in enumerate(cfgs) if i not in done]
    rest = list(train_ensemble(left, keep_models=True, snapshot_dir=tmp_path))
    assert len(list(tmp_path.iterdir())) == 1  # kept (from step 9) until the outcomes are stored
    snapshots.prune(tmp_path, [c.config_hash() for c in cfgs])
    assert not list(tmp_path.iterdir())
    by_hash = {o.cfg.config_hash(): o for o in [*first, *rest]}
    assert len(by_hash) == len(cfgs)
    for w in whole:
        got = by_hash[w.cfg.config_hash()]
        _same(got, w)
        if got.metrics is not None and w.index not in done:
            assert got.metrics.resumed_at == (() if last_eval is None else (last_eval,))
            assert got.metrics.ensemble_size == len(cfgs)


@pytest.mark.parametrize(("stored", "trained_again"), [(1, list(range(4, 13))), (2, []), (4, [])])
def test_an_ensemble_stopped_while_its_outcomes_go_out_trains_nothing_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stored: int, trained_again: list[int]
) -> None:
    """The job ends while the caller handles an outcome (a trained model's analysis can take longer
    than an epoch), after it stored the first ``stored`` ones. The outcomes come out as: member 3
    (diverged at step 3), member 2 (stopped early at step 3), members 0, 1 and 4 (step 12). The
    snapshot written at that evaluation before the outcomes went out holds the finishing members
    (never the diverged one): resumed, they finish at once with the whole run's metrics and
    weights, and only the steps after the snapshot's are trained."""
    cfgs = _cfgs()
    whole = in_order(train_ensemble(cfgs, keep_models=True))
    handed = train_ensemble(cfgs, keep_models=True, snapshot_dir=tmp_path)
    first = list(itertools.islice(handed, stored + 1))[:stored]  # the last one was being handled
    handed.close()
    assert [o.index for o in first] == [3, 2, 0, 1, 4][:stored]
    (path,) = tmp_path.iterdir()
    snap = snapshots.read(path)
    step = 3 if stored == 1 else 12
    assert snap.step == step and cfgs[3].config_hash() not in snap.members
    trained: list[int] = []
    real = _Ensemble.train_step

    def train_step(self: _Ensemble, step: int) -> tuple[int, bool]:
        trained.append(step)
        return real(self, step)

    done = {o.index for o in first}
    left = [c for i, c in enumerate(cfgs) if i not in done]
    with monkeypatch.context() as m:
        m.setattr(_Ensemble, "train_step", train_step)
        rest = list(train_ensemble(left, keep_models=True, snapshot_dir=tmp_path))
    assert trained == trained_again
    by_hash = {o.cfg.config_hash(): o for o in [*first, *rest]}
    assert sorted(by_hash) == sorted(c.config_hash() for c in cfgs)
    for w in whole:
        got = by_hash[w.cfg.config_hash()]
        _same(got, w)
        if w.index not in done:
            assert got.metrics is not None and got.metrics.resumed_at == (step,)


def test_a_snapshot_of_more_runs_resumes_some_of_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Members 0 and 4 go on from a snapshot that also holds member 1 (which another ensemble
    would train): the same runs as in the whole ensemble, resumed twice."""
    cfgs = _cfgs()
    whole = in_order(train_ensemble(cfgs, keep_models=True))
    _train_until(cfgs, tmp_path, 4, monkeypatch)
    _train_until([cfgs[0], cfgs[4]], tmp_path, 7, monkeypatch)
    assert len(list(tmp_path.iterdir())) == 2  # the first snapshot (step 3) and the second (step 6)
    rest = in_order(train_ensemble([cfgs[0], cfgs[4]], keep_models=True, snapshot_dir=tmp_path))
    for got, w in zip(rest, [whole[0], whole[4]], strict=True):
        _same(got, w)
        assert got.metrics is not None and got.metrics.resumed_at == (3, 6)


def test_a_resumed_run_names_the_commit_that_trained_before_each_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trained to step 4 by one commit, to step 7 by a second, finished by a third: each snapshot
    names the commits of its stretches, and the records name the first two beside the steps they
    were resumed at (the record's own ``commit`` is the third's). A snapshot written before
    snapshots named commits resumes with the earlier commits unknown (None)."""
    from synthetic.record import source_commit

    cfgs = [_cfgs()[0], _cfgs()[4]]

    def as_commit(sha: str) -> None:
        monkeypatch.setenv("READTWICE_COMMIT", sha)
        source_commit.cache_clear()

    try:
        as_commit("a" * 40)
        _train_until(cfgs, tmp_path, 4, monkeypatch)
        (path,) = tmp_path.iterdir()
        assert snapshots.read(path).commits == ["a" * 40]
        as_commit("b" * 40)
        _train_until(cfgs, tmp_path, 7, monkeypatch)
        assert snapshots.read(path).commits == ["a" * 40, "b" * 40]
        assert snapshots.read(path).resumed_at == [3]
        old = replace(snapshots.read(path), commits=[])  # as a file of an older package
        as_commit("c" * 40)
        done = in_order(train_ensemble(cfgs, keep_models=True, snapshot_dir=tmp_path))
        for outcome in done:
            assert outcome.metrics is not None
            record = metrics_of(outcome.metrics)
            assert record["resumed_at_steps"] == [3, 6]
            assert record["resumed_commits"] == ["a" * 40, "b" * 40]
        snapshots.write(tmp_path, old)
        again = in_order(train_ensemble(cfgs, keep_models=True, snapshot_dir=tmp_path))
        assert all(metrics_of(o.metrics)["resumed_commits"] == [None, None] for o in again if o.metrics)
    finally:
        monkeypatch.delenv("READTWICE_COMMIT", raising=False)
        source_commit.cache_clear()
    with pytest.raises(ValueError, match="commits has 1 entries; 1 resumes make 2 stretches"):
        replace(_snapshot(1, 2), commits=["a" * 40])


@pytest.mark.parametrize(
    ("history", "why"),
    [
        ([[], []], r"5 parameters a member; this ensemble has \d+ and 12 steps"),
        (None, r"its history is not readable \(TypeError: .*unexpected keyword argument 'x'"),
    ],
)
def test_a_snapshot_that_does_not_fit_is_left_alone_with_a_warning(
    tmp_path: Path, history: list[list[dict[str, Any]]] | None, why: str
) -> None:
    """A snapshot of these runs that cannot be this ensemble's (another model; a history that is
    not checkpoints): a warning naming it and why, and training from the start."""
    cfgs = _cfgs()[:2]
    whole = in_order(train_ensemble(cfgs, keep_models=True))
    snap = _snapshot(2, 5, members=[c.config_hash() for c in cfgs])  # 5 parameters a member
    snapshots.write(tmp_path, snap if history is None else replace(snap, history=history))
    with pytest.warns(RuntimeWarning, match=rf"snapshot {snap.ensemble_id} \(step 3\) does not fit: {why}"):
        fresh = in_order(train_ensemble(cfgs, keep_models=True, snapshot_dir=tmp_path))
    for got, w in zip(fresh, whole, strict=True):
        _same(got, w)
        assert got.metrics is not None and got.metrics.resumed_at == ()


def test_a_snapshot_from_elsewhere_goes_on_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trained in another precision or on another device: it goes on, and says so."""
    cfgs = _cfgs()[:2]
    _train_until(cfgs, tmp_path, 4, monkeypatch)
    (path,) = tmp_path.iterdir()
    snapshots.write(tmp_path, replace(snapshots.read(path), precision="bf16", device="cuda:0 (H100)"))
    with pytest.warns(
        RuntimeWarning, match=r"was trained in bf16 on cuda:0 \(H100\); it goes on in fp32 on cpu"
    ):
        rest = in_order(train_ensemble(cfgs, snapshot_dir=tmp_path))
    assert all(o.metrics is not None and o.metrics.resumed_at == (3,) for o in rest)


def test_a_snapshot_that_cannot_be_written_stops_snapshots_only(tmp_path: Path) -> None:
    cfgs = _cfgs()[:2]
    blocked = tmp_path / "file"
    blocked.write_text("a file where the folder should be")
    with pytest.warns(
        RuntimeWarning, match=r"could not save its snapshot in .*file .*; it trains on without"
    ):
        got = in_order(train_ensemble(cfgs, keep_models=True, snapshot_dir=blocked))
    for g, w in zip(got, in_order(train_ensemble(cfgs, keep_models=True)), strict=True):
        _same(g, w)


def test_an_unreadable_snapshot_is_skipped_for_an_older_one(tmp_path: Path) -> None:
    hashes = ["a", "b"]
    snapshots.write(tmp_path, _snapshot(2, 2, step=3, members=hashes))
    newer = _snapshot(2, 2, step=6, members=hashes)
    newer.ensemble_id = "newer"
    path = snapshots.write(tmp_path, newer)
    from safetensors.torch import save_file

    meta = snapshots.peek(path)
    tensors = {n: torch.zeros(2, 2, dtype=torch.float16) for n in snapshots.TENSORS}  # not fp32
    save_file(tensors, str(path), metadata={"format": snapshots.SNAPSHOT_FORMAT, "state": json.dumps(meta)})
    with pytest.warns(
        RuntimeWarning, match=r"skipping .*newer.safetensors: .*newer.safetensors: not a valid"
    ):
        found = snapshots.find(tmp_path, hashes)
    assert found is not None and found.step == 3


# ------------------------------------------------------------------------------------- sweeps


SNAPSHOT_TOML = tiny_sweep.TOML.replace("epochs = 1,", "epochs = 3,")


def _records(res: Path) -> dict[str, RunRecord]:
    store = ResultsStore(results_path(res, tiny_sweep.NAME, "quick"))
    return {r["config_hash"]: r for r in store.records()}


def _ctrl_c_after(steps: int) -> Any:
    """A train_step that raises KeyboardInterrupt once ``steps`` steps were trained in all."""
    real = _Ensemble.train_step
    calls = itertools.count(1)

    def train_step(self: _Ensemble, step: int) -> tuple[int, bool]:
        if next(calls) > steps:
            raise KeyboardInterrupt
        return real(self, step)

    return train_step


@pytest.mark.parametrize("workers", [1, 2])
def test_an_interrupted_sweep_goes_on_from_the_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], workers: int
) -> None:
    """Ctrl-C in the first ensemble's second epoch; the next sweep resumes it from its first
    evaluation (step 4) and records what an uninterrupted sweep records (times aside)."""
    exp = tiny_sweep.write(tmp_path, SNAPSHOT_TOML)
    whole = run_sweep(exp, "quick", results_dir=tmp_path / "whole", ensemble=2, progress=False)
    assert whole.ok == 8
    res = tmp_path / "res"
    with monkeypatch.context() as m:  # 4 steps an epoch, an evaluation after each: step 6 is in epoch 2
        m.setattr(_Ensemble, "train_step", _ctrl_c_after(5))
        with pytest.raises(SweepInterrupted):
            run_sweep(exp, "quick", results_dir=res, ensemble=2, progress=False)
    folder = snapshots.folder_of(results_path(res, tiny_sweep.NAME, "quick"))
    assert len(list(folder.iterdir())) == 1
    assert not _records(res)
    results_path(res, tiny_sweep.NAME, "quick").touch()  # no record yet: an empty store
    assert main(["show", str(res / tiny_sweep.NAME / "quick")]) == 0
    assert "  in flight: " in capsys.readouterr().out
    (folder / "junk.safetensors").write_bytes(b"junk")
    assert main(["show", str(res)]) == 0
    shown = capsys.readouterr().out
    assert "2 of 2 runs at step 4 (1 epochs done)" in shown and "junk.safetensors: not a readable" in shown
    (folder / "junk.safetensors").unlink()
    again = run_sweep(exp, "quick", results_dir=res, ensemble=2, progress=False, workers=workers)
    assert again.ok == 8
    assert not list(folder.iterdir())
    got, want = _records(res), _records(tmp_path / "whole")
    snapshots.write(folder, _snapshot(1, 2, members=list(got)[:1]))  # as a crash would leave it
    assert main(["show", str(res)]) == 0
    assert "  stale, all its runs recorded: " in capsys.readouterr().out
    snapshots.prune(folder, got)
    assert got.keys() == want.keys()
    resumed = [h for h, r in got.items() if "resumed_at_steps" in r]
    assert len(resumed) == 2 and all(got[h]["resumed_at_steps"] == [4] for h in resumed)
    for h, r in got.items():
        for key in ("accuracy", "slice_counts", "history", "train_tokens", "steps", "ensemble_size"):
            assert r[key] == want[h][key], (h, key)
    off = run_sweep(
        exp, "quick", results_dir=tmp_path / "off", ensemble=2, progress=False, use_snapshots=False
    )
    assert (
        off.ok == 8 and not (tmp_path / "off" / tiny_sweep.NAME / "quick" / snapshots.SNAPSHOTS_DIR).exists()
    )
    with pytest.raises(TypeError, match="use_snapshots='yes' must be True or False"):
        run_sweep(exp, "quick", results_dir=res, use_snapshots="yes")  # type: ignore[arg-type]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_graphed_ensemble_resumes_on_the_gpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, precision: str
) -> None:
    """The same on CUDA with graphed steps (new graphs after the resume): equal up to rounding."""
    cfgs = [
        cfg("based", i, device="cuda", precision=precision, epochs=6, lr=lr)
        for i, lr in enumerate([3e-3, 1e-2])
    ]
    whole = in_order(train_ensemble(cfgs, keep_models=True))
    first = _train_until(cfgs, tmp_path, 20, monkeypatch)
    assert not first and len(list(tmp_path.iterdir())) == 1
    rest = in_order(train_ensemble(cfgs, keep_models=True, snapshot_dir=tmp_path))
    rtol, atol = (1e-4, 1e-5) if precision == "fp32" else (3e-2, 3e-2)
    for got, w in zip(rest, whole, strict=True):
        assert got.metrics is not None and w.metrics is not None and got.metrics.resumed_at == (18,)
        a, b = metrics_of(got.metrics), metrics_of(w.metrics)
        assert a["steps"] == b["steps"] and a["train_tokens"] == b["train_tokens"]
        assert a["test_loss"] == pytest.approx(b["test_loss"], rel=rtol, abs=atol)
        assert got.model is not None and w.model is not None
        for (name, p), (_, q) in zip(got.model.named_parameters(), w.model.named_parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=rtol, atol=atol, msg=name)


def test_the_runs_of_saved_snapshots_are_planned_as_they_were_grouped(tmp_path: Path) -> None:
    """Every choice of in-flight runs (one snapshot of up to 2 runs of one shape, plus runs that
    are recorded meanwhile): those runs form the first ensembles, cut to the size limit; every
    run is planned exactly once; the rest is grouped by shape."""
    from synthetic.ensemble import ensemble_key
    from synthetic.sweep import expand, plan_ensembles

    configs = expand(tiny_sweep.experiment(tmp_path), "quick")
    hashes = [c.config_hash() for c in configs]
    for n in range(3):
        for held in itertools.combinations(hashes, n):
            if len({ensemble_key(configs[hashes.index(h)]) for h in held}) > 1:
                continue  # a snapshot holds runs of one shape
            for limit in (1, 2):
                plan = plan_ensembles(configs, limit, [[*held, "recorded-meanwhile"]])
                flat = [c.config_hash() for group in plan for c in group]
                assert sorted(flat) == sorted(hashes)
                assert flat[: len(held)] == list(held)
                assert all(len(g) <= limit and len({ensemble_key(c) for c in g}) == 1 for g in plan)
