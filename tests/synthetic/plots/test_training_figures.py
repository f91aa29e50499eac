"""Training figures: the order table (max over LR and seeds per order), and the builders end to end
on the seconds-long smoke profiles (they run the missing sweep themselves)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from synthetic.plots import training
from synthetic.plots.common import FigureContext
from synthetic.results import ResultsStore, results_path

torch.set_num_threads(1)


def fake_tidy(acc: dict[tuple[str, int, float, int, int, int], float]) -> pd.DataFrame:
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
                lr=lr,
                seed=seed,
                A=a,
                B=b,
                slice=f"A={a},B={b}",
                slice_accuracy=value,
            )
        )
    return pd.DataFrame(rows)


@settings(max_examples=25)
@given(values=st.lists(st.floats(0, 1), min_size=2 * 2 * 2 * 4, max_size=2 * 2 * 2 * 4))
def test_order_table_is_max_over_lr_and_seed_of_mean_over_slices(values: list[float]) -> None:
    slices = [(4, 16), (8, 32), (16, 4), (32, 8)]  # two short-first, two long-first
    keys = list(itertools.product(["v"], [8, 16], [1e-3, 1e-2], [0, 1], slices))
    acc = {(v, d, lr, s, a, b): x for (v, d, lr, s, (a, b)), x in zip(keys, values * 2, strict=False)}
    table = training.order_table(fake_tidy(acc), training.sd_order_of, "short first", "long first")
    assert list(table.d_model) == [8, 16]
    for _, row in table.iterrows():
        d = row.d_model
        runs = [(lr, s) for lr in (1e-3, 1e-2) for s in (0, 1)]
        short = max((acc[("v", d, lr, s, 4, 16)] + acc[("v", d, lr, s, 8, 32)]) / 2 for lr, s in runs)
        long = max((acc[("v", d, lr, s, 16, 4)] + acc[("v", d, lr, s, 32, 8)]) / 2 for lr, s in runs)
        assert row["short first"] == pytest.approx(short)
        assert row["long first"] == pytest.approx(long)
        assert row["difference"] == pytest.approx(short - long)
        assert row["runs"] == 4


def test_order_table_errors() -> None:
    with pytest.raises(ValueError, match="no successful runs"):
        training.order_table(pd.DataFrame(), training.sd_order_of, "short first", "long first")
    only_short = fake_tidy({("v", 8, 1e-3, 0, 4, 16): 0.5})
    with pytest.raises(ValueError, match="no test slices of order 'long first'"):
        training.order_table(only_short, training.sd_order_of, "short first", "long first")


@pytest.mark.parametrize(
    ("name", "experiment"), [("sd_order_state", "sd_order"), ("mqar_order_state", "mqar_order")]
)
def test_builder_runs_missing_sweep_then_draws(
    tmp_path: Path, name: str, experiment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("READTWICE_WORKERS", "1")  # in-process: no worker start-up in a test
    ctx = FigureContext(out_dir=tmp_path / "fig", profile="smoke", results_dir=tmp_path / "res")
    training.FIGURES[name](ctx)
    for suffix in (f"{name}.png", f"{name}.pdf", f"data/{name}.csv"):
        assert (ctx.out_dir / suffix).stat().st_size > 0
    table = pd.read_csv(ctx.out_dir / "data" / f"{name}.csv")
    assert set(table.variant) == set(training.VARIANT_ORDER)
    assert table.paper_state_bytes.gt(0).all() and table.runs.eq(1).all()
    store = ResultsStore(results_path(ctx.results_dir, experiment, "smoke"))
    n_runs = len(store.records())
    assert n_runs == 4
    # a second build reuses the stored runs (nothing retrained, nothing duplicated)
    training.FIGURES[name](ctx)
    assert len(store.records()) == n_runs


def test_paper_profile_without_results_or_gpu_says_what_to_run(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("with a GPU the builder would run the paper sweep")
    ctx = FigureContext(out_dir=tmp_path, profile="paper", results_dir=tmp_path / "res")
    with pytest.raises(RuntimeError, match="python -m synthetic run sd_order --profile paper"):
        training.build_sd_order(ctx)
