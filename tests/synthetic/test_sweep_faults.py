"""Sweeps that survive faults, with real processes where the fault is a process's: a SIGKILLed
worker costs only its ensemble (recorded as errors; the rerun trains exactly those runs, each run
recorded once), a poisoned CUDA context retires the process it broke, and Ctrl-C stops a sweep
cleanly (exit status 130, one line, claims released) so that a rerun completes the grid once. (A
lost Ray task: tests/synthetic/test_sweep.py, beside the Ray runner's other test, to start Ray once.)"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import torch

from synthetic import sweep
from synthetic.__main__ import main
from synthetic.devices import context_unusable
from synthetic.members import StackedLanguageModel
from synthetic.record import RunRecord
from synthetic.results import ResultsStore, model_path, results_path
from synthetic.sweep import SweepInterrupted, expand, load_experiment, run_sweep
from synthetic.train import Keep
from synthetic.workers import WorkerUnusable

from . import tiny_sweep

torch.set_num_threads(1)

INTERRUPTED = re.compile(
    r"interrupted: (\d+) runs? recorded, (\d+) in flight dropped; run the same command to resume"
)
ILLEGAL_ACCESS = "CUDA error: an illegal memory access was encountered"


def _command(toml: Path, results: Path, *options: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "synthetic",
        "run",
        str(toml),
        "--results",
        str(results),
        "--quiet",
        *options,
    ]


def _start(cmd: list[str]) -> subprocess.Popen[str]:
    """The sweep in its own process group (as a shell runs a command), one torch thread."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
    )


def _workers_of(pid: int) -> list[int]:
    """The spawned worker processes of process ``pid`` (not its resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[stat.rfind(")") + 2 :].split()[1]) == pid and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return sorted(found)


def _wait(condition: Any, what: str, timeout: float = 120.0) -> Any:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _records(store_path: Path) -> list[RunRecord]:
    return ResultsStore(store_path).records()


def _ensemble_of(r: RunRecord) -> tuple[Any, ...]:
    return (r["summary"]["variant"], r["summary"]["d_model"])


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the workers through /proc")
def test_a_killed_worker_costs_only_its_ensemble_and_the_rerun_trains_just_those_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    toml, res = tiny_sweep.write(tmp_path), tmp_path / "res"
    store_path = results_path(res, "faults", "quick")
    cmd = _command(toml, res, "--workers", "2", "--ensemble", "2", "--save-models")
    proc = _start(cmd)
    workers = _wait(lambda: len(_workers_of(proc.pid)) == 2 and _workers_of(proc.pid), "two workers")
    # each worker got its ensemble when it started; one is killed while it trains (or starts up)
    os.kill(workers[0], signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, (out, err)
    assert "Traceback" not in err and "BrokenProcessPool" not in err and "leaked" not in err, err
    assert "8 runs in the grid, 0 already recorded; now 6 ok, 0 failed (diverged), 2 errored" in out
    assert "2 runs errored (environment; will be retried on the next invocation)" in err
    records = _records(store_path)
    errors = [r for r in records if r["status"] == "error"]
    assert len(records) == 8 and len(errors) == 2
    assert len({_ensemble_of(r) for r in errors}) == 1  # the two runs of the killed worker's ensemble
    for r in errors:
        assert f"WorkerLost: worker process {workers[0]} was killed by SIGKILL (signal 9)" in str(r["error"])
        assert not model_path(store_path, r["config_hash"]).exists()
    for r in records:  # every other ensemble finished, its trained weights kept beside the records
        if r["status"] == "ok":
            assert r.get("model_file") and (store_path.parent / str(r["model_file"])).is_file()

    assert main([*cmd[3:], "--workers", "1"]) == 0  # the same command again, in this process
    assert "8 runs in the grid, 6 already recorded; now 2 ok" in capsys.readouterr().out
    records = _records(store_path)
    ok = Counter(r["config_hash"] for r in records if r["status"] == "ok")
    wanted = {c.config_hash() for c in expand(load_experiment(toml), "quick")}
    assert set(ok) == wanted and set(ok.values()) == {1}  # every run recorded once as a result
    retrained = [r["config_hash"] for r in records[8:]]
    assert sorted(retrained) == sorted(r["config_hash"] for r in errors)  # exactly the lost runs


def test_ctrl_c_mid_sweep_exits_130_in_one_line_and_a_rerun_completes_the_grid_once(tmp_path: Path) -> None:
    """SIGINT to the process group, as Ctrl-C in a shell, once the first record is in."""
    toml, res = tiny_sweep.write(tmp_path), tmp_path / "res"
    store_path = results_path(res, "faults", "quick")
    cmd = _command(toml, res, "--workers", "2", "--ensemble", "2")
    proc = _start(cmd)
    _wait(lambda: store_path.exists() and store_path.read_text().count("\n") >= 1, "the first record")
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the sweep and its workers get SIGINT
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err  # no traceback, no warnings from the workers
    match = INTERRUPTED.fullmatch(lines[0])
    assert match, lines[0]
    recorded, dropped = int(match[1]), int(match[2])
    assert recorded >= 1 and dropped >= 1 and recorded + dropped <= 8
    assert len(_records(store_path)) == recorded  # an interrupt waits until a record is written and counted
    assert not ResultsStore(store_path).claims()  # released: a rerun starts at once

    assert main([*cmd[3:], "--workers", "1"]) == 0  # the same command again, in this process
    hashes = [r["config_hash"] for r in _records(store_path)]
    wanted = {c.config_hash() for c in expand(load_experiment(toml), "quick")}
    assert sorted(hashes) == sorted(wanted)  # the grid once: none lost, none repeated


def test_an_interrupted_sweep_in_this_process_says_what_it_recorded_and_dropped(tmp_path: Path) -> None:
    exp = tiny_sweep.experiment(tmp_path)
    store_path = results_path(tmp_path, "faults", "quick")
    seen: list[str] = []

    def ctrl_c_after_three(record: RunRecord) -> None:
        seen.append(record["config_hash"])
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(SweepInterrupted) as caught:
        run_sweep(
            exp, "quick", results_dir=tmp_path, ensemble=2, on_record=ctrl_c_after_three, progress=False
        )
    err = caught.value
    assert isinstance(err, KeyboardInterrupt)  # code that catches Ctrl-C still does
    assert (err.summary.recorded, err.dropped) == (3, 1)  # the 2nd ensemble's other run was in flight
    assert str(err) == "interrupted: 3 runs recorded, 1 in flight dropped; run the same command to resume"
    assert not ResultsStore(store_path).claims()
    summary = run_sweep(exp, "quick", results_dir=tmp_path, ensemble=2, progress=False)
    assert (summary.skipped, summary.ok) == (3, 5)
    assert sorted(r["config_hash"] for r in _records(store_path)) == sorted(
        c.config_hash() for c in expand(exp, "quick")
    )


@pytest.mark.parametrize(
    ("message", "unusable"),
    [
        (ILLEGAL_ACCESS, True),
        ("RuntimeError: CUDA error: device-side assert triggered", True),
        ("Triton Error [CUDA]: an illegal memory access was encountered", True),
        ("AcceleratorError: CUDA error: unspecified launch failure", True),
        ("cudaErrorLaunchFailure", True),
        ("CUDA error: misaligned address", True),
        ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB", False),
        ("ValueError: device='cuda:3' was requested but torch sees 1 CUDA device(s)", False),
        (None, False),
    ],
)
def test_which_errors_leave_a_process_unusable(message: str | None, unusable: bool) -> None:
    assert context_unusable(message) is unusable


def _poison(monkeypatch: pytest.MonkeyPatch, message: str) -> list[int]:
    """Make every forward pass of a stacked model in this process fail with ``message``; returns
    the list that counts the calls."""
    calls: list[int] = []

    def broken(self: StackedLanguageModel, *args: Any) -> torch.Tensor:
        calls.append(1)
        raise RuntimeError(message)

    monkeypatch.setattr(StackedLanguageModel, "labelled_logits", broken)
    return calls


def test_a_worker_whose_context_broke_records_the_error_then_retires(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exp = tiny_sweep.experiment(tmp_path)
    cfgs = [c for c in expand(exp, "quick") if c.variant == "causal" and c.model.d_model == 4]
    payload = ([c.model_dump_json() for c in cfgs], "cpu", Keep())
    _poison(monkeypatch, ILLEGAL_ACCESS)
    task = sweep._ensemble_task(payload)
    outputs = [next(task), next(task)]  # both runs recorded as errors, with the device's message
    assert all(o.record["status"] == "error" and ILLEGAL_ACCESS in str(o.record["error"]) for o in outputs)
    with pytest.raises(WorkerUnusable, match="illegal memory access"):
        next(task)  # ... then the worker exits instead of training the next ensemble
    _poison(monkeypatch, "CUDA out of memory. Tried to allocate 2.00 GiB")
    outputs = list(sweep._ensemble_task(payload))  # a usable process goes on
    assert [o.record["status"] for o in outputs] == ["error", "error"]


def test_a_broken_context_in_this_process_hands_the_rest_to_a_fresh_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """workers=1 trains in this process; once its (here simulated) CUDA context breaks, the other
    ensembles train in a spawned worker, where the fault is not: they all succeed."""
    exp = tiny_sweep.experiment(tmp_path)
    calls = _poison(monkeypatch, ILLEGAL_ACCESS)
    only: dict[str, Any] = dict(only=lambda c: c.model.d_model == 4)  # 2 ensembles of 2
    summary = run_sweep(exp, "quick", results_dir=tmp_path, ensemble=2, progress=False, **only)
    assert (summary.ok, summary.errored, summary.ensembles) == (2, 2, 2)
    assert len(calls) == 1  # this process tried one step of one ensemble, then trained nothing more
    records = _records(results_path(tmp_path, "faults", "quick"))
    errors = [r for r in records if r["status"] == "error"]
    assert len({_ensemble_of(r) for r in errors}) == 1 and records[:2] == errors
