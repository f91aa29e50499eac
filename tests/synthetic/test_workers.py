"""The worker pool: items streamed as they come, a worker killed mid-task noticed and replaced,
a worker that declares itself unusable (or whose task raises) replaced, an early close stopping
busy workers. Real spawned processes; the tasks are plain functions of this module (light: no
torch in the workers)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from synthetic.workers import Ended, Item, TaskFailed, WorkerLost, WorkerPool, WorkerUnusable, describe_exit


def task(payload: tuple[str, int]) -> Iterator[tuple[str, int, int]]:
    """Yield (payload name, item index, worker pid) ``count`` times, then act as the name says:
    'kill' SIGKILLs its own process after its items, 'unusable' raises WorkerUnusable, 'raise'
    raises ValueError, 'sleep' sleeps for a minute, anything else ends normally."""
    name, count = payload
    for i in range(count):
        yield name, i, os.getpid()
    if name == "kill":
        time.sleep(0.2)  # the items are in the pipe; then the process dies mid-task
        os.kill(os.getpid(), signal.SIGKILL)
    if name == "unusable":
        raise WorkerUnusable("the device context is unusable after: CUDA error: an illegal memory access")
    if name == "raise":
        raise ValueError("a bug in the task")
    if name == "sleep":
        time.sleep(60)


def _run(tasks: list[tuple[str, int]], workers: int) -> tuple[list[Any], WorkerPool[str]]:
    pool: WorkerPool[str] = WorkerPool(task, workers)
    events = list(pool.run((name, (name, count)) for name, count in tasks))
    return events, pool


def test_items_stream_and_every_task_ends_once() -> None:
    events, pool = _run([("a", 3), ("b", 2), ("c", 1)], workers=2)
    items = [e.value[:2] for e in events if isinstance(e, Item)]
    assert sorted(items) == [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1), ("c", 0)]
    ended = [e for e in events if isinstance(e, Ended)]
    assert sorted(e.task for e in ended) == ["a", "b", "c"] and all(e.error is None for e in ended)
    for name in "abc":  # a task's items come before its end
        last_item = max(i for i, e in enumerate(events) if isinstance(e, Item) and e.task == name)
        assert last_item < next(i for i, e in enumerate(events) if isinstance(e, Ended) and e.task == name)
    assert pool.started == 2  # two workers did three tasks


@pytest.mark.parametrize("workers", [1, 2])
def test_a_killed_worker_loses_only_its_task_and_is_replaced(workers: int) -> None:
    events, pool = _run([("kill", 2), ("a", 1), ("b", 1), ("c", 1)], workers=workers)
    (lost,) = [e for e in events if isinstance(e, Ended) and e.error is not None]
    assert lost.task == "kill" and isinstance(lost.error, WorkerLost)
    assert "killed by SIGKILL (signal 9)" in str(lost.error)
    # what the task sent before it died arrived; every other task ended normally
    assert sorted(e.value[1] for e in events if isinstance(e, Item) and e.task == "kill") == [0, 1]
    assert sorted(e.task for e in events if isinstance(e, Ended) and e.error is None) == ["a", "b", "c"]
    killed = next(e.value[2] for e in events if isinstance(e, Item) and e.task == "kill")
    assert killed not in {e.value[2] for e in events if isinstance(e, Item) and e.task != "kill"}
    if workers == 1:
        assert pool.started == 2  # the dead worker was replaced for the tasks after it


@pytest.mark.parametrize("name", ["unusable", "raise"])
def test_a_worker_that_must_not_go_on_is_replaced(name: str) -> None:
    events, pool = _run([(name, 1), ("a", 1), ("b", 1), ("c", 1)], workers=1)
    first_pid = next(e.value[2] for e in events if isinstance(e, Item) and e.task == name)
    later_pids = {e.value[2] for e in events if isinstance(e, Item) and e.task != name}
    assert first_pid not in later_pids and len(later_pids) == 1  # a fresh process took the rest
    ended = {e.task: e.error for e in events if isinstance(e, Ended)}
    assert set(ended) == {name, "a", "b", "c"} and pool.started == 2
    if name == "unusable":
        assert ended[name] is None  # its items were all sent: the task itself is complete
    else:
        assert isinstance(ended[name], TaskFailed) and "ValueError: a bug in the task" in str(ended[name])
    assert all(ended[t] is None for t in "abc")


def test_closing_the_run_stops_busy_workers_at_once() -> None:
    pool: WorkerPool[str] = WorkerPool(task, 2)
    events = pool.run([("sleep", ("sleep", 1)), ("sleep2", ("sleep", 1))])
    first = next(events)
    assert isinstance(first, Item)
    t0 = time.monotonic()
    events.close()
    assert time.monotonic() - t0 < 5  # SIGTERM, not the minute of sleep
    assert not pool._pool  # every worker joined


def test_describe_exit_and_argument_errors() -> None:
    assert describe_exit(7, -9) == "worker process 7 was killed by SIGKILL (signal 9)"
    assert describe_exit(7, 143) == "worker process 7 was stopped by SIGTERM (exit code 143)"
    assert describe_exit(7, 3) == "worker process 7 exited with code 3 before it ended its task"
    for bad in (0, True, 1.5):
        with pytest.raises(ValueError, match="workers="):
            WorkerPool(task, bad)  # type: ignore[arg-type]


SLOW_IMPORT = """
import time
time.sleep(1.5)  # a worker unpickling this task is still starting up when the Ctrl-C comes


def task(payload):
    yield payload
"""

INTERRUPTED_PARENT = """
import os, signal, sys, threading
import slow_task
from synthetic.workers import WorkerPool

if __name__ == "__main__":
    threading.Timer(0.5, lambda: os.killpg(os.getpgrp(), signal.SIGINT)).start()
    try:
        for _ in WorkerPool(slow_task.task, 2).run([(i, i) for i in range(2)]):
            pass
    except KeyboardInterrupt:
        print("parent interrupted", flush=True)
"""


def test_a_ctrl_c_while_workers_start_up_reaches_the_parent_only(tmp_path: Path) -> None:
    """SIGINT to the process group while the first workers are still starting (importing their
    task): the parent stops, the workers print nothing (they start with SIGINT blocked, even the
    first ones, whose start also starts multiprocessing's resource tracker)."""
    import subprocess
    import sys

    (tmp_path / "slow_task.py").write_text(SLOW_IMPORT)
    script = tmp_path / "parent.py"
    script.write_text(INTERRUPTED_PARENT)
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": path},
        start_new_session=True,
    )
    assert proc.stdout.strip() == "parent interrupted", proc
    assert "Traceback" not in proc.stderr and "KeyboardInterrupt" not in proc.stderr, proc.stderr


def test_sigterm_inside_a_finalizer_still_exits_quietly() -> None:
    """A SIGTERM that lands while a finalizer runs (tqdm.__del__ in a CI run) used to print
    "Exception ignored in ..." with a traceback, and the process carried on; with the worker's
    unraisable hook it exits with 128 + SIGTERM and prints nothing."""
    import signal as signals
    import subprocess
    import sys
    import time as clock

    script = (
        "import signal, sys, time\n"
        "from synthetic import workers\n"
        "signal.signal(signal.SIGTERM, workers._exit_on_sigterm)\n"
        "sys.unraisablehook = workers._exit_after_finalizer\n"
        "class Slow:\n"
        "    def __del__(self):\n"
        "        print('in-del', flush=True)\n"
        "        time.sleep(5)\n"
        "x = Slow()\n"
        "del x\n"
        "time.sleep(10)\n"
        "print('carried on', flush=True)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "in-del"
    clock.sleep(0.2)
    proc.send_signal(signals.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signals.SIGTERM, (out, err)
    assert "carried on" not in out and "Exception ignored" not in err, err
