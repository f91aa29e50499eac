"""`make figures` driver: every registered figure writes PNG + PDF + CSV."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from synthetic import figures


def test_registry_names_unique_and_nonempty() -> None:
    assert figures.registry()


def test_theory_figure_writes_files(tmp_path: Path) -> None:
    assert figures.main(["--only", "sd_memory_order", "--out", str(tmp_path)]) == 0
    for suffix in ("sd_memory_order.png", "sd_memory_order.pdf", "data/sd_memory_order.csv"):
        assert (tmp_path / suffix).stat().st_size > 0
    df = pd.read_csv(tmp_path / "data/sd_memory_order.csv")
    for panel in ("small", "large"):
        sub = df[df.panel == panel]
        b_size, n = int(sub.B_size.iloc[0]), int(sub.n.iloc[0])

        def curve(quantity: str, order: str, sub: pd.DataFrame = sub) -> pd.Series:
            rows = sub[(sub.quantity == quantity) & (sub.order == order)].sort_values("A_size")
            assert not rows.empty, (quantity, order)
            return rows.set_index("A_size").bits

        # one pass: the A-first cost grows with |A|, the B-first cost does not depend on |A|
        exact_a, exact_b = (curve("exact one-pass bound", o) for o in ("A-first", "B-first"))
        store_a, store_b = (curve("store-first (measured)", o) for o in ("A-first", "B-first"))
        assert exact_b.nunique() == 1 and store_b.nunique() == 1
        small = exact_a.index[exact_a.index < b_size]
        big = exact_a.index[(exact_a.index > b_size) & (exact_a.index < n - b_size)]  # C(n, |A|) > C(n, |B|)
        assert (exact_a[small] < exact_b[small]).all() and (exact_a[big] > exact_b[big]).all()
        assert (store_a >= exact_a).all() and (store_b >= exact_b).all()
        # two passes: the same memory in both orders, never more than the best one-pass order
        jrt_a = curve("JRT two-pass, Alg. 3 (measured)", "A-first")
        jrt_b = curve("JRT two-pass, Alg. 3 (measured)", "B-first")
        assert jrt_a.equals(jrt_b)
        assert (jrt_a <= pd.concat([store_a, store_b], axis=1).min(axis=1)).all()
        # measured p-pass memory respects the JR-p lower bound
        lower = curve("JR-4 lower bound", "either")
        for order in ("A-first", "B-first"):
            assert (curve("4-pass algorithm (measured)", order) >= lower).all()


def test_unknown_figure_is_an_error() -> None:
    with pytest.raises(SystemExit):
        figures.main(["--only", "no_such_figure"])


def test_kernel_figure_redraws_measured_rows_only(tmp_path: Path) -> None:
    """The kernel figure redraws bench/prefill.py's CSV; building it twice must not read its own
    output back (row count stays the number of measured rows it draws: B = 16, or N = 16k)."""
    import shutil

    (tmp_path / "data").mkdir()
    shutil.copy(Path(__file__).resolve().parents[1] / "figures/data/prefill_h200.csv", tmp_path / "data")
    measured = pd.read_csv(tmp_path / "data/prefill_h200.csv")
    for _ in range(2):
        assert figures.main(["--only", "kernels_prefill", "--out", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "data/kernels_prefill.csv")
    drawn = (measured.B == 16) | (measured.N == 16384)
    assert len(table) == int((drawn & measured.ms.notna()).sum()) > 0


def test_a_figure_built_twice_is_the_same_bytes(tmp_path: Path) -> None:
    """A fresh clone reproduces every committed figure file byte for byte: no dates in the files."""
    import time

    digests = []
    for attempt in range(2):
        out = tmp_path / str(attempt)
        assert figures.main(["--only", "sd_memory_order", "--out", str(out)]) == 0
        digests.append({p.name: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()})
        time.sleep(1.1)  # a creation date would now differ
    assert digests[0].keys() == {"sd_memory_order.png", "sd_memory_order.pdf", "sd_memory_order.csv"}
    assert digests[0] == digests[1]


@pytest.mark.parametrize(("value", "workers"), [(None, 0), ("", 0), ("0", 0), ("3", 3), (" 4 ", 4)])
def test_workers_from_env(monkeypatch: pytest.MonkeyPatch, value: str | None, workers: int) -> None:
    if value is None:
        monkeypatch.delenv("READTWICE_WORKERS", raising=False)
    else:
        monkeypatch.setenv("READTWICE_WORKERS", value)
    assert figures.workers_from_env() == workers


@pytest.mark.parametrize("value", ["abc", "-1", "2.5", "two"])
def test_bad_workers_from_env_names_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("READTWICE_WORKERS", value)
    with pytest.raises(ValueError, match=rf"READTWICE_WORKERS={value!r} must be an integer >= 0"):
        figures.workers_from_env()


def test_ctrl_c_stops_a_build_with_one_line(tmp_path: Path) -> None:
    """SIGINT while a figure trains its missing runs: exit status 130, one line saying how far the
    build got and what the sweep recorded, no traceback."""
    import os
    import signal
    import subprocess
    import sys
    import time

    cmd = [sys.executable, "-m", "synthetic.figures", "--only", "sd_order_state", "--out", str(tmp_path),
           "--results", str(tmp_path / "results")]  # fmt: skip
    env = {**os.environ, "READTWICE_WORKERS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    claims = tmp_path / "results" / "sd_order" / "quick" / "runs.jsonl.claims"
    while not claims.exists() and time.monotonic() < deadline:  # training has started: claims written
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err
    assert "interrupted after 0 of 1 figures: interrupted: 0 runs recorded, " in err
    assert err.rstrip().endswith("run the same command to resume")


def test_the_note_names_each_gpu_by_its_recorded_name() -> None:
    """A figure's note names the GPUs the records name in brackets, each once, and a CPU as 'cpu'
    whatever its record adds (threads, machine: the title of a figure redrawn elsewhere is the
    same)."""
    df = pd.DataFrame(
        {
            "config_hash": ["a", "b", "c", "d", "e"],
            "device": [
                "cuda:0 (NVIDIA H100 80GB HBM3)",
                "cuda:1 (NVIDIA H100 80GB HBM3)",
                "cuda:0 (NVIDIA H200)",
                "cpu",
                "cpu (1 threads, x86_64)",
            ],
        }
    )
    assert (
        figures._note(df, "paper", 640)
        == "profile paper, 5 of 640 runs on NVIDIA H100 80GB HBM3, NVIDIA H200, cpu"
    )
    assert figures._note(df.iloc[3:4], "quick", 1) == "profile quick, 1 run on cpu"
    assert figures._note(df.iloc[3:], "quick", 2) == "profile quick, 2 runs on cpu"
