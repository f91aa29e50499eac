"""Training figures: recall accuracy vs recurrent state size, by input order (paper Figure 2).

Both figures read ``results/<experiment>/<profile>/runs.jsonl`` (:mod:`synthetic.results`). If
runs of the profile are missing, the builder first runs the experiment's sweep itself
(resumably: finished runs are kept, so an interrupted ``make figures`` continues where it
stopped) — CPU profiles (``quick``, ``smoke``: ``device = "cpu"``) anywhere, GPU profiles
(``paper``) only where CUDA is available; otherwise it says which command to run on a GPU.

``sd_order_state`` (SD, experiment ``sd_order``): x = recurrent state in bytes under the paper's
convention (fp32, symmetric Taylor count; log scale), y = accuracy on the test slices,
three panels as in the paper:

- *short set first*: mean accuracy over the test slices with |A| < |B| (A is read first);
- *long set first*: mean over the slices with |A| > |B|;
- *difference*: short-first minus long-first, per point.

Each point is the best run over learning rates and seeds at that (variant, d_model,
feature_dim), the paper's "max over LR and seeds"; the maximum is taken per panel, and the
difference panel subtracts the two panels' points. Curves: causal Based, non-causal Based,
JRT-Prompt (causal Based on the JR-2 input) and JRT-RNN (prefix linear attention).

``mqar_order_state`` (MQAR, experiment ``mqar_order``): the same layout with the orders
context-first (the keys are asked only after the key-value context) and queries-first (the keys
to be asked are announced before the context, the recall analogue of short-set-first).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

from synthetic.plots.common import FigureContext, save_figure

VARIANT_ORDER = ("Based (causal)", "Based (non-causal)", "JRT-Prompt", "JRT-RNN")
GROUP_KEYS = ["variant", "d_model", "feature_dim", "paper_state_bytes", "state_bytes"]


# ------------------------------------------------------------------------------------- results


def ensure_results(experiment: str, ctx: FigureContext, *, workers: int | None = None) -> pd.DataFrame:
    """The tidy results (:func:`synthetic.results.load`) of ``experiment`` at ``ctx.profile``,
    running the missing part of its sweep first when this machine can (see the module docstring).
    Workers: ``workers``, else the environment variable ``READTWICE_WORKERS``, else one per CPU
    core (CPU profiles) or four per GPU (GPU profiles).
    """
    import torch

    from synthetic.results import ResultsStore, load, results_path
    from synthetic.sweep import expand, load_experiment, run_sweep

    exp = load_experiment(experiment)
    path = results_path(ctx.results_dir, exp.name, ctx.profile)
    configs = expand(exp, ctx.profile)
    wanted = {c.config_hash() for c in configs}
    missing = wanted - ResultsStore(path).done_hashes()
    if missing:
        cpu_profile = all(c.train.device == "cpu" for c in configs)
        if not cpu_profile and not torch.cuda.is_available():
            raise RuntimeError(
                f"{len(missing)} of {len(wanted)} runs of {exp.name}/{ctx.profile} are not in {path}; "
                f"run them on a GPU machine: python -m synthetic run {exp.name} --profile {ctx.profile} "
                "(then copy the results folder here)"
            )
        # CPU profiles: one single-threaded worker per core; GPU profiles: a few runs share each GPU
        default = (
            (os.cpu_count() or 1) if cpu_profile else min(os.cpu_count() or 1, 4 * torch.cuda.device_count())
        )
        n = workers or int(os.environ.get("READTWICE_WORKERS", 0)) or default
        run_sweep(exp, ctx.profile, results_dir=ctx.results_dir, workers=n, progress=True)
    df = load(path)
    return df[df.config_hash.isin(wanted)]


# --------------------------------------------------------------------------------------- tables


def order_table(
    df: pd.DataFrame, order_of: Callable[[pd.DataFrame], pd.Series], first: str, second: str
) -> pd.DataFrame:
    """Per (variant, model size): best accuracy over LR and seeds in order ``first`` and order
    ``second`` and their difference.

    ``order_of`` maps the tidy table to an order label per row (``first``, ``second`` or None to
    drop the slice). Accuracy per run and order is the mean over that order's slices; the best
    run is taken per order. Columns: variant, d_model, feature_dim, paper_state_bytes,
    state_bytes, ``first``, ``second``, difference, runs.
    """
    if df.empty:
        raise ValueError("no successful runs to plot")
    df = df.assign(order=order_of(df)).dropna(subset=["order"])
    per_run = (
        df.groupby([*GROUP_KEYS, "lr", "seed", "order"], dropna=False)["slice_accuracy"]
        .mean()
        .unstack("order")
    )
    for col in (first, second):
        if col not in per_run:
            raise ValueError(f"no test slices of order {col!r} in the results")
    grouped = per_run.groupby(level=GROUP_KEYS, dropna=False)
    best = pd.DataFrame({first: grouped[first].max(), second: grouped[second].max(), "runs": grouped.size()})
    best["difference"] = best[first] - best[second]
    return best.reset_index().sort_values(["variant", "paper_state_bytes"]).reset_index(drop=True)


def sd_order_of(df: pd.DataFrame) -> pd.Series:
    """ "short first" where |A| < |B| (A is read first), "long first" where |A| > |B|, else None."""
    out = pd.Series(None, index=df.index, dtype=object)
    out[df.A < df.B] = "short first"
    out[df.A > df.B] = "long first"
    return out


def mqar_order_of(df: pd.DataFrame) -> pd.Series:
    """The MQAR slice's ``order`` field ("context-first" / "queries-first")."""
    return df["order"].astype(object)


# --------------------------------------------------------------------------------------- drawing


def draw_order_panels(
    table: pd.DataFrame, first: str, second: str, title: str, chance: dict[str, float] | None = None
) -> plt.Figure:
    """Three panels: accuracy in order ``first``, in order ``second``, and their difference,
    against the paper-convention state size (bytes, log x). ``chance`` (per order) draws a dotted
    reference line in the accuracy panels."""
    variants = [v for v in VARIANT_ORDER if v in set(table.variant)] + sorted(
        set(table.variant) - set(VARIANT_ORDER)
    )
    palette = dict(zip(variants, sns.color_palette("colorblind", len(variants)), strict=True))
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), sharex=True)
    panels = [
        (first, f"{first}: accuracy"),
        (second, f"{second}: accuracy"),
        ("difference", f"{first} − {second}"),
    ]
    for ax, (col, label) in zip(axes, panels, strict=True):
        for variant in variants:
            sub = table[table.variant == variant].sort_values("paper_state_bytes")
            ax.plot(
                sub.paper_state_bytes,
                sub[col],
                marker="o",
                ms=4,
                lw=1.2,
                label=variant,
                color=palette[variant],
            )
        ax.set_xscale("log")
        ticks = sorted(set(table.paper_state_bytes))
        if len(ticks) <= 8:  # label the measured sizes; a narrow log range has unreadable minor labels
            ax.xaxis.set_major_locator(FixedLocator(ticks))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.tick_params(axis="x", labelrotation=30)
        ax.set_xlabel("recurrent state (bytes, fp32, paper convention)")
        ax.set_title(label)
        ax.grid(alpha=0.3, which="both")
        if col == "difference":
            ax.axhline(0.0, color="0.3", lw=0.8)
        else:
            ax.set_ylim(-0.02, 1.02)
            ax.set_ylabel("accuracy (best over LR, seeds)")
            if chance is not None and col in chance:
                ax.axhline(chance[col], color="0.5", ls=":", lw=1.0, label="guess in the smaller set")
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _profile_note(df: pd.DataFrame, ctx: FigureContext) -> str:
    devices = sorted({str(d).split(" (")[0] for d in df.device.dropna()})
    return f"profile {ctx.profile}, {df.config_hash.nunique()} runs on {', '.join(devices)}"


def sd_chance(df: pd.DataFrame) -> dict[str, float]:
    """Per order: mean over its test slices of 1 / min(|A|, |B|), the accuracy of guessing
    uniformly within the smaller set (the shared token is in both sets)."""
    slices = df.drop_duplicates("slice")
    slices = slices.assign(order=sd_order_of(slices)).dropna(subset=["order"])
    guess = 1.0 / slices[["A", "B"]].min(axis=1)
    return {str(k): float(v) for k, v in guess.groupby(slices.order).mean().items()}


def build_sd_order(ctx: FigureContext) -> None:
    """Figure 2 of the paper from the ``sd_order`` experiment."""
    df = ensure_results("sd_order", ctx)
    table = order_table(df, sd_order_of, "short first", "long first")
    fig = draw_order_panels(
        table,
        "short first",
        "long first",
        f"SD: accuracy vs state size by set order ({_profile_note(df, ctx)})",
        chance=sd_chance(df),
    )
    save_figure(fig, "sd_order_state", table, ctx)


def build_mqar_order(ctx: FigureContext) -> None:
    """MQAR: context-first vs queries-first from the ``mqar_order`` experiment."""
    df = ensure_results("mqar_order", ctx)
    table = order_table(df, mqar_order_of, "queries-first", "context-first")
    fig = draw_order_panels(
        table,
        "queries-first",
        "context-first",
        f"MQAR: accuracy vs state size by order ({_profile_note(df, ctx)})",
    )
    save_figure(fig, "mqar_order_state", table, ctx)


FIGURES = {"sd_order_state": build_sd_order, "mqar_order_state": build_mqar_order}
