"""Claims on a shared results store: two real processes racing for overlapping runs each train a
run once and lose no record; a claim of a killed process is taken over; another host's claim
lasts its lease; a reused pid is not taken for the owner."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from synthetic.results import ResultsStore, current_owner

ROOT = Path(__file__).resolve().parents[2]


def record(h: str, writer: str = "test") -> dict:
    return {
        "schema": 1,
        "config_hash": h,
        "config": {"writer": writer},
        "status": "ok",
        "summary": {"variant": "v"},
        "error": None,
    }


RACER = textwrap.dedent(
    """
    import json, random, sys, time
    from pathlib import Path
    from synthetic.results import ResultsStore

    path, name, n, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    store = ResultsStore(path)
    hashes = [f"h{i:03d}" for i in range(n)]
    rng = random.Random(name)
    trained = []
    (go.parent / f"ready-{name}").touch()  # imported and waiting: the test starts the race
    while not go.exists():
        time.sleep(0.001)
    while True:
        todo = sorted(set(hashes) - store.done_hashes())
        if not todo:
            break
        group = rng.sample(todo, min(3, len(todo)))  # an "ensemble" of overlapping runs
        got = store.claim(group)
        for h in sorted(got):
            time.sleep(0.001)  # "training"
            store.append({"schema": 1, "config_hash": h, "config": {"writer": name}, "status": "ok",
                          "summary": {"variant": "v"}, "error": None})
            trained.append(h)
        if not got:
            time.sleep(0.002)
    print(json.dumps(trained))
    """
)

HOLDER = textwrap.dedent(
    """
    import sys, time
    from synthetic.results import ResultsStore

    got = ResultsStore(sys.argv[1]).claim(sys.argv[2:])
    print(" ".join(sorted(got)), flush=True)
    time.sleep(120)
    """
)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def test_two_processes_racing_train_each_run_once_and_lose_no_record(tmp_path: Path) -> None:
    path = tmp_path / "exp" / "quick" / "runs.jsonl"
    go = tmp_path / "go"
    n = 60
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(path), name, str(n), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for name in ("first", "second")
    ]
    deadline = time.monotonic() + 60  # both imported (slow on a loaded CI machine), then race
    while not all((tmp_path / f"ready-{name}").exists() for name in ("first", "second")):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "a racer did not start"
        time.sleep(0.01)
    go.touch()  # both start racing at once
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    trained = [set(json.loads(out)) for out, _ in outs]
    assert not trained[0] & trained[1]  # no run trained twice
    assert trained[0] | trained[1] == {f"h{i:03d}" for i in range(n)}
    assert trained[0] and trained[1]  # both did work (the race really was a race)
    records = ResultsStore(path).records()
    assert sorted(r["config_hash"] for r in records) == [f"h{i:03d}" for i in range(n)]  # one each
    for r in records:  # each record was written by the process that trained it
        assert r["config_hash"] in trained[("first", "second").index(r["config"]["writer"])]
    assert ResultsStore(path).claims() == {}  # every claim was released by its record


def test_claim_of_a_killed_process_is_taken_over(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "runs.jsonl")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(store.path), "a", "b", "c"],
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().split() == ["a", "b", "c"]
        assert store.claim(["a", "b", "c", "d"]) == {"d"}  # the live holder keeps its claims
        assert {h for h, c in store.claims().items() if c["pid"] == holder.pid} == {"a", "b", "c"}
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert store.claim(["a", "b", "c", "d"]) == {"a", "b", "c", "d"}  # dead: taken over
    assert store.release(["a", "d"]) == {"a", "d"}
    assert set(store.claims()) == {"b", "c"}
    store.append(record("b"))  # a record releases its claim
    assert set(store.claims()) == {"c"}
    assert store.claim(["b", "c"]) == {"c"}  # b is recorded: never claimed again
    assert store.release() == {"c"} and store.claims() == {}


def _write_claim(store: ResultsStore, h: str, **owner: object) -> None:
    store.claims_path.parent.mkdir(parents=True, exist_ok=True)
    store.claims_path.write_text(json.dumps({"claims": {h: owner}}))


def test_claim_from_another_host_lasts_its_lease(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "runs.jsonl", lease_s=60)
    other = dict(pid=1, host="elsewhere/boot", start=1, token="t", claimed_at=0.0)
    _write_claim(store, "x", **other, refreshed=time.time() - 30)
    assert store.claim(["x"]) == set()  # refreshed 30 s ago: still leased
    _write_claim(store, "x", **other, refreshed=time.time() - 61)
    assert store.claim(["x"]) == {"x"}  # lease ran out


def test_a_reused_pid_is_not_the_owner(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "runs.jsonl")
    me = current_owner()
    parent = os.getppid()  # alive; use its pid with the wrong and the right start time
    from synthetic.results import _process_state

    start = _process_state(parent)[1]
    assert start is not None
    _write_claim(store, "x", pid=parent, host=me.host, start=start + 1, token="other", refreshed=0.0)
    assert store.claim(["x"]) == {"x"}
    store.release()
    _write_claim(store, "x", pid=parent, host=me.host, start=start, token="other", refreshed=0.0)
    assert store.claim(["x"]) == set()


def test_claim_api_errors_and_retry_failed(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "runs.jsonl")
    with pytest.raises(TypeError, match="not one string"):
        store.claim("abc")
    with pytest.raises(TypeError, match="non-empty string"):
        store.claim(["a", ""])
    store.append({**record("f"), "status": "failed"})
    store.append({**record("e"), "status": "error"})
    assert store.claim(["f", "e"]) == {"e"}  # a failed run is a result; an error is not
    assert store.claim(["f"], retry_failed=True) == {"f"}
    with store.claimed(["g", "f"], retry_failed=True) as got:
        assert got == {"g", "f"}  # already held by this process: returned again
    assert "g" not in store.claims()
    store.claims_path.write_text("not json")
    with pytest.raises(ValueError, match="is not a claims file"):
        store.claim(["z"])
