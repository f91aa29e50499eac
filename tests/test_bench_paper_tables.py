"""bench/paper_tables.py prints, from the committed paper records, the numbers that
docs/results/paper-scale.md shows: every row of its per-run and per-shape tables, verbatim."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.paper_tables import PROTOCOLS, main  # noqa: E402


def _section() -> str:
    """docs/results/paper-scale.md, which holds the paper-scale tables and prose (moved there from
    the README's section "Paper scale")."""
    return (ROOT / "docs" / "results" / "paper-scale.md").read_text(encoding="utf-8")


def _script_rows(section: str) -> list[str]:
    """The section's table rows that the script prints: those whose first cell names a variant and
    a protocol and whose second cell is a single number (a feature dim or a d_model), "yes" or "no"
    (checks membership or not), or that hold the accuracy cells ("short vs long, difference")."""
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("| ") or len(cells) < 3:
            continue
        labelled = cells[0].endswith(tuple(PROTOCOLS.values()))
        if labelled and (cells[1].isdigit() or cells[1] in ("yes", "no") or " vs " in cells[1]):
            rows.append(line.replace("**", ""))
    return rows


def test_the_readme_tables_are_the_scripts_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = _script_rows(_section())
    # two accuracy tables (4 rows each), the placed table, the checking runs, the learning curves
    assert len([r for r in rows if " vs " in r]) >= 8 and len(rows) >= 20, rows
    assert len([r for r in rows if r.split("|")[2].strip() in ("yes", "no")]) >= 17, rows
    for row in rows:
        assert row in out, row


def test_the_checking_profile_joins_the_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With records of the `checking` profile (here: the paper's checking runs under new hashes),
    the script prints them and a summary over both profiles, counting each run once."""
    import json

    from bench.paper_tables import mechanism
    from synthetic.results import ResultsStore, load_mechanism

    paper = ROOT / "results" / "sd_order" / "paper" / "runs.jsonl"
    checking = set(mechanism.checking_runs(load_mechanism(paper, "intervention_by_order")))
    lines = []
    for record in ResultsStore(paper).records():
        if record["config_hash"] in checking:
            record["config_hash"] = "z" + record["config_hash"][1:]  # not hex: never an existing hash
            lines.append(json.dumps(record))
    more = tmp_path / "runs.jsonl"
    more.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["--checking", str(more)]) == 0
    out = capsys.readouterr().out
    assert f"({more}: {len(checking)} runs analysed)" in out
    together = out[out.index("the paper and checking profiles together") :]
    assert "| 48 | 24 | 8 |" in together and "| 48 | 16 | 2 |" in together  # 4 + 4 and 1 + 1 runs
    # the paper's probed checking runs (d_model 64 on) appear twice: once under each profile's hash
    probed = load_mechanism(paper, "probes").config_hash.nunique()
    assert probed > 0 and f"({2 * probed} runs probed)" in out


def test_the_position_table_splits_runs_by_mechanism() -> None:
    """position_table: one row per run with a by_position analysis, and the mean per variant and
    mechanism (here two causal runs, one of which checks)."""
    import pandas as pd

    from bench.paper_tables import position_table

    rows, order = [], []
    for run, first, last, interaction in (("c1", 0.9, 0.5, 4.0), ("c2", 0.6, 0.6, 0.1)):
        base = {"config_hash": run, "variant": "Based (causal)", "init": "reference", "d_model": 48,
                "feature_dim": 24, "lr": 8e-4, "seed": int(run[1])}  # fmt: skip
        for part, acc in ((0, first), (3, last)):
            rows.append({**base, "slice": "A=4,B=512", "size_a": 4, "size_b": 512, "set": "B", "part": part,
                         "accuracy": acc, "accuracy_se": 0.03})  # fmt: skip
        for o in ("short-first", "long-first"):
            order.append({**base, "order": o, "interaction": interaction})
    table = position_table(pd.DataFrame(rows), pd.DataFrame(order))
    assert (
        "| causal Based, the paper code's init and optimiser | 48 | 24 | 0.0008 | 1 | yes "
        "| +0.400 ± 0.042 | 1 / 1 |" in table
    )
    assert "| causal Based, the paper code's init and optimiser | no | 1 | +0.000 ± n/a |" in table
    assert position_table(pd.DataFrame(), pd.DataFrame(order)).startswith("no accuracy by position")


def test_the_accuracy_table_names_a_shape_not_trained_yet() -> None:
    """accuracy_table on a partial grid: a row without runs at a feature dim says so instead of
    printing NaN (here causal Based has f = 4 and 24, non-causal only f = 4)."""
    import pandas as pd

    from bench.paper_tables import FIRST, SECOND, accuracy_table

    runs = pd.DataFrame(
        [
            {
                "variant": v,
                "init": "torch",
                "feature_dim": f,
                "lr": 5e-4,
                FIRST: 0.3,
                SECOND: 0.2,
                "difference": 0.1,
            }
            for v, f in (
                ("Based (causal)", 4),
                ("Based (causal)", 4),
                ("Based (causal)", 24),
                ("Based (non-causal)", 4),
            )
        ]
    )
    table = accuracy_table(runs)
    assert "nan" not in table
    assert "| non-causal Based, PyTorch init | 0.300 vs 0.200, +0.100 ± n/a | no runs yet | 1 / 1 |" in table
    assert (
        "| causal Based, PyTorch init | 0.300 vs 0.200, +0.100 ± 0.000 "
        "| 0.300 vs 0.200, +0.100 ± n/a | 3 / 3 |" in table
    )


def test_the_first_set_read_table_pools_each_runs_slices() -> None:
    """first_set_read_table_md: one row per run, each way's accuracy pooled over the slices and
    parts of B by their examples, the fall from B's first part to its last as a mean over slices."""
    import pandas as pd

    from bench.paper_tables import first_set_read_table_md
    from synthetic.analysis.first_set_read import WAYS

    base = {"config_hash": "c1", "variant": "Based (causal)", "init": "reference", "d_model": 48,
            "feature_dim": 24, "lr": 8e-4, "seed": 1}  # fmt: skip
    rows = []
    for (a, b), scale in (((4, 256), 1.0), ((4, 512), 0.5)):
        for way, (first, last) in zip(WAYS, ((0.8, 0.4), (1.0, 1.0), (0.6, 0.2)), strict=True):
            for part, acc in ((0, first), (3, last)):
                rows.append({**base, "slice": f"A={a},B={b}", "size_a": a, "size_b": b, "way": way,
                             "part": part, "n": 10 if scale == 1 else 30,
                             "accuracy": acc * (1 if way == WAYS[1] else scale)})  # fmt: skip
    table = first_set_read_table_md(pd.DataFrame(rows))
    # as trained: (10 (0.8 + 0.4) + 30 (0.4 + 0.2)) / 80 = 0.375; falls 0.4 and 0.2 -> +0.300
    # the read's change: short first 1.000 - 0.375; long first not read
    assert "| 48 | 24 | 0.0008 | 1 | 2 | 0.375 | 1.000 | 0.250 | +0.300 | +0.000 | - | +0.625 / - |" in table
    # version 8: the long-first mirror of (4, 256), read with the copy against A alone -> 1.0 - 0.4
    mirror = {**base, "slice": "A=256,B=4", "size_a": 256, "size_b": 4, "part": 0, "n": 20}
    more = [{**mirror, "way": way, "accuracy": acc} for way, acc in zip(WAYS, (0.5, 0.4, 0.3), strict=True)]
    table = first_set_read_table_md(pd.DataFrame(rows + more))
    # long first: the read 0.4 against 0.5 as trained
    assert (
        "| 48 | 24 | 0.0008 | 1 | 2 | 0.375 | 1.000 | 0.250 | +0.300 | +0.000 | +0.600 (1 / 1) "
        "| +0.625 / −0.100 |" in table
    )
    assert first_set_read_table_md(pd.DataFrame()).startswith("no first-set read")


def test_the_rank_and_places_table_reads_version_9_records() -> None:
    """rank_and_places_md: per run the mirror gaps of accuracy and auc_sets and the long-first
    answers drawn by B's places after the separator, both readings."""
    import pandas as pd

    from bench.paper_tables import rank_and_places_md
    from synthetic.analysis.b_places import ZONES

    base = {"config_hash": "c1", "variant": "Based (causal)", "init": "torch", "d_model": 36,
            "feature_dim": 4, "lr": 1e-3, "seed": 3, "n": 10}  # fmt: skip
    ranks = pd.DataFrame([
        {**base, "size_a": 4, "size_b": 32, "accuracy": 0.9, "auc_sets": 0.99},
        {**base, "size_a": 32, "size_b": 4, "accuracy": 0.5, "auc_sets": 0.95},
    ])  # fmt: skip
    places = pd.DataFrame([
        {**base, "size_a": 32, "size_b": 4, "separator": "as trained", "zone": ZONES[0], "answers": 0.3},
        {**base, "size_a": 32, "size_b": 4, "separator": "hidden from the convolutions", "zone": ZONES[0],
         "answers": 0.01},
        {**base, "size_a": 4, "size_b": 32, "separator": "as trained", "zone": ZONES[0], "answers": 0.9},
    ])  # fmt: skip
    table = rank_and_places_md(ranks, places)
    assert "| 36 | 4 | 0.001 | 3 | +0.400 (1 / 1) | +0.040 (1 / 1) | 0.300 | 0.010 |" in table
    assert "| +0.400 (1 / 1) | +0.040 (1 / 1) | - | - |" in rank_and_places_md(ranks, pd.DataFrame())
    assert rank_and_places_md(pd.DataFrame(), places).startswith("no copy rank")


def test_the_readme_prose_cites_the_scripts_counts(capsys: pytest.CaptureFixture[str]) -> None:
    """The counts the file's prose cites (runs that check and count, non-causal runs better long
    first, cells where causal Based is ahead long first) are those the script reads off the
    records: prose that a new batch of runs left stale fails here, as a stale table row does above."""
    import re

    assert main([]) == 0
    out = capsys.readouterr().out

    def numbers(pattern: str) -> tuple[str, ...]:
        found = re.search(pattern, out)
        assert found is not None, pattern
        return found.groups()

    checks, analysed, counts = map(int, numbers(r"- (\d+) of the (\d+) analysed runs check, (\d+) count"))
    assert checks + counts == analysed
    long_first = numbers(r"non-causal Based better long-first in (\d+) of (\d+) runs")
    ahead = numbers(r"causal Based ahead of non-causal in (\d+) of (\d+) protocol x shape")
    read = numbers(
        r"- profile paper: (\d+) runs read in both orders, short − long first with the copy read "
        r"against A alone (\S+ ± \S+) over the runs \(per run (\S+) to (\S+); (\d+) of (\d+) run"
    )
    prose = " ".join(_section().replace("**", "").split())  # lines joined: a phrase may wrap
    assert "all {} causal checking runs of d_model 64-128 are better short-first: {}".format(*read[:2]) in (
        prose
    )
    assert "({} to {}; {} of the {} run x pair cells)".format(*read[2:]) in prose
    assert f"In {counts} of the {analysed} analysed runs" in prose
    assert f"In the other {checks}, all with the paper code's init" in prose
    assert "long-first in {} of {} runs".format(*long_first) in prose
    assert "ahead of non-causal in {} of the {} protocol x shape".format(*ahead) in prose


def test_jrt_runs_are_paired_with_the_based_variant_they_read_with() -> None:
    """jrt_against_based pairs JRT-Prompt with causal Based and JRT-RNN with non-causal Based of the
    same protocol, shape, lr and seed (a run without its partner is left out), and prints the mean
    difference of the signed order effect, of its size and of long-first accuracy with the pairs
    where the difference is positive;
    the JRT rows of the accuracy tables and the best runs are labelled by the JRT variant."""
    import pandas as pd

    from bench.paper_tables import FIRST, SECOND, _label, best_runs, cell_ranges, jrt_against_based

    def run(variant: str, seed: int, first: float, second: float, init: str = "torch") -> dict:
        return {"variant": variant, "init": init, "d_model": 36, "feature_dim": 4, "lr": 5e-4, "seed": seed,
                FIRST: first, SECOND: second, "difference": first - second}  # fmt: skip

    runs = pd.DataFrame(
        [
            run("Based (causal)", 123, 0.30, 0.20),
            run("Based (causal)", 124, 0.30, 0.20),
            run("JRT-Prompt", 123, 0.30, 0.25),  # effect 0.05 (causal 0.10): −0.05; long first +0.05
            run("JRT-Prompt", 124, 0.40, 0.20),  # effect 0.20: +0.10; long first 0
            run("JRT-Prompt", 125, 0.40, 0.20),  # no causal partner: left out
            run("Based (non-causal)", 123, 0.10, 0.20),
            run("JRT-RNN", 123, 0.20, 0.20),  # effect 0 (non-causal −0.10): +0.10; long first 0
            run("JRT-RNN", 123, 0.20, 0.20, init="reference"),  # its partner has another init
        ]
    )
    table = jrt_against_based(runs)
    rows = table.splitlines()[2:]
    assert rows == [
        "| JRT-Prompt − causal Based, PyTorch init | 36 | 4 | 2 "
        "| +0.025 ± 0.075 (1 / 2) | +0.025 ± 0.075 (1 / 2) | +0.025 ± 0.025 (1 / 2) |",
        # non-causal Based is long-first (−0.10) and JRT-RNN even: the signed effect rises by 0.10,
        # its size falls by 0.10
        "| JRT-RNN − non-causal Based, PyTorch init | 36 | 4 | 1 "
        "| +0.100 ± n/a (1 / 1) | −0.100 ± n/a (0 / 1) | +0.000 ± n/a (0 / 1) |",
    ], table
    assert _label("JRT-RNN", "reference") == "JRT-RNN, the paper code's init and optimiser"
    assert "| 36 | JRT-Prompt, PyTorch init | 0.4000 | 0.2500 |" in best_runs(runs)
    assert "JRT-RNN, the paper code's init and optimiser" in cell_ranges(runs)


def test_learning_table_from_constructed_curves() -> None:
    """Per (variant, protocol, checks): runs, mean accuracy at the listed epochs, the epoch ending
    each run's largest one-epoch rise (median and range) with its mean size, and the last epoch
    minus the third-last, mean ± s.e."""
    from bench.paper_tables import learning_table

    curves = {
        "c1": [0.1, 0.2, 0.2, 0.6, 0.7],  # largest rise at epoch 4 (+0.4), last 3: +0.5
        "c2": [0.1, 0.2, 0.5, 0.5, 0.6],  # at 3 (+0.3), last 3: +0.4
        "n1": [0.1, 0.3, 0.3, 0.3, 0.3],  # at 2 (+0.2), last 3: 0
    }
    rows = [
        {
            "config_hash": h,
            "variant": "Based (causal)",
            "init": "reference",
            "epoch": e + 1,
            "eval_accuracy": a,
        }
        for h, accs in curves.items()
        for e, a in enumerate(accs)
    ]
    lines = learning_table(pd.DataFrame(rows), {"c1", "c2"}, epochs=(1, 5)).splitlines()
    assert lines[0] == (
        "| variant, protocol | checks | runs | epoch 1 | epoch 5 "
        "| largest rise at epoch | its size | last 3 epochs |"
    )
    label = "causal Based, the paper code's init and optimiser"
    assert lines[2] == f"| {label} | no | 1 | 0.100 | 0.300 | 2 (2-2) | +0.200 | +0.000 ± n/a |"
    assert lines[3] == f"| {label} | yes | 2 | 0.100 | 0.650 | 3.5 (3-4) | +0.350 | +0.450 ± 0.050 |"
