"""Training figures: the order tables (mean over seeds with standard errors; the paper's max over
LR and seeds), the sensitivity table, and the builders end to end on the smoke profiles."""

from __future__ import annotations

import itertools
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from synthetic import figures
from synthetic.plots import training
from synthetic.plots.common import FigureContext
from synthetic.results import ResultsStore, results_path

torch.set_num_threads(1)

SLICES = [(4, 16), (8, 32), (16, 4), (32, 8)]  # two short-first, two long-first
LABELS = 100  # examples per test slice


def fake_tidy(acc: dict[tuple[str, int, float, int, int, int], float], init: str = "torch") -> pd.DataFrame:
    """Tidy rows from {(variant, d_model, lr, seed, A, B): accuracy}."""
    rows = []
    for (variant, d, lr, seed, a, b), value in acc.items():
        rows.append(
            dict(
                variant=variant,
                d_model=d,
                feature_dim=4,
                paper_state_bytes=100 * d,
                state_bytes=120 * d,
                init=init,
                lr=lr,
                seed=seed,
                config_hash=f"{variant}-{d}-{lr}-{seed}-{init}",
                A=a,
                B=b,
                slice=f"A={a},B={b}",
                slice_accuracy=value,
                slice_labels=LABELS,
            )
        )
    return pd.DataFrame(rows)


def grid_values(values: list[float]) -> dict[tuple[str, int, float, int, int, int], float]:
    keys = list(itertools.product(["v"], [8, 16], [1e-3, 1e-2], [0, 1], SLICES))
    return {(v, d, lr, s, a, b): x for (v, d, lr, s, (a, b)), x in zip(keys, values * 2, strict=False)}


def order_mean(acc: dict, d: int, lr: float, s: int, order: str) -> float:
    pairs = SLICES[:2] if order == "short" else SLICES[2:]
    return sum(acc[("v", d, lr, s, a, b)] for a, b in pairs) / 2


@settings(max_examples=25)
@given(values=st.lists(st.floats(0, 1), min_size=32, max_size=32))
def test_max_table_is_max_over_lr_and_seed_of_mean_over_slices(values: list[float]) -> None:
    acc = grid_values(values)
    table = training.order_table(
        fake_tidy(acc), training.sd_order_of, "short first", "long first", statistic="max"
    )
    assert list(table.d_model) == [8, 16]
    for _, row in table.iterrows():
        runs = [(lr, s) for lr in (1e-3, 1e-2) for s in (0, 1)]
        short = max(order_mean(acc, row.d_model, lr, s, "short") for lr, s in runs)
        long = max(order_mean(acc, row.d_model, lr, s, "long") for lr, s in runs)
        assert row["short first"] == pytest.approx(short)
        assert row["long first"] == pytest.approx(long)
        assert row["difference"] == pytest.approx(short - long)
        assert row["runs"] == 4


@settings(max_examples=25)
@given(values=st.lists(st.floats(0.01, 0.99), min_size=32, max_size=32))
def test_mean_table_takes_the_best_lr_then_the_mean_over_seeds(values: list[float]) -> None:
    acc = grid_values(values)
    table = training.order_table(fake_tidy(acc), training.sd_order_of, "short first", "long first")
    for _, row in table.iterrows():
        d = row.d_model

        def both(lr: float, d: int = d) -> float:
            return float(np.mean([order_mean(acc, d, lr, s, o) for s in (0, 1) for o in ("short", "long")]))

        best = max((1e-3, 1e-2), key=both)
        assert row.lr == best and row.seeds == 2 and row.settings == 2
        shorts = [order_mean(acc, d, best, s, "short") for s in (0, 1)]
        longs = [order_mean(acc, d, best, s, "long") for s in (0, 1)]
        diffs = [a - b for a, b in zip(shorts, longs, strict=True)]
        assert row["short first"] == pytest.approx(np.mean(shorts))
        assert row["long first"] == pytest.approx(np.mean(longs))
        assert row["difference"] == pytest.approx(np.mean(diffs))
        assert row["difference min"] == pytest.approx(min(diffs))
        assert row["difference max"] == pytest.approx(max(diffs))
        assert row["difference se"] >= row["difference binomial se"] > 0
        assert row["difference se"] >= np.std(diffs, ddof=1) / np.sqrt(2) - 1e-12


def test_binomial_standard_error_of_one_run() -> None:
    acc = {("v", 8, 1e-3, 0, a, b): p for (a, b), p in zip(SLICES, [0.5, 0.9, 0.5, 0.1], strict=True)}
    runs = training.run_orders(fake_tidy(acc), training.sd_order_of, "short first", "long first")
    run = runs.iloc[0]
    assert run["short first se"] == pytest.approx(np.sqrt(0.25 / LABELS + 0.09 / LABELS) / 2)
    assert run.difference == pytest.approx(0.7 - 0.3)


def test_sensitivity_table_per_setting() -> None:
    acc = grid_values([0.2 + 0.01 * i for i in range(32)])
    df = pd.concat([fake_tidy(acc, "torch"), fake_tidy({k: 1 - v for k, v in acc.items()}, "reference")])
    table = training.sensitivity_table(df, training.sd_order_of, "short first", "long first")
    assert len(table) == 2 * 2 * 2  # d_model x lr x init
    assert set(table.init) == {"torch", "reference"} and table.seeds.eq(2).all()
    for _, row in table.iterrows():
        seeds = [float(v) for v in row["seed values"].split(";")]
        assert row.difference == pytest.approx(np.mean(seeds), abs=1e-4)
        assert row["difference min"] <= row.difference <= row["difference max"]


@settings(max_examples=20)
@given(values=st.lists(st.floats(0.01, 0.99), min_size=32, max_size=32))
def test_seed_table_counts_seeds_and_takes_the_larger_standard_error(values: list[float]) -> None:
    acc = grid_values(values)
    df = fake_tidy(acc)
    table = training.seed_table(df, training.sd_order_of, "short first", "long first")
    assert len(table) == 8  # one row per run
    for (d, lr), g in table.groupby(["d_model", "lr"]):
        diffs = [order_mean(acc, d, lr, s, "short") - order_mean(acc, d, lr, s, "long") for s in (0, 1)]
        assert list(g.seed) == [0, 1]
        assert g.difference.tolist() == pytest.approx(diffs)
        assert g["mean difference"].eq(g["mean difference"].iloc[0]).all()
        assert g["mean difference"].iloc[0] == pytest.approx(np.mean(diffs))
        assert g.positive.iloc[0] == sum(x > 0 for x in diffs) and g.seeds.eq(2).all()
        binomial = np.sqrt((g["difference se"] ** 2).sum()) / 2
        se = max(np.std(diffs, ddof=1) / np.sqrt(2), binomial)
        assert g["mean difference se"].iloc[0] == pytest.approx(se)
    one = table[(table.d_model == 8) & (table.lr == 1e-3)]
    fig = training.draw_seed_spread(one, "short first", "long first", "t")
    assert len(fig.axes) == 2


def test_order_table_errors() -> None:
    with pytest.raises(ValueError, match="no successful runs"):
        training.order_table(pd.DataFrame(), training.sd_order_of, "short first", "long first")
    only_short = fake_tidy({("v", 8, 1e-3, 0, 4, 16): 0.5})
    with pytest.raises(ValueError, match="no test slices of order 'long first'"):
        training.order_table(only_short, training.sd_order_of, "short first", "long first")
    with pytest.raises(ValueError, match="statistic='median'"):
        training.order_table(
            only_short, training.sd_order_of, "short first", "long first", statistic="median"
        )


@pytest.mark.parametrize(
    ("name", "experiment"), [("sd_order_state", "sd_order"), ("mqar_order_state", "mqar_order")]
)
def test_builder_runs_missing_sweep_then_draws(
    tmp_path: Path, name: str, experiment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("READTWICE_WORKERS", "1")  # in-process: no worker start-up in a test
    ctx = FigureContext(out_dir=tmp_path / "fig", profile="smoke", results_dir=tmp_path / "res")
    figures.TRAINING_FIGURES[name](ctx)
    for suffix in (f"{name}.png", f"{name}.pdf", f"data/{name}.csv"):
        assert (ctx.out_dir / suffix).stat().st_size > 0
    table = pd.read_csv(ctx.out_dir / "data" / f"{name}.csv")
    assert set(table.variant) == set(training.VARIANT_ORDER)
    assert table.paper_state_bytes.gt(0).all() and table.seeds.eq(1).all()
    store = ResultsStore(results_path(ctx.results_dir, experiment, "smoke"))
    n_runs = len(store.records())
    assert n_runs == 4
    # a second build reuses the stored runs (nothing retrained, nothing duplicated)
    figures.TRAINING_FIGURES[name](ctx)
    assert len(store.records()) == n_runs


def test_committed_results_figures_say_what_is_missing(tmp_path: Path) -> None:
    ctx = FigureContext(out_dir=tmp_path, results_dir=tmp_path / "res")
    with pytest.raises(figures.FigureUnavailable, match="run sd_order --profile sensitivity"):
        figures.build_sd_sensitivity(ctx)
    with pytest.raises(figures.FigureUnavailable, match="run sd_order --profile seeds"):
        figures.build_sd_seeds(ctx)
    if not torch.cuda.is_available():
        with pytest.raises(figures.FigureUnavailable, match=r"run sd_order --profile paper .*on a GPU"):
            figures.build_sd_order_paper(
                FigureContext(
                    out_dir=tmp_path,
                    results_dir=tmp_path / "res",
                    retrain=frozenset({"sd_order_state_paper"}),
                )
            )
    # a full build skips them with that message; asked for by name, it is an error
    assert (
        figures.main(
            ["--only", "sd_order_sensitivity", "--out", str(tmp_path), "--results", str(tmp_path / "r")]
        )
        == 1
    )


def test_paper_figures_draw_the_committed_runs_per_protocol_with_counts(tmp_path: Path) -> None:
    """The paper figures draw whatever part of the grid is committed (results/sd_order/paper),
    one row per protocol, every point labelled by the runs (max) or seeds (mean) behind it."""
    results = Path(__file__).resolve().parents[3] / "results"
    ctx = FigureContext(out_dir=tmp_path, results_dir=results)
    figures.build_sd_order_paper(ctx)
    figures.build_sd_order_paper_mean(ctx)
    best = pd.read_csv(tmp_path / "data" / "sd_order_state_paper.csv")
    mean = pd.read_csv(tmp_path / "data" / "sd_order_state_paper_mean.csv")
    assert set(best.protocol) == set(mean.protocol) == set(figures.PROTOCOLS.values())
    assert best.runs.between(1, 4).all()  # 2 learning rates x 2 seeds per point and protocol
    assert mean.seeds.between(1, 2).all() and set(mean.init) == set(figures.PROTOCOLS)
    both = best.merge(mean, on=["variant", "d_model", "feature_dim", "protocol"], suffixes=("_max", "_mean"))
    assert len(both) == len(best)
    for order in ("short first", "long first"):  # a maximum over lr and seeds is never below a mean
        assert (both[f"{order}_max"] >= both[f"{order}_mean"] - 1e-12).all()


def test_order_rows_label_every_point_with_its_count() -> None:
    table = pd.DataFrame(
        {
            "variant": ["Based (causal)", "Based (causal)"],
            "paper_state_bytes": [100, 200],
            "short first": [0.5, 0.6],
            "long first": [0.4, 0.7],
            "difference": [0.1, -0.1],
            "runs": [3, 4],
        }
    )
    fig = training.draw_order_rows({"a": table, "b": table, "empty": table.iloc[:0]}, "short first",
                                   "long first", "t", statistic="max", counts=True)  # fmt: skip
    assert len(fig.axes) == 6  # the empty row is left out
    labels = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert sorted(labels) == sorted(["3", "4"] * 6)
    assert fig.axes[0].get_title() == "a:\nshort first: accuracy"
    plt.close(fig)
    with pytest.raises(ValueError, match="no rows to draw"):
        training.draw_order_rows({"a": table.iloc[:0]}, "short first", "long first", "t")
