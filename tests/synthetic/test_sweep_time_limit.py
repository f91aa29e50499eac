"""A sweep's time limit (``run --time-limit``): no ensemble starts that would end past it, judged
by the longest ensemble finished so far; the runs left wait for the next invocation, which trains
exactly them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from synthetic.__main__ import main
from synthetic.results import ResultsStore, results_path
from synthetic.sweep import TimeLimit, run_sweep

from . import tiny_sweep

torch.set_num_threads(1)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@given(
    limit=st.floats(0, 1e4),
    durations=st.lists(st.floats(0, 1e4), max_size=5),
    now=st.floats(0, 2e4),
)
def test_an_ensemble_starts_when_the_longest_so_far_still_fits(
    limit: float, durations: list[float], now: float
) -> None:
    clock = FakeClock()
    tl = TimeLimit(limit, clock)
    for d in durations:
        tl.finished(d)
    clock.now = now
    assert tl.allows_start() == (now + max(durations, default=0.0) <= limit)
    assert TimeLimit(None, clock).allows_start()


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_bad_limits_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match=r"time_limit=.* finite number of seconds >= 0"):
        TimeLimit(bad)


def _hashes(res: Path) -> Counter[str]:
    store = ResultsStore(results_path(res, tiny_sweep.NAME, "quick"))
    return Counter(r["config_hash"] for r in store.records())


@pytest.mark.parametrize("workers", [1, 2])
def test_past_the_limit_nothing_starts_and_the_next_sweep_trains_it_all(tmp_path: Path, workers: int) -> None:
    exp = tiny_sweep.experiment(tmp_path)
    res = tmp_path / "res"
    summary = run_sweep(
        exp, "quick", results_dir=res, workers=workers, ensemble=2, progress=False, time_limit=0.0
    )
    assert (summary.recorded, summary.ensembles, summary.not_started) == (0, 0, 8)
    assert "8 not started (time limit)" in str(summary)
    assert not _hashes(res)
    again = run_sweep(exp, "quick", results_dir=res, workers=workers, ensemble=2, progress=False)
    assert (again.ok, again.not_started) == (8, 0)
    assert set(_hashes(res).values()) == {1}


def test_a_generous_limit_changes_nothing(tmp_path: Path) -> None:
    exp = tiny_sweep.experiment(tmp_path)
    summary = run_sweep(
        exp, "quick", results_dir=tmp_path / "res", ensemble=2, progress=False, time_limit=3600.0
    )
    assert (summary.ok, summary.not_started) == (8, 0)


def test_ray_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exp = tiny_sweep.write(tmp_path)
    with pytest.raises(ValueError, match="local runner only"):
        run_sweep(exp, "quick", results_dir=tmp_path / "res", runner="ray", time_limit=10.0)
    assert main(["run", str(exp), "--results", str(tmp_path / "res"), "--quiet", "--time-limit", "1e-9"]) == 0
    assert "8 not started (time limit)" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:  # argparse refuses it
        main(["run", str(exp), "--results", str(tmp_path / "res"), "--time-limit", "-3"])
    assert exit_info.value.code == 2
    assert "--time-limit: -3 must be a finite number > 0" in capsys.readouterr().err
